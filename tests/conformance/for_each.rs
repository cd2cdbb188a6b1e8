//! `for_each` and `for_each_async` (`Parallel.ForEachAsync`, the guide's
//! *ConcurrentInterleavedForEachAsync*): E1, E3, E4 for the processor; T1, T2,
//! T4 for their limit; A6/C2 precedence of `.fail_fast()` and `.cancel_on()`;
//! A7 strictness; and what `for_each_async` adds: one processor future at a
//! time, the tasks kept moving while it waits (the `buffer_unordered` stall
//! shown, not claimed), and a backlog that counts against the limit.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, ready, Future, Ready};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use fanout::{for_each, for_each_async, from_stream, Failure, Outcome};
use futures::future::join;
use futures::stream::{self, StreamExt};
use smol::lock::Semaphore;

use super::when_each::RoundModel;
use super::{boxed, first_poll, pulls, yield_now, BoxTask, Gates, Reentrance, Runtime, XorShift};
use crate::support::jobs::run_job;
use crate::support::{run_timed, sleep, Gate, GateFuture, PollCounter, Tracker, YieldN};

/// Which face a shared body runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Sync,
    Async,
}

const FACES: [Face; 2] = [Face::Sync, Face::Async];

/// E3: empty input: the batch is `Ok(())` on its first poll and the processor
/// is never called — both faces, from an iterator or a stream, limited or not.
pub fn e3_empty_never_calls_the_processor(rt: &impl Runtime) {
    let empty: Vec<Ready<Result<u8, ()>>> = Vec::new();
    // (`-> ()`: a processor that only diverges must name what it would
    // return, now that a processor may return `()` or a `Result`.)
    let never = |_: usize, _: u8| -> () { panic!("the processor was called on empty input") };
    let never_async =
        |_: usize, _: u8| -> Ready<()> { panic!("the processor was called on empty input") };
    assert_eq!(
        rt.block_on(first_poll(for_each(empty.clone(), never))),
        Poll::Ready(Ok(()))
    );
    assert_eq!(
        rt.block_on(first_poll(for_each(empty.clone(), never).limit(2))),
        Poll::Ready(Ok(()))
    );
    assert_eq!(
        rt.block_on(first_poll(for_each_async(empty.clone(), never_async))),
        Poll::Ready(Ok(()))
    );
    assert_eq!(
        rt.block_on(first_poll(for_each_async(empty, never_async).limit(2))),
        Poll::Ready(Ok(()))
    );
    let empty = || from_stream(stream::empty::<Ready<Result<u8, ()>>>());
    assert_eq!(
        rt.block_on(first_poll(for_each(empty(), never))),
        Poll::Ready(Ok(()))
    );
    assert_eq!(
        rt.block_on(first_poll(for_each_async(empty(), never_async))),
        Poll::Ready(Ok(()))
    );
}

/// A gated task that asserts, at every poll, that the processor is not
/// running.
fn guarded(gates: &Gates, i: usize, flag: &Reentrance) -> impl Future<Output = Result<usize, ()>> {
    let mut gate: GateFuture<Result<usize, ()>> = gates.future(i, Ok(i));
    let flag = flag.clone();
    poll_fn(move |cx| {
        assert!(!flag.inside(), "task {i} polled while the processor runs");
        Pin::new(&mut gate).poll(cx)
    })
}

/// E4: `for_each`'s processor never runs concurrently with itself (a
/// re-entrance flag), no task is polled while it runs, and it runs in
/// completion order — a round's completions in index order (checked against
/// [`RoundModel`] with random bursts of wakes), limited or not.
pub fn e4_processor_runs_alone_in_completion_order(rt: &impl Runtime) {
    for seed in 1..=20 {
        let n = 40;
        let gates = Gates::new(n);
        let flag = Reentrance::default();
        let pulled = RefCell::new(Vec::new());
        let processed = RefCell::new(Vec::new());
        let mut rng = XorShift::new(seed);
        let limit = if seed % 2 == 0 {
            2 + rng.below(5)
        } else {
            usize::MAX
        };
        let source = (0..n).map(|i| {
            pulled.borrow_mut().push(i);
            guarded(&gates, i, &flag)
        });
        let batch = for_each(source, |i, value| {
            flag.enter();
            assert_eq!(i, value);
            processed.borrow_mut().push(i);
            flag.leave();
        })
        .limit(limit);
        // Each burst is one round: the batch processes it in one poll.
        let bursts = RefCell::new(Vec::new());
        let driver = async {
            let mut opened = 0;
            while opened < n {
                let mut waiting: Vec<usize> = pulled
                    .borrow()
                    .iter()
                    .copied()
                    .filter(|&i| !gates.is_open(i))
                    .collect();
                rng.shuffle(&mut waiting);
                let burst = (1 + rng.below(4)).min(waiting.len());
                let mut round = RoundModel::default();
                for &i in &waiting[..burst] {
                    gates.open(i);
                    round.wake(i);
                }
                bursts
                    .borrow_mut()
                    .extend(std::iter::from_fn(|| round.next()));
                opened += burst;
                yield_now().await;
            }
        };
        let (result, ()) = rt.block_on(join(batch, driver));
        assert_eq!(result, Ok(()));
        assert_eq!(
            processed.into_inner(),
            bursts.into_inner(),
            "seed {seed}, limit {limit}"
        );
    }
}

