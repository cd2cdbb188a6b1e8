//! Wakes on the engine's own thread while it runs only leave a note in the
//! local bit set (`engine/self_wake.rs`): the executor is never woken for
//! them, yet every task is still polled exactly wakes + 1 times, and every
//! other wake (another thread, a nested batch's parent, after a panic) still
//! takes the shared path — which wakes the executor once the batch has
//! registered its waker, that is once it has waited.

use super::super::self_wake::{is_running, Running};
use super::super::Engine;
use super::{counting_waker, YieldN, YieldOnce};
use crate::signal::NoSignal;
use crate::source::IntoSource;
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::{pin, Pin};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

extern crate std;

/// Wakes `waker` on a scoped thread (where no engine runs), and waits for it.
fn wake_from_another_thread(waker: &Waker) {
    std::thread::scope(|scope| {
        scope.spawn(|| waker.wake_by_ref());
    });
}

/// Polls `batch` once with a counting waker: its output if it finished, and
/// how many times the executor was woken.
fn poll_once<F: Future>(batch: F) -> (Poll<F::Output>, usize) {
    let batch = pin!(batch);
    let (count, waker) = counting_waker();
    let polled = batch.poll(&mut Context::from_waker(&waker));
    (polled, count.0.load(Ordering::SeqCst))
}

#[test]
fn self_wakes_finish_in_one_run_without_waking_the_executor() {
    // (Within the budget of one run: n + 256 polls.)
    for n in [2, 8, 64, 65, 200] {
        let polls: Vec<Arc<AtomicUsize>> = (0..n).map(|_| Arc::default()).collect();
        let tasks: Vec<YieldN> = (0..n)
            .map(|i| YieldN {
                left: i % 3,
                polls: polls[i].clone(),
            })
            .collect();
        let (polled, wakes) = poll_once(crate::join_all(tasks));
        let Poll::Ready(outputs) = polled else {
            panic!("{n} self-waking tasks finish within the first poll")
        };
        // Polls per task = wakes + 1, exactly, as on the shared path.
        let want: Vec<usize> = (0..n).map(|i| i % 3 + 1).collect();
        assert_eq!(outputs, want, "n = {n}");
        // Without thread-locals every wake is shared, but none wakes the
        // executor either: the batch registers its waker only when it is
        // about to wait, and this one never does.
        assert_eq!(wakes, 0, "n = {n}: notes, not wakes of the executor");
    }
}

#[test]
fn a_task_that_wakes_a_sibling_while_polled_gets_it_polled_in_the_next_round() {
    // Task 1 parks and hands out its waker; task 0, on its second poll,
    // wakes it (a channel between siblings).
    let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
    let polls = Rc::new(Cell::new([0usize; 2]));
    let sender = {
        let (parked, polls) = (parked.clone(), polls.clone());
        core::future::poll_fn(move |cx| {
            let mut p = polls.get();
            p[0] += 1;
            polls.set(p);
            if p[0] == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            parked.borrow_mut().take().expect("task 1 parked").wake();
            Poll::Ready(0)
        })
    };
    let receiver = {
        let (parked, polls) = (parked.clone(), polls.clone());
        core::future::poll_fn(move |cx| {
            let mut p = polls.get();
            p[1] += 1;
            polls.set(p);
            if p[1] == 1 {
                *parked.borrow_mut() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(1)
        })
    };
    let tasks: Vec<Pin<alloc::boxed::Box<dyn Future<Output = i32>>>> = alloc::vec![
        alloc::boxed::Box::pin(sender),
        alloc::boxed::Box::pin(receiver)
    ];
    let (polled, wakes) = poll_once(crate::join_all(tasks));
    assert_eq!(polled, Poll::Ready(alloc::vec![0, 1]));
    assert_eq!(polls.get(), [2, 2], "each task polled wakes + 1 times");
    // (Without `std` the wake is shared, but the batch never waits, so its
    // executor's waker is never registered, let alone woken.)
    assert_eq!(wakes, 0);
}

#[test]
fn a_wake_from_another_thread_during_a_poll_takes_the_shared_path() {
    // The batch first waits (its first poll parks the task without a wake),
    // which registers the executor's waker. On its second poll the task's
    // waker is woken on a scoped thread while the task is being polled. That
    // thread has no engine running, so the wake goes through the shared set
    // and wakes the executor; the task is still polled again, in the same
    // run (the batch looks at the shared set before it waits).
    let polls = Cell::new(0);
    let parked: RefCell<Option<Waker>> = RefCell::new(None);
    let task = core::future::poll_fn(|cx| {
        polls.set(polls.get() + 1);
        match polls.get() {
            1 => *parked.borrow_mut() = Some(cx.waker().clone()),
            2 => wake_from_another_thread(cx.waker()),
            _ => return Poll::Ready(()),
        }
        Poll::Pending
    });
    let mut batch = pin!(crate::join_all([task]));
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(batch.as_mut().poll(&mut cx), Poll::Pending);
    parked.borrow_mut().take().expect("parked").wake();
    assert_eq!(count.0.load(Ordering::SeqCst), 1, "the parked task's wake");
    assert_eq!(batch.as_mut().poll(&mut cx), Poll::Ready(alloc::vec![()]));
    assert_eq!(polls.get(), 3);
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        2,
        "the shared path wakes the executor once"
    );
}

