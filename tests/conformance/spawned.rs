//! Bodies that spread a batch over several tasks with [`Runtime::spawn`]: the
//! batch itself on a task of its own, its tasks as spawned tasks (their
//! `JoinHandle`s are the batch's futures), its gates opened and its signal
//! fired from other tasks. On a multi-threaded executor those run on other
//! threads, so every wake crosses threads; on the deterministic executor they
//! are tasks of the seeded schedule; on a runtime without spawn they run
//! inline, inside their handle (every body `join`s its handles).
//!
//! Only the body's own future (the test thread) ever waits by yielding in a
//! loop; spawned tasks never do, since a pool thread may re-poll a
//! self-waking task at once and starve the tasks it waits for.
//!
//! The rules checked are the same as elsewhere (A1, A5–A7, O1, T1, T5, E1,
//! E4, R1–R3, C2, A8); only the shape of the run differs.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use fanout::cancel::CancelSource;
use fanout::{for_each, settle_all, when_all, when_any, when_each, Failure, Outcome};
use futures::future::{join, join3, join_all, Either};
use futures::StreamExt;

use super::{first_poll, yield_now, Gates, Reentrance, Runtime, XorShift};
use crate::support::Tracker;

/// A job for a spawned task: yields `yields` times, then ends with `out`.
async fn job<T>(yields: usize, out: T) -> T {
    for _ in 0..yields {
        yield_now().await;
    }
    out
}

/// A spawned batch of 64 gated tasks; four spawned openers open disjoint
/// quarters in random orders, each only once the whole batch waits. A1:
/// input order; every task polled exactly twice (once to start, once after
/// its one wake), whichever thread woke it.
pub fn s1_spawned_batch_gates_opened_by_spawned_tasks(rt: &impl Runtime) {
    let n = 64;
    let gates = Gates::new(n);
    rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|i| gates.future(i, Ok::<usize, ()>(i * 3)))
            .collect();
        let batch = rt.spawn(when_all(tasks));
        let openers = async {
            gates.until_awaited(0..n).await;
            join_all((0..4).map(|q| {
                let gates = gates.clone();
                rt.spawn(async move {
                    let mut order: Vec<usize> = (q * 16..q * 16 + 16).collect();
                    XorShift::new(0x51 + q as u64).shuffle(&mut order);
                    gates.open_in_order(order).await;
                })
            }))
            .await
        };
        let (result, _) = join(batch, openers).await;
        assert_eq!(result, Ok((0..n).map(|i| i * 3).collect::<Vec<_>>()));
    });
    assert_eq!(gates.all_polls(), vec![2; n]);
}

/// Spawned tasks are the batch's tasks, pulled lazily under a limit: T1 (the
/// running spawned tasks never exceed the limit), T5 (each runs once), A5
/// (every fault, in input order).
pub fn s2_spawned_tasks_under_a_limit(rt: &impl Runtime) {
    for (seed, limit) in [(1, 1), (2, 3), (3, 8)] {
        let n = 40;
        let tracker = Tracker::new();
        let mut rng = XorShift::new(0x52 + seed);
        let yields: Vec<usize> = (0..n).map(|_| rng.below(4)).collect();
        let result = rt.block_on(
            when_all((0..n).map(|i| {
                let out = if i % 7 == 3 { Err(i) } else { Ok(i) };
                rt.spawn(tracker.track(job(yields[i], out)))
            }))
            .limit(limit),
        );
        let Err(Failure::Faulted(faults)) = result else {
            panic!("expected faults, got {result:?}");
        };
        let expected: Vec<(usize, usize)> = (0..n).filter(|i| i % 7 == 3).map(|i| (i, i)).collect();
        assert_eq!(faults.into_vec(), expected);
        assert!(
            tracker.peak() <= limit,
            "peak {} > limit {limit}",
            tracker.peak()
        );
        assert_eq!(tracker.started(), n);
        assert_eq!(tracker.finished(), n);
    }
}

