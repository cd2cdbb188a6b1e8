//! The deterministic executor: a root future plus spawned tasks on the current
//! thread, driven by the virtual clock, scheduled by a seed.
//!
//! [`run`] polls the root future and every task [`spawn`]ed during the run, each
//! only when it was woken. The next task to poll is the oldest woken one, or,
//! under a seeded schedule ([`super::chaos::with_seed`]), a random woken one.
//! When no task is woken, virtual time jumps straight to the earliest pending
//! timer deadline and every timer due at that time is woken (in registration
//! order, or shuffled under a seed). Consequently a wake coming from another
//! thread is only waited for when no timer is pending: while timers are
//! pending, virtual time keeps advancing.
//!
//! Under a seed the executor also wakes, now and then, a task that nothing
//! woke (see [`super::chaos::spurious_task`]).
//!
//! The run ends when the root future completes; spawned tasks still pending
//! are dropped then (inside the run, so their timers are still valid). A
//! panic of the root or of a spawned task propagates out of [`run`].
//!
//! Real (wall-clock) time is used for exactly one thing: deadlock detection
//! when a wake could still come from another thread. If no task is woken, no
//! timer is pending, and a clone of some task's waker is still alive somewhere
//! (e.g. stored by a [`super::counting::Gate`] that another thread will open),
//! the run loop parks for up to [`CROSS_THREAD_GRACE`] before panicking. If no
//! clone exists, nothing can ever wake a task and the panic is immediate.

use std::cell::RefCell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::{chaos, clock};

/// How long (real time) the run loop waits for a cross-thread wake before declaring a
/// deadlock, when no task is woken, no timer is pending and some waker has clones.
pub const CROSS_THREAD_GRACE: Duration = Duration::from_secs(1);

/// The panic message used when the root future can never make progress.
pub const DEADLOCK_MESSAGE: &str =
    "deadlock: the future is pending, nothing woke it and no timer is pending";

/// A spawned task: any future of the run's thread.
type LocalTask = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    /// Tasks spawned during the innermost run on this thread, not yet adopted.
    static SPAWNED: RefCell<Vec<Vec<LocalTask>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `task` as a task of its own in the current run on this thread.
///
/// # Panics
/// If no run is active on this thread.
pub fn spawn(task: impl Future<Output = ()> + 'static) {
    SPAWNED.with(|s| {
        s.borrow_mut()
            .last_mut()
            .expect("support::executor::spawn outside support::executor::run on this thread")
            .push(Box::pin(task));
    });
}

/// The woken tasks of a run, in the order they were woken (task 0 is the root).
#[derive(Default)]
struct ReadyQueue {
    order: Vec<usize>,
    queued: Vec<bool>,
}

/// What the wakers of a run share: the ready queue and the thread to unpark.
struct Shared {
    ready: Mutex<ReadyQueue>,
    thread: Thread,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, ReadyQueue> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self, id: usize) {
        {
            let mut q = self.lock();
            if q.queued.len() <= id {
                q.queued.resize(id + 1, false);
            }
            if !q.queued[id] {
                q.queued[id] = true;
                q.order.push(id);
            }
        }
        self.thread.unpark();
    }
}

/// The waker of one task.
struct TaskWaker {
    id: usize,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.wake(self.id);
    }
}

/// A task's waker, with its `Arc` kept to see whether clones are alive.
struct TaskHandle {
    arc: Arc<TaskWaker>,
    waker: Waker,
}

impl TaskHandle {
    fn new(id: usize, shared: &Arc<Shared>) -> Self {
        let arc = Arc::new(TaskWaker {
            id,
            shared: Arc::clone(shared),
        });
        let waker = Waker::from(Arc::clone(&arc));
        Self { arc, waker }
    }

    /// Whether a clone of this waker is stored somewhere (beyond `arc` and `waker`).
    fn clones_alive(&self) -> bool {
        Arc::strong_count(&self.arc) > 2
    }
}

/// Runs `fut` to completion on the current thread with a fresh virtual clock starting
/// at 0 and returns its output.
///
/// # Panics
/// With [`DEADLOCK_MESSAGE`] ("deadlock: ...") if the future is pending, nothing woke
/// it, no timer is pending and no other thread woke it (see the module docs). Panics of
/// the future itself (or of a spawned task) propagate.
pub fn run<F: Future>(fut: F) -> F::Output {
    run_timed(fut).0
}

