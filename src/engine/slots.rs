//! Pinned storage for the tasks in flight.
//!
//! Tasks live in *blocks*: a boxed slice of slots plus the [`ReadySet`] that
//! tracks their wakes. A block is allocated once and never resized, so a task,
//! once started, never moves until it is dropped in place — that is what makes
//! polling it through `Pin` sound. A batch whose size is known up front (or that
//! is limited) gets exactly one block of exactly the right size; a batch of
//! unknown size adds blocks that double the total capacity, so a started task is
//! never moved and the number of allocations stays logarithmic.
//!
//! A new task takes the next never-used slot while there is one, so in a batch
//! without a limit task `i` sits in slot `i` and the ready set's slot order is
//! the tasks' index order. Once every slot has been used, freed slots are reused
//! through an intrusive free list (no allocation), which is what keeps a limited
//! batch at `O(limit)` memory however long its source.
//!
//! Reuse costs order: a task in a reused slot may sit before a task with a
//! lower index, so the engine must sort a round's completions. So when a batch
//! runs dry — no task in flight — and needs a slot, its storage *rewinds*:
//! every slot is never-used again, the next tasks take slots `0, 1, 2, ...`,
//! and slot order is index order once more. A limited batch whose tasks finish
//! in waves (every task of a wave done before the next is pulled, as in a
//! throttled batch of similar tasks) then never sorts at all. A rewind costs
//! one pass over the blocks, not over the slots: a free slot owns nothing.

use super::ready::{Owner, ReadySet, BITS, MAX_CAPACITY};
use super::self_wake::Running;
use super::snapshot::Snapshot;
use crate::unwind::LostOnUnwind;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::future::Future;
use core::pin::Pin;
use core::ptr::{self, NonNull};
use core::task::{Context, Poll, Waker};

/// Where a slot is: which block, and which slot in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotId {
    block: u32,
    slot: u32,
}

#[cfg(test)]
impl SlotId {
    /// `(block, slot)`, for tests.
    pub(crate) fn at(self) -> (u32, u32) {
        (self.block, self.slot)
    }
}

/// Counts one more running task when dropped: held across a task's first
/// poll and forgotten after it, so only a poll that panics counts.
struct CountOnUnwind<'a>(&'a mut usize);

impl Drop for CountOnUnwind<'_> {
    fn drop(&mut self) {
        *self.0 += 1;
    }
}

/// One place for a task.
enum Slot<F> {
    /// Unused; the next free slot, if any.
    Free(Option<SlotId>),
    /// A task in flight and its index in the source. Pinned: never moved.
    Running(usize, F),
    /// A task that the batch canceled: its future is already dropped; its
    /// `Canceled` outcome has not been reported yet.
    Dropped(usize),
}

/// A block: slots and the ready set that tracks their wakes, in one
/// allocation (the slots are the ready set's tail, [`ReadySet::with_tail`]).
///
/// Invariant: `slots.len` is the ready set's capacity, so a slot below
/// `slots.len` is a slot the ready set tracks.
struct Block<F> {
    ready: ReadySet,
    slots: SlotArray<F>,
}

impl<F> Block<F> {
    /// `owner` names the engine, for wakes on its own thread (`self_wake`).
    fn new(capacity: usize, owner: Owner) -> Self {
        let layout = Layout::array::<Slot<F>>(capacity)
            .unwrap_or_else(|_| panic!("fanout: batch too large to lay out"));
        let (ready, tail) = ReadySet::with_tail(capacity, layout, owner);
        Self {
            ready,
            slots: SlotArray {
                base: tail.cast(),
                used: 0,
                len: capacity,
            },
        }
    }
}

impl<F> Drop for Block<F> {
    fn drop(&mut self) {
        // The tasks go first, while the ready set (their memory) still lives.
        self.slots.truncate(0);
    }
}

/// A block's slots: exactly `len` of them, never resized, so a slot never
/// moves. Only the slots below `used` have ever held a task: a slot is
/// initialized when it is first used, so a batch of 100,000 tasks that finish
/// on their first poll touches one slot, not 100,000.
///
/// # Invariants
/// - `base` points at `len` places for a `Slot<F>` in the tail of the block's
///   ready-set allocation, which the block's `ready` keeps alive; the first
///   `used` are initialized, the rest are not.
/// - Only this array reads, writes and drops them; the block drops the
///   initialized ones (in place) before its ready set lets the memory go.
struct SlotArray<F> {
    base: NonNull<Slot<F>>,
    used: usize,
    len: usize,
}