#[test]
fn a_wake_after_the_round_is_seen_by_the_last_look() {
    // A batch that has never waited has no executor's waker registered.
    // The task's first poll leaves a note, so a round polls it again; during
    // that second poll (after the round took the sets) another thread wakes
    // it. The batch registers only when it is about to wait, then looks at
    // its sets once more: the look finds the bit, so the task is polled a
    // third time in the same poll of the batch, and the executor is never
    // woken. (Without the look, the batch would wait for a wake that went
    // nowhere.)
    let polls = Cell::new(0);
    let task = core::future::poll_fn(|cx| {
        polls.set(polls.get() + 1);
        match polls.get() {
            1 => cx.waker().wake_by_ref(),
            2 => wake_from_another_thread(cx.waker()),
            _ => return Poll::Ready(()),
        }
        Poll::Pending
    });
    let (polled, wakes) = poll_once(crate::join_all([task]));
    assert_eq!(polled, Poll::Ready(alloc::vec![()]), "the wake was lost");
    assert_eq!(polls.get(), 3);
    assert_eq!(wakes, 0);
}

#[test]
fn a_wake_after_a_panic_in_the_first_poll_is_kept_for_the_next_poll() {
    // The batch panics in the poll that started it, before it ever waited,
    // so no executor's waker is registered: a wake of a parked task then
    // reaches no executor (documented: poll the batch again), but it is not
    // lost — the next poll polls that task.
    let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
    let polls = Rc::new(Cell::new(0));
    let tasks: Vec<Pin<alloc::boxed::Box<dyn Future<Output = ()>>>> = alloc::vec![
        alloc::boxed::Box::pin({
            let (parked, polls) = (parked.clone(), polls.clone());
            core::future::poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                *parked.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
        }),
        alloc::boxed::Box::pin({
            let mut polled = false;
            core::future::poll_fn(move |cx| -> Poll<()> {
                assert!(!polled, "task 1 fails");
                polled = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            })
        }),
    ];
    let mut engine = alloc::boxed::Box::pin(Engine::new(tasks.into_source(), NoSignal));
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
        engine.as_mut().start_turn();
        let _ = engine.as_mut().poll_event(&mut cx);
    }));
    assert!(caught.is_err());
    assert_eq!(polls.get(), 1);
    parked.borrow_mut().take().expect("task 0 parked").wake();
    assert_eq!(count.0.load(Ordering::SeqCst), 0, "nothing registered yet");
    engine.as_mut().start_turn();
    assert!(engine.as_mut().poll_event(&mut cx).is_pending());
    assert_eq!(polls.get(), 2, "the wake was kept for the next poll");
}

