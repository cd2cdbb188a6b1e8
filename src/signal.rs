//! Batch-cancellation signals: any future is one.
//!
//! A batch built with `.cancel_on(signal)` polls `signal` at every step; once it
//! completes, the batch drops every task in flight, records each `Canceled`, and
//! pulls nothing more from its source. The signal's output is ignored, so a
//! cancellation token's `canceled()` future, a runtime's timer or a shutdown
//! future all serve. fanout owns no timer.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use pin_project_lite::pin_project;

mod sealed {
    pub trait Sealed {}
}

/// The cancellation signal of a batch: [`NoSignal`] until `.cancel_on` adds
/// one, then an [`EitherSignal`] of the old and the new. Sealed: you pass any
/// future to `.cancel_on`, and fanout wraps it.
pub trait Signal: Future<Output = ()> + sealed::Sealed {
    /// Whether this signal can ever fire: `false` only for [`NoSignal`], so a
    /// batch without a signal can promise more (an exact `size_hint`).
    const CAN_FIRE: bool;
}

impl sealed::Sealed for NoSignal {}
impl Signal for NoSignal {
    const CAN_FIRE: bool = false;
}

impl<A, B> sealed::Sealed for EitherSignal<A, B> {}
impl<A: Future, B: Future> Signal for EitherSignal<A, B> {
    const CAN_FIRE: bool = true;
}

/// The signal of a batch that has none: never fires, costs nothing (a
/// zero-sized future that is always pending).
#[derive(Debug, Clone, Copy, Default)]
#[must_use = "futures do nothing unless polled"]
pub struct NoSignal;

impl Future for NoSignal {
    type Output = ();

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

pin_project! {
    /// Two signals, either of which cancels the batch: what calling
    /// `.cancel_on` twice builds.
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct EitherSignal<A, B> {
        #[pin]
        first: A,
        #[pin]
        second: B,
    }
}

impl<A, B> EitherSignal<A, B> {
    pub(crate) fn new(first: A, second: B) -> Self {
        Self { first, second }
    }
}

impl<A: Future, B: Future> Future for EitherSignal<A, B> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.first.poll(cx).is_ready() || this.second.poll(cx).is_ready() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
