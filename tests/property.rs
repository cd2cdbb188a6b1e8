//! A randomized property test on the deterministic executor: random batches,
//! run under random seeded schedules, checked against a reference model of
//! the rules of `CONFORMANCE.md`.
//!
//! A batch: 0 to 64 tasks from an iterator or a `Stream` (ready, or handing
//! out each task only from some virtual instant on), a limit or none,
//! `fail_fast` or not, a signal at some virtual instant or never, and a face (`when_all`, `settle_all`,
//! `when_each`, `for_each`). Each task completes, faults or cancels itself
//! after a random mix of self-wakes (yields) and virtual sleeps. The model is
//! a plain list scheduler in virtual time: it knows when each task starts
//! and ends, so it knows which tasks are pulled, which end on their own, and
//! which the signal or the first fault drops. The run must agree:
//!
//! - every pulled task has exactly one outcome, and it is the model's (O1,
//!   A4, A7, C2), handed out at the virtual instant the task ended (E1);
//! - never more tasks in flight than the limit (T1), each pulled once (T5);
//! - a task that ended on its own was polled exactly once more than it was
//!   woken (spurious wakes injected by the schedule counted apart); a
//!   dropped one at most that;
//! - the aggregate is the rules' (`Faults` in input order, faults win over
//!   cancellations, `fail_fast` pulls nothing after the fault) (A5, A6).
//!
//! To keep the model exact, nothing ever happens at the instant the signal
//! fires (tasks start and end at even instants, multiples of 4 without
//! fail-fast; the signal fires at an odd one, 4k + 2 without fail-fast), and
//! under `fail_fast` every task ends at its own instant (durations are
//! distinct powers of two, so no two chains of them add up to the same time;
//! this caps those batches at 40 tasks).
//!
//! `FANOUT_BATCHES=<n>` sets the number of batches (default 10,000, split
//! over the four faces); `FANOUT_BATCH=<k>` reruns batch `k` alone. A failure
//! prints the batch's number and the batch.

#[path = "support/mod.rs"]
mod support;

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::{pending, Future};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};

use fanout::source::{IntoSource, Source};
use fanout::{for_each, from_stream, settle_all, when_all, when_each, Failure, Outcome};
use futures::{stream, StreamExt};

use support::chaos::{self, mix, SplitMix};
use support::seeds::env_u64;
use support::{now, run_timed, sleep, Sleep, Tracked, Tracker};

/// Batches per run when `FANOUT_BATCHES` is not set.
const DEFAULT_BATCHES: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    WhenAll,
    SettleAll,
    WhenEach,
    ForEach,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Wake itself and return `Pending` once.
    Yield,
    /// Sleep this many virtual ms (> 0).
    Sleep(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ends {
    Completes,
    Faults,
    CancelsItself,
}

#[derive(Debug, Clone)]
struct TaskSpec {
    steps: Vec<Step>,
    ends: Ends,
}

impl TaskSpec {
    fn duration(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Sleep(ms) => *ms,
                Step::Yield => 0,
            })
            .sum()
    }

    /// Wakes it needs: one per step.
    fn wakes(&self) -> usize {
        self.steps.len()
    }

    fn outcome(&self, index: usize) -> Outcome<usize, usize> {
        match self.ends {
            Ends::Completes => Outcome::Completed(index),
            Ends::Faults => Outcome::Faulted(index),
            Ends::CancelsItself => Outcome::Canceled,
        }
    }
}

#[derive(Debug, Clone)]
struct Batch {
    face: Face,
    tasks: Vec<TaskSpec>,
    limit: Option<usize>,
    fail_fast: bool,
    /// The virtual instant (odd) the signal fires, if ever.
    signal: Option<u64>,
    /// The tasks come from a `Stream` (`from_stream`) rather than an iterator.
    stream: bool,
    /// With a stream: the instant each task becomes available (the stream is
    /// pending until then); none: every task is available at once.
    arrivals: Option<Vec<u64>>,
}

