//! Batch cancellation, `.cancel_on(signal)`: C1–C3.

use std::future::{poll_fn, ready, IntoFuture, Ready};
use std::task::Poll;

use fanout::{from_stream, settle_all, when_all, Failure, Outcome};
use futures::channel::oneshot;
use futures::future::{join, pending};
use futures::stream;

use super::{pulls, stream_polls, yield_now, Gates, Runtime};
use crate::support::jobs::run_job;
use crate::support::{clock, run_timed, sleep, Gate, PollCounter, Tracker, YieldN};

/// A signal that is not a future but turns into one (already fired).
struct Fired;

impl IntoFuture for Fired {
    type Output = ();
    type IntoFuture = Ready<()>;

    fn into_future(self) -> Ready<()> {
        ready(())
    }
}

/// C1: a signal already complete before the first poll: the source is never
/// pulled, no task is created or polled, and the result is `Canceled`.
pub fn c1_fired_signal_pulls_nothing_when_all(rt: &impl Runtime) {
    let pulled = PollCounter::new();
    let created = PollCounter::new();
    let tracker = Tracker::new();
    let source = || {
        pulls(
            (0..10).map(|i| {
                created.incr();
                tracker.track(ready(Ok::<_, ()>(i)))
            }),
            &pulled,
        )
    };
    assert_eq!(
        rt.block_on(when_all(source()).cancel_on(ready(()))),
        Err(Failure::Canceled)
    );
    assert_eq!(
        rt.block_on(when_all(source()).limit(2).cancel_on(async {})),
        Err(Failure::Canceled)
    );
    assert_eq!(
        rt.block_on(when_all(source()).fail_fast().cancel_on(Fired)),
        Err(Failure::Canceled)
    );
    assert_eq!(pulled.get(), 0);
    assert_eq!(created.get(), 0);
    assert_eq!(tracker.started(), 0);
}

/// C1 for `settle_all`: no task was pulled, so there is no outcome at all.
pub fn c1_fired_signal_pulls_nothing_settle_all(rt: &impl Runtime) {
    let pulled = PollCounter::new();
    let source = pulls((0..10).map(|i| ready(Ok::<_, ()>(i))), &pulled);
    assert_eq!(rt.block_on(settle_all(source).cancel_on(ready(()))), []);
    assert_eq!(pulled.get(), 0);
}

/// C1 with a stream source: the stream is never polled.
pub fn c1_fired_signal_never_polls_the_stream(rt: &impl Runtime) {
    let polled = PollCounter::new();
    let tasks = stream::iter((0..10).map(|i| ready(Ok::<_, ()>(i))));
    let batch = when_all(from_stream(stream_polls(tasks, &polled))).cancel_on(ready(()));
    assert_eq!(rt.block_on(batch), Err(Failure::Canceled));
    assert_eq!(polled.get(), 0);
}

/// C1 over A2: with a signal already fired, even an empty batch is `Canceled`
/// (the signal is seen before the source is looked at).
pub fn c1_fired_signal_with_empty_input(rt: &impl Runtime) {
    let empty: Vec<Ready<Result<u8, ()>>> = Vec::new();
    assert_eq!(
        rt.block_on(when_all(empty.clone()).cancel_on(ready(()))),
        Err(Failure::Canceled)
    );
    assert_eq!(rt.block_on(settle_all(empty).cancel_on(ready(()))), []);
}

