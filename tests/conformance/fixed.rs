//! Tuples and arrays joined in place (`fanout::Join`, `fanout::Race`): the
//! rules that apply to a fixed shape — A1 (input order), A4 (a fault drops
//! nothing), A5 (every fault in order), A6 (faults win over cancellations),
//! A7 (fail-fast drops the rest), C1/C2 (`cancel_on`), graceful stops, R1,
//! R2 and R5 for the array races — and the poll contract of a fixed batch
//! (an inline element is polled once per poll of the batch; an array longer
//! than `INLINE_MAX` polls only its woken elements: *polls = wakes + 1*).

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use fanout::cancel::CancelSource;
use fanout::fixed::INLINE_MAX;
use fanout::{Failure, Join, Outcome, Race};
use futures::future::{join, ready, FusedFuture};

use super::{count_polls, first_poll, DropGuard, Gates, Runtime, XorShift};
use crate::support::{Gate, PollCounter, Tracker};

/// A1: a tuple of three different types comes back in tuple order, whatever
/// the order its elements finish in.
pub fn fixed_a1_tuple_in_order(rt: &impl Runtime) {
    for seed in 0..6 {
        let gates = Gates::new(3);
        let batch = (
            gates.future(0, Ok::<u8, String>(7)),
            gates.future(1, Ok::<&str, String>("orders")),
            gates.future(2, Ok::<Vec<u64>, String>(vec![1, 2])),
        )
            .when_all();
        let order = XorShift::new(seed + 1).permutation(3);
        let (result, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
        assert_eq!(result, Ok((7, "orders", vec![1, 2])));
    }
}

/// A1 for arrays, inline and through the engine: array order.
pub fn fixed_a1_array_in_order(rt: &impl Runtime) {
    fn check<const N: usize>(rt: &impl Runtime, seed: u64) {
        let gates = Gates::new(N);
        let tasks: [_; N] = std::array::from_fn(|i| gates.future(i, Ok::<usize, ()>(i * 10)));
        let order = XorShift::new(seed).permutation(N);
        let (result, ()) = rt.block_on(join(tasks.when_all(), gates.open_in_order(order)));
        assert_eq!(result, Ok(std::array::from_fn(|i| i * 10)));
    }
    check::<1>(rt, 1);
    check::<8>(rt, 8);
    check::<INLINE_MAX>(rt, 32);
    check::<{ INLINE_MAX + 1 }>(rt, 33);
    check::<100>(rt, 100);
}

/// A4 + A5: a fault drops nothing (the other elements run to completion)
/// and every fault comes back with its position, in tuple order, although
/// they happened in reverse.
pub fn fixed_a5_every_fault_in_order(rt: &impl Runtime) {
    let gates = Gates::new(5);
    let tracker = Tracker::new();
    let batch = (
        tracker.track(gates.future(0, Ok::<u8, &str>(0))),
        tracker.track(gates.future(1, Err::<String, _>("one"))),
        tracker.track(gates.future(2, Ok::<u16, _>(2))),
        tracker.track(gates.future(3, Err::<(), _>("three"))),
        tracker.track(gates.future(4, Ok::<char, _>('4'))),
    )
        .when_all();
    let (result, ()) = rt.block_on(join(batch, gates.open_in_order([3, 1, 4, 2, 0])));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected every fault, got {result:?}");
    };
    assert_eq!(faults.into_vec(), [(1, "one"), (3, "three")]);
    assert_eq!(tracker.finished(), 5, "a fault dropped another element");
    assert_eq!(tracker.dropped_unfinished(), 0);
}