/// C2 + A6 + O1 with the signal fired from another task: four tasks end
/// (one with a fault) before a spawned task cancels the token; the rest are
/// dropped at once, recorded Canceled, and the fault still wins.
pub fn s3_signal_from_a_spawned_task(rt: &impl Runtime) {
    for settle in [false, true] {
        let n = 16;
        let gates = Gates::new(n);
        let tracker = Tracker::new();
        let source = CancelSource::new();
        let token = source.token();
        let tasks = || {
            (0..n).map(|i| {
                let out = if i == 2 { Err("boom") } else { Ok(i) };
                tracker.track(gates.future(i, out))
            })
        };
        // Lets four tasks end, then has a task of its own cancel the batch.
        let canceller = {
            let (gates, tracker) = (gates.clone(), tracker.clone());
            async move {
                gates.until_awaited(0..n).await;
                let opener = gates.clone();
                rt.spawn(async move { opener.open_in_order(0..4).await })
                    .await;
                while tracker.finished() < 4 {
                    yield_now().await;
                }
                rt.spawn(async move { source.cancel() }).await;
            }
        };
        if settle {
            let batch = settle_all(tasks()).cancel_on(token.canceled());
            let (outcomes, ()) = rt.block_on(async { join(batch, canceller).await });
            let mut expected = vec![
                Outcome::Completed(0),
                Outcome::Completed(1),
                Outcome::Faulted("boom"),
                Outcome::Completed(3),
            ];
            expected.resize(n, Outcome::Canceled);
            assert_eq!(outcomes, expected);
        } else {
            let batch = when_all(tasks()).cancel_on(token.canceled());
            let (result, ()) = rt.block_on(async { join(batch, canceller).await });
            let Err(Failure::Faulted(faults)) = result else {
                panic!("the fault must win over the cancellation, got {result:?}");
            };
            assert_eq!(faults.into_vec(), vec![(2, "boom")]);
        }
        assert_eq!(tracker.finished(), 4);
        assert_eq!(tracker.dropped_unfinished(), n - 4);
    }
}

/// E1 across threads: `when_each` over spawned tasks hands each index out
/// once, in the order the tasks were let finish (the opener lets the next
/// one go only once the previous item came out), faults as items.
pub fn s4_when_each_over_spawned_tasks(rt: &impl Runtime) {
    let n = 24;
    let gates = Gates::new(n);
    let order = XorShift::new(0x54).permutation(n);
    let seen = Arc::new(AtomicUsize::new(0));
    let items = rt.block_on(async {
        let tasks = (0..n).map(|i| {
            let gate = gates.future(i, ());
            rt.spawn(async move {
                gate.await;
                if i % 5 == 0 {
                    Err(i)
                } else {
                    Ok(i)
                }
            })
        });
        let consumer = async {
            let mut items = Vec::new();
            let mut stream = std::pin::pin!(when_each(tasks));
            while let Some(item) = stream.next().await {
                items.push(item);
                seen.fetch_add(1, Ordering::SeqCst);
            }
            items
        };
        // The tasks wait on other threads; the gates open from this one.
        let opener = async {
            gates.until_awaited(0..n).await;
            for (k, &i) in order.iter().enumerate() {
                gates.open(i);
                while seen.load(Ordering::SeqCst) <= k {
                    yield_now().await;
                }
            }
        };
        join(consumer, opener).await.0
    });
    let expected: Vec<(usize, Result<usize, usize>)> = order
        .iter()
        .map(|&i| (i, if i % 5 == 0 { Err(i) } else { Ok(i) }))
        .collect();
    assert_eq!(items, expected);
}

/// E4 with tasks on other threads: `for_each`'s processor runs alone (never
/// re-entered), once per task, while spawned tasks finish concurrently
/// under a limit (T1).
pub fn s5_for_each_processor_runs_alone(rt: &impl Runtime) {
    let n = 60;
    let limit = 5;
    let tracker = Tracker::new();
    let flag = Reentrance::default();
    let processed = RefCell::new(Vec::new());
    let mut rng = XorShift::new(0x55);
    let yields: Vec<usize> = (0..n).map(|_| rng.below(6)).collect();
    let result = rt.block_on(
        for_each(
            (0..n).map(|i| rt.spawn(tracker.track(job(yields[i], Ok::<_, ()>(i))))),
            |i, value| {
                flag.enter();
                assert_eq!(i, value);
                processed.borrow_mut().push(i);
                flag.leave();
            },
        )
        .limit(limit),
    );
    assert_eq!(result, Ok(()));
    let mut processed = processed.into_inner();
    processed.sort_unstable();
    assert_eq!(processed, (0..n).collect::<Vec<_>>());
    assert!(tracker.peak() <= limit);
}

