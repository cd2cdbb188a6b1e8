//! Loom models of the cancellation tokens: cancel racing a waiter's
//! registration, a waiter's drop, a callback's registration, and a child's
//! drop. Together they check the lock bit of `node.rs` (invariants 1 and 3):
//! no registration is lost, none is delivered twice, nothing is left behind.

use super::{CancelSource, CancelToken};
use alloc::task::Wake;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Waker};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

extern crate std;
use std::sync::Arc;

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waiter registering while another thread cancels is never lost: either
/// its first poll sees the cancellation, or its waker is woken (and the next
/// poll is ready).
#[test]
fn cancel_racing_a_waiter() {
    loom::model(|| {
        let source = CancelSource::new();
        let token = source.token();
        let t = thread::spawn(move || {
            let count = Arc::new(Count(AtomicUsize::new(0)));
            let waker = Waker::from(count.clone());
            let mut cx = Context::from_waker(&waker);
            let mut wait = pin!(token.canceled());
            if wait.as_mut().poll(&mut cx).is_pending() {
                // Keep the future alive (a dropped waiter is rightly not
                // woken) until the wake arrives; a lost wake spins forever,
                // which loom reports.
                while count.0.load(Ordering::SeqCst) == 0 {
                    thread::yield_now();
                }
                assert!(wait.as_mut().poll(&mut cx).is_ready());
            }
        });
        source.cancel();
        t.join().unwrap();
    });
}

/// A waiter that registered and is then dropped on one thread while another
/// thread cancels: its waker is woken at most once, and once both are done no
/// clone of it is left anywhere (delivered and dropped, or unregistered).
#[test]
fn a_waiter_dropped_while_the_source_cancels() {
    loom::model(|| {
        let source = CancelSource::new();
        let token = source.token();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let t = thread::spawn(move || {
            let mut cx = Context::from_waker(&waker);
            let mut wait = pin!(token.canceled());
            let _ = wait.as_mut().poll(&mut cx);
        });
        source.cancel();
        t.join().unwrap();
        assert!(count.0.load(Ordering::SeqCst) <= 1);
        drop(source);
        assert_eq!(Arc::strong_count(&count), 1);
    });
}

/// A callback registered while another thread cancels runs exactly once.
#[test]
fn cancel_racing_a_callback() {
    loom::model(|| {
        let source = CancelSource::new();
        let token = source.token();
        let ran = Arc::new(AtomicUsize::new(0));
        let ran2 = ran.clone();
        let t = thread::spawn(move || {
            token
                .register(move || {
                    ran2.fetch_add(1, Ordering::SeqCst);
                })
                .forget();
        });
        source.cancel();
        t.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    });
}

/// A child dropped while its parent cancels: no crash, no leak of the link,
/// and a child that survives is canceled.
#[test]
fn a_child_dropped_while_the_parent_cancels() {
    loom::model(|| {
        let source = CancelSource::new();
        let token: CancelToken = source.token();
        let doomed = token.child();
        let kept = token.child();
        let t = thread::spawn(move || drop(doomed));
        source.cancel();
        t.join().unwrap();
        assert!(kept.is_canceled());
    });
}
