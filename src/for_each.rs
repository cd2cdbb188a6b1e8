//! [`for_each`]: process each task's value as it finishes, one at a time.

use crate::cancel::CancelSource;
use crate::engine::{Drive, Engine, Event};
use crate::outcome::{Failure, Outcome, TaskOutput};
use crate::processed::{processor_panicked, Processed};
use crate::signal::{EitherSignal, NoSignal, Signal};
use crate::source::{IntoSource, Source};
use crate::unwind::LostOnUnwind;
use crate::verdict::{Recorded, Verdict};
use core::future::{Future, IntoFuture};
use core::ops::ControlFlow;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

type OutputOf<S> = <<S as Source>::Task as Future>::Output;
type OkOf<S> = <OutputOf<S> as TaskOutput>::Ok;
type ErrOf<S> = <OutputOf<S> as TaskOutput>::Err;

/// Runs the tasks of `source` concurrently and calls `process(index, value)`
/// for each task that completes, **as it completes**: the guide's
/// *ConcurrentInterleavedForEachAsync*, and with [`.limit(n)`](ForEach::limit)
/// .NET's `Parallel.ForEachAsync` with a degree of parallelism over a lazily
/// pulled source (`items.into_iter().map(body)`).
///
/// - `process` runs inside the batch's poll, one call at a time (never
///   concurrently with itself), in completion order; the tasks in flight move
///   on between calls without any lock.
/// - Faults are not processed: they are all kept, with their indices, and the
///   batch resolves to `Err(Failure::Faulted(..))` — faults win over
///   cancellations — or `Err(Failure::Canceled)`, or `Ok(())`, exactly as
///   [`when_all`](crate::when_all) does.
/// - `process` returns `()`, or `Result<(), E>` with the tasks' error type
///   `E` (so `?` works in it): an `Err` is a fault of that item, kept at its
///   index with the tasks' faults, and stops a fail-fast batch like one
///   ([`Processed`](crate::Processed)).
/// - Run to completion by default; [`.fail_fast()`](ForEach::fail_fast) and
///   [`.cancel_on(signal)`](ForEach::cancel_on) as for `when_all`.
///
/// For a processor that must itself `.await`, use
/// [`for_each_async`](crate::for_each_async).
///
/// # Examples
///
/// ```
/// let mut total = 0;
/// let batch = fanout::for_each(
///     (1..=10).map(|i| async move { Ok::<_, ()>(i) }),
///     |_index, value| total += value,
/// );
/// futures::executor::block_on(batch.limit(3)).unwrap();
/// assert_eq!(total, 55);
/// ```
///
/// # Cancellation
///
/// Dropping the `ForEach` drops every task in flight; tasks not yet pulled from
/// the source are never created, and `process` is not called again.
pub fn for_each<I, F, R>(source: I, process: F) -> ForEach<I::Source, F>
where
    I: IntoSource,
    OutputOf<I::Source>: TaskOutput,
    F: FnMut(usize, OkOf<I::Source>) -> R,
    R: Processed<ErrOf<I::Source>>,
{
    ForEach {
        engine: Engine::new(source.into_source(), NoSignal),
        process,
        verdict: Verdict::new(),
        fail_fast: false,
        lost: None,
        done: false,
    }
}

pin_project! {
    /// The future of [`for_each`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ForEach<S, F, C = NoSignal>
    where
        S: Source,
        OutputOf<S>: TaskOutput,
    {
        #[pin]
        engine: Engine<S, C>,
        process: F,
        verdict: Verdict<ErrOf<S>>,
        fail_fast: bool,
        // The first item whose processor call panicked.
        lost: Option<usize>,
        done: bool,
    }
}

