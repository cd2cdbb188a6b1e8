//! Unit tests of the cancellation tokens (rules K1–K5), sized to run under
//! Miri as well; the loom models are in `loom.rs`.

use super::{CancelSource, CancelToken};
use crate::Outcome;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

extern crate std;
use std::sync::Mutex;

fn noop_cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

/// A waker that counts its wakes.
struct Count(AtomicUsize);

impl alloc::task::Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count(AtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

#[test]
fn k1_cancel_is_idempotent_and_seen_by_every_clone_and_waiter() {
    let source = CancelSource::new();
    let tokens: Vec<CancelToken> = (0..3).map(|_| source.token()).collect();
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut waiting: Vec<_> = tokens.iter().map(|t| t.canceled()).collect();
    for fut in &mut waiting {
        assert!(pin!(fut).poll(&mut cx).is_pending());
    }
    source.cancel();
    source.cancel();
    assert_eq!(count.0.load(Ordering::SeqCst), 3, "every waiter woken once");
    for fut in &mut waiting {
        assert!(pin!(fut).poll(&mut cx).is_ready());
    }
    assert!(tokens.iter().all(CancelToken::is_canceled));
    // A later future is ready at once.
    assert!(pin!(tokens[0].canceled()).poll(&mut noop_cx()).is_ready());
    assert_eq!(count.0.load(Ordering::SeqCst), 3, "nothing woken twice");
}

#[test]
fn k2_children_follow_their_parent_never_the_other_way() {
    let parent = CancelSource::new();
    let child = parent.token().child();
    let grandchild = child.child();
    let sibling = CancelSource::linked([&parent.token()]);
    sibling.cancel();
    assert!(!parent.is_canceled() && !child.is_canceled());
    parent.cancel();
    assert!(child.is_canceled() && grandchild.is_canceled());
    // A child of a canceled token is canceled from the start.
    assert!(parent.token().child().is_canceled());
}

#[test]
fn k2_dropped_children_are_unlinked() {
    let parent = CancelSource::new();
    let token = parent.token();
    for _ in 0..if cfg!(miri) { 50 } else { 10_000 } {
        let child = token.child();
        let _wait = child.canceled();
        drop(child);
    }
    assert_eq!(parent.node.registrations(), 0);
    let kept = token.child();
    assert_eq!(parent.node.registrations(), 1);
    drop(kept);
    assert_eq!(parent.node.registrations(), 0);
}

#[test]
fn k3_a_linked_source_is_canceled_by_any_parent() {
    let (a, b) = (CancelSource::new(), CancelSource::new());
    let linked = CancelSource::linked([&a.token(), &b.token()]);
    b.cancel();
    assert!(linked.is_canceled());
    assert!(!a.is_canceled());
    let already = CancelSource::linked([&a.token(), &b.token()]);
    assert!(already.is_canceled());
}

#[test]
fn k4_callbacks_run_once_last_registered_first() {
    let source = CancelSource::new();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut keep = Vec::new();
    for i in 0..5 {
        let log = log.clone();
        keep.push(source.token().register(move || log.lock().unwrap().push(i)));
    }
    // Dropping a registration before cancel unregisters it.
    drop(keep.remove(2));
    source.cancel();
    source.cancel();
    assert_eq!(*log.lock().unwrap(), [4, 3, 1, 0]);
    // On a canceled token a callback runs at once.
    let log2 = log.clone();
    let _late = source
        .token()
        .register(move || log2.lock().unwrap().push(9));
    assert_eq!(*log.lock().unwrap(), [4, 3, 1, 0, 9]);
}

#[test]
fn a_panicking_callback_does_not_strand_the_other_waiters() {
    extern crate std;
    let source = CancelSource::new();
    let token = source.token();
    let (count, waker) = counting();
    let mut wait = token.canceled();
    assert!(pin!(&mut wait)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let _boom = token.register(|| panic!("callback panics"));
    let result = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| source.cancel()));
    assert!(result.is_err());
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "the waiter was still woken"
    );
    assert!(source.is_canceled());
}