// SAFETY: the array owns its slots as a `Vec<Slot<F>>` would (the pointer is
// into memory only it uses).
unsafe impl<F: Send> Send for SlotArray<F> {}
// SAFETY: as above; `&SlotArray` gives no access to the slots at all.
unsafe impl<F: Sync> Sync for SlotArray<F> {}

impl<F> SlotArray<F> {
    /// The place of slot `slot`, which must be below `len`.
    #[inline]
    fn place(&self, slot: usize) -> *mut Slot<F> {
        debug_assert!(slot < self.len);
        // SAFETY: `slot < len`: inside the array (invariants).
        unsafe { self.base.as_ptr().add(slot) }
    }

    /// The slot `slot`, which must have been used (`slot < used`).
    #[inline]
    fn get_mut(&mut self, slot: usize) -> &mut Slot<F> {
        assert!(slot < self.used, "fanout: slot out of range");
        // SAFETY: initialized, since below `used`. Through the raw pointer, so
        // that no reference to the whole array is made: the other slots'
        // running tasks may hold references into themselves (Stacked Borrows).
        unsafe { &mut *self.place(slot) }
    }

    /// Writes a new slot in the first never-used place, which must exist
    /// (`used < len`), and returns it.
    #[inline(always)]
    fn push(&mut self, value: Slot<F>) -> &mut Slot<F> {
        assert!(self.used < self.len, "fanout: block full");
        let place = self.place(self.used);
        // SAFETY: `used < len`: the place is in the array and uninitialized,
        // so writing it moves and overwrites nothing (invariant 1 of `Slots`);
        // it is initialized before `used` covers it.
        unsafe {
            place.write(value);
            self.used += 1;
            &mut *place
        }
    }

    /// [`SlotArray::push`] of a running task, for the engine's hottest path:
    /// no bounds check (the caller has just made one) and no second look at
    /// the slot just written. Returns the task, pinned where it now lives.
    ///
    /// `slot` is `used`, read by the caller: passed in, so that it is not
    /// read again after this function's own write through a raw pointer
    /// (the task's), which the compiler cannot tell apart from `used`.
    ///
    /// # Safety
    /// `slot == used < len`.
    #[inline(always)]
    unsafe fn push_running(&mut self, slot: usize, index: usize, task: F) -> Pin<&mut F> {
        debug_assert!(slot == self.used && slot < self.len, "fanout: block full");
        let place = self.place(slot);
        // SAFETY: `slot == used < len` (the contract): the place is in the array and
        // uninitialized, so writing it moves and overwrites nothing
        // (invariant 1 of `Slots`); it is initialized before `used` covers it.
        unsafe { place.write(Slot::Running(index, task)) };
        self.used = slot + 1;
        // SAFETY: initialized just above; through the raw pointer, as in
        // `get_mut`.
        match unsafe { &mut *place } {
            // SAFETY: invariant 1 of `Slots`: the future stays where it is
            // until it is dropped in place.
            Slot::Running(_, task) => unsafe { Pin::new_unchecked(task) },
            // SAFETY: the slot was written as `Running` just above.
            _ => unsafe { core::hint::unreachable_unchecked() },
        }
    }

    /// Drops the slots from `from` on (in place: invariant 1 of `Slots`) and
    /// makes them never-used again.
    #[inline]
    fn truncate(&mut self, from: usize) {
        let Some(count) = self.used.checked_sub(from) else {
            return;
        };
        // The count first: a task whose `Drop` panics leaves no slot that is
        // both counted and dropped.
        self.used = from;
        if count > 0 {
            // SAFETY: slots `from..from + count` were initialized and are no
            // longer counted, so each is dropped exactly once, where it stands.
            unsafe {
                ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.place(from), count));
            }
        }
    }
}

