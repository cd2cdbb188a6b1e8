//! `when_any` (`Task.WhenAny`): R1–R4, ties under `.limit(n)` slot reuse,
//! `!Unpin` tasks, T4 and cancellation of the race, the graceful stop
//! (`.graceful(&stop)`) included.

use std::cell::RefCell;
use std::future::{ready, Future, Ready};
use std::marker::{PhantomData, PhantomPinned};
use std::task::Poll;

use fanout::cancel::CancelSource;
use fanout::{from_stream, when_any, Outcome, WhenEach};
use futures::future::{join, FusedFuture};
use futures::stream::{self, StreamExt};

use super::when_each::RoundModel;
use super::{boxed, first_poll, pulls, yield_now, BoxTask, DropGuard, Gates, Runtime, XorShift};
use crate::support::{Gate, PollCounter, Tracker};

/// Autoref specialization: `unpin_probe!(value)` is `true` if the value's
/// type is `Unpin`, `false` if it is not — decided at compile time for the
/// concrete (even unnameable) type.
struct Probe<T>(PhantomData<T>);

fn probe<T>(_: &T) -> Probe<T> {
    Probe(PhantomData)
}

trait ViaUnpin {
    fn is_unpin(&self) -> bool {
        true
    }
}
impl<T: Unpin> ViaUnpin for Probe<T> {}

trait ViaAny {
    fn is_unpin(&self) -> bool {
        false
    }
}
impl<T> ViaAny for &Probe<T> {}

macro_rules! unpin_probe {
    ($value:expr) => {
        (&probe(&$value)).is_unpin()
    };
}

/// R1: the race resolves with the first task to end, whatever its outcome: a
/// fault is a value here, and so is a task's own cancellation.
pub fn r1_first_to_end_wins_whatever_its_outcome(rt: &impl Runtime) {
    let gates = Gates::new(4);
    let outcomes = [
        Outcome::Completed(0),
        Outcome::Faulted("boom"),
        Outcome::Canceled,
        Outcome::Completed(3),
    ];
    rt.block_on(async {
        let race = when_any((0..4).map(|i| gates.future(i, outcomes[i])));
        let mut race = Box::pin(race);
        assert!(first_poll(race.as_mut()).await.is_pending());
        gates.open(1);
        let (index, output, rest) = race.await.expect("a winner");
        assert_eq!((index, output), (1, Outcome::Faulted("boom")));
        gates.open(2);
        let (index, output, rest) = rest.when_any().await.expect("a winner");
        assert_eq!((index, output), (2, Outcome::Canceled));
        gates.open(3);
        gates.open(0);
        let (index, output, rest) = rest.when_any().await.expect("a winner");
        assert_eq!((index, output), (0, Outcome::Completed(0)));
        let (index, output, rest) = rest.when_any().await.expect("a winner");
        assert_eq!((index, output), (3, Outcome::Completed(3)));
        assert!(rest.when_any().await.is_none());
    });
}

/// R1 with `Result`s: the `Err` that ends first wins; it is returned, not
/// thrown.
pub fn r1_a_fault_is_a_value(rt: &impl Runtime) {
    let gates = Gates::new(3);
    let results = [Ok(0), Err("first"), Ok(2)];
    let (index, output, rest) = rt
        .block_on(async {
            let mut race = Box::pin(when_any((0..3).map(|i| gates.future(i, results[i]))));
            assert!(first_poll(race.as_mut()).await.is_pending());
            gates.open(1);
            race.await
        })
        .expect("a winner");
    assert_eq!((index, output), (1, Err("first")));
    assert_eq!(rest.in_flight(), 2);
}

/// R2: several tasks ready on the same poll: the lowest index wins, every time
/// — woken in a shuffled order before the poll, over many runs; racing the
/// rest again gives the next lowest of the same round, then later rounds.
pub fn r2_ties_lowest_index_every_time(rt: &impl Runtime) {
    for seed in 1..=40 {
        let n = 24;
        let gates = Gates::new(n);
        let mut rng = XorShift::new(seed);
        let order = rng.permutation(n);
        rt.block_on(async {
            let mut race = Box::pin(when_any((0..n).map(|i| gates.future(i, i))));
            assert!(first_poll(race.as_mut()).await.is_pending());
            let mut model = RoundModel::default();
            let mut opened = order.iter();
            let burst = 2 + rng.below(6);
            for &i in opened.by_ref().take(burst) {
                gates.open(i);
                model.wake(i);
            }
            let (index, _, mut rest) = race.await.expect("a winner");
            assert_eq!(Some(index), model.next(), "seed {seed}");
            for _ in 1..n {
                if model.is_idle() || rng.below(2) == 0 {
                    for &i in opened.by_ref().take(1 + rng.below(4)) {
                        gates.open(i);
                        model.wake(i);
                    }
                }
                let (index, _, next) = rest.when_any().await.expect("a winner");
                assert_eq!(Some(index), model.next(), "seed {seed}");
                rest = next;
            }
            assert!(rest.when_any().await.is_none());
        });
    }
}

