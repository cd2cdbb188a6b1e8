//! `ParentWaker`: the one slot where the engine leaves the waker of the task that
//! polls it, and from which any child's waker, on any thread, can wake it.
//!
//! This is the classic `AtomicWaker` protocol (as in `futures-core`), written
//! against [`crate::sync`] so that loom checks it together with the ready set.
//!
//! # Invariants
//!
//! 1. `waker` is only read or written by the thread that moved `state` out of
//!    `WAITING` (into `REGISTERING` or `WAKING`); that thread owns the cell until
//!    it moves `state` back.
//! 2. `register` is only called by the engine's owner, never concurrently with
//!    itself (the engine is behind `&mut`).
//! 3. A `wake` that finds the cell busy leaves the `WAKING` bit set; the
//!    registering thread sees it when it tries to release the cell and wakes the
//!    new waker itself, so no wake is ever lost.

use crate::sync::{AtomicUsize, Ordering, UnsafeCell};
use core::task::Waker;

/// Nobody holds the cell.
const WAITING: usize = 0;
/// `register` holds the cell and is replacing the waker.
const REGISTERING: usize = 0b01;
/// A `wake` holds the cell, or arrived while `register` held it.
const WAKING: usize = 0b10;

/// A waker slot shared between one registering owner and any number of wakers.
pub(crate) struct ParentWaker {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cell is only touched by the thread that owns it per invariant 1,
// and `Waker` is `Send + Sync`.
unsafe impl Send for ParentWaker {}
// SAFETY: as above: all shared access goes through the `state` word.
unsafe impl Sync for ParentWaker {}

impl ParentWaker {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(WAITING),
            waker: UnsafeCell::new(None),
        }
    }

    /// Stores `waker` as the one to wake next. Called by the engine at every poll
    /// before it looks at the ready set, so a wake after that look is never lost.
    pub(crate) fn register(&self, waker: &Waker) {
        match self.state.compare_exchange(
            WAITING,
            REGISTERING,
            Ordering::Acquire,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // SAFETY: we moved `state` from WAITING to REGISTERING, so we own
                // the cell (invariant 1).
                unsafe {
                    self.waker.with_mut(|cell| match &*cell {
                        Some(old) if old.will_wake(waker) => {}
                        _ => *cell = Some(waker.clone()),
                    });
                }
                if let Err(actual) = self.state.compare_exchange(
                    REGISTERING,
                    WAITING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // A wake arrived while we held the cell (invariant 3): it could
                    // not take the waker, so we wake it on its behalf.
                    debug_assert_eq!(actual, REGISTERING | WAKING);
                    // SAFETY: `state` still has REGISTERING set, so we still own
                    // the cell.
                    let pending = unsafe { self.waker.with_mut(|cell| (*cell).take()) };
                    self.state.swap(WAITING, Ordering::AcqRel);
                    if let Some(waker) = pending {
                        waker.wake();
                    }
                }
            }
            Err(WAKING) => {
                // A wake is taking the old waker right now; it may be the stale
                // one, so wake the caller directly.
                waker.wake_by_ref();
            }
            Err(_) => {
                // Invariant 2 rules out a concurrent `register`.
                debug_assert!(false, "ParentWaker::register called concurrently");
            }
        }
    }

    /// Wakes the registered waker, if any. Safe from any thread, any number of
    /// times.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.take() {
            waker.wake();
        }
    }

    /// Forgets the registered waker without waking it (the engine is gone).
    pub(crate) fn clear(&self) {
        drop(self.take());
    }

    fn take(&self) -> Option<Waker> {
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            WAITING => {
                // SAFETY: we moved `state` from WAITING to WAKING, so we own the
                // cell (invariant 1).
                let waker = unsafe { self.waker.with_mut(|cell| (*cell).take()) };
                self.state.fetch_and(!WAKING, Ordering::Release);
                waker
            }
            // Someone else owns the cell; invariant 3 makes them deliver the wake.
            _ => None,
        }
    }
}
