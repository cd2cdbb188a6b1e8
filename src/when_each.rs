//! [`when_each`]: every task's output, as it finishes.

use crate::cancel::CancelSource;
use crate::engine::{Engine, Event};
use crate::signal::{EitherSignal, NoSignal, Signal};
use crate::source::{IntoSource, Source};
use crate::when_any::WhenAny;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

type OutputOf<S> = <<S as Source>::Task as Future>::Output;

/// Runs every task of `source` concurrently and streams each output **as its
/// task finishes**, with the task's index: .NET 9's `Task.WhenEach`, the guide's
/// *Interleaved* combinator, `FuturesUnordered` with indices.
///
/// Items come out in completion order; tasks woken before the same poll of
/// the stream (one round of the engine) come out in index order. A fault is just an
/// item, not the end of the stream. The stream ends when the source is
/// exhausted and every task has finished; on empty input it ends at once.
///
/// While you process an item, no task is polled (a stream is polled only when
/// you ask for the next item); if your processing awaits, and the tasks in
/// flight must keep moving meanwhile, use [`for_each_async`](crate::for_each_async).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// futures::executor::block_on(async {
///     let mut each = fanout::when_each((0..4).map(|i| async move { i * i }));
///     let mut seen = Vec::new();
///     while let Some((index, square)) = each.next().await {
///         assert_eq!(square, index * index);
///         seen.push(index);
///     }
///     seen.sort();
///     assert_eq!(seen, [0, 1, 2, 3]);
/// });
/// ```
///
/// # Cancellation
///
/// Dropping the stream mid-way drops every task in flight; tasks not yet pulled
/// from the source are never created. With [`cancel_on`](WhenEach::cancel_on),
/// the signal does the same and ends the stream — or, with
/// [`graceful`](WhenEach::graceful), cancels a [`CancelSource`] and streams
/// the tasks in flight to their own ends instead of dropping them.
pub fn when_each<I: IntoSource>(source: I) -> WhenEach<I::Source> {
    WhenEach {
        engine: Engine::new(source.into_source(), NoSignal),
        canceled: 0,
        done: false,
    }
}

pin_project! {
    /// The stream of [`when_each`]; also the rest of a [`when_any`](crate::when_any)
    /// race, still drivable.
    #[must_use = "streams do nothing unless polled"]
    pub struct WhenEach<S, C = NoSignal>
    where
        S: Source,
    {
        #[pin]
        engine: Engine<S, C>,
        canceled: usize,
        done: bool,
    }
}

impl<S: Source, C> WhenEach<S, C> {
    /// At most `n` tasks in flight at once; the source is pulled only as tasks
    /// finish. An item is handed out as soon as its task finishes, and its
    /// place is refilled first thing at the next poll of the stream: while you
    /// hold an item, `n - 1` tasks are in flight (none of them is polled until
    /// you ask for the next item anyway), and whenever the stream is pending,
    /// exactly `n` are, while work remains. `limit(1)` runs the tasks one
    /// after another.
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let each = fanout::when_each((0..10).map(|i| async move { i })).limit(3);
    /// let all: Vec<_> = futures::executor::block_on(each.collect());
    /// assert_eq!(all.len(), 10);
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

    /// Ends the stream when `signal` completes: every task in flight is
    /// dropped, nothing more is pulled, and [`canceled_count`](WhenEach::canceled_count)
    /// says how many tasks were dropped. Any future is a signal.
    /// [`graceful`](Self::graceful) streams the tasks in flight to their own
    /// ends instead.
    ///
    /// ```
    /// use futures::StreamExt;
    ///
    /// let forever = (0..3).map(|_| futures::future::pending::<()>());
    /// let mut each = fanout::when_each(forever).cancel_on(std::future::ready(()));
    /// assert_eq!(futures::executor::block_on(each.next()), None);
    /// assert!(each.is_canceled());
    /// ```
    pub fn cancel_on<F: IntoFuture>(
        self,
        signal: F,
    ) -> WhenEach<S, EitherSignal<C, F::IntoFuture>> {
        WhenEach {
            engine: self.engine.with_signal(signal),
            canceled: self.canceled,
            done: self.done,
        }
    }

