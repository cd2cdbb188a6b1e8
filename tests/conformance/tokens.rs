//! Cancellation tokens (`fanout::cancel`): K1–K5, C1–C3 with a token's
//! `canceled()` as the batch signal, `CancelToken::run`,
//! `CancelSource::cancel_when`, and the graceful stop (`.graceful(&stop)`) of
//! `when_all`, `settle_all`, `for_each` and `for_each_async` (that of
//! `when_each`, `when_any` and `first_ok` is with their other cases).
//!
//! Every body but the `*_timed` ones is runtime-generic: progress comes from
//! gates, yields and (for the cross-thread cases) `std::thread`, never from a
//! clock. The `*_timed` bodies run on the virtual clock and assert virtual
//! times exactly. What a cancel must not leave behind (memory of dropped
//! children) is measured by a counting allocator in `tests/cancel_alloc.rs`.

use std::cell::{Cell, RefCell};
use std::future::{ready, Future};
use std::mem::size_of;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::thread;

use fanout::cancel::{
    CancelSource, CancelToken, CancelWhen, Canceled, DropGuard, Registration, Run,
};
use fanout::{for_each, for_each_async, join_all, settle_all, when_all, Failure, Outcome};
use futures::future::{join, join3, pending};
use futures::FutureExt;

use super::{
    boxed, count_polls, first_poll, pulls, yield_now, BoxTask, DropGuard as Dropped, Gates, Runtime,
};
use crate::support::jobs::{run_job, throw_job};
use crate::support::{clock, now, run_timed, sleep, Gate, PollCounter, Tracker};

// ---------------------------------------------------------------------------
// K5 at compile time: one word, `Send + Sync`, `'static` and `Unpin` where a
// signal needs it.
// ---------------------------------------------------------------------------

const _: () = {
    assert!(size_of::<CancelToken>() == size_of::<usize>());
    assert!(size_of::<Option<CancelToken>>() == size_of::<usize>());
    assert!(size_of::<CancelSource>() == size_of::<usize>());
};

fn send_sync<T: Send + Sync>() {}
fn send_sync_static_unpin<T: Send + Sync + Unpin + 'static>() {}
fn send_static<T: Send + 'static>() {}

const _: fn() = || {
    send_sync_static_unpin::<CancelToken>();
    send_sync_static_unpin::<CancelSource>();
    send_sync_static_unpin::<Canceled>();
    send_sync_static_unpin::<Registration>();
    send_sync_static_unpin::<DropGuard>();
    send_static::<Run<std::future::Ready<Result<u8, ()>>>>();
    send_static::<CancelWhen<std::future::Ready<()>>>();
    send_sync::<Run<std::future::Ready<Result<u8, ()>>>>();
};

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

/// A log shared with callbacks (which must be `Send + 'static`).
type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn logged<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

/// A callback that pushes `value` to `log`.
fn push<T: Send + 'static>(log: &Log<T>, value: T) -> impl FnOnce() + Send + 'static {
    let log = log.clone();
    move || log.lock().unwrap().push(value)
}

/// A callback that counts its calls in `calls`.
fn count(calls: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let calls = calls.clone();
    move || {
        calls.fetch_add(1, SeqCst);
    }
}

/// Waits for `token`, counting its polls in `polls` and its end in `done`.
fn waiter(
    token: &CancelToken,
    polls: &PollCounter,
    done: &PollCounter,
) -> impl Future<Output = ()> {
    let wait = count_polls(token.canceled(), polls.clone());
    let done = done.clone();
    async move {
        wait.await;
        done.incr();
    }
}

/// Runs one waiter per token inside `join_all` (each with its own waker)
/// next to a driver that, after a few yields, asserts that every waiter was
/// polled and is still waiting, then calls `cancel`. Returns each waiter's
/// poll count once all have ended.
fn wait_all_then<F: FnOnce()>(rt: &impl Runtime, tokens: &[CancelToken], cancel: F) -> Vec<usize> {
    let polls: Vec<PollCounter> = tokens.iter().map(|_| PollCounter::new()).collect();
    let done = PollCounter::new();
    let waiters = join_all(
        tokens
            .iter()
            .zip(&polls)
            .map(|(token, polls)| waiter(token, polls, &done)),
    );
    let driver = async {
        yield_now().await;
        yield_now().await;
        assert_eq!(done.get(), 0, "a waiter ended before the cancel");
        assert!(
            polls.iter().all(|p| p.get() >= 1),
            "a waiter was never polled"
        );
        cancel();
    };
    rt.block_on(join(waiters, driver));
    assert_eq!(done.get(), tokens.len());
    polls.iter().map(PollCounter::get).collect()
}

/// Runs `fut` alone inside a one-task `join_all`, which polls it only when
/// its own waker fired — not on every wake of a `join` it sits in.
async fn alone<F: Future>(fut: F) -> F::Output {
    join_all([fut]).await.pop().expect("one output")
}

/// A task of a graceful batch: waits for gate `i` and then gives `Ok(i)`;
/// under `token` (`CancelToken::run`), so it ends `Canceled` on its own when
/// the token fires first.
fn gated_under(
    token: &CancelToken,
    gates: &Gates,
    i: usize,
) -> Run<crate::support::GateFuture<Result<usize, &'static str>>> {
    token.run(gates.future(i, Ok(i)))
}

// ---------------------------------------------------------------------------
// K1
// ---------------------------------------------------------------------------

/// K1: `cancel()` is idempotent (callbacks run once however often it is
/// called), and the source, every token and every clone see it — clones made
/// after the cancel, and after the source is gone, too.
pub fn k1_cancel_is_idempotent_and_every_clone_sees_it(rt: &impl Runtime) {
    let source = CancelSource::new();
    let tokens: Vec<CancelToken> = (0..4).map(|_| source.token()).collect();
    let clones: Vec<CancelToken> = tokens.iter().map(Clone::clone).collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let _registration = tokens[0].register(count(&calls));
    assert!(!source.is_canceled());
    assert!(tokens.iter().chain(&clones).all(|t| !t.is_canceled()));

    source.cancel();
    assert!(source.is_canceled());
    assert!(tokens.iter().chain(&clones).all(CancelToken::is_canceled));
    assert_eq!(calls.load(SeqCst), 1);
    source.cancel();
    source.cancel();
    assert_eq!(calls.load(SeqCst), 1);
    assert!(source.is_canceled(), "once true, always true");

    assert!(source.token().is_canceled());
    assert!(tokens[2].clone().is_canceled());
    drop(source);
    assert!(clones[3].is_canceled());
    assert!(clones[3].clone().is_canceled());
    rt.block_on(clones[3].canceled());
    assert_eq!(calls.load(SeqCst), 1);
}

/// K1: `canceled()` futures already waiting — several at once inside one
/// `join_all` (each with its own waker), on clones of the token — are all
/// woken by the cancel, each exactly once; the same with one shared waker
/// (`futures::join!`). Later ones are ready on their first poll, and so is one
/// made before the cancel but first polled after it.
pub fn k1_waiting_canceled_futures_are_woken(rt: &impl Runtime) {
    let source = CancelSource::new();
    let token = source.token();
    let early = token.canceled(); // made now, first polled after the cancel
    let tokens: Vec<CancelToken> = (0..6).map(|_| token.clone()).collect();
    let polls = wait_all_then(rt, &tokens, || {
        source.cancel();
        source.cancel();
    });
    // Pending once, woken once, ready: `join_all` polls only woken children.
    assert_eq!(polls, [2; 6]);

    // One task, one waker, several registrations of it.
    let source = CancelSource::new();
    let token = source.token();
    let done = PollCounter::new();
    let (a, b, c) = (PollCounter::new(), PollCounter::new(), PollCounter::new());
    let waiters = async {
        futures::join!(
            waiter(&token, &a, &done),
            waiter(&token, &b, &done),
            waiter(&token.clone(), &c, &done),
        );
    };
    let driver = async {
        yield_now().await;
        assert_eq!(done.get(), 0);
        source.cancel();
    };
    rt.block_on(join(waiters, driver));
    assert_eq!(done.get(), 3);

    // Later ones: ready at once.
    assert_eq!(rt.block_on(first_poll(token.canceled())), Poll::Ready(()));
    assert_eq!(rt.block_on(first_poll(early)), Poll::Ready(()));
}

