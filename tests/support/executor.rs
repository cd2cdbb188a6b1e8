//! A deterministic single-future executor driven by the virtual clock.
//!
//! [`run`] polls the root future on the current thread whenever it was woken. When the
//! root is pending and nothing woke it, virtual time jumps straight to the earliest
//! pending timer deadline and every timer due at that time is woken in registration
//! order. Consequently a wake coming from another thread is only waited for when no
//! timer is pending: while timers are pending, virtual time keeps advancing.
//!
//! Real (wall-clock) time is used for exactly one thing: deadlock detection when a wake
//! could still come from another thread. If the root is pending, not woken, no timer is
//! pending, and a clone of the root waker is still alive somewhere (e.g. stored by a
//! [`super::counting::Gate`] that another thread will open), the run loop parks
//! for up to [`CROSS_THREAD_GRACE`] before panicking. If no clone of the waker exists,
//! nothing can ever wake the root and the panic is immediate.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use super::clock;

/// How long (real time) the run loop waits for a cross-thread wake before declaring a
/// deadlock, when the root is pending, no timer is pending and the root waker has clones.
pub const CROSS_THREAD_GRACE: Duration = Duration::from_secs(1);

/// The panic message used when the root future can never make progress.
pub const DEADLOCK_MESSAGE: &str =
    "deadlock: the future is pending, nothing woke it and no timer is pending";

/// The root waker: a "woken" flag plus the run-loop thread to unpark.
struct RootSignal {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for RootSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The flag is set before this `Arc` clone can be released (see `wait_for_wake`).
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Runs `fut` to completion on the current thread with a fresh virtual clock starting
/// at 0 and returns its output.
///
/// # Panics
/// With [`DEADLOCK_MESSAGE`] ("deadlock: ...") if the future is pending, nothing woke
/// it, no timer is pending and no other thread woke it (see the module docs). Panics of
/// the future itself propagate.
pub fn run<F: Future>(fut: F) -> F::Output {
    run_timed(fut).0
}

/// Like [`run`], and also returns the virtual milliseconds elapsed until `fut` completed.
pub fn run_timed<F: Future>(fut: F) -> (F::Output, u64) {
    // Restores any outer clock (nested `run`) when dropped, also on unwind.
    let _clock = clock::install();
    // `fut` is dropped inside `drive`, i.e. while this run's clock is still installed.
    drive(fut)
}

fn drive<F: Future>(fut: F) -> (F::Output, u64) {
    let signal = Arc::new(RootSignal {
        woken: AtomicBool::new(true),
        thread: thread::current(),
    });
    let waker = Waker::from(Arc::clone(&signal));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if signal.woken.swap(false, Ordering::SeqCst) {
            if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                return (out, clock::now());
            }
            continue;
        }
        if let Some(due) = clock::advance_to_next_deadline() {
            for w in due {
                w.wake();
            }
            continue;
        }
        wait_for_wake(&signal);
    }
}

/// Called when the root is pending, not woken and no timer is pending: waits (real time)
/// for a cross-thread wake if one is possible, otherwise panics with the deadlock message.
fn wait_for_wake(signal: &Arc<RootSignal>) {
    // `signal` plus the `waker` held by `drive` = 2; any more means a clone of the waker
    // is stored somewhere and might still be used to wake us.
    let clones_alive = Arc::strong_count(signal) > 2;
    // Pairs with the release decrement of a dropped clone: if a clone was woken and then
    // dropped, its `woken` store is visible below.
    fence(Ordering::Acquire);
    if clones_alive {
        let deadline = Instant::now() + CROSS_THREAD_GRACE;
        while !signal.woken.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            thread::park_timeout(deadline - now);
        }
    }
    if !signal.woken.load(Ordering::SeqCst) {
        panic!("{}", DEADLOCK_MESSAGE);
    }
}
