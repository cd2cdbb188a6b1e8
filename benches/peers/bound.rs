//! The `bound` rows: a lean join, as close to the least work as we could
//! build, that keeps fanout's contract of *polls per task = wakes + 1* — it polls only the tasks whose
//! wakers fired, so every task needs a waker of its own. Not a peer, and not
//! a combinator anyone should use: no limit, no cancel, no fail-fast, no
//! budget, one output order. It exists to measure how fast *any* design that
//! keeps the contract can be on a scenario, so the report can say whether a
//! 1.3× lead over a peer is there to be won at all.
//!
//! What it keeps, so that it is a fair bound and not a cheat:
//! - per-task wakers that are `Send + Sync` and outlive the join (a task may
//!   keep its waker after the batch is gone): a shared, reference-counted
//!   header; a waker is a pointer to its task's node in it;
//! - a wake from any thread: atomic bit sets, one bit per task and one per
//!   non-empty word of the level below (up to three levels, 262,144 tasks),
//!   and the executor's waker in a [`Parent`] cell;
//! - the allocations of the cheapest peer: one for the header, the bit sets,
//!   the nodes and the tasks; one for the output `Vec`.
//!
//! What it leaves out is everything fanout does on top: the source pulled
//! lazily, limits, signals, events, the budget, slot reuse, closing the
//! executor's waker when the batch is dropped (one atomic per batch).
//!
//! It is a lean design measured, not a proof of the least: fanout has two
//! shortcuts that it lacks, both resting on the engine's run marker — a
//! waker cloned on the batch's own thread while it runs is counted without
//! an atomic (one atomic per task in S3), and a task that wakes itself
//! during the batch's poll leaves a plain note (S8's tasks do, before the
//! executor's waker is registered, so there they cost the bound one
//! `fetch_or` each).

use core::alloc::Layout;
use core::cell::UnsafeCell;
use core::future::Future;
use core::mem::size_of;
use core::pin::Pin;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

/// At most this many tasks (three levels of 64-bit words).
const MAX_TASKS: usize = 64 * 64 * 64;

/// Joins `tasks` (an exact-size iterator) into their outputs, in order.
///
/// # Panics
/// If the iterator's lower size bound is not its length, or above 262,144.
pub fn join<I>(tasks: I) -> Join<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    Join::new(tasks.into_iter())
}

/// The shared head of the allocation; the bit sets, the nodes and the tasks
/// follow it.
struct Header {
    refs: AtomicUsize,
    parent: Parent,
    layout: Layout,
    /// The levels' words, leaf level first, then the levels above it.
    bits: NonNull<AtomicU64>,
    /// Where each level starts in `bits`, and how many levels there are.
    level_start: [usize; 3],
    levels: usize,
    /// One node per task: a waker's data points at its task's node.
    nodes: NonNull<Node>,
}

/// A task's node: the header's address (the task's index is where the node
/// sits in the array).
struct Node(NonNull<Header>);

/// See [`join`].
#[must_use = "futures do nothing unless polled"]
pub struct Join<F: Future> {
    header: NonNull<Header>,
    /// `n` places; `Some` until the task finishes.
    tasks: NonNull<Option<F>>,
    n: usize,
    pending: usize,
    /// Tasks given their first poll so far (in index order).
    first_polled: usize,
    /// The outputs went to the caller.
    handed_out: bool,
    /// Capacity `n`; the output of task `i` is written at `i` when it
    /// finishes (its task is then `None`), and the length set at the end.
    out: Vec<F::Output>,
}

