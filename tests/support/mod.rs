//! Deterministic virtual-time test support for `fanout`'s integration tests.
//!
//! Include with `#[path = "support/mod.rs"] mod support;`. Tests run futures with
//! [`executor::run`] / [`executor::run_timed`]; time is virtual (see [`clock`]) and
//! jumps instantly to the next timer deadline when nothing else can run, so tests never
//! depend on wall-clock time.
#![allow(dead_code)]

pub mod chaos;
pub mod clock;
pub mod counting;
pub mod executor;
pub mod jobs;
pub mod seeds;

// Convenience re-exports; each test binary uses a subset.
#[allow(unused_imports)]
pub use clock::{now, sleep, Sleep};
#[allow(unused_imports)]
pub use counting::{Gate, GateFuture, PollCounter, Tracked, Tracker, YieldN};
#[allow(unused_imports)]
pub use executor::{run, run_timed};
#[allow(unused_imports)]
pub use jobs::{Job, JobError};