/// Every slot of a batch.
///
/// # Invariants
/// 1. A `Slot::Running` future is never moved: blocks are never resized, and a
///    running slot is only ever overwritten in place (which drops the future
///    where it stands).
/// 2. `free` heads a list through every `Slot::Free` slot below its block's
///    `used`, each once — but for a slot whose task's `Drop` panicked as it
///    was freed, which is left out of the list until a rewind. The blocks before block `fresh` are fully used
///    (`used == len`); block `fresh`'s slots from `used` on are never-used
///    (uninitialized), and so is every slot of the blocks after it
///    (`used == 0`).
/// 3. `running` counts the `Slot::Running` slots, `dropped` the
///    `Slot::Dropped` ones, at every point where a task's code can run or
///    panic (a poll, a `Drop`). So with both zero, every used slot is free.
///
/// After [`Slots::drop_all`] the storage is closed: every block is
/// never-used, `fresh` is stale, and nothing is inserted again.
pub(crate) struct Slots<F> {
    /// The first block, kept inline: a known-size batch never allocates a `Vec`.
    first: Option<Block<F>>,
    /// Any further blocks, for sources of unknown size.
    more: Vec<Block<F>>,
    free: Option<SlotId>,
    /// The block that never-used slots are taken from (invariant 2).
    fresh: usize,
    capacity: usize,
    running: usize,
    /// Whether a task was put in a slot that an earlier task used, since the
    /// storage was made or last rewound.
    reused: bool,
    /// `Slot::Dropped` slots not yet taken by [`Slots::take_dropped`].
    dropped: usize,
    /// Where [`Slots::take_dropped`] resumes its scan: `(block, slot)`.
    scan: (usize, usize),
    /// The task whose poll, or whose drop as it finished, panicked out of
    /// the last run: where it is and its index. At most one: a panic ends
    /// the run. Taken by [`Slots::take_lost`] before the next run.
    lost: Option<(SlotId, usize)>,
}

impl<F> Drop for Slots<F> {
    /// The tasks go first, each dropped in place, during a run of the
    /// engine (`self_wake`): a task that drops its waker then gives up a
    /// reference counted on this thread, with no atomic (`ready`,
    /// "Reference counts"), as it would in a cancel. The blocks' ready sets
    /// are dropped after the run has ended, by the fields' drop.
    fn drop(&mut self) {
        if self.first.is_none() {
            // No block, no task: nothing to drop in a run.
            return;
        }
        // The run must end before the fields drop: a ready set is never
        // dropped inside its engine's run (see its `Drop`).
        let _running = Running::enter(self.owner());
        self.drop_all();
    }
}

/// The round in progress: a snapshot of every block's ready set, taken at
/// its start, and how far the engine has walked it.
pub(crate) struct Rounds {
    /// Non-empty leaf words taken: `(block, leaf word, bits)`.
    taken: Snapshot,
    /// The next entry of `taken` to walk.
    pos: usize,
    /// The entry being walked, kept here rather than in `taken` so that the
    /// next woken slot of a word is a few register operations: its bits not
    /// visited yet (0 once it is walked, or before the round starts)...
    bits: usize,
    /// ...its block...
    block: u32,
    /// ...and its first slot (leaf word times [`BITS`]).
    base: usize,
    started: bool,
    /// How many blocks (from the first) have the current turn's waker.
    registered: usize,
}

impl Rounds {
    pub(crate) const fn new() -> Self {
        Self {
            taken: Snapshot::new(),
            pos: 0,
            bits: 0,
            block: 0,
            base: 0,
            started: false,
            registered: 0,
        }
    }

    /// A new poll of the batch begins (perhaps with a new waker): every block
    /// must register it again ([`Slots::register`]) before the batch may
    /// wait (return `Pending` for a wake; a budget yield wakes itself).
    pub(crate) fn start_turn(&mut self) {
        self.registered = 0;
    }

    /// Ends the round; the next [`Slots::next_woken`] takes a new one.
    pub(crate) fn restart(&mut self) {
        self.started = false;
        self.bits = 0;
    }
}

/// What polling a slot gave.
pub(crate) enum Polled<T> {
    /// The slot was not running (a stale or spurious wake): nothing happened.
    Idle,
    /// The task is still pending.
    Pending,
    /// The task finished; its slot is free again.
    Ready(usize, T),
}

