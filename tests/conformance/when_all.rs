//! `when_all`: A1–A8 and O3 (Task.WhenAll semantics).

use std::cell::{Cell, RefCell};
use std::future::{ready, Ready};
use std::rc::Rc;
use std::task::Poll;

use fanout::{from_stream, settle_all, when_all, Failure, Faults, Outcome};
use futures::future::join;
use futures::stream;

use super::{first_poll, pulls, stream_polls, Gates, Runtime, XorShift};
use crate::support::jobs::{run_job, run_job_boxed, throw_job_boxed, JobError};
use crate::support::{run_timed, PollCounter, Tracker};

/// A1: values come back in input order although the tasks complete in a
/// random order.
pub fn a1_input_order(rt: &impl Runtime) {
    let n = 64;
    let gates = Gates::new(n);
    let order = XorShift::new(0xA1).permutation(n);
    let batch = when_all((0..n).map(|i| gates.future(i, Ok::<usize, ()>(i * 10))));
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
    assert_eq!(result, Ok((0..n).map(|i| i * 10).collect::<Vec<_>>()));
}

/// A1 with a stream source (`from_stream`).
pub fn a1_input_order_from_stream(rt: &impl Runtime) {
    let n = 40;
    let gates = Gates::new(n);
    let order = XorShift::new(0xA1A1).permutation(n);
    let tasks = stream::iter((0..n).map(|i| gates.future(i, Ok::<usize, ()>(i))));
    let batch = when_all(from_stream(tasks));
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
    assert_eq!(result, Ok((0..n).collect::<Vec<_>>()));
}

/// A2: empty input is ready on the first poll with an empty `Vec`.
pub fn a2_empty_is_ready_on_first_poll(rt: &impl Runtime) {
    let empty: Vec<Ready<Result<u8, ()>>> = Vec::new();
    assert_eq!(
        rt.block_on(first_poll(when_all(empty))),
        Poll::Ready(Ok(vec![]))
    );
    let empty = from_stream(stream::empty::<Ready<Result<u8, ()>>>());
    assert_eq!(
        rt.block_on(first_poll(when_all(empty))),
        Poll::Ready(Ok(vec![]))
    );
}

/// A3: inputs that are already complete: ready on the first poll.
pub fn a3_ready_inputs_are_ready_on_first_poll(rt: &impl Runtime) {
    let batch = when_all((0..100).map(|i| ready(Ok::<_, ()>(i))));
    assert_eq!(
        rt.block_on(first_poll(batch)),
        Poll::Ready(Ok((0..100).collect()))
    );
}

/// A3 + A5: already-faulted inputs are also ready on the first poll, with
/// every fault.
pub fn a3_ready_faults_are_ready_on_first_poll(rt: &impl Runtime) {
    let batch = when_all([Ok(1), Err("a"), Ok(3), Err("b")].map(ready));
    let Poll::Ready(Err(Failure::Faulted(faults))) = rt.block_on(first_poll(batch)) else {
        panic!("expected a fault on the first poll");
    };
    assert_eq!(faults.into_vec(), vec![(1, "a"), (3, "b")]);
}

/// A4: a fault does not drop the other tasks; the batch stays pending until
/// every task has ended.
pub fn a4_fault_does_not_drop_the_others(rt: &impl Runtime) {
    let gates = Gates::new(4);
    let tracker = Tracker::new();
    let done = Cell::new(false);
    let batch = when_all((0..4).map(|i| {
        let value = if i == 0 { Err("boom") } else { Ok(i) };
        tracker.track(gates.future(i, value))
    }));
    let batch = async {
        let result = batch.await;
        done.set(true);
        result
    };
    let driver = async {
        for i in 0..3 {
            gates.open(i);
            super::yield_now().await;
            assert!(!done.get(), "finished with tasks still running");
            assert_eq!(tracker.dropped_unfinished(), 0);
            assert_eq!(tracker.finished(), i + 1);
            assert_eq!(tracker.in_flight(), 3 - i);
        }
        gates.open(3);
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), vec![(0, "boom")]);
    assert_eq!(tracker.finished(), 4);
    assert_eq!(tracker.dropped_unfinished(), 0);
}