/// R2 with tasks that are ready on their first poll: index 0 wins, whatever
/// the limit; then 1, 2, ...
pub fn r2_ready_tasks_lowest_index(rt: &impl Runtime) {
    for limit in [1, 3, usize::MAX] {
        let (index, output, rest) = rt
            .block_on(when_any((0..10).map(|i| ready(i * 7))).limit(limit))
            .expect("a winner");
        assert_eq!((index, output), (0, 0));
        let (index, _, _) = rt.block_on(rest.when_any()).expect("a winner");
        assert_eq!(index, 1);
    }
}

/// R2 under `.limit(n)`: once a place is reused, slot order is no longer index
/// order (task 5 sits before task 3 here), yet ties still go to the lowest
/// index — the engine hands a round's completions out in index order.
pub fn r2_ties_with_limit_slot_reuse(rt: &impl Runtime) {
    let n = 12;
    let gates = Gates::new(n);
    let tracker = Tracker::new();
    rt.block_on(async {
        let race = when_any((0..n).map(|i| tracker.track(gates.future(i, i)))).limit(3);
        let mut race = Box::pin(race);
        // 0, 1, 2 in slots 0, 1, 2.
        assert!(first_poll(race.as_mut()).await.is_pending());
        gates.open(0);
        let (index, _, rest) = race.await.expect("a winner");
        assert_eq!(index, 0);
        // Task 3 takes slot 0 (before 1 and 2).
        gates.open(1);
        let (index, _, rest) = rest.when_any().await.expect("a winner");
        assert_eq!(index, 1);
        // Task 4 takes slot 1: slots hold 3, 4, 2.
        gates.open(2);
        let (index, _, rest) = rest.when_any().await.expect("a winner");
        assert_eq!(index, 2);
        // Task 5 takes slot 2: slots hold 3, 4, 5. Make them 5, 4, 3 in slot
        // order: finish 3, then 4; 6 then 7 take slots 0 then 1.
        gates.open(3);
        let (index, _, rest) = rest.when_any().await.expect("a winner");
        assert_eq!(index, 3);
        gates.open(4);
        let (index, _, mut rest) = rest.when_any().await.expect("a winner");
        assert_eq!(index, 4);
        // Slots hold 6, 7, 5 once refilled: the tie of all three goes to 5.
        assert!(first_poll(rest.next()).await.is_pending());
        assert_eq!(tracker.in_flight(), 3);
        for i in [7, 5, 6] {
            gates.open(i);
        }
        let mut winners = Vec::new();
        for _ in 0..3 {
            let (index, _, next) = rest.when_any().await.expect("a winner");
            winners.push(index);
            rest = next;
        }
        assert_eq!(winners, [5, 6, 7]);
        (8..n).for_each(|i| gates.open(i));
        let last: Vec<usize> = rest.map(|(i, _)| i).collect().await;
        assert_eq!(last, [8, 9, 10, 11]);
    });
    assert_eq!(tracker.peak(), 3);
}

/// R2 under a limit, randomized: bursts of wakes of the tasks in flight,
/// checked against [`RoundModel`] race after race.
pub fn r2_ties_with_limit_randomized(rt: &impl Runtime) {
    for seed in 1..=30 {
        let n = 30;
        let gates = Gates::new(n);
        let pulled = RefCell::new(Vec::new());
        let source = (0..n).map(|i| {
            pulled.borrow_mut().push(i);
            gates.future(i, i)
        });
        let mut rng = XorShift::new(seed * 7919);
        let limit = 2 + rng.below(5);
        rt.block_on(async {
            let mut rest: WhenEach<_> = {
                let mut race = Box::pin(when_any(source).limit(limit));
                assert!(first_poll(race.as_mut()).await.is_pending());
                // Start with one burst so that the first race resolves.
                let mut model = RoundModel::default();
                let mut first = pulled.borrow().clone();
                rng.shuffle(&mut first);
                for &i in first.iter().take(1 + rng.below(first.len())) {
                    gates.open(i);
                    model.wake(i);
                }
                let (index, _, rest) = race.await.expect("a winner");
                assert_eq!(Some(index), model.next());
                run_races(rest, model, &gates, &pulled, &mut rng, n - 1).await
            };
            assert!(first_poll(rest.next()).await.is_ready());
        });
    }
}

