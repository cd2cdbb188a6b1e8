//! Running work under a token, and canceling on a deadline.

use super::token::{CancelSource, CancelToken, Canceled};
use crate::outcome::{Outcome, TaskOutput};
use core::fmt;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

impl CancelToken {
    /// Runs `task` under this token: it ends `Outcome::Canceled` if the token
    /// is canceled first (and `task` is dropped then, not polled again);
    /// otherwise its output, classified by [`TaskOutput`]. This is how the TPL
    /// guide's `RunJob(ms, id, token)` becomes `Canceled`. A task that finishes
    /// on the same poll in which it would have been canceled... is checked
    /// against the token first: a canceled token wins ties.
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    /// use fanout::Outcome;
    ///
    /// let source = CancelSource::new();
    /// let job = source.token().run(futures::future::pending::<Result<u32, ()>>());
    /// source.cancel();
    /// assert_eq!(futures::executor::block_on(job), Outcome::Canceled);
    ///
    /// let quick = source.token().child(); // canceled too: children follow
    /// assert!(quick.is_canceled());
    /// ```
    pub fn run<F>(&self, task: F) -> Run<F::IntoFuture>
    where
        F: IntoFuture,
        F::Output: TaskOutput,
    {
        Run {
            canceled: self.canceled(),
            task: Some(task.into_future()),
        }
    }
}

pin_project! {
    /// The future of [`CancelToken::run`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Run<F> {
        canceled: Canceled,
        #[pin]
        task: Option<F>,
    }
}

impl<F> Future for Run<F>
where
    F: Future,
    F::Output: TaskOutput,
{
    type Output = Outcome<<F::Output as TaskOutput>::Ok, <F::Output as TaskOutput>::Err>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(task) = this.task.as_mut().as_pin_mut() else {
            panic!("`Run` polled after it completed");
        };
        if Pin::new(&mut *this.canceled).poll(cx).is_ready() {
            this.task.set(None);
            return Poll::Ready(Outcome::Canceled);
        }
        match task.poll(cx) {
            Poll::Ready(output) => {
                this.task.set(None);
                Poll::Ready(output.into_outcome())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> FusedFuture for Run<F>
where
    F: Future,
    F::Output: TaskOutput,
{
    fn is_terminated(&self) -> bool {
        self.task.is_none()
    }
}

impl<F> fmt::Debug for Run<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("finished", &self.task.is_none())
            .finish()
    }
}

impl CancelSource {
    /// Cancels this source when `deadline` completes — any runtime's timer
    /// (`smol::Timer::after(..)`, `async_std::task::sleep(..)`), or any other
    /// future: .NET's `CancelAfter`, with the clock left to your runtime.
    ///
    /// The returned future does the waiting: spawn it, or `join` it with the
    /// work. It completes when the deadline fires (canceling the source) or as
    /// soon as the source is canceled some other way (dropping the deadline).
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    ///
    /// let source = CancelSource::new();
    /// let token = source.token();
    /// let deadline = source.cancel_when(async { /* a timer of your runtime */ });
    /// futures::executor::block_on(deadline);
    /// assert!(token.is_canceled());
    /// ```
    pub fn cancel_when<F: IntoFuture>(&self, deadline: F) -> CancelWhen<F::IntoFuture> {
        CancelWhen {
            source: self.clone_handle(),
            canceled: self.token().canceled(),
            deadline: deadline.into_future(),
            done: false,
        }
    }
}

pin_project! {
    /// The future of [`CancelSource::cancel_when`].
    #[must_use = "the deadline does nothing unless polled"]
    pub struct CancelWhen<F> {
        source: CancelSource,
        canceled: Canceled,
        #[pin]
        deadline: F,
        done: bool,
    }
}

impl<F: Future> Future for CancelWhen<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(());
        }
        // Canceled some other way: the deadline has nothing left to do.
        if Pin::new(&mut *this.canceled).poll(cx).is_ready() {
            *this.done = true;
            return Poll::Ready(());
        }
        if this.deadline.poll(cx).is_ready() {
            *this.done = true;
            this.source.cancel();
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl<F: Future> FusedFuture for CancelWhen<F> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<F> fmt::Debug for CancelWhen<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelWhen")
            .field("source", &self.source)
            .field("done", &self.done)
            .finish()
    }
}
