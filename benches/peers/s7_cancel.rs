//! S7 cancel: 100k `Parked` futures (pending forever, each keeping its waker)
//! in one batch, canceled by a signal that fires right after the batch's
//! first poll. Group `s7_cancel/<N>`.
//!
//! What it shows: the cost of starting a big batch and tearing it down —
//! resolving on the signal and dropping every task (and the waker each one
//! keeps).
//!
//! Rows; each resolves to "canceled" and drops the batch inside the
//! measurement:
//!
//! - `floor`: collects the futures, polls each once with a no-op waker, and
//!   drops them all.
//! - fanout: `when_all(..).cancel_on(signal)` where the signal is a future
//!   ready on its second poll (`Later`), and the same canceled through a
//!   `cancel::CancelSource`: `.cancel_on(source.token().canceled())`, joined
//!   with a `Later` that calls `source.cancel()`.
//! - futures: `future::select(join_all(..), signal)`, and `Abortable` around
//!   `join_all(..)`, aborted by a `Later` joined with it.
//! - futures-buffered: `select(join_all(..), signal)` (no signal of its own).
//! - futures-concurrency: `(join, signal).race()` over the `Vec` `join`.
//!
//! The peers have no cancellation of their own but dropping, so the signal
//! is raced with the join; that race is what their users write.

use crate::common::{is_true, noop_context, size, Later, Parked, Scenario};
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
    let tasks = || (0..n).map(|_| Parked::default());
    let signal = || Later::new(|| ());
    s.bench("floor", is_true, || {
        let mut cx = noop_context();
        let mut tasks: Vec<_> = tasks().collect();
        for task in &mut tasks {
            assert!(Pin::new(task).poll(&mut cx).is_pending());
        }
        drop(tasks);
        true
    });
    s.bench("fanout::when_all.cancel_on", is_true, || {
        matches!(
            block_on(fanout::when_all(tasks()).cancel_on(signal())),
            Err(fanout::Failure::Canceled)
        )
    });
    s.bench("fanout::when_all.cancel_on(CancelSource)", is_true, || {
        let source = fanout::cancel::CancelSource::new();
        let batch = fanout::when_all(tasks()).cancel_on(source.token().canceled());
        let (out, ()) = block_on(futures::future::join(batch, Later::new(|| source.cancel())));
        matches!(out, Err(fanout::Failure::Canceled))
    });
    s.bench("futures::join_all+select", is_true, || {
        let batch = futures::future::join_all(tasks());
        matches!(block_on(select(batch, signal())), Either::Right(_))
    });
    s.bench("futures::join_all+Abortable", is_true, || {
        let (handle, registration) = futures::future::AbortHandle::new_pair();
        let batch =
            futures::future::Abortable::new(futures::future::join_all(tasks()), registration);
        let (out, ()) = block_on(futures::future::join(batch, Later::new(|| handle.abort())));
        out.is_err()
    });
    s.bench("futures_buffered::join_all+select", is_true, || {
        let batch = futures_buffered::join_all(tasks());
        matches!(block_on(select(batch, signal())), Either::Right(_))
    });
    s.bench("futures_concurrency::join+race", is_true, || {
        let batch = tasks().collect::<Vec<_>>().join().map(Some);
        block_on((batch, signal().map(|()| None)).race()).is_none()
    });
    s.finish();
}