impl<F> Slots<F> {
    pub(crate) const fn new() -> Self {
        Self {
            first: None,
            more: Vec::new(),
            free: None,
            fresh: 0,
            capacity: 0,
            running: 0,
            reused: false,
            dropped: 0,
            scan: (0, 0),
            lost: None,
        }
    }

    /// Whether a task's poll (or finishing drop) panicked out of the last
    /// run ([`Slots::take_lost`] has not taken it yet).
    #[inline(always)]
    pub(crate) fn has_lost(&self) -> bool {
        self.lost.is_some()
    }

    /// Takes the task whose poll (or finishing drop) panicked out of the
    /// last run: where it is and its index. The caller records the index
    /// first, then drops the task ([`Slots::drop_lost`]), so a `Drop` that
    /// panics too cannot lose the record.
    #[cold]
    pub(crate) fn take_lost(&mut self) -> Option<(SlotId, usize)> {
        self.lost.take()
    }

    /// Drops the future of task `index` in slot `id` in place, if it is
    /// still there (a future that panicked is never polled again), and
    /// frees the slot as a finished task's would be.
    ///
    /// A task whose finishing drop panicked (in [`Slots::poll`]) has left
    /// its slot free but not yet linked into the free list (the panic came
    /// between the two): it is linked here. Its stored next slot is the
    /// list's head still, as nothing ran since.
    ///
    /// Counts and the free list first, for a `Drop` that panics too: the
    /// slot is then free and linked (an assignment replaces the value even
    /// when the old one's drop panics).
    #[cold]
    pub(crate) fn drop_lost(&mut self, id: SlotId, index: usize) {
        let block = match id.block {
            0 => self.first.as_mut(),
            b => self.more.get_mut(b as usize - 1),
        };
        let Some(block) = block else { return };
        if (id.slot as usize) >= block.slots.used {
            // Given back as never-used (`start`'s truncate): nothing to do.
            return;
        }
        let slot = block.slots.get_mut(id.slot as usize);
        match *slot {
            Slot::Running(at, _) if at == index => {
                self.running -= 1;
                let next = self.free;
                self.free = Some(id);
                // Invariant 1: overwritten in place, never moved.
                *slot = Slot::Free(next);
            }
            Slot::Free(next) if next == self.free && self.free != Some(id) => {
                self.free = Some(id);
            }
            _ => {}
        }
    }

    /// The token that names this batch to `self_wake` while it runs: its
    /// first ready set's address ([`Owner`]); 0 before it has one.
    #[inline]
    pub(crate) fn owner(&self) -> usize {
        self.first.as_ref().map_or(0, |first| first.ready.owner())
    }

    /// Tasks in flight.
    #[inline]
    pub(crate) fn running(&self) -> usize {
        self.running
    }

    /// Tasks dropped by a cancel and not yet reported.
    #[inline]
    pub(crate) fn dropped(&self) -> usize {
        self.dropped
    }

    /// Whether slot order may differ from index order (a slot was reused).
    #[inline]
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    /// Total slots allocated.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether a task can be inserted without growing.
    #[inline]
    pub(crate) fn has_free(&self) -> bool {
        self.free.is_some() || self.has_fresh()
    }

    /// Whether a never-used slot is left (invariant 2: in block `fresh`, or
    /// anywhere in a later block).
    #[inline]
    fn has_fresh(&self) -> bool {
        self.fresh + 1 < self.block_count()
            || self
                .fresh_block()
                .is_some_and(|block| block.slots.used < block.slots.len)
    }

    #[inline(always)]
    fn fresh_block(&self) -> Option<&Block<F>> {
        match self.fresh {
            0 => self.first.as_ref(),
            b => self.more.get(b - 1),
        }
    }

    #[inline(always)]
    fn fresh_block_mut(&mut self) -> Option<&mut Block<F>> {
        match self.fresh {
            0 => self.first.as_mut(),
            b => self.more.get_mut(b - 1),
        }
    }

