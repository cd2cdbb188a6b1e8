//! The runtime-generic conformance bodies under async-std, two ways:
//!
//! - `block_on::` — `async_std::task::block_on`, no spawn;
//! - `spawn::` — `block_on`, with spawned tasks on async-std's global
//!   multi-threaded executor (`async_std::task::spawn`).

#[path = "support/mod.rs"]
mod support;

#[path = "conformance/mod.rs"]
mod conformance;

use std::future::Future;

use conformance::{Runtime, SpawnedTask};

/// `async_std::task::block_on`, spawning with `async_std::task::spawn` when
/// `spawns`.
struct AsyncStd {
    spawns: bool,
}

impl Runtime for AsyncStd {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        async_std::task::block_on(fut)
    }

    fn spawn_task(&self, task: SpawnedTask) -> Result<(), SpawnedTask> {
        if !self.spawns {
            return Err(task);
        }
        // Dropping the handle detaches the task.
        drop(async_std::task::spawn(task));
        Ok(())
    }
}

mod block_on {
    crate::conformance::runtime_suite!(super::AsyncStd { spawns: false });
}

mod spawn {
    crate::conformance::runtime_suite!(super::AsyncStd { spawns: true });
}
