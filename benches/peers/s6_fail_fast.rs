//! S6 fail-fast: 100k `Counted` tasks; task 9 (the 10th) returns `Err` on its
//! first poll, every other one yields once and then returns `Ok`. Group
//! `s6_fail_fast/<N>`.
//!
//! What it shows: how soon a batch that stops at the first fault resolves,
//! and — in the report's "tasks polled" column, counted by the check run —
//! how many tasks it started before it saw the fault (every task polled is
//! work done for nothing, and side effects started). Resolving includes
//! dropping everything in flight.
//!
//! Rows:
//!
//! - `floor`: pulls tasks one by one from the lazy iterator, polls each once
//!   with a no-op waker and keeps it, and stops at the first `Err`, dropping
//!   the ten it started.
//! - fanout: `when_all(..).fail_fast()` (`when_all` runs to completion by
//!   default, like `Task.WhenAll`).
//! - futures: `future::try_join_all`, and `FuturesUnordered` →
//!   `try_collect` (stops at the first `Err` it yields).
//! - futures-buffered: `try_join_all`.
//! - futures-concurrency: `Vec` `try_join`.
//!
//! Left out: `join_all` and the other plain joins (they do not stop at a
//! fault), `select_ok` / `race_ok` (they stop at the first success).

use crate::common::{noop_context, size, Counted, Scenario};
use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;
use criterion::Criterion;
use futures::executor::block_on;
use futures::TryStreamExt as _;
use futures_concurrency::future::TryJoin as _;

/// The index of the task that faults.
const FAULTY: u64 = 9;

pub fn run(c: &mut Criterion) {
    let n = size(100_000);
    let mut s = Scenario::new(c, format!("s6_fail_fast/{n}"), n);
    let polled = Cell::new(0);
    let polled = &polled;
    let tasks = || (0..n as u64).map(|i| Counted::new(i, FAULTY, polled));
    let faulted = |faulted: &bool| *faulted;
    s.bench_polled("floor", polled, faulted, || {
        let mut cx = noop_context();
        let mut in_flight = Vec::new();
        for mut task in tasks() {
            match Pin::new(&mut task).poll(&mut cx) {
                Poll::Ready(Err(())) => return true,
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => in_flight.push(task),
            }
        }
        false
    });
    s.bench_polled("fanout::when_all.fail_fast", polled, faulted, || {
        matches!(
            block_on(fanout::when_all(tasks()).fail_fast()),
            Err(fanout::Failure::Faulted(_))
        )
    });
    s.bench_polled("futures::try_join_all", polled, faulted, || {
        block_on(futures::future::try_join_all(tasks())).is_err()
    });
    s.bench_polled("futures::FuturesUnordered", polled, faulted, || {
        let set: futures::stream::FuturesUnordered<_> = tasks().collect();
        block_on(set.try_collect::<Vec<_>>()).is_err()
    });
    s.bench_polled("futures_buffered::try_join_all", polled, faulted, || {
        block_on(futures_buffered::try_join_all(tasks())).is_err()
    });
    s.bench_polled("futures_concurrency::try_join", polled, faulted, || {
        block_on(tasks().collect::<Vec<_>>().try_join()).is_err()
    });
    s.finish();
}