    /// Stops gracefully, the `Parallel.ForEachAsync` way: when the signal of
    /// [`cancel_on`](Self::cancel_on) fires, the stream cancels `stop` and
    /// **keeps yielding** the outputs of the tasks in flight as they end on
    /// their own (Completed, Faulted or Canceled), instead of dropping them,
    /// then ends. Nothing more is pulled from the source.
    ///
    /// Build each task with a token of `stop` (or a [`child`] of one) so it can
    /// notice: [`CancelToken::run`] ends a task `Canceled` when its token fires.
    /// A task that ignores the token keeps the stream going until it ends, and
    /// its output is yielded like any other.
    ///
    /// [`child`]: crate::cancel::CancelToken::child
    /// [`CancelToken::run`]: crate::cancel::CancelToken::run
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    /// use fanout::Outcome;
    /// use futures::StreamExt;
    ///
    /// futures::executor::block_on(async {
    ///     let stop = CancelSource::new();
    ///     let shutdown = CancelSource::new();
    ///     let jobs = (0..10).map(|_| stop.token().run(futures::future::pending::<Result<u8, ()>>()));
    ///     let mut each = fanout::when_each(jobs)
    ///         .limit(3)
    ///         .cancel_on(shutdown.token().canceled())
    ///         .graceful(&stop);
    ///     assert!(futures::poll!(each.next()).is_pending()); // jobs 0, 1, 2 in flight
    ///     shutdown.cancel();
    ///     // They were not dropped: they saw `stop`, ended Canceled, and are
    ///     // yielded; job 3 was never started.
    ///     let rest: Vec<_> = each.collect().await;
    ///     assert_eq!(rest, [(0, Outcome::Canceled), (1, Outcome::Canceled), (2, Outcome::Canceled)]);
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Only the signal stops the stream gracefully (a `WhenEach` has no
    /// fail-fast); without a signal, `graceful` changes nothing. Nothing is
    /// dropped, so [`canceled_count`](Self::canceled_count) stays 0, and
    /// [`is_canceled`](Self::is_canceled) says only whether the stop cut the
    /// source short: how each task in flight ended is in its item. Dropping
    /// the stream still drops every task in flight at once.
    pub fn graceful(self, stop: &CancelSource) -> Self {
        Self {
            engine: self.engine.with_graceful(stop.clone_handle()),
            ..self
        }
    }

    /// Whether the batch was canceled by its signal.
    pub fn is_canceled(&self) -> bool {
        self.engine.was_canceled()
    }

    /// How many tasks the signal dropped before they finished (each counted
    /// here rather than handed out as an item, since it has no output).
    pub fn canceled_count(&self) -> usize {
        self.canceled
    }

    /// Tasks started and not finished yet.
    pub fn in_flight(&self) -> usize {
        self.engine.in_flight()
    }

    /// Races the tasks that are left: resolves to the next one to finish, with
    /// the rest still drivable. See [`when_any`](crate::when_any).
    pub fn when_any(self) -> WhenAny<S, C> {
        WhenAny::new(self)
    }
}

impl<S: Source, C> WhenEach<S, C> {
    /// Panics, naming the task, if one was lost to a panic in an earlier
    /// poll (for `when_any`, whose winner may have been that task).
    pub(crate) fn check_lost(&self) {
        self.engine.check_lost();
    }
}

impl<S: Source, C: Signal> Stream for WhenEach<S, C> {
    type Item = (usize, OutputOf<S>);

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        this.engine.as_mut().start_turn();
        loop {
            match this.engine.as_mut().poll_event(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Event::Done(index, output))) => {
                    return Poll::Ready(Some((index, output)))
                }
                Poll::Ready(Some(Event::Canceled(_))) => *this.canceled += 1,
                Poll::Ready(Some(Event::CanceledMany(count))) => *this.canceled += count,
                Poll::Ready(None) => {
                    this.engine.check_lost();
                    *this.done = true;
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let in_flight = self.engine.unreported();
        let (low, high) = self.engine.remaining_bounds();
        let high = high.and_then(|high| high.checked_add(in_flight));
        if C::CAN_FIRE {
            // The signal may drop everything.
            (0, high)
        } else {
            (in_flight.saturating_add(low), high)
        }
    }
}

impl<S: Source, C: Signal> FusedStream for WhenEach<S, C> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S: Source, C> core::fmt::Debug for WhenEach<S, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("WhenEach").field(&self.engine).finish()
    }
}