/// K1: a cancel from another thread (`std::thread`) wakes the waiters of
/// this one, on every runtime.
pub fn k1_cancel_from_another_thread_wakes_the_waiters(rt: &impl Runtime) {
    let source = CancelSource::new();
    let token = source.token();
    let (go, wait_for_go) = mpsc::channel::<()>();
    let canceller = thread::spawn(move || {
        wait_for_go.recv().unwrap();
        source.cancel();
        source.cancel();
    });
    let tokens: Vec<CancelToken> = (0..4)
        .map(|_| token.child())
        .chain([token.clone()])
        .collect();
    let polls = wait_all_then(rt, &tokens, || go.send(()).unwrap());
    canceller.join().unwrap();
    assert_eq!(polls, [2; 5]);
    assert!(tokens.iter().all(CancelToken::is_canceled));
}

/// K1 + K4 across threads: many threads cancel the same source at once; every
/// callback (on the token and on a child) runs exactly once, and every waiter
/// on other threads wakes.
pub fn k1_concurrent_cancels_deliver_exactly_once(rt: &impl Runtime) {
    for _ in 0..50 {
        let source = CancelSource::new();
        let token = source.token();
        let child = token.child();
        let calls = Arc::new(AtomicUsize::new(0));
        let registrations: Vec<Registration> = (0..8)
            .map(|i| (if i % 2 == 0 { &token } else { &child }).register(count(&calls)))
            .collect();
        thread::scope(|scope| {
            for _ in 0..2 {
                let child = child.clone();
                scope.spawn(move || futures::executor::block_on(child.canceled()));
            }
            for _ in 0..4 {
                scope.spawn(|| source.cancel());
            }
        });
        assert_eq!(calls.load(SeqCst), 8);
        drop(registrations);
        assert_eq!(calls.load(SeqCst), 8);
        rt.block_on(join(token.canceled(), child.canceled()));
    }
}

/// A waker that records whether it was woken.
#[derive(Debug, Default)]
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, SeqCst);
    }
}

/// K1 + K4 when a callback panics: the cancel's panic propagates, but every
/// other waiter and callback is still delivered — the documented promise
/// ("no waiter is left asleep") — including those of a child token that was
/// registered after the panicking callback (so its entries were taken out
/// first). A child left canceled with its waiters asleep would hang
/// `child.canceled().await` forever.
pub fn k1_a_panicking_callback_strands_no_waiter(rt: &impl Runtime) {
    let parent = CancelSource::new();
    let token = parent.token();
    let _boom = token.register(|| panic!("a callback panicked (on purpose)"));
    let child = token.child();
    let calls = Arc::new(AtomicUsize::new(0));
    let _on_child = child.register(count(&calls));
    let _on_parent = token.register(count(&calls));
    let flags: Vec<Arc<Flag>> = (0..2).map(|_| Arc::default()).collect();
    let mut waits = [child.canceled(), token.canceled()];
    for (wait, flag) in waits.iter_mut().zip(&flags) {
        let waker = std::task::Waker::from(flag.clone());
        let poll = std::pin::Pin::new(wait).poll(&mut std::task::Context::from_waker(&waker));
        assert!(poll.is_pending());
    }

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parent.cancel()));
    assert!(panicked.is_err(), "the callback's panic did not propagate");
    assert!(child.is_canceled());
    assert!(
        flags[1].0.load(SeqCst),
        "the parent's waiter was left asleep"
    );
    assert!(
        flags[0].0.load(SeqCst),
        "the child's waiter was left asleep"
    );
    assert_eq!(calls.load(SeqCst), 2, "a callback did not run");
    // The woken waiters are ready (never blocks: checked above).
    rt.block_on(async {
        for wait in &mut waits {
            wait.await;
        }
    });
}

/// A waker whose drop drops a registration (here: another `canceled()`
/// future) on the token it waits for — as when the last reference to a task
/// is the waker a token holds, and the task's future holds the token's
/// futures.
struct DropsARegistration(Mutex<Option<Canceled>>);

impl std::task::Wake for DropsARegistration {
    fn wake(self: Arc<Self>) {}
}

/// K1/K4, no user code under the token's lock: a `canceled()` future polled
/// again with a new waker replaces the old one; when dropping the old waker
/// unregisters something on the same token, that must not deadlock (the
/// docs: "no waker or callback ever runs under a lock"). Checked on a
/// helper thread with a deadline, so a deadlock fails instead of hanging.
pub fn k1_a_replaced_waker_is_dropped_outside_the_lock(_rt: &impl Runtime) {
    let (finished, wait_for_finish) = mpsc::channel();
    thread::spawn(move || {
        let source = CancelSource::new();
        let token = source.token();
        let mut other = token.canceled();
        let mut wait = token.canceled();
        let flag = Arc::new(Flag::default());
        {
            // Registers `other`, so dropping it unregisters.
            let waker = std::task::Waker::from(flag.clone());
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(std::pin::Pin::new(&mut other).poll(&mut cx).is_pending());
            let holder = Arc::new(DropsARegistration(Mutex::new(Some(other))));
            let waker = std::task::Waker::from(holder);
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(std::pin::Pin::new(&mut wait).poll(&mut cx).is_pending());
            // Now the token holds the only reference to `holder`.
        }
        let waker = std::task::Waker::from(flag.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut wait).poll(&mut cx).is_pending());
        source.cancel();
        assert!(flag.0.load(SeqCst));
        finished.send(()).unwrap();
    });
    assert!(
        wait_for_finish
            .recv_timeout(std::time::Duration::from_secs(10))
            .is_ok(),
        "deadlock: dropping the replaced waker re-entered the token's lock"
    );
}

// ---------------------------------------------------------------------------
// K2
// ---------------------------------------------------------------------------

/// K2: children (of the token, of a clone, of a child made from a source
/// that is since dropped) are canceled with their parent, their waiters
/// woken; a child of a canceled parent is canceled from the start.
pub fn k2_child_is_canceled_with_its_parent(rt: &impl Runtime) {
    let parent = CancelSource::new();
    let token = parent.token();
    let children: Vec<CancelToken> = vec![
        token.child(),
        token.child(),
        token.clone().child(),
        parent.token().child(),
    ];
    assert!(children.iter().all(|c| !c.is_canceled()));
    let calls = Arc::new(AtomicUsize::new(0));
    let _registrations: Vec<Registration> =
        children.iter().map(|c| c.register(count(&calls))).collect();
    let polls = wait_all_then(rt, &children, || {
        assert!(children.iter().all(|c| !c.is_canceled()));
        parent.cancel();
    });
    assert_eq!(polls, [2; 4]);
    assert!(children.iter().all(CancelToken::is_canceled));
    assert_eq!(calls.load(SeqCst), 4);

    // Already canceled parent: the child is canceled at once.
    let late = token.child();
    assert!(late.is_canceled());
    assert_eq!(rt.block_on(first_poll(late.canceled())), Poll::Ready(()));
    let ran = log();
    let _at_once = late.register(push(&ran, "at once"));
    assert_eq!(logged(&ran), ["at once"]);
    assert!(late.child().child().is_canceled());
}

