//! Self-tests of the virtual-time test support (`tests/support`).

#[path = "support/mod.rs"]
mod support;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Wake, Waker};

use fanout::Outcome;
use futures::future::{join, join3, join_all, pending, poll_fn, select, Either};
use futures::FutureExt;

use support::clock::{self, now, sleep, Sleep};
use support::counting::{Gate, PollCounter, Tracker, YieldN};
use support::executor::{run, run_timed};
use support::jobs::{self, Job, JobError};
use support::{chaos, executor, seeds};

fn assert_send_sync_unpin<T: Send + Sync + Unpin>() {}
fn assert_send<T: Send>(_: &T) {}

#[test]
fn sleep_is_send_sync_unpin_and_jobs_are_send() {
    assert_send_sync_unpin::<Sleep>();
    assert_send_sync_unpin::<Gate>();
    assert_send_sync_unpin::<PollCounter>();
    assert_send_sync_unpin::<Tracker>();
    assert_send(&jobs::run_job(1, 1));
    assert_send(&jobs::throw_job(1));
    assert_send(&jobs::canceled_job(1));
    assert_send(&Tracker::new().track(sleep(1)));
}

#[test]
fn timers_fire_in_deadline_order_at_their_deadline() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let at = |ms: u64| {
        let log = Rc::clone(&log);
        async move {
            sleep(ms).await;
            log.borrow_mut().push((ms, now()));
        }
    };
    let ((), elapsed) = run_timed(async {
        join3(at(300), at(100), at(200)).await;
    });
    assert_eq!(*log.borrow(), vec![(100, 100), (200, 200), (300, 300)]);
    assert_eq!(elapsed, 300);
}

/// Records its name when woken.
struct NamedWaker(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl Wake for NamedWaker {
    fn wake(self: Arc<Self>) {
        self.1.lock().unwrap().push(self.0);
    }
}

#[test]
fn equal_deadlines_wake_in_registration_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (_, elapsed) = run_timed(async {
        let waker = |name| Waker::from(Arc::new(NamedWaker(name, Arc::clone(&log))));
        let (mut a, mut b, mut c) = (sleep(100), sleep(100), sleep(100));
        // Register out of creation order: c, a, b.
        for (s, name) in [(&mut c, "c"), (&mut a, "a"), (&mut b, "b")] {
            let w = waker(name);
            assert!(Pin::new(s).poll(&mut Context::from_waker(&w)).is_pending());
        }
        assert_eq!(clock::pending_timers(), 3);
        sleep(100).await;
        assert_eq!(clock::pending_timers(), 0);
        assert!(a.now_or_never().is_some());
        assert!(b.now_or_never().is_some());
        assert!(c.now_or_never().is_some());
    });
    assert_eq!(elapsed, 100);
    assert_eq!(*log.lock().unwrap(), vec!["c", "a", "b"]);
}

#[test]
fn join_of_sleeps_takes_the_longest() {
    let (((), ()), elapsed) = run_timed(join(sleep(100), sleep(300)));
    assert_eq!(elapsed, 300);
}

#[test]
fn sequential_sleeps_add_up() {
    let (seen, elapsed) = run_timed(async {
        let start = now();
        sleep(100).await;
        let mid = now();
        sleep(250).await;
        (start, mid, now())
    });
    assert_eq!(seen, (0, 100, 350));
    assert_eq!(elapsed, 350);
}

#[test]
fn deadline_is_taken_at_creation() {
    let (gap, elapsed) = run_timed(async {
        let late = sleep(100); // deadline 100, created at 0
        sleep(60).await;
        let before = now();
        late.await; // only 40 more ms
        now() - before
    });
    assert_eq!(gap, 40);
    assert_eq!(elapsed, 100);
}

#[test]
fn sleep_created_outside_a_run_counts_from_zero() {
    let s = sleep(70);
    assert_eq!(s.deadline(), 70);
    let ((), elapsed) = run_timed(s);
    assert_eq!(elapsed, 70);
}

#[test]
fn sleep_zero_is_ready_on_first_poll() {
    let ((), elapsed) = run_timed(async {
        assert_eq!(sleep(0).now_or_never(), Some(()));
        sleep(0).await;
    });
    assert_eq!(elapsed, 0);
}

#[test]
fn dropping_a_sleep_removes_its_timer() {
    let ((), elapsed) = run_timed(async {
        assert_eq!(sleep(500).now_or_never(), None); // registered, then dropped
        assert_eq!(clock::pending_timers(), 0);
        sleep(20).await;
    });
    assert_eq!(elapsed, 20);
}

