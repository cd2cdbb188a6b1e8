//! A randomized property test on the deterministic executor: random batches,
//! run under random seeded schedules, checked against a reference model of
//! the rules of `CONFORMANCE.md`.
//!
//! A batch: 0 to 64 tasks from an iterator or a `Stream` (ready, or handing
//! out each task only from some virtual instant on), a limit or none,
//! `fail_fast` or not, a signal at some virtual instant or never, a graceful
//! stop or not, and a face (`when_all`, `settle_all`, `when_each`,
//! `for_each`, `when_any` with its rest driven to the end, `first_ok`). Each
//! task completes, faults or cancels itself after a random mix of self-wakes
//! (yields) and virtual sleeps; in a graceful batch it also watches the stop
//! token, and ends with its own *stop outcome* (canceled, a distinct fault,
//! or completed) on the poll after the token fires. A third of the faulting
//! tasks panic instead, inside `fanout::catch_panic`: each must be exactly
//! one fault at its index, like any other. A `for_each` processor
//! fails on about one item in six: its error is that item's fault, and
//! stops a fail-fast batch at the instant the item ended. The model is a plain
//! list scheduler in virtual time: it knows when each task starts and ends,
//! so it knows which tasks are pulled, which end on their own, which the
//! signal, the first fault or the first success drops, and which a graceful
//! stop tells to end. The run must agree:
//!
//! - every pulled task has exactly one outcome, and it is the model's (O1,
//!   A4, A7, C2), handed out at the virtual instant the task ended (E1);
//! - `when_any` and `first_ok` hand out in completion order, and tasks that
//!   end at the same instant by index (E2, R1, R2); `when_any`'s rest, raced
//!   again or streamed, hands out everything else (R3); `first_ok` takes the
//!   first success, drops the losers at once, pulls nothing after it, and
//!   fails with every fault in input order when nothing succeeds (R5);
//! - never more tasks in flight than the limit (T1), each pulled once (T5);
//! - a task that ended was polled exactly once more than it was woken
//!   (spurious wakes injected by the schedule counted apart; a graceful stop
//!   is one more wake); a dropped one at most that;
//! - the aggregate is the rules' (`Faults` in input order, faults win over
//!   cancellations, `fail_fast` pulls nothing after the fault) (A5, A6).
//!
//! To keep the model exact, nothing ever happens at the instant the signal
//! fires (tasks start and end at even instants, multiples of 4 without
//! fail-fast; the signal fires at an odd one, 4k + 2 without fail-fast), and
//! under `fail_fast` every task ends at its own instant (durations are
//! distinct powers of two, so no two chains of them add up to the same time;
//! this caps those batches at 40 tasks; graceful ones do not split them, so
//! no task has a step at the instant of the fault). In `when_any` and
//! `first_ok` batches no task yields after its last sleep: every task that
//! ends at an instant is then ready on the same poll of the batch, and the
//! rules order them by index.
//!
//! `FANOUT_BATCHES=<n>` sets the number of batches (default 14,000, split
//! over the seven groups: six faces and graceful stops); `FANOUT_BATCH=<k>`
//! reruns batch `k` alone. A failure prints the batch's number and the batch.
//!
//! Tuples' and arrays' faces (`fanout::Join`, `fanout::Race`) are checked
//! against the iterator faces this model checks: `n / 200` random arrays of 0
//! to 64 elements (inline, and through the engine past `INLINE_MAX`; those
//! of 3 also as a tuple), with
//! and without a signal and fail-fast, run both as an array and as a `Vec`
//! through `settle_all` (also with a graceful stop), `when_all` and
//! `when_any`, must end the same way at the same virtual instant.

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

use fanout::cancel::{CancelSource, Canceled};
use fanout::source::{IntoSource, Source};
use fanout::{
    catch_panic, first_ok, for_each, from_stream, settle_all, when_all, when_any, when_each,
    CatchPanic, Failure, Faults, Outcome, TaskError,
};
use futures::{stream, StreamExt};

use support::chaos::{self, mix, SplitMix};
use support::seeds::env_u64;
use support::{now, run_timed, sleep, Sleep, Tracked, Tracker};

/// Batches per run when `FANOUT_BATCHES` is not set.
const DEFAULT_BATCHES: u64 = 14_000;

/// The fault of a task that faults when a graceful stop tells it to end:
/// this plus its index (its own fault is its index).
const STOP_FAULT: usize = 1000;
/// The error of a `for_each` processor that fails on item `i`: `PROC_FAULT + i`.
const PROC_FAULT: usize = 2000;
/// The fault of task `i` whose poll panicked (caught by `catch_panic`).
const PANIC_FAULT: usize = 3000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    WhenAll,
    SettleAll,
    WhenEach,
    ForEach,
    WhenAny,
    FirstOk,
}

/// What one `#[test]` runs: the batches of a face, or graceful stops (on
/// the faces that have `.graceful`: `when_all`, `settle_all`, `for_each`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Plain(Face),
    Graceful,
}

/// Batch `k` belongs to group `k % 7`.
const GROUPS: [Group; 7] = [
    Group::Plain(Face::WhenAll),
    Group::Plain(Face::SettleAll),
    Group::Plain(Face::WhenEach),
    Group::Plain(Face::ForEach),
    Group::Plain(Face::WhenAny),
    Group::Plain(Face::FirstOk),
    Group::Graceful,
];

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
    /// Panics, inside `fanout::catch_panic`: a fault, `PANIC_FAULT + index`.
    Panics,
}

#[derive(Debug, Clone)]
struct TaskSpec {
    steps: Vec<Step>,
    ends: Ends,
    /// How it ends when a graceful stop tells it to (graceful batches).
    on_stop: Ends,
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

    /// Wakes it has had by instant `at` (exclusive) if it started at
    /// `start`: one per step done by then.
    fn wakes_before(&self, start: u64, at: u64) -> usize {
        let mut t = start;
        let mut done = 0;
        for step in &self.steps {
            if let Step::Sleep(ms) = step {
                t += ms;
            }
            if t >= at {
                break;
            }
            done += 1;
        }
        done
    }

    fn outcome(&self, index: usize) -> Outcome<usize, usize> {
        match self.ends {
            Ends::Completes => Outcome::Completed(index),
            Ends::Faults => Outcome::Faulted(index),
            Ends::CancelsItself => Outcome::Canceled,
            Ends::Panics => Outcome::Faulted(PANIC_FAULT + index),
        }
    }