/// E1 for `for_each`: faults are not processed; they are all kept, in input
/// order; the values are processed in completion order.
pub fn e1_for_each_faults_are_kept_not_processed(rt: &impl Runtime) {
    let n = 12;
    let order = XorShift::new(0xF0E1).permutation(n);
    let value = |i: usize| if i % 4 == 1 { Err(i * 100) } else { Ok(i) };
    for face in FACES {
        let gates = Gates::new(n);
        let processed = RefCell::new(Vec::new());
        let tasks = (0..n).map(|i| gates.future(i, value(i)));
        let result = match face {
            Face::Sync => rt.block_on(join(
                for_each(tasks, |i, _| processed.borrow_mut().push(i)),
                gates.open_in_order(order.clone()),
            )),
            Face::Async => rt.block_on(join(
                for_each_async(tasks, |i, _| {
                    processed.borrow_mut().push(i);
                    ready(())
                }),
                gates.open_in_order(order.clone()),
            )),
        }
        .0;
        let Err(Failure::Faulted(faults)) = result else {
            panic!("{face:?}: expected Faulted, got {result:?}");
        };
        assert_eq!(faults.into_vec(), [(1, 100), (5, 500), (9, 900)]);
        let expected: Vec<usize> = order.iter().copied().filter(|i| i % 4 != 1).collect();
        assert_eq!(processed.into_inner(), expected, "{face:?}");
    }
}