/// A5: every fault, with its index, in input order, although they happen in
/// reverse order; `first()` is the lowest index.
pub fn a5_faults_in_input_order(rt: &impl Runtime) {
    let n = 10;
    let gates = Gates::new(n);
    let batch = when_all((0..n).map(|i| {
        let value = if i % 2 == 0 { Err(i * 10) } else { Ok(i) };
        gates.future(i, value)
    }));
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order((0..n).rev())));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.first(), Some(&0));
    assert_eq!(faults.first_index(), Some(0));
    assert_eq!(faults.len(), 5);
    assert_eq!(
        faults.into_vec(),
        vec![(0, 0), (2, 20), (4, 40), (6, 60), (8, 80)]
    );
}

fn outcome_batch(
    rt: &impl Runtime,
    outcomes: Vec<Outcome<usize, &'static str>>,
    order: Vec<usize>,
) -> Result<Vec<usize>, Failure<&'static str>> {
    let gates = Gates::new(outcomes.len());
    let batch = when_all(
        outcomes
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| gates.future(i, outcome)),
    );
    rt.block_on(join(batch, gates.open_in_order(order))).0
}

/// A6: any fault gives `Faulted`, and cancellations add no entry — whether the
/// fault comes before or after the cancellations.
pub fn a6_fault_beats_cancellation(rt: &impl Runtime) {
    let tasks = || {
        vec![
            Outcome::Canceled,
            Outcome::Completed(1),
            Outcome::Faulted("boom"),
            Outcome::Canceled,
        ]
    };
    for order in [vec![0, 1, 2, 3], vec![2, 3, 1, 0], vec![3, 0, 2, 1]] {
        let result = outcome_batch(rt, tasks(), order);
        let Err(Failure::Faulted(faults)) = result else {
            panic!("expected Faulted, got {result:?}");
        };
        assert_eq!(faults.into_vec(), vec![(2, "boom")]);
    }
}

/// A6: no fault but a cancellation gives `Canceled`.
pub fn a6_cancellation_without_fault_is_canceled(rt: &impl Runtime) {
    let tasks = vec![
        Outcome::Completed(0),
        Outcome::Canceled,
        Outcome::Completed(2),
    ];
    let result = outcome_batch(rt, tasks, vec![1, 2, 0]);
    assert_eq!(result, Err(Failure::Canceled));
    assert!(result.unwrap_err().faults().is_none());
}

/// A6: neither faults nor cancellations gives `Ok`.
pub fn a6_all_completed_is_ok(rt: &impl Runtime) {
    let tasks = (0..5).map(Outcome::Completed).collect();
    assert_eq!(
        outcome_batch(rt, tasks, vec![4, 0, 3, 1, 2]),
        Ok(vec![0, 1, 2, 3, 4])
    );
}

/// A7: `.fail_fast()` drops every task in flight (recorded Canceled) and does
/// not call `next()` once more after the fault was seen.
pub fn a7_fail_fast_pulls_nothing_after_the_fault(rt: &impl Runtime) {
    let n = 100;
    let gates = Gates::new(n);
    let tracker = Tracker::new();
    let pulled = PollCounter::new();
    let pulled_at_fault = Rc::new(Cell::new(None));
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
    let batch = when_all(source).limit(3).fail_fast();
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order(0..=4)));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), vec![(4, 4)]);
    // Tasks 0..=6 were pulled (7 calls) when task 4 faulted: 3 in flight.
    assert_eq!(pulled_at_fault.get(), Some(7));
    assert_eq!(pulled.get(), 7, "next() was called after the fault");
    assert_eq!(tracker.started(), 7);
    assert_eq!(tracker.finished(), 5);
    assert_eq!(tracker.dropped_unfinished(), 2);
    assert_eq!(tracker.in_flight(), 0);
}

/// A7 with tasks that fault on their first poll and no limit: the fault is
/// seen before the next pull.
pub fn a7_fail_fast_ready_fault_stops_pulling(rt: &impl Runtime) {
    let pulled = PollCounter::new();
    let source = pulls(
        (0..100).map(|i| ready(if i == 10 { Err(i) } else { Ok(i) })),
        &pulled,
    );
    let result = rt.block_on(when_all(source).fail_fast());
    assert_eq!(
        result.map_err(|f| f.into_faults().map(Faults::into_vec)),
        Err(Some(vec![(10, 10)]))
    );
    assert_eq!(pulled.get(), 11);
}

