//! S9 tuples: 10,000 batches of a tuple of 8 yield-once futures of three
//! types (`Typed<u64>`, `Typed<u32>`, `Typed<u16>`, in that order over and
//! over: three future types with three output types, one error type
//! `Fault`), each batch built, run to the end and dropped, one after another
//! inside one `block_on`. "Per task" in the report divides by all 80,000
//! tasks. Two groups:
//!
//! - `s9_tuples/<batches>x8`: every element completes.
//! - `s9_tuples_faulting/<batches>x8`: every third element (the third and
//!   the sixth) yields once and then faults. The report's **faults kept per
//!   batch** column says how many of the two faults each row's output kept,
//!   as counted over every batch of the check run (which fails unless every
//!   batch kept that many): fanout's `when_all` keeps both, with their
//!   positions; the `try_*` peers keep the first (position 2) and drop the
//!   elements still running.
//!
//! What it shows: the fixed-size face (`(a, b, ..).join_all()`,
//! `.when_all()`, `src/fixed/`) against the macros and tuple joins it stands
//! beside, where the futures differ in type and the size is known when the
//! code is compiled. The aim: within 1.05× of `join!` / `try_join!` (the same
//! poll-everything loop, with fanout's bookkeeping), and at least 1.3× ahead
//! of futures-concurrency's tuple joins (a waker per element) and of
//! `try_join_all` over boxed futures (what a user writes without tuple
//! support).
//!
//! Rows of `s9_tuples`:
//!
//! - `floor`: per batch, polls each element until it is ready into a tuple
//!   (no executor at all).
//! - fanout: `(..).join_all()`, `(..).when_all()`.
//! - futures: `join!`, `try_join!`; `future::try_join_all` over a `Vec` of
//!   the 8 elements each made `Pin<Box<dyn Future<Output = Result<Val,
//!   Fault>>>>` (outputs wrapped in an enum `Val` with `map_ok`, and
//!   unwrapped into the tuple of values again), below 31 tasks its small
//!   path.
//! - futures-concurrency: the tuple's `join()` and `try_join()`.
//!
//! Rows of `s9_tuples_faulting`: `floor` (counts every fault), fanout
//! `(..).when_all()` (keeps both faults), `try_join!`, futures-concurrency's
//! `try_join()` and `try_join_all` over boxed futures (each keeps one).
//!
//! Left out: `bound::join` (one future type, from an iterator), and the
//! iterator joins of S8 (the elements are not one type): `try_join_all`
//! over boxed futures stands in for them.

use crate::common::{noop_context, poll_to_end, size, Fault, FaultsKept, Scenario, Typed};
use core::future::Future;
use core::pin::Pin;
use criterion::Criterion;
use fanout::{Failure, Join as _};
use futures::executor::block_on;
use futures::TryFutureExt as _;
use futures_concurrency::prelude::*;

/// Tasks per batch.
const BATCH: usize = 8;

/// One batch: three future types, over and over.
type Batch = (
    Typed<u64>,
    Typed<u32>,
    Typed<u16>,
    Typed<u64>,
    Typed<u32>,
    Typed<u16>,
    Typed<u64>,
    Typed<u32>,
);

/// A batch's values.
type Values = (u64, u32, u16, u64, u32, u16, u64, u32);

/// A batch's outputs, as `join!` gives them.
type Outputs = (
    Result<u64, Fault>,
    Result<u32, Fault>,
    Result<u16, Fault>,
    Result<u64, Fault>,
    Result<u32, Fault>,
    Result<u16, Fault>,
    Result<u64, Fault>,
    Result<u32, Fault>,
);

/// Batch `b`: element `i` completes with `b * 8 + i` (cut to its type), or,
/// if `faulting` and `i % 3 == 2`, faults with `Fault(i)`.
fn batch(b: usize, faulting: bool) -> Batch {
    let base = (b * BATCH) as u64;
    let faults = |i: u8| faulting && i % 3 == 2;
    (
        Typed::new(base, 0, faults(0)),
        Typed::new(base as u32 + 1, 1, faults(1)),
        Typed::new(base as u16 + 2, 2, faults(2)),
        Typed::new(base + 3, 3, faults(3)),
        Typed::new(base as u32 + 4, 4, faults(4)),
        Typed::new(base as u16 + 5, 5, faults(5)),
        Typed::new(base + 6, 6, faults(6)),
        Typed::new(base as u32 + 7, 7, faults(7)),
    )
}

/// Faults planted in a faulting batch: elements 2 and 5.
const PLANTED: u64 = 2;

/// What every row sums its values into, so that the check sees them all.
fn sum(v: Values) -> u64 {
    v.0 + u64::from(v.1)
        + u64::from(v.2)
        + v.3
        + u64::from(v.4)
        + u64::from(v.5)
        + v.6
        + u64::from(v.7)
}

/// The values of a batch whose every element completed.
fn values(o: Outputs) -> Values {
    (
        o.0.unwrap(),
        o.1.unwrap(),
        o.2.unwrap(),
        o.3.unwrap(),
        o.4.unwrap(),
        o.5.unwrap(),
        o.6.unwrap(),
        o.7.unwrap(),
    )
}

