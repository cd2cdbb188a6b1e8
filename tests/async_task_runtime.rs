//! The runtime-generic conformance bodies under a minimal executor built on
//! `async-task` (the task machinery under smol and async-std), two ways:
//!
//! - `single_thread::` — the body and every spawned task are `async_task`
//!   tasks run by the test thread, one queue;
//! - `multi_thread::` — the body runs on the test thread, spawned tasks on a
//!   shared pool of two worker threads.
//!
//! Either way the wakers every combinator sees are async-task's.

#[path = "support/mod.rs"]
mod support;

#[path = "conformance/mod.rs"]
mod conformance;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread::{self, Thread};

use async_task::Runnable;
use conformance::{Runtime, SpawnedTask};

/// A queue of runnable tasks, run by one thread that it unparks.
struct LocalQueue {
    runnables: Mutex<VecDeque<Runnable>>,
    thread: Thread,
}

impl LocalQueue {
    fn push(&self, runnable: Runnable) {
        self.runnables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(runnable);
        self.thread.unpark();
    }

    fn pop(&self) -> Option<Runnable> {
        self.runnables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }
}

thread_local! {
    /// The queue of the `block_on` running on this thread (single-threaded mode).
    static CURRENT: RefCell<Option<Arc<LocalQueue>>> = const { RefCell::new(None) };
}

/// Runs `fut` as an `async_task` task on this thread, together with the tasks
/// spawned onto this thread's queue meanwhile, until `fut` completes.
fn block_on<F: Future>(fut: F) -> F::Output {
    let queue = Arc::new(LocalQueue {
        runnables: Mutex::new(VecDeque::new()),
        thread: thread::current(),
    });
    let schedule = {
        let queue = Arc::clone(&queue);
        move |runnable| queue.push(runnable)
    };
    // SAFETY: `spawn_unchecked` asks that (1) a future that is not `Send`
    // (or its output) is polled and dropped on this thread: its `Runnable` is
    // only ever run, or dropped, by this function, on this thread (the queue
    // may be pushed from other threads, but it is popped only here, and
    // dropped only once the task finished, when no `Runnable` of it exists);
    // (2) a future that borrows outlives nothing it borrows: this function
    // returns only after the task finished (the future is dropped on
    // completion), and on unwind the panic came out of `run()`, which closes
    // the task and drops the future before returning; (3) `schedule` is
    // `Send + Sync + 'static`, so its wakers may go anywhere.
    let (runnable, mut task) = unsafe { async_task::spawn_unchecked(fut, schedule) };
    runnable.schedule();
    struct Restore(Option<Arc<LocalQueue>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(Arc::clone(&queue))));
    loop {
        while let Some(runnable) = queue.pop() {
            runnable.run();
        }
        if task.is_finished() {
            break;
        }
        thread::park();
    }
    let waker = futures::task::noop_waker();
    match Pin::new(&mut task).poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("a finished task is ready"),
    }
}

/// Spawns `task` onto the queue of the `block_on` running on this thread.
fn spawn_local(task: SpawnedTask) {
    let queue = CURRENT
        .with(|c| c.borrow().clone())
        .expect("spawn outside block_on");
    let (runnable, task) = async_task::spawn(task, move |runnable| queue.push(runnable));
    runnable.schedule();
    task.detach();
}

/// A pool of worker threads sharing one queue.
struct Pool {
    runnables: Mutex<VecDeque<Runnable>>,
    ready: Condvar,
}

impl Pool {
    fn get() -> &'static Pool {
        static POOL: OnceLock<&'static Pool> = OnceLock::new();
        POOL.get_or_init(|| {
            let pool: &'static Pool = Box::leak(Box::new(Pool {
                runnables: Mutex::new(VecDeque::new()),
                ready: Condvar::new(),
            }));
            for i in 0..2 {
                thread::Builder::new()
                    .name(format!("async-task-{i}"))
                    .spawn(move || pool.work())
                    .expect("spawn a worker thread");
            }
            pool
        })
    }

    fn push(&self, runnable: Runnable) {
        self.runnables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(runnable);
        self.ready.notify_one();
    }

    fn work(&self) {
        loop {
            let runnable = {
                let mut q = self.runnables.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    match q.pop_front() {
                        Some(r) => break r,
                        None => q = self.ready.wait(q).unwrap_or_else(|e| e.into_inner()),
                    }
                }
            };
            runnable.run();
        }
    }

    fn spawn(&'static self, task: SpawnedTask) {
        let (runnable, task) = async_task::spawn(task, move |runnable| self.push(runnable));
        runnable.schedule();
        task.detach();
    }
}

/// The async-task executor; spawned tasks on this thread or on the pool.
struct AsyncTask {
    multi_thread: bool,
}

impl Runtime for AsyncTask {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        block_on(fut)
    }

    fn spawn_task(&self, task: SpawnedTask) -> Result<(), SpawnedTask> {
        if self.multi_thread {
            Pool::get().spawn(task);
        } else {
            spawn_local(task);
        }
        Ok(())
    }
}

mod single_thread {
    crate::conformance::runtime_suite!(super::AsyncTask {
        multi_thread: false
    });
}

mod multi_thread {
    crate::conformance::runtime_suite!(super::AsyncTask { multi_thread: true });
}
