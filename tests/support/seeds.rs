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

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Once;

use super::chaos;

/// Seeds per case when `FANOUT_SEEDS` is not set.
pub const DEFAULT_SEEDS: u64 = 500;

/// Cases whose one run costs far more than the others, with the most seeds
/// they get: a million tasks (about a second per run in debug; nothing in
/// them waits for a wake but one task in a thousand), and a case that panics
/// by design after a real-time deadlock grace period of one second.
///
pub const CAPPED: &[(&str, u64)] = &[
    ("robustness::b5_a_million_ready_tasks", 3),
    (
        "virtual_clock::for_each::buffer_unordered_stalls_on_the_same_scenario",
        1,
    ),
];

/// The number in environment variable `name`, if set.
///
/// # Panics
/// If it is set to something that is not a number.
pub fn env_u64(name: &str) -> Option<u64> {
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

/// The message a case's attributes say it panics with
/// (`should_panic(expected = "..")`; empty for a bare `should_panic`), if any.
pub fn expected_panic(attrs: &[&str]) -> Option<String> {
    let attr = attrs
        .iter()
        .find(|a| a.trim_start().starts_with("should_panic"))?;
    Some(match (attr.find('"'), attr.rfind('"')) {
        (Some(a), Some(b)) if b > a => attr[a + 1..b].to_string(),
        _ => String::new(),
    })
}

/// The message of a panic payload, if it is a string.
fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// While the returned guard lives, panics on this thread print nothing (the
/// expected panics of a `should_panic` case under its 500 seeds).
fn quiet() -> impl Drop {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            QUIET.with(|q| q.set(false));
        }
    }
    QUIET.with(|q| q.set(true));
    Loud
}

/// Runs `body` once per seed of `case`, each under its own schedule; stops at
/// the first failing seed, says which, and re-raises its panic.
///
/// A case whose `attrs` say it panics (`should_panic`) must panic under
/// every seed, with the expected message; the last seed's panic is
/// re-raised. A seed under which it does not is reported like a failure.
pub fn for_each_seed(case: &str, attrs: &[&str], body: &dyn Fn()) {
    let expected = expected_panic(attrs);
    let seeds: Vec<u64> = match env_u64("FANOUT_SEED") {
        Some(seed) => vec![seed],
        None => (0..seeds_for(case)).collect(),
    };
    let mut last_panic = None;
    for seed in seeds {
        let run = {
            let _quiet = expected.is_some().then(quiet);
            catch_unwind(AssertUnwindSafe(|| {
                chaos::with_seed(schedule_seed(case, seed), body)
            }))
        };
        let rerun = format!(
            "rerun this seed alone with\n    \
             FANOUT_SEED={seed} cargo test --test deterministic -- --exact {case}"
        );
        match (run, &expected) {
            (Ok(()), None) => {}
            (Err(panic), Some(want))
                if panic_message(&*panic).is_some_and(|m| m.contains(want.as_str())) =>
            {
                last_panic = Some(panic);
            }
            (Err(panic), _) => {
                eprintln!("{case}: failed under seed {seed}; {rerun}");
                resume_unwind(panic);
            }
            (Ok(()), Some(_)) => {
                eprintln!("{case}: did not panic under seed {seed}; {rerun}");
                panic!("the case did not panic under one of its seeds (see above)");
            }
        }
    }
    if let Some(panic) = last_panic {
        resume_unwind(panic);
    }
}
