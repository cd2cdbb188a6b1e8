//! The conformance suite on the deterministic executor of `tests/support`:
//! every runtime-generic body, plus the bodies that need the virtual clock
//! (`sleep`, virtual durations) under `virtual_clock::`, each under many
//! seeded schedules (shuffled ready queue and timer ties, duplicated,
//! cross-thread and spurious wakes; seed 0 is the calm FIFO schedule).
//!
//! `FANOUT_SEEDS=<n>` sets the seeds per case (default 500), `FANOUT_SEED=<s>`
//! reruns one seed; a failure prints its seed.

#[path = "support/mod.rs"]
mod support;

#[path = "conformance/mod.rs"]
mod conformance;

conformance::runtime_suite!(conformance::Deterministic, seeded);
conformance::virtual_clock_suite!(seeded);
