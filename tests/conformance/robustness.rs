//! Robustness: B1–B5.

use std::future::{poll_fn, ready, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;

use fanout::{join_all, settle_all, when_all, Outcome};
use futures::channel::oneshot;
use futures::future::{join, select, Either};
use futures::task::noop_waker;

use super::{boxed, first_poll, yield_now, BoxTask, DropGuard, Gates, Runtime, XorShift};
use crate::support::{Gate, PollCounter, Tracker};

type Stash = Arc<Mutex<Vec<Waker>>>;

/// A task that stores a clone of its waker at every poll and never finishes.
fn stashing_task(stash: &Stash) -> impl Future<Output = Result<(), ()>> {
    let stash = Arc::clone(stash);
    poll_fn(move |cx| {
        stash.lock().unwrap().push(cx.waker().clone());
        Poll::Pending
    })
}

/// Wakes every waker from several threads at once, by reference and by
/// value, and drops the last clones on yet another thread.
fn wake_from_threads(wakers: Vec<Waker>) {
    thread::scope(|s| {
        for chunk in wakers.chunks(8) {
            s.spawn(move || {
                for _ in 0..100 {
                    for waker in chunk {
                        waker.wake_by_ref();
                        // A clone woken by value: releases the clone's reference.
                        #[allow(clippy::waker_clone_wake)]
                        waker.clone().wake();
                    }
                }
            });
        }
    });
    thread::spawn(move || wakers.into_iter().for_each(Waker::wake))
        .join()
        .unwrap();
}

/// B1: children's wakers outlive their batch: waking them from other threads
/// while the batch is being dropped, and after, is harmless.
pub fn b1_waker_outlives_the_batch(rt: &impl Runtime) {
    let stash = Stash::default();
    let wakes = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    rt.block_on(async {
        let mut batch = Box::pin(join_all((0..64).map(|_| stashing_task(&stash))));
        assert!(first_poll(batch.as_mut()).await.is_pending());
        let wakers = stash.lock().unwrap().clone();
        assert_eq!(wakers.len(), 64);
        thread::scope(|s| {
            for chunk in wakers.chunks(16) {
                let (wakes, stop) = (&wakes, &stop);
                s.spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        chunk.iter().for_each(Waker::wake_by_ref);
                        wakes.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
            // Drop the batch while four threads wake its children.
            while wakes.load(Ordering::SeqCst) < 4 {
                thread::yield_now();
            }
            drop(batch);
            let after = wakes.load(Ordering::SeqCst);
            while wakes.load(Ordering::SeqCst) < after + 4 {
                thread::yield_now();
            }
            stop.store(true, Ordering::SeqCst);
        });
    });
    // And once the executor is done with it, too.
    let wakers = std::mem::take(&mut *stash.lock().unwrap());
    wake_from_threads(wakers);
}

/// B1 for tasks dropped by a cancellation: their wakers outlive the batch.
pub fn b1_waker_outlives_a_canceled_batch(rt: &impl Runtime) {
    let stash = Stash::default();
    let signal = Gate::new();
    let batch = settle_all((0..32).map(|_| stashing_task(&stash)))
        .limit(16)
        .cancel_on(signal.future((), PollCounter::new()));
    let driver = async {
        yield_now().await;
        signal.open();
    };
    let (outcomes, ()) = rt.block_on(join(batch, driver));
    assert_eq!(outcomes, vec![Outcome::Canceled; 16]);
    let wakers = std::mem::take(&mut *stash.lock().unwrap());
    assert!(wakers.len() >= 16);
    wake_from_threads(wakers);
}

/// B1's everyday case: wakes from another thread while the batch runs reach
/// it; each task is polled exactly twice.
pub fn b1_wakes_from_another_thread_while_running(rt: &impl Runtime) {
    let n = 500;
    let gates = Gates::new(n);
    let batch = when_all((0..n).map(|i| gates.future(i, Ok::<_, ()>(i))));
    let mut opener = None;
    let driver = async {
        // The batch has polled every task once by now.
        let (gates, order) = (gates.clone(), XorShift::new(0xB1).permutation(n));
        opener = Some(thread::spawn(move || {
            for i in order {
                gates.open(i);
                if i % 16 == 0 {
                    thread::yield_now();
                }
            }
        }));
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    opener.unwrap().join().unwrap();
    assert_eq!(result, Ok((0..n).collect::<Vec<_>>()));
    assert!(gates.all_polls().iter().all(|&p| p == 2));
}

/// The cost model, on every runtime: a task that wakes itself or a sibling
/// while the batch polls it is only noted by the batch (the `std` feature),
/// so a batch of such tasks finishes within one poll of its own and never
/// wakes its executor — nested batches included. (Without `std` it still
/// finishes within one poll, but wakes its executor on the way.) The tasks here wake with
/// the waker they were given, directly (not through the chaos of the
/// deterministic executor, which may move a wake to another thread: such a
/// wake rightly wakes the executor).
pub fn b2_self_wakes_finish_in_one_poll_without_waking_the_executor(rt: &impl Runtime) {
    /// Counts the wakes of the batch's waker, then passes them on.
    struct Forward {
        wakes: Arc<AtomicUsize>,
        inner: Waker,
    }
    impl std::task::Wake for Forward {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.wakes.fetch_add(1, Ordering::SeqCst);
            self.inner.wake_by_ref();
        }
    }
    /// Pending `yields` times, waking itself each time (and, if given, a
    /// sibling's waker it kept), then ready with `value`.
    fn yielder(yields: usize, value: usize) -> impl Future<Output = usize> + Send {
        let mut left = yields;
        poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready(value);
            }
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
    }
    /// Wakes a sibling (the next task's last waker) instead of itself.
    fn waking_sibling(
        shared: Arc<Mutex<Vec<Option<Waker>>>>,
        me: usize,
    ) -> impl Future<Output = usize> + Send {
        let mut polls = 0;
        poll_fn(move |cx| {
            polls += 1;
            let mut wakers = shared.lock().unwrap();
            wakers[me] = Some(cx.waker().clone());
            if polls == 1 {
                // Park; a sibling (or, for the last one, the first's wake of
                // itself below) wakes us.
                if me == 0 {
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            // Woken: wake the next one, still parked, and finish.
            if let Some(next) = wakers.get(me + 1).and_then(Option::as_ref) {
                next.wake_by_ref();
            }
            Poll::Ready(me)
        })
    }
    let n = 64;
    let run = |batch: Pin<Box<dyn Future<Output = Vec<usize>> + Send>>| {
        let wakes = Arc::new(AtomicUsize::new(0));
        let polls = PollCounter::new();
        let (counted, wakes_seen) = (polls.clone(), wakes.clone());
        let mut batch = batch;
        let out = rt.block_on(poll_fn(move |cx| {
            counted.incr();
            let waker = Waker::from(Arc::new(Forward {
                wakes: wakes_seen.clone(),
                inner: cx.waker().clone(),
            }));
            batch.as_mut().poll(&mut Context::from_waker(&waker))
        }));
        let (polls, wakes) = (polls.get(), wakes.load(Ordering::SeqCst));
        assert_eq!(polls, 1, "the batch finishes in one poll");
        if cfg!(feature = "std") {
            assert_eq!(wakes, 0, "no executor wake");
        }
        // (Without `std` every wake is atomic, and once a batch has waited
        // (its executor's waker registered), the first wake of each round
        // reaches the executor, though the batch is done by then.)
        out
    };
    let expected: Vec<usize> = (0..n).collect();

    // Each task wakes itself three times.
    let flat = join_all((0..n).map(|i| yielder(3, i)));
    assert_eq!(run(Box::pin(flat)), expected);

    // Tasks wake each other: the first wakes itself, each then wakes the next.
    let shared = Arc::new(Mutex::new(vec![None; n]));
    let chain = join_all((0..n).map(|i| waking_sibling(shared.clone(), i)));
    assert_eq!(run(Box::pin(chain)), expected);

    // Nested: each task is a batch of self-waking tasks, through a limit.
    let nested = join_all((0..8).map(|outer| async move {
        let inner = join_all((0..8).map(|i| yielder(2, outer * 8 + i))).limit(3);
        inner.await.into_iter().max().unwrap()
    }));
    let nested = async move { nested.await.into_iter().map(|m| m / 8).collect::<Vec<_>>() };
    assert_eq!(run(Box::pin(nested)), (0..8).collect::<Vec<_>>());
}

/// B2: a child that wakes itself on every poll and never finishes does not
/// starve its sibling (which needs one wake) nor the executor: the batch
/// yields after a bounded round of work, and the sibling finishes.
pub fn b2_self_waking_child_does_not_starve_the_others(rt: &impl Runtime) {
    let spins = PollCounter::new();
    let spinner = {
        let spins = spins.clone();
        poll_fn(move |cx| {
            spins.incr();
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        })
    };
    let gate = Gate::new();
    let tracker = Tracker::new();
    let sibling = tracker.track(gate.future((), PollCounter::new()));
    let mut batch = pin!(join_all(vec![
        Either::Left(spinner),
        Either::Right(sibling)
    ]));
    let batch_polls = PollCounter::new();
    let counted = poll_fn(|cx| {
        batch_polls.incr();
        batch.as_mut().poll(cx)
    });
    let driver = async {
        gate.open();
        while tracker.finished() == 0 {
            yield_now().await;
        }
    };
    let winner = rt
        .block_on(async { matches!(select(pin!(counted), pin!(driver)).await, Either::Right(_)) });
    assert!(winner, "the batch cannot finish: the spinner never ends");
    assert_eq!(tracker.finished(), 1);
    // Two polls suffice: the first starts both children, the second sees the
    // sibling's wake. A bound, not an exact count.
    assert!(
        batch_polls.get() <= 3,
        "{} polls of the batch",
        batch_polls.get()
    );
    // Each poll of the batch did a bounded amount of work.
    assert!(
        spins.get() <= batch_polls.get() * 1024,
        "{} spins in {} polls",
        spins.get(),
        batch_polls.get()
    );
}

/// Polls `batch` (endless) alongside a driver that yields 5 times; returns
/// how many times the batch was polled. Panics if the driver cannot finish.
fn polls_beside_a_driver<F: Future>(rt: &impl Runtime, batch: F) -> usize {
    let mut batch = pin!(batch);
    let batch_polls = PollCounter::new();
    let counted = poll_fn(|cx| {
        batch_polls.incr();
        batch.as_mut().poll(cx)
    });
    let driver = async {
        for _ in 0..5 {
            yield_now().await;
        }
    };
    let driver_won = rt
        .block_on(async { matches!(select(pin!(counted), pin!(driver)).await, Either::Right(_)) });
    assert!(driver_won);
    batch_polls.get()
}

/// An endless source of instantly ready tasks that counts them, and panics
/// (instead of eating all memory) past a million.
fn endless_ready(made: &PollCounter) -> impl Iterator<Item = std::future::Ready<()>> + '_ {
    std::iter::from_fn(move || {
        made.incr();
        assert!(
            made.get() <= 1_000_000,
            "runaway: one poll of the batch pulled a million tasks"
        );
        Some(ready(()))
    })
}

/// B2: a source of endless, instantly ready tasks does not starve the
/// executor: every poll of a throttled batch returns after a bounded amount
/// of work.
pub fn b2_endless_ready_source_yields_to_the_executor(rt: &impl Runtime) {
    for limit in [1, 4, 1000] {
        let made = PollCounter::new();
        let polls = polls_beside_a_driver(rt, join_all(endless_ready(&made)).limit(limit));
        assert_eq!(polls, 6);
        assert!(
            made.get() > 0 && made.get() <= 6 * (1024 + limit),
            "{} tasks in {polls} polls",
            made.get()
        );
    }
}

/// B2 for an unthrottled batch over an endless ready source: each poll must
/// still return after a bounded amount of work.
pub fn b2_unthrottled_endless_ready_source_yields(rt: &impl Runtime) {
    let made = PollCounter::new();
    let polls = polls_beside_a_driver(rt, join_all(endless_ready(&made)));
    assert_eq!(polls, 6);
    assert!(
        made.get() <= 6 * 1024,
        "{} tasks in {polls} polls",
        made.get()
    );
}

/// Runs `batch` to completion, then polls it once more.
fn poll_after_completion<F: Future>(rt: &impl Runtime, batch: F) {
    let mut batch = pin!(batch);
    rt.block_on(batch.as_mut());
    let waker = noop_waker();
    let _ = batch.as_mut().poll(&mut Context::from_waker(&waker));
}

/// B3: polling a finished `join_all` panics with a clear message.
pub fn b3_join_all_polled_after_completion_panics(rt: &impl Runtime) {
    poll_after_completion(rt, join_all([ready(1)]));
}

/// B3: polling a finished `when_all` panics with a clear message.
pub fn b3_when_all_polled_after_completion_panics(rt: &impl Runtime) {
    poll_after_completion(rt, when_all([ready(Ok::<u8, ()>(1))]));
}

/// B3: polling a finished `settle_all` panics with a clear message.
pub fn b3_settle_all_polled_after_completion_panics(rt: &impl Runtime) {
    poll_after_completion(rt, settle_all([ready(Ok::<u8, ()>(1))]));
}

/// B3: the combinators are fused and say so (`is_terminated`).
pub fn b3_finished_batches_say_they_are_terminated(rt: &impl Runtime) {
    use futures::future::FusedFuture;
    fn check<F: FusedFuture>(rt: &impl Runtime, batch: F) {
        let mut batch = pin!(batch);
        assert!(!batch.is_terminated());
        rt.block_on(batch.as_mut());
        assert!(batch.is_terminated());
    }
    check(rt, join_all([ready(1)]));
    check(rt, when_all([ready(Ok::<u8, ()>(1))]));
    check(rt, settle_all([ready(Ok::<u8, ()>(1))]));
    check(rt, when_all([ready(Ok::<u8, ()>(1))]).cancel_on(async {}));
    check(rt, join_all(Vec::<std::future::Ready<u8>>::new()));
}

/// Ten tasks, each owning a drop guard: every third one is ready at once,
/// task 6 panics on its first poll, the others wait for a gate never opened.
fn panicky_tasks(drops: &PollCounter, gates: &Gates) -> Vec<BoxTask<'static, Result<usize, ()>>> {
    (0..10)
        .map(|i| {
            let guard = DropGuard::new(drops);
            let gate = gates.future(i, i);
            boxed(async move {
                let _guard = guard;
                if i == 6 {
                    panic!("child 6 panicked");
                }
                if i % 3 == 0 {
                    return Ok(i);
                }
                Ok(gate.await)
            })
        })
        .collect()
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Runs `run` expecting the panic of task 6 to come out of it, then checks
/// that every task was dropped. `run` gets the gates of the tasks, to open
/// them if it needs to reach task 6.
fn expect_child_panic(run: impl FnOnce(Vec<BoxTask<'static, Result<usize, ()>>>, &Gates)) {
    let drops = PollCounter::new();
    let gates = Gates::new(10);
    let tasks = panicky_tasks(&drops, &gates);
    let payload =
        catch_unwind(AssertUnwindSafe(|| run(tasks, &gates))).expect_err("the panic was swallowed");
    assert_eq!(panic_message(&*payload), Some("child 6 panicked"));
    assert_eq!(drops.get(), 10, "tasks leaked");
}

/// B4: a panicking task propagates out of the combinator's poll, and every
/// other task (finished, pending, not yet polled) is dropped.
pub fn b4_panicking_child_propagates_and_drops_the_others(rt: &impl Runtime) {
    expect_child_panic(|tasks, _| {
        rt.block_on(join_all(tasks));
    });
    expect_child_panic(|tasks, _| {
        let _ = rt.block_on(when_all(tasks));
    });
    expect_child_panic(|tasks, _| {
        rt.block_on(settle_all(tasks));
    });
    expect_child_panic(|tasks, _| {
        let batch = when_all(tasks)
            .fail_fast()
            .cancel_on(futures::future::pending::<()>());
        let _ = rt.block_on(batch);
    });
}

/// B4 under a limit, with the panic on a later poll of the batch (task 6 is
/// pulled only once earlier gates open); tasks not yet pulled are dropped
/// with the source.
pub fn b4_panicking_child_under_limit_drops_everything(rt: &impl Runtime) {
    // Limit 3: 1, 2, 4 in flight; opening 1 pulls 5, opening 2 pulls 6.
    expect_child_panic(|tasks, gates| {
        rt.block_on(join(join_all(tasks).limit(3), gates.open_in_order([1, 2])));
    });
    // Limit 2: 1, 2 in flight; then 4, 5; then 6.
    expect_child_panic(|tasks, gates| {
        let batch = settle_all(tasks).limit(2);
        rt.block_on(join(batch, gates.open_in_order([1, 2, 4, 5])));
    });
}

/// Three tasks: 0 panics on its first poll (without waking itself), 1
/// waits for `receive`, 2 is ready at once. Under a limit of 1 or none.
fn lost_task_batch(receive: oneshot::Receiver<()>) -> Vec<BoxTask<'static, Result<usize, ()>>> {
    vec![
        boxed(async { panic!("task 0 panics") }),
        boxed(async move {
            receive.await.expect("the driver sends");
            Ok(1)
        }),
        boxed(async { Ok(2) }),
    ]
}

/// Drives a batch of [`lost_task_batch`] as a caller that catches panics
/// does (`poll` is one poll of it): after the first panic it polls again at
/// once (as the crate docs say to), sends the oneshot once the batch waits,
/// and goes on until a second panic comes out. Returns both messages. Fails
/// if the batch resolves, or if it is still pending after 100 more polls
/// (the old defect: `Pending` forever).
fn second_panic(
    rt: &impl Runtime,
    send: oneshot::Sender<()>,
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<()>,
) -> Vec<String> {
    let mut send = Some(send);
    let mut panics = Vec::new();
    let mut waits = 0;
    rt.block_on(poll_fn(move |cx| loop {
        match catch_unwind(AssertUnwindSafe(|| poll(cx))) {
            Ok(Poll::Ready(())) => panic!("the batch resolved without task 0's outcome"),
            Ok(Poll::Pending) => {
                match send.take() {
                    // Wakes task 1, and through it the batch.
                    Some(send) => send.send(()).expect("task 1 waits"),
                    None => {
                        // Task 1 was sent its value: poll again (without
                        // waiting for a wake, so a hang fails the test).
                        waits += 1;
                        assert!(waits < 100, "the batch never ends: {panics:?}");
                        cx.waker().wake_by_ref();
                    }
                }
                return Poll::Pending;
            }
            Err(payload) => {
                panics.push(panic_message(&*payload).unwrap_or_default().to_string());
                if panics.len() == 2 {
                    return Poll::Ready(std::mem::take(&mut panics));
                }
            }
        }
    }))
}

/// Checks the two panics of [`second_panic`]: task 0's own, then the
/// batch's, naming task 0.
fn assert_names_task_0(face: &str, panics: &[String]) {
    assert_eq!(panics[0], "task 0 panics", "{face}");
    assert!(
        panics[1].starts_with("fanout: task 0 has no result: it panicked"),
        "{face}: {panics:?}"
    );
}

/// B4, polled again (issue 25's defect): a batch polled again after a
/// task's first poll panicked (under `catch_unwind`) never polls that task
/// again, runs the others to their ends — handing out what a face hands
/// out as it goes — and then panics, naming the task, where it would have
/// resolved; it once returned `Pending` forever. For every face, with and
/// without a limit, and for tuples and arrays (inline and run by the
/// engine).
pub fn b4_polled_again_after_a_panic_the_batch_names_the_task(rt: &impl Runtime) {
    use fanout::{first_ok, for_each, when_any, when_each, Join as _};
    use futures::Stream;
    type Batch = Vec<BoxTask<'static, Result<usize, ()>>>;
    /// One poll of a batch, whatever its face.
    type PollOnce = Box<dyn FnMut(&mut Context<'_>) -> Poll<()>>;
    /// Builds a face over a batch, with a limit.
    type Face = fn(Batch, usize) -> PollOnce;
    fn future<F: Future>(batch: F) -> impl FnMut(&mut Context<'_>) -> Poll<()> {
        let mut batch = Box::pin(batch);
        move |cx| batch.as_mut().poll(cx).map(drop)
    }
    let faces: [(&str, Face); 7] = [
        ("join_all", |b, l| Box::new(future(join_all(b).limit(l)))),
        ("when_all", |b, l| Box::new(future(when_all(b).limit(l)))),
        ("settle_all", |b, l| {
            Box::new(future(settle_all(b).limit(l)))
        }),
        ("first_ok", |b, l| Box::new(future(first_ok(b).limit(l)))),
        ("when_any", |b, l| Box::new(future(when_any(b).limit(l)))),
        ("for_each", |b, l| {
            Box::new(future(for_each(b, |_, _| {}).limit(l)))
        }),
        ("for_each_async", |b, l| {
            Box::new(future(fanout::for_each_async(b, |_, _| async {}).limit(l)))
        }),
    ];
    for (face, make) in faces {
        for limit in [usize::MAX, 1] {
            let (send, receive) = oneshot::channel();
            let poll = make(lost_task_batch(receive), limit);
            let panics = second_panic(rt, send, poll);
            assert_names_task_0(&format!("{face}, limit {limit}"), &panics);
        }
    }

    // `when_each` hands out tasks 1 and 2 as they finish, then ends by
    // naming task 0 instead of ending the stream.
    for limit in [usize::MAX, 1] {
        let (send, receive) = oneshot::channel();
        let mut stream = Box::pin(when_each(lost_task_batch(receive)).limit(limit));
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let items = seen.clone();
        let panics = second_panic(rt, send, move |cx| loop {
            match stream.as_mut().poll_next(cx) {
                Poll::Ready(Some((index, output))) => items.borrow_mut().push((index, output)),
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        });
        assert_names_task_0(&format!("when_each, limit {limit}"), &panics);
        let mut seen = seen.borrow().clone();
        seen.sort_unstable();
        assert_eq!(seen, [(1, Ok(1)), (2, Ok(2))], "nothing finished is lost");
    }

    // A tuple, an inline array, and an array long enough for the engine.
    let (send, receive) = oneshot::channel();
    let [t0, t1, t2]: [_; 3] = lost_task_batch(receive).try_into().ok().expect("three");
    let panics = second_panic(rt, send, future((t0, t1, t2).when_all()));
    assert_names_task_0("tuple when_all", &panics);

    let (send, receive) = oneshot::channel();
    let array: [_; 3] = lost_task_batch(receive).try_into().ok().expect("three");
    let panics = second_panic(rt, send, future(array.settle_all()));
    assert_names_task_0("array settle_all", &panics);

    let (send, receive) = oneshot::channel();
    let mut tasks = lost_task_batch(receive);
    tasks.extend((3..40).map(|i| boxed(async move { Ok::<usize, ()>(i) })));
    let array: [_; 40] = tasks.try_into().ok().expect("forty");
    let panics = second_panic(rt, send, future(array.join_all()));
    assert_names_task_0("array of 40 join_all", &panics);
}

/// B4: a panic in the source's `next()` propagates too; the tasks pulled so
/// far are dropped.
pub fn b4_panicking_source_propagates(rt: &impl Runtime) {
    let drops = PollCounter::new();
    let made = PollCounter::new();
    let mut i = 0;
    let source = std::iter::from_fn(|| {
        i += 1;
        assert!(i < 4, "source panicked");
        made.incr();
        let guard = DropGuard::new(&drops);
        Some(async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
        })
    });
    let payload = catch_unwind(AssertUnwindSafe(|| rt.block_on(join_all(source))))
        .expect_err("the panic was swallowed");
    assert_eq!(panic_message(&*payload), Some("source panicked"));
    assert_eq!(made.get(), 3);
    assert_eq!(drops.get(), 3);
}

/// B5: 1,000,000 tasks in one batch work (unthrottled, and throttled over a
/// lazy source).
pub fn b5_a_million_ready_tasks(rt: &impl Runtime) {
    const N: usize = 1_000_000;
    let outputs = rt.block_on(join_all((0..N).map(ready)));
    assert_eq!(outputs.len(), N);
    assert!(outputs.iter().enumerate().all(|(i, &o)| i == o));

    let result = rt.block_on(when_all((0..N).map(|i| ready(Ok::<_, ()>(i)))).limit(64));
    let values = result.unwrap();
    assert_eq!(values.len(), N);
    assert!(values.iter().enumerate().all(|(i, &v)| i == v));

    // Now and then a task that needs a wake, so the batch really pends.
    let outcomes = rt.block_on(
        settle_all((0..N).map(|i| async move {
            if i % 1000 == 0 {
                yield_now().await;
            }
            Ok::<_, ()>(i)
        }))
        .limit(1024),
    );
    assert_eq!(outcomes.len(), N);
    assert_eq!(outcomes[N - 1], Outcome::Completed(N - 1));
}