/// Races `rest` `left` more times, opening random bursts of tasks in flight
/// before each race, checking each winner against `model`.
async fn run_races<S>(
    mut rest: WhenEach<S>,
    mut model: RoundModel,
    gates: &Gates,
    pulled: &RefCell<Vec<usize>>,
    rng: &mut XorShift,
    left: usize,
) -> WhenEach<S>
where
    S: fanout::source::Source + Unpin,
    S::Task: Future<Output = usize>,
{
    for _ in 0..left {
        let mut waiting: Vec<usize> = pulled
            .borrow()
            .iter()
            .copied()
            .filter(|&i| !gates.is_open(i))
            .collect();
        if model.is_idle() && waiting.is_empty() {
            // Let the batch refill the places freed by the last round.
            assert!(first_poll(rest.next()).await.is_pending());
            waiting = pulled
                .borrow()
                .iter()
                .copied()
                .filter(|&i| !gates.is_open(i))
                .collect();
        }
        rng.shuffle(&mut waiting);
        let min = usize::from(model.is_idle());
        let take = (min + rng.below(waiting.len() + 1)).min(waiting.len());
        for &i in &waiting[..take] {
            gates.open(i);
            model.wake(i);
        }
        let (index, output, next) = rest.when_any().await.expect("a winner");
        assert_eq!(Some(index), model.next());
        assert_eq!(output, index);
        rest = next;
    }
    rest
}

/// R3: the others are not dropped: the rest comes back still running, can be
/// raced again or streamed (`StreamExt::next`, `collect`), keeps the original
/// indices, and every task ends exactly once — none dropped unfinished.
pub fn r3_rest_is_still_drivable(rt: &impl Runtime) {
    let n = 8;
    let gates = Gates::new(n);
    let tracker = Tracker::new();
    let drops = PollCounter::new();
    let tasks = (0..n).map(|i| {
        let guard = DropGuard::new(&drops);
        let task = tracker.track(gates.future(i, i * 10));
        async move {
            let _guard = guard;
            task.await
        }
    });
    rt.block_on(async {
        let mut race = Box::pin(when_any(tasks));
        assert!(first_poll(race.as_mut()).await.is_pending());
        gates.open(5);
        let (index, output, rest) = race.await.expect("a winner");
        assert_eq!((index, output), (5, 50));
        assert_eq!(rest.in_flight(), n - 1);
        assert_eq!(tracker.dropped_unfinished(), 0);
        assert_eq!(drops.get(), 1); // only the winner's future is gone

        gates.open(2);
        let (index, output, mut rest) = rest.when_any().await.expect("a winner");
        assert_eq!((index, output), (2, 20));

        gates.open(7);
        assert_eq!(rest.next().await, Some((7, 70)));
        for i in [6, 0, 4, 1, 3] {
            gates.open(i);
        }
        let others: Vec<_> = rest.collect().await;
        assert_eq!(others, [(0, 0), (1, 10), (3, 30), (4, 40), (6, 60)]);
    });
    assert_eq!(tracker.finished(), n);
    assert_eq!(tracker.dropped_unfinished(), 0);
    assert_eq!(drops.get(), n);
}

/// R3 under a limit: the rest keeps pulling from the source (lazily) as its
/// tasks finish; indices stay the original ones.
pub fn r3_rest_keeps_pulling_under_a_limit(rt: &impl Runtime) {
    let n = 20;
    let gates = Gates::new(n);
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let source = pulls((0..n).map(|i| tracker.track(gates.future(i, i))), &pulled);
    rt.block_on(async {
        let mut race = Box::pin(when_any(source).limit(3));
        assert!(first_poll(race.as_mut()).await.is_pending());
        assert_eq!(pulled.get(), 3);
        gates.open(1);
        let (index, _, rest) = race.await.expect("a winner");
        assert_eq!(index, 1);
        // The freed place is not refilled until the rest is polled.
        assert_eq!(pulled.get(), 3);
        let others = (0..n).filter(|&i| i != 1);
        let (indices, ()) = join(
            rest.map(|(i, _)| i).collect::<Vec<_>>(),
            gates.open_in_order(others.clone()),
        )
        .await;
        assert_eq!(indices, others.collect::<Vec<_>>());
    });
    assert_eq!(pulled.get(), n + 1);
    assert_eq!(tracker.peak(), 3);
    assert_eq!(tracker.finished(), n);
}

