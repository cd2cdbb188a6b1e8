//! Rust twins of the `WhenAll_*` and `WhenAllThrottled_*` xUnit tests of the
//! .NET guide (seed 004, appendix), on the virtual clock.
//!
//! Mapping: a .NET `Task<int>` is a future of `Result<i32, JobError>` (or
//! `Outcome<i32, JobError>` for a task that can end Canceled), `Task.WhenAll`
//! is `when_all`, a task's final `Status` is the task's entry in `settle_all`
//! over the same jobs, `await` rethrowing the first inner exception is
//! `Failure::first_fault`, and `AggregateException.InnerExceptions` is
//! `Faults`. .NET's `TaskStatus.Canceled` for the aggregate is
//! `Err(Failure::Canceled)`.

use std::future::{poll_fn, Future};
use std::pin::pin;

use fanout::{join_all, settle_all, when_all, Failure, Outcome};

use crate::support::jobs::{
    canceled_job_boxed, run_job, run_job_boxed, throw_job_boxed, Job, JobError,
};
use crate::support::{run_timed, sleep, Tracker};

/// Runs `fut` on the virtual clock; returns its output and whether its first
/// poll was `Pending` (the task was `WaitingForActivation`).
fn run_timed_first_pending<F: Future>(fut: F) -> ((F::Output, bool), u64) {
    run_timed(async {
        let mut fut = pin!(fut);
        let mut first = None;
        let out = poll_fn(|cx| {
            let poll = fut.as_mut().poll(cx);
            first.get_or_insert(poll.is_pending());
            poll
        })
        .await;
        (out, first.unwrap())
    })
}

/// `WhenAll_Result_Unwrapped`: `Task.WhenAll(RunJob(100, 1), RunJob(300, 2))`
/// awaits to `new int[] { 1, 2 }` and ends `RanToCompletion`
/// (`IsCompletedSuccessfully`). The twin also checks it takes the longest
/// job's time: 300 virtual ms.
pub fn when_all_result_unwrapped() {
    let (result, elapsed) = run_timed(when_all([run_job(100, 1), run_job(300, 2)]));
    assert_eq!(result, Ok(vec![1, 2]));
    assert_eq!(elapsed, 300);
}

/// `WhenAll_ExceptionsThrown_ExceptionsAggregated`: `Task.WhenAll(RunJob(100,
/// 1), ThrowJob(100), ThrowJob(100), RunJob(150, 4))` is `IsFaulted`, its
/// flattened `AggregateException` has 2 inner exceptions, and the exception
/// thrown by `Wait()` has the same `Message` as the task's `Exception`.
pub fn when_all_exceptions_thrown_exceptions_aggregated() {
    let jobs = vec![
        run_job_boxed(100, 1),
        throw_job_boxed(100),
        throw_job_boxed(100),
        run_job_boxed(150, 4),
    ];
    let (result, elapsed) = run_timed(when_all(jobs));
    let failure = result.expect_err("the batch faulted");
    assert!(failure.is_faulted());
    let faults = failure.faults().expect("faults");
    assert_eq!(faults.len(), 2);
    assert_eq!(faults.indices().collect::<Vec<_>>(), [1, 2]);
    // The thrown exception's message is the task's exception's message.
    assert_eq!(failure.to_string(), faults.to_string());
    assert_eq!(
        failure.to_string(),
        "2 tasks faulted; first (task 1): invalid operation"
    );
    // Run to completion: the batch ends with RunJob(150, 4).
    assert_eq!(elapsed, 150);
}

/// `WhenAll_ExceptionsThrown_ExceptionUnwrapped`: awaiting `Task.WhenAll(RunJob(100,
/// 1), ThrowJob(100), ThrowJob(100))` throws one `InvalidOperationException`,
/// the one of a faulted child (`Assert.Contains(captured, batch.Select(t =>
/// t.Exception?.InnerException))`); the aggregate is `Faulted` with 2 inner
/// exceptions, and job1 is `RanToCompletion`.
pub fn when_all_exceptions_thrown_exception_unwrapped() {
    let jobs = || {
        vec![
            run_job_boxed(100, 1),
            throw_job_boxed(100),
            throw_job_boxed(100),
        ]
    };
    let (result, elapsed) = run_timed(when_all(jobs()));
    let failure = result.expect_err("the batch faulted");
    let captured = failure.first_fault().expect("a fault to rethrow");
    assert_eq!(captured, &JobError::InvalidOperation);
    let faults = failure.faults().expect("faults");
    assert_eq!(faults.len(), 2);
    assert!(faults.iter().any(|(_, error)| error == captured));
    assert_eq!(elapsed, 100);

    let (statuses, _) = run_timed(settle_all(jobs()));
    assert_eq!(statuses[0], Outcome::Completed(1));
    assert!(statuses[1..].iter().all(Outcome::is_faulted));
}

