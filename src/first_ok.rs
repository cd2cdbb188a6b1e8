//! [`first_ok`]: the first task to complete successfully.

use crate::engine::{Engine, Event};
use crate::outcome::{Failure, Faults, TaskOutput};
use crate::signal::{EitherSignal, NoSignal, Signal};
use crate::source::{IntoSource, Source};
use crate::verdict::{Recorded, Verdict};
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

type OutputOf<S> = <<S as Source>::Task as Future>::Output;
type OkOf<S> = <OutputOf<S> as TaskOutput>::Ok;
type ErrOf<S> = <OutputOf<S> as TaskOutput>::Err;

/// Races the tasks of `source` for the first success: resolves to the index
/// and value of the first task that completes, and drops the rest — JS
/// `Promise.any`, `futures::future::select_ok` keeping every error.
///
/// When no task completes: `Err(Failure::Faulted(faults))` with **every** fault,
/// each with its index, in input order; `Err(Failure::Canceled)` if none faulted
/// but some were canceled. Empty input fails at once with an empty `Faults`
/// (as `Promise.any([])` rejects).
///
/// # Examples
///
/// ```
/// use fanout::{first_ok, Failure};
///
/// futures::executor::block_on(async {
///     let mirrors = [Err("timeout"), Ok("mirror 1"), Ok("mirror 2")].map(|r| async move { r });
///     assert_eq!(first_ok(mirrors).await, Ok((1, "mirror 1")));
///
///     let all_fail = [Err::<(), _>("a"), Err("b")].map(|r| async move { r });
///     let Err(Failure::Faulted(faults)) = first_ok(all_fail).await else { unreachable!() };
///     assert_eq!(faults.into_vec(), [(0, "a"), (1, "b")]);
/// });
/// ```
///
/// # Cancellation
///
/// Once a task succeeds, the others are dropped at once. Dropping the
/// `FirstOk` drops every task in flight.
pub fn first_ok<I>(source: I) -> FirstOk<I::Source>
where
    I: IntoSource,
    OutputOf<I::Source>: TaskOutput,
{
    FirstOk {
        engine: Engine::new(source.into_source(), NoSignal),
        verdict: Verdict::new(),
        done: false,
    }
}

pin_project! {
    /// The future of [`first_ok`].
    #[must_use = "futures do nothing unless polled"]
    pub struct FirstOk<S, C = NoSignal>
    where
        S: Source,
        OutputOf<S>: TaskOutput,
    {
        #[pin]
        engine: Engine<S, C>,
        verdict: Verdict<ErrOf<S>>,
        done: bool,
    }
}

impl<S, C> FirstOk<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    /// At most `n` tasks in flight at once: with `limit(1)`, try one after
    /// another until one succeeds (a fallback chain).
    ///
    /// ```
    /// let mut tried = 0;
    /// let tries = (0..10).map(|i| {
    ///     tried += 1;
    ///     async move { if i < 2 { Err(i) } else { Ok(i) } }
    /// });
    /// let first = futures::executor::block_on(fanout::first_ok(tries).limit(1));
    /// assert_eq!(first, Ok((2, 2)));
    /// assert_eq!(tried, 3);
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

    /// Gives up when `signal` completes: every task is dropped, and the race
    /// fails with the faults so far, or `Failure::Canceled` if there were none.
    ///
    /// ```
    /// use fanout::Failure;
    ///
    /// let race = fanout::first_ok((0..3).map(|_| futures::future::pending::<Result<(), ()>>()));
    /// let race = race.cancel_on(async {});
    /// assert_eq!(futures::executor::block_on(race), Err(Failure::Canceled));
    /// ```
    pub fn cancel_on<F: IntoFuture>(self, signal: F) -> FirstOk<S, EitherSignal<C, F::IntoFuture>> {
        FirstOk {
            engine: self.engine.with_signal(signal),
            verdict: self.verdict,
            done: self.done,
        }
    }
}

impl<S, C> Future for FirstOk<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    C: Signal,
{
    type Output = Result<(usize, OkOf<S>), Failure<ErrOf<S>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`FirstOk` polled after it completed");
        this.engine.as_mut().start_turn();
        loop {
            match ready!(this.engine.as_mut().poll_event(cx)) {
                Some(Event::Done(index, output)) => {
                    if let Recorded::Value(value) =
                        this.verdict.record(index, output.into_outcome())
                    {
                        *this.done = true;
                        // The race is won: the others are dropped now, not when
                        // this future is.
                        this.engine.as_mut().cancel();
                        return Poll::Ready(Ok((index, value)));
                    }
                }
                Some(Event::Canceled(_) | Event::CanceledMany(_)) => this.verdict.record_dropped(),
                None => {
                    *this.done = true;
                    // Nothing completed; with neither fault nor cancellation the
                    // input was empty: a failure with no faults.
                    let failure = this
                        .verdict
                        .finish(this.engine.was_canceled())
                        .unwrap_or(Failure::Faulted(Faults::new()));
                    return Poll::Ready(Err(failure));
                }
            }
        }
    }
}

impl<S, C> FusedFuture for FirstOk<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    C: Signal,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S, C> core::fmt::Debug for FirstOk<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("FirstOk").field(&self.engine).finish()
    }
}