/// Draws a random batch of `face`.
fn generate(face: Face, rng: &mut SplitMix) -> Batch {
    let fail_fast = face != Face::WhenEach && rng.below(2) == 0;
    let n = if fail_fast {
        rng.below(41)
    } else {
        rng.below(65)
    };
    let mut exponents: Vec<u32> = (1..=n as u32).collect();
    for i in (1..exponents.len()).rev() {
        exponents.swap(i, rng.below(i + 1));
    }
    let tasks = (0..n)
        .map(|i| {
            let sleeps: Vec<u64> = if fail_fast {
                // A distinct power of two, split in up to three even parts.
                let d = 1u64 << exponents[i];
                match rng.below(3) {
                    1 if d >= 4 => vec![d / 2, d / 2],
                    2 if d >= 8 => vec![d / 2, d / 4, d / 4],
                    _ => vec![d],
                }
            } else {
                (0..rng.below(4))
                    .map(|_| 4 * (1 + rng.below(5) as u64))
                    .collect()
            };
            let mut steps: Vec<Step> = sleeps.into_iter().map(Step::Sleep).collect();
            for _ in 0..rng.below(4) {
                let at = rng.below(steps.len() + 1);
                steps.insert(at, Step::Yield);
            }
            let ends = match rng.below(10) {
                0..=1 => Ends::Faults,
                2 => Ends::CancelsItself,
                _ => Ends::Completes,
            };
            TaskSpec { steps, ends }
        })
        .collect::<Vec<_>>();
    let limit = match rng.below(3) {
        0 => None,
        _ => Some(1 + rng.below(n.max(1) + 2)),
    };
    let mut batch = Batch {
        face,
        tasks,
        limit,
        fail_fast,
        signal: None,
        stream: rng.below(3) == 0,
        arrivals: None,
    };
    if batch.stream && !fail_fast && rng.below(2) == 0 {
        // Tasks arrive over time, in gaps of 0 to 12 ms (multiples of 4).
        let mut at = 0;
        batch.arrivals = Some(
            (0..n)
                .map(|_| {
                    at += 4 * rng.below(4) as u64;
                    at
                })
                .collect(),
        );
    }
    if rng.below(3) != 0 {
        // Anywhere from before the first poll's instant to after the end, at
        // an instant when nothing else happens: under fail-fast every task
        // ends at an even instant, so the signal fires at an odd one; else
        // everything happens at multiples of 4, so it fires at 4k + 2.
        let last = schedule(&batch)
            .iter()
            .map(|&(_, end)| end)
            .max()
            .unwrap_or(0);
        batch.signal = Some(if fail_fast {
            2 * (rng.next_u64() % (last / 2 + 2)) + 1
        } else {
            4 * (rng.next_u64() % (last / 4 + 2)) + 2
        });
    }
    batch
}

/// Start and end instants of every task if nothing stopped the batch: a list
/// scheduler over `limit` places, each place taking the next task when its
/// task ends.
fn schedule(batch: &Batch) -> Vec<(u64, u64)> {
    let n = batch.tasks.len();
    let places = batch.limit.unwrap_or(n).min(n);
    let mut free: BinaryHeap<Reverse<u64>> = (0..places).map(|_| Reverse(0)).collect();
    batch
        .tasks
        .iter()
        .enumerate()
        .map(|(k, task)| {
            let Reverse(free_at) = free.pop().expect("a place");
            let start = free_at.max(batch.arrivals.as_ref().map_or(0, |a| a[k]));
            let end = start + task.duration();
            free.push(Reverse(end));
            (start, end)
        })
        .collect()
}

/// What the rules say about a batch.
#[derive(Debug)]
struct Expected {
    /// One outcome per pulled task, in index order.
    outcomes: Vec<Outcome<usize, usize>>,
    /// The instant each task that ended on its own ended.
    ended_at: Vec<Option<u64>>,
    /// The virtual instant the batch resolves.
    finish: u64,
    /// The signal or the first fault stopped the batch before it finished
    /// (tasks dropped, or tasks never pulled): the batch itself is canceled
    /// (C1, C2), even with no task in flight.
    stopped: bool,
}