#[test]
fn nested_runs_have_their_own_clock() {
    let (inner, outer) = run_timed(async {
        sleep(10).await;
        let inner = run_timed(async { sleep(5).await }).1;
        assert_eq!(now(), 10);
        sleep(10).await;
        inner
    });
    assert_eq!((inner, outer), (5, 20));
}

#[test]
#[should_panic(expected = "different executor run")]
fn sleep_from_an_outer_run_cannot_be_polled_in_a_nested_run() {
    run(async {
        let outer = sleep(5);
        run(outer);
    });
}

#[test]
fn yield_n_is_polled_n_plus_one_times() {
    let counter = PollCounter::new();
    let (value, elapsed) = run_timed(YieldN::new(3, 'x', counter.clone()));
    assert_eq!(value, 'x');
    assert_eq!(counter.get(), 4);
    assert_eq!(elapsed, 0);
}

#[test]
fn gate_opened_once_from_another_thread_is_polled_twice() {
    let gate = Gate::new();
    let counter = PollCounter::new();
    let (tx, rx) = mpsc::channel::<()>();
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            rx.recv().unwrap();
            gate.open();
        })
    };
    let mut fut = gate.future(42, counter.clone());
    let mut tx = Some(tx);
    // Poll the gate future only when the root is polled, and tell the other thread to
    // open the gate only after the first poll registered the waker.
    let (value, elapsed) = run_timed(poll_fn(move |cx| {
        let r = Pin::new(&mut fut).poll(cx);
        if let Some(tx) = tx.take() {
            tx.send(()).unwrap();
        }
        r
    }));
    opener.join().unwrap();
    assert_eq!(value, 42);
    assert_eq!(counter.get(), 2);
    assert!(gate.is_open());
    assert_eq!(elapsed, 0);
}

#[test]
fn gate_opened_before_first_poll_is_polled_once() {
    let gate = Gate::new();
    let counter = PollCounter::new();
    let fut = gate.future((), counter.clone());
    gate.open();
    run(fut);
    assert_eq!(counter.get(), 1);
}

#[test]
fn tracker_records_peak_concurrency() {
    let tracker = Tracker::new();
    let ((), elapsed) = run_timed(async {
        let futs = [300, 100, 200].map(|ms| tracker.track(sleep(ms)));
        join_all(futs).await;
        assert_eq!(tracker.in_flight(), 0);
        for ms in [50, 50] {
            tracker.track(sleep(ms)).await;
        }
    });
    assert_eq!(elapsed, 400);
    assert_eq!(tracker.peak(), 3);
    assert_eq!(tracker.started(), 5);
    assert_eq!(tracker.finished(), 5);
    assert_eq!(tracker.dropped_unfinished(), 0);

    let sequential = Tracker::new();
    run(async {
        for ms in [10, 20, 30] {
            sequential.track(sleep(ms)).await;
        }
    });
    assert_eq!(sequential.peak(), 1);
}

#[test]
fn tracker_counts_dropped_unfinished() {
    let tracker = Tracker::new();
    let never_polled = tracker.track(sleep(1));
    let (winner, elapsed) = run_timed(async {
        match select(tracker.track(sleep(100)), tracker.track(sleep(200))).await {
            Either::Left(((), loser)) => {
                assert_eq!(tracker.in_flight(), 1);
                drop(loser);
                "left"
            }
            Either::Right(_) => "right",
        }
    });
    drop(never_polled);
    assert_eq!((winner, elapsed), ("left", 100));
    assert_eq!(tracker.peak(), 2);
    assert_eq!(tracker.started(), 2);
    assert_eq!(tracker.finished(), 1);
    assert_eq!(tracker.dropped_unfinished(), 1);
    assert_eq!(tracker.in_flight(), 0);
}

#[test]
fn jobs_follow_the_virtual_clock() {
    assert_eq!(run_timed(jobs::run_job(100, 7)), (Ok(7), 100));
    assert_eq!(
        run_timed(jobs::throw_job(50)),
        (Err(JobError::InvalidOperation), 50)
    );
    let (canceled, elapsed) = run_timed(jobs::canceled_job(30));
    assert!(matches!(canceled, Outcome::Canceled));
    assert_eq!(elapsed, 30);
    assert_eq!(JobError::InvalidOperation.to_string(), "invalid operation");
}

#[test]
fn boxed_jobs_of_all_kinds_share_one_vec() {
    let jobs: Vec<Job> = vec![
        jobs::run_job_boxed(300, 1),
        jobs::throw_job_boxed(100),
        jobs::canceled_job_boxed(200),
    ];
    let (outcomes, elapsed) = run_timed(join_all(jobs));
    assert_eq!(elapsed, 300);
    assert!(matches!(
        outcomes.as_slice(),
        [
            Outcome::Completed(1),
            Outcome::Faulted(JobError::InvalidOperation),
            Outcome::Canceled
        ]
    ));
}

