//! Peak heap memory of a batch (issue 7's contract: for S2 at N = 1,000,000,
//! no more than futures-buffered's; and the same for outputs that arrive out
//! of order, S3's shape), measured by a global allocator that
//! tracks the bytes live on the counting thread and their high-water mark.
//!
//! Only this thread's allocations count (a `const` thread-local switch), and
//! all measurements live in one `#[test]`, so nothing else in the binary
//! allocates while one runs. The inputs are lazy iterators, so the peak is
//! what each combinator itself holds: its task storage, its wakers' shared
//! state and the output `Vec`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use futures::executor::block_on;

#[path = "support/yield_once.rs"]
mod yield_once;

use yield_once::YieldOnce;

struct Tracking;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let live = LIVE.with(|l| {
                l.set(l.get() + delta);
                l.get()
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

// SAFETY: every call is forwarded to `System` unchanged; tracking touches only
// `const` thread-locals, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// The peak bytes live above the starting point while `f` runs (its output
/// is dropped after tracking stops).
fn peak_of<R>(f: impl FnOnce() -> R) -> usize {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    COUNTING.with(|on| on.set(true));
    let out = f();
    COUNTING.with(|on| on.set(false));
    drop(out);
    PEAK.with(Cell::get) as usize
}

/// S2's tasks, with the benches' output type (so `when_all` and
/// `try_join_all` apply too).
fn tasks(n: usize) -> impl Iterator<Item = YieldOnce<Result<u64, ()>>> {
    (0..n as u64).map(|value| YieldOnce::new(Ok(value)))
}

/// What fanout may hold per task at most: the task and its index in a slot
/// (rounded up to 8 bytes, plus 8 for the slot's state), a bit of the ready
/// set (rounded up to a byte), under 2 bytes of the room that aligns the
/// ready set's header to the capacity rounded up to a power of two (a waker
/// stores nothing per task: `ready`, "Wakers"), and its place in the output
/// `Vec`. Everything else is per batch.
fn fanout_bound(n: usize) -> usize {
    let task = std::mem::size_of::<YieldOnce<Result<u64, ()>>>().div_ceil(8) * 8;
    let output = std::mem::size_of::<Result<u64, ()>>();
    let per_task = task + 8 + 8 + 1 + 2 + output;
    n * per_task + (64 << 10)
}

#[test]
fn peak_memory_of_s2_at_a_million_tasks() {
    const N: usize = 1_000_000;
    // The executor's thread-local notifier is made on first use: not ours.
    block_on(async {});

    let fanout_join = peak_of(|| block_on(fanout::join_all(tasks(N))));
    let buffered_join = peak_of(|| block_on(futures_buffered::join_all(tasks(N))));
    let fanout_when = peak_of(|| block_on(fanout::when_all(tasks(N))));
    let buffered_try = peak_of(|| block_on(futures_buffered::try_join_all(tasks(N))));

    // The contract: no more than futures-buffered's, like for like.
    assert!(
        fanout_join <= buffered_join,
        "join_all: fanout {fanout_join} B > futures-buffered {buffered_join} B"
    );
    assert!(
        fanout_when <= buffered_try,
        "when_all: fanout {fanout_when} B > futures-buffered try_join_all {buffered_try} B"
    );
    // And no hidden per-task allocation: within the per-task budget.
    for (face, peak) in [("join_all", fanout_join), ("when_all", fanout_when)] {
        assert!(
            peak <= fanout_bound(N),
            "{face}: {peak} B is over the per-task budget of {} B",
            fanout_bound(N)
        );
    }
    // A batch holds its peak while its tasks are in flight; the measurement
    // itself is exact: the same run twice peaks at the same byte.
    assert_eq!(
        peak_of(|| block_on(fanout::join_all(tasks(N)))),
        fanout_join
    );

    peak_memory_of_outputs_that_arrive_out_of_order();
}

/// Tasks that finish one at a time, in an order the test picks (S3's shape:
/// I/O completions): task `i` is ready once `fired[i]` is set, and keeps its
/// waker until then.
struct Board {
    fired: Vec<Cell<bool>>,
    wakers: Vec<Cell<Option<std::task::Waker>>>,
    registered: Cell<usize>,
}

impl Board {
    fn new(n: usize) -> Self {
        Self {
            fired: (0..n).map(|_| Cell::new(false)).collect(),
            wakers: (0..n).map(|_| Cell::new(None)).collect(),
            registered: Cell::new(0),
        }
    }

    fn task(&self, index: usize) -> impl std::future::Future<Output = u64> + '_ {
        futures::future::poll_fn(move |cx| {
            if self.fired[index].get() {
                return std::task::Poll::Ready(index as u64);
            }
            if self.wakers[index]
                .replace(Some(cx.waker().clone()))
                .is_none()
            {
                self.registered.set(self.registered.get() + 1);
            }
            std::task::Poll::Pending
        })
    }

    /// Once every task waits, fires them last first, one per poll.
    fn drive_in_reverse(&self) -> impl std::future::Future<Output = ()> + '_ {
        let mut next = self.fired.len();
        futures::future::poll_fn(move |cx| {
            if next == 0 {
                return std::task::Poll::Ready(());
            }
            if self.registered.get() == self.fired.len() {
                next -= 1;
                self.fired[next].set(true);
                if let Some(waker) = self.wakers[next].take() {
                    waker.wake();
                }
            }
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
    }
}

/// S3's shape at 100,000 tasks, finishing last first: called from the one
/// `#[test]` above.
fn peak_memory_of_outputs_that_arrive_out_of_order() {
    const N: usize = 100_000;
    let run = |join: &dyn Fn(&Board) -> usize| {
        let board = Board::new(N);
        peak_of(|| join(&board))
    };
    let fanout = run(&|board| {
        let batch = fanout::join_all((0..N).map(|i| board.task(i)));
        let (out, ()) = block_on(futures::future::join(batch, board.drive_in_reverse()));
        assert!(out.iter().enumerate().all(|(i, &o)| o == i as u64));
        assert_eq!(out.capacity(), N, "no room kept past the last output");
        out.len()
    });
    let buffered = run(&|board| {
        let batch = futures_buffered::join_all((0..N).map(|i| board.task(i)));
        block_on(futures::future::join(batch, board.drive_in_reverse()))
            .0
            .len()
    });
    // The outputs land in place in the `Vec` handed back: no second buffer,
    // no tag per output, as futures-buffered.
    assert!(
        fanout <= buffered,
        "out of order: fanout {fanout} B > futures-buffered {buffered} B"
    );
}
