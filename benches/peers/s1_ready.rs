//! S1 join, all ready: N ∈ {100, 10k, 100k, 1M} futures
//! (`core::future::ready(Ok::<u64, ()>(i))`), each ready on its first poll.
//! Groups `s1_ready/<N>`.
//!
//! What it shows: the cost of setting a batch up, polling each task once and
//! collecting the outputs — the first poll of a fresh batch.
//!
//! Rows (shared with S2, see [`joins`]); every implementation gets the same
//! lazy iterator of futures, and building them is inside the measurement:
//!
//! - `floor`: a loop that polls each future with a no-op waker until it is
//!   ready and pushes its output into a pre-sized `Vec`. No combinator can
//!   beat it.
//! - fanout: `join_all`, `when_all` (the `Result` aggregate).
//! - futures: `future::join_all`, `future::try_join_all` (both switch to
//!   `FuturesOrdered` above 30 tasks), `FuturesOrdered` and `FuturesUnordered`
//!   collected into a `Vec`.
//! - futures-buffered: `join_all`, `try_join_all`, `FuturesUnorderedBounded`
//!   collected into a `Vec`.
//! - futures-concurrency: `Vec` `join` and `try_join` (they need a `Vec`:
//!   collecting it is part of what that API costs), `FutureGroup` collected.
//!
//! The unordered collectors (`FuturesUnordered`, `FuturesUnorderedBounded`,
//! `FutureGroup`) hand the outputs back in completion order, not input order:
//! they do a little less than a join, which only favours them. Left out:
//! fixed-size joins (arrays, tuples: the size must be known at compile time)
//! and the `select`/`race` family (they keep one output).

use crate::common::{
    len_is, noop_context, poll_to_end, sizes, Exec, FuturesExecutor, Out, Scenario,
};
use core::future::{ready, Future};
use criterion::Criterion;
use futures::StreamExt as _;
use futures_concurrency::future::{Join as _, TryJoin as _};

pub fn run(c: &mut Criterion) {
    for n in sizes(&[100, 10_000, 100_000, 1_000_000]) {
        let mut s = Scenario::new(c, format!("s1_ready/{n}"), n);
        joins::<FuturesExecutor, _, _>(&mut s, n, || (0..n as u64).map(|i| ready(Ok(i))));
        s.finish();
    }
}

/// Every join of `n` tasks built by `tasks`, run on `E`: the rows of S1 and S2.
pub fn joins<E, F, I>(s: &mut Scenario<'_>, n: usize, tasks: impl Fn() -> I)
where
    E: Exec,
    F: Future<Output = Out> + Unpin,
    I: Iterator<Item = F>,
{
    s.bench("floor", len_is(n), || {
        let mut cx = noop_context();
        let mut out = Vec::with_capacity(n);
        for mut task in tasks() {
            out.push(poll_to_end(&mut task, &mut cx));
        }
        out
    });
    s.bench("fanout::join_all", len_is(n), || {
        E::block_on(fanout::join_all(tasks()))
    });
    s.bench("fanout::when_all", len_is(n), || {
        E::block_on(fanout::when_all(tasks())).unwrap()
    });
    s.bench("futures::join_all", len_is(n), || {
        E::block_on(futures::future::join_all(tasks()))
    });
    s.bench("futures::try_join_all", len_is(n), || {
        E::block_on(futures::future::try_join_all(tasks())).unwrap()
    });
    s.bench("futures::FuturesOrdered", len_is(n), || {
        E::block_on(
            tasks()
                .collect::<futures::stream::FuturesOrdered<_>>()
                .collect::<Vec<_>>(),
        )
    });
    s.bench("futures::FuturesUnordered", len_is(n), || {
        E::block_on(
            tasks()
                .collect::<futures::stream::FuturesUnordered<_>>()
                .collect::<Vec<_>>(),
        )
    });
    s.bench("futures_buffered::join_all", len_is(n), || {
        E::block_on(futures_buffered::join_all(tasks()))
    });
    s.bench("futures_buffered::try_join_all", len_is(n), || {
        E::block_on(futures_buffered::try_join_all(tasks())).unwrap()
    });
    s.bench(
        "futures_buffered::FuturesUnorderedBounded",
        len_is(n),
        || {
            E::block_on(
                tasks()
                    .collect::<futures_buffered::FuturesUnorderedBounded<_>>()
                    .collect::<Vec<_>>(),
            )
        },
    );
    s.bench("futures_concurrency::join", len_is(n), || {
        E::block_on(tasks().collect::<Vec<_>>().join())
    });
    s.bench("futures_concurrency::try_join", len_is(n), || {
        E::block_on(tasks().collect::<Vec<_>>().try_join()).unwrap()
    });
    s.bench("futures_concurrency::FutureGroup", len_is(n), || {
        E::block_on(
            tasks()
                .collect::<futures_concurrency::future::FutureGroup<_>>()
                .collect::<Vec<_>>(),
        )
    });
}
