//! `join_all`: A1–A3, the sources it accepts, and exact poll counts (a child
//! is polled only when it was woken, once per wake).

use std::cell::RefCell;
use std::future::{poll_fn, ready, IntoFuture, Ready};
use std::task::{Poll, Waker};

use fanout::{from_stream, join_all, when_all};
use futures::future::join;
use futures::{stream, StreamExt};

use super::{boxed, first_poll, yield_now, BoxTask, Gates, Runtime, XorShift};
use crate::support::{Gate, PollCounter, YieldN};

/// A1: outputs in input order whatever the completion order.
pub fn a1_input_order(rt: &impl Runtime) {
    let n = 100;
    let gates = Gates::new(n);
    let batch = join_all((0..n).map(|i| gates.future(i, i)));
    let order = XorShift::new(0x10A1).permutation(n);
    let (outputs, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
    assert_eq!(outputs, (0..n).collect::<Vec<_>>());
}

/// A1 with a stream source.
pub fn a1_input_order_from_stream(rt: &impl Runtime) {
    let n = 100;
    let gates = Gates::new(n);
    let batch = join_all(from_stream(stream::iter(
        (0..n).map(|i| gates.future(i, i)),
    )));
    let order = XorShift::new(0x10A2).permutation(n);
    let (outputs, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
    assert_eq!(outputs, (0..n).collect::<Vec<_>>());
}

/// A1 with a stream that is `Pending` before every item: the batch waits for
/// it, and still returns every output in input order.
pub fn a1_pending_stream_source(rt: &impl Runtime) {
    let n = 50;
    let gates = Gates::new(n);
    // The stream's items are the tasks: `then` yields each one after a pause.
    #[allow(clippy::async_yields_async)]
    let tasks = stream::iter((0..n).map(|i| gates.future(i, i))).then(|task| async move {
        yield_now().await;
        task
    });
    let batch = join_all(from_stream(tasks));
    let order = XorShift::new(0x10A3).permutation(n);
    let driver = async {
        for i in order {
            // A gate may open before its task is pulled (the task is then
            // polled once) or after (twice).
            gates.open(i);
            yield_now().await;
        }
    };
    let (outputs, ()) = rt.block_on(join(batch, driver));
    assert_eq!(outputs, (0..n).collect::<Vec<_>>());
    assert!(gates.all_polls().iter().all(|&p| p == 1 || p == 2));
}

/// A2: empty input is ready on the first poll.
pub fn a2_empty_is_ready_on_first_poll(rt: &impl Runtime) {
    let empty: Vec<Ready<u8>> = Vec::new();
    assert_eq!(
        rt.block_on(first_poll(join_all(empty))),
        Poll::Ready(vec![])
    );
    let empty = from_stream(stream::empty::<Ready<u8>>());
    assert_eq!(
        rt.block_on(first_poll(join_all(empty))),
        Poll::Ready(vec![])
    );
    let empty = join_all(std::iter::empty::<Ready<u8>>()).limit(3);
    assert_eq!(rt.block_on(first_poll(empty)), Poll::Ready(vec![]));
}

/// A3: inputs already complete are ready on the first poll, also when
/// throttled (the freed place is refilled in the same poll), and from a
/// source of unknown size.
pub fn a3_ready_inputs_are_ready_on_first_poll(rt: &impl Runtime) {
    let batch = join_all((0..200).map(ready));
    assert_eq!(
        rt.block_on(first_poll(batch)),
        Poll::Ready((0..200).collect())
    );
    let batch = join_all((0..200).map(ready)).limit(3);
    assert_eq!(
        rt.block_on(first_poll(batch)),
        Poll::Ready((0..200).collect())
    );
    let batch = join_all((0..200).filter(|i| i % 2 == 0).map(ready));
    assert_eq!(
        rt.block_on(first_poll(batch)),
        Poll::Ready((0..200).step_by(2).collect())
    );
}

/// A3 for a large batch of known size: the crate promises that "a fresh batch
/// is still polled in one go" (its budget is at least its number of slots),
/// so 1,000 ready inputs (one slot each) are ready on the first poll.
pub fn a3_many_ready_inputs_are_ready_on_first_poll(rt: &impl Runtime) {
    for n in [256, 257, 1_000, 10_000] {
        let batch = join_all((0..n).map(ready));
        assert_eq!(
            rt.block_on(first_poll(batch)),
            Poll::Ready((0..n).collect()),
            "{n} ready inputs"
        );
        let batch = when_all((0..n).map(|i| ready(Ok::<_, ()>(i))));
        assert!(
            rt.block_on(first_poll(batch)).is_ready(),
            "{n} ready inputs"
        );
    }
}

/// An item that is not a future but turns into one.
struct Double(u32);

impl IntoFuture for Double {
    type Output = u32;
    type IntoFuture = Ready<u32>;

    fn into_future(self) -> Ready<u32> {
        ready(self.0 * 2)
    }
}

/// Sources: any `IntoIterator` of `IntoFuture` (arrays, `Vec`s, ranges mapped
/// to futures, items that only implement `IntoFuture`).
pub fn into_future_items(rt: &impl Runtime) {
    assert_eq!(rt.block_on(join_all(vec![Double(1), Double(2)])), [2, 4]);
    assert_eq!(rt.block_on(join_all([Double(5)])), [10]);
    assert_eq!(
        rt.block_on(join_all((0..3).map(Double)).limit(1)),
        [0, 2, 4]
    );
    assert_eq!(
        rt.block_on(join_all(from_stream(stream::iter([Double(7)])))),
        [14]
    );
    let futures = (1..=2).map(|i| async move { i });
    assert_eq!(rt.block_on(join_all(futures)), [1, 2]);
    assert_eq!(
        rt.block_on(when_all([Ok::<_, ()>(1), Ok(2)].map(ready))),
        Ok(vec![1, 2])
    );
}

/// `join_all` judges nothing: a `Result` is a value, every task runs.
pub fn outputs_are_not_judged(rt: &impl Runtime) {
    let results = [Ok(1), Err("boom"), Ok(3)];
    assert_eq!(rt.block_on(join_all(results.map(ready))), results);
}

/// Exact poll counts: 10,000 gates opened one at a time in a random order;
/// every task is polled exactly twice (its first poll, and once for its one
/// wake) — never when it was not woken.
pub fn exact_polls_gates_random_order(rt: &impl Runtime) {
    let n = 10_000;
    let gates = Gates::new(n);
    let batch = join_all((0..n).map(|i| gates.future(i, i)));
    let order = XorShift::new(0x9A7E5).permutation(n);
    let (outputs, ()) = rt.block_on(join(batch, gates.open_in_order(order)));
    assert_eq!(outputs, (0..n).collect::<Vec<_>>());
    let polls = gates.all_polls();
    assert!(
        polls.iter().all(|&p| p == 2),
        "tasks polled other than twice: {:?}",
        polls
            .iter()
            .enumerate()
            .filter(|&(_, &p)| p != 2)
            .take(10)
            .collect::<Vec<_>>()
    );
}

/// Exact poll counts when many gates open between two polls of the batch
/// (and some are opened twice, which wakes nobody the second time).
pub fn exact_polls_gates_opened_in_bursts(rt: &impl Runtime) {
    let n = 5_000;
    let gates = Gates::new(n);
    let batch = join_all((0..n).map(|i| gates.future(i, i)));
    let mut rng = XorShift::new(0xB0257);
    let order = rng.permutation(n);
    let driver = async {
        let mut rest = &order[..];
        while !rest.is_empty() {
            let burst = (1 + rng.below(64)).min(rest.len());
            for &i in &rest[..burst] {
                gates.open(i);
            }
            // Re-open a few already-open gates: no wake, no poll.
            for &i in &order[..(n - rest.len()).min(3)] {
                gates.open(i);
            }
            rest = &rest[burst..];
            yield_now().await;
        }
    };
    let (outputs, ()) = rt.block_on(join(batch, driver));
    assert_eq!(outputs, (0..n).collect::<Vec<_>>());
    assert!(gates.all_polls().iter().all(|&p| p == 2));
}

/// Exact poll counts: `YieldN` tasks with random `n` (each wakes itself `n`
/// times) are each polled exactly `n + 1` times, throttled or not.
pub fn exact_polls_yield_n(rt: &impl Runtime) {
    let tasks = 2_000;
    for limit in [None, Some(16)] {
        let mut rng = XorShift::new(0x7E1D);
        let yields: Vec<usize> = (0..tasks).map(|_| rng.below(8)).collect();
        let counters: Vec<PollCounter> = (0..tasks).map(|_| PollCounter::new()).collect();
        let futures = (0..tasks).map(|i| YieldN::new(yields[i], i, counters[i].clone()));
        let outputs = match limit {
            None => rt.block_on(join_all(futures)),
            Some(limit) => rt.block_on(join_all(futures).limit(limit)),
        };
        assert_eq!(outputs, (0..tasks).collect::<Vec<_>>());
        for i in 0..tasks {
            assert_eq!(
                counters[i].get(),
                yields[i] + 1,
                "task {i} (limit {limit:?}) yielded {} times",
                yields[i]
            );
        }
    }
}

/// The documented exception to "polled exactly once more than it was woken":
/// under `.limit(1)`, task A keeps a clone of its waker and finishes; task B
/// then takes A's place (and A's waker). Waking A's stale clone polls B once,
/// spuriously (the `Future` contract allows it) — exactly once per stale wake,
/// and never a missed wake. Without the stale wake B would be polled twice.
pub fn exact_polls_stale_waker_polls_the_next_occupant_once(rt: &impl Runtime) {
    let stash = RefCell::new(None::<Waker>);
    let mut a_polled = false;
    let a = poll_fn(|cx| {
        if a_polled {
            return Poll::Ready(0);
        }
        a_polled = true;
        *stash.borrow_mut() = Some(cx.waker().clone());
        cx.waker().wake_by_ref();
        Poll::Pending
    });
    let gate = Gate::new();
    let b_polls = PollCounter::new();
    let tasks: Vec<BoxTask<'_, i32>> = vec![boxed(a), boxed(gate.future(1, b_polls.clone()))];
    let batch = join_all(tasks).limit(1);
    let driver = async {
        for _ in 0..3 {
            yield_now().await;
        }
        assert_eq!(b_polls.get(), 1, "B runs in A's place");
        let stale = stash.borrow_mut().take().expect("A stashed its waker");
        stale.wake();
        yield_now().await;
        assert_eq!(b_polls.get(), 2, "A's stale waker polls B once");
        gate.open();
    };
    let (outputs, ()) = rt.block_on(join(batch, driver));
    assert_eq!(outputs, [0, 1]);
    assert_eq!(b_polls.get(), 3);
}