/// `WhenAll_ExceptionsThrown_UnwrappedChildTask`: the exception thrown by
/// awaiting `Task.WhenAll(RunJob(100, 1), ThrowJob(100))` is the very exception
/// of job2 (`Assert.Same(captured1, captured2)`), and job2 is `Faulted`.
pub fn when_all_exceptions_thrown_unwrapped_child_task() {
    let jobs = || vec![run_job_boxed(100, 1), throw_job_boxed(100)];
    let (result, _) = run_timed(when_all(jobs()));
    let failure = result.expect_err("the batch faulted");
    let faults = failure.faults().expect("faults");
    // "Same": the rethrown fault is the one of task 1 (job2), by index.
    assert_eq!(faults.first_index(), Some(1));
    let captured1 = faults.first().cloned();

    let (statuses, _) = run_timed(settle_all(jobs()));
    let captured2 = statuses[1].clone().faulted();
    assert_eq!(captured1, captured2);
    assert_eq!(captured1, Some(JobError::InvalidOperation));
}

/// `WhenAll_CanceledTask_ExceptionThrown`: `Task.WhenAll(RunJob(100, 1),
/// CanceledJob(50), CanceledJob(100))` ends `Canceled` (awaiting it throws
/// `TaskCanceledException`), with no `Exception`; job2 and job3 are
/// `Canceled` with no exception.
pub fn when_all_canceled_task_exception_thrown() {
    let jobs = || {
        vec![
            run_job_boxed(100, 1),
            canceled_job_boxed(50),
            canceled_job_boxed(100),
        ]
    };
    let (result, elapsed) = run_timed(when_all(jobs()));
    assert_eq!(result, Err(Failure::Canceled));
    let failure = result.unwrap_err();
    assert!(failure.is_canceled());
    assert!(failure.faults().is_none() && failure.first_fault().is_none());
    assert_eq!(elapsed, 100);

    let (statuses, _) = run_timed(settle_all(jobs()));
    assert_eq!(
        statuses,
        [Outcome::Completed(1), Outcome::Canceled, Outcome::Canceled]
    );
}

/// `WhenAll_CanceledAndFaulted_ExceptionOverCancellation`: `Task.WhenAll(RunJob(100,
/// 1), CanceledJob(50), ThrowJob(100))` is `Faulted` (not `Canceled`), its
/// inner exception an `InvalidOperationException`; job1 `RanToCompletion`, job2
/// `Canceled` (no exception), job3 `Faulted`.
pub fn when_all_canceled_and_faulted_exception_over_cancellation() {
    let jobs = || {
        vec![
            run_job_boxed(100, 1),
            canceled_job_boxed(50),
            throw_job_boxed(100),
        ]
    };
    let (result, _) = run_timed(when_all(jobs()));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), vec![(2, JobError::InvalidOperation)]);

    let (statuses, _) = run_timed(settle_all(jobs()));
    assert_eq!(
        statuses,
        [
            Outcome::Completed(1),
            Outcome::Canceled,
            Outcome::Faulted(JobError::InvalidOperation)
        ]
    );
}

