//! The conformance suite on the deterministic virtual-time executor of
//! `tests/support`: every runtime-generic body, plus the bodies that need the
//! virtual clock (`sleep`, virtual durations) under `virtual_clock::`.

#[path = "support/mod.rs"]
mod support;

#[path = "conformance/mod.rs"]
mod conformance;

conformance::runtime_suite!(conformance::VirtualTime);
conformance::virtual_clock_suite!();
