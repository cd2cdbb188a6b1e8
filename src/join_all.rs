//! [`join_all`]: wait for every task and collect every output.

use crate::engine::{Engine, Event};
use crate::ordered::Ordered;
use crate::signal::NoSignal;
use crate::source::{IntoSource, Source};
use alloc::vec::Vec;
use core::future::Future;
use core::ops::ControlFlow;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

type OutputOf<S> = <<S as Source>::Task as Future>::Output;

/// Runs every task of `source` concurrently and collects every output, **in
/// input order** whatever the completion order — `Task.WhenAll` for tasks that
/// cannot fail, and a drop-in for `futures::future::join_all` that polls only
/// the tasks that were woken, at every size.
///
/// The outputs are not judged (a `Result` is just a value here); for
/// fault aggregation use [`when_all`](crate::when_all), for per-task outcomes
/// [`settle_all`](crate::settle_all). Empty input resolves on the first poll
/// with an empty `Vec`. Option: [`.limit(n)`](JoinAll::limit).
///
/// # Examples
///
/// ```
/// let doubled = fanout::join_all((1..=4).map(|i| async move { i * 2 }));
/// assert_eq!(futures::executor::block_on(doubled), [2, 4, 6, 8]);
/// ```
///
/// # Cancellation
///
/// Dropping the `JoinAll` drops every task in flight; tasks not yet pulled from
/// the source are never created.
pub fn join_all<I>(source: I) -> JoinAll<I::Source>
where
    I: IntoSource,
{
    JoinAll {
        engine: Engine::new(source.into_source(), NoSignal),
        outputs: Ordered::new(),
        done: false,
    }
}

pin_project! {
    /// The future of [`join_all`].
    #[must_use = "futures do nothing unless polled"]
    pub struct JoinAll<S>
    where
        S: Source,
    {
        #[pin]
        engine: Engine<S, NoSignal>,
        outputs: Ordered<OutputOf<S>>,
        done: bool,
    }
}

impl<S: Source> JoinAll<S> {
    /// At most `n` tasks in flight at once; see [`WhenAll::limit`](crate::WhenAll::limit).
    ///
    /// ```
    /// let sequential = fanout::join_all((0..3).map(|i| async move { i })).limit(1);
    /// assert_eq!(futures::executor::block_on(sequential), [0, 1, 2]);
    /// ```
    ///
    /// # Panics
    ///
    /// If `n` is zero: such a batch could never run a task.
    pub fn limit(self, n: usize) -> Self {
        Self {
            engine: self.engine.with_limit(n),
            ..self
        }
    }
}

impl<S: Source> Future for JoinAll<S> {
    type Output = Vec<OutputOf<S>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`JoinAll` polled after it completed");
        this.engine.as_mut().start_turn();
        // Events still to come after the first of this poll: it only sizes
        // storage, so one look per poll is enough.
        let more = this
            .outputs
            .more_hint(|| this.engine.events_hint().saturating_sub(1));
        let outputs = &mut *this.outputs;
        ready!(this.engine.as_mut().poll_drive(cx, |event| {
            match event {
                Event::Done(index, output) => outputs.put(index, output, more),
                Event::Canceled(_) | Event::CanceledMany(_) => {
                    unreachable!("a `JoinAll` is never canceled")
                }
            }
            ControlFlow::Continue(())
        }));
        // The sink never stops the batch: it finished.
        this.engine.check_lost();
        *this.done = true;
        let outputs = core::mem::replace(this.outputs, Ordered::new());
        Poll::Ready(outputs.into_vec(this.engine.pulled()))
    }
}

impl<S: Source> FusedFuture for JoinAll<S> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S: Source> core::fmt::Debug for JoinAll<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("JoinAll").field(&self.engine).finish()
    }
}
