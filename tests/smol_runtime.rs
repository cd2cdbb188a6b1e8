//! The runtime-generic conformance bodies under `smol::block_on`.

#[path = "support/mod.rs"]
mod support;

#[path = "conformance/mod.rs"]
mod conformance;

use std::future::Future;

/// `smol::block_on`.
struct Smol;

impl conformance::Runtime for Smol {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        smol::block_on(fut)
    }
}

conformance::runtime_suite!(Smol);