#[test]
fn k5_tokens_are_send_sync_and_cheap() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CancelSource>();
    send_sync::<CancelToken>();
    send_sync::<super::Canceled>();
    assert_eq!(
        core::mem::size_of::<CancelToken>(),
        core::mem::size_of::<usize>()
    );
}

#[test]
fn run_ends_canceled_when_the_token_fires_first() {
    let source = CancelSource::new();
    let mut job = pin!(source
        .token()
        .run(core::future::pending::<Result<u8, ()>>()));
    assert!(job.as_mut().poll(&mut noop_cx()).is_pending());
    source.cancel();
    assert_eq!(
        job.as_mut().poll(&mut noop_cx()),
        Poll::Ready(Outcome::Canceled)
    );
    let done = pin!(CancelToken::never().run(async { Ok::<_, ()>(7) }));
    assert_eq!(
        done.poll(&mut noop_cx()),
        Poll::Ready(Outcome::Completed(7))
    );
}

#[test]
fn cancel_when_cancels_on_the_deadline_or_gives_up_early() {
    let source = CancelSource::new();
    let mut deadline = pin!(source.cancel_when(core::future::ready(())));
    assert!(deadline.as_mut().poll(&mut noop_cx()).is_ready());
    assert!(source.is_canceled());

    let other = CancelSource::new();
    let mut never = pin!(other.cancel_when(core::future::pending::<()>()));
    assert!(never.as_mut().poll(&mut noop_cx()).is_pending());
    other.cancel();
    assert!(never.as_mut().poll(&mut noop_cx()).is_ready());
}

#[test]
fn drop_guard_cancels_unless_disarmed() {
    let source = CancelSource::new();
    let token = source.token();
    let source = source.drop_guard().disarm();
    assert!(!token.is_canceled());
    drop(source.drop_guard());
    assert!(token.is_canceled());
}

#[test]
fn cancel_racing_waiters_on_threads_wakes_every_one() {
    extern crate std;
    let rounds = if cfg!(miri) { 3 } else { 200 };
    for _ in 0..rounds {
        let source = CancelSource::new();
        let token = source.token();
        let woken = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..3 {
                let token = token.clone();
                let woken = woken.clone();
                scope.spawn(move || {
                    let (count, waker) = counting();
                    let mut cx = Context::from_waker(&waker);
                    let mut wait = pin!(token.canceled());
                    if wait.as_mut().poll(&mut cx).is_pending() {
                        // Registered before or during cancel: must be woken.
                        while count.0.load(Ordering::SeqCst) == 0 {
                            std::thread::yield_now();
                        }
                        assert!(wait.as_mut().poll(&mut cx).is_ready());
                    }
                    woken.fetch_add(1, Ordering::SeqCst);
                });
            }
            source.cancel();
        });
        assert_eq!(woken.load(Ordering::SeqCst), 3);
    }
}

