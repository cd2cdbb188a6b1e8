//! Rust twins of the .NET guide's cancellation tests (seed 004, appendix),
//! built the .NET way: with tokens (`fanout::cancel`) instead of batch
//! signals or jobs that merely return `Canceled`, on the virtual clock.
//!
//! Mapping: `CancellationTokenSource` is [`CancelSource`], its `Token` a
//! [`CancelToken`], `new CancellationTokenSource(ms)` a source joined with
//! `source.cancel_when(sleep(ms))`, and `Task.Delay(ms, token)` (which ends
//! `Canceled` when its token fires first) `token.run(..)`. So
//! `RunJob(ms, id, token)` is `token.run(run_job(ms, id))` and `RunJob(ms, id)`
//! (token `default`, i.e. `CancellationToken.None`) is
//! `CancelToken::never().run(run_job(ms, id))`. A task's final `Status` is its
//! entry in `settle_all` over the same jobs; the aggregate's `Canceled` is
//! `Err(Failure::Canceled)`. The token-free twins are in `seed_when_all`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use fanout::cancel::{CancelSource, CancelToken};
use fanout::{settle_all, when_all, Failure, Outcome};
use futures::future::join;

use crate::support::jobs::{run_job, throw_job, JobError};
use crate::support::{clock, now, run_timed, sleep, Tracker};

/// A job of any kind, so completing, faulting and canceled jobs fit in one
/// batch.
type Job = Pin<Box<dyn Future<Output = Outcome<i32, JobError>> + Send>>;

/// When each job ended, by index (virtual ms).
type Ends = Arc<Mutex<Vec<(usize, u64)>>>;

/// `job` as a [`Job`] that records, as task `index`, the virtual time it
/// ended at in `ends`.
fn ended_at<F>(ends: &Ends, index: usize, job: F) -> Job
where
    F: Future<Output = Outcome<i32, JobError>> + Send + 'static,
{
    let ends = ends.clone();
    Box::pin(async move {
        let outcome = job.await;
        ends.lock().unwrap().push((index, now()));
        outcome
    })
}

/// The end times, in index order.
fn sorted(ends: &Ends) -> Vec<(usize, u64)> {
    let mut ends = ends.lock().unwrap().clone();
    ends.sort_unstable();
    ends
}

/// `RunJob(ms, id, token)`: `await Task.Delay(ms, token); return id;` —
/// `Completed(id)` after `ms`, or `Canceled` as soon as `token` fires.
fn run_job_under(
    ms: u64,
    id: i32,
    token: &CancelToken,
) -> impl Future<Output = Outcome<i32, JobError>> {
    token.run(run_job(ms, id))
}

/// `RunJob(ms, id)`: the token is `default` (`CancellationToken.None`).
fn run_job_untokened(ms: u64, id: i32) -> impl Future<Output = Outcome<i32, JobError>> {
    run_job_under(ms, id, &CancelToken::never())
}

/// `ThrowJob(ms)`: `InvalidOperationException` after `ms`.
async fn throw_job_outcome(ms: u64) -> Outcome<i32, JobError> {
    throw_job(ms).await.into()
}

/// `CanceledJob(ms)`, exactly as the .NET helper:
///
/// ```csharp
/// var cancellationTokenSource = new CancellationTokenSource(milliseconds);
/// await Task.Delay(milliseconds * 2, cancellationTokenSource.Token);
/// ```
///
/// Its own source, canceled after `ms` (`cancel_when(sleep(ms))`), and a
/// delay of `2 * ms` under that source's token (`token.run(..)`): it ends
/// `Canceled` at `ms`. (`Task.Delay` has no result; the twin's `Completed`
/// value, which never comes, is 0, so that it fits a batch of `RunJob`s.)
async fn canceled_job(ms: u64) -> Outcome<i32, JobError> {
    let source = CancelSource::new();
    let token = source.token();
    let delay = token.run(async move {
        sleep(2 * ms).await;
        Ok::<_, JobError>(0)
    });
    let (outcome, ()) = join(delay, source.cancel_when(sleep(ms))).await;
    outcome
}