impl<F: Future> Join<F> {
    fn new(mut tasks: impl Iterator<Item = F>) -> Self {
        let n = tasks.size_hint().0;
        assert!(n <= MAX_TASKS, "bound::join: at most {MAX_TASKS} tasks");
        // Words per level: the leaves, then one bit per word below, up to a
        // level of one word.
        let mut words = [n.div_ceil(64).max(1), 0, 0];
        let mut levels = 1;
        while words[levels - 1] > 1 {
            words[levels] = words[levels - 1].div_ceil(64);
            levels += 1;
        }
        let total_words = words.iter().sum::<usize>();
        let (layout, bits_at) = Layout::new::<Header>()
            .extend(Layout::array::<AtomicU64>(total_words).unwrap())
            .unwrap();
        let (layout, nodes_at) = layout.extend(Layout::array::<Node>(n).unwrap()).unwrap();
        let (layout, tasks_at) = layout
            .extend(Layout::array::<Option<F>>(n).unwrap())
            .unwrap();
        let layout = layout.pad_to_align();
        // SAFETY: the layout has a non-zero size (it holds a `Header`).
        let base = unsafe { std::alloc::alloc(layout) };
        let Some(base) = NonNull::new(base) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY (all the writes below): each offset came from the layout
        // built above, so every place is inside the allocation and aligned.
        unsafe {
            let header = base.cast::<Header>();
            let bits = base.add(bits_at).cast::<AtomicU64>();
            let nodes = base.add(nodes_at).cast::<Node>();
            let slots = base.add(tasks_at).cast::<Option<F>>();
            for w in 0..total_words {
                bits.add(w).write(AtomicU64::new(0));
            }
            header.write(Header {
                refs: AtomicUsize::new(1),
                parent: Parent {
                    state: AtomicUsize::new(0),
                    waker: UnsafeCell::new(None),
                },
                layout,
                bits,
                level_start: [0, words[0], words[0] + words[1]],
                levels,
                nodes,
            });
            let mut count = 0;
            for task in tasks.by_ref().take(n) {
                nodes.add(count).write(Node(header));
                slots.add(count).write(Some(task));
                count += 1;
            }
            // (A panic here leaks the allocation: a bench-only shortcut.)
            assert!(
                count == n && tasks.next().is_none(),
                "bound::join: the iterator's size hint must be exact"
            );
            Self {
                header,
                tasks: slots,
                n,
                pending: n,
                first_polled: 0,
                handed_out: false,
                out: Vec::with_capacity(n),
            }
        }
    }

    /// Polls task `i` with its own waker; stores its output if it finished.
    #[inline(always)]
    fn run(&mut self, i: usize) {
        // SAFETY: `i < n`: the node is in the array, and lives as long as
        // the header, which this join keeps alive.
        let node = unsafe { self.header.as_ref().nodes.add(i) };
        // SAFETY: the data is a node pointer, as the vtable expects; the
        // waker is only lent (never dropped), so no count is taken.
        let waker = unsafe { Waker::from_raw(RawWaker::new(node.as_ptr().cast(), &VTABLE)) };
        let waker = core::mem::ManuallyDrop::new(waker);
        let mut cx = Context::from_waker(&waker);
        // SAFETY: `i < n`: an initialized place that only this join uses.
        let slot = unsafe { &mut *self.tasks.as_ptr().add(i) };
        if let Some(task) = slot {
            // SAFETY: the task never moves: it lives in the allocation until
            // it is dropped in place (here, or in `drop`).
            if let Poll::Ready(output) = unsafe { Pin::new_unchecked(task) }.poll(&mut cx) {
                // SAFETY: `i < n = capacity`, and written once: the task is
                // `None` from now on, so it is never polled again. Written
                // before the task is dropped, so that a `Drop` that panics
                // leaves no `None` without its output.
                unsafe { self.out.as_mut_ptr().add(i).write(output) };
                *slot = None;
                self.pending -= 1;
            }
        }
    }

    /// Polls every task woken since the last round, once each, in index
    /// order; false if none was.
    fn round(&mut self) -> bool {
        let top = self.header().levels - 1;
        self.walk(top, 0)
    }

    fn walk(&mut self, level: usize, word: usize) -> bool {
        let word_bits = self.header().word(level, word);
        // A look first: an empty word costs a load, not a swap.
        if word_bits.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let mut bits = word_bits.swap(0, Ordering::Acquire);
        let any = bits != 0;
        while bits != 0 {
            let below = word * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if level == 0 {
                self.run(below);
            } else {
                self.walk(level - 1, below);
            }
        }
        any
    }

    fn header(&self) -> &Header {
        // SAFETY: the join holds a count on the header.
        unsafe { self.header.as_ref() }
    }
}

impl Header {
    fn word(&self, level: usize, word: usize) -> &AtomicU64 {
        // SAFETY: `word` is below the level's length: the bit that led here
        // was set for a task below `n`.
        unsafe { &*self.bits.as_ptr().add(self.level_start[level] + word) }
    }

    /// Marks task `i` woken, climbing while a word was empty; wakes the
    /// executor when the top word was.
    fn wake(&self, i: usize) {
        let mut index = i;
        for level in 0..self.levels {
            let word = index / 64;
            let was = self
                .word(level, word)
                .fetch_or(1 << (index % 64), Ordering::AcqRel);
            if was != 0 {
                return;
            }
            index = word;
        }
        self.parent.wake();
    }
}