    fn stop_outcome(&self, index: usize) -> Outcome<usize, usize> {
        match self.on_stop {
            Ends::Completes => Outcome::Completed(index),
            Ends::Faults => Outcome::Faulted(STOP_FAULT + index),
            Ends::CancelsItself | Ends::Panics => Outcome::Canceled,
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
    /// `.graceful(&stop)`: a stop cancels `stop` and waits for the tasks in
    /// flight, which watch its token.
    graceful: bool,
    /// The tasks come from a `Stream` (`from_stream`) rather than an iterator.
    stream: bool,
    /// With a stream: the instant each task becomes available (the stream is
    /// pending until then); none: every task is available at once.
    arrivals: Option<Vec<u64>>,
    /// `when_any`: race the rest again and again (else stream it).
    race_rest: bool,
    /// `for_each`: the processor fails (`Err(PROC_FAULT + i)`) on item `i`
    /// if `processor_fails[i]` (issue 25: its error is that item's fault).
    processor_fails: Vec<bool>,
}

impl Batch {
    /// Whether the processor fails on item `i` (`for_each` only).
    fn processor_fails(&self, i: usize) -> bool {
        self.processor_fails.get(i) == Some(&true)
    }
}

/// Draws a random batch of `group`.
fn generate(group: Group, rng: &mut SplitMix) -> Batch {
    let (face, graceful) = match group {
        Group::Plain(face) => (face, false),
        Group::Graceful => (
            [Face::WhenAll, Face::SettleAll, Face::ForEach][rng.below(3)],
            true,
        ),
    };
    let fail_fast =
        matches!(face, Face::WhenAll | Face::SettleAll | Face::ForEach) && rng.below(2) == 0;
    // No yield after the last sleep: see the module docs.
    let ordered = matches!(face, Face::WhenAny | Face::FirstOk);
    let n = if fail_fast {
        rng.below(41)
    } else {
        rng.below(65)
    };
    // first_ok races are about their failures: fewer successes, and in a
    // quarter of them none at all.
    let completes_per_10 = match face {
        Face::FirstOk if rng.below(4) == 0 => 0,
        Face::FirstOk => 2,
        _ => 7,
    };
    let mut exponents: Vec<u32> = (1..=n as u32).collect();
    for i in (1..exponents.len()).rev() {
        exponents.swap(i, rng.below(i + 1));
    }
    let tasks = (0..n)
        .map(|i| {
            let sleeps: Vec<u64> = if fail_fast {
                // A distinct power of two, split in up to three even parts
                // (not in a graceful batch).
                let d = 1u64 << exponents[i];
                match rng.below(3) {
                    1 if d >= 4 && !graceful => vec![d / 2, d / 2],
                    2 if d >= 8 && !graceful => vec![d / 2, d / 4, d / 4],
                    _ => vec![d],
                }
            } else {
                (0..rng.below(4))
                    .map(|_| 4 * (1 + rng.below(5) as u64))
                    .collect()
            };
            let mut steps: Vec<Step> = sleeps.into_iter().map(Step::Sleep).collect();
            for _ in 0..rng.below(4) {
                if !ordered {
                    let at = rng.below(steps.len() + 1);
                    steps.insert(at, Step::Yield);
                } else if !steps.is_empty() {
                    // Before the last step, the last sleep.
                    let at = rng.below(steps.len());
                    steps.insert(at, Step::Yield);
                }
            }
            let draw = rng.below(10);
            let ends = if draw < completes_per_10 {
                Ends::Completes
            } else if draw < completes_per_10 + (10 - completes_per_10) / 3 {
                Ends::CancelsItself
            } else if i % 3 == 1 {
                // A third of the faults are panics, caught as faults (no
                // draw of its own: the batches are drawn as before).
                Ends::Panics
            } else {
                Ends::Faults
            };
            let on_stop = if graceful {
                match rng.below(4) {
                    0 => Ends::Faults,
                    1 => Ends::Completes,
                    _ => Ends::CancelsItself,
                }
            } else {
                Ends::CancelsItself
            };
            TaskSpec {
                steps,
                ends,
                on_stop,
            }
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
        graceful,
        stream: rng.below(3) == 0,
        arrivals: None,
        race_rest: face == Face::WhenAny && rng.below(2) == 0,
        processor_fails: Vec::new(),
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
    // A graceful batch is mostly about its stop.
    let signal_odds = if graceful { 4 } else { 3 };
    if rng.below(signal_odds) != 0 {
        // Anywhere from before the first poll's instant to after the end, at
        // an instant when nothing else happens: under fail-fast every task
        // ends at an even instant, so the signal fires at an odd one; else
        // everything happens at multiples of 4, so it fires at 4k + 2.
        let last = schedule(&batch)
            .times
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
    if face == Face::ForEach {
        // Drawn last, so the other faces' batches are drawn as before.
        batch.processor_fails = (0..n).map(|_| rng.below(6) == 0).collect();
    }
    batch
}

/// The list schedule of a batch that nothing stops.
#[derive(Debug)]
struct Schedule {
    /// Start and end instants of every task.
    times: Vec<(u64, u64)>,
    /// When the batch learns that the source has ended: at its first pull
    /// after the last task, which it makes as soon as a place is free (T2).
    end_seen: u64,
}

/// A list scheduler over `limit` places, each place taking the next task
/// when its task ends.
fn schedule(batch: &Batch) -> Schedule {
    let n = batch.tasks.len();
    let places = batch.limit.unwrap_or(n).min(n);
    let mut free: BinaryHeap<Reverse<u64>> = (0..places).map(|_| Reverse(0)).collect();
    let times: Vec<(u64, u64)> = batch
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
        .collect();
    let last_pull = times.last().map_or(0, |&(start, _)| start);
    let end_seen = if batch.limit.map_or(true, |limit| limit > n) {
        last_pull // a place to spare
    } else {
        free.peek().map_or(0, |&Reverse(at)| at).max(last_pull)
    };
    Schedule { times, end_seen }
}

/// How the rules say a pulled task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// On its own, at this instant, with its own outcome.
    Own(u64),
    /// Told to by a graceful stop at this instant: it ends then, with its
    /// stop outcome.
    Stopped(u64),
    /// Dropped by the batch before it ended (recorded `Canceled`).
    Dropped,
    /// `first_ok`: ready on the same poll as the winner, after it in index
    /// order. The rules do not say whether such a loser is polled to its end
    /// before the losers are dropped: either is right.
    OwnOrDropped(u64),
}

/// What the rules say about a batch.
#[derive(Debug)]
struct Expected {
    /// One per pulled task, in index order.
    fates: Vec<Fate>,
    /// One outcome per pulled task, in index order (`Canceled` if dropped).
    outcomes: Vec<Outcome<usize, usize>>,
    /// The virtual instant the batch resolves.
    finish: u64,
    /// The signal or the first fault stopped the batch before it finished
    /// (tasks dropped, or tasks never pulled): the batch itself is canceled
    /// (C1, C2), even with no task in flight.
    stopped: bool,
    /// `first_ok`'s result.
    first_ok: Option<Result<(usize, usize), Failure<usize>>>,
    /// The instant the signal or the first fault (fail-fast) stops the
    /// batch, if ever, whether it is still running then or not.
    stop: Option<u64>,
}

impl Expected {
    /// The tasks that end, each with its outcome and instant, in the order a
    /// face hands them out: completion order, and tasks that end at the same
    /// instant (ready on the same poll) by index (E1, E2, R2).
    fn order(&self) -> Vec<(usize, Outcome<usize, usize>, u64)> {
        let mut order: Vec<_> = self
            .fates
            .iter()
            .enumerate()
            .filter_map(|(i, fate)| match *fate {
                Fate::Own(at) | Fate::Stopped(at) => Some((i, self.outcomes[i], at)),
                Fate::Dropped | Fate::OwnOrDropped(_) => None,
            })
            .collect();
        order.sort_by_key(|&(i, _, at)| (at, i));
        order
    }
}

fn model(batch: &Batch) -> Expected {
    let Schedule { times, end_seen } = schedule(batch);
    // The first fault, if fail-fast: the instant it ends and its index.
    let first_fault = batch
        .fail_fast
        .then(|| {
            times
                .iter()
                .zip(&batch.tasks)
                .enumerate()
                .filter(|(i, (_, task))| {
                    matches!(task.ends, Ends::Faults | Ends::Panics)
                        || task.ends == Ends::Completes && batch.processor_fails(*i)
                })
                .map(|(i, ((_, end), _))| (*end, i))
                .min()
        })
        .flatten();
    let stop = match (batch.signal, first_fault) {
        (Some(s), Some((f, _))) => Some(s.min(f)),
        (s, f) => s.or(f.map(|(f, _)| f)),
    };
    let mut fates = Vec::new();
    let mut outcomes = Vec::new();
    for (i, (&(start, end), task)) in times.iter().zip(&batch.tasks).enumerate() {
        let Some(stop) = stop else {
            fates.push(Fate::Own(end));
            outcomes.push(task.outcome(i));
            continue;
        };
        if start >= stop {
            break; // never pulled: neither are the ones after it
        }
        if end < stop || first_fault == Some((end, i)) && end == stop {
            fates.push(Fate::Own(end));
            outcomes.push(task.outcome(i));
        } else if batch.graceful {
            // Told to stop, it ends at once with its stop outcome.
            fates.push(Fate::Stopped(stop));
            outcomes.push(task.stop_outcome(i));
        } else {
            fates.push(Fate::Dropped);
            outcomes.push(Outcome::Canceled);
        }
    }
    // A value the processor fails on is that item's fault.
    for (i, outcome) in outcomes.iter_mut().enumerate() {
        if matches!(outcome, Outcome::Completed(_)) && batch.processor_fails(i) {
            *outcome = Outcome::Faulted(PROC_FAULT + i);
        }
    }
    let pulled_all = fates.len() == batch.tasks.len();
    let cut = fates.iter().any(|f| !matches!(f, Fate::Own(_)));
    let all_ended = pulled_all && !cut;
    // Resolved when the last task ended, unless something stopped it first
    // (a graceful stop: its tasks end at once, at the stop).
    let finish = match stop {
        Some(stop) if !all_ended => stop,
        _ => fates
            .iter()
            .filter_map(|f| match f {
                Fate::Own(at) => Some(*at),
                _ => None,
            })
            .max()
            .unwrap_or(0),
    };
    let stopped = if batch.graceful {
        // Nothing is dropped: the stop cut the batch short if it left work
        // in the source — tasks never pulled, or, with every task pulled
        // from a source that cannot say it is empty (a stream of arrivals,
        // with no size hint), an end that the batch had not seen yet (it
        // would have had to pull once more, which a stop forbids). A source
        // with an exact size hint says it is empty once its last task is
        // pulled. See `graceful_verdict_does_not_depend_on_the_limit`.
        let end_unknown = batch.arrivals.is_some();
        !pulled_all || cut && end_unknown && stop.is_some_and(|stop| end_seen >= stop)
    } else {
        stop.is_some() && !all_ended
    };
    let mut expected = Expected {
        fates,
        outcomes,
        finish,
        stopped,
        first_ok: None,
        stop,
    };
    if batch.face == Face::FirstOk {
        first_ok_model(&mut expected, &times);
    }
    expected
}

/// R5 on top of the batch's model: the first success in hand-out order
/// wins; at that moment the losers are dropped and nothing more is pulled.
fn first_ok_model(e: &mut Expected, times: &[(u64, u64)]) {
    let order = e.order();
    let winner = order
        .iter()
        .find(|(_, outcome, _)| matches!(outcome, Outcome::Completed(_)));
    let Some(&(winner, _, won)) = winner else {
        // No success: every fault in input order, else canceled (a task, or
        // the batch), else (empty input) a failure with no faults.
        e.first_ok = Some(Err(match aggregate(&e.outcomes, e.stopped) {
            Err(failure) => failure,
            Ok(()) => Failure::Faulted(Faults::from_iter([])),
        }));
        return;
    };
    // Pulls come in index order; none after the win (T2).
    let pulled = times
        .iter()
        .enumerate()
        .take_while(|&(i, &(start, _))| start < won || start == won && i <= winner)
        .count();
    e.fates.truncate(pulled);
    e.outcomes.truncate(pulled);
    for (i, fate) in e.fates.iter_mut().enumerate() {
        *fate = match *fate {
            Fate::Own(at) if (at, i) <= (won, winner) => Fate::Own(at),
            Fate::Own(at) if at == won => Fate::OwnOrDropped(at),
            _ => {
                e.outcomes[i] = Outcome::Canceled;
                Fate::Dropped
            }
        };
    }
    e.finish = won;
    e.first_ok = Some(Ok((winner, winner)));
}

/// What one task records about itself.
#[derive(Debug, Default, Clone)]
struct Record {
    polls: usize,
    spurious: usize,
    ended_at: Option<u64>,
    /// It ended because its stop token fired.
    by_token: bool,
}

/// A task of the batch: [`Steps`] inside `fanout::catch_panic`, its panic
/// mapped to the fault `PANIC_FAULT + index` (so the model's outcomes stay
/// `Outcome<usize, usize>`).
struct Task {
    index: usize,
    inner: CatchPanic<Steps>,
}

impl Future for Task {
    type Output = Outcome<usize, usize>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let index = self.index;
        Pin::new(&mut self.inner)
            .poll(cx)
            .map(|outcome| match outcome {
                Outcome::Completed(value) => Outcome::Completed(value),
                Outcome::Faulted(TaskError::Error(error)) => Outcome::Faulted(error),
                Outcome::Faulted(TaskError::Panic(panic)) => {
                    assert_eq!(panic.message(), Some("the task panics (caught)"));
                    Outcome::Faulted(PANIC_FAULT + index)
                }
                Outcome::Canceled => Outcome::Canceled,
            })
    }
}

/// What a task runs: walks its steps, then ends with its outcome (or
/// panics, if it `Ends::Panics`); in a graceful batch, ends with its stop
/// outcome on the poll after its stop token fires.
struct Steps {
    index: usize,
    spec: TaskSpec,
    at: usize,
    yielded: bool,
    sleep: Option<Sleep>,
    /// The last poll injected a spurious wake (so the next poll is its).
    spurious_armed: bool,
    /// A graceful batch's stop token, watched (awaited) on every poll.
    stop: Option<Canceled>,
    records: Rc<RefCell<Vec<Record>>>,
}

impl Future for Steps {
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
        if let Some(stop) = &mut this.stop {
            if Pin::new(stop).poll(cx).is_ready() {
                let mut records = this.records.borrow_mut();
                records[this.index].ended_at = Some(now());
                records[this.index].by_token = true;
                return Poll::Ready(this.spec.stop_outcome(this.index));
            }
        }
        loop {
            let Some(&step) = this.spec.steps.get(this.at) else {
                this.records.borrow_mut()[this.index].ended_at = Some(now());
                if this.spec.ends == Ends::Panics {
                    panic!("the task panics (caught)");
                }
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
#[derive(Debug, Default)]
struct Observed {
    /// One outcome per pulled task (from the face's output), index order.
    outcomes: Vec<Outcome<usize, usize>>,
    /// For the completion-order faces: `(index, instant handed out)`.
    handed_out: Vec<(usize, u64)>,
    /// `when_any`: every item, the winner first, then the rest's, with the
    /// instant each was handed out.
    items: Vec<(usize, Outcome<usize, usize>, u64)>,
    /// `when_any` with its rest streamed: the rest's `canceled_count`.
    canceled: Option<usize>,
    /// `when_all` / `for_each`: the aggregate.
    aggregate: Option<Result<(), Failure<usize>>>,
    /// `first_ok`: its result, and the tasks still in flight right after it
    /// resolved (the race itself still alive).
    first_ok: Option<Result<(usize, usize), Failure<usize>>>,
    in_flight_after: usize,
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
    let stop = CancelSource::new();
    let source = (0..n).map(|i| {
        pulled.set(pulled.get() + 1);
        tracker.track(Task {
            index: i,
            inner: catch_panic(Steps {
                index: i,
                spec: batch.tasks[i].clone(),
                at: 0,
                yielded: false,
                sleep: None,
                spurious_armed: false,
                stop: batch.graceful.then(|| stop.token().canceled()),
                records: Rc::clone(&records),
            }),
        })
    });
    let observed = if let Some(arrivals) = &batch.arrivals {
        let arriving = Arriving {
            tasks: source,
            arrivals: arrivals.clone(),
            next: 0,
            timer: None,
        };
        run_face(batch, from_stream(arriving), &pulled, &stop, &tracker)
    } else if batch.stream {
        run_face(
            batch,
            from_stream(stream::iter(source)),
            &pulled,
            &stop,
            &tracker,
        )
    } else {
        run_face(batch, source, &pulled, &stop, &tracker)
    };
    check(
        batch,
        &observed,
        &records.borrow(),
        &tracker,
        pulled.get(),
        stop.is_canceled(),
    );
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
fn run_face<I>(
    batch: &Batch,
    source: I,
    pulled: &Cell<usize>,
    stop: &CancelSource,
    tracker: &Tracker,
) -> Observed
where
    I: IntoSource,
    I::Source: Source<Task = Tracked<Task>> + Unpin,
{
    let n = batch.tasks.len();
    let at = batch.signal;
    // Boxed: `when_any` hands back its rest only for an `Unpin` batch.
    let signal = Box::pin(async move {
        match at {
            Some(ms) => sleep(ms).await,
            None => pending().await,
        }
    });
    let limit = batch.limit.unwrap_or(usize::MAX);
    match batch.face {
        Face::WhenAll => {
            let mut b = when_all(source).limit(limit).cancel_on(signal);
            if batch.fail_fast {
                b = b.fail_fast();
            }
            if batch.graceful {
                b = b.graceful(stop);
            }
            let (result, finish) = run_timed(b);
            Observed {
                aggregate: Some(result.map(|values| {
                    assert_eq!(
                        values,
                        (0..n).collect::<Vec<_>>(),
                        "A1: values in input order"
                    );
                })),
                finish,
                ..Observed::default()
            }
        }
        Face::SettleAll => {
            let mut b = settle_all(source).limit(limit).cancel_on(signal);
            if batch.fail_fast {
                b = b.fail_fast();
            }
            if batch.graceful {
                b = b.graceful(stop);
            }
            let (outcomes, finish) = run_timed(b);
            Observed {
                outcomes,
                finish,
                ..Observed::default()
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
                finish,
                ..Observed::default()
            }
        }
        Face::ForEach => {
            let handed_out = RefCell::new(Vec::new());
            let mut b = for_each(source, |i, value: usize| {
                assert_eq!(i, value);
                handed_out.borrow_mut().push((i, now()));
                if batch.processor_fails(i) {
                    Err(PROC_FAULT + i)
                } else {
                    Ok(())
                }
            })
            .limit(limit)
            .cancel_on(signal);
            if batch.fail_fast {
                b = b.fail_fast();
            }
            if batch.graceful {
                b = b.graceful(stop);
            }
            let (result, finish) = run_timed(b);
            Observed {
                handed_out: handed_out.into_inner(),
                aggregate: Some(result),
                finish,
                ..Observed::default()
            }
        }
        Face::WhenAny => {
            let race_rest = batch.race_rest;
            let ((items, canceled), finish) = run_timed(async {
                let race = when_any(source).limit(limit).cancel_on(signal);
                let mut items = Vec::new();
                let Some((i, out, mut rest)) = race.await else {
                    return (items, None);
                };
                items.push((i, out, now()));
                if race_rest {
                    // R3: race the rest again, until nothing is left.
                    while let Some((i, out, next)) = rest.when_any().await {
                        items.push((i, out, now()));
                        rest = next;
                    }
                    (items, None)
                } else {
                    // R3: stream the rest to its end.
                    while let Some((i, out)) = rest.next().await {
                        items.push((i, out, now()));
                    }
                    (items, Some(rest.canceled_count()))
                }
            });
            Observed {
                items,
                canceled,
                finish,
                ..Observed::default()
            }
        }
        Face::FirstOk => {
            let ((result, in_flight_after), finish) = run_timed(async {
                let mut race = pin!(first_ok(source).limit(limit).cancel_on(signal));
                let result = race.as_mut().await;
                (result, tracker.in_flight())
            });
            Observed {
                first_ok: Some(result),
                in_flight_after,
                finish,
                ..Observed::default()
            }
        }
    }
}

fn check(
    batch: &Batch,
    seen: &Observed,
    records: &[Record],
    tracker: &Tracker,
    pulled: usize,
    stop_canceled: bool,
) {
    let expected = model(batch);
    assert_eq!(
        stop_canceled,
        batch.graceful && expected.stop.is_some_and(|stop| stop <= expected.finish),
        "graceful: the stop source is canceled when (and only when) the batch is stopped"
    );
    let times = schedule(batch).times;
    let n_pulled = expected.fates.len();
    assert_eq!(pulled, n_pulled, "pulled (T2, A7, C2, R5)");
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
    let ended = expected
        .fates
        .iter()
        .filter(|f| matches!(f, Fate::Own(_) | Fate::Stopped(_)))
        .count();
    let may_end = expected
        .fates
        .iter()
        .filter(|f| matches!(f, Fate::OwnOrDropped(_)))
        .count();
    let finished = tracker.finished();
    assert!(
        (ended..=ended + may_end).contains(&finished),
        "{finished} tasks ended, the model says {ended} (+ up to {may_end})"
    );
    assert_eq!(
        tracker.dropped_unfinished(),
        n_pulled - finished,
        "tasks dropped (C2, A7, R5)"
    );
    // Each task: ended when the model says, polled once more than woken.
    for (i, (record, fate)) in records.iter().zip(&expected.fates).enumerate() {
        let spec = &batch.tasks[i];
        let polls = record.polls - record.spurious;
        let own = |at: u64| {
            assert_eq!(record.ended_at, Some(at), "task {i}: end instant");
            assert!(!record.by_token, "task {i}: ended on its own");
            assert_eq!(
                polls,
                spec.wakes() + 1,
                "task {i}: polls = wakes + 1 ({record:?})"
            );
        };
        let dropped = || {
            assert_eq!(record.ended_at, None, "task {i}: dropped, yet ended");
            assert!(
                polls <= spec.wakes() + 1,
                "task {i}: {polls} polls for {} wakes",
                spec.wakes()
            );
        };
        match *fate {
            Fate::Own(at) => own(at),
            Fate::Stopped(at) => {
                assert_eq!(record.ended_at, Some(at), "task {i}: ended at the stop");
                assert!(record.by_token, "task {i}: ended by its stop token");
                // Its wakes so far, and the token's.
                let wakes = spec.wakes_before(times[i].0, at) + 1;
                assert_eq!(
                    polls,
                    wakes + 1,
                    "task {i}: polls = wakes + 1 after a graceful stop ({record:?})"
                );
            }
            Fate::Dropped => dropped(),
            Fate::OwnOrDropped(at) => match record.ended_at {
                Some(_) => own(at),
                None => dropped(),
            },
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
        Face::WhenAny => {
            // The winner first (R1, R2), then the rest (R3): every task that
            // ended, once, when it ended, ties by index (E1, E2).
            assert_eq!(
                seen.items,
                expected.order(),
                "R1/R2/R3: (index, outcome, instant) of the winner, then of the rest"
            );
            if let Some(canceled) = seen.canceled {
                assert_eq!(
                    canceled,
                    n_pulled - seen.items.len(),
                    "O1: every pulled task is an item or counted canceled"
                );
            }
        }
        Face::FirstOk => {
            assert_eq!(seen.first_ok, expected.first_ok, "R5: the result");
            assert_eq!(
                seen.in_flight_after, 0,
                "R5: the losers are dropped as soon as the race resolves"
            );
        }
    }
    // E1: handed out at the instant the task ended, so in completion order.
    if matches!(batch.face, Face::WhenEach | Face::ForEach) {
        let mut want: Vec<(usize, u64)> = expected
            .order()
            .into_iter()
            .filter(|(_, o, _)| {
                // `for_each` processes the values, and its processor's
                // faults were values it was given.
                batch.face == Face::WhenEach
                    || matches!(o, Outcome::Completed(_))
                    || matches!(o, Outcome::Faulted(e) if (PROC_FAULT..PANIC_FAULT).contains(e))
            })
            .map(|(i, _, at)| (i, at))
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

/// Runs this group's share of the batches (batch `k` is of group `k % 7`).
fn batches(group: Group) {
    let which = GROUPS.iter().position(|&g| g == group).expect("a group") as u64;
    let groups = GROUPS.len() as u64;
    let ks: Vec<u64> = match env_u64("FANOUT_BATCH") {
        Some(k) if k % groups == which => vec![k],
        Some(_) => Vec::new(),
        None => (0..env_u64("FANOUT_BATCHES").unwrap_or(DEFAULT_BATCHES))
            .filter(|k| k % groups == which)
            .collect(),
    };
    for k in ks {
        let seed = mix(0xFA40_0075, k);
        let batch = generate(group, &mut SplitMix::new(seed));
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
    batches(Group::Plain(Face::WhenAll));
}

#[test]
fn settle_all_batches_follow_the_model() {
    batches(Group::Plain(Face::SettleAll));
}

#[test]
fn when_each_batches_follow_the_model() {
    batches(Group::Plain(Face::WhenEach));
}

#[test]
fn for_each_batches_follow_the_model() {
    batches(Group::Plain(Face::ForEach));
}

#[test]
fn when_any_batches_follow_the_model() {
    batches(Group::Plain(Face::WhenAny));
}

#[test]
fn first_ok_batches_follow_the_model() {
    batches(Group::Plain(Face::FirstOk));
}

#[test]
fn graceful_batches_follow_the_model() {
    batches(Group::Graceful);
}

fn task(steps: Vec<Step>, ends: Ends) -> TaskSpec {
    TaskSpec {
        steps,
        ends,
        on_stop: Ends::CancelsItself,
    }
}

/// Every face (and graceful stop) a batch like `batch` can run as.
fn all_faces(batch: &Batch) -> Vec<Batch> {
    let faces = [
        Face::WhenAll,
        Face::SettleAll,
        Face::WhenEach,
        Face::ForEach,
        Face::WhenAny,
        Face::FirstOk,
    ];
    let mut all = Vec::new();
    for face in faces {
        for graceful in [false, true] {
            if graceful && !matches!(face, Face::WhenAll | Face::SettleAll | Face::ForEach) {
                continue;
            }
            for race_rest in [false, true] {
                if race_rest && face != Face::WhenAny {
                    continue;
                }
                all.push(Batch {
                    face,
                    graceful,
                    race_rest,
                    ..batch.clone()
                });
            }
        }
    }
    all
}

/// The model itself, on hand-made batches (so that a wrong model cannot
/// pass silently).
#[test]
fn the_model_on_known_batches() {
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
        graceful: false,
        stream: false,
        arrivals: None,
        race_rest: false,
        processor_fails: Vec::new(),
    };
    assert_eq!(
        schedule(&batch).times,
        vec![(0, 4), (0, 2), (2, 4), (4, 12)]
    );
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
    // when_any: the fault at 2 wins (R1); at 4, 0 before 2 (R2).
    assert_eq!(
        e.order(),
        vec![
            (1, Outcome::Faulted(1), 2),
            (0, Outcome::Completed(0), 4),
            (2, Outcome::Canceled, 4),
            (3, Outcome::Completed(3), 12)
        ]
    );
    // first_ok: 0 wins at 4; 2, ready on the same poll, may or may not have
    // ended; 3, which would start at 4, is never pulled.
    let e = model(&Batch {
        face: Face::FirstOk,
        ..batch.clone()
    });
    assert_eq!(e.first_ok, Some(Ok((0, 0))));
    assert_eq!(
        e.fates,
        vec![Fate::Own(4), Fate::Own(2), Fate::OwnOrDropped(4)]
    );
    assert_eq!(e.finish, 4);
    // Signal at 3: task 3 is never pulled, tasks 0 and 2 are dropped.
    batch.signal = Some(3);
    let e = model(&batch);
    assert_eq!(
        e.outcomes,
        vec![Outcome::Canceled, Outcome::Faulted(1), Outcome::Canceled]
    );
    assert_eq!(e.finish, 3);
    // first_ok, signal at 3: no success, the fault is the failure.
    let e = model(&Batch {
        face: Face::FirstOk,
        ..batch.clone()
    });
    assert_eq!(
        e.first_ok,
        Some(Err(Failure::Faulted([(1, 1)].into_iter().collect())))
    );
    // Graceful, signal at 3: 0 and 2 are told to stop and end at 3 with
    // their stop outcomes; 3 is never pulled, so the batch is canceled.
    let mut graceful = Batch {
        graceful: true,
        ..batch.clone()
    };
    graceful.tasks[0].on_stop = Ends::Faults;
    graceful.tasks[2].on_stop = Ends::Completes;
    let e = model(&graceful);
    assert_eq!(
        e.fates,
        vec![Fate::Stopped(3), Fate::Own(2), Fate::Stopped(3)]
    );
    assert_eq!(
        e.outcomes,
        vec![
            Outcome::Faulted(STOP_FAULT),
            Outcome::Faulted(1),
            Outcome::Completed(2)
        ]
    );
    assert!(e.stopped);
    assert_eq!(e.finish, 3);
    assert_eq!(
        aggregate(&e.outcomes, e.stopped),
        Err(Failure::Faulted(
            [(0, STOP_FAULT), (1, 1)].into_iter().collect()
        ))
    );
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
    // Gracefully: 0 is told to stop at 2 (and 2, which would start at 2, is
    // never pulled).
    let e = model(&Batch {
        graceful: true,
        ..batch.clone()
    });
    assert_eq!(e.fates, vec![Fate::Stopped(2), Fate::Own(2)]);
    assert_eq!(e.outcomes, vec![Outcome::Canceled, Outcome::Faulted(1)]);
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
        graceful: false,
        stream: true,
        arrivals: Some(vec![8]),
        race_rest: false,
        processor_fails: Vec::new(),
    };
    let e = model(&late);
    assert!(e.outcomes.is_empty());
    assert_eq!(e.finish, 6);
    assert_eq!(aggregate(&e.outcomes, e.stopped), Err(Failure::Canceled));
    for signal in [Some(6), Some(10), None] {
        for b in all_faces(&Batch {
            signal,
            ..late.clone()
        }) {
            for seed in 0..5 {
                chaos::with_seed(support::seeds::schedule_seed("late", seed), || {
                    run_batch(&b)
                });
            }
        }
    }
    // Graceful, every task pulled and in flight at the stop, each completing
    // when told to: the batch does not count as canceled, whatever its limit,
    // when its source says it is empty (an exact size hint) ...
    let full = Batch {
        face: Face::WhenAll,
        tasks: (0..3)
            .map(|_| TaskSpec {
                on_stop: Ends::Completes,
                ..task(vec![Step::Sleep(8)], Ends::Completes)
            })
            .collect(),
        limit: Some(3),
        fail_fast: false,
        signal: Some(2),
        graceful: true,
        stream: false,
        arrivals: None,
        race_rest: false,
        processor_fails: Vec::new(),
    };
    for limit in [None, Some(3), Some(4)] {
        assert!(
            !model(&Batch {
                limit,
                ..full.clone()
            })
            .stopped
        );
    }
    // ... but a stream that cannot say so (arrivals, no size hint) has not
    // been seen to end by a batch with no place to spare: the stop may have
    // cut it short.
    let arriving = Batch {
        stream: true,
        arrivals: Some(vec![0, 0, 0]),
        ..full.clone()
    };
    assert!(model(&arriving).stopped);
    assert!(
        !model(&Batch {
            limit: None,
            ..arriving.clone()
        })
        .stopped
    );
    // And the runs agree with the model, calm and seeded.
    for seed in 0..20 {
        for signal in [None, Some(3), Some(13)] {
            for b in all_faces(&Batch {
                signal,
                ..batch.clone()
            }) {
                chaos::with_seed(support::seeds::schedule_seed("model", seed), || {
                    run_batch(&b)
                });
            }
        }
        for limit in [None, Some(3), Some(4)] {
            for base in [&full, &arriving] {
                let b = Batch {
                    limit,
                    ..base.clone()
                };
                chaos::with_seed(support::seeds::schedule_seed("full", seed), || {
                    run_batch(&b)
                });
            }
        }
    }
}

/// E2/R2: a task woken before a poll of the batch and a task that the same
/// poll pulls from a stream, ready on its first poll, are ready on the same
/// poll: the lower index (the woken one) must come first. (The engine once
/// filled free places before walking its round, so the task pulled in the
/// poll won; it now walks the round first when it comes back from
/// `Pending`.) As a property batch: task 0 sleeps 4 ms; task 1 arrives at
/// 4 ms and is ready at once.
#[test]
fn a_task_woken_before_a_poll_wins_over_one_pulled_in_it() {
    let batch = Batch {
        face: Face::WhenAny,
        tasks: vec![
            task(vec![Step::Sleep(4)], Ends::Completes),
            task(vec![], Ends::Completes),
        ],
        limit: None,
        fail_fast: false,
        signal: None,
        graceful: false,
        stream: true,
        arrivals: Some(vec![0, 4]),
        race_rest: false,
        processor_fails: Vec::new(),
    };
    assert_eq!(
        model(&batch).order(),
        vec![(0, Outcome::Completed(0), 4), (1, Outcome::Completed(1), 4)]
    );
    run_batch(&batch);
}

/// Graceful stops: the same three tasks, all pulled and in flight when the
/// signal fires, each completing when told to stop: `when_all` is `Ok`
/// without a limit, with `limit(4)` and with `limit(3)`. (With `limit(3)`
/// the batch had not pulled once more to see the source's end, and once
/// counted the stop as having cut the source short; it now takes a size hint
/// of no more tasks as the end.) A limit only throttles.
#[test]
fn graceful_verdict_does_not_depend_on_the_limit() {
    let results: Vec<_> = [None, Some(4), Some(3)]
        .into_iter()
        .map(|limit| {
            let stop = CancelSource::new();
            let tasks = (0..3).map(|i| {
                let stop = stop.token();
                async move {
                    let _ = futures::future::select(stop.canceled(), sleep(8)).await;
                    Ok::<usize, usize>(i)
                }
            });
            let batch = when_all(tasks).cancel_on(sleep(2)).graceful(&stop);
            support::run(async move {
                match limit {
                    Some(limit) => batch.limit(limit).await,
                    None => batch.await,
                }
            })
        })
        .collect();
    assert_eq!(
        results,
        vec![Ok(vec![0, 1, 2]); 3],
        "no limit, limit(4), limit(3)"
    );
}

// ---------------------------------------------------------------------------
// Tuples and arrays (`fanout::Join`, `fanout::Race`), checked against the
// iterator faces that the model above checks: the same elements, run as an
// array (inline up to `INLINE_MAX`, through the engine above it) and as a
// `Vec`, must end the same way.
// ---------------------------------------------------------------------------

/// One element: sleeps `sleep` virtual ms (after `yields` self-wakes), then
/// ends with `end`.
#[derive(Debug, Clone, Copy)]
struct FixedSpec {
    yields: usize,
    sleep: u64,
    end: Outcome<usize, usize>,
}

async fn fixed_element(spec: FixedSpec) -> Outcome<usize, usize> {
    for _ in 0..spec.yields {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                chaos::wake_by_ref(cx.waker());
                Poll::Pending
            }
        })
        .await;
    }
    if spec.sleep > 0 {
        sleep(spec.sleep).await;
    }
    spec.end
}

/// Runs `specs` as a `[_; N]` and as a `Vec` through `settle_all`,
/// `when_all` and `when_any` (same signal, same fail-fast) and compares.
fn fixed_agrees<const N: usize>(specs: &[FixedSpec], signal: Option<u64>, fail_fast: bool) {
    use fanout::{Join, Race};
    let signal_at = || {
        Box::pin(async move {
            match signal {
                Some(ms) => sleep(ms).await,
                None => pending().await,
            }
        })
    };
    let array = || -> [_; N] { std::array::from_fn(|i| fixed_element(specs[i])) };
    let vec = || specs.iter().map(|&s| fixed_element(s)).collect::<Vec<_>>();

    // settle_all: one outcome per element; an element the iterator face
    // never pulled (fail-fast) is one the array dropped unpolled.
    let mut fixed = Box::pin(array().settle_all().cancel_on(signal_at()));
    let mut iter = settle_all(vec()).cancel_on(signal_at());
    if fail_fast {
        fixed = Box::pin(array().settle_all().cancel_on(signal_at()).fail_fast());
        iter = iter.fail_fast();
    }
    let (settled, fixed_end) = run_timed(fixed);
    let (iter, iter_end) = run_timed(iter);
    let iter: Vec<_> = (0..N)
        .map(|i| iter.get(i).copied().unwrap_or(Outcome::Canceled))
        .collect();
    assert_eq!(settled.to_vec(), iter, "settle_all: array vs Vec");
    assert_eq!(fixed_end, iter_end, "settle_all: the same virtual end");

    // Graceful: every element watches a stop token; a stop (the signal, a
    // fail-fast fault) cancels it and waits. The same outcomes, and the
    // same stop.
    let (fixed_stop, iter_stop) = (CancelSource::new(), CancelSource::new());
    let mut fixed =
        std::array::from_fn::<_, N, _>(|i| fixed_stop.token().run(fixed_element(specs[i])))
            .settle_all()
            .cancel_on(signal_at())
            .graceful(&fixed_stop);
    let mut iter = settle_all(
        specs
            .iter()
            .map(|&s| iter_stop.token().run(fixed_element(s))),
    )
    .cancel_on(signal_at())
    .graceful(&iter_stop);
    if fail_fast {
        fixed = fixed.fail_fast();
        iter = iter.fail_fast();
    }
    let (graceful, fixed_end) = run_timed(Box::pin(fixed));
    let (iter, iter_end) = run_timed(iter);
    assert_eq!(graceful.to_vec(), iter, "graceful settle_all: array vs Vec");
    assert_eq!(fixed_end, iter_end, "graceful: the same virtual end");
    assert_eq!(
        fixed_stop.is_canceled(),
        iter_stop.is_canceled(),
        "graceful: the same stop"
    );

    // when_all: the same verdict (every fault in order, faults win).
    let fixed = array().when_all().cancel_on(signal_at());
    let fixed = if fail_fast {
        run_timed(Box::pin(fixed.fail_fast())).0
    } else {
        run_timed(Box::pin(fixed)).0
    };
    let iter = when_all(vec()).cancel_on(signal_at());
    let iter = if fail_fast {
        run_timed(iter.fail_fast()).0
    } else {
        run_timed(iter).0
    };
    assert_eq!(
        fixed.map(|values| values.to_vec()),
        iter,
        "when_all: array vs Vec"
    );

    // A tuple of three (element types may differ; here they are the same
    // async fn, so that the same specs drive it): as the array.
    if N == 3 {
        let tuple = || {
            (
                fixed_element(specs[0]),
                fixed_element(specs[1]),
                fixed_element(specs[2]),
            )
        };
        let batch = tuple().settle_all().cancel_on(signal_at());
        let (a, b, c) = if fail_fast {
            run_timed(Box::pin(batch.fail_fast())).0
        } else {
            run_timed(Box::pin(batch)).0
        };
        assert_eq!(
            vec![a, b, c],
            settled.to_vec(),
            "settle_all: tuple vs array"
        );
        let batch = tuple().when_all().cancel_on(signal_at());
        let tuple_verdict = if fail_fast {
            run_timed(Box::pin(batch.fail_fast())).0
        } else {
            run_timed(Box::pin(batch)).0
        };
        assert_eq!(
            tuple_verdict.map(|(a, b, c)| vec![a, b, c]),
            iter,
            "when_all: tuple vs Vec"
        );
    }

    // when_any: the same winner (the first to end; ties to the lowest index).
    let (fixed, _) = run_timed(Box::pin(array().when_any().cancel_on(signal_at())));
    let (iter, _) = run_timed(async {
        when_any(vec())
            .cancel_on(signal_at())
            .await
            .map(|(i, out, _)| (i, out))
    });
    assert_eq!(fixed, iter, "when_any: array vs Vec");
}

#[test]
fn fixed_arrays_agree_with_the_iterator_faces() {
    // A two-hundredth of the model's batches: each runs eight batches of up
    // to 64 elements (an array and a `Vec`, four faces), under the seed's
    // chaos, whose cross-thread wakes make a batch cost up to a second.
    let batches = env_u64("FANOUT_BATCHES").unwrap_or(DEFAULT_BATCHES) / 200;
    for k in 0..batches {
        let seed = mix(0xF1CED, k);
        let mut rng = SplitMix::new(seed);
        let n = [0, 1, 2, 3, 8, 32, 33, 64][rng.below(8)];
        let fail_fast = rng.below(2) == 0;
        // Elements end at even instants, distinct ones under fail-fast (as in
        // the model above: no ties for the two faces to break differently);
        // the signal fires at an odd one, or never.
        let mut instants: Vec<u64> = (1..=n as u64).map(|i| 2 * i).collect();
        for i in (1..instants.len()).rev() {
            instants.swap(i, rng.below(i + 1));
        }
        let specs: Vec<FixedSpec> = (0..n)
            .map(|i| FixedSpec {
                yields: rng.below(3),
                sleep: if fail_fast {
                    instants[i]
                } else {
                    2 * rng.below(6) as u64
                },
                end: match rng.below(10) {
                    0..=5 => Outcome::Completed(i),
                    6..=7 => Outcome::Faulted(i),
                    _ => Outcome::Canceled,
                },
            })
            .collect();
        let signal = (rng.below(3) == 0).then(|| 2 * rng.below(2 * n + 2) as u64 + 1);
        let r = catch_unwind(AssertUnwindSafe(|| {
            chaos::with_seed(mix(seed, 1).max(1), || match n {
                0 => fixed_agrees::<0>(&specs, signal, fail_fast),
                1 => fixed_agrees::<1>(&specs, signal, fail_fast),
                2 => fixed_agrees::<2>(&specs, signal, fail_fast),
                3 => fixed_agrees::<3>(&specs, signal, fail_fast),
                8 => fixed_agrees::<8>(&specs, signal, fail_fast),
                32 => fixed_agrees::<32>(&specs, signal, fail_fast),
                33 => fixed_agrees::<33>(&specs, signal, fail_fast),
                _ => fixed_agrees::<64>(&specs, signal, fail_fast),
            });
        }));
        if let Err(panic) = r {
            eprintln!(
                "fixed batch {k} failed: fail_fast {fail_fast}, signal {signal:?}\n{specs:#?}"
            );
            resume_unwind(panic);
        }
    }
}