/// `WhenAll_SharedCancellationToken_AllCancelled`:
///
/// ```csharp
/// var cancellationTokenSource = new CancellationTokenSource(50);
/// var t = cancellationTokenSource.Token;
/// var job1 = RunJob(100, 1, t); var job2 = RunJob(150, 2, t); var job3 = RunJob(200, 3, t);
/// List<Task> batch = new() { job1, job2, job3 };
/// var whenAllTask = Task.WhenAll(batch);
/// try { await whenAllTask; } catch { };
/// Assert.All(batch, t => Assert.True(t.IsCanceled));
/// ```
///
/// The twin: a source canceled at 50 ms (`cancel_when(sleep(50))`, joined
/// with the batch) and `RunJob(100/150/200, id, token)` as
/// `token.run(run_job(..))`. Every task ends `Canceled` (`settle_all`) at
/// exactly 50 virtual ms, on its own — the batch drops none of them, as
/// `Task.WhenAll` cancels nothing — and `when_all` is `Failure::Canceled` at 50.
pub fn when_all_shared_cancellation_token_all_cancelled() {
    let tracker = Tracker::new();
    let ends: Ends = Arc::default();
    let ((statuses, ()), elapsed) = run_timed(async {
        let source = CancelSource::new();
        let t = source.token();
        let batch = [(100, 1), (150, 2), (200, 3)]
            .into_iter()
            .enumerate()
            .map(|(i, (ms, id))| ended_at(&ends, i, tracker.track(run_job_under(ms, id, &t))));
        join(settle_all(batch), source.cancel_when(sleep(50))).await
    });
    assert_eq!(
        statuses,
        [Outcome::Canceled, Outcome::Canceled, Outcome::Canceled]
    );
    assert!(statuses.iter().all(Outcome::is_canceled));
    assert_eq!(sorted(&ends), [(0, 50), (1, 50), (2, 50)]);
    assert_eq!(elapsed, 50);
    assert_eq!(tracker.finished(), 3);
    assert_eq!(tracker.dropped_unfinished(), 0);

    let ((result, timers), elapsed) = run_timed(async {
        let source = CancelSource::new();
        let t = source.token();
        let batch = [(100, 1), (150, 2), (200, 3)].map(|(ms, id)| run_job_under(ms, id, &t));
        let (result, ()) = join(when_all(batch), source.cancel_when(sleep(50))).await;
        (result, clock::pending_timers())
    });
    assert_eq!(result, Err(Failure::Canceled));
    assert!(result.unwrap_err().is_canceled());
    assert_eq!(elapsed, 50);
    assert_eq!(timers, 0, "the canceled delays left timers behind");
}

/// `WhenAll_CanceledTask_ExceptionThrown`:
///
/// ```csharp
/// var job1 = RunJob(100, 1); var job2 = CanceledJob(50); var job3 = CanceledJob(100);
/// var whenAllTask = Task.WhenAll(job1, job2, job3);
/// try { await whenAllTask; } catch (TaskCanceledException e) { captured = e; };
/// Assert.True(whenAllTask.IsCompleted && whenAllTask.IsCanceled);
/// Assert.Null(whenAllTask.Exception);
/// Assert.Null(job2.Exception); Assert.Null(job3.Exception);
/// Assert.Equal(TaskStatus.Canceled, job2.Status); Assert.Equal(TaskStatus.Canceled, job3.Status);
/// ```
///
/// The twin, with `CanceledJob` built from its own source and token: the
/// aggregate is `Failure::Canceled` with no faults; job1 `Completed(1)` at
/// 100, job2 `Canceled` at 50, job3 `Canceled` at 100 (no error: `Canceled`
/// carries none); everything is over at 100 ms, no timer left behind.
pub fn when_all_canceled_task_exception_thrown() {
    let jobs = |ends: &Ends| {
        vec![
            ended_at(ends, 0, run_job_untokened(100, 1)),
            ended_at(ends, 1, canceled_job(50)),
            ended_at(ends, 2, canceled_job(100)),
        ]
    };
    let ends: Ends = Arc::default();
    let ((result, timers), elapsed) = run_timed(async {
        let result = when_all(jobs(&ends)).await;
        (result, clock::pending_timers())
    });
    assert_eq!(result, Err(Failure::Canceled));
    let failure = result.unwrap_err();
    assert!(failure.is_canceled());
    assert!(failure.faults().is_none() && failure.first_fault().is_none());
    assert_eq!(elapsed, 100);
    assert_eq!(timers, 0);
    assert_eq!(sorted(&ends), [(0, 100), (1, 50), (2, 100)]);

    let ends: Ends = Arc::default();
    let (statuses, _) = run_timed(settle_all(jobs(&ends)));
    assert_eq!(
        statuses,
        [Outcome::Completed(1), Outcome::Canceled, Outcome::Canceled]
    );
    assert!(statuses[1..].iter().all(|s| s.clone().faulted().is_none()));
}