/// A task that counts whether it was dropped before it finished.
struct Watched<F> {
    inner: F,
    finished: bool,
    dropped_early: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for Watched<F> {
    type Output = F::Output;
    fn poll(mut self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = core::pin::Pin::new(&mut self.inner).poll(cx);
        if out.is_ready() {
            self.finished = true;
        }
        out
    }
}

impl<F> Drop for Watched<F> {
    fn drop(&mut self) {
        if !self.finished {
            self.dropped_early.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A task of the graceful tests, boxed so that tasks of different kinds share
/// one source.
type BoxTask = core::pin::Pin<alloc::boxed::Box<dyn Future<Output = Outcome<u8, &'static str>>>>;

/// What a graceful batch did to its tasks: how many it pulled, and how many it
/// dropped before they finished.
#[derive(Default)]
struct Seen {
    pulled: core::cell::Cell<usize>,
    dropped_early: Arc<AtomicUsize>,
}

impl Seen {
    /// `task`, counted as pulled now and watched for an early drop.
    fn watch(
        &self,
        task: impl Future<Output = Outcome<u8, &'static str>> + 'static,
    ) -> Watched<BoxTask> {
        self.pulled.set(self.pulled.get() + 1);
        Watched {
            inner: alloc::boxed::Box::pin(task),
            finished: false,
            dropped_early: self.dropped_early.clone(),
        }
    }

    /// A task that waits for `token`, then ends `Canceled` on its own.
    fn under(&self, token: &CancelToken) -> Watched<BoxTask> {
        self.watch(token.run(core::future::pending::<Result<u8, &'static str>>()))
    }

    /// A task that ignores the tokens and ends with what `sender` sends.
    fn later(
        &self,
    ) -> (
        futures::channel::oneshot::Sender<Outcome<u8, &'static str>>,
        Watched<BoxTask>,
    ) {
        let (sender, receiver) = futures::channel::oneshot::channel();
        let task = self.watch(async move { receiver.await.expect("the test sends an outcome") });
        (sender, task)
    }

    /// Ten tasks, counted as they are pulled: task 1 ignores `token` and ends
    /// with what the returned sender sends; the others wait for `token`, then
    /// end `Canceled`.
    fn one_late_rest_under<'a>(
        &'a self,
        token: &'a CancelToken,
    ) -> (
        futures::channel::oneshot::Sender<Outcome<u8, &'static str>>,
        impl Iterator<Item = Watched<BoxTask>> + 'a,
    ) {
        let (late, task) = self.later();
        let mut task = Some(task);
        let tasks = (0..10).map(move |i| match i {
            1 => task.take().expect("pulled once"),
            _ => self.under(token),
        });
        (late, tasks)
    }

    fn pulled(&self) -> usize {
        self.pulled.get()
    }

    fn dropped_early(&self) -> usize {
        self.dropped_early.load(Ordering::SeqCst)
    }
}

#[test]
fn graceful_stop_waits_for_the_tasks_in_flight_and_pulls_nothing_more() {
    let stop = CancelSource::new();
    let token = stop.token();
    let outside = CancelSource::new();
    let seen = Seen::default();
    let tasks = (0..10).map(|_| seen.under(&token));
    let mut batch = pin!(crate::settle_all(tasks)
        .limit(3)
        .cancel_on(outside.token().canceled())
        .graceful(&stop));
    assert!(batch.as_mut().poll(&mut noop_cx()).is_pending());
    assert_eq!(seen.pulled(), 3);
    outside.cancel();
    let Poll::Ready(outcomes) = batch.as_mut().poll(&mut noop_cx()) else {
        panic!("the tasks saw their token and ended");
    };
    // The three in flight ended on their own, as Canceled; none was dropped
    // early; nothing more was pulled.
    assert_eq!(
        outcomes,
        [Outcome::Canceled, Outcome::Canceled, Outcome::Canceled]
    );
    assert_eq!(seen.dropped_early(), 0);
    assert_eq!(seen.pulled(), 3);
}

#[test]
fn graceful_when_each_yields_the_tasks_in_flight_then_ends() {
    use futures_core::stream::{FusedStream, Stream};
    let stop = CancelSource::new();
    let token = stop.token();
    let outside = CancelSource::new();
    let seen = Seen::default();
    // Task 1 ignores the token; the others wait for it.
    let (late, tasks) = seen.one_late_rest_under(&token);
    let mut each = pin!(crate::when_each(tasks)
        .limit(3)
        .cancel_on(outside.token().canceled())
        .graceful(&stop));
    assert!(each.as_mut().poll_next(&mut noop_cx()).is_pending());
    assert_eq!(seen.pulled(), 3);
    outside.cancel();
    // 0 and 2 saw the token: yielded, not dropped; 1 is still running.
    let mut next = || each.as_mut().poll_next(&mut noop_cx());
    assert_eq!(next(), Poll::Ready(Some((0, Outcome::Canceled))));
    assert_eq!(next(), Poll::Ready(Some((2, Outcome::Canceled))));
    assert_eq!(next(), Poll::Pending);
    assert!(stop.is_canceled());
    late.send(Outcome::Completed(1)).unwrap();
    assert_eq!(next(), Poll::Ready(Some((1, Outcome::Completed(1)))));
    assert_eq!(next(), Poll::Ready(None));
    assert!(each.is_terminated());
    // Nothing was dropped, and the stop left the source unfinished.
    assert_eq!(each.canceled_count(), 0);
    assert!(each.is_canceled());
    assert_eq!(seen.dropped_early(), 0);
    assert_eq!(seen.pulled(), 3);
}

#[test]
fn graceful_when_any_stopped_before_a_winner_resolves_to_the_first_to_end() {
    use futures_core::stream::Stream;
    let stop = CancelSource::new();
    let token = stop.token();
    let outside = CancelSource::new();
    let seen = Seen::default();
    let mut race = crate::when_any((0..10).map(|_| seen.under(&token)))
        .limit(3)
        .cancel_on(outside.token().canceled())
        .graceful(&stop);
    assert!(pin!(&mut race).poll(&mut noop_cx()).is_pending());
    outside.cancel();
    let Poll::Ready(Some((index, outcome, mut rest))) = pin!(&mut race).poll(&mut noop_cx()) else {
        panic!("not given up: the tasks in flight ended on their own");
    };
    assert_eq!((index, outcome), (0, Outcome::Canceled));
    // The rest yields the others as they end, then ends.
    let mut next = || pin!(&mut rest).poll_next(&mut noop_cx());
    assert_eq!(next(), Poll::Ready(Some((1, Outcome::Canceled))));
    assert_eq!(next(), Poll::Ready(Some((2, Outcome::Canceled))));
    assert_eq!(next(), Poll::Ready(None));
    assert_eq!(seen.dropped_early(), 0);
    assert_eq!(seen.pulled(), 3);
}

#[test]
fn graceful_first_ok_waits_for_the_losers_and_discards_their_outcomes() {
    let stop = CancelSource::new();
    let token = stop.token();
    let seen = Seen::default();
    let (late_value, task_1) = seen.later();
    let (late_fault, task_2) = seen.later();
    let mut later = [Some(task_1), Some(task_2)];
    // 0 stops when told, 1 and 2 ignore the token, 3 wins at once.
    let tasks = (0..10).map(|i| match i {
        1 | 2 => later[i - 1].take().expect("pulled once"),
        3 => seen.watch(token.run(core::future::ready(Ok(3)))),
        _ => seen.under(&token),
    });
    let mut race = pin!(crate::first_ok(tasks).limit(5).graceful(&stop));
    // Won: `stop` is canceled, 0 ended Canceled, 1 and 2 are awaited.
    assert!(race.as_mut().poll(&mut noop_cx()).is_pending());
    assert!(stop.is_canceled());
    assert_eq!(seen.pulled(), 4, "nothing is pulled after the win");
    late_value.send(Outcome::Completed(100)).unwrap();
    assert!(race.as_mut().poll(&mut noop_cx()).is_pending());
    late_fault.send(Outcome::Faulted("late")).unwrap();
    // A later success does not replace the winner, a fault does not fail it.
    assert_eq!(race.as_mut().poll(&mut noop_cx()), Poll::Ready(Ok((3, 3))));
    assert_eq!(seen.dropped_early(), 0);
    assert_eq!(seen.pulled(), 4);
}

#[test]
fn graceful_first_ok_on_the_signal_keeps_every_fault_and_a_late_success_wins() {
    use crate::Failure;
    // Every task fails: every fault is kept, those raised while stopping too.
    let stop = CancelSource::new();
    let token = stop.token();
    let outside = CancelSource::new();
    let seen = Seen::default();
    let tasks = (0..10).map(|i| match i {
        0 => seen.watch(core::future::ready(Outcome::Faulted("boom"))),
        1 => {
            let token = token.clone();
            seen.watch(async move {
                token.canceled().await;
                Outcome::Faulted("cleanup failed")
            })
        }
        _ => seen.under(&token),
    });
    let mut race = pin!(crate::first_ok(tasks)
        .limit(3)
        .cancel_on(outside.token().canceled())
        .graceful(&stop));
    assert!(race.as_mut().poll(&mut noop_cx()).is_pending());
    assert_eq!(seen.pulled(), 4, "0 faulted at once, so 3 took its place");
    outside.cancel();
    let Poll::Ready(Err(Failure::Faulted(faults))) = race.as_mut().poll(&mut noop_cx()) else {
        panic!("every task in flight ended on its own");
    };
    assert_eq!(faults.into_vec(), [(0, "boom"), (1, "cleanup failed")]);
    assert_eq!(seen.dropped_early(), 0);
    assert_eq!(seen.pulled(), 4);

    // A task in flight that completes after the signal still wins.
    let stop = CancelSource::new();
    let token = stop.token();
    let outside = CancelSource::new();
    let seen = Seen::default();
    let (late, tasks) = seen.one_late_rest_under(&token);
    let mut race = pin!(crate::first_ok(tasks)
        .limit(3)
        .cancel_on(outside.token().canceled())
        .graceful(&stop));
    assert!(race.as_mut().poll(&mut noop_cx()).is_pending());
    outside.cancel();
    assert!(race.as_mut().poll(&mut noop_cx()).is_pending());
    late.send(Outcome::Completed(7)).unwrap();
    assert_eq!(race.as_mut().poll(&mut noop_cx()), Poll::Ready(Ok((1, 7))));
    assert_eq!(seen.dropped_early(), 0);
    assert_eq!(seen.pulled(), 3);
}

#[test]
fn graceful_fail_fast_keeps_every_fault() {
    use crate::Failure;
    let stop = CancelSource::new();
    let token = stop.token();
    // Task 0 faults when told to stop (it does not end Canceled); task 1
    // faults first, which stops the batch.
    let slow = {
        let token = token.clone();
        alloc::boxed::Box::pin(async move {
            token.canceled().await;
            Err::<u8, &str>("cleanup failed")
        })
            as core::pin::Pin<alloc::boxed::Box<dyn Future<Output = Result<u8, &str>> + Send>>
    };
    let quick = alloc::boxed::Box::pin(async { Err::<u8, &str>("boom") })
        as core::pin::Pin<alloc::boxed::Box<dyn Future<Output = Result<u8, &str>> + Send>>;
    let result =
        pin!(crate::when_all([slow, quick]).fail_fast().graceful(&stop)).poll(&mut noop_cx());
    let Poll::Ready(Err(Failure::Faulted(faults))) = result else {
        panic!("both faults, at once: {result:?}")
    };
    assert_eq!(faults.into_vec(), [(0, "cleanup failed"), (1, "boom")]);
}

#[test]
fn long_chains_of_children_neither_cancel_nor_drop_recursively() {
    let depth = if cfg!(miri) { 200 } else { 200_000 };
    let source = CancelSource::new();
    let mut token = source.token();
    let mut chain = Vec::new();
    for _ in 0..depth {
        let child = token.child();
        chain.push(token);
        token = child;
    }
    source.cancel();
    assert!(token.is_canceled());
    drop(chain);
    drop(token); // the last handle: unlinks the whole chain, iteratively

    let source = CancelSource::new();
    let mut token = source.token();
    for _ in 0..depth {
        token = token.child(); // each parent is kept alive only by its child
    }
    drop(token);
}