/// A7 with a stream source: `poll_next` is not called after the fault.
pub fn a7_fail_fast_from_stream_stops_polling_the_stream(rt: &impl Runtime) {
    let polled = PollCounter::new();
    let tasks = stream::iter((0..100).map(|i| ready(if i == 10 { Err(i) } else { Ok(i) })));
    let batch = when_all(from_stream(stream_polls(tasks, &polled))).fail_fast();
    let result = rt.block_on(batch);
    assert!(matches!(&result, Err(Failure::Faulted(f)) if f.first_index() == Some(10)));
    assert_eq!(polled.get(), 11);
}

/// A7's contrast (A4): without `.fail_fast()` every item is pulled and run.
pub fn a7_without_fail_fast_everything_is_pulled(rt: &impl Runtime) {
    let pulled = PollCounter::new();
    let source = pulls(
        (0..100).map(|i| ready(if i == 10 { Err(i) } else { Ok(i) })),
        &pulled,
    );
    let result = rt.block_on(when_all(source));
    assert_eq!(
        result.map_err(|f| f.into_faults().map(Faults::into_vec)),
        Err(Some(vec![(10, 10)]))
    );
    assert_eq!(pulled.get(), 101); // 100 items and the `None`
}

type Inner = Vec<Ready<Result<i32, &'static str>>>;

/// A8: a task that is itself a `when_all` keeps its `Failure` as its error
/// value: no flattening.
pub fn a8_nested_failure_is_the_task_error(rt: &impl Runtime) {
    let ok: Inner = vec![ready(Ok(1)), ready(Ok(2))];
    let bad: Inner = vec![ready(Ok(3)), ready(Err("x")), ready(Err("y"))];
    let result = rt.block_on(when_all(vec![when_all(ok.clone()), when_all(bad.clone())]));
    let inner: Faults<&str> = [(1, "x"), (2, "y")].into_iter().collect();
    let Err(Failure::Faulted(outer)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(outer.into_vec(), vec![(1, Failure::Faulted(inner.clone()))]);

    // The same nested batch settled: the inner failure is the task's fault.
    let settled = rt.block_on(settle_all(vec![when_all(ok), when_all(bad)]));
    assert_eq!(
        settled,
        vec![
            Outcome::Completed(vec![1, 2]),
            Outcome::Faulted(Failure::Faulted(inner))
        ]
    );
}

/// A8: an inner batch that was canceled is the outer task's error value
/// `Failure::Canceled` (the outer batch sees a fault, not a cancellation).
pub fn a8_nested_cancellation_is_the_task_error(rt: &impl Runtime) {
    type Inner = Vec<Ready<Outcome<i32, &'static str>>>;
    let ok: Inner = vec![ready(Outcome::Completed(1))];
    let canceled: Inner = vec![ready(Outcome::Completed(2)), ready(Outcome::Canceled)];
    let result = rt.block_on(when_all(vec![when_all(ok), when_all(canceled)]));
    let Err(Failure::Faulted(outer)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(outer.into_vec(), vec![(1, Failure::Canceled)]);
}

/// O3: a task whose output is `Outcome::Canceled` is canceled, not faulted.
pub fn o3_outcome_canceled_is_canceled(rt: &impl Runtime) {
    let result = rt.block_on(when_all([ready(Outcome::<i32, &str>::Canceled)]));
    assert_eq!(result, Err(Failure::Canceled));
    let failure = result.unwrap_err();
    assert!(failure.is_canceled() && !failure.is_faulted());
    assert_eq!(failure.faults(), None);
}

/// A4 on the virtual clock: a fault at 50 ms does not end the batch; it ends
/// with the last task, at 300 ms.
pub fn a4_run_to_completion_timed() {
    let (result, elapsed) = run_timed(when_all(vec![throw_job_boxed(50), run_job_boxed(300, 2)]));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), vec![(0, JobError::InvalidOperation)]);
    assert_eq!(elapsed, 300);
}

/// A1 on the virtual clock: completion order 2, 3, 1; result order 1, 2, 3.
pub fn a1_completion_order_is_not_result_order_timed() {
    let log = RefCell::new(Vec::new());
    let job = |ms, id| {
        let log = &log;
        async move {
            let id = run_job(ms, id).await?;
            log.borrow_mut().push(id);
            Ok::<_, JobError>(id)
        }
    };
    let (result, elapsed) = run_timed(when_all([job(300, 1), job(100, 2), job(200, 3)]));
    assert_eq!(result, Ok(vec![1, 2, 3]));
    assert_eq!(*log.borrow(), vec![2, 3, 1]);
    assert_eq!(elapsed, 300);
}