fn model(batch: &Batch) -> Expected {
    let times = schedule(batch);
    // The first fault, if fail-fast: the instant it ends and its index.
    let first_fault = batch
        .fail_fast
        .then(|| {
            times
                .iter()
                .zip(&batch.tasks)
                .enumerate()
                .filter(|(_, (_, task))| task.ends == Ends::Faults)
                .map(|(i, ((_, end), _))| (*end, i))
                .min()
        })
        .flatten();
    let stop = match (batch.signal, first_fault) {
        (Some(s), Some((f, _))) => Some(s.min(f)),
        (s, f) => s.or(f.map(|(f, _)| f)),
    };
    let mut outcomes = Vec::new();
    let mut ended_at = Vec::new();
    for (i, (&(start, end), task)) in times.iter().zip(&batch.tasks).enumerate() {
        let stopped = stop.is_some_and(|stop| start >= stop);
        if stopped {
            break; // never pulled: neither are the ones after it
        }
        let own = match stop {
            None => true,
            Some(stop) => end < stop || first_fault == Some((end, i)) && end == stop,
        };
        if own {
            outcomes.push(task.outcome(i));
            ended_at.push(Some(end));
        } else {
            outcomes.push(Outcome::Canceled);
            ended_at.push(None);
        }
    }
    // Resolved when the last task ended, unless something stopped it first.
    let all_ended = outcomes.len() == batch.tasks.len() && ended_at.iter().all(Option::is_some);
    let finish = match stop {
        Some(stop) if !all_ended => stop,
        _ => ended_at.iter().flatten().copied().max().unwrap_or(0),
    };
    Expected {
        outcomes,
        ended_at,
        finish,
        stopped: stop.is_some() && !all_ended,
    }
}

/// What one task records about itself.
#[derive(Debug, Default, Clone)]
struct Record {
    polls: usize,
    spurious: usize,
    ended_at: Option<u64>,
}

/// A task of the batch: walks its steps, then ends with its outcome.
struct Task {
    index: usize,
    spec: TaskSpec,
    at: usize,
    yielded: bool,
    sleep: Option<Sleep>,
    /// The last poll injected a spurious wake (so the next poll is its).
    spurious_armed: bool,
    records: Rc<RefCell<Vec<Record>>>,
}

impl Future for Task {
    type Output = Outcome<usize, usize>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        {
            let mut records = this.records.borrow_mut();
            let record = &mut records[this.index];
            record.polls += 1;
            if std::mem::take(&mut this.spurious_armed) {
                record.spurious += 1;
            }
        }
        loop {
            let Some(&step) = this.spec.steps.get(this.at) else {
                this.records.borrow_mut()[this.index].ended_at = Some(now());
                return Poll::Ready(this.spec.outcome(this.index));
            };
            match step {
                Step::Yield if !this.yielded => {
                    this.yielded = true;
                    chaos::wake_by_ref(cx.waker());
                    return Poll::Pending;
                }
                Step::Yield => this.yielded = false,
                Step::Sleep(ms) => {
                    let before = chaos::injected().spurious;
                    let timer = this.sleep.get_or_insert_with(|| sleep(ms));
                    if Pin::new(timer).poll(cx).is_pending() {
                        this.spurious_armed = chaos::injected().spurious > before;
                        return Poll::Pending;
                    }
                    this.sleep = None;
                }
            }
            this.at += 1;
        }
    }
}

/// The run's observations.
#[derive(Debug)]
struct Observed {
    /// One outcome per pulled task (from the face's output), index order.
    outcomes: Vec<Outcome<usize, usize>>,
    /// For the completion-order faces: `(index, instant handed out)`.
    handed_out: Vec<(usize, u64)>,
    /// `when_all` / `for_each`: the aggregate.
    aggregate: Option<Result<(), Failure<usize>>>,
    finish: u64,
}

/// A6 over outcomes: faults in input order, else canceled (a task, or the
/// batch itself when `stopped`), else ok.
fn aggregate(outcomes: &[Outcome<usize, usize>], stopped: bool) -> Result<(), Failure<usize>> {
    let faults: Vec<(usize, usize)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outcome::Faulted(e) => Some((i, *e)),
            _ => None,
        })
        .collect();
    if !faults.is_empty() {
        return Err(Failure::Faulted(faults.into_iter().collect()));
    }
    if stopped || outcomes.iter().any(|o| matches!(o, Outcome::Canceled)) {
        return Err(Failure::Canceled);
    }
    Ok(())
}

