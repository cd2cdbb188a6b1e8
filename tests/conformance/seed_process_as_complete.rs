//! Rust twins of the rest of the .NET guide (seed 004): the `WhenAny_*` xUnit
//! test of its appendix, its *Interleaved* combinator, and its
//! `ForEachAsync` examples, on the virtual clock. (`WhenAllThrottled_AllGood`,
//! `_ExceptionPropagated` and `_CancellationPropagated` are twinned in
//! `seed_when_all`.)
//!
//! Mapping: `Task.WhenAny` is `when_any`, whose rest is the batch minus the
//! winner (a .NET task stays in its list; to see the *next* task to end,
//! .NET awaits `WhenAny` again after the first has been removed, Rust races the
//! rest); a task's `Status` is its `Outcome`; the guide's benchmarks become
//! virtual durations, and their "concurrency" a `Tracker`'s peak. Each
//! `ForEachAsync` example is checked with `for_each` (the processor as a plain
//! closure) and with `for_each_async` (the processor as a future), which must
//! agree.

use std::cell::RefCell;
use std::future::ready;

use fanout::{for_each, for_each_async, when_any, when_each, Outcome};
use futures::StreamExt;

use crate::support::jobs::{canceled_job_boxed, run_job_boxed, throw_job_boxed, JobError};
use crate::support::{now, run_timed, sleep, Tracker};

/// The guide's task body: `await Task.Delay(i * 100); return i;`.
async fn delay_job(i: u64) -> Result<u64, ()> {
    sleep(i * 100).await;
    Ok(i)
}

/// `WhenAny_FirstCanceled`: over RunJob(100, 1), CanceledJob(50),
/// ThrowJob(70), "the first task to complete" is the canceled one
/// (`Assert.Equal(TaskStatus.Canceled, someTask.Status)`) and `WhenAny` itself
/// is `RanToCompletion` — a canceled or faulted task is a value, not an error;
/// after the others have run, `WhenAny` yields another task
/// (`Assert.NotSame(someTask, someTask3)`). The twin: the canceled job wins at
/// 50 virtual ms, racing the rest gives the faulted one at 70 ms, racing
/// what is left gives job1 at 100 ms; then nothing is left.
pub fn when_any_first_canceled() {
    let jobs = vec![
        run_job_boxed(100, 1),
        canceled_job_boxed(50),
        throw_job_boxed(70),
    ];
    let (races, elapsed) = run_timed(async {
        let mut races = Vec::new();
        let (index, status, rest) = when_any(jobs).await.expect("three jobs");
        races.push((index, status, now()));
        let (index, status, rest) = rest.when_any().await.expect("two jobs left");
        races.push((index, status, now()));
        let (index, status, rest) = rest.when_any().await.expect("one job left");
        races.push((index, status, now()));
        assert!(rest.when_any().await.is_none());
        races
    });
    assert_eq!(
        races,
        [
            (1, Outcome::Canceled, 50),
            (2, Outcome::Faulted(JobError::InvalidOperation), 70),
            (0, Outcome::Completed(1), 100),
        ]
    );
    assert_eq!(elapsed, 100);
}

/// `ConcurrentInterleavedCombinator` (the `Interleaved` combinator):
/// `foreach (var bucket in Interleaved(tasks)) await bucket;` over 3, 2, 1
/// (× 100 ms) hands the tasks out in completion order and takes 299.4 ms.
/// The twin: `when_each` yields ids 1, 2, 3 — indices 2, 1, 0 — at 100, 200
/// and 300 virtual ms; 300 ms in all.
pub fn concurrent_interleaved_combinator() {
    let (buckets, elapsed) = run_timed(async {
        let mut each = when_each([3, 2, 1].map(delay_job));
        let mut buckets = Vec::new();
        while let Some((index, id)) = each.next().await {
            buckets.push((index, id.expect("no job fails"), now()));
        }
        buckets
    });
    assert_eq!(buckets, [(2, 1, 100), (1, 2, 200), (0, 3, 300)]);
    assert_eq!(elapsed, 300);
}