#[test]
#[should_panic(expected = "deadlock")]
fn pending_forever_is_a_deadlock() {
    run(pending::<()>());
}

#[test]
#[should_panic(expected = "deadlock")]
fn timers_then_nothing_is_a_deadlock() {
    run(async {
        sleep(100).await;
        pending::<()>().await;
    });
}

#[test]
#[should_panic(expected = "deadlock")]
fn gate_never_opened_is_a_deadlock_after_the_grace_period() {
    // The gate stores a clone of the root waker, so the run loop waits (real time) for
    // a cross-thread wake before giving up.
    run(Gate::new().future((), PollCounter::new()));
}

// ---------------------------------------------------------------------------
// The seeded schedules (support::chaos) and spawned tasks.
// ---------------------------------------------------------------------------

/// Runs three spawned tasks that each log their id at every poll (yielding
/// twice) under `seed`; returns the log.
fn spawn_log(seed: u64) -> Vec<usize> {
    let log = Rc::new(RefCell::new(Vec::new()));
    chaos::with_seed(seed, || {
        run(async {
            for id in 0..3 {
                let log = Rc::clone(&log);
                executor::spawn(async move {
                    for _ in 0..3 {
                        log.borrow_mut().push(id);
                        yield_once().await;
                    }
                });
            }
            for _ in 0..20 {
                yield_once().await;
            }
        })
    });
    Rc::try_unwrap(log).unwrap().into_inner()
}