fn run_batch(batch: &Batch) {
    let n = batch.tasks.len();
    let records = Rc::new(RefCell::new(vec![Record::default(); n]));
    let tracker = Tracker::new();
    let pulled = Cell::new(0usize);
    let source = (0..n).map(|i| {
        pulled.set(pulled.get() + 1);
        tracker.track(Task {
            index: i,
            spec: batch.tasks[i].clone(),
            at: 0,
            yielded: false,
            sleep: None,
            spurious_armed: false,
            records: Rc::clone(&records),
        })
    });
    let observed = if let Some(arrivals) = &batch.arrivals {
        let arriving = Arriving {
            tasks: source,
            arrivals: arrivals.clone(),
            next: 0,
            timer: None,
        };
        run_face(batch, from_stream(arriving), &pulled)
    } else if batch.stream {
        run_face(batch, from_stream(stream::iter(source)), &pulled)
    } else {
        run_face(batch, source, &pulled)
    };
    check(batch, &observed, &records.borrow(), &tracker, pulled.get());
}

/// A stream of tasks that hands out task `k` only from virtual instant
/// `arrivals[k]` on (pending, with a timer, until then).
struct Arriving<I> {
    tasks: I,
    arrivals: Vec<u64>,
    next: usize,
    timer: Option<Sleep>,
}

impl<I: Iterator + Unpin> futures::Stream for Arriving<I> {
    type Item = I::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<I::Item>> {
        let this = &mut *self;
        if let Some(&at) = this.arrivals.get(this.next) {
            if now() < at {
                let timer = this.timer.get_or_insert_with(|| sleep(at - now()));
                if Pin::new(timer).poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            this.timer = None;
            this.next += 1;
        }
        Poll::Ready(this.tasks.next())
    }
}

/// Runs the batch's face over `source` and observes it.
fn run_face<I>(batch: &Batch, source: I, pulled: &Cell<usize>) -> Observed
where
    I: IntoSource,
    I::Source: Source<Task = Tracked<Task>>,
{
    let n = batch.tasks.len();
    let at = batch.signal;
    let signal = async move {
        match at {
            Some(ms) => sleep(ms).await,
            None => pending().await,
        }
    };
    let limit = batch.limit.unwrap_or(usize::MAX);
    match batch.face {
        Face::WhenAll => {
            let mut b = when_all(source).limit(limit).cancel_on(signal);
            if batch.fail_fast {
                b = b.fail_fast();
            }
            let (result, finish) = run_timed(b);
            Observed {
                outcomes: Vec::new(),
                handed_out: Vec::new(),
                aggregate: Some(result.map(|values| {
                    assert_eq!(
                        values,
                        (0..n).collect::<Vec<_>>(),
                        "A1: values in input order"
                    );
                })),
                finish,
            }
        }
        Face::SettleAll => {
            let mut b = settle_all(source).limit(limit).cancel_on(signal);
            if batch.fail_fast {
                b = b.fail_fast();
            }
            let (outcomes, finish) = run_timed(b);
            Observed {
                outcomes,
                handed_out: Vec::new(),
                aggregate: None,
                finish,
            }
        }
        Face::WhenEach => {
            let ((outcomes, handed_out, canceled), finish) = run_timed(async {
                let mut each = pin!(when_each(source).limit(limit).cancel_on(signal));
                let mut items = Vec::new();
                let mut handed_out = Vec::new();
                while let Some((i, out)) = each.next().await {
                    items.push((i, out));
                    handed_out.push((i, now()));
                }
                (items, handed_out, each.canceled_count())
            });
            let mut slots: Vec<Option<Outcome<usize, usize>>> = vec![None; pulled.get()];
            for (i, out) in outcomes {
                assert!(slots[i].is_none(), "O1: task {i} handed out twice");
                slots[i] = Some(out);
            }
            let missing = slots.iter().filter(|s| s.is_none()).count();
            assert_eq!(
                missing, canceled,
                "O1: every pulled task is an item or counted canceled"
            );
            Observed {
                outcomes: slots
                    .into_iter()
                    .map(|s| s.unwrap_or(Outcome::Canceled))
                    .collect(),
                handed_out,
                aggregate: None,
                finish,
            }
        }
        Face::ForEach => {
            let handed_out = RefCell::new(Vec::new());
            let mut b = for_each(source, |i, value: usize| {
                assert_eq!(i, value);
                handed_out.borrow_mut().push((i, now()));
            })
            .limit(limit)
            .cancel_on(signal);
            if batch.fail_fast {
                b = b.fail_fast();
            }
            let (result, finish) = run_timed(b);
            Observed {
                outcomes: Vec::new(),
                handed_out: handed_out.into_inner(),
                aggregate: Some(result),
                finish,
            }
        }
    }
}

fn check(batch: &Batch, seen: &Observed, records: &[Record], tracker: &Tracker, pulled: usize) {
    let expected = model(batch);
    let n_pulled = expected.outcomes.len();
    assert_eq!(pulled, n_pulled, "pulled (T2, A7, C2)");
    // T1, T5.
    if let Some(limit) = batch.limit {
        assert!(
            tracker.peak() <= limit,
            "T1: peak {} > limit {limit}",
            tracker.peak()
        );
    }
    assert_eq!(
        tracker.started(),
        n_pulled,
        "T5: each pulled task started once"
    );
    let ended = expected.ended_at.iter().flatten().count();
    assert_eq!(tracker.finished(), ended, "tasks that ended on their own");
    assert_eq!(
        tracker.dropped_unfinished(),
        n_pulled - ended,
        "tasks dropped (C2, A7)"
    );
    // Each task: ended when the model says, polled once more than woken.
    for (i, (record, want)) in records.iter().zip(&expected.ended_at).enumerate() {
        assert_eq!(record.ended_at, *want, "task {i}: end instant");
        let wakes = batch.tasks[i].wakes();
        let polls = record.polls - record.spurious;
        if want.is_some() {
            assert_eq!(polls, wakes + 1, "task {i}: polls = wakes + 1 ({record:?})");
        } else {
            assert!(
                polls <= wakes + 1,
                "task {i}: {polls} polls for {wakes} wakes"
            );
        }
    }
    for (i, record) in records.iter().enumerate().skip(n_pulled) {
        assert_eq!(record.polls, 0, "task {i} was never pulled, yet polled");
    }
    // The face's output.
    match batch.face {
        Face::SettleAll | Face::WhenEach => {
            assert_eq!(
                seen.outcomes, expected.outcomes,
                "O1: one outcome per pulled task"
            );
        }
        Face::WhenAll => {
            let want = aggregate(&expected.outcomes, expected.stopped).map(|()| {
                assert_eq!(n_pulled, batch.tasks.len());
            });
            assert_eq!(seen.aggregate, Some(want), "A5/A6: the aggregate");
        }
        Face::ForEach => {
            assert_eq!(
                seen.aggregate,
                Some(aggregate(&expected.outcomes, expected.stopped)),
                "A5/A6: the aggregate"
            );
        }
    }
    // E1: handed out at the instant the task ended, so in completion order.
    if matches!(batch.face, Face::WhenEach | Face::ForEach) {
        let mut want: Vec<(usize, u64)> = expected
            .outcomes
            .iter()
            .zip(&expected.ended_at)
            .enumerate()
            .filter(|(_, (o, end))| {
                end.is_some()
                    && (batch.face == Face::WhenEach || matches!(o, Outcome::Completed(_)))
            })
            .map(|(i, (_, end))| (i, end.expect("filtered")))
            .collect();
        let mut got = seen.handed_out.clone();
        assert!(
            got.windows(2).all(|w| w[0].1 <= w[1].1),
            "E1: completion order {got:?}"
        );
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "E1: each handed out once, when it ended");
    }
    assert_eq!(
        seen.finish, expected.finish,
        "the instant the batch resolved"
    );
}