    /// Whether every used slot is `Free`. Invariant 3 says so whenever
    /// nothing is running or dropped; a rewind checks it anyway, since
    /// forgetting a pinned task would be unsound, not merely wrong. The
    /// scan is over the slots used since the last rewind, each of which a
    /// finished task freed: a constant cost per task.
    fn all_free(&mut self) -> bool {
        let all = self
            .first
            .iter_mut()
            .chain(self.more.iter_mut())
            .all(|block| {
                (0..block.slots.used).all(|s| matches!(block.slots.get_mut(s), Slot::Free(_)))
            });
        debug_assert!(all, "fanout: a slot is in use while none is counted");
        all
    }

    /// Called when block `fresh` has no never-used slot left: finds more
    /// never-used slots if there are any. Rewinds the storage (see the module
    /// docs) when no task is in flight and a slot has been freed, so that
    /// slot order is index order again; otherwise moves on to the next block,
    /// whose slots are all never-used (invariant 2). Returns false when every
    /// never-used slot is taken: reuse a freed slot, or grow.
    #[cold]
    #[inline(never)]
    fn more_fresh(&mut self) -> bool {
        if self.running == 0 && self.dropped == 0 && self.free.is_some() && self.all_free() {
            for block in self.first.iter_mut().chain(self.more.iter_mut()) {
                // Every used slot is `Free`, which owns nothing: forgetting
                // it drops nothing, and no pinned task is forgotten.
                block.slots.used = 0;
            }
            self.free = None;
            self.fresh = 0;
            self.reused = false;
            return true;
        }
        if self.fresh + 1 < self.block_count() {
            self.fresh += 1;
            return true;
        }
        false
    }

