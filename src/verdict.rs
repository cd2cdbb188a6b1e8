//! The verdict of a batch so far: every fault, and whether anything was
//! canceled — what `when_all`, `for_each` and `first_ok` all judge by.

use crate::outcome::{Failure, Outcome};
use alloc::vec::Vec;

/// Faults and cancellations recorded so far; [`Verdict::finish`] applies the
/// precedence rule (any fault, else any cancellation, else success).
pub(crate) struct Verdict<E> {
    /// Every fault so far, in the order they happened; sorted by index once,
    /// at the end (inserting in index order as they come would be quadratic
    /// when they come in reverse).
    faults: Vec<(usize, E)>,
    canceled: bool,
}

/// What [`Verdict::record`] made of one task's outcome.
pub(crate) enum Recorded<T> {
    /// The task completed with this value.
    Value(T),
    /// The task faulted; the fault is recorded.
    Fault,
    /// The task reported its own cancellation; recorded.
    Canceled,
}

impl<E> Verdict<E> {
    pub(crate) const fn new() -> Self {
        Self {
            faults: Vec::new(),
            canceled: false,
        }
    }

    /// Records how task `index` ended; hands back its value if it completed.
    #[inline]
    pub(crate) fn record<T>(&mut self, index: usize, outcome: Outcome<T, E>) -> Recorded<T> {
        match outcome {
            Outcome::Completed(value) => Recorded::Value(value),
            Outcome::Faulted(error) => {
                self.faults.push((index, error));
                Recorded::Fault
            }
            Outcome::Canceled => {
                self.canceled = true;
                Recorded::Canceled
            }
        }
    }

    /// Records that the batch dropped a task before it finished.
    #[inline]
    pub(crate) fn record_dropped(&mut self) {
        self.canceled = true;
    }

    /// Whether the batch can no longer succeed.
    #[inline]
    pub(crate) fn is_failed(&self) -> bool {
        self.canceled || !self.faults.is_empty()
    }

    /// The failure, if any: every fault if there was one, else `Canceled` if
    /// anything (or the batch itself: `batch_canceled`) was canceled. Leaves
    /// the verdict empty.
    pub(crate) fn finish(&mut self, batch_canceled: bool) -> Option<Failure<E>> {
        let faults = core::mem::take(&mut self.faults).into_iter().collect();
        Failure::from_parts(faults, self.canceled || batch_canceled)
    }
}