/// Like [`run`], and also returns the virtual milliseconds elapsed until `fut` completed.
pub fn run_timed<F: Future>(fut: F) -> (F::Output, u64) {
    // Restores any outer clock and chaos (nested `run`) when dropped, also on unwind.
    let _clock = clock::install();
    let _chaos = chaos::install(chaos::next_run_chaos());
    SPAWNED.with(|s| s.borrow_mut().push(Vec::new()));
    struct PopInbox;
    impl Drop for PopInbox {
        fn drop(&mut self) {
            let inbox = SPAWNED.with(|s| s.borrow_mut().pop());
            drop(inbox);
        }
    }
    let _inbox = PopInbox;
    // `fut` and the spawned tasks are dropped inside `drive`, i.e. while this
    // run's clock is still installed.
    drive(fut)
}

fn drive<F: Future>(fut: F) -> (F::Output, u64) {
    let shared = Arc::new(Shared {
        ready: Mutex::new(ReadyQueue::default()),
        thread: thread::current(),
    });
    shared.wake(0);
    let root = TaskHandle::new(0, &shared);
    let mut fut = pin!(fut);
    // Spawned tasks by id - 1; `None` once finished.
    let mut tasks: Vec<Option<(LocalTask, TaskHandle)>> = Vec::new();
    loop {
        // Adopt the tasks spawned since the last step: each starts woken.
        let spawned =
            SPAWNED.with(|s| std::mem::take(s.borrow_mut().last_mut().expect("the run's inbox")));
        for task in spawned {
            let id = tasks.len() + 1;
            tasks.push(Some((task, TaskHandle::new(id, &shared))));
            shared.wake(id);
        }
        let busy = !shared.lock().order.is_empty();
        if busy && chaos::spurious_task() {
            // Wake a task (the root or a live spawned one) that nothing woke;
            // only while other work is ready, so a lost wake still ends in
            // the deadlock panic rather than being rescued by chaos.
            let live: Vec<usize> = std::iter::once(0)
                .chain((1..=tasks.len()).filter(|&id| tasks[id - 1].is_some()))
                .collect();
            shared.wake(live[chaos::pick(live.len())]);
        }
        let next = {
            let mut q = shared.lock();
            if q.order.is_empty() {
                None
            } else {
                let at = if chaos::shuffling() {
                    chaos::pick(q.order.len())
                } else {
                    0
                };
                let id = q.order.remove(at);
                q.queued[id] = false;
                Some(id)
            }
        };
        match next {
            Some(0) => {
                let mut cx = Context::from_waker(&root.waker);
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    let now = clock::now();
                    // Spawned tasks still pending go first, while the clock is ours.
                    drop(tasks);
                    return (out, now);
                }
            }
            Some(id) => {
                let slot = &mut tasks[id - 1];
                if let Some((task, handle)) = slot {
                    let mut cx = Context::from_waker(&handle.waker);
                    if task.as_mut().poll(&mut cx).is_ready() {
                        *slot = None;
                    }
                }
            }
            None => {
                if let Some(mut due) = clock::advance_to_next_deadline() {
                    chaos::shuffle(&mut due);
                    due.into_iter().for_each(chaos::wake);
                    continue;
                }
                let pending_spawns =
                    SPAWNED.with(|s| s.borrow().last().is_some_and(|v| !v.is_empty()));
                if !pending_spawns {
                    let clones_alive = root.clones_alive()
                        || tasks.iter().flatten().any(|(_, h)| h.clones_alive());
                    wait_for_wake(&shared, clones_alive);
                }
            }
        }
    }
}

/// Called when no task is woken and no timer is pending: waits (real time) for a
/// cross-thread wake if one is possible, otherwise panics with the deadlock message.
fn wait_for_wake(shared: &Shared, clones_alive: bool) {
    // Pairs with the release decrement of a dropped clone: if a clone was woken and then
    // dropped, its wake is visible below.
    fence(Ordering::Acquire);
    let woken = || !shared.lock().order.is_empty();
    if clones_alive {
        let deadline = Instant::now() + CROSS_THREAD_GRACE;
        while !woken() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            thread::park_timeout(deadline - now);
        }
    }
    if !woken() {
        panic!("{}", DEADLOCK_MESSAGE);
    }
}