/// C2: when the signal fires, every task in flight is dropped at once and
/// recorded `Canceled`, never polled again, and nothing more is pulled.
pub fn c2_signal_drops_every_task_in_flight_at_once(rt: &impl Runtime) {
    let gates = Gates::new(20);
    let signal = Gate::new();
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let source = pulls(
        (0..20).map(|i| tracker.track(gates.future(i, Ok::<_, ()>(i)))),
        &pulled,
    );
    let batch = settle_all(source)
        .limit(4)
        .cancel_on(signal.future((), PollCounter::new()));
    let driver = async {
        gates.open_in_order([0, 1]).await;
        assert_eq!(tracker.in_flight(), 4);
        signal.open();
        // The tasks in flight are dropped, but stay woken: opening their gates
        // now polls nobody.
        gates.open_in_order(2..6).await;
    };
    let (outcomes, ()) = rt.block_on(join(batch, driver));
    assert_eq!(
        outcomes,
        [
            Outcome::Completed(0),
            Outcome::Completed(1),
            Outcome::Canceled,
            Outcome::Canceled,
            Outcome::Canceled,
            Outcome::Canceled,
        ]
    );
    assert_eq!(pulled.get(), 6);
    assert_eq!(tracker.dropped_unfinished(), 4);
    assert_eq!(tracker.in_flight(), 0);
    assert_eq!(gates.all_polls()[..7], [2, 2, 1, 1, 1, 1, 0]);
}

/// C2 + A6: faults recorded before the signal still win over the
/// cancellation.
pub fn c2_faults_before_the_signal_win(rt: &impl Runtime) {
    let gates = Gates::new(6);
    let signal = Gate::new();
    let tracker = Tracker::new();
    let batch = when_all((0..6).map(|i| {
        let value = if i == 1 || i == 4 { Err(i) } else { Ok(i) };
        tracker.track(gates.future(i, value))
    }))
    .cancel_on(signal.future((), PollCounter::new()));
    let driver = async {
        gates.open_in_order([4, 0, 1]).await;
        signal.open();
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), vec![(1, 1), (4, 4)]);
    assert_eq!(tracker.dropped_unfinished(), 3);
}

/// C2's converse: a signal that has not fired by the time every task has
/// ended changes nothing.
pub fn c2_signal_after_everything_completed_changes_nothing(rt: &impl Runtime) {
    let gates = Gates::new(5);
    let signal = Gate::new();
    let batch = when_all((0..5).map(|i| gates.future(i, Ok::<_, ()>(i))))
        .limit(2)
        .cancel_on(signal.future((), PollCounter::new()));
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order([1, 0, 3, 2, 4])));
    assert_eq!(result, Ok(vec![0, 1, 2, 3, 4]));
    signal.open(); // too late, and harmless
}

/// A batch of three tasks that never finish, canceled by `signal`.
fn canceled_by<S: IntoFuture>(rt: &impl Runtime, signal: S) -> Result<Vec<u8>, Failure<()>> {
    let gates = Gates::new(3);
    let result = rt.block_on(when_all((0..3).map(|i| gates.future(i, Ok(0)))).cancel_on(signal));
    // Pulled and polled once (or never, if the signal had already fired);
    // never polled again.
    assert!(gates.all_polls().iter().all(|&p| p <= 1));
    result
}