/// Sets `flag` when `fut` ends with an `Err`, in the poll that sees it (so
/// inside the batch's poll when `fut` is a task of the batch).
fn flag_fault<F, T, E>(fut: F, flag: Arc<AtomicBool>) -> impl Future<Output = Result<T, E>>
where
    F: Future<Output = Result<T, E>>,
{
    let mut fut = Box::pin(fut);
    poll_fn(move |cx| {
        let out = fut.as_mut().poll(cx);
        if let Poll::Ready(Err(_)) = &out {
            flag.store(true, Ordering::SeqCst);
        }
        out
    })
}

/// A7 with spawned tasks: once the batch has seen the fault, its source is
/// not pulled once more, and the tasks in flight are dropped (their spawned
/// tasks run on, detached).
///
/// The tasks after the fault wait on gates opened only once the batch has
/// resolved, so the fault is seen within the limit's reach of its own pull
/// whatever the threads' schedule: on a pool under load the fault's thread
/// may otherwise run last, after every other task (and pull) has finished.
pub fn s6_fail_fast_pulls_nothing_after_the_fault(rt: &impl Runtime) {
    let n = 40;
    let limit = 4;
    for fault_at in [0, 5, 17] {
        let gates = Gates::new(n);
        let seen = Arc::new(AtomicBool::new(false));
        let late_pulls = AtomicUsize::new(0);
        let pulls = AtomicUsize::new(0);
        let result = rt.block_on(
            when_all((0..n).map(|i| {
                pulls.fetch_add(1, Ordering::SeqCst);
                if seen.load(Ordering::SeqCst) {
                    late_pulls.fetch_add(1, Ordering::SeqCst);
                }
                let task = if i <= fault_at {
                    let out = if i == fault_at { Err(i) } else { Ok(i) };
                    Either::Left(job(i % 3, out))
                } else {
                    Either::Right(gates.future(i, Ok(i)))
                };
                flag_fault(rt.spawn(task), Arc::clone(&seen))
            }))
            .limit(limit)
            .fail_fast(),
        );
        // The detached tasks still waiting may end now.
        (0..n).for_each(|i| gates.open(i));
        let Err(Failure::Faulted(faults)) = result else {
            panic!("expected the fault, got {result:?}");
        };
        assert_eq!(faults.into_vec(), vec![(fault_at, fault_at)]);
        assert_eq!(
            late_pulls.load(Ordering::SeqCst),
            0,
            "pulled after the fault"
        );
        // The fault's place is held until it is seen: at most `limit - 1`
        // tasks were pulled after it.
        assert!(pulls.load(Ordering::SeqCst) <= fault_at + limit);
    }
}

/// R1–R3 over spawned tasks: the first to finish wins, and the rest keep
/// running on their tasks and are still drivable to the end.
pub fn s7_when_any_over_spawned_tasks(rt: &impl Runtime) {
    let n = 8;
    let gates = Gates::new(n);
    rt.block_on(async {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let gate = gates.future(i, i * 10);
                rt.spawn(gate)
            })
            .collect();
        // Polled once (which runs the tasks inline on a runtime without spawn):
        // nothing has finished.
        let mut race = Box::pin(when_any(tasks));
        assert!(first_poll(race.as_mut()).await.is_pending());
        gates.until_awaited(0..n).await;
        gates.open(3);
        let (index, output, rest) = race.await.expect("a winner");
        assert_eq!((index, output), (3, 30));
        assert_eq!(rest.in_flight(), n - 1);
        gates.open(6);
        let (index, output, rest) = rest.when_any().await.expect("a winner");
        assert_eq!((index, output), (6, 60));
        let opener = {
            let gates = gates.clone();
            rt.spawn(async move { gates.open_in_order([7, 0, 5, 1, 4, 2]).await })
        };
        let (mut left, ()) = join(rest.collect::<Vec<_>>(), opener).await;
        left.sort_unstable();
        assert_eq!(
            left,
            vec![(0, 0), (1, 10), (2, 20), (4, 40), (5, 50), (7, 70)]
        );
    });
}

