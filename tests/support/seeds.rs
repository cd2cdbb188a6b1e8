//! Runs one case under many seeded schedules of the deterministic executor.
//!
//! - `FANOUT_SEEDS=<n>`: how many seeds per case (default [`DEFAULT_SEEDS`]);
//!   seed 0 is the calm schedule, seeds `1..n` are chaotic (see
//!   [`super::chaos`]).
//! - `FANOUT_SEED=<s>`: run only seed `s` (to rerun a failure).
//!
//! A failing seed is printed with the command that reruns it alone. A case's
//! schedules depend on its name and the seed only, never on the other cases,
//! the test order or the number of test threads.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::chaos;

/// Seeds per case when `FANOUT_SEEDS` is not set.
pub const DEFAULT_SEEDS: u64 = 500;

/// Cases whose one run costs far more than the others, with the most seeds
/// they get: a million tasks (about a second per run in debug; nothing in
/// them waits for a wake but one task in a thousand), and a case that panics
/// by design after a real-time deadlock grace period of one second.
///
/// Cases that expect a panic (`#[should_panic]`) stop at their first seed
/// anyway: the first (expected) panic ends the case.
pub const CAPPED: &[(&str, u64)] = &[
    ("robustness::b5_a_million_ready_tasks", 3),
    (
        "virtual_clock::for_each::buffer_unordered_stalls_on_the_same_scenario",
        1,
    ),
];

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {value:?}")),
    )
}

/// How many seeds `case` runs under (before `FANOUT_SEED`).
pub fn seeds_for(case: &str) -> u64 {
    let n = env_u64("FANOUT_SEEDS").unwrap_or(DEFAULT_SEEDS).max(1);
    match CAPPED.iter().find(|(name, _)| *name == case) {
        Some(&(_, cap)) => n.min(cap),
        None => n,
    }
}

/// The schedule seed of `case` under the user-facing `seed` (0 stays calm).
pub fn schedule_seed(case: &str, seed: u64) -> u64 {
    if seed == 0 {
        0
    } else {
        chaos::mix(seed, chaos::name_hash(case)).max(1)
    }
}

/// Runs `body` once per seed of `case`, each under its own schedule; stops at
/// the first failing seed, says which, and re-raises its panic.
pub fn for_each_seed(case: &str, body: &dyn Fn()) {
    let seeds: Vec<u64> = match env_u64("FANOUT_SEED") {
        Some(seed) => vec![seed],
        None => (0..seeds_for(case)).collect(),
    };
    for seed in seeds {
        let run = catch_unwind(AssertUnwindSafe(|| {
            chaos::with_seed(schedule_seed(case, seed), body)
        }));
        if let Err(panic) = run {
            eprintln!(
                "{case}: failed under seed {seed}; rerun this seed alone with\n    \
                 FANOUT_SEED={seed} cargo test --test deterministic -- --exact {case}"
            );
            resume_unwind(panic);
        }
    }
}
