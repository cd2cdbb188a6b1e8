//! `ParentWaker`: the one slot where the engine leaves the waker of the task that
//! polls it, and from which any child's waker, on any thread, can wake it.
//!
//! # Why not `AtomicWaker`
//!
//! The classic `AtomicWaker` (as in `futures-core`) *takes* the waker out on
//! every wake, so the owner must clone it back in on its next poll: per wake,
//! two compare-and-swaps to register, a reference-count increment for the clone
//! and a decrement when the taken waker is dropped — four atomic
//! read-modify-writes the engine pays for every wake of a sparse batch. Here a
//! wake only *borrows* the stored waker (`wake_by_ref`), so it stays registered:
//! the engine's registration each time it waits is one pointer comparison with no
//! atomic at all while the executor's waker is unchanged (the common case), and
//! a wake costs two atomics, `fetch_add` and one `compare_exchange`.
//!
//! # The protocol
//!
//! `state` holds a count of wakes in progress (in units of [`ONE_WAKE`]) and two
//! flags, [`REGISTERING`] and [`CLOSED`].
//!
//! - A wake adds [`ONE_WAKE`]. The wake that finds `state == 0` is the *leader*:
//!   it wakes the stored waker by reference, then tries to put `state` back to
//!   what it left. If more wakes arrived meanwhile, it wakes again for them (they
//!   returned at once, trusting it to); so every wake is followed by a
//!   `wake_by_ref` that happens after it.
//! - The engine replaces the waker only when it changed: it moves `state` from 0
//!   to [`REGISTERING`], writes the cell, and puts `state` back to 0; a wake that
//!   arrived meanwhile found the flag and returned, so the engine wakes the new
//!   waker for it. If a leader is busy, the engine cannot write the cell: it
//!   wakes its new waker itself and registers at its next poll.
//! - When the engine goes away it sets [`CLOSED`]: from then on wakes do
//!   nothing, and whoever owns the cell (the engine, or a busy leader when it
//!   sees the flag) drops the stored waker, so a late wake neither wakes nor
//!   keeps alive the task that used to poll the batch.
//!
//! # Invariants
//!
//! 1. Only `register` and `clear` (the engine, never concurrently: the engine
//!    is behind `&mut`) and a leader that saw [`CLOSED`] write the cell. So the
//!    engine may *read* it at any time, and a leader may read it while it leads.
//! 2. The cell is written only by a thread that moved `state` from 0 into
//!    [`REGISTERING`] or set [`CLOSED`] on a `state` of 0, or by the leader that
//!    found [`CLOSED`]; no leader is reading it then.
//! 3. A wake that returns early left its count in `state`, where the thread that
//!    owns the cell (leader or registering engine) finds it and wakes for it.

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};
use core::task::Waker;

/// The engine is replacing the stored waker.
const REGISTERING: usize = 0b01;
/// The engine is gone: wakes do nothing.
const CLOSED: usize = 0b10;
/// One wake in progress (the count lives above the flags; wrapping it only
/// ever happens on a closed cell, whose flags an addition cannot change).
const ONE_WAKE: usize = 0b100;

/// A waker slot shared between one registering owner and any number of wakers.
pub(crate) struct ParentWaker {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cell is only written under the rules of invariants 1 and 2, and
// `Waker` is `Send + Sync`.
unsafe impl Send for ParentWaker {}
// SAFETY: as above: shared access is reads only, ordered through `state`.
unsafe impl Sync for ParentWaker {}

impl ParentWaker {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(0),
            waker: UnsafeCell::new(None),
        }
    }

    /// Makes `waker` the one woken by the next wake. Called by the engine
    /// each time it is about to wait, before a last look at the ready set, so
    /// a wake after that look is never lost. Costs one comparison when
    /// `waker` is the one already stored.
    #[inline]
    pub(crate) fn register(&self, waker: &Waker) {
        // SAFETY: only the engine (our caller) writes the cell outside a
        // closed state (invariant 1), so reading it here races with reads only.
        let same = unsafe {
            self.waker
                .with(|cell| matches!(&*cell, Some(old) if old.will_wake(waker)))
        };
        if !same {
            self.replace(waker);
        }
    }

    #[cold]
    fn replace(&self, waker: &Waker) {
        match self
            .state
            .compare_exchange(0, REGISTERING, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => {
                // SAFETY: we moved `state` from 0 to REGISTERING: no leader
                // reads the cell and wakes stay out (invariant 2).
                let old = unsafe { self.waker.with_mut(|cell| (*cell).replace(waker.clone())) };
                // AcqRel: publish the new waker to the next leader, and see the
                // marks of the wakes that arrived while we held the cell.
                if self.state.swap(0, Ordering::AcqRel) >= ONE_WAKE {
                    // Invariant 3: they returned early; wake for them.
                    waker.wake_by_ref();
                }
                // Outside the protocol: dropping an executor's waker may run
                // arbitrary code.
                drop(old);
            }
            Err(_) => {
                // A leader is waking the old waker right now, so the cell cannot
                // be written; wake the new one so that the engine is polled
                // again, and registers then.
                waker.wake_by_ref();
            }
        }
    }

    /// Wakes the registered waker, if any. Safe from any thread, any number of
    /// times.
    pub(crate) fn wake(&self) {
        // AcqRel: release our caller's mark to whoever wakes for us; acquire
        // the registered waker.
        if self.state.fetch_add(ONE_WAKE, Ordering::AcqRel) != 0 {
            // A leader or the registering engine wakes for us (invariant 3),
            // or the engine is gone.
            return;
        }
        let mut expected = ONE_WAKE;
        loop {
            // SAFETY: we are the leader: nobody writes the cell until we give
            // `state` back (invariant 2).
            unsafe {
                self.waker.with(|cell| {
                    if let Some(waker) = &*cell {
                        waker.wake_by_ref();
                    }
                });
            }
            match self
                .state
                .compare_exchange(expected, 0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(now) if now & CLOSED != 0 => {
                    // The engine closed the cell while we led: dropping the
                    // waker is ours to do (invariant 2).
                    // SAFETY: CLOSED keeps everyone else out for good.
                    let waker = unsafe { self.waker.with_mut(|cell| (*cell).take()) };
                    drop(waker);
                    return;
                }
                // More wakes arrived while we woke: wake once more for them.
                Err(now) => expected = now,
            }
        }
    }

    /// Forgets the registered waker without waking it (the engine is gone).
    pub(crate) fn clear(&self) {
        if self.state.fetch_or(CLOSED, Ordering::AcqRel) == 0 {
            // SAFETY: no leader and no registration, and CLOSED keeps both out
            // for good: the cell is ours (invariant 2).
            let waker = unsafe { self.waker.with_mut(|cell| (*cell).take()) };
            drop(waker);
        }
        // Otherwise a leader is busy; it drops the waker when it sees CLOSED.
    }
}