/// A5 for a large array (through the engine): every fault, in order.
pub fn fixed_a5_large_array_every_fault(rt: &impl Runtime) {
    let gates = Gates::new(64);
    let tasks: [_; 64] = std::array::from_fn(|i| {
        let value = if i % 3 == 1 { Err(i) } else { Ok(i) };
        gates.future(i, value)
    });
    let order = XorShift::new(0xA5).permutation(64);
    let (result, ()) = rt.block_on(join(tasks.when_all(), gates.open_in_order(order)));
    let faults = result.unwrap_err().into_faults().unwrap();
    let want: Vec<(usize, usize)> = (0..64).filter(|i| i % 3 == 1).map(|i| (i, i)).collect();
    assert_eq!(faults.into_vec(), want);
}

/// A6: a fault wins over an element that reports its own cancellation; with
/// no fault, the cancellation makes the batch `Canceled`.
pub fn fixed_a6_fault_beats_cancellation(rt: &impl Runtime) {
    let batch = (
        ready(Outcome::<u8, &str>::Canceled),
        ready(Err::<u16, _>("boom")),
    )
        .when_all();
    let Err(Failure::Faulted(faults)) = rt.block_on(batch) else {
        panic!("the fault must win");
    };
    assert_eq!(faults.into_vec(), [(1, "boom")]);

    let batch = (ready(Outcome::<u8, &str>::Canceled), ready(Ok::<u16, _>(1))).when_all();
    assert_eq!(rt.block_on(batch), Err(Failure::Canceled));
    let batch = [Ok(1), Err("x")].map(ready).when_all();
    assert!(rt.block_on(batch).unwrap_err().is_faulted());
}

/// A7: with fail-fast, the first fault drops every element still running,
/// at once, and the batch resolves in the same poll; faults that ended in
/// the same poll before it are kept.
pub fn fixed_a7_fail_fast_drops_the_rest(rt: &impl Runtime) {
    let gates = Gates::new(4);
    let drops = PollCounter::new();
    let guarded = |i: usize, value: Result<usize, &'static str>| {
        let guard = DropGuard::new(&drops);
        let task = gates.future(i, value);
        async move {
            let _guard = guard;
            task.await
        }
    };
    let batch = (
        guarded(0, Ok(0)),
        guarded(1, Err("one")),
        guarded(2, Ok(2)),
        guarded(3, Ok(3)),
    )
        .settle_all()
        .fail_fast();
    let driver = async {
        gates.open_in_order([2]).await;
        gates.open(1);
    };
    let ((a, b, c, d), ()) = rt.block_on(join(batch, driver));
    assert_eq!(
        (a, b, c, d),
        (
            Outcome::Canceled,
            Outcome::Faulted("one"),
            Outcome::Completed(2),
            Outcome::Canceled
        )
    );
    assert_eq!(drops.get(), 4, "every element dropped once");
    assert!(
        !gates.is_awaited(0) && !gates.is_awaited(3),
        "dropped elements left their gates"
    );

    // Two faults ready in one poll: both kept, the rest dropped.
    let pending = futures::future::pending::<Result<u8, &str>>;
    let batch = (
        ready(Err::<u8, _>("a")),
        pending(),
        ready(Err::<u8, _>("c")),
    )
        .when_all()
        .fail_fast();
    let Poll::Ready(Err(Failure::Faulted(faults))) = rt.block_on(first_poll(batch)) else {
        panic!("fail-fast must resolve in the poll that saw the fault");
    };
    assert_eq!(
        faults.into_vec(),
        [(0, "a")],
        "the first fault in element order stops the pass"
    );
}

/// C1: a signal that fired before the first poll cancels the batch before
/// any element is polled.
pub fn fixed_c1_fired_signal_polls_nothing(rt: &impl Runtime) {
    let polls = PollCounter::new();
    let batch = (
        count_polls(ready(Ok::<u8, ()>(1)), polls.clone()),
        count_polls(ready(Ok::<&str, ()>("x")), polls.clone()),
    )
        .when_all()
        .cancel_on(ready(()));
    assert_eq!(rt.block_on(batch), Err(Failure::Canceled));
    assert_eq!(polls.get(), 0);

    let tasks: [_; 40] = std::array::from_fn(|i| ready(Ok::<usize, ()>(i)));
    let batch = tasks.settle_all().cancel_on(ready(()));
    assert!(rt.block_on(batch).iter().all(Outcome::is_canceled));
}

