//! `first_ok` (JS `Promise.any`, `select_ok` keeping every error): R5 — and
//! R2 for its ties, T4, C1/C2 for its signal, and its graceful stop
//! (`.graceful(&stop)`) on the first success and on the signal.

use std::cell::Cell;
use std::future::{ready, Ready};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use fanout::cancel::CancelSource;
use fanout::{first_ok, from_stream, Failure, Faults, Outcome};
use futures::future::{join, FusedFuture};
use futures::stream;
use futures::FutureExt;

use super::{boxed, first_poll, pulls, yield_now, BoxTask, DropGuard, Gates, Runtime, XorShift};
use crate::support::{Gate, PollCounter, Tracker};

/// R5: the first `Completed` wins; faults that end before it do not; the
/// others are dropped at once — observed right after the `.await`, while the
/// `FirstOk` itself is still alive.
pub fn r5_first_completed_wins_and_the_rest_are_dropped_at_once(rt: &impl Runtime) {
    let n = 6;
    let gates = Gates::new(n);
    let tracker = Tracker::new();
    let drops = PollCounter::new();
    let value = |i: usize| if i == 3 { Err(i) } else { Ok(i * 100) };
    let tasks = (0..n).map(|i| {
        let guard = DropGuard::new(&drops);
        let task = tracker.track(gates.future(i, value(i)));
        async move {
            let _guard = guard;
            task.await
        }
    });
    rt.block_on(async {
        let mut race = pin!(first_ok(tasks));
        assert!(first_poll(race.as_mut()).await.is_pending());
        gates.open(3); // a fault: not a winner
        assert!(first_poll(race.as_mut()).await.is_pending());
        gates.open(4);
        let result = race.as_mut().await;
        assert_eq!(result, Ok((4, 400)));
        // The race is still alive, and the losers are already gone.
        assert!(race.is_terminated());
        assert_eq!(tracker.dropped_unfinished(), 4);
        assert_eq!(tracker.in_flight(), 0);
        assert_eq!(drops.get(), n);
    });
    assert_eq!(tracker.finished(), 2);
}

/// R5 + R2: several successes ready on the same poll, woken in a shuffled
/// order: the lowest index wins, every time — also under a limit with slot
/// reuse.
pub fn r5_ties_lowest_index_wins(rt: &impl Runtime) {
    for seed in 1..=30 {
        let n = 16;
        let gates = Gates::new(n);
        let mut rng = XorShift::new(seed);
        let limit = [usize::MAX, 4][seed as usize % 2];
        let mut burst = if limit == usize::MAX {
            rng.permutation(n)
        } else {
            // Under the limit, only tasks 0..4 are in flight.
            let mut b: Vec<usize> = (0..4).collect();
            rng.shuffle(&mut b);
            b
        };
        burst.truncate(2 + rng.below(burst.len() - 1));
        let winner = *burst.iter().min().unwrap();
        let result = rt.block_on(async {
            let mut race =
                pin!(first_ok((0..n).map(|i| gates.future(i, Ok::<_, ()>(i)))).limit(limit));
            assert!(first_poll(race.as_mut()).await.is_pending());
            burst.iter().for_each(|&i| gates.open(i));
            race.await
        });
        assert_eq!(result, Ok((winner, winner)), "seed {seed}");
    }

    // With slot reuse: 0 and 1 fault, tasks 3 and 2 take their slots (3 before
    // 2 in slot order); both succeed in the same round: 2 wins.
    let gates = Gates::new(6);
    let value = |i: usize| if i < 2 { Err(i) } else { Ok(i) };
    let result = rt.block_on(async {
        let mut race = pin!(first_ok((0..6).map(|i| gates.future(i, value(i)))).limit(2));
        assert!(first_poll(race.as_mut()).await.is_pending());
        gates.open(1);
        assert!(first_poll(race.as_mut()).await.is_pending()); // 2 takes slot 1
        gates.open(0);
        assert!(first_poll(race.as_mut()).await.is_pending()); // 3 takes slot 0
        gates.open(3);
        gates.open(2);
        race.await
    });
    assert_eq!(result, Ok((2, 2)));
}

/// R5: when every task faults, `Failure::Faulted` with every fault, each with
/// its index, in input order — although they fault in reverse order.
pub fn r5_all_fault_every_fault_in_input_order(rt: &impl Runtime) {
    let n = 7;
    let gates = Gates::new(n);
    let tasks = (0..n).map(|i| gates.future(i, Err::<(), _>(format!("e{i}"))));
    let (result, ()) = rt.block_on(futures::future::join(
        first_ok(tasks),
        gates.open_in_order((0..n).rev()),
    ));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.first_index(), Some(0));
    assert_eq!(
        faults.into_vec(),
        (0..n).map(|i| (i, format!("e{i}"))).collect::<Vec<_>>()
    );
}