/// K2: canceling a child (a source linked to the parent's token alone, which
/// is what `child()` is) cancels it and what is below it, never the parent
/// nor a sibling: their callbacks do not run, their waiters keep waiting.
pub fn k2_canceling_a_child_does_not_touch_the_parent(rt: &impl Runtime) {
    let parent = CancelSource::new();
    let token = parent.token();
    let child = CancelSource::linked([&token]);
    let below = child.token().child();
    let sibling = token.child();
    let calls = Arc::new(AtomicUsize::new(0));
    let _on_parent = token.register(count(&calls));
    let _on_sibling = sibling.register(count(&calls));
    let (parent_polls, done) = (PollCounter::new(), PollCounter::new());
    let parent_waiter = alone(waiter(&token, &parent_polls, &done));
    let driver = async {
        yield_now().await;
        child.cancel();
        assert!(child.is_canceled() && child.token().is_canceled() && below.is_canceled());
        for _ in 0..3 {
            yield_now().await;
        }
        assert!(!parent.is_canceled() && !token.is_canceled() && !sibling.is_canceled());
        assert_eq!(calls.load(SeqCst), 0);
        assert_eq!(done.get(), 0, "the parent's waiter woke up");
        assert_eq!(parent_polls.get(), 1, "the parent's waiter was woken");
        parent.cancel();
    };
    rt.block_on(join(parent_waiter, driver));
    assert!(sibling.is_canceled());
    assert_eq!(calls.load(SeqCst), 2);
}

/// K2: grandchildren and deeper: canceling the root cancels every level (an
/// intermediate child whose token was dropped still links its own children);
/// canceling a middle level cancels below it, not above. A chain 10,000
/// deep is canceled and dropped without overflowing the stack.
pub fn k2_grandchildren(rt: &impl Runtime) {
    let root = CancelSource::new();
    let child = root.token().child();
    let grandchild = child.child();
    let great = grandchild.child();
    let orphan = root.token().child().child(); // its parent's token is dropped
    let middle = CancelSource::linked([&child]);
    let below_middle = middle.token().child().child();
    let mut deep = root.token();
    for _ in 0..10_000 {
        deep = deep.child();
    }

    let mut never = CancelToken::never();
    for _ in 0..10_000 {
        never = never.child();
    }
    drop(never); // a chain dropped without a cancel

    middle.cancel();
    assert!(below_middle.is_canceled());
    assert!(!root.is_canceled() && !child.is_canceled() && !grandchild.is_canceled());

    let tokens = [
        grandchild.clone(),
        great.clone(),
        orphan.clone(),
        deep.clone(),
    ];
    let polls = wait_all_then(rt, &tokens, || root.cancel());
    assert_eq!(polls, [2; 4]);
    assert!([child, grandchild, great, orphan, deep]
        .iter()
        .all(CancelToken::is_canceled));
}

/// K2: a dropped child is unlinked: dropping it never cancels anything, its
/// forgotten callbacks are dropped with it (never run), and the parent keeps
/// working after many children came and went. (That memory does not grow is
/// measured in `tests/cancel_alloc.rs`.) A child kept alive only by its
/// `canceled()` future is still linked.
pub fn k2_dropped_children_are_unlinked(rt: &impl Runtime) {
    let parent = CancelSource::new();
    let token = parent.token();
    let drops = PollCounter::new();
    let calls = Arc::new(AtomicUsize::new(0));
    for i in 0..1000 {
        let child = token.child();
        let grandchild = child.child();
        let guard = Dropped::new(&drops);
        let calls = calls.clone();
        grandchild
            .register(move || {
                drop(guard);
                calls.fetch_add(1, SeqCst);
            })
            .forget();
        if i % 2 == 0 {
            drop(child);
            drop(grandchild);
        } else {
            drop(grandchild);
            drop(child);
        }
    }
    assert_eq!(
        drops.get(),
        1000,
        "the callbacks of dropped children were not dropped"
    );
    assert!(!parent.is_canceled());

    let kept = token.child().canceled(); // the token is gone, its future is not
    let (polls, done) = (PollCounter::new(), PollCounter::new());
    let wait = alone(count_polls(kept, polls.clone()));
    let driver = async {
        yield_now().await;
        assert_eq!(polls.get(), 1);
        parent.cancel();
    };
    rt.block_on(join(wait.map(|()| done.incr()), driver));
    assert_eq!(done.get(), 1);
    assert_eq!(calls.load(SeqCst), 0);
}

// ---------------------------------------------------------------------------
// K3
// ---------------------------------------------------------------------------