    fn block_count(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    #[inline]
    fn block(&self, block: usize) -> &Block<F> {
        if block == 0 {
            self.first
                .as_ref()
                .expect("fanout: slot in a missing block")
        } else {
            &self.more[block - 1]
        }
    }

    #[inline]
    fn block_mut(&mut self, block: usize) -> &mut Block<F> {
        if block == 0 {
            self.first
                .as_mut()
                .expect("fanout: slot in a missing block")
        } else {
            &mut self.more[block - 1]
        }
    }

    /// Adds a block of `capacity` never-used slots (at least 1). Only called
    /// when every slot is in use, so the last block never has fresh slots left
    /// behind.
    pub(crate) fn grow(&mut self, capacity: usize) {
        debug_assert!(!self.has_fresh());
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let owner = match &self.first {
            None => Owner::This,
            Some(first) => Owner::SameAs(first.ready.owner()),
        };
        let block = Block::new(capacity, owner);
        self.capacity += capacity;
        if self.first.is_none() {
            self.first = Some(block);
        } else {
            assert!(
                self.more.len() < u32::MAX as usize,
                "fanout: too many blocks"
            );
            self.more.push(block);
        }
        // Every other slot is in use: the new block is where never-used
        // slots are now (invariant 2).
        self.fresh = self.block_count() - 1;
    }

    /// Puts a task in a free slot. There must be one ([`Slots::has_free`]).
    pub(crate) fn insert(&mut self, index: usize, task: F) -> SlotId {
        // Never-used slots first: in a batch without a limit, task `i` then
        // sits in slot `i`, and slot order is index order.
        loop {
            let fresh = self.fresh;
            if let Some(block) = self.fresh_block_mut() {
                let slot = block.slots.used;
                if slot < block.slots.len {
                    // A never-used place: no running task moves (invariant 1).
                    block.slots.push(Slot::Running(index, task));
                    self.running += 1;
                    return SlotId {
                        block: fresh as u32,
                        slot: slot as u32,
                    };
                }
            }
            if !self.more_fresh() {
                break;
            }
        }
        match self.reuse_free(index, task) {
            Ok(id) => id,
            Err(_) => panic!("fanout: insert without a free slot"),
        }
    }

    /// Puts a task in the first slot of the free list, if there is one;
    /// gives the task back if not.
    #[inline]
    fn reuse_free(&mut self, index: usize, task: F) -> Result<SlotId, F> {
        let Some(id) = self.free else {
            return Err(task);
        };
        let slot = self
            .block_mut(id.block as usize)
            .slots
            .get_mut(id.slot as usize);
        let Slot::Free(next) = *slot else {
            unreachable!("fanout: the free list points at a busy slot")
        };
        // Invariant 1: the slot is free, so nothing pinned is overwritten.
        *slot = Slot::Running(index, task);
        self.free = next;
        self.reused = true;
        self.running += 1;
        Ok(id)
    }

    /// Queues `id` in its block's ready set, as a wake on the engine's own
    /// thread would: it is polled in the next round. For tasks pulled when
    /// the batch is about to yield (it has woken itself, so the next poll
    /// takes the note).
    pub(crate) fn queue(&self, id: SlotId) {
        self.block(id.block as usize).ready.note(id.slot as usize);
    }

    /// Drops every running task in place and marks it for a `Canceled` report.
    ///
    /// A task whose `Drop` panics ends the call there, with every count right
    /// (invariant 3): that task is marked dropped (an assignment replaces the
    /// value even when the old one's drop panics), the tasks after it still
    /// run, and calling this again drops them.
    pub(crate) fn drop_running(&mut self) {
        self.scan = (0, 0);
        for block in self.first.iter_mut().chain(self.more.iter_mut()) {
            for s in 0..block.slots.used {
                let slot = block.slots.get_mut(s);
                if let Slot::Running(index, _) = *slot {
                    // Counters first, for a `Drop` that panics.
                    self.running -= 1;
                    self.dropped += 1;
                    // Invariant 1: overwritten in place, never moved.
                    *slot = Slot::Dropped(index);
                }
            }
        }
    }

    /// Drops every running task in place and forgets every slot, without
    /// marking anything for a report: for a batch that only counts its
    /// cancellations (the caller reads [`Slots::running`] first).
    ///
    /// The storage is closed afterwards — only a cancel, which never pulls a
    /// task again, calls this — so invariant 2 no longer matters; a late wake
    /// finds no slot and is ignored ([`Slots::poll`]).
    ///
    /// A task whose `Drop` panics does not stop the others from being
    /// dropped, as in a `Vec`: the rest of its block and the later blocks are
    /// dropped while the panic unwinds (a second panic then aborts, as it
    /// would in a `Vec`).
    pub(crate) fn drop_all(&mut self) {
        /// The blocks not truncated yet: if a truncate below panics, this
        /// is dropped while the panic unwinds, and truncates the rest.
        struct Rest<'a, F>(
            core::iter::Chain<
                core::option::IterMut<'a, Block<F>>,
                core::slice::IterMut<'a, Block<F>>,
            >,
        );
        impl<F> Drop for Rest<'_, F> {
            fn drop(&mut self) {
                for block in &mut self.0 {
                    block.slots.truncate(0);
                }
            }
        }
        // Counters first: a task whose `Drop` panics leaves them right.
        self.running = 0;
        self.free = None;
        let mut rest = Rest(self.first.iter_mut().chain(self.more.iter_mut()));
        for block in rest.0.by_ref() {
            // Invariant 1: each future is dropped in place, never moved (and
            // a slice's `drop_in_place` drops every element, even after one
            // panics).
            block.slots.truncate(0);
        }
    }

    /// Takes the index of one task dropped by [`Slots::drop_running`], lowest
    /// slot first, and frees its slot.
    #[inline]
    pub(crate) fn take_dropped(&mut self) -> Option<usize> {
        if self.dropped == 0 {
            return None;
        }
        loop {
            let (b, mut s) = self.scan;
            let block = match b {
                0 => self.first.as_mut(),
                b => self.more.get_mut(b - 1),
            }
            .expect("fanout: fewer dropped tasks than counted");
            while s < block.slots.used {
                let slot = block.slots.get_mut(s);
                if let Slot::Dropped(index) = *slot {
                    *slot = Slot::Free(self.free);
                    self.free = Some(SlotId {
                        block: b as u32,
                        slot: s as u32,
                    });
                    self.scan = (b, s + 1);
                    self.dropped -= 1;
                    return Some(index);
                }
                s += 1;
            }
            self.scan = (b + 1, 0);
        }
    }

    /// Gives every block this turn's waker, if it does not have it yet: call
    /// it before the batch decides to wait, then look once more
    /// ([`Slots::any_woken`]). A wake before the registration left its bit
    /// for that look; a wake after it wakes the batch. Registering there, not
    /// when a round starts, means a batch that never waits (it finishes in
    /// the poll that started it) never clones its executor's waker.
    #[inline]
    pub(crate) fn register(&self, rounds: &mut Rounds, waker: &Waker) {
        let blocks = self.block_count();
        for block in rounds.registered..blocks {
            self.block(block).ready.register(waker);
        }
        rounds.registered = blocks;
    }

    /// Whether any slot has been woken since its block was last taken. Only
    /// meaningful after this turn's waker is registered with every block.
    #[inline]
    pub(crate) fn any_woken(&self) -> bool {
        self.first
            .iter()
            .chain(self.more.iter())
            .any(|block| block.ready.any_woken())
    }

    /// Whether any slot was woken on the engine's own thread while it ran
    /// and noted in a local set since its block was last taken: nothing wakes
    /// the engine for those, so it must not wait while there are any.
    #[inline]
    pub(crate) fn any_noted(&self) -> bool {
        self.first
            .iter()
            .chain(self.more.iter())
            .any(|block| block.ready.any_noted())
    }

    /// The next woken slot of the round, in slot order; `None` when the round
    /// is over. The first
    /// call of a round takes every block's ready set at once. (A wake the
    /// snapshot misses is found before the batch waits: see
    /// [`Slots::register`].)
    #[inline(always)]
    pub(crate) fn next_woken(&self, rounds: &mut Rounds) -> Option<SlotId> {
        if rounds.bits == 0 && !self.next_word(rounds) {
            return None;
        }
        let bits = rounds.bits;
        rounds.bits = bits & (bits - 1);
        Some(SlotId {
            block: rounds.block,
            slot: (rounds.base + bits.trailing_zeros() as usize) as u32,
        })
    }

    /// Moves the round on to its next word with woken slots, taking the
    /// round first if it has not started; false when the round is over.
    #[inline]
    fn next_word(&self, rounds: &mut Rounds) -> bool {
        if !rounds.started {
            rounds.started = true;
            if self.capacity <= BITS && self.more.is_empty() {
                // One block of one word (a small batch): both of its bit
                // sets are a single word each, and their union is the
                // round, already in slot order. Taken right here, with no
                // call and no snapshot: the snapshot stays empty, since
                // only a batch of more than one word fills it, and a batch
                // never goes back to one word (blocks are never removed).
                debug_assert!(rounds.taken.is_empty());
                if let Some(first) = &self.first {
                    rounds.bits = first.ready.take_only_word();
                    rounds.block = 0;
                    rounds.base = 0;
                }
                return rounds.bits != 0;
            }
            self.take_round(rounds);
        }
        while let Some((block, word, bits)) = rounds.taken.get(rounds.pos) {
            rounds.pos += 1;
            if bits != 0 {
                rounds.bits = bits;
                rounds.block = block;
                rounds.base = word * BITS;
                return true;
            }
        }
        false
    }

    /// Starts the round of a batch of more than one word: see
    /// [`Slots::next_woken`]. Out of line, so that the walk through a round
    /// stays small where it is inlined.
    #[inline(never)]
    fn take_round(&self, rounds: &mut Rounds) {
        rounds.pos = 0;
        // At most one entry per leaf word of each bit set (two in the rare
        // round that has a word in both, before they are merged): one
        // allocation for the batch (one more per added block, and at most
        // one regrowth for such rounds), however many rounds it runs, and
        // none for a batch small enough to fit the snapshot inline.
        rounds
            .taken
            .start(self.capacity.div_ceil(BITS) + self.block_count());
        let mut unsorted = false;
        for block in 0..self.block_count() {
            let ready = &self.block(block).ready;
            unsorted |= ready.take_round(block as u32, &mut rounds.taken);
        }
        if unsorted {
            // A block had slots in both of its bit sets: two runs of
            // entries, each in slot order. One run, one entry per leaf
            // word, so that the walk is in slot order and no slot is
            // polled twice in a round.
            rounds.taken.sort_and_merge();
        }
    }
}