/// R3's other side: dropping the rest cancels it — every task still in flight
/// is dropped then, not before; tasks never pulled are never created.
pub fn r3_dropping_the_rest_drops_the_tasks(rt: &impl Runtime) {
    let n = 10;
    let gates = Gates::new(n);
    let tracker = Tracker::new();
    let created = PollCounter::new();
    let source = (0..n).map(|i| {
        created.incr();
        tracker.track(gates.future(i, i))
    });
    let rest = rt.block_on(async {
        let mut race = Box::pin(when_any(source).limit(4));
        assert!(first_poll(race.as_mut()).await.is_pending());
        gates.open(3);
        let (index, _, rest) = race.await.expect("a winner");
        assert_eq!(index, 3);
        rest
    });
    assert_eq!(tracker.dropped_unfinished(), 0);
    assert_eq!(rest.in_flight(), 3);
    drop(rest);
    assert_eq!(tracker.dropped_unfinished(), 3);
    assert_eq!(created.get(), 4);
}

/// R3 with `!Unpin` task futures: `async` blocks that hold a `PhantomPinned`
/// across an `.await`. The race, the rest, `rest.when_any()` and streaming the
/// rest all work; only the batch (source + signal) must be `Unpin`.
pub fn r3_not_unpin_tasks(rt: &impl Runtime) {
    let task = |i: usize| async move {
        let pinned = PhantomPinned;
        for _ in 0..i % 3 {
            yield_now().await;
        }
        let _still_here = &pinned;
        i
    };
    assert!(!unpin_probe!(task(0)), "the task futures must be !Unpin");
    assert!(unpin_probe!(ready(0)), "the probe must see Unpin types");
    let tasks: Vec<_> = (0..6).map(task).collect();
    let (index, output, rest) = rt.block_on(when_any(tasks)).expect("a winner");
    assert_eq!((index, output), (0, 0));
    assert!(unpin_probe!(rest), "the rest is Unpin");
    let (index, _, rest) = rt.block_on(rest.when_any()).expect("a winner");
    assert_eq!(index, 3); // ready at its first poll, like 0
    let mut others: Vec<usize> = rt.block_on(rest.map(|(i, _)| i).collect());
    others.sort_unstable();
    assert_eq!(others, [1, 2, 4, 5]);

    // Plain `async {}` blocks are `!Unpin` too.
    let plain = |i: usize| async move { i };
    assert!(!unpin_probe!(plain(0)));
    let (index, _, rest) = rt
        .block_on(when_any((0..4).map(plain)).limit(2))
        .expect("a winner");
    assert_eq!(index, 0);
    assert_eq!(rt.block_on(rest.count()), 3);
}

/// R4: empty input resolves at once (first poll) to `None` — from an
/// iterator or a stream, limited or not; so does the race of an exhausted
/// rest.
pub fn r4_empty_is_none_at_once(rt: &impl Runtime) {
    let empty: Vec<Ready<u8>> = Vec::new();
    assert!(matches!(
        rt.block_on(first_poll(when_any(empty.clone()))),
        Poll::Ready(None)
    ));
    assert!(matches!(
        rt.block_on(first_poll(when_any(empty).limit(2))),
        Poll::Ready(None)
    ));
    let stream_source = from_stream(stream::empty::<Ready<u8>>());
    assert!(matches!(
        rt.block_on(first_poll(when_any(stream_source))),
        Poll::Ready(None)
    ));
    let (_, _, rest) = rt.block_on(when_any([ready(1)])).expect("a winner");
    assert!(matches!(
        rt.block_on(first_poll(rest.when_any())),
        Poll::Ready(None)
    ));
}

/// `WhenAny` is a `FusedFuture`: terminated once it resolved, with a winner
/// or with `None`.
pub fn r_when_any_is_fused(rt: &impl Runtime) {
    let mut race = when_any([ready(1), ready(2)]);
    assert!(!race.is_terminated());
    let (index, _, rest) = rt.block_on(&mut race).expect("a winner");
    assert_eq!(index, 0);
    assert!(race.is_terminated());
    let mut race = rest.when_any();
    assert!(rt.block_on(&mut race).is_some());
    let mut empty = when_any(Vec::<Ready<u8>>::new());
    assert!(rt.block_on(&mut empty).is_none());
    assert!(empty.is_terminated());
}

