//! The runtime-generic conformance bodies under smol, two ways:
//!
//! - `block_on::` — `smol::block_on`, no spawn;
//! - `executor::` — a shared multi-threaded `smol::Executor` (two threads
//!   of its own, and the test thread while it blocks on `Executor::run`):
//!   spawned tasks may run on any of them.

#[path = "support/mod.rs"]
mod support;

#[path = "conformance/mod.rs"]
mod conformance;

use std::future::Future;
use std::sync::OnceLock;

use conformance::{Runtime, SpawnedTask};
use smol::Executor;

mod block_on {
    /// `smol::block_on`.
    struct SmolBlockOn;

    impl crate::conformance::Runtime for SmolBlockOn {
        fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
            smol::block_on(fut)
        }
    }

    crate::conformance::runtime_suite!(SmolBlockOn);
}

/// The shared executor, with two threads that run it forever.
fn executor() -> &'static Executor<'static> {
    static EX: OnceLock<&'static Executor<'static>> = OnceLock::new();
    EX.get_or_init(|| {
        let ex: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
        for i in 0..2 {
            std::thread::Builder::new()
                .name(format!("smol-{i}"))
                .spawn(move || smol::block_on(ex.run(smol::future::pending::<()>())))
                .expect("spawn an executor thread");
        }
        ex
    })
}

/// `smol::block_on(executor.run(..))`, spawning onto the shared executor.
struct SmolExecutor;

impl Runtime for SmolExecutor {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        smol::block_on(executor().run(fut))
    }

    fn spawn_task(&self, task: SpawnedTask) -> Result<(), SpawnedTask> {
        executor().spawn(task).detach();
        Ok(())
    }
}

mod executor {
    crate::conformance::runtime_suite!(super::SmolExecutor);
}