async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn spawned_tasks_run_fifo_when_calm_and_shuffled_under_a_seed() {
    assert_eq!(spawn_log(0), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
    let orders: std::collections::HashSet<Vec<usize>> = (1..40).map(spawn_log).collect();
    assert!(orders.len() > 5, "seeds give {} orders", orders.len());
    for seed in [1, 7, 12345] {
        assert_eq!(
            spawn_log(seed),
            spawn_log(seed),
            "seed {seed} is not reproducible"
        );
    }
}

#[test]
#[should_panic(expected = "outside support::executor::run")]
fn spawn_outside_a_run_panics() {
    executor::spawn(async {});
}

#[test]
fn a_spawned_task_that_panics_propagates() {
    let r = std::panic::catch_unwind(|| {
        run(async {
            executor::spawn(async { panic!("spawned boom") });
            pending::<()>().await;
        })
    });
    assert!(r.is_err());
}

/// A batch of gates opened in a random order, under `seed`: returns the
/// result, every task's counted polls, and what chaos was injected.
fn gated_batch(
    seed: u64,
) -> (
    Result<Vec<usize>, fanout::Failure<()>>,
    Vec<usize>,
    chaos::Injected,
) {
    let gates: Vec<Gate> = (0..40).map(|_| Gate::new()).collect();
    let counters: Vec<PollCounter> = (0..40).map(|_| PollCounter::new()).collect();
    let before = chaos::injected();
    let result = chaos::with_seed(seed, || {
        run(join(
            fanout::when_all((0..40).map(|i| gates[i].future(Ok::<_, ()>(i), counters[i].clone()))),
            async {
                for i in (0..40).rev() {
                    gates[i].open();
                    yield_once().await;
                }
            },
        ))
        .0
    });
    let after = chaos::injected();
    let injected = chaos::Injected {
        duplicated: after.duplicated - before.duplicated,
        cross_thread: after.cross_thread - before.cross_thread,
        spurious: after.spurious - before.spurious,
        spurious_tasks: after.spurious_tasks - before.spurious_tasks,
    };
    (
        result,
        counters.iter().map(PollCounter::get).collect(),
        injected,
    )
}

#[test]
fn seeds_inject_every_kind_of_wake_and_polls_stay_exact() {
    let (result, polls, injected) = gated_batch(0);
    assert_eq!(result, Ok((0..40).collect()));
    assert_eq!(polls, vec![2; 40]);
    assert_eq!(injected, chaos::Injected::default(), "seed 0 is calm");
    let mut total = chaos::Injected::default();
    for seed in 1..30 {
        let (result, polls, injected) = gated_batch(seeds::schedule_seed("selftest", seed));
        assert_eq!(result, Ok((0..40).collect()), "seed {seed}");
        // Polls caused by a spurious wake alone are not counted.
        assert_eq!(polls, vec![2; 40], "seed {seed}");
        total.duplicated += injected.duplicated;
        total.cross_thread += injected.cross_thread;
        total.spurious += injected.spurious;
        total.spurious_tasks += injected.spurious_tasks;
    }
    assert!(total.duplicated > 50, "{total:?}");
    assert!(total.cross_thread > 10, "{total:?}");
    assert!(total.spurious > 50, "{total:?}");
    assert!(total.spurious_tasks > 10, "{total:?}");
}

#[test]
fn spurious_polls_are_counted_apart() {
    // A gate under a seed that injects spurious wakes: the raw polls exceed
    // the counted ones by exactly the spurious ones.
    let mut seen_spurious = false;
    for seed in 1..40 {
        let gate = Gate::new();
        let counter = PollCounter::new();
        chaos::with_seed(seeds::schedule_seed("spurious", seed), || {
            // The gate is the only task of a batch, so it is polled only when
            // woken (even when the executor polls the root spuriously); the
            // opener is a task of its own.
            let fut = fanout::join_all([gate.future((), counter.clone())]);
            let opener = gate.clone();
            run(async move {
                executor::spawn(async move {
                    for _ in 0..5 {
                        yield_once().await;
                    }
                    opener.open();
                });
                fut.await
            })
        });
        assert_eq!(counter.get(), 2, "seed {seed}");
        seen_spurious |= counter.spurious() > 0;
    }
    assert!(seen_spurious);
}

#[test]
fn timers_due_together_fire_in_a_seeded_order() {
    let order = |seed| {
        let log = Arc::new(Mutex::new(Vec::new()));
        chaos::with_seed(seed, || {
            run(async {
                let mut sleeps: Vec<Sleep> = (0..6).map(|_| sleep(10)).collect();
                for (s, name) in sleeps.iter_mut().zip(["a", "b", "c", "d", "e", "f"]) {
                    let w = Waker::from(Arc::new(NamedWaker(name, Arc::clone(&log))));
                    assert!(Pin::new(s).poll(&mut Context::from_waker(&w)).is_pending());
                }
                // Only the timers' wakes, not the spurious ones at registration.
                log.lock().unwrap().clear();
                sleep(20).await;
            })
        });
        let log = log.lock().unwrap().clone();
        let mut first: Vec<&str> = Vec::new();
        for name in log {
            if !first.contains(&name) {
                first.push(name);
            }
        }
        first
    };
    assert_eq!(order(0), ["a", "b", "c", "d", "e", "f"]);
    let orders: std::collections::HashSet<Vec<&str>> = (1..30)
        .map(|s| order(seeds::schedule_seed("timers", s)))
        .collect();
    assert!(orders.len() > 3, "{orders:?}");
}

#[test]
fn seeds_env_and_caps() {
    assert!(seeds::seeds_for("robustness::b5_a_million_ready_tasks") <= 3);
    assert_eq!(seeds::schedule_seed("any", 0), 0);
    assert_ne!(seeds::schedule_seed("a", 1), seeds::schedule_seed("b", 1));
}

#[test]
fn a_failing_seed_stops_its_case_and_is_reraised() {
    if std::env::var_os("FANOUT_SEED").is_some() {
        return; // one seed only: nothing to count
    }
    let ran = std::cell::Cell::new(0u64);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        seeds::for_each_seed("selftest::failing", &[], &|| {
            ran.set(ran.get() + 1);
            assert!(ran.get() != 8, "seed 7 fails");
        })
    }));
    assert!(r.is_err(), "the failing seed's panic must come out");
    assert_eq!(ran.get(), 8, "seeds 0..=7 ran, then the case stopped");
}

#[test]
fn a_case_that_should_panic_must_panic_under_every_seed() {
    if std::env::var_os("FANOUT_SEED").is_some() {
        return;
    }
    let attrs = ["should_panic(expected = \"limit\")"];
    assert_eq!(seeds::expected_panic(&attrs).as_deref(), Some("limit"));
    assert_eq!(seeds::expected_panic(&["ignore"]), None);
    // Panics as expected under every seed: the last panic comes out.
    let ran = std::cell::Cell::new(0u64);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        seeds::for_each_seed("selftest::panics", &attrs, &|| {
            ran.set(ran.get() + 1);
            panic!("limit must be positive");
        })
    }));
    assert!(r.is_err());
    assert_eq!(ran.get(), seeds::seeds_for("selftest::panics"));
    // Does not panic under one seed (the sixth run): reported, not re-raised as expected.
    let ran = std::cell::Cell::new(0u64);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        seeds::for_each_seed("selftest::panics", &attrs, &|| {
            ran.set(ran.get() + 1);
            assert!(ran.get() == 6, "limit must be positive");
        })
    }));
    let payload = r.expect_err("a seed without the panic fails the case");
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(!message.contains("limit"), "{message}");
    assert_eq!(ran.get(), 6);
}