#[test]
fn nested_batches_each_note_their_own_tasks() {
    // An outer batch of inner batches of self-waking tasks: each inner batch
    // runs its tasks to the end within its own run, so the outer batch sees
    // each inner batch finish on its first poll. Nothing wakes the executor.
    let inner = |i: usize| crate::join_all((0..5).map(move |_| YieldOnce(i % 2 == 0)));
    let (polled, wakes) = poll_once(crate::join_all((0..7).map(inner)));
    let Poll::Ready(outputs) = polled else {
        panic!("nested self-waking batches finish within the first poll")
    };
    assert_eq!(outputs.len(), 7);
    assert!(outputs.iter().all(|inner| inner.len() == 5));
    if cfg!(feature = "std") {
        assert_eq!(wakes, 0);
    }
}

#[test]
fn a_nested_batch_that_yields_leaves_its_parent_a_note() {
    // A task that is itself a batch runs out of its budget (one task that
    // wakes itself 1,000 times: 257 polls per run) and yields by waking its
    // own waker — a task of the outer batch, which is running on this
    // thread: that wake is the outer batch's note, not a wake of the
    // executor, and the outer batch polls the inner one again in its next
    // round until it is done.
    let polls = Arc::new(AtomicUsize::new(0));
    let inner = crate::join_all([YieldN {
        left: 1_000,
        polls: polls.clone(),
    }]);
    let (polled, wakes) = poll_once(crate::join_all([inner]));
    assert_eq!(polled, Poll::Ready(alloc::vec![alloc::vec![1_001]]));
    assert_eq!(polls.load(Ordering::Relaxed), 1_001);
    if cfg!(feature = "std") {
        assert_eq!(wakes, 0, "the inner batch's yields were notes");
    }
}

#[test]
fn a_round_with_shared_and_local_bits_comes_out_in_index_order() {
    // A batch of one word takes the union of its two sets; a larger one
    // merges their runs of entries. Both ways, in index order.
    for pad in [0, 100] {
        shared_and_local_bits_in_one_round(pad);
    }
}

/// One round takes task 1 from the shared set (woken from another thread)
/// and task 0 from the local set (woken on the batch's thread): both finish
/// in that round and must come out in index order, each polled once in it.
/// (Found by review: without the merge of the two runs, this gave
/// [2, 1, 0].) `pad` more tasks, each done on its first poll, make the
/// batch's ready set larger than one word.
fn shared_and_local_bits_in_one_round(pad: usize) {
    use futures::StreamExt as _;
    let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
    let polls = Rc::new(Cell::new([0usize; 3]));
    let count = |polls: &Rc<Cell<[usize; 3]>>, i: usize| {
        let mut p = polls.get();
        p[i] += 1;
        polls.set(p);
        p[i]
    };
    let task0 = {
        let (parked, polls) = (parked.clone(), polls.clone());
        core::future::poll_fn(move |cx| {
            if count(&polls, 0) == 1 {
                *parked.borrow_mut() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            Poll::Ready(())
        })
    };
    let task1 = {
        let polls = polls.clone();
        core::future::poll_fn(move |cx| match count(&polls, 1) {
            1 => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            2 => {
                let waker = cx.waker().clone();
                std::thread::scope(|scope| {
                    scope.spawn(move || waker.wake());
                });
                Poll::Pending
            }
            _ => Poll::Ready(()),
        })
    };
    let task2 = {
        let (parked, polls) = (parked.clone(), polls.clone());
        core::future::poll_fn(move |cx| {
            if count(&polls, 2) == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            parked.borrow_mut().take().expect("task 0 parked").wake();
            Poll::Ready(())
        })
    };
    type Task = Pin<alloc::boxed::Box<dyn Future<Output = ()>>>;
    let mut tasks: Vec<Task> = alloc::vec![
        alloc::boxed::Box::pin(task0),
        alloc::boxed::Box::pin(task1),
        alloc::boxed::Box::pin(task2),
    ];
    tasks.extend((0..pad).map(|_| alloc::boxed::Box::pin(async {}) as Task));
    let order: Vec<usize> =
        futures::executor::block_on(crate::when_each(tasks).map(|(index, _)| index).collect());
    // The first pad finishes in the first poll's fill, which hands it out
    // from there; the tasks woken by then go before the next pads (lower
    // indices: rule E2), so the pads come out in order among the rest.
    let (pads, tasks): (Vec<usize>, Vec<usize>) = order.iter().partition(|&&i| i >= 3);
    assert!(
        pads.iter().copied().eq(3..3 + pad),
        "pad = {pad}: {order:?}"
    );
    assert_eq!(tasks, [2, 0, 1], "pad = {pad}: {order:?}");
    if pad > 0 {
        assert_eq!(order[..2], [3, 2], "pad = {pad}: {order:?}");
    }
    assert_eq!(polls.get(), [2, 3, 2], "pad = {pad}");
}

#[test]
fn a_batch_moved_between_runs_keeps_its_notes() {
    // An `Unpin` batch may move between polls: its name for `self_wake` is
    // its first ready set's address, not its own, so its self-wakes are still
    // notes after the move. Task 0 waits for an outside wake, then wakes
    // itself once more; the others self-wake.
    let outside: Rc<RefCell<Option<Waker>>> = Rc::default();
    let first = {
        let outside = outside.clone();
        let mut polls = 0;
        core::future::poll_fn(move |cx| {
            polls += 1;
            match polls {
                1 => *outside.borrow_mut() = Some(cx.waker().clone()),
                2 => cx.waker().wake_by_ref(),
                _ => return Poll::Ready(()),
            }
            Poll::Pending
        })
    };
    let tasks: Vec<Pin<alloc::boxed::Box<dyn Future<Output = ()>>>> = core::iter::once(
        alloc::boxed::Box::pin(first) as Pin<alloc::boxed::Box<dyn Future<Output = ()>>>,
    )
    .chain((0..4).map(|_| alloc::boxed::Box::pin(YieldOnce(false)) as _))
    .collect();
    let mut batch = crate::join_all(tasks);
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(Pin::new(&mut batch).poll(&mut cx).is_pending());
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    let mut moved = alloc::vec![batch];
    outside.borrow_mut().take().expect("task 0 parked").wake();
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "a wake outside a run is shared"
    );
    assert_eq!(
        Pin::new(&mut moved[0]).poll(&mut cx),
        Poll::Ready(alloc::vec![(); 5])
    );
    // Task 0's self-wake after the move was a note too (shared: one more).
    let want = if cfg!(feature = "std") { 1 } else { 2 };
    assert_eq!(count.0.load(Ordering::SeqCst), want);
}

