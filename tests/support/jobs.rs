//! Twins of the seed's .NET test helpers (`RunJob`, `ThrowJob`, `CanceledJob`), all on
//! the virtual clock.
//!
//! These are `async fn`s, so (unlike a hot .NET `Task`) a job's timer starts when the
//! job is first polled, i.e. when the combinator under test starts it. Combinators poll
//! every child on their first poll, so for them this is the time the combinator starts.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use fanout::Outcome;

use super::clock::sleep;

/// The error of a failing job (the .NET `InvalidOperationException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// `ThrowJob`'s `InvalidOperationException`.
    InvalidOperation,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::InvalidOperation => f.write_str("invalid operation"),
        }
    }
}

impl std::error::Error for JobError {}

/// A boxed job of any kind, so completing, faulting and canceled jobs fit in one `Vec`.
pub type Job = Pin<Box<dyn Future<Output = Outcome<i32, JobError>> + Send>>;

/// `RunJob(ms, id)`: sleeps `ms` virtual ms, then returns `Ok(id)`.
pub async fn run_job(ms: u64, id: i32) -> Result<i32, JobError> {
    sleep(ms).await;
    Ok(id)
}

/// `ThrowJob(ms)`: sleeps `ms` virtual ms, then fails with [`JobError::InvalidOperation`].
pub async fn throw_job(ms: u64) -> Result<i32, JobError> {
    sleep(ms).await;
    Err(JobError::InvalidOperation)
}

/// `CanceledJob(ms)` (whose own token fires at `ms`): sleeps `ms` virtual ms, then
/// returns [`Outcome::Canceled`].
pub async fn canceled_job(ms: u64) -> Outcome<i32, JobError> {
    sleep(ms).await;
    Outcome::Canceled
}

/// [`run_job`] as an [`Outcome`]: sleeps `ms`, then `Outcome::Completed(id)`.
pub async fn run_job_outcome(ms: u64, id: i32) -> Outcome<i32, JobError> {
    sleep(ms).await;
    Outcome::Completed(id)
}

/// [`throw_job`] as an [`Outcome`]: sleeps `ms`, then
/// `Outcome::Faulted(JobError::InvalidOperation)`.
pub async fn throw_job_outcome(ms: u64) -> Outcome<i32, JobError> {
    sleep(ms).await;
    Outcome::Faulted(JobError::InvalidOperation)
}

/// [`run_job_outcome`] boxed as a [`Job`].
pub fn run_job_boxed(ms: u64, id: i32) -> Job {
    Box::pin(run_job_outcome(ms, id))
}

/// [`throw_job_outcome`] boxed as a [`Job`].
pub fn throw_job_boxed(ms: u64) -> Job {
    Box::pin(throw_job_outcome(ms))
}

/// [`canceled_job`] boxed as a [`Job`].
pub fn canceled_job_boxed(ms: u64) -> Job {
    Box::pin(canceled_job(ms))
}
