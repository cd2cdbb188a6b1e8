//! S5 race: 10k `Racer`s where the last one wins. Every runner but the last
//! is pending forever (it keeps its waker, like a leaf waiting on I/O); the
//! last yields once and then completes with `Ok`. Group `s5_race/<N>`.
//!
//! What it shows: setting a race up, polling everyone once, then handling
//! the one wake that decides it — and dropping the losers. A race that polls
//! every runner on each wake pays N polls for that one wake.
//!
//! Rows; each resolves to the winner, and the losers (or the "rest" a race
//! hands back) are dropped inside the measurement:
//!
//! - `floor`: polls every runner once with a no-op waker, then polls the last
//!   again (knowing who was woken), then drops them all.
//! - fanout: `when_any` (the winner plus the rest, still drivable, dropped
//!   here) and `first_ok` (the first `Ok`; drops the losers itself).
//! - futures: `future::select_all` (the winner plus the rest as a `Vec`),
//!   `future::select_ok`, and `FuturesUnordered` → `.next()`.
//! - futures-buffered: `FuturesUnorderedBounded` → `.next()` (it has no race
//!   of its own).
//! - futures-concurrency: `Vec` `race` and `race_ok`, `FutureGroup` →
//!   `.next()`.

use crate::common::{noop_context, size, Racer, Scenario};
use core::future::Future;
use core::pin::Pin;
use criterion::Criterion;
use futures::executor::block_on;
use futures::StreamExt as _;
use futures_concurrency::future::{Race as _, RaceOk as _};

pub fn run(c: &mut Criterion) {
    let n = size(10_000);
    let last = n as u64 - 1;
    let mut s = Scenario::new(c, format!("s5_race/{n}"), n);
    let runners = || (0..n as u64).map(|i| Racer::new(i, i == last));
    let won = |winner: &u64| *winner == last;
    s.bench("floor", won, || {
        let mut cx = noop_context();
        let mut runners: Vec<_> = runners().collect();
        for runner in &mut runners {
            assert!(Pin::new(runner).poll(&mut cx).is_pending());
        }
        match Pin::new(&mut runners[n - 1]).poll(&mut cx) {
            core::task::Poll::Ready(out) => out.unwrap(),
            core::task::Poll::Pending => unreachable!("the winner is ready on its second poll"),
        }
    });
    s.bench("fanout::when_any", won, || {
        let (_, out, _rest) = block_on(fanout::when_any(runners())).unwrap();
        out.unwrap()
    });
    s.bench("fanout::first_ok", won, || {
        block_on(fanout::first_ok(runners())).unwrap().1
    });
    s.bench("futures::select_all", won, || {
        let (out, _, _rest) = block_on(futures::future::select_all(runners()));
        out.unwrap()
    });
    s.bench("futures::select_ok", won, || {
        block_on(futures::future::select_ok(runners())).unwrap().0
    });
    s.bench("futures::FuturesUnordered", won, || {
        let mut set: futures::stream::FuturesUnordered<_> = runners().collect();
        block_on(set.next()).unwrap().unwrap()
    });
    s.bench("futures_buffered::FuturesUnorderedBounded", won, || {
        let mut set: futures_buffered::FuturesUnorderedBounded<_> = runners().collect();
        block_on(set.next()).unwrap().unwrap()
    });
    s.bench("futures_concurrency::race", won, || {
        block_on(runners().collect::<Vec<_>>().race()).unwrap()
    });
    s.bench("futures_concurrency::race_ok", won, || {
        // (Its error type is `Debug` only for `E: Display`: no `unwrap`.)
        block_on(runners().collect::<Vec<_>>().race_ok())
            .ok()
            .expect("the last runner wins")
    });
    s.bench("futures_concurrency::FutureGroup", won, || {
        let mut set: futures_concurrency::future::FutureGroup<_> = runners().collect();
        block_on(set.next()).unwrap().unwrap()
    });
    s.finish();
}