/// How many of a batch's outputs are faults.
fn faults_in(o: Outputs) -> u64 {
    u64::from(o.0.is_err())
        + u64::from(o.1.is_err())
        + u64::from(o.2.is_err())
        + u64::from(o.3.is_err())
        + u64::from(o.4.is_err())
        + u64::from(o.5.is_err())
        + u64::from(o.6.is_err())
        + u64::from(o.7.is_err())
}

/// The floor's batch: each element polled to its end in turn.
fn floor_batch(b: usize, faulting: bool) -> Outputs {
    let mut cx = noop_context();
    let (mut t0, mut t1, mut t2, mut t3, mut t4, mut t5, mut t6, mut t7) = batch(b, faulting);
    (
        poll_to_end(&mut t0, &mut cx),
        poll_to_end(&mut t1, &mut cx),
        poll_to_end(&mut t2, &mut cx),
        poll_to_end(&mut t3, &mut cx),
        poll_to_end(&mut t4, &mut cx),
        poll_to_end(&mut t5, &mut cx),
        poll_to_end(&mut t6, &mut cx),
        poll_to_end(&mut t7, &mut cx),
    )
}

/// What `try_join_all` over boxed futures needs: one output type for all.
enum Val {
    U64(u64),
    U32(u32),
    U16(u16),
}

type Boxed = Pin<Box<dyn Future<Output = Result<Val, Fault>>>>;

/// Batch `b` as a user writes it without tuple support: each element boxed,
/// its output wrapped in [`Val`].
fn boxed(b: usize, faulting: bool) -> Vec<Boxed> {
    let (t0, t1, t2, t3, t4, t5, t6, t7) = batch(b, faulting);
    vec![
        Box::pin(t0.map_ok(Val::U64)) as Boxed,
        Box::pin(t1.map_ok(Val::U32)),
        Box::pin(t2.map_ok(Val::U16)),
        Box::pin(t3.map_ok(Val::U64)),
        Box::pin(t4.map_ok(Val::U32)),
        Box::pin(t5.map_ok(Val::U16)),
        Box::pin(t6.map_ok(Val::U64)),
        Box::pin(t7.map_ok(Val::U32)),
    ]
}

/// The values back out of `try_join_all`'s `Vec<Val>`.
fn unboxed(v: Vec<Val>) -> Values {
    fn u64_of(v: Option<Val>) -> u64 {
        match v {
            Some(Val::U64(x)) => x,
            _ => unreachable!("element of type u64"),
        }
    }
    fn u32_of(v: Option<Val>) -> u32 {
        match v {
            Some(Val::U32(x)) => x,
            _ => unreachable!("element of type u32"),
        }
    }
    fn u16_of(v: Option<Val>) -> u16 {
        match v {
            Some(Val::U16(x)) => x,
            _ => unreachable!("element of type u16"),
        }
    }
    let mut v = v.into_iter();
    (
        u64_of(v.next()),
        u32_of(v.next()),
        u16_of(v.next()),
        u64_of(v.next()),
        u32_of(v.next()),
        u16_of(v.next()),
        u64_of(v.next()),
        u32_of(v.next()),
    )
}

// One function per row (never inlined into criterion's loop), so that a
// profile can attribute instructions to a row by name: `callgrind_annotate
// --inclusive=yes` on `peers::s9_tuples::<row>`.

#[inline(never)]
fn floor(batches: usize) -> u64 {
    let mut total = 0;
    for b in 0..batches {
        total += sum(values(floor_batch(b, false)));
    }
    total
}

/// Runs `one(b)` (an expression that awaits batch `b` and gives a `u64`)
/// for every batch `b` in one `block_on`, summing.
macro_rules! batches {
    ($batches:expr, |$b:ident| $one:expr) => {
        block_on(async {
            let mut total = 0;
            for $b in 0..$batches {
                total += $one;
            }
            total
        })
    };
}

#[inline(never)]
fn fanout_join_all(batches: usize) -> u64 {
    batches!(batches, |b| sum(values(batch(b, false).join_all().await)))
}

#[inline(never)]
fn fanout_when_all(batches: usize) -> u64 {
    batches!(batches, |b| sum(batch(b, false).when_all().await.unwrap()))
}

#[inline(never)]
fn futures_join(batches: usize) -> u64 {
    batches!(batches, |b| {
        let (t0, t1, t2, t3, t4, t5, t6, t7) = batch(b, false);
        sum(values(futures::join!(t0, t1, t2, t3, t4, t5, t6, t7)))
    })
}

#[inline(never)]
fn futures_try_join(batches: usize) -> u64 {
    batches!(batches, |b| {
        let (t0, t1, t2, t3, t4, t5, t6, t7) = batch(b, false);
        sum(futures::try_join!(t0, t1, t2, t3, t4, t5, t6, t7).unwrap())
    })
}

#[inline(never)]
fn futures_concurrency_join(batches: usize) -> u64 {
    batches!(batches, |b| sum(values(batch(b, false).join().await)))
}

