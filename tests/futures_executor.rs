//! The runtime-generic conformance bodies under futures-executor, three ways:
//!
//! - `block_on::` — `futures::executor::block_on`, no spawn;
//! - `local_pool::` — a `LocalPool` per case: the body runs in `run_until`
//!   and spawned tasks are tasks of the same pool, on the same thread;
//! - `thread_pool::` — `block_on` on the test thread, spawned tasks on a
//!   shared two-thread `ThreadPool`, so wakes and gate openings come from
//!   other threads.

#[path = "support/mod.rs"]
mod support;

#[path = "conformance/mod.rs"]
mod conformance;

use std::cell::RefCell;
use std::future::Future;
use std::sync::OnceLock;

use conformance::{Runtime, SpawnedTask};
use futures::executor::{LocalPool, LocalSpawner, ThreadPool};
use futures::task::SpawnExt;

mod block_on {
    /// `futures::executor::block_on`.
    struct FuturesBlockOn;

    impl crate::conformance::Runtime for FuturesBlockOn {
        fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
            futures::executor::block_on(fut)
        }
    }

    crate::conformance::runtime_suite!(FuturesBlockOn);
}

/// A `LocalPool` and its spawner.
struct Local {
    pool: RefCell<LocalPool>,
    spawner: LocalSpawner,
}

impl Local {
    fn new() -> Self {
        let pool = LocalPool::new();
        let spawner = pool.spawner();
        Self {
            pool: RefCell::new(pool),
            spawner,
        }
    }
}

impl Runtime for Local {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.pool.borrow_mut().run_until(fut)
    }

    fn spawn_task(&self, task: SpawnedTask) -> Result<(), SpawnedTask> {
        self.spawner.spawn(task).expect("the LocalPool is alive");
        Ok(())
    }
}

mod local_pool {
    crate::conformance::runtime_suite!(super::Local::new());
}

/// `block_on` on the test thread, spawned tasks on a two-thread `ThreadPool`.
struct Pool;

impl Runtime for Pool {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        futures::executor::block_on(fut)
    }

    fn spawn_task(&self, task: SpawnedTask) -> Result<(), SpawnedTask> {
        static POOL: OnceLock<ThreadPool> = OnceLock::new();
        POOL.get_or_init(|| {
            ThreadPool::builder()
                .pool_size(2)
                .create()
                .expect("create the thread pool")
        })
        .spawn_ok(task);
        Ok(())
    }
}

mod thread_pool {
    crate::conformance::runtime_suite!(super::Pool);
}