/// C3: any future is a signal, whatever its output: a channel, a ready value,
/// an `async` block, a hand-written future, a gate, an `IntoFuture`.
pub fn c3_any_future_is_a_signal(rt: &impl Runtime) {
    let (tx, rx) = oneshot::channel::<()>();
    tx.send(()).unwrap();
    assert_eq!(canceled_by(rt, rx), Err(Failure::Canceled));

    // A dropped sender also completes the receiver: that cancels too.
    let (tx, rx) = oneshot::channel::<u64>();
    drop(tx);
    assert_eq!(canceled_by(rt, rx), Err(Failure::Canceled));

    assert_eq!(canceled_by(rt, ready(42u8)), Err(Failure::Canceled));
    assert_eq!(canceled_by(rt, Fired), Err(Failure::Canceled));
    assert_eq!(
        canceled_by(rt, async {
            yield_now().await;
            yield_now().await;
            "shutdown"
        }),
        Err(Failure::Canceled)
    );
    let mut polls = 0;
    let third_poll = poll_fn(move |cx| {
        polls += 1;
        if polls == 3 {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    });
    assert_eq!(canceled_by(rt, third_poll), Err(Failure::Canceled));
    let yields = YieldN::new(5, (), PollCounter::new());
    assert_eq!(canceled_by(rt, yields), Err(Failure::Canceled));

    // A signal fired by another task of the same executor, mid-batch.
    let gates = Gates::new(3);
    let (tx, rx) = oneshot::channel::<()>();
    let batch = when_all((0..3).map(|i| gates.future(i, Ok::<_, ()>(i)))).cancel_on(rx);
    let driver = async {
        gates.open_in_order([0]).await;
        tx.send(()).unwrap();
    };
    assert_eq!(rt.block_on(join(batch, driver)).0, Err(Failure::Canceled));
}

/// C3: calling `.cancel_on` twice: either signal cancels; neither firing
/// changes nothing.
pub fn c3_either_of_two_signals_cancels(rt: &impl Runtime) {
    let first = canceled_by(rt, async {});
    assert_eq!(first, Err(Failure::Canceled));

    for which in 0..2 {
        let gates = Gates::new(3);
        let (a, b) = (Gate::new(), Gate::new());
        let batch = when_all((0..3).map(|i| gates.future(i, Ok::<_, ()>(i))))
            .cancel_on(a.future((), PollCounter::new()))
            .cancel_on(b.future((), PollCounter::new()));
        let driver = async {
            yield_now().await;
            [&a, &b][which].open();
        };
        assert_eq!(rt.block_on(join(batch, driver)).0, Err(Failure::Canceled));
    }

    let gates = Gates::new(3);
    let batch = when_all((0..3).map(|i| gates.future(i, Ok::<_, ()>(i))))
        .cancel_on(pending::<()>())
        .cancel_on(pending::<u8>());
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order(0..3)));
    assert_eq!(result, Ok(vec![0, 1, 2]));
}

/// C2 with an endless source (`0..`): the signal stops a throttled batch that
/// would otherwise never end; every pulled task has one outcome.
pub fn c2_signal_stops_an_endless_source(rt: &impl Runtime) {
    let pulled = PollCounter::new();
    let source = pulls(
        (0..).map(|i: usize| YieldN::new(1, Ok::<_, ()>(i), PollCounter::new())),
        &pulled,
    );
    let signal = Gate::new();
    let batch = settle_all(source)
        .limit(4)
        .cancel_on(signal.future((), PollCounter::new()));
    let driver = async {
        for _ in 0..10 {
            yield_now().await;
        }
        signal.open();
    };
    let (outcomes, ()) = rt.block_on(join(batch, driver));
    assert_eq!(outcomes.len(), pulled.get());
    let canceled = outcomes.iter().filter(|o| o.is_canceled()).count();
    assert!((1..=4).contains(&canceled), "{canceled} canceled");
    for (i, outcome) in outcomes[..outcomes.len() - canceled].iter().enumerate() {
        assert_eq!(outcome, &Outcome::Completed(i));
    }
}

/// C2 on the virtual clock: ten 100 ms jobs, two at a time, canceled by a
/// 250 ms timer: four completed, the two in flight canceled, at 250 ms.
pub fn c2_timer_signal_mid_batch_timed() {
    let tracker = Tracker::new();
    let pulled = PollCounter::new();
    let jobs = pulls((0..10).map(|i| tracker.track(run_job(100, i))), &pulled);
    let (outcomes, elapsed) = run_timed(settle_all(jobs).limit(2).cancel_on(sleep(250)));
    assert_eq!(
        outcomes,
        [
            Outcome::Completed(0),
            Outcome::Completed(1),
            Outcome::Completed(2),
            Outcome::Completed(3),
            Outcome::Canceled,
            Outcome::Canceled,
        ]
    );
    assert_eq!(elapsed, 250);
    assert_eq!(pulled.get(), 6);
    assert_eq!(tracker.dropped_unfinished(), 2);
}

