//! S8 many small batches: 10,000 batches of 8 yield-once futures, each batch
//! built, run to the end and dropped, one after another inside one
//! `block_on`. Group `s8_small_batches/<batches>x8`; "per task" in the report
//! divides by all 80,000 tasks.
//!
//! What it shows: the fixed cost of a batch — the set-up and tear-down that
//! users of short-lived sets complain about — which the big scenarios
//! amortize away.
//!
//! Rows (the same joins as S1/S2, each over a lazy iterator of 8 futures):
//!
//! - `floor`: per batch, polls each future until it is ready into a `Vec`
//!   of capacity 8 (no executor at all).
//! - `bound::join` (`bound.rs`): a lean join, about the least work one can do
//!   that polls only woken tasks, as fanout's contract asks, with a waker per
//!   task; not a peer — it shows roughly how far ahead of the peers such a
//!   design can get here. (The small paths of futures' joins poll every child on each
//!   wake, which costs nothing extra when, as here, every child woke.)
//! - fanout: `join_all`, `when_all`.
//! - futures: `future::join_all`, `future::try_join_all` (below 31 tasks both
//!   take their small path: poll every child on every wake),
//!   `FuturesOrdered`, `FuturesUnordered`.
//! - futures-buffered: `join_all`, `try_join_all`, `FuturesUnorderedBounded`.
//! - futures-concurrency: `Vec` `join` and `try_join`.
//!
//! Left out: fixed-size joins (`[F; 8].join()`, tuples), which need the size
//! at compile time and build no set at run time — a different job from a set
//! built from an iterator.

use crate::common::{noop_context, poll_to_end, size, Scenario, YieldOnce};
use criterion::Criterion;
use futures::executor::block_on;
use futures::StreamExt as _;
use futures_concurrency::future::{Join as _, TryJoin as _};

/// Tasks per batch.
const BATCH: usize = 8;

pub fn run(c: &mut Criterion) {
    // Test mode caps the task count: 1,000 tasks is 125 batches.
    let batches = size(10_000 * BATCH) / BATCH;
    let total = batches * BATCH;
    let mut s = Scenario::new(c, format!("s8_small_batches/{batches}x{BATCH}"), total);
    let batch = |b: usize| (0..BATCH as u64).map(move |i| YieldOnce::new((b * BATCH) as u64 + i));
    let all = move |outputs: &usize| *outputs == total;
    s.bench("floor", all, || {
        let mut cx = noop_context();
        let mut outputs = 0;
        for b in 0..batches {
            let mut out = Vec::with_capacity(BATCH);
            for mut task in batch(b) {
                out.push(poll_to_end(&mut task, &mut cx));
            }
            outputs += std::hint::black_box(out).len();
        }
        outputs
    });
    // Runs `one(b)` for every batch `b` in one `block_on`, summing the
    // output lengths.
    macro_rules! batches {
        (|$b:ident| $one:expr) => {
            || {
                block_on(async {
                    let mut outputs = 0;
                    for $b in 0..batches {
                        outputs += $one.len();
                    }
                    outputs
                })
            }
        };
    }
    s.bench(
        "bound::join",
        all,
        batches!(|b| crate::bound::join(batch(b)).await),
    );
    s.bench(
        "fanout::join_all",
        all,
        batches!(|b| fanout::join_all(batch(b)).await),
    );
    s.bench(
        "fanout::when_all",
        all,
        batches!(|b| fanout::when_all(batch(b)).await.unwrap()),
    );
    s.bench(
        "futures::join_all",
        all,
        batches!(|b| futures::future::join_all(batch(b)).await),
    );
    s.bench(
        "futures::try_join_all",
        all,
        batches!(|b| futures::future::try_join_all(batch(b)).await.unwrap()),
    );
    s.bench(
        "futures::FuturesOrdered",
        all,
        batches!(|b| batch(b)
            .collect::<futures::stream::FuturesOrdered<_>>()
            .collect::<Vec<_>>()
            .await),
    );
    s.bench(
        "futures::FuturesUnordered",
        all,
        batches!(|b| batch(b)
            .collect::<futures::stream::FuturesUnordered<_>>()
            .collect::<Vec<_>>()
            .await),
    );
    s.bench(
        "futures_buffered::join_all",
        all,
        batches!(|b| futures_buffered::join_all(batch(b)).await),
    );
    s.bench(
        "futures_buffered::try_join_all",
        all,
        batches!(|b| futures_buffered::try_join_all(batch(b)).await.unwrap()),
    );
    s.bench(
        "futures_buffered::FuturesUnorderedBounded",
        all,
        batches!(|b| batch(b)
            .collect::<futures_buffered::FuturesUnorderedBounded<_>>()
            .collect::<Vec<_>>()
            .await),
    );
    s.bench(
        "futures_concurrency::join",
        all,
        batches!(|b| batch(b).collect::<Vec<_>>().join().await),
    );
    s.bench(
        "futures_concurrency::try_join",
        all,
        batches!(|b| batch(b).collect::<Vec<_>>().try_join().await.unwrap()),
    );
    s.finish();
}