/// T1 + T2 for `for_each`: a freed place is refilled in the same poll. Seen
/// from inside the processor (one completion per poll here): every earlier
/// completion's place has been refilled already (`started == limit + k`), the
/// place of the value being processed is refilled right after the processor
/// returns (`in_flight == limit - 1`); seen from outside after every poll:
/// exactly `limit` in flight while work is left, and exactly as many pulled as
/// started.
pub fn t1_for_each_refills_in_the_same_poll(rt: &impl Runtime) {
    let (n, limit) = (30, 4);
    let gates = Gates::new(n);
    let tracker = Tracker::new();
    let pulled = RefCell::new(Vec::new());
    let inside = RefCell::new(Vec::new());
    let source = (0..n).map(|i| {
        pulled.borrow_mut().push(i);
        tracker.track(gates.future(i, Ok::<_, ()>(i)))
    });
    let batch = for_each(source, |_, _| {
        inside
            .borrow_mut()
            .push((tracker.in_flight(), tracker.started()));
    })
    .limit(limit);
    let driver = async {
        let mut rng = XorShift::new(0x71F);
        for k in 0..n {
            assert_eq!(tracker.in_flight(), limit.min(n - k));
            assert_eq!(pulled.borrow().len(), (limit + k).min(n));
            let waiting: Vec<usize> = pulled
                .borrow()
                .iter()
                .copied()
                .filter(|&i| !gates.is_open(i))
                .collect();
            gates.open(waiting[rng.below(waiting.len())]);
            yield_now().await;
        }
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(result, Ok(()));
    let expected: Vec<(usize, usize)> = (0..n)
        .map(|k| (limit.min(n - k) - 1, (limit + k).min(n)))
        .collect();
    assert_eq!(inside.into_inner(), expected);
    assert_eq!(tracker.peak(), limit);
}

/// T1 for `for_each` with bursts: however many tasks finish in one poll, the
/// batch returns with all their places refilled — exactly `limit` in flight
/// while work is left, never more; the same for `for_each_async` with a
/// processor that finishes at once.
pub fn t1_for_each_bursts_refilled_in_the_same_poll(rt: &impl Runtime) {
    let (n, limit) = (60, 6);
    for face in FACES {
        let gates = Gates::new(n);
        let tracker = Tracker::new();
        let pulled = RefCell::new(Vec::new());
        let source = (0..n).map(|i| {
            pulled.borrow_mut().push(i);
            tracker.track(gates.future(i, Ok::<_, ()>(i)))
        });
        let processed = Cell::new(0);
        let driver = async {
            let mut rng = XorShift::new(0xB0057);
            let mut opened = 0;
            while opened < n {
                assert_eq!(tracker.in_flight(), limit.min(n - opened), "{face:?}");
                let mut waiting: Vec<usize> = pulled
                    .borrow()
                    .iter()
                    .copied()
                    .filter(|&i| !gates.is_open(i))
                    .collect();
                rng.shuffle(&mut waiting);
                let burst = (1 + rng.below(limit)).min(waiting.len());
                waiting[..burst].iter().for_each(|&i| gates.open(i));
                opened += burst;
                yield_now().await;
            }
        };
        let result = match face {
            Face::Sync => {
                let batch = for_each(source, |_, _| processed.set(processed.get() + 1));
                rt.block_on(join(batch.limit(limit), driver)).0
            }
            Face::Async => {
                let batch = for_each_async(source, |_, _| {
                    processed.set(processed.get() + 1);
                    ready(())
                });
                rt.block_on(join(batch.limit(limit), driver)).0
            }
        };
        assert_eq!(result, Ok(()));
        assert_eq!(processed.get(), n);
        assert_eq!(tracker.peak(), limit);
    }
}

/// T4: `for_each(..).limit(0)` is rejected at the call.
pub fn t4_for_each_limit_zero_panics(rt: &impl Runtime) {
    let _ = rt.block_on(for_each([ready(Ok::<u8, ()>(1))], |_, _| {}).limit(0));
}

/// T4: `for_each_async(..).limit(0)` is rejected at the call.
pub fn t4_for_each_async_limit_zero_panics(rt: &impl Runtime) {
    let _ = rt.block_on(for_each_async([ready(Ok::<u8, ()>(1))], |_, _| ready(())).limit(0));
}

/// Runs `outcomes` (task `i` ends with `outcomes[i]` when its gate opens)
/// through one face, opening the gates in `order`; with `signal_after =
/// Some(k)`, a signal fires after the first `k` gates. Returns the result, the
/// processed indices, and how many tasks were dropped unfinished.
fn precedence_run(
    rt: &impl Runtime,
    face: Face,
    outcomes: &[Outcome<usize, &'static str>],
    order: &[usize],
    signal_after: Option<usize>,
) -> (Result<(), Failure<&'static str>>, Vec<usize>, usize) {
    let gates = Gates::new(outcomes.len());
    let tracker = Tracker::new();
    let signal = Gate::new();
    let processed = RefCell::new(Vec::new());
    let tasks = outcomes
        .iter()
        .enumerate()
        .map(|(i, outcome)| tracker.track(gates.future(i, *outcome)));
    let driver = async {
        for (k, &i) in order.iter().enumerate() {
            if signal_after == Some(k) {
                signal.open();
                yield_now().await;
            }
            gates.open(i);
            yield_now().await;
        }
        if signal_after == Some(order.len()) {
            signal.open();
        }
    };
    let signal = signal.future((), PollCounter::new());
    let result = match face {
        Face::Sync => {
            let batch = for_each(tasks, |i, _| processed.borrow_mut().push(i)).cancel_on(signal);
            rt.block_on(join(batch, driver)).0
        }
        Face::Async => {
            let batch = for_each_async(tasks, |i, _| {
                processed.borrow_mut().push(i);
                yield_now()
            })
            .cancel_on(signal);
            rt.block_on(join(batch, driver)).0
        }
    };
    (result, processed.into_inner(), tracker.dropped_unfinished())
}

/// A6 + C2 for both faces, exactly as `when_all`: all completed is `Ok`; a
/// task's own cancellation gives `Canceled`; any fault gives `Faulted` with
/// the faults alone — also when cancellations (the task's own, or the
/// signal's) come after it; the signal alone gives `Canceled` and drops every
/// task in flight.
pub fn a6_for_each_failure_precedence(rt: &impl Runtime) {
    use Outcome::{Canceled, Completed, Faulted};
    for face in FACES {
        let all_ok = [Completed(0), Completed(1), Completed(2)];
        let (result, processed, dropped) = precedence_run(rt, face, &all_ok, &[2, 0, 1], None);
        assert_eq!((result, processed, dropped), (Ok(()), vec![2, 0, 1], 0));

        let own_cancel = [Completed(0), Canceled, Completed(2)];
        let (result, processed, _) = precedence_run(rt, face, &own_cancel, &[1, 2, 0], None);
        assert_eq!((result, processed), (Err(Failure::Canceled), vec![2, 0]));

        let mixed = [Canceled, Faulted("boom"), Completed(2), Canceled];
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2]] {
            let (result, processed, _) = precedence_run(rt, face, &mixed, &order, None);
            assert_eq!(
                result,
                Err(Failure::Faulted([(1, "boom")].into_iter().collect())),
                "{face:?} {order:?}"
            );
            assert_eq!(processed, [2]);
        }

        // A fault, then the signal: the fault wins; the two still in flight
        // are dropped.
        let faulting = [Completed(0), Faulted("boom"), Completed(2), Completed(3)];
        let (result, processed, dropped) = precedence_run(rt, face, &faulting, &[0, 1], Some(2));
        assert_eq!(
            result,
            Err(Failure::Faulted([(1, "boom")].into_iter().collect()))
        );
        assert_eq!((processed, dropped), (vec![0], 2));

        // The signal alone: `Canceled`, everything in flight dropped.
        let (result, processed, dropped) = precedence_run(rt, face, &faulting, &[3, 0], Some(2));
        assert_eq!(
            (result, processed, dropped),
            (Err(Failure::Canceled), vec![3, 0], 2)
        );

        // A signal that fires after every task ended changes nothing.
        let (result, _, dropped) = precedence_run(rt, face, &all_ok, &[0, 1, 2], Some(3));
        assert_eq!((result, dropped), (Ok(()), 0));
    }
}