/// K3: a source linked to several tokens is canceled when any one of them is
/// (its waiters woken, its children too), and the other parents are not;
/// canceling the linked source touches no parent.
pub fn k3_linked_source_is_canceled_by_any_parent(rt: &impl Runtime) {
    for which in 0..3 {
        let parents: Vec<CancelSource> = (0..3).map(|_| CancelSource::new()).collect();
        let tokens: Vec<CancelToken> = parents.iter().map(CancelSource::token).collect();
        let linked = CancelSource::linked(&tokens);
        let observers = [linked.token(), linked.token().child()];
        assert!(!linked.is_canceled());
        let polls = wait_all_then(rt, &observers, || parents[which].cancel());
        assert_eq!(polls, [2, 2]);
        assert!(linked.is_canceled());
        for (i, parent) in parents.iter().enumerate() {
            assert_eq!(parent.is_canceled(), i == which);
        }
    }

    // Canceling the linked source touches no parent.
    let (a, b) = (CancelSource::new(), CancelSource::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let _ra = a.token().register(count(&calls));
    let _rb = b.token().register(count(&calls));
    let either = CancelSource::linked([&a.token(), &b.token()]);
    either.cancel();
    assert!(either.is_canceled() && !a.is_canceled() && !b.is_canceled());
    assert_eq!(calls.load(SeqCst), 0);
}

/// K3 edge cases: a parent already canceled cancels the linked source at
/// once; no parents at all is never canceled (like `CancelToken::never`); the
/// same parent twice, and linked sources of linked sources and children, all
/// follow.
pub fn k3_linked_edge_cases(rt: &impl Runtime) {
    let done = CancelSource::new();
    done.cancel();
    let fresh = CancelSource::new();
    let linked = CancelSource::linked([&fresh.token(), &done.token()]);
    assert!(linked.is_canceled());
    assert!(!fresh.is_canceled());
    assert_eq!(
        rt.block_on(first_poll(linked.token().canceled())),
        Poll::Ready(())
    );

    let orphan = CancelSource::linked([]);
    assert!(!orphan.is_canceled());
    assert!(rt
        .block_on(first_poll(orphan.token().canceled()))
        .is_pending());
    assert!(rt
        .block_on(first_poll(CancelToken::never().canceled()))
        .is_pending());
    assert!(!CancelToken::never().is_canceled());
    orphan.cancel();
    assert!(orphan.is_canceled());

    let root = CancelSource::new();
    let other = CancelSource::new();
    let twice = CancelSource::linked([&root.token(), &root.token()]);
    let nested = CancelSource::linked([&twice.token(), &other.token().child()]);
    let mixed = CancelSource::linked([&nested.token().child(), &CancelToken::never()]);
    let calls = Arc::new(AtomicUsize::new(0));
    let _r = twice.token().register(count(&calls));
    let observers = [twice.token(), nested.token(), mixed.token()];
    let polls = wait_all_then(rt, &observers, || root.cancel());
    assert_eq!(polls, [2; 3]);
    assert_eq!(
        calls.load(SeqCst),
        1,
        "linked twice to one parent, still called once"
    );
    assert!(!other.is_canceled());
}

// ---------------------------------------------------------------------------
// K4
// ---------------------------------------------------------------------------

/// K4: callbacks run exactly once, last registered first (across clones of
/// the token), on the thread that cancels; a later cancel runs none again;
/// one registered on a canceled token runs at once, before `register`
/// returns, on the registering thread.
pub fn k4_callbacks_run_once_last_registered_first(rt: &impl Runtime) {
    let source = CancelSource::new();
    let token = source.token();
    let order = log();
    let threads = log();
    let registrations: Vec<Registration> = (0..5)
        .map(|i| {
            let threads = threads.clone();
            let order = order.clone();
            token.clone().register(move || {
                order.lock().unwrap().push(i);
                threads.lock().unwrap().push(thread::current().id());
            })
        })
        .collect();
    let canceller = thread::spawn(move || {
        source.cancel();
        source.cancel();
        thread::current().id()
    })
    .join()
    .unwrap();
    assert_eq!(logged(&order), [4, 3, 2, 1, 0]);
    assert!(logged(&threads).iter().all(|&id| id == canceller));
    drop(registrations); // after the cancel: nothing happens
    assert_eq!(logged(&order), [4, 3, 2, 1, 0]);

    let late = token.register(push(&order, 99));
    assert_eq!(logged(&order), [4, 3, 2, 1, 0, 99]);
    let here = thread::current().id();
    let on_this_thread = log();
    let _also = token.child().register({
        let on_this_thread = on_this_thread.clone();
        move || on_this_thread.lock().unwrap().push(thread::current().id())
    });
    assert_eq!(logged(&on_this_thread), [here]);
    drop(late);
    rt.block_on(token.canceled());
    assert_eq!(logged(&order), [4, 3, 2, 1, 0, 99]);
}

/// K4: dropping a registration before the cancel unregisters it: the
/// callback never runs, and what it captured is dropped at once (also when the
/// registration is dropped on another thread). `forget()` keeps it
/// registered. The others keep their order.
pub fn k4_dropping_the_registration_unregisters_it(rt: &impl Runtime) {
    let source = CancelSource::new();
    let token = source.token();
    let order = log();
    let drops = PollCounter::new();
    let mut registrations: Vec<Option<Registration>> = (0..6)
        .map(|i| {
            let guard = Dropped::new(&drops);
            let order = order.clone();
            Some(token.register(move || {
                let _guard = guard;
                order.lock().unwrap().push(i);
            }))
        })
        .collect();
    drop(registrations[1].take());
    assert_eq!(drops.get(), 1, "the unregistered callback was not dropped");
    let third = registrations[3].take().unwrap();
    thread::spawn(move || drop(third)).join().unwrap();
    assert_eq!(drops.get(), 2);
    registrations[5].take().unwrap().forget();
    assert_eq!(drops.get(), 2, "forget() dropped the callback");
    token.register(push(&order, 6)).forget();

    rt.block_on(async {
        yield_now().await;
        source.cancel();
    });
    assert_eq!(logged(&order), [6, 5, 4, 2, 0]);
    assert_eq!(drops.get(), 6);
    drop(registrations);
    assert_eq!(logged(&order), [6, 5, 4, 2, 0]);
}

/// K4: a callback may itself register callbacks (on its own token: they run
/// at once; on another: they wait), cancel another source (whose callbacks
/// then run, even one that cancels the first source back), cancel its own
/// source again, make children, and drop registrations — without deadlock,
/// and each callback still runs once.
pub fn k4_callbacks_may_register_and_cancel_without_deadlock(rt: &impl Runtime) {
    // Sources shared with callbacks (a token cannot cancel; a source is not
    // `Clone`, so the callbacks hold it in an `Arc`).
    let a = Arc::new(CancelSource::new());
    let b = Arc::new(CancelSource::new());
    let c = CancelSource::new();
    let order = log();
    let (a_token, b_token, c_token) = (a.token(), b.token(), c.token());

    // On b: cancels a back (a cycle), registers on c (which waits).
    let _b1 = b_token.register({
        let order = order.clone();
        let a = a.clone();
        let c_token = c_token.clone();
        move || {
            order.lock().unwrap().push("b1");
            a.cancel();
            c_token
                .register(push(&order, "c1 (registered by b1)"))
                .forget();
        }
    });

    let held = Arc::new(Mutex::new(None::<Registration>));
    // On a, registered first, so it runs last.
    let _a1 = a_token.register(push(&order, "a1"));
    // On a: registers on a (runs at once), cancels b, cancels its own source
    // again, makes a child (already canceled), drops a registration on c.
    let _a2 = a_token.register({
        let order = order.clone();
        let a = a.clone();
        let b = b.clone();
        let held = held.clone();
        move || {
            order.lock().unwrap().push("a2");
            let inner = a.token().register(push(&order, "a2's own (at once)"));
            assert_eq!(order.lock().unwrap().last(), Some(&"a2's own (at once)"));
            drop(inner);
            b.cancel();
            b.cancel();
            a.cancel();
            assert!(a.token().child().is_canceled());
            drop(held.lock().unwrap().take());
        }
    });
    *held.lock().unwrap() = Some(c_token.register(push(&order, "c0 (unregistered)")));

    rt.block_on(async {
        yield_now().await;
        a.cancel();
        a.cancel();
    });
    assert!(a.is_canceled() && b.is_canceled());
    assert!(!c.is_canceled());
    assert_eq!(
        logged(&order),
        ["a2", "a2's own (at once)", "b1", "a1"],
        "each callback once, last registered first, nested cancels inline"
    );
    c.cancel();
    assert_eq!(
        logged(&order),
        [
            "a2",
            "a2's own (at once)",
            "b1",
            "a1",
            "c1 (registered by b1)"
        ]
    );
    rt.block_on(join3(
        a.token().canceled(),
        b.token().canceled(),
        c_token.canceled(),
    ));
}

// ---------------------------------------------------------------------------
// K5
// ---------------------------------------------------------------------------

/// K5: tokens cross threads (moved, shared by reference, registered on,
/// awaited on another executor there); a token is one word (asserted at
/// compile time above, with `Send + Sync`); a clone observes the same source.
/// (Cloning allocates nothing: `tests/cancel_alloc.rs`. Without `std`: the
/// crate builds with `--no-default-features`.)
pub fn k5_tokens_are_send_sync_and_cheap(rt: &impl Runtime) {
    let source = CancelSource::new();
    let token = source.token();
    let calls = Arc::new(AtomicUsize::new(0));
    let clones: Vec<CancelToken> = (0..1000).map(|_| token.clone()).collect();
    thread::scope(|scope| {
        for t in clones.chunks(250) {
            let calls = calls.clone();
            scope.spawn(move || {
                let _r: Vec<Registration> = t.iter().map(|t| t.register(count(&calls))).collect();
                futures::executor::block_on(t[0].canceled());
                assert!(t.iter().all(CancelToken::is_canceled));
            });
        }
        let by_ref = &token;
        scope.spawn(move || futures::executor::block_on(by_ref.canceled()));
        let moved = token.clone();
        scope.spawn(move || futures::executor::block_on(moved.canceled()));
        let source = &source;
        scope.spawn(move || source.cancel());
    });
    // Each thread waited for the cancel while holding its registrations.
    assert_eq!(calls.load(SeqCst), 1000);
    rt.block_on(token.canceled());
}

// ---------------------------------------------------------------------------
// C1–C3 with a token's `canceled()` as the signal
// ---------------------------------------------------------------------------

/// C1 with a token: fired before the first poll (the `canceled()` future made
/// before or after the cancel, on the token or on a child), nothing is pulled
/// and the batch is `Canceled`, for `when_all`, `settle_all` and `for_each`.
pub fn c1_token_canceled_before_the_first_poll_pulls_nothing(rt: &impl Runtime) {
    let source = CancelSource::new();
    let token = source.token();
    let made_before = token.canceled();
    let child = token.child();
    source.cancel();
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let tasks = || {
        pulls(
            (0..10).map(|i| tracker.track(ready(Ok::<_, ()>(i)))),
            &pulled,
        )
    };
    assert_eq!(
        rt.block_on(when_all(tasks()).cancel_on(made_before)),
        Err(Failure::Canceled)
    );
    assert_eq!(
        rt.block_on(
            when_all(tasks())
                .limit(2)
                .fail_fast()
                .cancel_on(token.canceled())
        ),
        Err(Failure::Canceled)
    );
    assert_eq!(
        rt.block_on(when_all(tasks()).cancel_on(child.canceled())),
        Err(Failure::Canceled)
    );
    assert_eq!(
        rt.block_on(settle_all(tasks()).cancel_on(token.canceled())),
        []
    );
    let processed = Cell::new(0);
    assert_eq!(
        rt.block_on(
            for_each(tasks(), |_, _| processed.set(processed.get() + 1))
                .cancel_on(token.canceled())
        ),
        Err(Failure::Canceled)
    );
    assert_eq!(pulled.get(), 0);
    assert_eq!(tracker.started(), 0);
    assert_eq!(processed.get(), 0);
}

/// C2 with a token: canceled mid-way, the batch drops every task in flight at
/// once (never polled again), records each `Canceled`, and pulls nothing more.
pub fn c2_token_canceled_midway_drops_the_tasks_in_flight(rt: &impl Runtime) {
    for face in 0..2 {
        let source = CancelSource::new();
        let token = source.token();
        let gates = Gates::new(10);
        let pulled = PollCounter::new();
        let tracker = Tracker::new();
        let tasks = pulls(
            (0..10).map(|i| tracker.track(gates.future(i, Ok::<_, ()>(i)))),
            &pulled,
        );
        let driver = async {
            gates.open_in_order([1, 0]).await;
            assert_eq!(tracker.in_flight(), 3);
            source.cancel();
            // Dropped, so opening their gates now polls nobody.
            gates.open_in_order(2..6).await;
        };
        if face == 0 {
            let batch = settle_all(tasks).limit(3).cancel_on(token.canceled());
            let (outcomes, ()) = rt.block_on(join(batch, driver));
            assert_eq!(
                outcomes,
                [
                    Outcome::Completed(0),
                    Outcome::Completed(1),
                    Outcome::Canceled,
                    Outcome::Canceled,
                    Outcome::Canceled,
                ]
            );
        } else {
            let batch = when_all(tasks).limit(3).cancel_on(token.canceled());
            let (result, ()) = rt.block_on(join(batch, driver));
            assert_eq!(result, Err(Failure::Canceled));
        }
        assert_eq!(pulled.get(), 5);
        assert_eq!(tracker.dropped_unfinished(), 3);
        assert_eq!(tracker.in_flight(), 0);
        assert_eq!(gates.all_polls()[2..], [1, 1, 1, 0, 0, 0, 0, 0]);
    }
}

/// C2 with a token canceled from another thread mid-way: the batch wakes,
/// drops its tasks in flight and ends `Canceled`.
pub fn c2_token_canceled_from_another_thread(rt: &impl Runtime) {
    let source = CancelSource::new();
    let token = source.token();
    let gates = Gates::new(6);
    let tracker = Tracker::new();
    let (go, wait_for_go) = mpsc::channel::<()>();
    let canceller = thread::spawn(move || {
        wait_for_go.recv().unwrap();
        source.cancel();
    });
    let batch = when_all((0..6).map(|i| tracker.track(gates.future(i, Ok::<_, ()>(i)))))
        .cancel_on(token.canceled());
    let driver = async {
        gates.open_in_order([4]).await;
        go.send(()).unwrap();
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    canceller.join().unwrap();
    assert_eq!(result, Err(Failure::Canceled));
    assert_eq!(tracker.finished(), 1);
    assert_eq!(tracker.dropped_unfinished(), 5);
}

/// C3 with tokens: a child's and a linked source's `canceled()` are signals
/// (the batch canceled by the parent's cancel); a token that is never
/// canceled changes nothing; faults before the token fires still win (A6).
pub fn c3_child_and_linked_tokens_are_signals(rt: &impl Runtime) {
    for kind in 0..2 {
        let parent = CancelSource::new();
        let other = CancelSource::new();
        let signal = if kind == 0 {
            parent.token().child()
        } else {
            CancelSource::linked([&other.token(), &parent.token()]).token()
        };
        let gates = Gates::new(3);
        let batch =
            when_all((0..3).map(|i| gates.future(i, Ok::<_, ()>(i)))).cancel_on(signal.canceled());
        let driver = async {
            gates.open_in_order([0]).await;
            parent.cancel();
        };
        assert_eq!(rt.block_on(join(batch, driver)).0, Err(Failure::Canceled));
    }

    let gates = Gates::new(3);
    let batch = when_all((0..3).map(|i| gates.future(i, Ok::<_, ()>(i))))
        .cancel_on(CancelToken::never().canceled());
    assert_eq!(
        rt.block_on(join(batch, gates.open_in_order(0..3))).0,
        Ok(vec![0, 1, 2])
    );

    let source = CancelSource::new();
    let gates = Gates::new(4);
    let batch = when_all((0..4).map(|i| gates.future(i, if i == 2 { Err(i) } else { Ok(i) })))
        .cancel_on(source.token().canceled());
    let driver = async {
        gates.open_in_order([2, 0]).await;
        source.cancel();
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), [(2, 2)]);
}

// ---------------------------------------------------------------------------
// CancelToken::run
// ---------------------------------------------------------------------------

/// `token.run(task)`: `Completed` / `Faulted` (or the task's own `Outcome`)
/// when the token does not fire; `Canceled` when it fires first — the task is
/// then dropped at once, not polled again; on a canceled token the task is
/// never polled; a task that finished before the cancel stays `Completed`
/// (O2); a task ready in the very poll the token is seen canceled loses
/// (canceled token wins ties, as documented).
pub fn run_ends_canceled_when_the_token_fires_first(rt: &impl Runtime) {
    let never = CancelToken::never();
    assert_eq!(
        rt.block_on(never.run(ready(Ok::<_, ()>(1)))),
        Outcome::Completed(1)
    );
    assert_eq!(
        rt.block_on(never.run(ready(Err::<u8, _>("boom")))),
        Outcome::Faulted("boom")
    );
    assert_eq!(
        rt.block_on(never.run(ready(Outcome::<u8, ()>::Canceled))),
        Outcome::Canceled
    );
    // Anything `IntoFuture`: here a `Run` of a `Run`.
    assert_eq!(
        rt.block_on(never.run(never.run(ready(Ok::<_, ()>(2))))),
        Outcome::Completed(2)
    );

    // The token fires while the task waits.
    let source = CancelSource::new();
    let token = source.token();
    let gate = Gate::new();
    let (polls, drops) = (PollCounter::new(), PollCounter::new());
    let task = {
        let guard = Dropped::new(&drops);
        let wait = gate.future(Ok::<u8, ()>(7), polls.clone());
        async move {
            let _guard = guard;
            wait.await
        }
    };
    let job = alone(token.run(task));
    let driver = async {
        yield_now().await;
        assert_eq!(polls.get(), 1);
        source.cancel();
        yield_now().await;
        assert_eq!(
            drops.get(),
            1,
            "the task was not dropped when the token fired"
        );
        gate.open();
    };
    let (outcome, ()) = rt.block_on(join(job, driver));
    assert_eq!(outcome, Outcome::Canceled);
    assert_eq!(polls.get(), 1);

    // Already canceled: never polled; ready task or not.
    let polls = PollCounter::new();
    let job = token.run(count_polls(ready(Ok::<u8, ()>(1)), polls.clone()));
    assert_eq!(rt.block_on(first_poll(job)), Poll::Ready(Outcome::Canceled));
    assert_eq!(polls.get(), 0);

    // Finished before the cancel: Completed (O2).
    let source = CancelSource::new();
    let outcome = rt.block_on(source.token().run(ready(Ok::<u8, ()>(3))));
    source.cancel();
    assert_eq!(outcome, Outcome::Completed(3));

    // Fused.
    let mut job = Box::pin(CancelToken::never().run(ready(Ok::<u8, ()>(4))));
    assert!(!futures::future::FusedFuture::is_terminated(&job));
    assert_eq!(rt.block_on(job.as_mut()), Outcome::Completed(4));
    assert!(futures::future::FusedFuture::is_terminated(&job));
}

/// `cancel_when(deadline)` on any future: cancels when the deadline
/// completes; gives up (ready, without waiting for the deadline) once the
/// source is canceled some other way; dropping it cancels nothing.
pub fn cancel_when_any_future(rt: &impl Runtime) {
    let source = CancelSource::new();
    let gate = Gate::new();
    let deadline = source.cancel_when(gate.future((), PollCounter::new()));
    let driver = async {
        yield_now().await;
        assert!(!source.is_canceled());
        gate.open();
    };
    rt.block_on(join(deadline, driver));
    assert!(source.is_canceled());

    let source = CancelSource::new();
    let deadline = source.cancel_when(pending::<()>());
    let driver = async {
        yield_now().await;
        source.cancel();
    };
    rt.block_on(join(deadline, driver)); // ends although `pending()` never does

    let source = CancelSource::new();
    drop(source.cancel_when(ready(())));
    assert!(!source.is_canceled());
    assert_eq!(
        rt.block_on(first_poll(source.cancel_when(pending::<()>()))),
        Poll::Pending
    );
    assert!(!source.is_canceled());
    rt.block_on(source.cancel_when(async {}));
    assert!(source.is_canceled());
}

// ---------------------------------------------------------------------------
// Graceful stop
// ---------------------------------------------------------------------------

/// `.graceful(&stop)` on the signal (`settle_all` and `when_all`): the tasks
/// in flight are not dropped (the drop-before-finish counter stays 0); they
/// see `stop` fire and end `Canceled` on their own; nothing more is pulled.
pub fn graceful_on_the_signal_waits_for_the_tasks_in_flight(rt: &impl Runtime) {
    for face in 0..2 {
        let stop = CancelSource::new();
        let token = stop.token();
        let outside = CancelSource::new();
        let gates = Gates::new(10);
        let pulled = PollCounter::new();
        let tracker = Tracker::new();
        let tasks = pulls(
            (0..10).map(|i| tracker.track(gated_under(&token, &gates, i))),
            &pulled,
        );
        let driver = async {
            gates.open_in_order([0]).await;
            assert_eq!(tracker.in_flight(), 3);
            assert!(!stop.is_canceled());
            outside.cancel();
        };
        if face == 0 {
            let batch = settle_all(tasks)
                .limit(3)
                .cancel_on(outside.token().canceled())
                .graceful(&stop);
            let (outcomes, ()) = rt.block_on(join(batch, driver));
            assert_eq!(
                outcomes,
                [
                    Outcome::Completed(0),
                    Outcome::Canceled,
                    Outcome::Canceled,
                    Outcome::Canceled,
                ]
            );
        } else {
            let batch = when_all(tasks)
                .limit(3)
                .cancel_on(outside.token().canceled())
                .graceful(&stop);
            let (result, ()) = rt.block_on(join(batch, driver));
            assert_eq!(result, Err(Failure::Canceled));
        }
        assert!(
            stop.is_canceled(),
            "the batch did not cancel its stop source"
        );
        assert_eq!(tracker.dropped_unfinished(), 0);
        assert_eq!(tracker.finished(), 4);
        assert_eq!(pulled.get(), 4);
        // Each was polled: once at the start, once when it saw the token.
        assert_eq!(gates.all_polls()[1..5], [1, 1, 1, 0]);
    }
}

/// `.graceful(&stop)` waits: a task in flight that ignores the token keeps
/// the batch pending until it ends on its own, and its value counts
/// (`Completed`, O2).
pub fn graceful_waits_for_a_task_that_ignores_the_token(rt: &impl Runtime) {
    let stop = CancelSource::new();
    let token = stop.token();
    let outside = CancelSource::new();
    let gates = Gates::new(5);
    let tracker = Tracker::new();
    let tasks: Vec<BoxTask<'_, Outcome<usize, &str>>> = (0..5)
        .map(|i| {
            if i == 1 {
                // Ignores its token.
                boxed(tracker.track(gates.future(i, Ok(i))).map(Outcome::from))
            } else {
                boxed(tracker.track(gated_under(&token, &gates, i)))
            }
        })
        .collect();
    let ended = Rc::new(Cell::new(false));
    let batch = {
        let ended = ended.clone();
        settle_all(tasks)
            .limit(3)
            .cancel_on(outside.token().canceled())
            .graceful(&stop)
            .inspect(move |_| ended.set(true))
    };
    let driver = async {
        yield_now().await;
        outside.cancel();
        for _ in 0..5 {
            yield_now().await;
        }
        assert!(!ended.get(), "the batch did not wait for task 1");
        assert_eq!(tracker.in_flight(), 1);
        gates.open(1);
    };
    let (outcomes, ()) = rt.block_on(join(batch, driver));
    assert_eq!(
        outcomes,
        [Outcome::Canceled, Outcome::Completed(1), Outcome::Canceled]
    );
    assert_eq!(tracker.dropped_unfinished(), 0);
}

/// `.graceful(&stop)` with `.fail_fast()`: the first fault cancels `stop`;
/// the tasks in flight end on their own — one `Canceled`, one with a fault of
/// its own (cleanup failed), one that ignores the token `Completed` — none
/// dropped, nothing more pulled, and every fault kept, in input order.
pub fn graceful_fail_fast_keeps_every_fault(rt: &impl Runtime) {
    for face in 0..2 {
        let stop = CancelSource::new();
        let token = stop.token();
        let gates = Gates::new(8);
        let pulled = PollCounter::new();
        let tracker = Tracker::new();
        let tasks = pulls(
            (0..8).map(|i| -> BoxTask<'static, Outcome<usize, &'static str>> {
                match i {
                    // Faults when told to stop.
                    0 => {
                        let token = token.clone();
                        boxed(tracker.track(async move {
                            token.canceled().await;
                            Outcome::Faulted("cleanup failed")
                        }))
                    }
                    1 => boxed(tracker.track(gates.future(i, Outcome::Faulted("boom")))),
                    // Ignores its token.
                    3 => boxed(tracker.track(gates.future(i, Outcome::Completed(i)))),
                    _ => boxed(tracker.track(token.run(gates.future(i, Ok::<_, &str>(i))))),
                }
            }),
            &pulled,
        );
        let ended = Rc::new(Cell::new(false));
        let driver = async {
            gates.open_in_order([1]).await;
            for _ in 0..3 {
                yield_now().await;
            }
            assert!(stop.is_canceled());
            assert!(!ended.get(), "the batch did not wait for task 3");
            gates.open(3);
        };
        if face == 0 {
            let ended = ended.clone();
            let batch = when_all(tasks)
                .limit(4)
                .fail_fast()
                .graceful(&stop)
                .inspect(move |_| ended.set(true));
            let (result, ()) = rt.block_on(join(batch, driver));
            let Err(Failure::Faulted(faults)) = result else {
                panic!("expected Faulted, got {result:?}");
            };
            assert_eq!(faults.into_vec(), [(0, "cleanup failed"), (1, "boom")]);
        } else {
            let ended = ended.clone();
            let batch = settle_all(tasks)
                .limit(4)
                .fail_fast()
                .graceful(&stop)
                .inspect(move |_| ended.set(true));
            let (outcomes, ()) = rt.block_on(join(batch, driver));
            assert_eq!(
                outcomes,
                [
                    Outcome::Faulted("cleanup failed"),
                    Outcome::Faulted("boom"),
                    Outcome::Canceled,
                    Outcome::Completed(3),
                ]
            );
        }
        assert_eq!(pulled.get(), 4);
        assert_eq!(tracker.dropped_unfinished(), 0);
        assert_eq!(tracker.finished(), 4);
    }
}

/// `.graceful(&stop)` on `for_each`, on the signal and on `.fail_fast()`:
/// the processor sees the values that completed, the tasks in flight end
/// `Canceled` on their own (not dropped), nothing more is pulled, every fault
/// is kept.
pub fn graceful_for_each(rt: &impl Runtime) {
    // On the signal.
    let stop = CancelSource::new();
    let token = stop.token();
    let outside = CancelSource::new();
    let gates = Gates::new(10);
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let seen = RefCell::new(Vec::new());
    let tasks = pulls(
        (0..10).map(|i| tracker.track(gated_under(&token, &gates, i))),
        &pulled,
    );
    let batch = for_each(tasks, |i, v| seen.borrow_mut().push((i, v)))
        .limit(3)
        .cancel_on(outside.token().canceled())
        .graceful(&stop);
    let driver = async {
        gates.open_in_order([2, 0]).await;
        outside.cancel();
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(result, Err(Failure::Canceled));
    assert_eq!(*seen.borrow(), [(2, 2), (0, 0)]);
    assert_eq!(pulled.get(), 5);
    assert_eq!(tracker.dropped_unfinished(), 0);
    assert_eq!(tracker.finished(), 5);

    // On the first fault.
    let stop = CancelSource::new();
    let token = stop.token();
    let gates = Gates::new(10);
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let seen = RefCell::new(Vec::new());
    let tasks = pulls(
        (0..10).map(|i| -> BoxTask<'static, Outcome<usize, String>> {
            if i == 2 {
                // Faults when told to stop.
                let token = token.clone();
                boxed(tracker.track(async move {
                    token.canceled().await;
                    Outcome::Faulted(format!("cleanup {i}"))
                }))
            } else {
                let value = if i == 1 {
                    Err(format!("boom {i}"))
                } else {
                    Ok(i)
                };
                boxed(tracker.track(token.run(gates.future(i, value))))
            }
        }),
        &pulled,
    );
    let batch = for_each(tasks, |i, v| seen.borrow_mut().push((i, v)))
        .limit(4)
        .fail_fast()
        .graceful(&stop);
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order([0, 1])));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(
        faults.into_vec(),
        [(1, "boom 1".to_string()), (2, "cleanup 2".to_string())]
    );
    assert_eq!(*seen.borrow(), [(0, 0)]);
    assert_eq!(
        pulled.get(),
        5,
        "0 finished, so 4 was pulled; nothing after the fault"
    );
    assert_eq!(tracker.dropped_unfinished(), 0);
    assert!(stop.is_canceled());
}

