//! [`when_any`]: the first task to finish, and the rest, still drivable.

use crate::cancel::CancelSource;
use crate::signal::{EitherSignal, NoSignal, Signal};
use crate::source::{IntoSource, Source};
use crate::when_each::{when_each, WhenEach};
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::stream::Stream;
use futures_core::FusedFuture;

type OutputOf<S> = <<S as Source>::Task as Future>::Output;

/// Races the tasks of `source`: resolves to the first task to finish —
/// whatever its outcome — with its index, its output, and **the rest of the
/// batch, still running**: .NET's `Task.WhenAny`, `futures::future::select_all`
/// without the reordering.
///
/// - The winner is the first task to end, faulted or not (a fault is a value
///   here). Tasks woken before the same poll break the tie by the lowest
///   index, every time.
/// - Nothing is dropped: the rest is a [`WhenEach`] over the tasks in flight
///   and the part of the source not yet pulled. Stream it, `.when_any()` it
///   again, or drop it to cancel the rest. Indices stay the original ones.
/// - Empty input resolves to `None` at once.
///
/// The tasks may be `!Unpin` (they are pinned inside the batch); the source and
/// the signal must be `Unpin` for the rest to be handed back (box a `!Unpin`
/// stream with `Box::pin`).
///
/// # Examples
///
/// ```
/// use futures::future::{pending, ready, Either};
/// use futures::StreamExt;
///
/// futures::executor::block_on(async {
///     let tasks = vec![Either::Left(pending()), Either::Right(ready(7)), Either::Right(ready(8))];
///     let (index, output, rest) = fanout::when_any(tasks).await.unwrap();
///     assert_eq!((index, output), (1, 7));
///     // The rest is still running: race it again.
///     let (index, output, rest) = rest.when_any().await.unwrap();
///     assert_eq!((index, output), (2, 8));
///     assert_eq!(rest.in_flight(), 1); // task 0, still pending
///
///     assert!(fanout::when_any(Vec::<std::future::Ready<()>>::new()).await.is_none());
/// });
/// ```
///
/// # Cancellation
///
/// Dropping the `WhenAny` before it resolves drops every task; once it has
/// resolved, the rest lives in the [`WhenEach`] it handed back. With
/// [`cancel_on`](WhenAny::cancel_on), the signal gives up the race; with
/// [`graceful`](WhenAny::graceful) as well, it waits for the tasks in flight
/// instead of dropping them.
pub fn when_any<I: IntoSource>(source: I) -> WhenAny<I::Source> {
    WhenAny::new(when_each(source))
}

/// The future of [`when_any`] and of [`WhenEach::when_any`].
#[must_use = "futures do nothing unless polled"]
pub struct WhenAny<S: Source, C = NoSignal> {
    rest: Option<WhenEach<S, C>>,
}

impl<S: Source, C> WhenAny<S, C> {
    pub(crate) fn new(each: WhenEach<S, C>) -> Self {
        Self { rest: Some(each) }
    }

    fn map_each<C2>(self, f: impl FnOnce(WhenEach<S, C>) -> WhenEach<S, C2>) -> WhenAny<S, C2> {
        WhenAny {
            rest: self.rest.map(f),
        }
    }

    /// At most `n` tasks in flight at once (the rest of the source is pulled as
    /// they finish). See [`WhenEach::limit`].
    ///
    /// ```
    /// let first = fanout::when_any((0..100).map(|i| async move { i })).limit(4);
    /// let (index, _, rest) = futures::executor::block_on(first).unwrap();
    /// assert_eq!(index, 0);
    /// assert!(rest.in_flight() <= 4);
    /// ```
    ///
    /// # Panics
    ///
    /// If `n` is zero: such a batch could never run a task.
    pub fn limit(self, n: usize) -> Self {
        self.map_each(|each| each.limit(n))
    }

    /// Gives up the race when `signal` completes: every task is dropped and the
    /// race resolves to `None`. Any future is a signal. With
    /// [`graceful`](Self::graceful), the tasks in flight are awaited instead.
    ///
    /// ```
    /// let race = fanout::when_any((0..3).map(|_| futures::future::pending::<()>()));
    /// let race = race.cancel_on(std::future::ready(())); // a signal that already fired
    /// assert!(futures::executor::block_on(race).is_none());
    /// ```
    pub fn cancel_on<F: IntoFuture>(self, signal: F) -> WhenAny<S, EitherSignal<C, F::IntoFuture>> {
        self.map_each(|each| each.cancel_on(signal))
    }

    /// Stops gracefully, the `Parallel.ForEachAsync` way, when the signal of
    /// [`cancel_on`](Self::cancel_on) fires **before the race has a winner**:
    /// it cancels `stop`, pulls nothing more, and does not drop the tasks in
    /// flight — so the race is not given up: it resolves to the first of them
    /// to end on its own (typically `Outcome::Canceled`, for a task built with
    /// [`CancelToken::run`]), with the rest as a [`WhenEach`] that yields the
    /// others as they end, then ends. It resolves to `None` only if no task
    /// was in flight (a signal that fired before the first poll).
    /// `stop.is_canceled()` tells a stopped race from one won before the
    /// signal.
    ///
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
    ///     let mut race = fanout::when_any(jobs)
    ///         .limit(3)
    ///         .cancel_on(shutdown.token().canceled())
    ///         .graceful(&stop);
    ///     assert!(futures::poll!(&mut race).is_pending()); // jobs 0, 1, 2 in flight
    ///     shutdown.cancel();
    ///     // Not given up: the jobs saw `stop` and ended Canceled, lowest index first.
    ///     let (index, outcome, rest) = race.await.unwrap();
    ///     assert_eq!((index, outcome), (0, Outcome::Canceled));
    ///     assert!(stop.is_canceled());
    ///     let rest: Vec<_> = rest.collect().await;
    ///     assert_eq!(rest, [(1, Outcome::Canceled), (2, Outcome::Canceled)]); // job 3 never started
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// This is [`WhenEach::graceful`] on the stream inside the race, so the
    /// rest handed back keeps it: a signal that fires while you stream the
    /// rest stops it gracefully too. Only the signal stops a race (without
    /// one, `graceful` changes nothing), and a race won before it is
    /// unchanged. Dropping the race, or its rest, still drops every task in
    /// flight at once.
    pub fn graceful(self, stop: &CancelSource) -> Self {
        self.map_each(|each| each.graceful(stop))
    }
}

impl<S, C> Future for WhenAny<S, C>
where
    S: Source,
    C: Signal,
    WhenEach<S, C>: Unpin,
{
    type Output = Option<(usize, OutputOf<S>, WhenEach<S, C>)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let each = this
            .rest
            .as_mut()
            .expect("`WhenAny` polled after it completed");
        match Pin::new(each).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some((index, output))) => {
                let rest = this.rest.take().expect("checked above");
                // A task lost to a panic may have been the first to end.
                rest.check_lost();
                Poll::Ready(Some((index, output, rest)))
            }
            Poll::Ready(None) => {
                this.rest = None;
                Poll::Ready(None)
            }
        }
    }
}

impl<S, C> FusedFuture for WhenAny<S, C>
where
    S: Source,
    C: Signal,
    WhenEach<S, C>: Unpin,
{
    fn is_terminated(&self) -> bool {
        self.rest.is_none()
    }
}

impl<S: Source, C> core::fmt::Debug for WhenAny<S, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.rest {
            Some(each) => f.debug_tuple("WhenAny").field(each).finish(),
            None => f.write_str("WhenAny(finished)"),
        }
    }
}
