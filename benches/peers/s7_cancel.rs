//! S7 cancel: 100k `Started` futures (pending forever, each keeping its
//! waker) in one batch, canceled by a signal that fires once every one of
//! them has been polled once. Group `s7_cancel/<N>`.
//!
//! What it shows: the cost of starting a big batch and tearing it down —
//! resolving on the signal and dropping every task (and the waker each one
//! keeps).
//!
//! Why the signal waits for every task to start: a combinator that starts its
//! tasks over several polls of the batch (futures-buffered polls at most 61
//! per poll, `FuturesUnordered` yields too) would otherwise be canceled with
//! nearly all of its tasks never polled, and its row would measure dropping
//! unstarted futures, not canceling pending ones. Every row checks that all N
//! tasks had started when the batch was canceled.
//!
//! Rows; each resolves to "canceled" and drops the batch inside the
//! measurement:
//!
//! - `floor`: collects the futures, polls each once with a no-op waker, and
//!   drops them all.
//! - fanout: `when_all(..).cancel_on(signal)` where the signal is a future
//!   that is ready once every task has started (`AllStarted`), and the same
//!   canceled through a `cancel::CancelSource`:
//!   `.cancel_on(source.token().canceled())`, joined with an `AllStarted`
//!   that calls `source.cancel()`.
//! - futures: `future::select(join_all(..), signal)`, and `Abortable` around
//!   `join_all(..)`, aborted by an `AllStarted` joined with it.
//! - futures-buffered: `select(join_all(..), signal)` (no signal of its own).
//! - futures-concurrency: `(join, signal).race()` over the `Vec` `join`.
//!
//! The peers have no cancellation of their own but dropping, so the signal
//! is raced with the join; that race is what their users write.

use crate::common::{is_true, noop_context, size, AllStarted, Scenario, Started};
use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use criterion::Criterion;
use futures::executor::block_on;
use futures::future::{select, Either};
use futures::FutureExt as _;
use futures_concurrency::future::{Join as _, Race as _};

pub fn run(c: &mut Criterion) {
    let n = size(100_000);
    let mut s = Scenario::new(c, format!("s7_cancel/{n}"), n);
    s.bench("floor", is_true, || {
        let mut cx = noop_context();
        let started = Cell::new(0);
        let mut tasks: Vec<_> = batch(&started, n).collect();
        for task in &mut tasks {
            assert!(Pin::new(task).poll(&mut cx).is_pending());
        }
        drop(tasks);
        started.get() == n
    });
    s.bench("fanout::when_all.cancel_on", is_true, || {
        let started = Cell::new(0);
        let out =
            block_on(fanout::when_all(batch(&started, n)).cancel_on(all_started(&started, n)));
        started.get() == n && matches!(out, Err(fanout::Failure::Canceled))
    });
    s.bench("fanout::when_all.cancel_on(CancelSource)", is_true, || {
        let started = Cell::new(0);
        let source = fanout::cancel::CancelSource::new();
        let batch = fanout::when_all(batch(&started, n)).cancel_on(source.token().canceled());
        let cancel = AllStarted::new(&started, n, || source.cancel());
        let (out, ()) = block_on(futures::future::join(batch, cancel));
        started.get() == n && matches!(out, Err(fanout::Failure::Canceled))
    });
    s.bench("futures::join_all+select", is_true, || {
        let started = Cell::new(0);
        let batch = futures::future::join_all(batch(&started, n));
        let out = block_on(select(batch, all_started(&started, n)));
        started.get() == n && matches!(out, Either::Right(_))
    });
    s.bench("futures::join_all+Abortable", is_true, || {
        let started = Cell::new(0);
        let (handle, registration) = futures::future::AbortHandle::new_pair();
        let batch = futures::future::Abortable::new(
            futures::future::join_all(batch(&started, n)),
            registration,
        );
        let abort = AllStarted::new(&started, n, || handle.abort());
        let (out, ()) = block_on(futures::future::join(batch, abort));
        started.get() == n && out.is_err()
    });
    s.bench("futures_buffered::join_all+select", is_true, || {
        let started = Cell::new(0);
        let batch = futures_buffered::join_all(batch(&started, n));
        let out = block_on(select(batch, all_started(&started, n)));
        started.get() == n && matches!(out, Either::Right(_))
    });
    s.bench("futures_concurrency::join+race", is_true, || {
        let started = Cell::new(0);
        let batch = batch(&started, n).collect::<Vec<_>>().join().map(Some);
        let out = block_on((batch, all_started(&started, n).map(|()| None)).race());
        started.get() == n && out.is_none()
    });
    s.finish();
}

/// The batch: `n` tasks that count themselves into `started` when first polled.
fn batch(started: &Cell<usize>, n: usize) -> impl Iterator<Item = Started<'_>> {
    (0..n).map(move |_| Started::new(started))
}

/// The cancellation signal: ready once all `n` tasks have started.
fn all_started(started: &Cell<usize>, n: usize) -> AllStarted<'_, fn()> {
    AllStarted::new(started, n, || ())
}