/// `.graceful(&stop)` on `for_each_async`: while the processor is busy, the
/// signal fires; the tasks in flight end `Canceled` on their own (not
/// dropped), values already waiting are still processed, nothing more is
/// pulled. Then with `.fail_fast()`: every fault kept.
pub fn graceful_for_each_async(rt: &impl Runtime) {
    let stop = CancelSource::new();
    let token = stop.token();
    let outside = CancelSource::new();
    let gates = Gates::new(10);
    let busy = Gate::new();
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let seen = RefCell::new(Vec::new());
    let tasks = pulls(
        (0..10).map(|i| tracker.track(gated_under(&token, &gates, i))),
        &pulled,
    );
    let batch = for_each_async(tasks, |i, v| {
        seen.borrow_mut().push((i, v));
        busy.future((), PollCounter::new())
    })
    .limit(4)
    .cancel_on(outside.token().canceled())
    .graceful(&stop);
    let driver = async {
        // 0 is being processed (busy), 1 waits in the backlog; 2, 3, 4 in
        // flight.
        gates.open_in_order([0, 1]).await;
        outside.cancel();
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(
            tracker.in_flight(),
            0,
            "the tasks in flight did not end on their own"
        );
        busy.open();
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(result, Err(Failure::Canceled));
    assert_eq!(*seen.borrow(), [(0, 0), (1, 1)]);
    // 4 was pulled when 0's value left the backlog for the processor.
    assert_eq!(pulled.get(), 5);
    assert_eq!(tracker.dropped_unfinished(), 0);
    assert_eq!(tracker.finished(), 5);

    // On the first fault.
    let stop = CancelSource::new();
    let token = stop.token();
    let gates = Gates::new(10);
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let seen = RefCell::new(Vec::new());
    let tasks = pulls(
        (0..10).map(|i| {
            tracker.track(token.run(gates.future(i, if i % 3 == 1 { Err(i) } else { Ok(i) })))
        }),
        &pulled,
    );
    let batch = for_each_async(tasks, |i, _| {
        seen.borrow_mut().push(i);
        yield_now()
    })
    .limit(3)
    .fail_fast()
    .graceful(&stop);
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order([0, 1])));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), [(1, 1)]);
    assert_eq!(*seen.borrow(), [0]);
    assert_eq!(pulled.get(), 4);
    assert_eq!(tracker.dropped_unfinished(), 0);
    assert_eq!(tracker.finished(), 4);
}