impl<F: Future> Slots<F> {
    /// Puts task `index` in a free slot and polls it for the first time.
    /// Gives the task back if every slot is in use (grow, then call again).
    ///
    /// A task that finishes on this first poll is dropped in place and its
    /// slot is free again at once; if the slot was never used before, it goes
    /// back to being never used, so a batch of tasks that finish at once keeps
    /// reusing one slot and slot order stays index order.
    #[inline(always)]
    pub(crate) fn start(&mut self, index: usize, task: F) -> Result<Polled<F::Output>, F> {
        // (The block is borrowed field by field, so that `running` can be
        // borrowed alongside it.)
        while let Some(block) = match self.fresh {
            0 => self.first.as_mut(),
            b => self.more.get_mut(b - 1),
        } {
            let slot = block.slots.used;
            if slot < block.slots.len {
                // Never-used slots first: in a batch without a limit, task `i`
                // then sits in slot `i`, and slot order is index order.
                // A never-used place: writing it moves no running task
                // (invariant 1).
                // SAFETY: `slot`, the first never-used place, is below `len`.
                let task = unsafe { block.slots.push_running(slot, index, task) };
                // SAFETY: `slot < len`, and a block's length is its ready
                // set's capacity (`Block::new`).
                let waker = unsafe { block.ready.waker_unchecked(slot) };
                // A first poll that panics leaves a running task: counted
                // then too (invariant 3), by this guard, which costs nothing
                // unless the poll unwinds.
                let unwinding = CountOnUnwind(&mut self.running);
                // And the task is lost to its panic, in the poll or in the
                // drop of its finished future (see `take_lost`).
                let id = SlotId {
                    block: self.fresh as u32,
                    slot: slot as u32,
                };
                let losing = LostOnUnwind {
                    lost: &mut self.lost,
                    at: (id, index),
                };
                let polled = task.poll(&mut Context::from_waker(&waker));
                core::mem::forget(unwinding);
                let polled = match polled {
                    Poll::Pending => {
                        self.running += 1;
                        Polled::Pending
                    }
                    Poll::Ready(output) => {
                        block.slots.truncate(slot);
                        Polled::Ready(index, output)
                    }
                };
                core::mem::forget(losing);
                return Ok(polled);
            }
            if !self.more_fresh() {
                break;
            }
        }
        let id = self.reuse_free(index, task)?;
        Ok(self.poll(id))
    }

