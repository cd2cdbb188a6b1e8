//! The runtime-generic conformance bodies under `futures::executor::block_on`.

#[path = "support/mod.rs"]
mod support;

#[path = "conformance/mod.rs"]
mod conformance;

use std::future::Future;

/// `futures::executor::block_on`.
struct FuturesExecutor;

impl conformance::Runtime for FuturesExecutor {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        futures::executor::block_on(fut)
    }
}

conformance::runtime_suite!(FuturesExecutor);
