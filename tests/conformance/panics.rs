//! Panics caught as outcomes (`fanout::catch_panic`, issue 25): a task's
//! panic is a fault at its index, beside every other outcome; the batch goes
//! on as after a fault (fail-fast cancels, graceful waits); nothing finished
//! is lost; the payload is kept; a panic in a finishing task's `Drop` is
//! caught (one in a canceled task's `Drop` propagates: `tests/regressions.rs`).

use std::future::Future;
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use fanout::cancel::CancelSource;
use fanout::{
    catch_panic, first_ok, for_each, settle_all, when_all, when_each, Failure, Join as _, Outcome,
    Panic, TaskError,
};
use futures::StreamExt as _;

use super::{boxed, yield_now, BoxTask, DropGuard, Gates, Runtime};
use crate::support::PollCounter;

type Caught = Result<usize, TaskError<usize>>;

/// Six tasks: each yields once; task 2 then panics, task 4 faults with
/// `Err(4)`, the others complete with their index. Each owns a drop guard.
fn six(drops: &PollCounter) -> Vec<BoxTask<'static, Result<usize, usize>>> {
    (0..6)
        .map(|i| {
            let guard = DropGuard::new(drops);
            boxed(async move {
                let _guard = guard;
                yield_now().await;
                match i {
                    2 => panic!("task 2 panics"),
                    4 => Err(4),
                    _ => Ok(i),
                }
            })
        })
        .collect()
}

/// The message of a caught panic (fails if it is not one).
fn message(fault: &TaskError<usize>) -> &str {
    fault
        .panic()
        .and_then(Panic::message)
        .expect("a panic with a message")
}

/// A caught panic is a fault at its index, in input order among the other
/// faults, on every face; every other task ran to its end, and each task
/// was dropped once.
pub fn p1_a_caught_panic_is_a_fault_at_its_index(rt: &impl Runtime) {
    let drops = PollCounter::new();
    let Err(Failure::Faulted(faults)) =
        rt.block_on(when_all(six(&drops).into_iter().map(catch_panic)))
    else {
        panic!("when_all fails with its faults")
    };
    assert_eq!(faults.indices().collect::<Vec<_>>(), [2, 4]);
    let faults = faults.into_vec();
    assert_eq!(message(&faults[0].1), "task 2 panics");
    assert_eq!(faults[1].1.error(), Some(&4));
    assert_eq!(drops.get(), 6);

    let drops = PollCounter::new();
    let outcomes = rt.block_on(settle_all(six(&drops).into_iter().map(catch_panic)));
    assert_eq!(outcomes.len(), 6);
    for (i, outcome) in outcomes.iter().enumerate() {
        match (i, outcome) {
            (2, Outcome::Faulted(fault)) => assert_eq!(message(fault), "task 2 panics"),
            (4, Outcome::Faulted(TaskError::Error(4))) => {}
            (i, Outcome::Completed(value)) => assert_eq!(*value, i),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(drops.get(), 6);

    // `when_each` hands the panic out as the item of task 2.
    let drops = PollCounter::new();
    let mut items: Vec<(usize, Caught)> =
        rt.block_on(when_each(six(&drops).into_iter().map(catch_panic)).collect());
    items.sort_by_key(|(i, _)| *i);
    assert_eq!(items.len(), 6);
    assert!(matches!(&items[2].1, Err(TaskError::Panic(_))));
    assert!(matches!(&items[4].1, Err(TaskError::Error(4))));
    assert!(matches!(&items[5].1, Ok(5)));

    // `for_each` processes every value, and fails with both faults.
    let drops = PollCounter::new();
    let mut seen = Vec::new();
    let result = rt.block_on(for_each(
        six(&drops).into_iter().map(catch_panic),
        |i, v| seen.push((i, v)),
    ));
    seen.sort_unstable();
    assert_eq!(seen, [(0, 0), (1, 1), (3, 3), (5, 5)]);
    let Err(Failure::Faulted(faults)) = result else {
        panic!("for_each fails with its faults")
    };
    assert_eq!(faults.indices().collect::<Vec<_>>(), [2, 4]);

    // A race: the panic is one more fault; a success still wins.
    let drops = PollCounter::new();
    let won = rt.block_on(first_ok(six(&drops).into_iter().map(catch_panic)));
    assert!(matches!(won, Ok((0, 0))), "{won:?}");
}

/// With `.fail_fast()`, a caught panic cancels the batch as a fault does:
/// the tasks still running are dropped, and the panic is the fault kept.
pub fn p2_fail_fast_cancels_on_a_caught_panic(rt: &impl Runtime) {
    let gates = Gates::new(4);
    let drops = PollCounter::new();
    let tasks: Vec<BoxTask<'static, Result<usize, usize>>> = (0..4)
        .map(|i| {
            let guard = DropGuard::new(&drops);
            let gate = gates.future(i, i);
            boxed(async move {
                let _guard = guard;
                if i == 1 {
                    yield_now().await;
                    panic!("task 1 panics");
                }
                Ok(gate.await)
            })
        })
        .collect();
    let result = rt.block_on(when_all(tasks.into_iter().map(catch_panic)).fail_fast());
    let Err(Failure::Faulted(faults)) = result else {
        panic!("the panic fails the batch")
    };
    let faults = faults.into_vec();
    assert_eq!(faults.len(), 1);
    assert_eq!((faults[0].0, message(&faults[0].1)), (1, "task 1 panics"));
    assert_eq!(drops.get(), 4, "the others were dropped");
    assert!((0..4).all(|i| !gates.is_open(i)), "nothing was let through");
}

/// With `.fail_fast().graceful(&stop)`, a caught panic cancels `stop` and
/// the batch waits for the others to end on their own.
pub fn p3_graceful_waits_after_a_caught_panic(rt: &impl Runtime) {
    let stop = CancelSource::new();
    let tasks: Vec<BoxTask<'static, Result<usize, usize>>> = (0..3)
        .map(|i| {
            let token = stop.token();
            boxed(async move {
                if i == 0 {
                    yield_now().await;
                    panic!("task 0 panics");
                }
                // Ends when told to stop, with a value that says so.
                token.canceled().await;
                Ok(i + 10)
            })
        })
        .collect();
    let outcomes = rt.block_on(
        settle_all(tasks.into_iter().map(catch_panic))
            .fail_fast()
            .graceful(&stop),
    );
    assert!(stop.is_canceled());
    assert!(matches!(
        &outcomes[0],
        Outcome::Faulted(TaskError::Panic(_))
    ));
    assert!(matches!(
        outcomes[1..],
        [Outcome::Completed(11), Outcome::Completed(12)]
    ));
}

/// The payload is kept: `resume` panics again with it; a payload that is
/// not a string has no message but comes back whole.
pub fn p4_the_payload_is_kept(rt: &impl Runtime) {
    let caught = rt.block_on(catch_panic(async {
        yield_now().await;
        panic!("disk {} full", 3);
        #[allow(unreachable_code)]
        Ok::<(), ()>(())
    }));
    let Err(TaskError::Panic(panic)) = caught else {
        panic!("caught")
    };
    assert_eq!(panic.message(), Some("disk 3 full"));
    assert_eq!(panic.to_string(), "the task panicked: disk 3 full");
    let resumed = catch_unwind(AssertUnwindSafe(|| panic.resume())).expect_err("resumes");
    let resumed = resumed
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| resumed.downcast_ref::<&str>().copied());
    assert_eq!(resumed, Some("disk 3 full"));

    let caught = rt.block_on(catch_panic(async {
        panic_any(42_i32);
        #[allow(unreachable_code)]
        Ok::<(), ()>(())
    }));
    let Err(TaskError::Panic(panic)) = caught else {
        panic!("caught")
    };
    assert_eq!(panic.message(), None);
    assert_eq!(panic.into_payload().downcast_ref::<i32>(), Some(&42));
}

/// Ready on its first poll with `Ok(index)`; its `Drop` panics.
struct PanicsInDrop(usize);

impl Future for PanicsInDrop {
    type Output = Result<usize, usize>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(self.0))
    }
}

