//! A tour of fanout on smol: the TPL guide's comparison, run live.
//!
//! Each row runs one strategy of the guide on the guide's own data (jobs that
//! sleep `i * 100` ms), prints the fanout expression that does it, and what it
//! took. Run it with `cargo run --example tour`.

use fanout::{join_all, settle_all, when_all, Failure, Outcome};
use smol::Timer;
use std::time::{Duration, Instant};

/// The guide's job: wait `i * 100` ms, then hand back `i`.
async fn job(i: u64) -> Result<u64, String> {
    step(i, false).await
}

/// Waits `i * 100` ms, then completes with `i` or, if `fails`, faults.
async fn step(i: u64, fails: bool) -> Result<u64, String> {
    Timer::after(Duration::from_millis(i * 100)).await;
    if fails {
        Err(format!("job {i} failed"))
    } else {
        Ok(i)
    }
}

fn row(name: &str, expr: &str, took: Duration, result: impl std::fmt::Debug) {
    println!(
        "{name:<34} {:>6} ms  {expr:<48} -> {result:?}",
        took.as_millis()
    );
}

fn main() {
    smol::block_on(async {
        println!(
            "{:<34} {:>9}  {:<48}    result",
            "strategy (TPL guide)", "took", "fanout"
        );
        println!("{}", "-".repeat(120));

        let start = Instant::now();
        let r = when_all([3, 2, 1].map(job)).await;
        row("Task.WhenAll", "when_all(jobs)", start.elapsed(), r);

        let start = Instant::now();
        let r = when_all([3, 2, 1].map(job)).limit(1).await;
        row(
            "SequentialBlockingForEachAsync",
            "when_all(jobs).limit(1)",
            start.elapsed(),
            r,
        );

        let start = Instant::now();
        let r = join_all([2, 2, 1, 1].map(job)).limit(2).await;
        row(
            "WhenAllThrottled (throttle 2)",
            "join_all(jobs).limit(2)",
            start.elapsed(),
            r.len(),
        );

        let start = Instant::now();
        let r = join_all([2u64, 1, 2, 1].into_iter().map(job))
            .limit(2)
            .await;
        row(
            "ForEachAsync (DOP 2)",
            "join_all(items.map(body)).limit(2)",
            start.elapsed(),
            r.len(),
        );

        println!();
        println!("Columns the guide marks \"on demand\" or \"N/A\", here as options:");

        let start = Instant::now();
        let r = when_all([3, 2, 1].map(job))
            .cancel_on(Timer::after(Duration::from_millis(150)))
            .await;
        let canceled = matches!(r, Err(Failure::Canceled));
        row(
            "batch cancellation by a timer",
            "when_all(jobs).cancel_on(timer_150ms)",
            start.elapsed(),
            canceled,
        );

        let start = Instant::now();
        let jobs = [(3, false), (1, true), (2, false)].map(|(i, fails)| step(i, fails));
        let r = settle_all(jobs).fail_fast().await;
        let shape: Vec<&str> = r
            .iter()
            .map(|o| match o {
                Outcome::Completed(_) => "completed",
                Outcome::Faulted(_) => "faulted",
                Outcome::Canceled => "canceled",
            })
            .collect();
        row(
            "first fault cancels the rest",
            "settle_all(jobs).fail_fast()",
            start.elapsed(),
            shape,
        );

        let start = Instant::now();
        let jobs = [(1, false), (2, true), (3, true)].map(|(i, fails)| step(i, fails));
        let r = when_all(jobs).await;
        let faults = match &r {
            Err(Failure::Faulted(f)) => f.indices().collect::<Vec<_>>(),
            _ => vec![],
        };
        row(
            "every fault aggregated (indices)",
            "when_all(jobs) -> Failure::Faulted",
            start.elapsed(),
            faults,
        );

        let start = Instant::now();
        let r = when_all([1, 2, 3, 2, 1].map(job))
            .limit(2)
            .cancel_on(Timer::after(Duration::from_millis(250)))
            .await;
        row(
            "throttled + canceled by a timer",
            "when_all(jobs).limit(2).cancel_on(timer)",
            start.elapsed(),
            r.is_err(),
        );
    });
}