#[inline(never)]
fn futures_concurrency_try_join(batches: usize) -> u64 {
    batches!(batches, |b| sum(batch(b, false).try_join().await.unwrap()))
}

#[inline(never)]
fn futures_try_join_all_boxed(batches: usize) -> u64 {
    batches!(batches, |b| sum(unboxed(
        futures::future::try_join_all(boxed(b, false))
            .await
            .unwrap()
    )))
}

// The faulting rows: each returns the faults kept, over every batch.

#[inline(never)]
fn faulting_floor(batches: usize) -> u64 {
    let mut kept = 0;
    for b in 0..batches {
        kept += faults_in(floor_batch(b, true));
    }
    kept
}

#[inline(never)]
fn faulting_fanout_when_all(batches: usize) -> u64 {
    batches!(batches, |b| match batch(b, true).when_all().await {
        Err(Failure::Faulted(faults)) => faults.len() as u64,
        _ => unreachable!("a faulting batch fails with its faults"),
    })
}

#[inline(never)]
fn faulting_futures_try_join(batches: usize) -> u64 {
    batches!(batches, |b| {
        let (t0, t1, t2, t3, t4, t5, t6, t7) = batch(b, true);
        u64::from(futures::try_join!(t0, t1, t2, t3, t4, t5, t6, t7).is_err())
    })
}

#[inline(never)]
fn faulting_futures_concurrency_try_join(batches: usize) -> u64 {
    batches!(batches, |b| u64::from(
        batch(b, true).try_join().await.is_err()
    ))
}

#[inline(never)]
fn faulting_futures_try_join_all_boxed(batches: usize) -> u64 {
    batches!(batches, |b| u64::from(
        futures::future::try_join_all(boxed(b, true)).await.is_err()
    ))
}

/// Which faults one faulting batch keeps, row by row: checked once, outside
/// the measurement (the measured rows only count them).
fn check_faults_kept() {
    block_on(async {
        let Err(Failure::Faulted(faults)) = batch(0, true).when_all().await else {
            panic!("s9: a faulting batch's when_all fails with its faults");
        };
        assert_eq!(faults.into_vec(), [(2, Fault(2)), (5, Fault(5))]);
        let (t0, t1, t2, t3, t4, t5, t6, t7) = batch(0, true);
        let first = futures::try_join!(t0, t1, t2, t3, t4, t5, t6, t7).map(|_| ());
        assert_eq!(first, Err(Fault(2)));
        let first = batch(0, true).try_join().await.map(|_| ());
        assert_eq!(first, Err(Fault(2)));
        let first = futures::future::try_join_all(boxed(0, true))
            .await
            .map(|_| ());
        assert_eq!(first, Err(Fault(2)));
    });
}

pub fn run(c: &mut Criterion) {
    // Test mode caps the task count: 1,000 tasks is 125 batches.
    let batches = size(10_000 * BATCH) / BATCH;
    let total = batches * BATCH;
    let expected: u64 = (0..batches)
        .map(|b| {
            let base = (b * BATCH) as u64;
            sum((
                base,
                base as u32 + 1,
                base as u16 + 2,
                base + 3,
                base as u32 + 4,
                base as u16 + 5,
                base + 6,
                base as u32 + 7,
            ))
        })
        .sum();
    let all = move |sum: &u64| *sum == expected;

    let mut s = Scenario::new(c, format!("s9_tuples/{batches}x{BATCH}"), total);
    s.bench("floor", all, || floor(batches));
    s.bench("fanout::(..).join_all", all, || fanout_join_all(batches));
    s.bench("fanout::(..).when_all", all, || fanout_when_all(batches));
    s.bench("futures::join!", all, || futures_join(batches));
    s.bench("futures::try_join!", all, || futures_try_join(batches));
    s.bench("futures_concurrency::(..).join", all, || {
        futures_concurrency_join(batches)
    });
    s.bench("futures_concurrency::(..).try_join", all, || {
        futures_concurrency_try_join(batches)
    });
    s.bench("futures::try_join_all(boxed dyn)", all, || {
        futures_try_join_all_boxed(batches)
    });
    s.finish();

    check_faults_kept();
    let every = FaultsKept {
        kept: PLANTED,
        planted: PLANTED,
    };
    let first = FaultsKept {
        kept: 1,
        planted: PLANTED,
    };
    let mut s = Scenario::new(c, format!("s9_tuples_faulting/{batches}x{BATCH}"), total);
    s.bench_faults("floor", batches, every, || faulting_floor(batches));
    s.bench_faults("fanout::(..).when_all", batches, every, || {
        faulting_fanout_when_all(batches)
    });
    s.bench_faults("futures::try_join!", batches, first, || {
        faulting_futures_try_join(batches)
    });
    s.bench_faults("futures_concurrency::(..).try_join", batches, first, || {
        faulting_futures_concurrency_try_join(batches)
    });
    s.bench_faults("futures::try_join_all(boxed dyn)", batches, first, || {
        faulting_futures_try_join_all_boxed(batches)
    });
    s.finish();
}
