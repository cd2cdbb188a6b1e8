//! Wakes without atomics: while an engine runs on a thread, a wake of one of
//! its tasks on that same thread only leaves a note in engine-local memory.
//!
//! # Why
//!
//! A task that wakes itself during its poll (a yield, an exhausted budget, a
//! channel that had more) is common, and so is a task that wakes a sibling in
//! the same batch. Through the shared bit set such a wake costs an atomic
//! read-modify-write per level it climbs and, for the first wake of a round,
//! two more on the parent waker and whatever the executor's waker costs. None
//! of that is needed when the engine itself is running on the waking thread:
//! it looks at its sets again before it returns. So each block's ready set has
//! a second, *local* bit set, touched with plain loads and stores, and a
//! thread-local cell says which engine (if any) is running on this thread; a
//! wake whose set belongs to that engine marks the local set and is done.
//!
//! Every other wake — on another thread, or while the engine is not running —
//! takes the shared set's atomic path and wakes the parent as before. Waker
//! identity does not change (the same data pointer and vtable), so
//! `Waker::will_wake` keeps working for tasks that cache their waker, and a
//! poll costs nothing extra: the cell is written a few times per run of the
//! engine ([`Running::enter`], its drop, [`now_running`]), never per task;
//! what every wake pays is one thread-local read and a comparison. Clones
//! and drops of a waker use the cell too (`ready`, "Reference counts"), with
//! a narrower test: the cell must name the waker's own set, so only a first
//! block's wakers are counted on this thread, while every block's wakes are
//! noted here.
//!
//! # Invariants
//!
//! 1. The cell holds the token of the engine running on this thread, or 0.
//!    The token is the address of the engine's first ready set, which every
//!    one of its sets stores: an allocation's address is not reused while it
//!    lives, and the first set lives at least as long as the engine, so no
//!    two live engines share a token — whether or not the
//!    engine itself moves between runs (an `Unpin` batch may). [`Running`]
//!    sets it for the length of a run — a poll of the engine, or the drop
//!    of its tasks when the batch is dropped (`Slots`'s drop) — (and
//!    [`now_running`] once the first set exists, during the run that makes
//!    it), and puts the previous value
//!    back when the run ends, even by unwinding: so a nested batch (a task
//!    that is itself a batch) has its own token during its run, and its
//!    parent's is back after.
//! 2. So a live engine's local bits are written only on the thread where it
//!    runs, during the run: by its tasks and the code it calls, never
//!    concurrently with the engine, which takes them (a dead engine's sets
//!    may still be written, invariant 3, but nobody takes them). Their words are atomics
//!    all the same (plain loads and stores, no read-modify-write), so even a
//!    misuse cannot be a data race.
//! 3. A later block's set can outlive the engine's first set (a stray waker
//!    of that block keeps it), and a later engine's first set may then reuse
//!    the address. A wake through such a stray waker while that engine runs
//!    marks the dead engine's local set, which nobody reads: a wake of a task
//!    that no longer exists, which does nothing anyway.
//! 4. The engine never waits (returns `Pending` with no wake to come) while a
//!    local bit is set: nothing wakes its parent for those
//!    ([`ReadySet::any_noted`](super::ready::ReadySet::any_noted)).
//!
//! Needs the `std` feature (thread-locals). Without it, and under loom, no
//! engine is ever "running" and every wake takes the atomic path.

#[cfg(all(feature = "std", not(fanout_loom)))]
mod cell {
    use core::cell::Cell;

    std::thread_local! {
        /// Invariant 1.
        static RUNNING: Cell<usize> = const { Cell::new(0) };
    }

    /// Marks an engine as running on this thread until dropped.
    pub(crate) struct Running {
        previous: usize,
    }

    impl Running {
        /// `owner` is running on this thread from now until the guard drops.
        #[inline(always)]
        pub(crate) fn enter(owner: usize) -> Self {
            let previous = RUNNING.try_with(|cell| cell.replace(owner)).unwrap_or(0);
            Self { previous }
        }

        /// Ends the run now (dropping the guard does the same).
        #[inline(always)]
        pub(crate) fn end(self) {}
    }

    impl Drop for Running {
        #[inline(always)]
        fn drop(&mut self) {
            let _ = RUNNING.try_with(|cell| cell.set(self.previous));
        }
    }

    /// The engine running on this thread (inside its [`Running`] guard) has
    /// just got its token: its first ready set.
    #[inline(always)]
    pub(crate) fn now_running(owner: usize) {
        let _ = RUNNING.try_with(|cell| cell.set(owner));
    }

    /// Whether the engine `owner` is running on this thread now (tests; the
    /// engine's hot paths compare [`current`] themselves).
    #[cfg(test)]
    pub(crate) fn is_running(owner: usize) -> bool {
        owner != 0
            && RUNNING
                .try_with(|cell| cell.get() == owner)
                .unwrap_or(false)
    }

    /// The token of the engine running on this thread now, or 0. A hot
    /// path reads it before anything else: from a library the access may
    /// compile as a call (the linker relaxes it later), and values computed
    /// before it would have to be saved across that call.
    #[inline(always)]
    pub(crate) fn current() -> usize {
        RUNNING.try_with(Cell::get).unwrap_or(0)
    }
}

#[cfg(not(all(feature = "std", not(fanout_loom))))]
mod cell {
    /// Without thread-locals no engine is ever known to run here.
    pub(crate) struct Running;

    impl Running {
        #[inline(always)]
        pub(crate) fn enter(_owner: usize) -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn end(self) {}
    }

    #[inline(always)]
    pub(crate) fn now_running(_owner: usize) {}

    #[cfg(test)]
    pub(crate) fn is_running(_owner: usize) -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn current() -> usize {
        0
    }
}

#[cfg(test)]
pub(crate) use cell::is_running;
pub(crate) use cell::{current, now_running, Running};