/// O1 on random batches of spawned tasks (completing, faulting, canceling
/// themselves after random yields) canceled from another task after a
/// random number of them ended: exactly one outcome per pulled task, each
/// the task's own or Canceled, and never more than the limit running.
pub fn s8_one_outcome_each_under_cancellation(rt: &impl Runtime) {
    for seed in 1..=12u64 {
        let mut rng = XorShift::new(0x58 + seed);
        let n = 8 + rng.below(40);
        let limit = 1 + rng.below(8);
        let stop_after = rng.below(n + 1);
        let kinds: Vec<usize> = (0..n).map(|_| rng.below(5)).collect();
        let yields: Vec<usize> = (0..n).map(|_| rng.below(5)).collect();
        let own = |i: usize| match kinds[i] {
            0 => Outcome::Faulted(i),
            1 => Outcome::Canceled,
            _ => Outcome::Completed(i),
        };
        let tracker = Tracker::new();
        let ended = Arc::new(AtomicUsize::new(0));
        let pulled = AtomicUsize::new(0);
        let source = CancelSource::new();
        let token = source.token();
        let outcomes = rt.block_on(async {
            let batch = settle_all((0..n).map(|i| {
                pulled.fetch_add(1, Ordering::SeqCst);
                let ended = Arc::clone(&ended);
                let (out, yields) = (own(i), yields[i]);
                rt.spawn(tracker.track(async move {
                    let out = job(yields, out).await;
                    ended.fetch_add(1, Ordering::SeqCst);
                    out
                }))
            }))
            .limit(limit)
            .cancel_on(token.canceled());
            let ended = Arc::clone(&ended);
            let canceller = async move {
                while ended.load(Ordering::SeqCst) < stop_after {
                    yield_now().await;
                }
                rt.spawn(async move { source.cancel() }).await;
            };
            join(batch, canceller).await.0
        });
        let pulled = pulled.into_inner();
        assert_eq!(
            outcomes.len(),
            pulled,
            "seed {seed}: one outcome per pulled task"
        );
        for (i, outcome) in outcomes.iter().enumerate() {
            assert!(
                *outcome == own(i) || *outcome == Outcome::Canceled,
                "seed {seed}: task {i} ended {outcome:?}, its own is {:?}",
                own(i)
            );
        }
        assert!(tracker.peak() <= limit, "seed {seed}");
    }
}

/// A8 with the inner batches on spawned tasks (so the engine itself runs on
/// worker threads): each inner `when_all`'s `Failure` is its task's error.
pub fn s9_nested_batches_on_spawned_tasks(rt: &impl Runtime) {
    let gates = Gates::new(12);
    let results = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        let inner = |b: usize| {
            let gates = gates.clone();
            rt.spawn(when_all((0..4).map(move |k| {
                let i = b * 4 + k;
                let out = if i == 5 || i == 6 { Err(i) } else { Ok(i) };
                gates.future(i, out)
            })))
        };
        let outer = when_all((0..3).map(inner));
        let opener = async {
            gates.until_awaited(0..12).await;
            let gates = gates.clone();
            rt.spawn(async move {
                gates
                    .open_in_order(XorShift::new(0x59).permutation(12))
                    .await;
            })
            .await;
        };
        let recorder = async {
            results.lock().unwrap().push(());
        };
        let (result, (), ()) = join3(outer, opener, recorder).await;
        let Err(Failure::Faulted(faults)) = result else {
            panic!("expected the middle batch's failure, got {result:?}");
        };
        let faults = faults.into_vec();
        assert_eq!(faults.len(), 1);
        let (index, Failure::Faulted(inner)) = &faults[0] else {
            panic!("expected a nested fault");
        };
        assert_eq!(*index, 1);
        assert_eq!(inner.clone().into_vec(), vec![(1, 5), (2, 6)]);
    });
    assert_eq!(results.lock().unwrap().len(), 1);
}