impl Drop for PanicsInDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop of task {} panics", self.0);
        }
    }
}

/// A panic in the `Drop` of a task as it finishes is caught: that task's
/// outcome (its value is lost with it). (A panic in the `Drop` of a task
/// the batch cancels is not caught: `tests/regressions.rs` checks that it
/// propagates, polling by hand, as some executors abort on it.)
pub fn p5_a_panic_in_drop_as_the_task_finishes_is_its_outcome(rt: &impl Runtime) {
    let tasks = vec![
        boxed(async { Ok::<usize, usize>(0) }),
        boxed(PanicsInDrop(1)),
    ];
    let outcomes = rt.block_on(settle_all(tasks.into_iter().map(catch_panic)));
    assert!(matches!(outcomes[0], Outcome::Completed(0)));
    let Outcome::Faulted(fault) = &outcomes[1] else {
        panic!("the drop's panic is the outcome: {outcomes:?}")
    };
    assert_eq!(message(fault), "drop of task 1 panics");
}

/// Tuples and arrays: each element wrapped, of any types; the panic is the
/// fault at the element's position.
pub fn p6_tuples_and_arrays_catch_panics_per_element(rt: &impl Runtime) {
    let user = async { Ok::<&str, String>("ada") };
    let orders = async {
        yield_now().await;
        panic!("orders panic");
        #[allow(unreachable_code)]
        Ok::<Vec<u32>, String>(vec![])
    };
    let count = async { Err::<u64, String>("count failed".into()) };
    let result =
        rt.block_on((catch_panic(user), catch_panic(orders), catch_panic(count)).when_all());
    let Err(Failure::Faulted(faults)) = result else {
        panic!("both faults")
    };
    let faults = faults.into_vec();
    assert_eq!(faults.len(), 2);
    assert_eq!(faults[0].0, 1);
    assert_eq!(
        faults[0].1.panic().and_then(Panic::message),
        Some("orders panic")
    );
    assert_eq!(faults[1].0, 2);
    assert_eq!(
        faults[1].1.error().map(String::as_str),
        Some("count failed")
    );

    let array = [0_usize, 1, 2].map(|i| {
        catch_panic(async move {
            yield_now().await;
            if i == 1 {
                panic!("element 1 panics");
            }
            Ok::<usize, ()>(i)
        })
    });
    let [a, b, c] = rt.block_on(array.settle_all());
    assert!(matches!(
        (a, c),
        (Outcome::Completed(0), Outcome::Completed(2))
    ));
    assert!(matches!(b, Outcome::Faulted(TaskError::Panic(_))));
}
