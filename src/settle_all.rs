//! [`settle_all`]: wait for every task and hand back every outcome.

use crate::cancel::CancelSource;
use crate::engine::{Drive, Engine, Event};
use crate::ordered::Ordered;
use crate::outcome::{Outcome, TaskOutput};
use crate::signal::{EitherSignal, NoSignal, Signal};
use crate::source::{IntoSource, Source};
use alloc::vec::Vec;
use core::future::{Future, IntoFuture};
use core::ops::ControlFlow;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

type OutputOf<S> = <<S as Source>::Task as Future>::Output;
type OutcomeOf<S> = Outcome<<OutputOf<S> as TaskOutput>::Ok, <OutputOf<S> as TaskOutput>::Err>;

/// Runs every task of `source` concurrently and hands back how each one ended:
/// a `Vec` of [`Outcome`]s, one per task pulled, **in input order** — JS
/// `Promise.allSettled`, Python's `gather(..., return_exceptions=True)`.
///
/// Nothing is judged: a fault is a value here. Tasks dropped by the batch
/// (its signal fired, or `.fail_fast()` saw a fault) are `Outcome::Canceled`.
/// Empty input resolves on the first poll with an empty `Vec`.
///
/// Options: [`.limit(n)`](SettleAll::limit),
/// [`.cancel_on(signal)`](SettleAll::cancel_on),
/// [`.fail_fast()`](SettleAll::fail_fast),
/// [`.graceful(&stop)`](SettleAll::graceful).
///
/// # One outcome per task *pulled*: the `Vec` can be shorter than the input
///
/// The source is pulled lazily, so a batch stopped early (its signal, or
/// `.fail_fast()`) never creates the tasks it had not pulled yet, and they
/// have **no entry**: `outcomes.len()` is the number of tasks pulled, which
/// can be less than the input's length. Index with `outcomes.get(i)`, not
/// `outcomes[i]`, when the batch can be stopped; a missing entry is a task
/// that never started.
///
/// ```
/// use fanout::{settle_all, Outcome};
///
/// // One at a time; the first faults and stops the batch: tasks 1 and 2
/// // are never pulled.
/// let jobs = [Err("boom"), Ok(2), Ok(3)].map(|r| async move { r });
/// let outcomes = futures::executor::block_on(settle_all(jobs).limit(1).fail_fast());
/// assert_eq!(outcomes, [Outcome::Faulted("boom")]);
/// assert_eq!(outcomes.get(2), None); // task 2 never started
/// ```
///
/// # Examples
///
/// ```
/// use fanout::{settle_all, Outcome};
///
/// let jobs = [Ok(1), Err("boom"), Ok(3)].map(|r| async move { r });
/// let outcomes = futures::executor::block_on(settle_all(jobs));
/// assert_eq!(
///     outcomes,
///     [Outcome::Completed(1), Outcome::Faulted("boom"), Outcome::Completed(3)]
/// );
/// ```
///
/// # Cancellation
///
/// Dropping the `SettleAll` drops every task in flight; tasks not yet pulled
/// from the source are never created.
pub fn settle_all<I>(source: I) -> SettleAll<I::Source>
where
    I: IntoSource,
    OutputOf<I::Source>: TaskOutput,
{
    SettleAll {
        // Every canceled task gets its own `Outcome::Canceled`, at its index.
        engine: Engine::new(source.into_source(), NoSignal).report_each_cancel(),
        outcomes: Ordered::new(),
        fail_fast: false,
        done: false,
    }
}

pin_project! {
    /// The future of [`settle_all`].
    #[must_use = "futures do nothing unless polled"]
    pub struct SettleAll<S, C = NoSignal>
    where
        S: Source,
        OutputOf<S>: TaskOutput,
    {
        #[pin]
        engine: Engine<S, C>,
        outcomes: Ordered<OutcomeOf<S>>,
        fail_fast: bool,
        done: bool,
    }
}

