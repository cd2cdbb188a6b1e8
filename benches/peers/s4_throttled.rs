//! S4 throttled: 100k yield-once futures through a limit of 64, collected (or
//! processed) as they complete. Group `s4_limit64/<N>`.
//!
//! What it shows: the steady state of a throttled batch — a finished task's
//! place refilled from a lazily pulled source, 100k times.
//!
//! Rows; every implementation pulls the same lazy iterator (or a
//! `stream::iter` over it) and ends with every output in a `Vec`:
//!
//! - `floor`: polls each future until it is ready, one after another (a
//!   limit of 1 at no cost: the same work without any bookkeeping).
//! - fanout: `join_all(..).limit(64)`, `when_all(..).limit(64)`, and
//!   `for_each(.., push).limit(64)` (the processor runs as each completes).
//! - futures: `buffer_unordered(64)`, `buffered(64)` (ordered), and
//!   `for_each_concurrent(64, ..)` whose body awaits the task and pushes.
//! - futures-buffered: `buffered_unordered(64)`, `buffered_ordered(64)`.
//! - futures-concurrency: `stream.co().limit(64)` mapped to the task and
//!   collected.
//!
//! Left out: the unbounded sets (`FuturesUnordered` & co.), which would need
//! a hand-written refill loop to honour a limit — that loop is what these
//! adapters are.

use crate::common::{len_is, noop_context, poll_to_end, size, Scenario, YieldOnce};
use core::cell::RefCell;
use core::num::NonZeroUsize;
use criterion::Criterion;
use futures::executor::block_on;
use futures::StreamExt as _;
use futures_buffered::BufferedStreamExt as _;
use futures_concurrency::concurrent_stream::ConcurrentStream as _;
use futures_concurrency::stream::StreamExt as _;

pub fn run(c: &mut Criterion) {
    let n = size(100_000);
    let limit = 64;
    let mut s = Scenario::new(c, format!("s4_limit{limit}/{n}"), n);
    let tasks = || (0..n as u64).map(YieldOnce::new);
    s.bench("floor", len_is(n), || {
        let mut cx = noop_context();
        let mut out = Vec::with_capacity(n);
        for mut task in tasks() {
            out.push(poll_to_end(&mut task, &mut cx));
        }
        out
    });
    s.bench("fanout::join_all.limit", len_is(n), || {
        block_on(fanout::join_all(tasks()).limit(limit))
    });
    s.bench("fanout::when_all.limit", len_is(n), || {
        block_on(fanout::when_all(tasks()).limit(limit)).unwrap()
    });
    s.bench("fanout::for_each.limit", len_is(n), || {
        let mut out = Vec::with_capacity(n);
        block_on(fanout::for_each(tasks(), |_, v| out.push(v)).limit(limit)).unwrap();
        out
    });
    s.bench("futures::buffer_unordered", len_is(n), || {
        block_on(
            futures::stream::iter(tasks())
                .buffer_unordered(limit)
                .collect::<Vec<_>>(),
        )
    });
    s.bench("futures::buffered", len_is(n), || {
        block_on(
            futures::stream::iter(tasks())
                .buffered(limit)
                .collect::<Vec<_>>(),
        )
    });
    s.bench("futures::for_each_concurrent", len_is(n), || {
        let out = RefCell::new(Vec::with_capacity(n));
        // Spelled out: futures-buffered's extension trait has a method of
        // the same name.
        block_on(futures::StreamExt::for_each_concurrent(
            futures::stream::iter(tasks()),
            limit,
            |task| {
                let out = &out;
                async move {
                    let value = task.await;
                    out.borrow_mut().push(value);
                }
            },
        ));
        out.into_inner()
    });
    s.bench("futures_buffered::buffered_unordered", len_is(n), || {
        block_on(
            futures::stream::iter(tasks())
                .buffered_unordered(limit)
                .collect::<Vec<_>>(),
        )
    });
    s.bench("futures_buffered::buffered_ordered", len_is(n), || {
        block_on(
            futures::stream::iter(tasks())
                .buffered_ordered(limit)
                .collect::<Vec<_>>(),
        )
    });
    s.bench("futures_concurrency::co.limit", len_is(n), || {
        block_on(
            futures::stream::iter(tasks())
                .co()
                .limit(NonZeroUsize::new(limit))
                .map(|task| task)
                .collect::<Vec<_>>(),
        )
    });
    s.finish();
}