/// R5: empty input is a failure with no faults, at once (first poll) — as
/// `Promise.any([])` rejects; from an iterator or a stream, limited or not.
pub fn r5_empty_is_faulted_with_no_faults_at_once(rt: &impl Runtime) {
    let empty: Vec<Ready<Result<u8, &str>>> = Vec::new();
    let expected = Poll::Ready(Err(Failure::Faulted(Faults::from_iter([]))));
    assert_eq!(rt.block_on(first_poll(first_ok(empty.clone()))), expected);
    assert_eq!(rt.block_on(first_poll(first_ok(empty).limit(3))), expected);
    let empty = from_stream(stream::empty::<Ready<Result<u8, &str>>>());
    assert_eq!(rt.block_on(first_poll(first_ok(empty))), expected);
}

/// R5 + A6: only cancellations (tasks that end `Outcome::Canceled`) give
/// `Failure::Canceled`; a fault among them wins: `Faulted` with that fault
/// alone.
pub fn r5_only_cancellations_is_canceled(rt: &impl Runtime) {
    let canceled = [Outcome::<u8, &str>::Canceled, Outcome::Canceled].map(ready);
    assert_eq!(rt.block_on(first_ok(canceled)), Err(Failure::Canceled));

    let gates = Gates::new(3);
    let outcomes = [
        Outcome::Canceled,
        Outcome::Faulted("boom"),
        Outcome::<u8, _>::Canceled,
    ];
    let tasks = (0..3).map(|i| gates.future(i, outcomes[i]));
    let (result, ()) = rt.block_on(futures::future::join(
        first_ok(tasks),
        gates.open_in_order([2, 1, 0]),
    ));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), [(1, "boom")]);
}

/// R5 with `.limit(1)`: a fallback chain — tried one after another until one
/// succeeds; nothing after the winner is pulled.
pub fn r5_limit_one_is_a_fallback_chain(rt: &impl Runtime) {
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let tries = pulls(
        (0..10).map(|i| {
            tracker.track(async move {
                super::yield_now().await;
                if i < 3 {
                    Err(i)
                } else {
                    Ok(i * 10)
                }
            })
        }),
        &pulled,
    );
    assert_eq!(rt.block_on(first_ok(tries).limit(1)), Ok((3, 30)));
    assert_eq!(pulled.get(), 4);
    assert_eq!(tracker.peak(), 1);
    assert_eq!(tracker.dropped_unfinished(), 0);
}

/// T4: `first_ok(..).limit(0)` is rejected at the call.
pub fn t4_first_ok_limit_zero_panics(rt: &impl Runtime) {
    let _ = rt.block_on(first_ok([ready(Ok::<u8, ()>(1))]).limit(0));
}

/// C1/C2 for `first_ok`: a signal gives up — every task dropped — with the
/// faults seen so far if any (they win), else `Canceled`; a signal already
/// fired pulls nothing.
pub fn c2_first_ok_cancel_on(rt: &impl Runtime) {
    for fault_first in [false, true] {
        let gates = Gates::new(4);
        let tracker = Tracker::new();
        let signal = Gate::new();
        let value = |i: usize| if i == 0 { Err("boom") } else { Ok(i) };
        let race = first_ok((0..4).map(|i| tracker.track(gates.future(i, value(i)))))
            .cancel_on(signal.future((), PollCounter::new()));
        let result = rt.block_on(async {
            let mut race = pin!(race);
            assert!(first_poll(race.as_mut()).await.is_pending());
            if fault_first {
                gates.open(0);
                assert!(first_poll(race.as_mut()).await.is_pending());
            }
            signal.open();
            race.await
        });
        if fault_first {
            assert_eq!(
                result,
                Err(Failure::Faulted([(0, "boom")].into_iter().collect()))
            );
            assert_eq!(tracker.dropped_unfinished(), 3);
        } else {
            assert_eq!(result, Err(Failure::Canceled));
            assert_eq!(tracker.dropped_unfinished(), 4);
        }
    }

    let pulled = PollCounter::new();
    let race = first_ok(pulls((0..3).map(|i| ready(Ok::<_, ()>(i))), &pulled)).cancel_on(ready(()));
    assert_eq!(rt.block_on(race), Err(Failure::Canceled));
    assert_eq!(pulled.get(), 0);
}