    /// Polls the task in `id`, with that slot's own waker. A finished task's
    /// slot is freed at once (its future dropped in place).
    #[inline(always)]
    pub(crate) fn poll(&mut self, id: SlotId) -> Polled<F::Output> {
        let block = match id.block {
            0 => self.first.as_mut(),
            b => self.more.get_mut(b as usize - 1),
        }
        .expect("fanout: slot in a missing block");
        if id.slot as usize >= block.slots.used {
            // A stale wake of a slot that is never-used again (given back by
            // a task that finished on its first poll, or by a rewind).
            return Polled::Idle;
        }
        let slot = block.slots.get_mut(id.slot as usize);
        let Slot::Running(index, task) = slot else {
            return Polled::Idle;
        };
        let index = *index;
        // SAFETY: invariant 1: the future stays where it is until it is dropped
        // in place, so it is pinned for as long as it lives.
        let task = unsafe { Pin::new_unchecked(task) };
        // SAFETY: the slot is below `used` (checked above), so below `len`,
        // the set's capacity (`Block::new`).
        let waker = unsafe { block.ready.waker_unchecked(id.slot as usize) };
        let mut cx = Context::from_waker(&waker);
        // A panic in the poll, or in the drop below, loses the task (see
        // `take_lost`).
        let losing = LostOnUnwind {
            lost: &mut self.lost,
            at: (id, index),
        };
        let polled = match task.poll(&mut cx) {
            Poll::Pending => Polled::Pending,
            Poll::Ready(output) => {
                // Uncounted first: if the future's `Drop` panics, the
                // assignment below still frees the slot (an assignment
                // replaces the value even when the old one's drop panics),
                // and the count is right; the slot is linked into the free
                // list by `drop_lost` then (the guard records it).
                self.running -= 1;
                // Invariant 1: overwritten in place.
                *slot = Slot::Free(self.free);
                self.free = Some(id);
                Polled::Ready(index, output)
            }
        };
        core::mem::forget(losing);
        polled
    }
}
