//! `settle_all`: O1–O3, and A1–A4 and A7 as they apply to a combinator that
//! judges nothing.

use std::future::{ready, Ready};
use std::task::Poll;

use fanout::{settle_all, when_all, Failure, Outcome};
use futures::future::join;

use super::{boxed, first_poll, pulls, BoxTask, Gates, Runtime, XorShift};
use crate::support::{Gate, PollCounter, Tracker};

/// The outcome task `i` of the mixed batches below ends with.
fn kind(i: usize) -> Outcome<usize, usize> {
    match i % 3 {
        0 => Outcome::Completed(i),
        1 => Outcome::Faulted(i),
        _ => Outcome::Canceled,
    }
}

/// A1: outcomes in input order whatever the completion order.
pub fn a1_input_order(rt: &impl Runtime) {
    let n = 60;
    let gates = Gates::new(n);
    let batch = settle_all((0..n).map(|i| gates.future(i, kind(i))));
    let order = XorShift::new(0x5A1).permutation(n);
    let (outcomes, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
    assert_eq!(outcomes, (0..n).map(kind).collect::<Vec<_>>());
}

/// A2: empty input is ready on the first poll with an empty `Vec`.
pub fn a2_empty_is_ready_on_first_poll(rt: &impl Runtime) {
    let empty: Vec<Ready<Result<u8, ()>>> = Vec::new();
    assert_eq!(
        rt.block_on(first_poll(settle_all(empty))),
        Poll::Ready(vec![])
    );
}

/// A3: inputs already complete: ready on the first poll, faults included.
pub fn a3_ready_inputs_are_ready_on_first_poll(rt: &impl Runtime) {
    let batch = settle_all((0..30).map(|i| ready(kind(i))));
    assert_eq!(
        rt.block_on(first_poll(batch)),
        Poll::Ready((0..30).map(kind).collect())
    );
}

/// A4: a fault is a value: nothing is dropped, every task runs to the end.
pub fn a4_faults_are_values(rt: &impl Runtime) {
    let gates = Gates::new(5);
    let tracker = Tracker::new();
    let batch = settle_all((0..5).map(|i| {
        let value = if i < 2 { Err(i) } else { Ok(i) };
        tracker.track(gates.future(i, value))
    }));
    let (outcomes, ()) = rt.block_on(join(batch, gates.open_in_order(0..5)));
    assert_eq!(
        outcomes,
        [
            Outcome::Faulted(0),
            Outcome::Faulted(1),
            Outcome::Completed(2),
            Outcome::Completed(3),
            Outcome::Completed(4)
        ]
    );
    assert_eq!(tracker.finished(), 5);
    assert_eq!(tracker.dropped_unfinished(), 0);
}

/// O1: every pulled task gets exactly one outcome, in any wake order; each
/// task is polled exactly twice (first poll, and once after its one wake).
pub fn o1_every_pulled_task_has_one_outcome(rt: &impl Runtime) {
    let n = 300;
    for seed in 1..=3 {
        let gates = Gates::new(n);
        let pulled = PollCounter::new();
        let batch = settle_all(pulls((0..n).map(|i| gates.future(i, kind(i))), &pulled));
        let order = XorShift::new(seed).permutation(n);
        let (outcomes, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
        assert_eq!(outcomes.len(), n);
        assert_eq!(pulled.get(), n + 1);
        assert_eq!(outcomes, (0..n).map(kind).collect::<Vec<_>>());
        assert!(gates.all_polls().iter().all(|&p| p == 2));
    }
}

/// O1 + C2: under cancellation, every pulled task has exactly one outcome:
/// the finished ones theirs, the dropped ones `Canceled`.
pub fn o1_one_outcome_each_under_cancellation(rt: &impl Runtime) {
    let gates = Gates::new(20);
    let signal = Gate::new();
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let source = pulls(
        (0..20).map(|i| tracker.track(gates.future(i, Ok::<_, ()>(i)))),
        &pulled,
    );
    let batch = settle_all(source)
        .limit(4)
        .cancel_on(signal.future((), PollCounter::new()));
    let driver = async {
        gates.open_in_order(0..6).await;
        signal.open();
    };
    let (outcomes, ()) = rt.block_on(join(batch, driver));
    let mut expected: Vec<Outcome<usize, ()>> = (0..6).map(Outcome::Completed).collect();
    expected.extend([Outcome::Canceled; 4]);
    assert_eq!(outcomes, expected);
    assert_eq!(pulled.get(), 10);
    assert_eq!(tracker.dropped_unfinished(), 4);
    // The dropped tasks were polled once (when pulled), never after.
    assert_eq!(gates.all_polls()[6..10], [1, 1, 1, 1]);
    assert_eq!(gates.all_polls()[10..], [0; 10]);
}

/// O1 + A7: under `.fail_fast()`, every pulled task has exactly one outcome.
pub fn o1_one_outcome_each_under_fail_fast(rt: &impl Runtime) {
    let gates = Gates::new(20);
    let pulled = PollCounter::new();
    let source = pulls(
        (0..20).map(|i| gates.future(i, if i == 5 { Err(i) } else { Ok(i) })),
        &pulled,
    );
    let batch = settle_all(source).limit(4).fail_fast();
    let (outcomes, ()) = rt.block_on(join(batch, gates.open_in_order(0..6)));
    let mut expected: Vec<Outcome<usize, usize>> = (0..5).map(Outcome::Completed).collect();
    expected.push(Outcome::Faulted(5));
    expected.extend([Outcome::Canceled; 3]);
    assert_eq!(outcomes, expected);
    assert_eq!(pulled.get(), 9);
}

/// A7 for `settle_all`: not one `next()` after the fault is seen; the tasks
/// in flight are `Canceled`.
pub fn a7_fail_fast_pulls_nothing_after_the_fault(rt: &impl Runtime) {
    let pulled = PollCounter::new();
    let gates = Gates::new(50);
    let source = pulls(
        (0..50).map(|i| gates.future(i, if i == 2 { Err("boom") } else { Ok(i) })),
        &pulled,
    );
    let batch = settle_all(source).limit(8).fail_fast();
    // Open task 2 first: it faults while 0, 1 and 3..8 are in flight.
    let (outcomes, ()) = rt.block_on(join(batch, gates.open_in_order([2])));
    let mut expected = vec![Outcome::Canceled; 8];
    expected[2] = Outcome::Faulted("boom");
    assert_eq!(outcomes, expected);
    assert_eq!(pulled.get(), 8);
}

/// A task that, once its gate opens, fires `signal` and completes `Ok(value)`
/// in the same poll.
fn fire_and_complete(
    gates: &Gates,
    i: usize,
    signal: &Gate,
    value: i32,
) -> BoxTask<'static, Result<i32, ()>> {
    let (task, signal) = (gates.future(i, ()), signal.clone());
    boxed(async move {
        task.await;
        signal.open();
        Ok(value)
    })
}

/// O2: a task that returns `Ok` is Completed even though the cancellation
/// was requested while it ran; the task still in flight is Canceled.
pub fn o2_completed_although_cancel_was_requested(rt: &impl Runtime) {
    for settle in [true, false] {
        let gates = Gates::new(2);
        let signal = Gate::new();
        let tasks = vec![
            fire_and_complete(&gates, 0, &signal, 7),
            boxed(gates.future(1, Ok(8))),
        ];
        let fired = signal.future((), PollCounter::new());
        if settle {
            let batch = settle_all(tasks).cancel_on(fired);
            let (outcomes, ()) = rt.block_on(join(batch, gates.open_in_order([0])));
            assert_eq!(outcomes, [Outcome::Completed(7), Outcome::Canceled]);
        } else {
            let batch = when_all(tasks).cancel_on(fired);
            let (result, ()) = rt.block_on(join(batch, gates.open_in_order([0])));
            assert_eq!(result, Err(Failure::Canceled));
        }
        assert_eq!(gates.polls(1), 1);
    }
}

/// O2 when the task that sees the cancellation request is the last one (the
/// source already exhausted): it is Completed, and so is every other.
pub fn o2_last_task_completed_although_cancel_was_requested(rt: &impl Runtime) {
    let gates = Gates::new(2);
    let signal = Gate::new();
    let tasks = vec![
        boxed(ready(Ok(1))),
        fire_and_complete(&gates, 1, &signal, 2),
    ];
    let batch = settle_all(tasks).cancel_on(signal.future((), PollCounter::new()));
    let (outcomes, ()) = rt.block_on(join(batch, gates.open_in_order([1])));
    assert_eq!(outcomes, [Outcome::Completed(1), Outcome::Completed(2)]);
    assert!(signal.is_open());
}

/// O3: `Outcome::Canceled` is Canceled, not Faulted; the other outcomes are
/// passed through as they are.
pub fn o3_outcome_canceled_is_canceled(rt: &impl Runtime) {
    let tasks = [
        Outcome::Completed(1),
        Outcome::Canceled,
        Outcome::Faulted("boom"),
    ]
    .map(ready);
    let outcomes = rt.block_on(settle_all(tasks));
    assert_eq!(
        outcomes,
        [
            Outcome::Completed(1),
            Outcome::Canceled,
            Outcome::Faulted("boom")
        ]
    );
    assert!(outcomes[1].is_canceled() && !outcomes[1].is_faulted());
}