/// `.graceful(&stop)` that never stops: a batch that runs to the end leaves
/// `stop` alone (also after a fault without `.fail_fast()`); a signal fired
/// before the first poll pulls nothing and cancels `stop`.
pub fn graceful_stop_is_canceled_only_when_the_batch_stops(rt: &impl Runtime) {
    let stop = CancelSource::new();
    let token = stop.token();
    let ok =
        rt.block_on(when_all((0..5).map(|i| token.run(ready(Ok::<_, ()>(i))))).graceful(&stop));
    assert_eq!(ok, Ok(vec![0, 1, 2, 3, 4]));
    let faulted = rt.block_on(
        when_all((0..5).map(|i| token.run(ready(if i == 2 { Err(i) } else { Ok(i) }))))
            .graceful(&stop),
    );
    assert!(faulted.is_err());
    assert!(!stop.is_canceled());

    let fired = CancelSource::new();
    fired.cancel();
    let pulled = PollCounter::new();
    let batch = settle_all(pulls(
        (0..5).map(|i| token.run(ready(Ok::<_, ()>(i)))),
        &pulled,
    ))
    .cancel_on(fired.token().canceled())
    .graceful(&stop);
    assert_eq!(rt.block_on(batch), []);
    assert_eq!(pulled.get(), 0);
    assert!(stop.is_canceled());
    let batch = when_all(std::iter::repeat_with(|| ready(Ok::<u8, ()>(0))))
        .cancel_on(fired.token().canceled())
        .graceful(&stop);
    assert_eq!(rt.block_on(batch), Err(Failure::Canceled));
}