/// `WhenAll_SharedCancellationToken_AllCancelled`: jobs RunJob(100, 1),
/// RunJob(150, 2), RunJob(200, 3) sharing a token that fires at 50 ms are
/// all `IsCanceled`. The twin cancels the batch with `.cancel_on(sleep(50))`:
/// every task ends `Canceled` at 50 virtual ms, and `when_all` is `Canceled`.
pub fn when_all_shared_cancellation_token_all_cancelled() {
    let tracker = Tracker::new();
    let jobs = || [(100, 1), (150, 2), (200, 3)].map(|(ms, id)| tracker.track(run_job(ms, id)));
    let (statuses, elapsed) = run_timed(async { settle_all(jobs()).cancel_on(sleep(50)).await });
    assert!(statuses.iter().all(Outcome::is_canceled));
    assert_eq!(statuses.len(), 3);
    assert_eq!(elapsed, 50);
    assert_eq!(tracker.dropped_unfinished(), 3);

    let (result, elapsed) = run_timed(async { when_all(jobs()).cancel_on(sleep(50)).await });
    assert_eq!(result, Err(Failure::Canceled));
    assert_eq!(elapsed, 50);
}

/// `WhenAllThrottled_AllGood`: four RunJob(100, i) from a lazy generator,
/// throttled to 2: the task is `WaitingForActivation` at first, then
/// `RanToCompletion`. The twin: pending on the first poll, `Ok([1, 2, 3, 4])`,
/// two at a time, in 200 virtual ms.
pub fn when_all_throttled_all_good() {
    let tracker = Tracker::new();
    let generate = (1..=4).map(|id| tracker.track(run_job(100, id)));
    let ((result, first_pending), elapsed) = run_timed_first_pending(when_all(generate).limit(2));
    assert!(first_pending);
    assert_eq!(result, Ok(vec![1, 2, 3, 4]));
    assert_eq!(elapsed, 200);
    assert_eq!(tracker.peak(), 2);
}

/// `WhenAllThrottled_ExceptionPropagated`: RunJob, ThrowJob, RunJob,
/// ThrowJob, RunJob (100 ms each) throttled to 2 end `Faulted`. The twin:
/// both faults, in input order, after three waves (300 virtual ms).
pub fn when_all_throttled_exception_propagated() {
    let generate: [fn() -> Job; 5] = [
        || run_job_boxed(100, 1),
        || throw_job_boxed(100),
        || run_job_boxed(100, 3),
        || throw_job_boxed(100),
        || run_job_boxed(100, 5),
    ];
    let (result, elapsed) = run_timed(when_all(generate.map(|job| job())).limit(2));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.indices().collect::<Vec<_>>(), [1, 3]);
    assert_eq!(elapsed, 300);
}

/// `WhenAllThrottled_CancellationPropagated`: RunJob, CanceledJob, RunJob,
/// CanceledJob (100 ms each) throttled to 2 end `Canceled`. The twin: `Canceled`
/// after two waves (200 virtual ms).
pub fn when_all_throttled_cancellation_propagated() {
    let jobs = vec![
        run_job_boxed(100, 1),
        canceled_job_boxed(100),
        run_job_boxed(100, 3),
        canceled_job_boxed(100),
    ];
    let (result, elapsed) = run_timed(when_all(jobs).limit(2));
    assert_eq!(result, Err(Failure::Canceled));
    assert_eq!(elapsed, 200);
}

/// The guide's benchmarks on the virtual clock: SequentialBlocking over
/// 3, 2, 1 (× 100 ms) takes 600 ms; ConcurrentIsolated 300 ms;
/// ThrottledInterleaved over 2, 2, 1, 1 with 2 at a time 300 ms;
/// ControlParallelism over 2, 1, 2, 1 with 2 at a time 300 ms.
pub fn benchmarks_sequential_concurrent_and_throttled() {
    let jobs = |data: &[u64]| {
        data.iter()
            .map(|&i| async move {
                sleep(i * 100).await;
                i
            })
            .collect::<Vec<_>>()
    };
    let (out, elapsed) = run_timed(async { join_all(jobs(&[3, 2, 1])).limit(1).await });
    assert_eq!((out, elapsed), (vec![3, 2, 1], 600));
    let (out, elapsed) = run_timed(async { join_all(jobs(&[3, 2, 1])).await });
    assert_eq!((out, elapsed), (vec![3, 2, 1], 300));
    let (out, elapsed) = run_timed(async { join_all(jobs(&[2, 2, 1, 1])).limit(2).await });
    assert_eq!((out, elapsed), (vec![2, 2, 1, 1], 300));
    let (out, elapsed) = run_timed(async { join_all(jobs(&[2, 1, 2, 1])).limit(2).await });
    assert_eq!((out, elapsed), (vec![2, 1, 2, 1], 300));
}
