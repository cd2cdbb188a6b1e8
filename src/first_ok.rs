//! [`first_ok`]: the first task to complete successfully.

use crate::cancel::CancelSource;
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
/// Once a task succeeds, the others are dropped at once — or, with
/// [`graceful`](FirstOk::graceful), told to stop through a [`CancelSource`]
/// and waited for. Dropping the `FirstOk` drops every task in flight.
pub fn first_ok<I>(source: I) -> FirstOk<I::Source>
where
    I: IntoSource,
    OutputOf<I::Source>: TaskOutput,
{
    FirstOk {
        engine: Engine::new(source.into_source(), NoSignal),
        verdict: Verdict::new(),
        winner: None,
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
        // The first success, held while a graceful stop waits for the losers.
        winner: Option<(usize, OkOf<S>)>,
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
    /// With [`graceful`](Self::graceful), the tasks in flight are awaited
    /// instead.
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
            winner: self.winner,
            done: self.done,
        }
    }

    /// Stops gracefully, the `Parallel.ForEachAsync` way: when the race is
    /// decided — by the first success, or by the signal of
    /// [`cancel_on`](Self::cancel_on) — it cancels `stop` and **waits** for
    /// the tasks in flight to end on their own, instead of dropping them.
    /// Nothing more is pulled from the source.
    ///
    /// - **After a success**, the race resolves to that winner once every
    ///   loser in flight has ended. The losers' outcomes are discarded: a later
    ///   success does not replace the winner, and a fault does not turn the
    ///   win into a failure (a won race reports no fault in any case).
    /// - **After the signal**, the tasks in flight still take part: the first
    ///   of them to complete (one that ignores its token, or finishes before
    ///   it notices) wins, as a value completed after a cancel request counts
    ///   in [`when_all`](crate::when_all). If none completes, the race fails as
    ///   usual: with every fault, those raised while stopping included, else
    ///   `Failure::Canceled`.
    ///
    /// Build each task with a token of `stop` (or a [`child`] of one) so it can
    /// notice: [`CancelToken::run`] ends a task `Canceled` when its token fires.
    /// A task that ignores the token keeps the race pending until it ends.
    ///
    /// [`child`]: crate::cancel::CancelToken::child
    /// [`CancelToken::run`]: crate::cancel::CancelToken::run
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    /// use fanout::Outcome;
    /// use futures::channel::oneshot;
    /// use futures::future::{ready, Either};
    /// use futures::FutureExt;
    ///
    /// let stop = CancelSource::new();
    /// let (flushed, flush_done) = oneshot::channel::<()>();
    /// let mirrors = vec![
    ///     // Must finish flushing before it stops, so it does not watch the token.
    ///     Either::Left(flush_done.map(|_| Outcome::Faulted("no answer"))),
    ///     Either::Right(stop.token().run(ready(Ok("mirror 1")))),
    /// ];
    /// let mut race = fanout::first_ok(mirrors).graceful(&stop);
    /// futures::executor::block_on(async {
    ///     // Mirror 1 won and `stop` was canceled, but the race waits for mirror 0...
    ///     assert!(futures::poll!(&mut race).is_pending());
    ///     assert!(stop.is_canceled());
    ///     flushed.send(()).unwrap();
    ///     // ... whose fault, after the win, is discarded.
    ///     assert_eq!(race.await, Ok((1, "mirror 1")));
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// The race waits for its losers only while it is polled: dropping the
    /// `FirstOk` still drops every task in flight at once, and with it a
    /// winner not yet handed out.
    pub fn graceful(self, stop: &CancelSource) -> Self {
        Self {
            engine: self.engine.with_graceful(stop.clone_handle()),
            ..self
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
                // The race is won: how the losers end changes nothing. (Without
                // a graceful stop they were all dropped by the cancel, and are
                // reported in this same poll.)
                Some(_) if this.winner.is_some() => {}
                Some(Event::Done(index, output)) => {
                    if let Recorded::Value(value) =
                        this.verdict.record(index, output.into_outcome())
                    {
                        *this.winner = Some((index, value));
                        // The race is won: the others are dropped now, not when
                        // this future is (or, with a graceful stop, told to
                        // stop, and awaited).
                        this.engine.as_mut().cancel();
                    }
                }
                Some(Event::Canceled(_) | Event::CanceledMany(_)) => this.verdict.record_dropped(),
                None => {
                    this.engine.check_lost();
                    *this.done = true;
                    if let Some(winner) = this.winner.take() {
                        return Poll::Ready(Ok(winner));
                    }
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