impl<F: Future> Future for Join<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        // SAFETY: nothing in `Join` is pinned structurally (the tasks live
        // in the allocation, which does not move with it).
        let this = unsafe { self.get_unchecked_mut() };
        assert!(!this.handed_out, "bound::join polled after it finished");
        while this.first_polled < this.n {
            let i = this.first_polled;
            this.first_polled += 1;
            this.run(i);
        }
        loop {
            if this.pending == 0 {
                // SAFETY: every output was written (each task finished).
                unsafe { this.out.set_len(this.n) };
                this.handed_out = true;
                return Poll::Ready(core::mem::take(&mut this.out));
            }
            if !this.round() {
                this.header().parent.register(cx.waker());
                if !this.round() {
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<F: Future> Drop for Join<F> {
    fn drop(&mut self) {
        // Only a join dropped before its end still holds outputs.
        let holds_outputs = !self.handed_out;
        for i in 0..self.n {
            // SAFETY: each place was initialized in `new` and is dropped
            // once, here; an output was written exactly where its task is
            // `None`.
            unsafe {
                let slot = self.tasks.as_ptr().add(i);
                if (*slot).is_none() && holds_outputs {
                    ptr::drop_in_place(self.out.as_mut_ptr().add(i));
                }
                ptr::drop_in_place(slot);
            }
        }
        // SAFETY: the join's own count.
        unsafe { release(self.header) };
    }
}

/// The executor's waker, woken *by reference*, so it stays registered and
/// a registration while it is unchanged costs one comparison: the protocol
/// of fanout's `ParentWaker` (`src/engine/parent_waker.rs`, which explains
/// it), cut to what the bound needs — no close, since the header outlives
/// the join. (`futures`' `AtomicWaker` takes the waker out on each wake: two
/// more atomics and a clone per wake, which would make the bound slower than
/// fanout for a reason that has nothing to do with its design.)
///
/// `state` counts wakes in progress in units of 2; bit 0 says the join is
/// writing the cell. Only the join writes it, and only from a `state` of 0.
struct Parent {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cell is written only by the join after moving `state` from 0
// to 1, when no wake reads it; wakes read it only as the one that moved
// `state` from 0.
unsafe impl Sync for Parent {}

impl Parent {
    fn register(&self, waker: &Waker) {
        // SAFETY: only the join writes the cell, and this is the join.
        if unsafe { &*self.waker.get() }
            .as_ref()
            .is_some_and(|old| old.will_wake(waker))
        {
            return;
        }
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // A wake is in progress with the old waker: wake the new one
            // for it, and register at the next poll.
            waker.wake_by_ref();
            return;
        }
        // SAFETY: `state` went from 0 to 1: no wake reads the cell now.
        unsafe { *self.waker.get() = Some(waker.clone()) };
        if self.state.swap(0, Ordering::AcqRel) != 1 {
            // Wakes came while the cell was written, and returned at once.
            waker.wake_by_ref();
        }
    }

    fn wake(&self) {
        if self.state.fetch_add(2, Ordering::AcqRel) != 0 {
            // The join is registering, or another wake leads: it wakes for
            // this one.
            return;
        }
        let mut seen = 2;
        loop {
            // SAFETY: this wake moved `state` from 0: the join cannot write
            // the cell until it is 0 again.
            if let Some(waker) = unsafe { &*self.waker.get() } {
                waker.wake_by_ref();
            }
            match self
                .state
                .compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(now) => seen = now,
            }
        }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// The header and task index of a waker's node.
///
/// # Safety
/// `data` is a node pointer of a live header.
unsafe fn node(data: *const ()) -> (NonNull<Header>, usize) {
    // SAFETY: the contract.
    unsafe {
        let header = (*data.cast::<Node>()).0;
        let first = header.as_ref().nodes.as_ptr() as usize;
        (header, (data as usize - first) / size_of::<Node>())
    }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: a waker's data is a node of a live header (it holds a count).
    unsafe { node(data).0.as_ref() }
        .refs
        .fetch_add(1, Ordering::Relaxed);
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: as in `clone`; the waker's count is given up after the wake.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: as in `clone`.
    let (header, i) = unsafe { node(data) };
    // SAFETY: the waker holds a count.
    unsafe { header.as_ref() }.wake(i);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: as in `clone`; this gives up the waker's count.
    unsafe { release(node(data).0) }
}

/// Gives up one count on the header; the last one frees the allocation.
///
/// # Safety
/// The caller holds a count, and does not use the header afterwards.
unsafe fn release(header: NonNull<Header>) {
    // SAFETY: the caller holds a count, so the header is alive.
    if unsafe { header.as_ref() }
        .refs
        .fetch_sub(1, Ordering::Release)
        != 1
    {
        return;
    }
    core::sync::atomic::fence(Ordering::Acquire);
    // SAFETY: the last count: nothing else refers to the allocation. The
    // tasks were dropped by the join; the header's own fields are dropped
    // here, then the memory goes.
    unsafe {
        let layout = header.as_ref().layout;
        ptr::drop_in_place(header.as_ptr());
        std::alloc::dealloc(header.as_ptr().cast(), layout);
    }
}
