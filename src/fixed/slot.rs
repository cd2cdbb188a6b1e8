//! One element of a fixed batch: its future while it runs, then its output.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use pin_project_lite::pin_project;

pin_project! {
    /// Where one element of a tuple or array batch is: running (its future,
    /// pinned in place), done (its output, until the face takes it), or
    /// dropped by a cancel. Replacing a variant drops the old one in place,
    /// so a running future is never moved.
    #[project = SlotProj]
    #[project_replace = SlotReplace]
    pub enum Slot<F: Future> {
        Running { #[pin] future: F },
        Done { output: F::Output },
        /// Dropped by the batch before it finished.
        Canceled,
        /// Its poll panicked out of an earlier poll of the batch: dropped
        /// then (a future that panicked is not polled again), its outcome
        /// lost.
        Lost,
        /// Nothing here: the output was taken, or (in an array handed to the
        /// engine) the future lives in the engine and its output is still to
        /// come.
        Empty,
    }
}

/// Polls `slot` (element `index`); a panic out of its poll records `index`
/// in `lost` ([`crate::unwind::LostOnUnwind`]), at no cost otherwise. `true`
/// if the element finished in this poll.
#[inline(always)]
pub(crate) fn poll_noting_loss<F: Future>(
    lost: &mut Option<usize>,
    index: usize,
    slot: Pin<&mut Slot<F>>,
    cx: &mut Context<'_>,
) -> bool {
    crate::unwind::LostOnUnwind::call(lost, index, || slot.poll_slot(cx))
}

impl<F: Future> Slot<F> {
    /// Polls the element if it is still running; `true` if it finished in
    /// this poll (its output is now kept here).
    #[inline(always)]
    pub(crate) fn poll_slot(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let SlotProj::Running { future } = self.as_mut().project() else {
            return false;
        };
        match future.poll(cx) {
            Poll::Ready(output) => {
                // Drops the finished future in place.
                self.set(Slot::Done { output });
                true
            }
            Poll::Pending => false,
        }
    }

    /// Drops the element's future if it is still running; `true` if it was.
    pub(crate) fn cancel(mut self: Pin<&mut Self>) -> bool {
        if self.is_running() {
            self.set(Slot::Canceled);
            true
        } else {
            false
        }
    }

    /// Drops the element's future if it is still running, as lost to the
    /// panic of its poll.
    #[cold]
    pub(crate) fn lose(mut self: Pin<&mut Self>) {
        if self.is_running() {
            self.set(Slot::Lost);
        }
    }

    /// Keeps `output` here (an array's engine handed it back).
    pub(crate) fn put(mut self: Pin<&mut Self>, output: F::Output) {
        self.set(Slot::Done { output });
    }

    /// Records that the engine dropped this element.
    pub(crate) fn put_canceled(mut self: Pin<&mut Self>) {
        self.set(Slot::Canceled);
    }

    /// Whether the element is still running here.
    #[inline(always)]
    pub(crate) fn is_running(&self) -> bool {
        matches!(self, Slot::Running { .. })
    }

    /// The output, while it is kept here.
    pub(crate) fn output(&self) -> Option<&F::Output> {
        match self {
            Slot::Done { output } => Some(output),
            _ => None,
        }
    }

    /// Takes the output out: `Some` once the element finished, `None` if the
    /// batch dropped it. Leaves the slot empty.
    ///
    /// # Panics
    ///
    /// If the element is still running or its output was taken already: a
    /// face takes each output once, after every element has ended.
    #[inline(always)]
    pub(crate) fn take(self: Pin<&mut Self>) -> Option<F::Output> {
        match self.project_replace(Slot::Empty) {
            SlotReplace::Done { output } => Some(output),
            SlotReplace::Canceled => None,
            SlotReplace::Running { .. } | SlotReplace::Lost | SlotReplace::Empty => {
                unreachable!("fanout: an element's output was taken before it ended or twice")
            }
        }
    }
}
