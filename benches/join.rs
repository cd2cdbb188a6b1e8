//! fanout's joins side by side with their peers, in one run, on one executor
//! (`futures::executor::block_on`).
//!
//! Every scenario is one criterion group per size (`s1_ready/1000`, ...), and
//! every implementation of that scenario is one benchmark of the group, so they
//! are measured in the same run under the same machine load. Building the
//! futures is inside the measurement for every implementation alike: each one
//! gets a lazy iterator of futures, except `futures-concurrency`, whose `join`
//! needs a `Vec` (collecting it is part of what that API costs).
//!
//! - `s1_ready/{1000,100000}`: N futures ready on their first poll
//!   (`core::future::ready(Ok::<u64, ()>(i))`). The `floor` row is a plain loop
//!   that polls each future once with a no-op waker and pushes its output into a
//!   pre-sized `Vec`: no combinator can beat it.
//! - `s2_yield_once/{1000,100000}`: N [`YieldOnce`] futures, each waking itself
//!   and returning `Pending` once, then ready (a hand-written future, so every
//!   implementation pays the same per-future cost). The `floor` polls each
//!   future twice in a row.
//! - `s3_random_wakes/10000`: N [`Waiter`]s, each pending until an outside
//!   [`Driver`] (joined with the batch by `futures::future::join`) wakes it. Once
//!   every waker is registered, the driver wakes one waiter per poll in a seeded
//!   random order and yields between wakes, so every wake is its own poll of the
//!   batch: a join that polls every child on each wake is O(N²) here.
//! - `s4_limit64/100000`: N yield-once futures with at most 64 in flight:
//!   fanout's `.limit(64)` against `buffer_unordered` / `buffered` from
//!   `futures` and `buffered_unordered` / `buffered_ordered` from
//!   `futures-buffered`, each collected into a `Vec`.
//!
//! Before measuring, each implementation is run once and its output length
//! checked, so a broken row fails loudly (also under `cargo bench -- --test`).
//! Nothing here asserts a time: benchmarks are reports, not tests.

use core::cell::{Cell, RefCell};
use core::future::{ready, Future};
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use futures::executor::block_on;
use futures::task::noop_waker_ref;
use futures::StreamExt as _;
use futures_buffered::BufferedStreamExt as _;
use futures_concurrency::future::{Join as _, TryJoin as _};
use std::hint::black_box;
use std::time::Duration;

/// The output of every task in s1, s2 and s4: a `Result`, so that `when_all`
/// and the `try_join` peers can take the same futures.
type Out = Result<u64, ()>;

/// Wakes itself and returns `Pending` on its first poll; ready on its second.
struct YieldOnce {
    value: u64,
    yielded: bool,
}

impl YieldOnce {
    fn new(value: u64) -> Self {
        Self {
            value,
            yielded: false,
        }
    }
}

impl Future for YieldOnce {
    type Output = Out;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        if self.yielded {
            Poll::Ready(Ok(self.value))
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// One waiter's place on the [`Board`].
#[derive(Default)]
struct Spot {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Shared by the waiters and the driver of one s3 batch (single-threaded).
struct Board {
    spots: Vec<Spot>,
    registered: Cell<usize>,
}

impl Board {
    fn new(n: usize) -> Self {
        Self {
            spots: (0..n).map(|_| Spot::default()).collect(),
            registered: Cell::new(0),
        }
    }
}

/// Pending until the driver fires its spot; keeps its latest waker there.
struct Waiter<'a> {
    board: &'a Board,
    index: usize,
}

impl Future for Waiter<'_> {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let spot = &self.board.spots[self.index];
        if spot.fired.get() {
            return Poll::Ready(self.index as u64);
        }
        let mut waker = spot.waker.borrow_mut();
        match &mut *waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            Some(old) => *old = cx.waker().clone(),
            None => {
                *waker = Some(cx.waker().clone());
                self.board.registered.set(self.board.registered.get() + 1);
            }
        }
        Poll::Pending
    }
}

/// Waits (yielding) until every waiter has registered its waker, then wakes
/// one waiter per poll in `order`, yielding to the executor between wakes.
struct Driver<'a> {
    board: &'a Board,
    order: &'a [usize],
    next: usize,
}

impl Future for Driver<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.board.registered.get() == self.order.len() {
            let spot = &self.board.spots[self.order[self.next]];
            self.next += 1;
            spot.fired.set(true);
            let waker = spot.waker.borrow_mut().take();
            waker.expect("every waiter registered").wake();
            if self.next == self.order.len() {
                return Poll::Ready(());
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A seeded random permutation of `0..n` (xorshift64 + Fisher–Yates).
fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    order
}

fn configure(c: &mut Criterion, name: String, n: usize) -> BenchmarkGroup<'_, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(n as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    group
}

/// Runs `run` once to check that it yields `n` outputs, then measures it.
fn bench<T>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    n: usize,
    mut run: impl FnMut() -> Vec<T>,
) {
    assert_eq!(run().len(), n, "{id}: wrong number of outputs");
    group.bench_function(id, |b| b.iter(|| black_box(run())));
}

