//! A tour of fanout on smol: the TPL guide's comparison table, run live.
//!
//! Each row of the guide's table runs here on the guide's own data (jobs that
//! sleep `i * 100` ms), as one fanout expression, and prints what it took. Then
//! the columns the guide marks "on demand" or "N/A" run too: in fanout every
//! quality is an option of the same engine, so they combine freely.
//!
//! Run it with `cargo run --example tour`. (This is a demo on a real clock; the
//! test suite never looks at one.)

use fanout::{
    for_each, for_each_async, settle_all, when_all, when_any, when_each, Failure, Join, Outcome,
};
use futures::StreamExt;
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

fn ms(since: Instant) -> u128 {
    since.elapsed().as_millis()
}

/// One row of the guide's table: its name and qualities, the fanout
/// expression, the time it took, and what came out.
fn row(name: &str, qualities: [&str; 5], expr: &str, took: u128, result: impl std::fmt::Debug) {
    let [order, complete, throttled, cancel, interleave] = qualities;
    println!(
        "{name:<36} {order:<11} {complete:<9} {throttled:<9} {cancel:<9} {interleave:<9} {took:>5} ms  {expr}  -> {result:?}"
    );
}

fn main() {
    smol::block_on(async {
        println!("The TPL guide's table, each row one fanout expression (data: 3,2,1 x 100 ms unless noted)\n");
        println!(
            "{:<36} {:<11} {:<9} {:<9} {:<9} {:<9} {:>8}  fanout",
            "strategy", "order", "as-done", "throttle", "cancel", "interleave", "took"
        );
        println!("{}", "-".repeat(150));

        let t = Instant::now();
        let r = when_all([3, 2, 1].map(job)).await;
        row(
            "Task.WhenAll",
            ["concurrent", "no", "no", "yes", "N/A"],
            "when_all(jobs)",
            ms(t),
            r,
        );

        let t = Instant::now();
        let mut seen = Vec::new();
        let r = for_each([3, 2, 1].map(job), |_, v| seen.push(v))
            .limit(1)
            .await;
        row(
            "SequentialBlockingForEachAsync",
            ["sequential", "no", "yes", "yes", "yes"],
            "for_each(jobs, f).limit(1)",
            ms(t),
            (r, seen),
        );

        let t = Instant::now();
        let mut seen = Vec::new();
        let r = for_each([3, 2, 1].map(job), |_, v| seen.push(v)).await;
        row(
            "ConcurrentInterleavedForEachAsync",
            ["concurrent", "yes", "no", "yes", "yes"],
            "for_each(jobs, f)",
            ms(t),
            (r, seen),
        );

        let t = Instant::now();
        let mut each = when_each([3, 2, 1].map(job));
        let mut seen = Vec::new();
        while let Some((index, result)) = each.next().await {
            seen.push((index, result.unwrap()));
        }
        row(
            "ConcurrentInterleavedCombinator",
            ["concurrent", "yes", "no", "yes", "yes"],
            "while let Some((i, r)) = when_each(jobs).next().await",
            ms(t),
            seen,
        );

        let t = Instant::now();
        let r = when_all([2, 2, 1, 1].map(job)).limit(2).await;
        row(
            "WhenAllThrottled (2,2,1,1; L=2)",
            ["concurrent", "yes", "yes", "yes", "yes"],
            "when_all(jobs).limit(2)",
            ms(t),
            r,
        );

        let t = Instant::now();
        let mut seen = Vec::new();
        let r = for_each([2, 1, 2, 1].map(job), |_, v| seen.push(v))
            .limit(2)
            .await;
        row(
            "ControlParallelism (2,1,2,1; DOP 2)",
            ["concurrent", "yes", "yes", "yes", "yes"],
            "for_each(items.map(body), f).limit(2)",
            ms(t),
            (r, seen),
        );

        println!("\nThe columns the guide marks \"on demand\" or \"N/A\", working:\n");

        let t = Instant::now();
        let r = for_each([3, 2, 1].map(job), |_, _| {})
            .limit(1)
            .cancel_on(Timer::after(Duration::from_millis(450)))
            .await;
        println!("{:>5} ms  sequential, canceled by a 450 ms timer:   for_each(jobs, f).limit(1).cancel_on(timer) -> {r:?}", ms(t));

        let t = Instant::now();
        let r = for_each([3, 2, 1].map(job), |_, _| {})
            .cancel_on(Timer::after(Duration::from_millis(150)))
            .await;
        println!("{:>5} ms  interleaved, canceled by a 150 ms timer:  for_each(jobs, f).cancel_on(timer) -> {r:?}", ms(t));

        let t = Instant::now();
        let jobs = [(2, false), (1, true), (2, false), (1, false)].map(|(i, fails)| step(i, fails));
        let r = settle_all(jobs).limit(2).fail_fast().await;
        let shape: Vec<&str> = r
            .iter()
            .map(|o| match o {
                Outcome::Completed(_) => "completed",
                Outcome::Faulted(_) => "faulted",
                Outcome::Canceled => "canceled",
            })
            .collect();
        println!("{:>5} ms  throttled, first fault cancels the rest:  settle_all(jobs).limit(2).fail_fast() -> {shape:?} (tasks 2 and 3 never pulled)", ms(t));

        let t = Instant::now();
        let jobs = [(1, false), (2, true), (3, true)].map(|(i, fails)| step(i, fails));
        let faults = match when_all(jobs).await {
            Err(Failure::Faulted(f)) => f.into_vec(),
            _ => vec![],
        };
        println!(
            "{:>5} ms  every fault aggregated, in input order:   when_all(jobs) -> {faults:?}",
            ms(t)
        );

        let t = Instant::now();
        let (index, output, rest) = when_any([3, 1, 2].map(job)).await.expect("not empty");
        let rest: Vec<_> = rest.collect().await;
        println!("{:>5} ms  first to finish, the rest still running:  when_any(jobs) -> ({index}, {output:?}), then rest -> {rest:?}", ms(t));

        let t = Instant::now();
        let mut log = Vec::new();
        let log_ref = &mut log;
        let r = for_each_async([3, 2, 1].map(job), |i, v| {
            log_ref.push((i, v));
            // The processor awaits; the jobs in flight keep running meanwhile.
            async {
                Timer::after(Duration::from_millis(50)).await;
            }
        })
        .await;
        println!("{:>5} ms  async processor, tasks keep moving:       for_each_async(jobs, |i, v| timer_50ms) -> {r:?} {log:?}", ms(t));

        // Three calls of different types at once, every fault kept with its
        // position in the tuple (`try_join!` would keep only the first).
        let t = Instant::now();
        let user = async { step(1, false).await.map(|i| format!("user {i}")) };
        let orders = async { step(2, true).await.map(|i| vec![i; 2]) };
        let visits = async { step(3, true).await };
        let r = match (user, orders, visits).when_all().await {
            Ok(values) => format!("{values:?}"),
            Err(Failure::Faulted(faults)) => format!("{:?}", faults.into_vec()),
            Err(Failure::Canceled) => "canceled".into(),
        };
        println!("{:>5} ms  mixed types, every fault kept:            (user, orders, visits).when_all() -> {r}", ms(t));
    });
}