impl<S, F, C> ForEach<S, F, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    /// At most `n` tasks in flight at once (`Parallel.ForEachAsync`'s
    /// `MaxDegreeOfParallelism`): the source is pulled only as tasks finish,
    /// and a freed place is refilled within the same poll.
    ///
    /// ```
    /// let mut order = Vec::new();
    /// let batch = fanout::for_each((0..5).map(|i| async move { Ok::<_, ()>(i) }), |i, _| order.push(i));
    /// futures::executor::block_on(batch.limit(1)).unwrap();
    /// assert_eq!(order, [0, 1, 2, 3, 4]); // limit(1) is sequential
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

    /// Cancels the batch when `signal` completes; see
    /// [`WhenAll::cancel_on`](crate::WhenAll::cancel_on).
    ///
    /// ```
    /// use fanout::Failure;
    ///
    /// let forever = (0..3).map(|_| futures::future::pending::<Result<(), ()>>());
    /// let batch = fanout::for_each(forever, |_, ()| {}).cancel_on(async {});
    /// assert_eq!(futures::executor::block_on(batch), Err(Failure::Canceled));
    /// ```
    pub fn cancel_on<G: IntoFuture>(
        self,
        signal: G,
    ) -> ForEach<S, F, EitherSignal<C, G::IntoFuture>> {
        ForEach {
            engine: self.engine.with_signal(signal),
            process: self.process,
            verdict: self.verdict,
            fail_fast: self.fail_fast,
            lost: self.lost,
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
    /// See [`SettleAll::graceful`](crate::SettleAll::graceful) for an example.
    pub fn graceful(self, stop: &CancelSource) -> Self {
        Self {
            engine: self.engine.with_graceful(stop.clone_handle()),
            ..self
        }
    }

    /// The first fault cancels the batch: tasks in flight are dropped, nothing
    /// more is pulled; see [`WhenAll::fail_fast`](crate::WhenAll::fail_fast).
    ///
    /// ```
    /// use fanout::Failure;
    ///
    /// let mut seen = Vec::new();
    /// let jobs = (0..10).map(|i| async move { if i == 2 { Err("boom") } else { Ok(i) } });
    /// let batch = fanout::for_each(jobs, |i, _| seen.push(i)).limit(1).fail_fast();
    /// assert!(futures::executor::block_on(batch).is_err());
    /// assert_eq!(seen, [0, 1]);
    /// ```
    pub fn fail_fast(self) -> Self {
        Self {
            fail_fast: true,
            ..self
        }
    }
}

impl<S, F, C, R> Future for ForEach<S, F, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    F: FnMut(usize, OkOf<S>) -> R,
    R: Processed<ErrOf<S>>,
    C: Signal,
{
    type Output = Result<(), Failure<ErrOf<S>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`ForEach` polled after it completed");
        this.engine.as_mut().start_turn();
        loop {
            let (verdict, process, fail_fast, lost) = (
                &mut *this.verdict,
                &mut *this.process,
                *this.fail_fast,
                &mut *this.lost,
            );
            let drive = ready!(this.engine.as_mut().poll_drive(cx, |event| {
                match event {
                    Event::Done(index, output) => {
                        match verdict.record(index, output.into_outcome()) {
                            Recorded::Value(value) => {
                                // A panic in the call leaves the item
                                // unprocessed: noted, and named at the end.
                                let processed =
                                    LostOnUnwind::call(lost, index, || process(index, value));
                                if let Some(error) = processed.into_fault() {
                                    // The processor's fault is the item's.
                                    verdict.record::<()>(index, Outcome::Faulted(error));
                                    if fail_fast {
                                        return ControlFlow::Break(());
                                    }
                                }
                            }
                            Recorded::Fault if fail_fast => return ControlFlow::Break(()),
                            Recorded::Fault | Recorded::Canceled => {}
                        }
                    }
                    Event::Canceled(_) | Event::CanceledMany(_) => verdict.record_dropped(),
                }
                ControlFlow::Continue(())
            }));
            match drive {
                // A fault, with fail-fast: stop the batch, then report the rest.
                Drive::Stopped => this.engine.as_mut().cancel(),
                Drive::Finished => {
                    this.engine.check_lost();
                    if let Some(index) = *this.lost {
                        processor_panicked(index);
                    }
                    *this.done = true;
                    return Poll::Ready(match this.verdict.finish(this.engine.was_canceled()) {
                        Some(failure) => Err(failure),
                        None => Ok(()),
                    });
                }
            }
        }
    }
}

impl<S, F, C, R> FusedFuture for ForEach<S, F, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    F: FnMut(usize, OkOf<S>) -> R,
    R: Processed<ErrOf<S>>,
    C: Signal,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S, F, C> core::fmt::Debug for ForEach<S, F, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ForEach").field(&self.engine).finish()
    }
}