fn s1_ready(c: &mut Criterion) {
    for n in [1_000, 100_000] {
        let mut g = configure(c, format!("s1_ready/{n}"), n);
        let tasks = || (0..n as u64).map(|i| ready(Ok::<u64, ()>(i)));
        bench(&mut g, "floor", n, || {
            let mut cx = Context::from_waker(noop_waker_ref());
            let mut out = Vec::with_capacity(n);
            for mut task in tasks() {
                match Pin::new(&mut task).poll(&mut cx) {
                    Poll::Ready(v) => out.push(v),
                    Poll::Pending => unreachable!(),
                }
            }
            out
        });
        bench(&mut g, "fanout::join_all", n, || {
            block_on(fanout::join_all(tasks()))
        });
        bench(&mut g, "fanout::when_all", n, || {
            block_on(fanout::when_all(tasks())).unwrap()
        });
        bench(&mut g, "futures::join_all", n, || {
            block_on(futures::future::join_all(tasks()))
        });
        bench(&mut g, "futures::try_join_all", n, || {
            block_on(futures::future::try_join_all(tasks())).unwrap()
        });
        bench(&mut g, "futures_buffered::join_all", n, || {
            block_on(futures_buffered::join_all(tasks()))
        });
        bench(&mut g, "futures_buffered::try_join_all", n, || {
            block_on(futures_buffered::try_join_all(tasks())).unwrap()
        });
        bench(&mut g, "futures_concurrency::join", n, || {
            block_on(tasks().collect::<Vec<_>>().join())
        });
        bench(&mut g, "futures_concurrency::try_join", n, || {
            block_on(tasks().collect::<Vec<_>>().try_join()).unwrap()
        });
        g.finish();
    }
}

fn s2_yield_once(c: &mut Criterion) {
    for n in [1_000, 100_000] {
        let mut g = configure(c, format!("s2_yield_once/{n}"), n);
        let tasks = || (0..n as u64).map(YieldOnce::new);
        bench(&mut g, "floor", n, || {
            let mut cx = Context::from_waker(noop_waker_ref());
            let mut out = Vec::with_capacity(n);
            for mut task in tasks() {
                let mut task = Pin::new(&mut task);
                assert!(task.as_mut().poll(&mut cx).is_pending());
                match task.poll(&mut cx) {
                    Poll::Ready(v) => out.push(v),
                    Poll::Pending => unreachable!(),
                }
            }
            out
        });
        bench(&mut g, "fanout::join_all", n, || {
            block_on(fanout::join_all(tasks()))
        });
        bench(&mut g, "fanout::when_all", n, || {
            block_on(fanout::when_all(tasks())).unwrap()
        });
        bench(&mut g, "futures::join_all", n, || {
            block_on(futures::future::join_all(tasks()))
        });
        bench(&mut g, "futures::try_join_all", n, || {
            block_on(futures::future::try_join_all(tasks())).unwrap()
        });
        bench(&mut g, "futures_buffered::join_all", n, || {
            block_on(futures_buffered::join_all(tasks()))
        });
        bench(&mut g, "futures_buffered::try_join_all", n, || {
            block_on(futures_buffered::try_join_all(tasks())).unwrap()
        });
        bench(&mut g, "futures_concurrency::join", n, || {
            block_on(tasks().collect::<Vec<_>>().join())
        });
        bench(&mut g, "futures_concurrency::try_join", n, || {
            block_on(tasks().collect::<Vec<_>>().try_join()).unwrap()
        });
        g.finish();
    }
}

fn s3_random_wakes(c: &mut Criterion) {
    let n = 10_000;
    let order = shuffled(n, 0x9E37_79B9_7F4A_7C15);
    let order = &order[..];
    let mut g = configure(c, format!("s3_random_wakes/{n}"), n);
    // Each run builds a fresh board; the waiters borrow it.
    fn drive(board: &Board, order: &[usize], batch: impl Future<Output = Vec<u64>>) -> Vec<u64> {
        let driver = Driver {
            board,
            order,
            next: 0,
        };
        block_on(futures::future::join(batch, driver)).0
    }
    fn waiters(board: &Board) -> impl Iterator<Item = Waiter<'_>> {
        (0..board.spots.len()).map(move |index| Waiter { board, index })
    }
    bench(&mut g, "fanout::join_all", n, || {
        let board = Board::new(n);
        drive(&board, order, fanout::join_all(waiters(&board)))
    });
    bench(&mut g, "futures::join_all", n, || {
        let board = Board::new(n);
        drive(&board, order, futures::future::join_all(waiters(&board)))
    });
    bench(&mut g, "futures_buffered::join_all", n, || {
        let board = Board::new(n);
        drive(&board, order, futures_buffered::join_all(waiters(&board)))
    });
    bench(&mut g, "futures_concurrency::join", n, || {
        let board = Board::new(n);
        drive(&board, order, waiters(&board).collect::<Vec<_>>().join())
    });
    g.finish();
}

fn s4_limit64(c: &mut Criterion) {
    let n = 100_000;
    let limit = 64;
    let mut g = configure(c, format!("s4_limit{limit}/{n}"), n);
    let tasks = || (0..n as u64).map(YieldOnce::new);
    bench(&mut g, "fanout::join_all", n, || {
        block_on(fanout::join_all(tasks()).limit(limit))
    });
    bench(&mut g, "fanout::when_all", n, || {
        block_on(fanout::when_all(tasks()).limit(limit)).unwrap()
    });
    bench(&mut g, "futures::buffer_unordered", n, || {
        block_on(
            futures::stream::iter(tasks())
                .buffer_unordered(limit)
                .collect::<Vec<_>>(),
        )
    });
    bench(&mut g, "futures::buffered", n, || {
        block_on(
            futures::stream::iter(tasks())
                .buffered(limit)
                .collect::<Vec<_>>(),
        )
    });
    bench(&mut g, "futures_buffered::buffered_unordered", n, || {
        block_on(
            futures::stream::iter(tasks())
                .buffered_unordered(limit)
                .collect::<Vec<_>>(),
        )
    });
    bench(&mut g, "futures_buffered::buffered_ordered", n, || {
        block_on(
            futures::stream::iter(tasks())
                .buffered_ordered(limit)
                .collect::<Vec<_>>(),
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    s1_ready,
    s2_yield_once,
    s3_random_wakes,
    s4_limit64
);
criterion_main!(benches);
