//! S2 join, yield once: N ∈ {100, 10k, 100k, 1M} [`YieldOnce`] futures, each
//! waking itself and returning `Pending` once, then ready. Groups
//! `s2_yield_once/<N>` on `futures::executor::block_on`, and the same rows
//! once more on `smol::block_on` in `s2_yield_once_smol/<N>` (a different
//! executor's wake and park path under the same batch).
//!
//! What it shows: the first poll of a fresh batch plus one wake per task —
//! every task is woken during the first round, so a batch's second round
//! polls them all.
//!
//! Rows: the same as S1 (see [`joins`]); the `floor` polls each future until
//! it is ready, i.e. twice in a row.

use crate::common::{sizes, FuturesExecutor, Scenario, Smol, YieldOnce};
use crate::s1_ready::joins;
use criterion::Criterion;

pub fn run(c: &mut Criterion) {
    let ns = sizes(&[100, 10_000, 100_000, 1_000_000]);
    for &n in &ns {
        let mut s = Scenario::new(c, format!("s2_yield_once/{n}"), n);
        joins::<FuturesExecutor, _, _>(&mut s, n, || (0..n as u64).map(YieldOnce::new));
        s.finish();
    }
    for &n in &ns {
        let mut s = Scenario::new(c, format!("s2_yield_once_smol/{n}"), n);
        joins::<Smol, _, _>(&mut s, n, || (0..n as u64).map(YieldOnce::new));
        s.finish();
    }
}
