//! [`when_all`]: wait for every task; succeed with every value in input order,
//! or fail with every fault.

use crate::cancel::CancelSource;
use crate::engine::{Drive, Engine, Event};
use crate::ordered::Ordered;
use crate::outcome::{Failure, Outcome, TaskOutput};
use crate::signal::{EitherSignal, NoSignal, Signal};
use crate::source::{IntoSource, Source};
use crate::verdict::{Recorded, Verdict};
use alloc::vec::Vec;
use core::future::{Future, IntoFuture};
use core::ops::ControlFlow;
use core::pin::Pin;
use core::task::{ready, Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

type OutputOf<S> = <<S as Source>::Task as Future>::Output;
type OkOf<S> = <OutputOf<S> as TaskOutput>::Ok;
type ErrOf<S> = <OutputOf<S> as TaskOutput>::Err;

/// Runs every task of `source` concurrently and waits for all of them: .NET's
/// `Task.WhenAll`.
///
/// Each task's output is a [`TaskOutput`] — a `Result<T, E>`, or an
/// [`Outcome<T, E>`](crate::Outcome) for a task that can report its own cancellation. The batch
/// resolves to:
///
/// - `Ok(values)` when every task completed, **in input order** whatever the
///   completion order;
/// - `Err(Failure::Faulted(faults))` when any task faulted: *every* fault, each
///   with its task's index, in input order ([`Faults::first`](crate::Faults::first) is what `await` on
///   a faulted `Task.WhenAll` rethrows) — faults win over cancellations;
/// - `Err(Failure::Canceled)` when no task faulted but one was canceled (by
///   itself, or by the batch's signal).
///
/// By default every task runs to completion, even after a fault (like
/// `Task.WhenAll`, unlike `futures::future::try_join_all`). Options:
/// [`.limit(n)`](WhenAll::limit), [`.cancel_on(signal)`](WhenAll::cancel_on),
/// [`.fail_fast()`](WhenAll::fail_fast).
///
/// Empty input resolves on the first poll with `Ok(vec![])`.
///
/// # Examples
///
/// ```
/// use fanout::{when_all, Failure};
///
/// futures::executor::block_on(async {
///     let ok = when_all((1..=3).map(|i| async move { Ok::<_, String>(i * 10) })).await;
///     assert_eq!(ok, Ok(vec![10, 20, 30]));
///
///     // Every fault is kept, with its index, in input order.
///     let jobs = [Ok(1), Err("boom"), Ok(3), Err("bang")].map(|r| async move { r });
///     let Err(Failure::Faulted(faults)) = when_all(jobs).await else { unreachable!() };
///     assert_eq!(faults.into_vec(), vec![(1, "boom"), (3, "bang")]);
/// });
/// ```
///
/// # Cancellation
///
/// Dropping the `WhenAll` drops every task in flight; tasks not yet pulled from
/// the source are never created.
///
/// See also [`settle_all`](crate::settle_all) for every outcome instead of a
/// verdict, and [`join_all`](crate::join_all) for tasks that cannot fail.
pub fn when_all<I>(source: I) -> WhenAll<I::Source>
where
    I: IntoSource,
    OutputOf<I::Source>: TaskOutput,
{
    WhenAll {
        engine: Engine::new(source.into_source(), NoSignal),
        results: Ordered::new(),
        verdict: Verdict::new(),
        fail_fast: false,
        done: false,
    }
}

pin_project! {
    /// The future of [`when_all`].
    #[must_use = "futures do nothing unless polled"]
    pub struct WhenAll<S, C = NoSignal>
    where
        S: Source,
        OutputOf<S>: TaskOutput,
    {
        #[pin]
        engine: Engine<S, C>,
        results: Ordered<OkOf<S>>,
        verdict: Verdict<ErrOf<S>>,
        fail_fast: bool,
        done: bool,
    }
}

impl<S, C> WhenAll<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    /// At most `n` tasks in flight at once; the source is pulled only when a
    /// task finishes, and the freed place is refilled in the same poll, so with
    /// enough work exactly `n` tasks are always in flight. `limit(1)` runs the
    /// tasks one after another.
    ///
    /// ```
    /// let squares = fanout::when_all((1..=100).map(|i| async move { Ok::<_, ()>(i * i) }))
    ///     .limit(8);
    /// let squares = futures::executor::block_on(squares).unwrap();
    /// assert_eq!(squares[9], 100);
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

    /// Cancels the batch when `signal` completes: every task in flight is
    /// dropped and recorded canceled, and nothing more is pulled from the
    /// source. Any future is a signal — a cancellation token's `canceled()`, a
    /// runtime's timer, a shutdown future; its output is ignored. Called twice,
    /// either signal cancels.
    ///
    /// The batch then resolves to `Err(Failure::Canceled)` — or to
    /// `Err(Failure::Faulted(..))` if a task faulted before the signal fired.
    /// A signal that already fired before the first poll cancels the batch
    /// before a single task is pulled.
    ///
    /// ```
    /// use fanout::{when_all, Failure};
    /// use futures::channel::oneshot;
    ///
    /// let (stop, stopped) = oneshot::channel::<()>();
    /// let forever = (0..3).map(|_| futures::future::pending::<Result<(), ()>>());
    /// let batch = when_all(forever).cancel_on(stopped);
    /// stop.send(()).unwrap();
    /// assert_eq!(futures::executor::block_on(batch), Err(Failure::Canceled));
    /// ```
    pub fn cancel_on<F: IntoFuture>(self, signal: F) -> WhenAll<S, EitherSignal<C, F::IntoFuture>> {
        WhenAll {
            engine: self.engine.with_signal(signal),
            results: self.results,
            verdict: self.verdict,
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
    /// See [`SettleAll::graceful`](crate::SettleAll::graceful) for an example.
    pub fn graceful(self, stop: &CancelSource) -> Self {
        Self {
            engine: self.engine.with_graceful(stop.clone_handle()),
            ..self
        }
    }

    /// The first fault cancels the batch: every task in flight is dropped (and
    /// recorded canceled), and not one more item is pulled from the source —
    /// Python's `TaskGroup`, `Parallel.ForEachAsync` on an exception. Faults
    /// that happened before are all kept.
    ///
    /// ```
    /// use fanout::{when_all, Failure};
    ///
    /// let mut pulled = 0;
    /// let jobs = (0..100).map(|i| {
    ///     pulled += 1;
    ///     async move { if i == 3 { Err(i) } else { Ok(i) } }
    /// });
    /// let result = futures::executor::block_on(when_all(jobs).limit(2).fail_fast());
    /// assert!(matches!(result, Err(Failure::Faulted(f)) if f.first() == Some(&3)));
    /// assert_eq!(pulled, 4); // tasks 0..=3; nothing after the fault
    /// ```
    pub fn fail_fast(self) -> Self {
        Self {
            fail_fast: true,
            ..self
        }
    }
}

impl<S, C> Future for WhenAll<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    C: Signal,
{
    type Output = Result<Vec<OkOf<S>>, Failure<ErrOf<S>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`WhenAll` polled after it completed");
        this.engine.as_mut().start_turn();
        loop {
            // Only sizes storage, so one look per drive is enough.
            let more = this
                .results
                .more_hint(|| this.engine.events_hint().saturating_sub(1));
            let (verdict, results, fail_fast) =
                (&mut *this.verdict, &mut *this.results, *this.fail_fast);
            let drive = ready!(this.engine.as_mut().poll_drive(cx, |event| {
                match event {
                    Event::Done(index, output) => match output.into_outcome() {
                        Outcome::Completed(value) if !verdict.is_failed() => {
                            results.put(index, value, more);
                        }
                        outcome => {
                            if record_failure(verdict, results, index, outcome) && fail_fast {
                                return ControlFlow::Break(());
                            }
                        }
                    },
                    Event::Canceled(_) | Event::CanceledMany(_) => {
                        record_dropped(verdict, results);
                    }
                }
                ControlFlow::Continue(())
            }));
            match drive {
                // A fault, with fail-fast: stop the batch, then report the rest.
                Drive::Stopped => this.engine.as_mut().cancel(),
                Drive::Finished => {
                    this.engine.check_lost();
                    *this.done = true;
                    let failure = this.verdict.finish(this.engine.was_canceled());
                    return Poll::Ready(match failure {
                        Some(failure) => Err(failure),
                        None => {
                            let results = core::mem::replace(this.results, Ordered::new());
                            Ok(results.into_vec(this.engine.pulled()))
                        }
                    });
                }
            }
        }
    }
}

impl<S, C> FusedFuture for WhenAll<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    C: Signal,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S, C> core::fmt::Debug for WhenAll<S, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("WhenAll").field(&self.engine).finish()
    }
}

/// The sink's path for every outcome but a value while the batch can still
/// succeed: records it, and drops the values collected so far (the batch has
/// failed; they will not be used). True for a fault. Out of line, so that
/// the sink stays small enough for the compiler to inline at both of the
/// engine's calls.
#[cold]
#[inline(never)]
fn record_failure<T, E>(
    verdict: &mut Verdict<E>,
    results: &mut Ordered<T>,
    index: usize,
    outcome: Outcome<T, E>,
) -> bool {
    let fault = matches!(verdict.record(index, outcome), Recorded::Fault);
    results.discard();
    fault
}

/// The sink's path for tasks the batch dropped: see [`record_failure`].
#[cold]
#[inline(never)]
fn record_dropped<T, E>(verdict: &mut Verdict<E>, results: &mut Ordered<T>) {
    verdict.record_dropped();
    results.discard();
}