/// C3 on the virtual clock: a timer is a signal; a timer that has not fired
/// when the batch ends is dropped with it (its timer is removed).
pub fn c3_timer_is_a_signal_timed() {
    let (result, elapsed) = run_timed(when_all([run_job(1000, 1)]).cancel_on(sleep(10)));
    assert_eq!(result, Err(Failure::Canceled));
    assert_eq!(elapsed, 10);

    let ((result, timers), elapsed) = run_timed(async {
        let result = when_all([run_job(100, 1)]).cancel_on(sleep(500)).await;
        (result, clock::pending_timers())
    });
    assert_eq!(result, Ok(vec![1]));
    assert_eq!(timers, 0);
    assert_eq!(elapsed, 100);
}

/// C2 with `.graceful(&stop)`: every task is in flight when the signal fires
/// and completes when told to stop, so the batch is `Ok` — whatever the
/// limit. With `limit(3)` over 3 tasks the batch never pulled the source's
/// end (it had no place to spare), and once counted the stop as having cut
/// the source short; a source whose size hint says it is empty has ended.
pub fn c2_graceful_verdict_does_not_depend_on_the_limit(rt: &impl Runtime) {
    for limit in [None, Some(3), Some(4)] {
        let stop = fanout::cancel::CancelSource::new();
        let signal = Gate::new();
        let tasks = (0..3).map(|i| {
            let token = stop.token();
            async move {
                token.canceled().await;
                Ok::<usize, ()>(i)
            }
        });
        let batch = when_all(tasks)
            .cancel_on(signal.future((), PollCounter::new()))
            .graceful(&stop);
        let result = rt.block_on(async {
            let batch = match limit {
                Some(limit) => futures::future::Either::Left(batch.limit(limit)),
                None => futures::future::Either::Right(batch),
            };
            let mut batch = std::pin::pin!(batch);
            assert!(super::first_poll(batch.as_mut()).await.is_pending());
            signal.open();
            batch.await
        });
        assert_eq!(result, Ok(vec![0, 1, 2]), "limit {limit:?}");
        assert!(stop.is_canceled());
    }
}

/// C2 between two events: a signal that fires while the batch hands out
/// tasks that finished at once (in the fill) or together (in one round)
/// stops the batch right there, as it would between two polls. Nothing more
/// finishes, nothing more is pulled (in the fill), and the task in flight is
/// reported canceled.
pub fn c2_signal_between_two_events_stops_the_batch_there(rt: &impl Runtime) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    for yields in [0, 1] {
        let done = Arc::new(AtomicUsize::new(0));
        let pulled = Arc::new(AtomicUsize::new(0));
        let signal = {
            let done = Arc::clone(&done);
            poll_fn(move |_| {
                if done.load(Ordering::SeqCst) >= 3 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
        };
        let tasks = (0..10).map(|i| {
            pulled.fetch_add(1, Ordering::SeqCst);
            let done = Arc::clone(&done);
            async move {
                if i == 0 {
                    // In flight, never woken, when the signal fires.
                    pending::<()>().await;
                }
                for _ in 0..yields {
                    yield_now().await;
                }
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<usize, ()>(i)
            }
        });
        let outcomes = rt.block_on(settle_all(tasks).cancel_on(signal));
        let completed = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Completed(_)))
            .count();
        assert_eq!(completed, 3, "yields {yields}: {outcomes:?}");
        assert!(
            matches!(outcomes[0], Outcome::Canceled),
            "yields {yields}: {outcomes:?}"
        );
        if yields == 0 {
            // Tasks 1, 2, 3 finished on their first poll: nothing after them
            // was pulled.
            assert_eq!(pulled.load(Ordering::SeqCst), 4, "{outcomes:?}");
            assert_eq!(outcomes.len(), 4);
        } else {
            assert_eq!(outcomes.len(), 10);
        }
    }
}