/// A7 for both faces: `.fail_fast()` drops every task in flight at the first
/// fault and does not call the source's `next()` once more — counted with a
/// counting iterator, and recorded by the faulting task itself; the processor
/// is not called after the fault.
pub fn a7_for_each_fail_fast_pulls_nothing_after_the_fault(rt: &impl Runtime) {
    for face in FACES {
        let n = 100;
        let gates = Gates::new(n);
        let tracker = Tracker::new();
        let pulled = PollCounter::new();
        let pulled_at_fault = Rc::new(Cell::new(None));
        let processed = RefCell::new(Vec::new());
        let source = pulls(
            (0..n).map(|i| {
                let task = tracker.track(gates.future(i, i));
                let (pulled, at_fault) = (pulled.clone(), Rc::clone(&pulled_at_fault));
                async move {
                    let i = task.await;
                    if i == 4 {
                        at_fault.set(Some(pulled.get()));
                        Err(i)
                    } else {
                        Ok(i)
                    }
                }
            }),
            &pulled,
        );
        let result = match face {
            Face::Sync => {
                let batch = for_each(source, |i, _| processed.borrow_mut().push(i));
                rt.block_on(join(batch.limit(3).fail_fast(), gates.open_in_order(0..=4)))
                    .0
            }
            Face::Async => {
                let batch = for_each_async(source, |i, _| {
                    processed.borrow_mut().push(i);
                    ready(())
                });
                rt.block_on(join(batch.limit(3).fail_fast(), gates.open_in_order(0..=4)))
                    .0
            }
        };
        assert_eq!(
            result,
            Err(Failure::Faulted([(4, 4)].into_iter().collect()))
        );
        // Tasks 0..=6 were pulled (7 calls) when task 4 faulted: 3 in flight.
        assert_eq!(pulled_at_fault.get(), Some(7), "{face:?}");
        assert_eq!(
            pulled.get(),
            7,
            "{face:?}: next() was called after the fault"
        );
        assert_eq!(processed.into_inner(), [0, 1, 2, 3]);
        assert_eq!(tracker.dropped_unfinished(), 2);
        assert_eq!(tracker.in_flight(), 0);
    }
}