#[test]
fn a_panic_inside_a_run_leaves_the_thread_as_it_was() {
    let _outer = Running::enter(1);
    assert!(is_running(1) == cfg!(feature = "std"));
    let caught = std::panic::catch_unwind(|| {
        let _inner = Running::enter(2);
        assert!(!is_running(1));
        panic!("a task panicked");
    });
    assert!(caught.is_err());
    assert_eq!(
        is_running(1),
        cfg!(feature = "std"),
        "the outer run is back"
    );
    assert!(!is_running(2), "the inner run is over");
}

#[test]
fn a_panicking_task_does_not_leave_its_batch_running() {
    // The batch's run ends by unwinding; afterwards a wake of one of its
    // tasks on this thread must wake the executor (the shared path), or it
    // would be a note that nobody reads.
    let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
    let second: Rc<RefCell<Option<Waker>>> = Rc::default();
    let tasks: Vec<Pin<alloc::boxed::Box<dyn Future<Output = ()>>>> = alloc::vec![
        alloc::boxed::Box::pin({
            let parked = parked.clone();
            core::future::poll_fn(move |cx| {
                *parked.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
        }),
        // Parks on its first poll (so the batch waits, and registers the
        // executor's waker), then panics on its second.
        alloc::boxed::Box::pin({
            let second = second.clone();
            let mut polled = false;
            core::future::poll_fn(move |cx| -> Poll<()> {
                assert!(!polled, "task 1 fails");
                polled = true;
                *second.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
        }),
    ];
    let engine = Engine::new(tasks.into_source(), NoSignal);
    let mut engine = alloc::boxed::Box::pin(engine);
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    engine.as_mut().start_turn();
    assert!(engine.as_mut().poll_event(&mut cx).is_pending());
    second.borrow_mut().take().expect("task 1 parked").wake();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
        engine.as_mut().start_turn();
        let _ = engine.as_mut().poll_event(&mut cx);
    }));
    assert!(caught.is_err());
    parked.borrow_mut().take().expect("task 0 parked").wake();
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        2,
        "the wake reached the executor"
    );
}