/// T4: `when_any(..).limit(0)` is rejected at the call.
pub fn t4_when_any_limit_zero_panics(rt: &impl Runtime) {
    let _ = rt.block_on(when_any([ready(1u8)]).limit(0));
}

/// C1/C2 for the race: a signal gives up the race — `None`, every task
/// dropped; a signal already fired pulls nothing.
pub fn c2_when_any_cancel_on_gives_up(rt: &impl Runtime) {
    let gates = Gates::new(5);
    let tracker = Tracker::new();
    let signal = Gate::new();
    let race = when_any((0..5).map(|i| tracker.track(gates.future(i, i))))
        .limit(3)
        .cancel_on(signal.future((), PollCounter::new()));
    let result = rt.block_on(async {
        let mut race = Box::pin(race);
        assert!(first_poll(race.as_mut()).await.is_pending());
        signal.open();
        race.await
    });
    assert!(result.is_none());
    assert_eq!(tracker.dropped_unfinished(), 3);

    let pulled = PollCounter::new();
    let race = when_any(pulls((0..5).map(ready), &pulled)).cancel_on(ready(()));
    assert!(rt.block_on(race).is_none());
    assert_eq!(pulled.get(), 0);
}

/// `.graceful(&stop)` on a race. A signal before any winner cancels `stop`
/// instead of dropping the tasks in flight, so the race is not given up: it
/// resolves to the first of them to end on its own (lowest index on a tie),
/// and the rest yields the others as they end — one that ignores the token
/// when it ends — then ends. A race won before the signal hands back a rest
/// that keeps the graceful stop. A signal that fired before the first poll:
/// `None`, nothing pulled. Never anything pulled after the stop, never a task
/// dropped.
pub fn c2_when_any_graceful_waits_for_the_tasks_in_flight(rt: &impl Runtime) {
    for won_first in [false, true] {
        let stop = CancelSource::new();
        let token = stop.token();
        let gates = Gates::new(10);
        let tracker = Tracker::new();
        let pulled = PollCounter::new();
        let signal = Gate::new();
        let source = pulls(
            (0..10).map(|i| -> BoxTask<'static, Outcome<usize, ()>> {
                if i == 1 {
                    // Ignores the token.
                    boxed(tracker.track(gates.future(i, Outcome::Completed(i))))
                } else {
                    boxed(tracker.track(token.run(gates.future(i, Ok(i)))))
                }
            }),
            &pulled,
        );
        let race = when_any(source)
            .limit(3)
            .cancel_on(signal.future((), PollCounter::new()))
            .graceful(&stop);
        let rest: Vec<_> = rt.block_on(async {
            let mut race = Box::pin(race);
            assert!(first_poll(race.as_mut()).await.is_pending());
            let mut rest = if won_first {
                // Won before the signal: the rest keeps the graceful stop.
                gates.open(0);
                let (index, output, mut rest) = race.await.expect("a winner");
                assert_eq!((index, output), (0, Outcome::Completed(0)));
                assert!(first_poll(rest.next()).await.is_pending()); // 3 refills 0's place
                signal.open();
                assert_eq!(rest.next().await, Some((2, Outcome::Canceled)));
                rest
            } else {
                signal.open();
                let (index, output, rest) = race.await.expect("not given up");
                assert_eq!((index, output), (0, Outcome::Canceled));
                rest
            };
            assert!(stop.is_canceled());
            let mut items = Vec::new();
            while let Poll::Ready(Some(item)) = first_poll(rest.next()).await {
                items.push(item);
            }
            // 1 runs on: the rest waits for it.
            assert_eq!((rest.in_flight(), tracker.in_flight()), (1, 1));
            gates.open(1);
            items.extend(rest.collect::<Vec<_>>().await);
            items
        });
        if won_first {
            assert_eq!(rest, [(3, Outcome::Canceled), (1, Outcome::Completed(1))]);
        } else {
            assert_eq!(rest, [(2, Outcome::Canceled), (1, Outcome::Completed(1))]);
        }
        assert_eq!(pulled.get(), if won_first { 4 } else { 3 });
        assert_eq!(tracker.dropped_unfinished(), 0);
        assert_eq!(tracker.finished(), pulled.get());
    }

    let stop = CancelSource::new();
    let pulled = PollCounter::new();
    let race = when_any(pulls(
        (0..5).map(|i| stop.token().run(ready(Ok::<_, ()>(i)))),
        &pulled,
    ))
    .cancel_on(ready(()))
    .graceful(&stop);
    assert!(rt.block_on(race).is_none());
    assert_eq!(pulled.get(), 0);
    assert!(stop.is_canceled());
}