/// Runs this face's share of the batches (batch `k` has face `k % 4`).
fn batches(face: Face) {
    let faces = [
        Face::WhenAll,
        Face::SettleAll,
        Face::WhenEach,
        Face::ForEach,
    ];
    let which = faces.iter().position(|&f| f == face).expect("a face") as u64;
    let ks: Vec<u64> = match env_u64("FANOUT_BATCH") {
        Some(k) if k % 4 == which => vec![k],
        Some(_) => Vec::new(),
        None => (0..env_u64("FANOUT_BATCHES").unwrap_or(DEFAULT_BATCHES))
            .filter(|k| k % 4 == which)
            .collect(),
    };
    for k in ks {
        let seed = mix(0xFA40_0075, k);
        let batch = generate(face, &mut SplitMix::new(seed));
        let r = catch_unwind(AssertUnwindSafe(|| {
            chaos::with_seed(mix(seed, 1).max(1), || run_batch(&batch));
        }));
        if let Err(panic) = r {
            eprintln!(
                "batch {k} failed; rerun it alone with\n    FANOUT_BATCH={k} cargo test --test property\n{batch:#?}\nmodel: {:#?}",
                model(&batch)
            );
            resume_unwind(panic);
        }
    }
}

#[test]
fn when_all_batches_follow_the_model() {
    batches(Face::WhenAll);
}