/// A7 with an endless source and tasks that fault on their first poll: both
/// faces stop at the fault, having pulled exactly up to it.
pub fn a7_for_each_fail_fast_endless_source(rt: &impl Runtime) {
    for face in FACES {
        let pulled = PollCounter::new();
        let source = pulls(
            (0..).map(|i: usize| ready(if i == 9 { Err(i) } else { Ok(i) })),
            &pulled,
        );
        let processed = Cell::new(0);
        let result = match face {
            Face::Sync => rt.block_on(
                for_each(source, |_, _| processed.set(processed.get() + 1))
                    .limit(4)
                    .fail_fast(),
            ),
            Face::Async => rt.block_on(
                for_each_async(source, |_, _| {
                    processed.set(processed.get() + 1);
                    ready(())
                })
                .limit(4)
                .fail_fast(),
            ),
        };
        assert_eq!(
            result,
            Err(Failure::Faulted([(9, 9)].into_iter().collect()))
        );
        assert_eq!((pulled.get(), processed.get()), (10, 9), "{face:?}");
    }
}

/// Adds one to a shared count when created, takes it back when dropped: how
/// many processor futures are alive.
struct Alive(Rc<Cell<usize>>);

impl Alive {
    fn new(count: &Rc<Cell<usize>>) -> Self {
        count.set(count.get() + 1);
        Self(Rc::clone(count))
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// `for_each_async`: each processor future is awaited to its end before the
/// next value is processed — never two alive at once — and the values are
/// processed in completion order, although several finish while the processor
/// is busy (they wait in the backlog).
pub fn fa_processor_futures_never_overlap(rt: &impl Runtime) {
    let n = 20;
    let gates = Gates::new(n);
    let order = XorShift::new(0xFA).permutation(n);
    let alive = Rc::new(Cell::new(0));
    let log = RefCell::new(Vec::new());
    let batch = for_each_async((0..n).map(|i| gates.future(i, Ok::<_, ()>(i))), |i, _| {
        assert_eq!(alive.get(), 0, "a processor future is still alive");
        let guard = Alive::new(&alive);
        let log = &log;
        async move {
            let _guard = guard;
            log.borrow_mut().push(("start", i));
            // Slow: the next two tasks finish meanwhile.
            for _ in 0..3 {
                yield_now().await;
            }
            log.borrow_mut().push(("end", i));
        }
    });
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order(order.clone())));
    assert_eq!(result, Ok(()));
    assert_eq!(alive.get(), 0);
    let expected: Vec<_> = order
        .iter()
        .flat_map(|&i| [("start", i), ("end", i)])
        .collect();
    assert_eq!(log.into_inner(), expected);
}

/// The semaphore scenario of [`fa_tasks_keep_moving_while_the_processor_waits`]
/// and [`buffer_unordered_stalls_on_the_same_scenario`]: one permit. Task A
/// (index 0) takes it on its first poll and gives it back only when it is
/// polled again after the processor started waiting for it; task B (index 1)
/// finishes at once; the processor of every value waits for the permit.
#[derive(Clone)]
struct PermitScenario {
    semaphore: Arc<Semaphore>,
    processor_waits: Rc<Cell<bool>>,
    a_waker: Rc<RefCell<Option<Waker>>>,
    processed: Rc<RefCell<Vec<&'static str>>>,
}