/// Runs one of the guide's `ForEachAsync` examples over `data` with at most
/// `limit` in flight, both with `for_each` and with `for_each_async`; checks
/// that both agree and returns (processing order as `(index, value)`, virtual
/// duration, peak tasks in flight).
fn for_each_example(data: &[u64], limit: usize) -> (Vec<(usize, u64)>, u64, usize) {
    let tracker = Tracker::new();
    let processed = RefCell::new(Vec::new());
    let jobs = || data.iter().map(|&i| tracker.track(delay_job(i)));
    let (result, elapsed) = run_timed(
        for_each(jobs(), |index, value| {
            processed.borrow_mut().push((index, value))
        })
        .limit(limit),
    );
    assert_eq!(result, Ok(()));
    let sync = (processed.take(), elapsed, tracker.peak());

    let tracker = Tracker::new();
    let jobs = data.iter().map(|&i| tracker.track(delay_job(i)));
    let (result, elapsed) = run_timed(
        for_each_async(jobs, |index, value| {
            processed.borrow_mut().push((index, value));
            ready(())
        })
        .limit(limit),
    );
    assert_eq!(result, Ok(()));
    let async_ = (processed.take(), elapsed, tracker.peak());
    assert_eq!(sync, async_, "for_each and for_each_async disagree");
    sync
}

/// `SequentialBlockingForEachAsync` (benchmark `SequentialBlocking`):
/// `foreach (var value in list) resultProcessor(value, await
/// taskSelector(value));` over 3, 2, 1 (× 100 ms): 600.8 ms, one task at a
/// time, processed in input order. The twin, `for_each(..).limit(1)`: 600
/// virtual ms, peak 1, processing order 3, 2, 1.
pub fn sequential_blocking_for_each_async() {
    let (order, elapsed, peak) = for_each_example(&[3, 2, 1], 1);
    assert_eq!(order, [(0, 3), (1, 2), (2, 1)]);
    assert_eq!((elapsed, peak), (600, 1));
}

/// `ConcurrentInterleavedForEachAsync` (benchmark `ConcurrentIsolated`): all
/// tasks run concurrently, and "as each task completes, run a second
/// processing action over the results ... sequentially": 299.1 ms over 3, 2, 1
/// (× 100 ms). The twin, `for_each(..)`: 300 virtual ms, peak 3, processing in
/// completion order 1, 2, 3 (indices 2, 1, 0).
pub fn concurrent_interleaved_for_each_async() {
    let (order, elapsed, peak) = for_each_example(&[3, 2, 1], usize::MAX);
    assert_eq!(order, [(2, 1), (1, 2), (0, 3)]);
    assert_eq!((elapsed, peak), (300, 3));
}

/// `WhenAllThrottled` (benchmark `ThrottledInterleaved`):
/// `GenerateData().Select(i => Task.Delay(i * 100)).WhenAllThrottled(2)` over
/// 2, 2, 1, 1: 300.6 ms. The twin, `for_each(..).limit(2)`: 300 virtual ms,
/// peak 2; the two 200 ms jobs end together (processed in index order), then
/// the two 100 ms ones.
pub fn throttled_interleaved() {
    let (order, elapsed, peak) = for_each_example(&[2, 2, 1, 1], 2);
    assert_eq!(order, [(0, 2), (1, 2), (2, 1), (3, 1)]);
    assert_eq!((elapsed, peak), (300, 2));
}

/// `ControlParallelismForEachAsync` (the `Partitioner` with a degree of
/// parallelism): `GenerateData().ForEachAsync(dop: 2, i => Task.Delay(i *
/// 100))` over 2, 1, 2, 1: 300.5 ms. The twin, `for_each(..).limit(2)` (a
/// freed place takes the next item, as a partition's worker would): 300
/// virtual ms, peak 2; job 1 ends at 100 ms, job 0 at 200 ms, jobs 2 and 3
/// together at 300 ms.
pub fn control_parallelism_for_each_async() {
    let (order, elapsed, peak) = for_each_example(&[2, 1, 2, 1], 2);
    assert_eq!(order, [(1, 1), (0, 2), (2, 2), (3, 1)]);
    assert_eq!((elapsed, peak), (300, 2));
}