/// `.graceful(&stop)` with tasks built on children of `stop`'s token: the
/// children are canceled with it, so the tasks end `Canceled`.
pub fn graceful_with_child_tokens(rt: &impl Runtime) {
    let stop = CancelSource::new();
    let outside = CancelSource::new();
    let gates = Gates::new(4);
    let tracker = Tracker::new();
    let tasks: Vec<_> = (0..4)
        .map(|i| tracker.track(gated_under(&stop.token().child(), &gates, i)))
        .collect();
    let batch = settle_all(tasks)
        .cancel_on(outside.token().canceled())
        .graceful(&stop);
    let driver = async {
        gates.open_in_order([3]).await;
        outside.cancel();
    };
    let (outcomes, ()) = rt.block_on(join(batch, driver));
    assert_eq!(
        outcomes,
        [
            Outcome::Canceled,
            Outcome::Canceled,
            Outcome::Canceled,
            Outcome::Completed(3),
        ]
    );
    assert_eq!(tracker.dropped_unfinished(), 0);
}

// ---------------------------------------------------------------------------
// On the virtual clock
// ---------------------------------------------------------------------------

/// Records the virtual time at which the source is canceled (a callback runs
/// on the thread that cancels: here, the executor's).
fn canceled_at(token: &CancelToken) -> Arc<Mutex<Option<u64>>> {
    let at = Arc::new(Mutex::new(None));
    let record = at.clone();
    token
        .register(move || *record.lock().unwrap() = Some(now()))
        .forget();
    at
}

