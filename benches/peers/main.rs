//! fanout side by side with its peers, in one run, on one executor
//! (`futures::executor::block_on`; S2 once more on `smol::block_on`).
//!
//! One bench target, one scenario per file:
//!
//! | file | groups | scenario |
//! | --- | --- | --- |
//! | `s1_ready.rs` | `s1_ready/<N>` | join N ∈ {100, 10k, 100k, 1M} futures ready on their first poll |
//! | `s2_yield_once.rs` | `s2_yield_once/<N>`, `s2_yield_once_smol/<N>` | join N futures that each wake themselves and return `Pending` once |
//! | `s3_driven_wakes.rs` | `s3_reverse_wakes/<N>`, `s3_random_wakes/<N>` | N ∈ {10k, 100k} futures woken one per poll by an outside driver, in reverse and in seeded random order; at 10k also as one array `[F; N]` (`fanout::[F; N].join_all`, which the engine runs) |
//! | `s4_throttled.rs` | `s4_limit64/100000` | 100k yield-once futures through a limit of 64 |
//! | `s5_race.rs` | `s5_race/10000` | a race of 10k futures that the last one wins |
//! | `s6_fail_fast.rs` | `s6_fail_fast/100000` | 100k futures, the 10th faults: time to resolve, tasks polled |
//! | `s7_cancel.rs` | `s7_cancel/100000` | 100k pending futures canceled by a signal: time to resolve and drop |
//! | `s8_small_batches.rs` | `s8_small_batches/10000x8` | 10,000 batches of 8 yield-once futures, each built, run and dropped |
//! | `s9_tuples.rs` | `s9_tuples/10000x8`, `s9_tuples_faulting/10000x8` | 10,000 batches of a tuple of 8 yield-once futures of 3 types, each built, run and dropped: fanout's `(..).join_all()` / `.when_all()` against `join!`, `try_join!`, futures-concurrency's tuple joins and `try_join_all` over boxed futures; then every third element faults, and the report counts the faults each row kept |
//!
//! Every scenario at one size is one criterion group, and every
//! implementation of it — fanout's, each peer's, a `floor` row that no
//! combinator can beat, and in S3 and S8 a `bound` row (`bound.rs`: about the
//! least any join can do that polls only woken tasks) — is one benchmark of
//! that group, so they are measured in the same run under the same machine
//! load. Each module's doc says which peers apply and why the others do
//! not.
//!
//! The bench compiles in one codegen unit (`[profile.bench.package.fanout]`
//! in `Cargo.toml`): every row's combinator is monomorphized here, next to
//! the tasks it polls, and with the default sixteen units whether a task's
//! `poll` could be inlined into it depended on which units the compiler put
//! the two in — an unrelated edit moved rows by up to 3×.
//!
//! Before a row is measured it is run once with allocation counting on (the
//! global allocator below) and its output checked, so a broken row fails
//! loudly, under `cargo bench -- --test` too; the count goes to the report.
//!
//! - `cargo bench --bench peers [-- <filter>]` measures (a filter is a regex
//!   over `group/id`, e.g. `s3_` or `s5_race`).
//! - `cargo bench --bench peers -- --test` runs every row once at a size of
//!   at most 1,000 tasks: `ci/test`'s bench-smoke stage.
//! - `ci/bench` measures with glibc's malloc tuned and regenerates
//!   `benches/RESULTS.md`: with `FANOUT_BENCH_REPORT=<path>` set, this binary
//!   writes that Markdown report (see `report.rs`) after every group ran.
//!
//! Nothing here asserts a time: benchmarks are reports, not tests.

mod bound;
mod common;
mod report;
mod s1_ready;
mod s2_yield_once;
mod s3_driven_wakes;
mod s4_throttled;
mod s5_race;
mod s6_fail_fast;
mod s7_cancel;
mod s8_small_batches;
mod s9_tuples;

use common::Exec as _;
use criterion::Criterion;

#[global_allocator]
static ALLOCATOR: common::CountingAlloc = common::CountingAlloc;

fn main() {
    let mut c = Criterion::default()
        .output_directory(&report::criterion_dir())
        .without_plots()
        .configure_from_args();
    // Each executor keeps a thread-local that it allocates on its first
    // `block_on` in the process (futures': an `Arc` of 32 bytes). Made here,
    // it is not counted against whichever row happens to run first (which a
    // filter decides).
    common::FuturesExecutor::block_on(async {});
    common::Smol::block_on(async {});
    s1_ready::run(&mut c);
    s2_yield_once::run(&mut c);
    s3_driven_wakes::run(&mut c);
    s4_throttled::run(&mut c);
    s5_race::run(&mut c);
    s6_fail_fast::run(&mut c);
    s7_cancel::run(&mut c);
    s8_small_batches::run(&mut c);
    s9_tuples::run(&mut c);
    c.final_summary();

    if common::test_mode() {
        // Sizes are capped in test mode, so sizes that cap to the same value
        // run once: a measured run has more rows (see ci/bench's header).
        eprintln!(
            "peers: {} benchmarks ran once, at most 1,000 tasks each",
            common::records().len()
        );
    }
    report::write_if_asked();
}