/// C2: the signal drops every element still running and records it
/// canceled; what finished before it is kept. Faults before the signal win.
pub fn fixed_c2_cancel_on_drops_and_records(rt: &impl Runtime) {
    let gates = Gates::new(3);
    let signal = Gate::new();
    let tracker = Tracker::new();
    let batch = (
        tracker.track(gates.future(0, Ok::<u8, &str>(0))),
        tracker.track(gates.future(1, Ok::<&str, &str>("one"))),
        tracker.track(gates.future(2, Err::<(), &str>("two"))),
    )
        .settle_all()
        .cancel_on(signal.future((), PollCounter::new()));
    let driver = async {
        gates.open_in_order([1]).await;
        signal.open();
        gates.open_in_order([0, 2]).await;
    };
    let ((a, b, c), ()) = rt.block_on(join(batch, driver));
    assert_eq!(
        (a, b, c),
        (
            Outcome::Canceled,
            Outcome::Completed("one"),
            Outcome::Canceled
        )
    );
    assert_eq!(tracker.dropped_unfinished(), 2);

    let signal = Gate::new();
    let gates = Gates::new(3);
    let batch = [Err("early"), Ok("late"), Ok("never")]
        .into_iter()
        .enumerate()
        .map(|(i, value)| gates.future(i, value))
        .collect::<Vec<_>>();
    let batch: [_; 3] = batch.try_into().unwrap();
    let batch = batch
        .when_all()
        .cancel_on(signal.future((), PollCounter::new()));
    let driver = async {
        gates.open_in_order([0]).await;
        signal.open();
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(
        result.unwrap_err().into_faults().unwrap().into_vec(),
        [(0, "early")]
    );
}

/// Graceful: the signal (or fail-fast's fault) cancels `stop` and the batch
/// waits for the elements still running to end on their own.
pub fn fixed_graceful_waits_for_the_elements(rt: &impl Runtime) {
    let stop = CancelSource::new();
    let outside = CancelSource::new();
    let gates = Gates::new(3);
    let tracker = Tracker::new();
    let batch = (
        tracker.track(stop.token().run(gates.future(0, Ok::<u8, &str>(0)))),
        // Ignores the token: must finish before the batch does.
        tracker.track(gates.future(1, Ok::<u8, &str>(1))),
        tracker.track(stop.token().run(gates.future(2, Ok::<u8, &str>(2)))),
    )
        .settle_all()
        .cancel_on(outside.token().canceled())
        .graceful(&stop);
    let driver = async {
        gates.open_in_order([2]).await;
        outside.cancel();
        super::yield_now().await;
        assert!(stop.is_canceled());
        assert_eq!(
            tracker.dropped_unfinished(),
            0,
            "a graceful stop drops nothing"
        );
        gates.open_in_order([1]).await;
    };
    let ((a, b, c), ()) = rt.block_on(join(batch, driver));
    assert_eq!(
        (a, b, c),
        (
            Outcome::Canceled,
            Outcome::Completed(1),
            Outcome::Completed(2)
        )
    );
    assert_eq!(tracker.finished(), 3);

    // when_all: the stop is a cancellation of the batch.
    let stop = CancelSource::new();
    let batch = (
        stop.token()
            .run(futures::future::pending::<Result<u8, &str>>()),
        ready(Ok(2)),
    )
        .when_all()
        .cancel_on(ready(()))
        .graceful(&stop);
    assert_eq!(rt.block_on(batch), Err(Failure::Canceled));
}

/// `join_all` and `settle_all` on a tuple: every output as it is, every
/// outcome with its own error type.
pub fn fixed_join_all_and_settle_all(rt: &impl Runtime) {
    let gates = Gates::new(2);
    let batch = (gates.future(0, 1u8), gates.future(1, "two")).join_all();
    let ((a, b), ()) = rt.block_on(join(batch, gates.open_in_order([1, 0])));
    assert_eq!((a, b), (1, "two"));

    let batch = (
        ready(Ok::<u8, &str>(1)),
        ready(Err::<(), u32>(404)),
        ready(Outcome::<char, ()>::Canceled),
    )
        .settle_all();
    let (a, b, c) = rt.block_on(batch);
    assert_eq!(
        (a, b, c),
        (
            Outcome::Completed(1),
            Outcome::Faulted(404),
            Outcome::Canceled
        )
    );

    // Twelve elements, the largest tuple.
    let twelve = (
        ready(0u8),
        ready(1u16),
        ready(2u32),
        ready(3u64),
        ready(4i8),
        ready(5i16),
        ready(6i32),
        ready(7i64),
        ready('8'),
        ready("9"),
        ready(10usize),
        ready(11isize),
    );
    assert_eq!(rt.block_on(twelve.join_all()).11, 11);
    let empty: [std::future::Ready<Result<u8, ()>>; 0] = [];
    assert_eq!(rt.block_on(empty.when_all()), Ok([]));
}

/// The poll contract of an inline batch: each poll of the batch polls every
/// element still running, once, in element order (`join!`'s contract);
/// an element that ended is never polled again.
pub fn fixed_poll_contract_inline(rt: &impl Runtime) {
    let gates = Gates::new(4);
    let batch_polls = PollCounter::new();
    // Every poll counted, spurious or not (a gate's own counter leaves out
    // the polls that only an injected spurious wake caused).
    let polls: Vec<PollCounter> = (0..4).map(|_| PollCounter::new()).collect();
    let tasks: [_; 4] = std::array::from_fn(|i| count_polls(gates.future(i, i), polls[i].clone()));
    let batch = count_polls(tasks.join_all(), batch_polls.clone());
    let driver = async {
        gates.open_in_order([2]).await;
        let at_2 = batch_polls.get();
        gates.open_in_order([0, 3, 1]).await;
        at_2
    };
    let (outputs, polls_when_2_opened) = rt.block_on(join(batch, driver));
    assert_eq!(outputs, [0, 1, 2, 3]);
    let total = batch_polls.get();
    let polls: Vec<usize> = polls.iter().map(PollCounter::get).collect();
    // The last to end (1) was polled on every poll of the batch; element 2
    // was not polled after the poll in which it ended.
    assert_eq!(polls[1], total, "{polls:?}");
    assert!(polls[2] <= polls_when_2_opened + 1, "{polls:?}");
    assert!(polls.iter().all(|&p| p <= total), "{polls:?}");
}

/// An array longer than `INLINE_MAX` is handed to the engine: each element
/// is polled exactly once more than it was woken, never once per wake of
/// another (no quadratic pass).
pub fn fixed_large_array_polls_only_the_woken(rt: &impl Runtime) {
    const N: usize = 200;
    let gates = Gates::new(N);
    let tasks: [_; N] = std::array::from_fn(|i| gates.future(i, i));
    let order = XorShift::new(0x1A26E).permutation(N);
    // Boxed: a few copies of a 200-element batch would crowd a test thread's stack.
    let batch = Box::pin(tasks.join_all());
    let (outputs, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
    assert!(outputs.iter().enumerate().all(|(i, &o)| i == o));
    // Opened once, woken once: polled on the first poll and once after the
    // wake (a spurious self-wake of the gate is merged with it).
    let polls = gates.all_polls();
    let off: Vec<_> = (0..N)
        .filter(|&i| polls[i] != 2)
        .map(|i| (i, polls[i]))
        .take(10)
        .collect();
    assert!(
        off.is_empty(),
        "elements polled other than wakes + 1: {off:?}"
    );
}

/// R1 + R2: an array's `when_any` resolves to the first element to end,
/// whatever its output; ties go to the lowest index; the losers are dropped
/// when it resolves.
pub fn fixed_r2_when_any_ties_and_drops(rt: &impl Runtime) {
    let gates = Gates::new(4);
    let tracker = Tracker::new();
    let tasks: [_; 4] =
        std::array::from_fn(|i| tracker.track(gates.future(i, Err::<(), usize>(i))));
    let driver = async {
        super::yield_now().await;
        gates.open(3);
        gates.open(2); // both before the next poll: 2 wins the tie
    };
    let (winner, ()) = rt.block_on(join(tasks.when_any(), driver));
    assert_eq!(winner, Some((2, Err(2))));
    // 0 and 1 were still waiting; 3's gate was open, but the pass stopped at
    // the winner before polling it again.
    assert_eq!(
        tracker.dropped_unfinished(),
        3,
        "elements 0, 1 and 3 dropped"
    );

    let empty: [std::future::Ready<u8>; 0] = [];
    assert_eq!(rt.block_on(empty.when_any()), None);
    // A tuple whose elements share one type races too.
    let gates = Gates::new(2);
    let race = (gates.future(0, 'a'), gates.future(1, 'b')).when_any();
    let (winner, ()) = rt.block_on(join(race, gates.open_in_order([1])));
    assert_eq!(winner, Some((1, 'b')));
    // A large array races through the engine, with the same ties.
    let large: [_; 50] = std::array::from_fn(ready);
    assert_eq!(rt.block_on(large.when_any()), Some((0, 0)));
}

/// R5: `first_ok` on an array: the first success wins and the rest are
/// dropped; when none succeeds, every fault in order; an empty array fails
/// with no faults.
pub fn fixed_r5_first_ok(rt: &impl Runtime) {
    let gates = Gates::new(3);
    let tracker = Tracker::new();
    let values = [Err("zero"), Ok(1), Ok(2)];
    let tasks: [_; 3] = std::array::from_fn(|i| tracker.track(gates.future(i, values[i])));
    let (result, ()) = rt.block_on(join(tasks.first_ok(), gates.open_in_order([0, 1])));
    assert_eq!(result, Ok((1, 1)));
    assert_eq!(tracker.dropped_unfinished(), 1);

    let gates = Gates::new(3);
    let tasks: [_; 3] = std::array::from_fn(|i| gates.future(i, Err::<(), usize>(i)));
    let (result, ()) = rt.block_on(join(tasks.first_ok(), gates.open_in_order([2, 0, 1])));
    assert_eq!(
        result.unwrap_err().into_faults().unwrap().into_vec(),
        [(0, 0), (1, 1), (2, 2)]
    );

    let empty: [std::future::Ready<Result<u8, ()>>; 0] = [];
    let failure = rt.block_on(empty.first_ok()).unwrap_err();
    assert_eq!(failure.faults().map(|f| f.len()), Some(0));

    // Graceful: the winner cancels `stop`; the race waits for the losers.
    let stop = CancelSource::new();
    let gates = Gates::new(2);
    let tasks = [
        stop.token().run(gates.future(0, Ok::<u8, &str>(0))),
        stop.token().run(gates.future(1, Ok::<u8, &str>(1))),
    ];
    let (result, ()) = rt.block_on(join(
        tasks.first_ok().graceful(&stop),
        gates.open_in_order([1]),
    ));
    assert_eq!(result, Ok((1, 1)));
    assert!(stop.is_canceled());
}

/// A finished batch is terminated (`FusedFuture`), and polling it again
/// panics with a clear message.
pub fn fixed_finished_is_finished(rt: &impl Runtime) {
    rt.block_on(async {
        let mut batch = pin!((ready(1u8), ready('x')).join_all());
        assert!(!batch.is_terminated());
        assert_eq!(first_poll(batch.as_mut()).await, Poll::Ready((1, 'x')));
        assert!(batch.is_terminated());
        let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let waker = futures::task::noop_waker();
            let _ = batch
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker));
        }));
        let message = again.unwrap_err();
        let message = message.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains("polled after it completed"), "{message}");
    });
}