impl<S, C> SettleAll<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    /// At most `n` tasks in flight at once; see [`WhenAll::limit`](crate::WhenAll::limit).
    ///
    /// ```
    /// let all = fanout::settle_all((0..10).map(|i| async move { Ok::<_, ()>(i) })).limit(3);
    /// assert_eq!(futures::executor::block_on(all).len(), 10);
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

    /// Cancels the batch when `signal` completes: tasks in flight become
    /// `Outcome::Canceled`, and nothing more is pulled. See
    /// [`WhenAll::cancel_on`](crate::WhenAll::cancel_on).
    ///
    /// ```
    /// use fanout::{settle_all, Outcome};
    ///
    /// let forever = (0..2).map(|_| futures::future::pending::<Result<(), ()>>());
    /// let all = settle_all(forever).cancel_on(async {});
    /// assert_eq!(futures::executor::block_on(all), []); // canceled before any was pulled
    /// ```
    pub fn cancel_on<F: IntoFuture>(
        self,
        signal: F,
    ) -> SettleAll<S, EitherSignal<C, F::IntoFuture>> {
        SettleAll {
            engine: self.engine.with_signal(signal),
            outcomes: self.outcomes,
            fail_fast: self.fail_fast,
            done: self.done,
        }
    }

    /// Stops gracefully, the `Parallel.ForEachAsync` way: when the batch is
    /// canceled — by its signal or, with [`fail_fast`](Self::fail_fast), by the
    /// first fault — it cancels `stop` and **waits** for the tasks in flight to
    /// end on their own (Completed, Faulted or Canceled), instead of dropping
    /// them. Nothing more is pulled from the source, and every fault is kept.
    ///
    /// Build each task with a token of `stop` (or a [`child`] of one) so it can
    /// notice: [`CancelToken::run`] ends a task `Canceled` when its token fires.
    ///
    /// [`child`]: crate::cancel::CancelToken::child
    /// [`CancelToken::run`]: crate::cancel::CancelToken::run
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    /// use fanout::{settle_all, Outcome};
    /// use futures::future::{pending, ready, Either};
    ///
    /// let stop = CancelSource::new();
    /// let token = stop.token();
    /// let jobs = vec![
    ///     Either::Left(token.run(pending::<Result<u8, &str>>())), // stops when told
    ///     Either::Right(token.run(ready(Err("boom")))),
    /// ];
    /// let all = futures::executor::block_on(settle_all(jobs).fail_fast().graceful(&stop));
    /// // The first job was not dropped: it saw its token and ended Canceled.
    /// assert_eq!(all, [Outcome::Canceled, Outcome::Faulted("boom")]);
    /// ```
    pub fn graceful(self, stop: &CancelSource) -> Self {
        Self {
            engine: self.engine.with_graceful(stop.clone_handle()),
            ..self
        }
    }

    /// The first fault cancels the rest: tasks in flight become
    /// `Outcome::Canceled` and nothing more is pulled. See
    /// [`WhenAll::fail_fast`](crate::WhenAll::fail_fast).
    ///
    /// ```
    /// use fanout::{settle_all, Outcome};
    /// use futures::future::{pending, ready, Either};
    ///
    /// let jobs = vec![Either::Left(ready(Err("boom"))), Either::Right(pending::<Result<(), _>>())];
    /// let all = futures::executor::block_on(settle_all(jobs).fail_fast());
    /// assert_eq!(all, [Outcome::Faulted("boom")]); // the pending one was never pulled
    /// ```
    pub fn fail_fast(self) -> Self {
        Self {
            fail_fast: true,
            ..self
        }
    }
}

impl<S, C> Future for SettleAll<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    C: Signal,
{
    type Output = Vec<OutcomeOf<S>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`SettleAll` polled after it completed");
        this.engine.as_mut().start_turn();
        loop {
            // Only sizes storage, so one look per drive is enough.
            let more = this
                .outcomes
                .more_hint(|| this.engine.events_hint().saturating_sub(1));
            let (outcomes, fail_fast) = (&mut *this.outcomes, *this.fail_fast);
            let drive = ready!(this.engine.as_mut().poll_drive(cx, |event| {
                let (index, outcome) = match event {
                    Event::Done(index, output) => (index, output.into_outcome()),
                    Event::Canceled(index) => (index, Outcome::Canceled),
                    Event::CanceledMany(_) => {
                        unreachable!("a `SettleAll` has each cancel reported")
                    }
                };
                let stop = fail_fast && outcome.is_faulted();
                outcomes.put(index, outcome, more);
                if stop {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }));
            match drive {
                // A fault, with fail-fast: stop the batch, then report the rest.
                Drive::Stopped => this.engine.as_mut().cancel(),
                Drive::Finished => {
                    this.engine.check_lost();
                    *this.done = true;
                    let outcomes = core::mem::replace(this.outcomes, Ordered::new());
                    return Poll::Ready(outcomes.into_vec(this.engine.pulled()));
                }
            }
        }
    }
}

impl<S, C> FusedFuture for SettleAll<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    C: Signal,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S, C> core::fmt::Debug for SettleAll<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("SettleAll").field(&self.engine).finish()
    }
}