impl PermitScenario {
    fn new() -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(1)),
            processor_waits: Rc::default(),
            a_waker: Rc::default(),
            processed: Rc::default(),
        }
    }

    /// Tasks A and B, in that order.
    fn tasks(&self) -> Vec<BoxTask<'static, Result<&'static str, ()>>> {
        let this = self.clone();
        let a = async move {
            let permit = this
                .semaphore
                .try_acquire_arc()
                .expect("the permit is free at A's first poll");
            poll_fn(|cx| {
                if this.processor_waits.get() {
                    Poll::Ready(())
                } else {
                    *this.a_waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
            drop(permit);
            Ok("A")
        };
        vec![boxed(a), boxed(async { Ok("B") })]
    }

    /// The processor of one value: says it waits (waking A), then waits for
    /// the permit.
    fn process(&self, value: &'static str) -> impl Future<Output = ()> {
        let this = self.clone();
        async move {
            this.processor_waits.set(true);
            if let Some(waker) = this.a_waker.borrow_mut().take() {
                waker.wake();
            }
            let _permit = this.semaphore.acquire_arc().await;
            this.processed.borrow_mut().push(value);
        }
    }
}

/// `for_each_async` keeps polling the tasks in flight while its processor
/// waits: B's processor waits for the permit that A holds; A is polled again,
/// gives the permit back and finishes; then B's processor, then A's, run. With
/// the tasks left unpolled during the processor's wait, this deadlocks (see
/// [`buffer_unordered_stalls_on_the_same_scenario`]).
pub fn fa_tasks_keep_moving_while_the_processor_waits(rt: &impl Runtime) {
    let scenario = PermitScenario::new();
    let batch = for_each_async(scenario.tasks(), |_, value| scenario.process(value)).limit(2);
    assert_eq!(rt.block_on(batch), Ok(()));
    assert_eq!(*scenario.processed.borrow(), ["B", "A"]);
    assert_eq!(scenario.semaphore.available_permits(), 1);
}

/// The contrast, shown: the same scenario with
/// `stream::iter(tasks).buffer_unordered(2)` and an awaiting `for_each` body
/// deadlocks — while the body awaits the permit, nothing polls the buffered
/// futures, so A never gives it back. The virtual-time executor detects it
/// (root pending, nothing can wake it, no timer) and panics with "deadlock".
pub fn buffer_unordered_stalls_on_the_same_scenario() {
    let scenario = PermitScenario::new();
    let stalled = stream::iter(scenario.tasks())
        .buffer_unordered(2)
        .for_each(|value| scenario.process(value.expect("no task fails")));
    crate::support::run(stalled);
}

/// `for_each_async`: the backlog counts against the limit. With limit 2 and
/// a slow processor (each call waits for its own gate), tasks in flight plus
/// values waiting in the backlog never exceed 2 — and are exactly 2 while work
/// is left — so the source is pulled no faster than values are processed.
pub fn fa_backlog_counts_against_the_limit(rt: &impl Runtime) {
    let (n, limit) = (16, 2);
    let tracker = Tracker::new();
    let pulled = PollCounter::new();
    let processor_gates = Gates::new(n);
    let started = RefCell::new(Vec::new());
    // Tasks finish at once or after one self-wake.
    let source = pulls(
        (0..n).map(|i| tracker.track(YieldN::new(i % 2, Ok::<_, ()>(i), PollCounter::new()))),
        &pulled,
    );
    let batch = for_each_async(source, |i, _| {
        started.borrow_mut().push(i);
        processor_gates.future(i, ())
    })
    .limit(limit);
    let driver = async {
        let mut opened = 0;
        while opened < n {
            yield_now().await;
            yield_now().await;
            let begun = started.borrow().len();
            let waiting = tracker.finished() - begun;
            let held = tracker.in_flight() + waiting;
            assert!(held <= limit, "{held} in flight or waiting");
            // With work left, the limit is used fully.
            assert_eq!(held, limit.min(n - begun));
            // (The last pull is the source's `None`.)
            assert_eq!(pulled.get().min(n), begun + held);
            // The processor runs one value at a time: let it finish.
            assert_eq!(begun, opened + 1);
            processor_gates.open(opened);
            opened += 1;
        }
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(result, Ok(()));
    assert_eq!(*started.borrow(), (0..n).collect::<Vec<_>>());
    assert_eq!(pulled.get(), n + 1);
}

/// `for_each_async` + `.fail_fast()`: the fault drops the tasks in flight and
/// stops pulling, but values already in the backlog (their tasks completed)
/// are still processed; the result is the fault.
pub fn fa_fail_fast_still_processes_the_backlog(rt: &impl Runtime) {
    let n = 10;
    let gates = Gates::new(n);
    let processor_gate = Gate::new();
    let tracker = Tracker::new();
    let pulled = PollCounter::new();
    let processed = RefCell::new(Vec::new());
    let value = |i: usize| if i == 2 { Err("boom") } else { Ok(i) };
    let source = pulls(
        (0..n).map(|i| tracker.track(gates.future(i, value(i)))),
        &pulled,
    );
    let batch = for_each_async(source, |i, _| {
        let gate = processor_gate.future((), PollCounter::new());
        let processed = &processed;
        async move {
            gate.await;
            processed.borrow_mut().push(i);
        }
    })
    .limit(4)
    .fail_fast();
    let driver = async {
        // 0 is being processed (stuck), 1 waits in the backlog, 2 faults:
        // 3 and 4 are dropped.
        gates.open_in_order([0, 1, 2]).await;
        assert_eq!(tracker.dropped_unfinished(), 2);
        processor_gate.open();
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(
        result,
        Err(Failure::Faulted([(2, "boom")].into_iter().collect()))
    );
    assert_eq!(processed.into_inner(), [0, 1]);
    // 0..4, and 4 once value 0 left the backlog for the processor.
    assert_eq!(pulled.get(), 5);
}

/// `for_each_async` + `.cancel_on()`: the signal drops the tasks in flight;
/// the value being processed and the values in the backlog are still
/// processed; the result is `Canceled`.
pub fn c2_for_each_async_cancel_on_keeps_the_backlog(rt: &impl Runtime) {
    let n = 8;
    let gates = Gates::new(n);
    let processor_gate = Gate::new();
    let signal = Gate::new();
    let tracker = Tracker::new();
    let processed = RefCell::new(Vec::new());
    let batch = for_each_async(
        (0..n).map(|i| tracker.track(gates.future(i, Ok::<_, ()>(i)))),
        |i, _| {
            let gate = processor_gate.future((), PollCounter::new());
            let processed = &processed;
            async move {
                gate.await;
                processed.borrow_mut().push(i);
            }
        },
    )
    .limit(4)
    .cancel_on(signal.future((), PollCounter::new()));
    let driver = async {
        gates.open_in_order([3, 1]).await;
        // 3 is being processed (stuck), 1 waits in the backlog; 0, 2 and 4
        // are in flight when the signal fires.
        signal.open();
        yield_now().await;
        assert_eq!(tracker.dropped_unfinished(), 3);
        processor_gate.open();
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(result, Err(Failure::Canceled));
    assert_eq!(processed.into_inner(), [3, 1]);
}

/// `for_each_async` on the virtual clock: the processing overlaps the tasks.
/// Four 100 ms jobs, two at a time, each value processed for 50 ms: a value
/// waiting in the backlog holds its place, so job 2 starts at 100 ms (when
/// value 0's processing starts) and job 3 at 150 ms; everything is done at
/// 300 ms — not the 600 ms of doing the two one after the other.
pub fn fa_processing_overlaps_the_tasks_timed() {
    let tracker = Tracker::new();
    let log = RefCell::new(Vec::new());
    let jobs = (0..4).map(|i| tracker.track(run_job(100, i)));
    let batch = for_each_async(jobs, |_, id| {
        let log = &log;
        async move {
            log.borrow_mut().push((id, crate::support::now()));
            sleep(50).await;
        }
    })
    .limit(2);
    let (result, elapsed) = run_timed(batch);
    assert_eq!(result, Ok(()));
    assert_eq!(elapsed, 300);
    assert_eq!(*log.borrow(), [(0, 100), (1, 150), (2, 200), (3, 250)]);
    assert_eq!(tracker.peak(), 2);
}

/// `for_each` and `pin!`: the batch is a plain future that can be polled
/// through a pinned reference and reports `is_terminated` (FusedFuture).
pub fn e_for_each_is_fused(rt: &impl Runtime) {
    use futures::future::FusedFuture;
    rt.block_on(async {
        let mut batch = pin!(for_each([ready(Ok::<u8, ()>(1))], |_, _| {}));
        assert!(!batch.is_terminated());
        assert_eq!(batch.as_mut().await, Ok(()));
        assert!(batch.is_terminated());
        let mut batch = pin!(for_each_async([ready(Ok::<u8, ()>(1))], |_, _| ready(())));
        assert_eq!(batch.as_mut().await, Ok(()));
        assert!(batch.is_terminated());
    });
}

/// Runs `for_each` or `for_each_async` over `source` with a processor that
/// records each index it gets and fails (`Err(100 + i)`) on item `fails`.
fn fallible<'a, S>(
    rt: &impl Runtime,
    face: &Face,
    source: S,
    fails: usize,
    options: impl Fn(Options<'a>) -> Options<'a>,
) -> (Result<(), Failure<usize>>, Vec<usize>)
where
    S: IntoIterator,
    S::Item: Future<Output = Result<usize, usize>>,
{
    let processed = RefCell::new(Vec::new());
    let process = |i: usize, _: usize| {
        processed.borrow_mut().push(i);
        if i == fails {
            Err(100 + i)
        } else {
            Ok(())
        }
    };
    let o = options(Options::default());
    let result = match face {
        Face::Sync => {
            let mut batch = for_each(source, process).limit(o.limit);
            if o.fail_fast {
                batch = batch.fail_fast();
            }
            if let Some(stop) = o.graceful {
                batch = batch.graceful(stop);
            }
            rt.block_on(batch)
        }
        Face::Async => {
            let mut batch = for_each_async(source, move |i, v| ready(process(i, v))).limit(o.limit);
            if o.fail_fast {
                batch = batch.fail_fast();
            }
            if let Some(stop) = o.graceful {
                batch = batch.graceful(stop);
            }
            rt.block_on(batch)
        }
    };
    (result, processed.into_inner())
}

/// The options [`fallible`] applies.
struct Options<'a> {
    limit: usize,
    fail_fast: bool,
    graceful: Option<&'a fanout::cancel::CancelSource>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            limit: usize::MAX,
            fail_fast: false,
            graceful: None,
        }
    }
}

/// A processor may fail (issue 25): its error is a fault at the item's
/// index, in the same `Failure` as the tasks' faults, in index order; every
/// other value is still processed (no fail-fast).
pub fn fp_a_processor_fault_is_the_items_fault(rt: &impl Runtime) {
    for face in FACES {
        // Task 5 faults itself; the processor fails on item 2.
        let tasks = (0..8).map(|i| async move {
            yield_now().await;
            if i == 5 {
                Err(i)
            } else {
                Ok(i)
            }
        });
        let (result, mut processed) = fallible(rt, &face, tasks, 2, |o| o);
        let Err(Failure::Faulted(faults)) = result else {
            panic!("{face:?}: both faults fail the batch")
        };
        assert_eq!(faults.into_vec(), [(2, 102), (5, 5)], "{face:?}");
        processed.sort_unstable();
        assert_eq!(
            processed,
            [0, 1, 2, 3, 4, 6, 7],
            "{face:?}: every value processed"
        );
    }
}

/// With `.fail_fast()`, a processor's fault cancels the batch as a task's
/// does: the tasks in flight are dropped, nothing more is pulled.
pub fn fp_a_processor_fault_stops_a_fail_fast_batch(rt: &impl Runtime) {
    for face in FACES {
        let n = 50;
        let pulled = PollCounter::new();
        let tracker = Tracker::new();
        // Sequential (limit 1): item 3's processor fails; items 0..=3 ran.
        let source = pulls(
            (0..n).map(|i| {
                let task = tracker.track(async move {
                    yield_now().await;
                    Ok::<usize, usize>(i)
                });
                task
            }),
            &pulled,
        );
        let (result, processed) = fallible(rt, &face, source, 3, |o| Options {
            limit: 1,
            fail_fast: true,
            ..o
        });
        let Err(Failure::Faulted(faults)) = result else {
            panic!("{face:?}: the processor's fault fails the batch")
        };
        assert_eq!(faults.into_vec(), [(3, 103)], "{face:?}");
        assert!(
            processed.starts_with(&[0, 1, 2, 3]),
            "{face:?}: {processed:?}"
        );
        assert!(
            pulled.get() < n,
            "{face:?}: the source was pulled dry ({})",
            pulled.get()
        );
        assert!(processed.len() <= 5, "{face:?}: {processed:?}");
    }
}

/// With `.fail_fast().graceful(&stop)`, a processor's fault cancels `stop`
/// and the batch waits for the tasks in flight to end on their own.
pub fn fp_a_processor_fault_stops_a_graceful_batch(rt: &impl Runtime) {
    for face in FACES {
        let stop = fanout::cancel::CancelSource::new();
        let ended = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let token = stop.token();
                let ended = Rc::clone(&ended);
                async move {
                    if i == 0 {
                        // Ends after every task is in flight.
                        yield_now().await;
                    } else {
                        // Runs until told to stop.
                        token.canceled().await;
                    }
                    ended.set(ended.get() + 1);
                    Ok::<usize, usize>(i)
                }
            })
            .collect();
        let (result, processed) = fallible(rt, &face, tasks, 0, |o| Options {
            fail_fast: true,
            graceful: Some(&stop),
            ..o
        });
        assert!(stop.is_canceled(), "{face:?}");
        assert_eq!(ended.get(), 4, "{face:?}: the others ended on their own");
        let Err(Failure::Faulted(faults)) = result else {
            panic!("{face:?}: the processor's fault fails the batch")
        };
        assert_eq!(faults.into_vec(), [(0, 100)], "{face:?}");
        // The stopped tasks completed (their tokens ended them with a
        // value): graceful processes them too.
        let mut processed = processed;
        processed.sort_unstable();
        assert_eq!(processed, [0, 1, 2, 3], "{face:?}");
    }
}