/// `WhenAll_CanceledAndFaulted_ExceptionOverCancellation`:
///
/// ```csharp
/// var job1 = RunJob(100, 1); var job2 = CanceledJob(50); var job3 = ThrowJob(100);
/// var whenAllTask = Task.WhenAll(job1, job2, job3);
/// try { await whenAllTask; } catch { };
/// Assert.True(whenAllTask.IsFaulted);
/// Assert.Equal(TaskStatus.RanToCompletion, job1.Status);
/// Assert.Equal(TaskStatus.Canceled, job2.Status);
/// Assert.Equal(TaskStatus.Faulted, job3.Status);
/// Assert.IsType<InvalidOperationException>(whenAllTask.Exception.InnerException);
/// Assert.Null(job2.Exception);
/// ```
///
/// The twin, with `CanceledJob` built from its own source and token: the
/// fault wins over the cancellation (A6) — `Failure::Faulted` with job3's
/// `InvalidOperation` only; job1 `Completed(1)`, job2 `Canceled` (at 50, no
/// error), job3 `Faulted`.
pub fn when_all_canceled_and_faulted_exception_over_cancellation() {
    let jobs = |ends: &Ends| {
        vec![
            ended_at(ends, 0, run_job_untokened(100, 1)),
            ended_at(ends, 1, canceled_job(50)),
            ended_at(ends, 2, throw_job_outcome(100)),
        ]
    };
    let ends: Ends = Arc::default();
    let (result, elapsed) = run_timed(when_all(jobs(&ends)));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.first(), Some(&JobError::InvalidOperation));
    assert_eq!(faults.into_vec(), [(2, JobError::InvalidOperation)]);
    assert_eq!(elapsed, 100);
    assert_eq!(sorted(&ends), [(0, 100), (1, 50), (2, 100)]);

    let ends: Ends = Arc::default();
    let (statuses, _) = run_timed(settle_all(jobs(&ends)));
    assert_eq!(
        statuses,
        [
            Outcome::Completed(1),
            Outcome::Canceled,
            Outcome::Faulted(JobError::InvalidOperation)
        ]
    );
}

/// `WhenAllThrottled_CancellationPropagated` with token-built jobs:
/// `RunJob(100, 1)`, `CanceledJob(100)`, `RunJob(100, 3)`, `CanceledJob(100)`
/// two at a time end `Canceled`, after two waves (200 virtual ms); each
/// `CanceledJob`'s own deadline starts when the throttle starts it.
pub fn when_all_throttled_cancellation_propagated() {
    let ends: Ends = Arc::default();
    let jobs = vec![
        ended_at(&ends, 0, run_job_untokened(100, 1)),
        ended_at(&ends, 1, canceled_job(100)),
        ended_at(&ends, 2, run_job_untokened(100, 3)),
        ended_at(&ends, 3, canceled_job(100)),
    ];
    let (result, elapsed) = run_timed(when_all(jobs).limit(2));
    assert_eq!(result, Err(Failure::Canceled));
    assert_eq!(elapsed, 200);
    assert_eq!(sorted(&ends), [(0, 100), (1, 100), (2, 200), (3, 200)]);
}