/// `.graceful(&stop)` on `first_ok`: the first success cancels `stop` instead
/// of dropping the losers in flight, and the race resolves to the winner only
/// once they have all ended on their own — one `Canceled` under the token, two
/// that ignore it with a value and a fault, both discarded: the winner stays,
/// and the race does not fail. Nothing is pulled after the win, nothing is
/// dropped.
pub fn c2_first_ok_graceful_waits_for_the_losers(rt: &impl Runtime) {
    let stop = CancelSource::new();
    let token = stop.token();
    let gates = Gates::new(10);
    let tracker = Tracker::new();
    let pulled = PollCounter::new();
    let tasks = pulls(
        (0..10).map(|i| -> BoxTask<'static, Outcome<usize, &'static str>> {
            match i {
                // Ignore the token: a late value, a late fault.
                1 => boxed(tracker.track(gates.future(i, Outcome::Completed(100)))),
                2 => boxed(tracker.track(gates.future(i, Outcome::Faulted("late")))),
                _ => boxed(tracker.track(token.run(gates.future(i, Ok(i))))),
            }
        }),
        &pulled,
    );
    let ended = Rc::new(Cell::new(false));
    let race = {
        let ended = ended.clone();
        first_ok(tasks)
            .limit(4)
            .graceful(&stop)
            .inspect(move |_| ended.set(true))
    };
    let driver = async {
        gates.open(3);
        for _ in 0..3 {
            yield_now().await;
        }
        assert!(stop.is_canceled(), "the win did not cancel stop");
        // 0 saw the token and ended; 1 and 2 are awaited.
        assert_eq!(tracker.in_flight(), 2);
        assert!(!ended.get(), "the race did not wait for its losers");
        gates.open(1);
        for _ in 0..3 {
            yield_now().await;
        }
        assert!(!ended.get(), "the race did not wait for task 2");
        gates.open(2);
    };
    let (result, ()) = rt.block_on(join(race, driver));
    assert_eq!(result, Ok((3, 3)));
    assert_eq!(pulled.get(), 4);
    assert_eq!(tracker.dropped_unfinished(), 0);
    assert_eq!(tracker.finished(), 4);
}

/// `.graceful(&stop)` on `first_ok`'s signal: the tasks in flight end on their
/// own, and still take part. When none completes, the race fails with every
/// fault, those raised while stopping included; a task that completes after
/// the signal (it ignores the token) wins, once the others have ended.
/// Nothing is pulled after the signal, nothing is dropped.
pub fn c2_first_ok_graceful_on_the_signal(rt: &impl Runtime) {
    for late_success in [false, true] {
        let stop = CancelSource::new();
        let token = stop.token();
        let gates = Gates::new(10);
        let tracker = Tracker::new();
        let pulled = PollCounter::new();
        let signal = Gate::new();
        let tasks = pulls(
            (0..10).map(|i| -> BoxTask<'static, Outcome<usize, &'static str>> {
                match i {
                    0 => boxed(tracker.track(gates.future(i, Outcome::Faulted("boom")))),
                    // Faults when told to stop.
                    1 if !late_success => {
                        let token = token.clone();
                        boxed(tracker.track(async move {
                            token.canceled().await;
                            Outcome::Faulted("cleanup failed")
                        }))
                    }
                    // Ignores the token.
                    1 => boxed(tracker.track(gates.future(i, Outcome::Completed(100)))),
                    _ => boxed(tracker.track(token.run(gates.future(i, Ok(i))))),
                }
            }),
            &pulled,
        );
        let race = first_ok(tasks)
            .limit(3)
            .cancel_on(signal.future((), PollCounter::new()))
            .graceful(&stop);
        let result = rt.block_on(async {
            let mut race = pin!(race);
            assert!(first_poll(race.as_mut()).await.is_pending());
            gates.open(0);
            assert!(first_poll(race.as_mut()).await.is_pending()); // 3 takes 0's place
            assert_eq!(pulled.get(), 4);
            signal.open();
            if late_success {
                assert!(first_poll(race.as_mut()).await.is_pending());
                assert!(stop.is_canceled());
                assert_eq!(tracker.in_flight(), 1, "1 runs on");
                gates.open(1);
            }
            race.await
        });
        if late_success {
            assert_eq!(result, Ok((1, 100)));
        } else {
            let Err(Failure::Faulted(faults)) = result else {
                panic!("expected Faulted, got {result:?}");
            };
            assert_eq!(faults.into_vec(), [(0, "boom"), (1, "cleanup failed")]);
        }
        assert!(stop.is_canceled());
        assert_eq!(pulled.get(), 4);
        assert_eq!(tracker.dropped_unfinished(), 0);
        assert_eq!(tracker.finished(), 4);
    }
}

/// R2 within one poll (issue 25): `first_ok` takes several events in one
/// poll of the batch. Task 0 wakes itself on its first poll (in the fill),
/// task 1 faults at once (an event in the middle of the fill), task 2
/// would succeed at once when pulled: task 0, woken before task 2 was
/// pulled and with the lower index, wins. (The tie rule once held only
/// between polls, and task 2 won.)
pub fn r2_first_ok_ties_hold_within_one_poll(rt: &impl Runtime) {
    let tasks: Vec<BoxTask<'_, Result<usize, usize>>> = vec![
        boxed(async {
            yield_now().await;
            Ok(0)
        }),
        boxed(async { Err(1) }),
        boxed(async { Ok(2) }),
    ];
    assert_eq!(rt.block_on(first_ok(tasks)), Ok((0, 0)));
}