#[test]
fn settle_all_batches_follow_the_model() {
    batches(Face::SettleAll);
}

#[test]
fn when_each_batches_follow_the_model() {
    batches(Face::WhenEach);
}

#[test]
fn for_each_batches_follow_the_model() {
    batches(Face::ForEach);
}

/// The model itself, on hand-made batches (so that a wrong model cannot
/// pass silently).
#[test]
fn the_model_on_known_batches() {
    let task = |steps: Vec<Step>, ends| TaskSpec { steps, ends };
    // Limit 2, durations 4, 2, 2, 8: starts 0, 0, 2, 4; ends 4, 2, 4, 12.
    let mut batch = Batch {
        face: Face::SettleAll,
        tasks: vec![
            task(vec![Step::Sleep(4)], Ends::Completes),
            task(vec![Step::Yield, Step::Sleep(2)], Ends::Faults),
            task(vec![Step::Sleep(2)], Ends::CancelsItself),
            task(vec![Step::Sleep(8)], Ends::Completes),
        ],
        limit: Some(2),
        fail_fast: false,
        signal: None,
        stream: false,
        arrivals: None,
    };
    assert_eq!(schedule(&batch), vec![(0, 4), (0, 2), (2, 4), (4, 12)]);
    let e = model(&batch);
    assert_eq!(
        e.outcomes,
        vec![
            Outcome::Completed(0),
            Outcome::Faulted(1),
            Outcome::Canceled,
            Outcome::Completed(3)
        ]
    );
    assert_eq!(e.finish, 12);
    // Signal at 3: task 3 is never pulled, tasks 0 and 2 are dropped.
    batch.signal = Some(3);
    let e = model(&batch);
    assert_eq!(
        e.outcomes,
        vec![Outcome::Canceled, Outcome::Faulted(1), Outcome::Canceled]
    );
    assert_eq!(e.finish, 3);
    // Fail fast instead: the fault at 2 drops 0 and pulls nothing more.
    batch.signal = None;
    batch.fail_fast = true;
    let e = model(&batch);
    assert_eq!(e.outcomes, vec![Outcome::Canceled, Outcome::Faulted(1)]);
    assert_eq!(e.finish, 2);
    assert_eq!(
        aggregate(&e.outcomes, e.stopped),
        Err(Failure::Faulted([(1, 1)].into_iter().collect()))
    );
    // A signal after everything ended changes nothing.
    batch.fail_fast = false;
    batch.signal = Some(13);
    assert_eq!(model(&batch).finish, 12);
    assert_eq!(model(&batch).outcomes.len(), 4);
    // A signal while the source is still pending and no task runs: nothing
    // is pulled, yet the batch itself is canceled (C1, C2).
    let late = Batch {
        face: Face::WhenAll,
        tasks: vec![task(vec![], Ends::Completes)],
        limit: None,
        fail_fast: false,
        signal: Some(6),
        stream: true,
        arrivals: Some(vec![8]),
    };
    let e = model(&late);
    assert!(e.outcomes.is_empty());
    assert_eq!(e.finish, 6);
    assert_eq!(aggregate(&e.outcomes, e.stopped), Err(Failure::Canceled));
    for face in [
        Face::WhenAll,
        Face::SettleAll,
        Face::WhenEach,
        Face::ForEach,
    ] {
        for signal in [Some(6), Some(10), None] {
            let b = Batch {
                face,
                signal,
                ..late.clone()
            };
            for seed in 0..5 {
                chaos::with_seed(support::seeds::schedule_seed("late", seed), || {
                    run_batch(&b)
                });
            }
        }
    }
    // And the runs agree with the model, calm and seeded.
    for seed in 0..20 {
        for face in [
            Face::WhenAll,
            Face::SettleAll,
            Face::WhenEach,
            Face::ForEach,
        ] {
            for signal in [None, Some(3), Some(13)] {
                let b = Batch {
                    face,
                    signal,
                    ..batch.clone()
                };
                chaos::with_seed(support::seeds::schedule_seed("model", seed), || {
                    run_batch(&b)
                });
            }
        }
    }
}
