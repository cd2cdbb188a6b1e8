//! [`for_each_async`]: process each task's value as it finishes, awaiting the
//! processor, while the tasks in flight keep moving.

use crate::cancel::CancelSource;
use crate::engine::{Engine, Event};
use crate::outcome::{Failure, Outcome, TaskOutput};
use crate::processed::{processor_panicked, Processed};
use crate::signal::{EitherSignal, NoSignal, Signal};
use crate::source::{IntoSource, Source};
use crate::unwind::LostOnUnwind;
use crate::verdict::{Recorded, Verdict};
use alloc::collections::VecDeque;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

type OutputOf<S> = <<S as Source>::Task as Future>::Output;
type OkOf<S> = <OutputOf<S> as TaskOutput>::Ok;
type ErrOf<S> = <OutputOf<S> as TaskOutput>::Err;

/// Like [`for_each`](crate::for_each), but the processor is async:
/// `process(index, value)` returns a future, which is awaited to the end before
/// the next value is processed — one at a time, in completion order — **while
/// the tasks in flight keep being polled**.
///
/// That last part is what `stream.buffer_unordered(n)` followed by an awaiting
/// loop body does not do: there, in-flight futures sit unpolled while the body
/// awaits, so their timeouts fire and a body that waits on something a task in
/// flight holds (a semaphore permit, a lock) deadlocks. Here both are polled
/// from the same poll of the batch.
///
/// Values that finish while the processor is busy wait in a backlog; with
/// [`.limit(n)`](ForEachAsync::limit), a waiting value keeps its task's place in
/// the limit, so the backlog holds at most `n` values and the source is pulled
/// no faster than values are processed.
///
/// Faults, cancellation and the result are as for [`for_each`](crate::for_each),
/// and so is a processor that can fail: its future outputs `()` or
/// `Result<(), E>` with the tasks' error type `E`, and an `Err` is a fault
/// of that item ([`Processed`](crate::Processed)):
///
/// ```
/// use fanout::Failure;
///
/// let saved = std::cell::RefCell::new(Vec::new());
/// let fetches = (0..4).map(|i| async move { Ok::<u32, String>(i) });
/// let batch = fanout::for_each_async(fetches, |_, page| {
///     let saved = &saved;
///     async move {
///         if page == 2 {
///             return Err(format!("cannot save page {page}"));
///         }
///         saved.borrow_mut().push(page);
///         Ok(())
///     }
/// });
/// let Err(Failure::Faulted(faults)) = futures::executor::block_on(batch.limit(1).fail_fast()) else {
///     unreachable!()
/// };
/// assert_eq!(faults.into_vec(), [(2, "cannot save page 2".to_string())]);
/// assert_eq!(*saved.borrow(), [0, 1]); // page 3 was never fetched
/// ```
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let batch = fanout::for_each_async(
///     (1..=3).map(|i| async move { Ok::<_, ()>(i) }),
///     |index, value| {
///         let log = log.clone();
///         async move { log.lock().unwrap().push((index, value * 10)) }
///     },
/// );
/// futures::executor::block_on(batch.limit(2)).unwrap();
/// assert_eq!(log.lock().unwrap().len(), 3);
/// ```
///
/// # Cancellation
///
/// Dropping the `ForEachAsync` drops every task in flight and the processor's
/// future if one is running; values in the backlog are dropped unprocessed.
pub fn for_each_async<I, F, Fut>(source: I, process: F) -> ForEachAsync<I::Source, F, Fut>
where
    I: IntoSource,
    OutputOf<I::Source>: TaskOutput,
    F: FnMut(usize, OkOf<I::Source>) -> Fut,
    Fut: Future,
    Fut::Output: Processed<ErrOf<I::Source>>,
{
    ForEachAsync {
        engine: Engine::new(source.into_source(), NoSignal),
        process,
        running: None,
        running_index: 0,
        lost: None,
        backlog: VecDeque::new(),
        verdict: Verdict::new(),
        fail_fast: false,
        engine_done: false,
        done: false,
    }
}

pin_project! {
    /// The future of [`for_each_async`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ForEachAsync<S, F, Fut, C = NoSignal>
    where
        S: Source,
        OutputOf<S>: TaskOutput,
    {
        #[pin]
        engine: Engine<S, C>,
        process: F,
        #[pin]
        running: Option<Fut>,
        // The index of the item the running call processes.
        running_index: usize,
        // The first item whose processor call (or its future) panicked:
        // that future is dropped at the next poll, never polled again.
        lost: Option<usize>,
        backlog: VecDeque<(usize, OkOf<S>)>,
        verdict: Verdict<ErrOf<S>>,
        fail_fast: bool,
        engine_done: bool,
        done: bool,
    }
}

impl<S, F, Fut, C> ForEachAsync<S, F, Fut, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    /// At most `n` tasks in flight or waiting in the backlog at once; see
    /// [`ForEach::limit`](crate::ForEach::limit).
    ///
    /// ```
    /// let batch = fanout::for_each_async((0..5).map(|i| async move { Ok::<_, ()>(i) }), |_, _| async {});
    /// futures::executor::block_on(batch.limit(2)).unwrap();
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

    /// Cancels the batch when `signal` completes: tasks in flight are dropped,
    /// nothing more is pulled; values already in the backlog (their tasks
    /// completed) are still processed. See
    /// [`WhenAll::cancel_on`](crate::WhenAll::cancel_on).
    ///
    /// ```
    /// use fanout::Failure;
    ///
    /// let forever = (0..3).map(|_| futures::future::pending::<Result<(), ()>>());
    /// let batch = fanout::for_each_async(forever, |_, ()| async {}).cancel_on(async {});
    /// assert_eq!(futures::executor::block_on(batch), Err(Failure::Canceled));
    /// ```
    pub fn cancel_on<G: IntoFuture>(
        self,
        signal: G,
    ) -> ForEachAsync<S, F, Fut, EitherSignal<C, G::IntoFuture>> {
        ForEachAsync {
            engine: self.engine.with_signal(signal),
            process: self.process,
            running: self.running,
            running_index: self.running_index,
            lost: self.lost,
            backlog: self.backlog,
            verdict: self.verdict,
            fail_fast: self.fail_fast,
            engine_done: self.engine_done,
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

    /// The first fault cancels the batch; see
    /// [`WhenAll::fail_fast`](crate::WhenAll::fail_fast). Values already in the
    /// backlog are still processed.
    ///
    /// # Cancellation
    ///
    /// Fail-fast cancels the *tasks*, never the processor: a processor call
    /// already running is the caller's own code, and it runs to its end (as a
    /// `Parallel.ForEachAsync` body observes its token rather than being
    /// aborted). So a processor call that never finishes keeps the batch from
    /// resolving even after a fault; give it a token (a
    /// [`CancelToken`](crate::cancel::CancelToken) it awaits, or
    /// [`graceful`](Self::graceful)) if it may wait forever.
    ///
    /// ```
    /// let jobs = (0..10).map(|i| async move { if i == 0 { Err("boom") } else { Ok(i) } });
    /// let batch = fanout::for_each_async(jobs, |_, _| async {}).limit(1).fail_fast();
    /// assert!(futures::executor::block_on(batch).is_err());
    /// ```
    pub fn fail_fast(self) -> Self {
        Self {
            fail_fast: true,
            ..self
        }
    }
}

impl<S, F, Fut, C> Future for ForEachAsync<S, F, Fut, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    F: FnMut(usize, OkOf<S>) -> Fut,
    Fut: Future,
    Fut::Output: Processed<ErrOf<S>>,
    C: Signal,
{
    type Output = Result<(), Failure<ErrOf<S>>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        assert!(!*this.done, "`ForEachAsync` polled after it completed");
        this.engine.as_mut().start_turn();
        if this.lost.is_some_and(|index| index == *this.running_index) {
            // The running call panicked out of the last poll.
            this.running.set(None);
        }
        loop {
            // The processor: finish the running call, then start the next one
            // from the backlog, until one is pending or the backlog is empty.
            loop {
                if let Some(running) = this.running.as_mut().as_pin_mut() {
                    let index = *this.running_index;
                    let polled = LostOnUnwind::call(this.lost, index, || running.poll(cx));
                    let Poll::Ready(processed) = polled else {
                        break;
                    };
                    this.running.set(None);
                    if let Some(error) = processed.into_fault() {
                        // The processor's fault is the item's: a fault like
                        // a task's, which stops a fail-fast batch.
                        let index = *this.running_index;
                        this.verdict.record::<()>(index, Outcome::Faulted(error));
                        if *this.fail_fast {
                            this.engine.as_mut().cancel();
                        }
                    }
                }
                let Some((index, value)) = this.backlog.pop_front() else {
                    break;
                };
                // The value leaves the backlog: its place in the limit is free.
                this.engine.as_mut().hold(false);
                *this.running_index = index;
                let call = LostOnUnwind::call(this.lost, index, || (this.process)(index, value));
                this.running.set(Some(call));
            }

            // The tasks: take every event there is now, so the tasks in flight
            // move on even while the processor waits.
            let mut queued = false;
            while !*this.engine_done {
                match this.engine.as_mut().poll_event(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => *this.engine_done = true,
                    Poll::Ready(Some(Event::Canceled(_) | Event::CanceledMany(_))) => {
                        this.verdict.record_dropped()
                    }
                    Poll::Ready(Some(Event::Done(index, output))) => {
                        match this.verdict.record(index, output.into_outcome()) {
                            Recorded::Value(value) => {
                                this.engine.as_mut().hold(true);
                                this.backlog.push_back((index, value));
                                queued = true;
                            }
                            Recorded::Fault if *this.fail_fast => this.engine.as_mut().cancel(),
                            Recorded::Fault | Recorded::Canceled => {}
                        }
                    }
                }
            }

            if this.engine.yielded() {
                // The engine spent its budget and woke us: give the executor
                // its thread back; the backlog waits for the next poll.
                return Poll::Pending;
            }
            if queued && this.running.is_none() {
                // New values and an idle processor: go round again.
                continue;
            }
            if *this.engine_done && this.running.is_none() && this.backlog.is_empty() {
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
            return Poll::Pending;
        }
    }
}

impl<S, F, Fut, C> FusedFuture for ForEachAsync<S, F, Fut, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
    F: FnMut(usize, OkOf<S>) -> Fut,
    Fut: Future,
    Fut::Output: Processed<ErrOf<S>>,
    C: Signal,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S, F, Fut, C> core::fmt::Debug for ForEachAsync<S, F, Fut, C>
where
    S: Source,
    OutputOf<S>: TaskOutput,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("ForEachAsync").field(&self.engine).finish()
    }
}