/// `token.run(job)` and `cancel_when(sleep(ms))` on the virtual clock: the
/// token fires at exactly `ms`; a job still running then ends `Canceled` at
/// `ms` (and its timer is gone), one that finished before is `Completed` at
/// its own time.
pub fn run_and_cancel_when_timed() {
    let (((outcome, ended), at), elapsed) = run_timed(async {
        let source = CancelSource::new();
        let at = canceled_at(&source.token());
        let job = source.token().run(run_job(100, 1)).map(|o| (o, now()));
        let (out, ()) = join(job, source.cancel_when(sleep(50))).await;
        assert_eq!(clock::pending_timers(), 0);
        (out, at)
    });
    let at = *at.lock().unwrap();
    assert_eq!(outcome, Outcome::Canceled);
    assert_eq!((ended, at, elapsed), (50, Some(50), 50));

    let (((outcome, ended), at), elapsed) = run_timed(async {
        let source = CancelSource::new();
        let at = canceled_at(&source.token());
        let job = source.token().run(run_job(100, 1)).map(|o| (o, now()));
        let (out, ()) = join(job, source.cancel_when(sleep(200))).await;
        (out, at)
    });
    let at = *at.lock().unwrap();
    assert_eq!(outcome, Outcome::Completed(1));
    assert_eq!((ended, at, elapsed), (100, Some(200), 200));

    // Faulted runs through.
    let (outcome, elapsed) = run_timed(CancelToken::never().run(throw_job(70)));
    assert!(outcome.is_faulted());
    assert_eq!(elapsed, 70);
}

/// `cancel_when` gives up as soon as the source is canceled some other way
/// (at 30 ms, before its 100 ms deadline): it ends then and its timer is
/// dropped; a linked deadline (parent's at 40 ms, child's own at 80 ms) fires
/// at the earlier one.
pub fn cancel_when_gives_up_early_timed() {
    let ((at, timers), elapsed) = run_timed(async {
        let source = CancelSource::new();
        let at = canceled_at(&source.token());
        let other_way = async {
            sleep(30).await;
            source.cancel();
        };
        join(source.cancel_when(sleep(100)), other_way).await;
        (at, clock::pending_timers())
    });
    let at = *at.lock().unwrap();
    assert_eq!((at, timers, elapsed), (Some(30), 0, 30));

    let (at, elapsed) = run_timed(async {
        let parent = CancelSource::new();
        let child = CancelSource::linked([&parent.token()]);
        let at = canceled_at(&child.token());
        join3(
            parent.cancel_when(sleep(40)),
            child.cancel_when(sleep(80)),
            child.token().canceled(),
        )
        .await;
        at
    });
    let at = *at.lock().unwrap();
    assert_eq!((at, elapsed), (Some(40), 40));
}

/// C2 on the virtual clock with a token: ten 100 ms jobs, two at a time,
/// `cancel_on(token.canceled())`, the token canceled at 250 ms by
/// `cancel_when(sleep(250))`: four completed, the two in flight dropped and
/// `Canceled`, at 250 ms.
pub fn c2_token_deadline_mid_batch_timed() {
    let tracker = Tracker::new();
    let pulled = PollCounter::new();
    let ((outcomes, ()), elapsed) = run_timed(async {
        let source = CancelSource::new();
        let jobs = pulls((0..10).map(|i| tracker.track(run_job(100, i))), &pulled);
        let batch = settle_all(jobs)
            .limit(2)
            .cancel_on(source.token().canceled());
        join(batch, source.cancel_when(sleep(250))).await
    });
    assert_eq!(
        outcomes,
        [
            Outcome::Completed(0),
            Outcome::Completed(1),
            Outcome::Completed(2),
            Outcome::Completed(3),
            Outcome::Canceled,
            Outcome::Canceled,
        ]
    );
    assert_eq!(elapsed, 250);
    assert_eq!(pulled.get(), 6);
    assert_eq!(tracker.dropped_unfinished(), 2);
}

/// The graceful stop on the virtual clock: six 100 ms jobs under `stop`'s
/// token, three at a time, stopped at 150 ms: the first wave completed at
/// 100, the second ends `Canceled` at 150 on its own (none dropped); jobs
/// that take 30 ms to wind down keep the batch until 180.
pub fn graceful_timed() {
    for cleanup in [0, 30] {
        let tracker = Tracker::new();
        let ends = log();
        let ((outcomes, ()), elapsed) = run_timed(async {
            let stop = CancelSource::new();
            let outside = CancelSource::new();
            let token = stop.token();
            let jobs = (0..6).map(|i| {
                let run = token.run(run_job(100, i));
                let ends = ends.clone();
                tracker.track(async move {
                    let outcome = run.await;
                    if outcome.is_canceled() {
                        sleep(cleanup).await;
                    }
                    ends.lock().unwrap().push((i, now()));
                    outcome
                })
            });
            let batch = settle_all(jobs)
                .limit(3)
                .cancel_on(outside.token().canceled())
                .graceful(&stop);
            join(batch, outside.cancel_when(sleep(150))).await
        });
        let c = Outcome::Completed;
        assert_eq!(
            outcomes,
            [
                c(0),
                c(1),
                c(2),
                Outcome::Canceled,
                Outcome::Canceled,
                Outcome::Canceled
            ]
        );
        assert_eq!(elapsed, 150 + cleanup);
        let end = 150 + cleanup;
        let mut ends = logged(&ends);
        ends.sort_unstable();
        assert_eq!(
            ends,
            [(0, 100), (1, 100), (2, 100), (3, end), (4, end), (5, end)]
        );
        assert_eq!(tracker.dropped_unfinished(), 0);
    }

    // Fail fast: a ThrowJob at 50 ms stops the 200 ms jobs at 50, gracefully.
    let tracker = Tracker::new();
    let (result, elapsed) = run_timed(async {
        let stop = CancelSource::new();
        let token = stop.token();
        let jobs: Vec<BoxTask<'_, Outcome<i32, crate::support::JobError>>> = (0..4)
            .map(|i| {
                if i == 2 {
                    boxed(tracker.track(throw_job(50).map(Outcome::from)))
                } else {
                    boxed(tracker.track(token.run(run_job(200, i))))
                }
            })
            .collect();
        when_all(jobs).fail_fast().graceful(&stop).await
    });
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.indices().collect::<Vec<_>>(), [2]);
    assert_eq!(elapsed, 50);
    assert_eq!(tracker.dropped_unfinished(), 0);
    assert_eq!(tracker.finished(), 4);
}
