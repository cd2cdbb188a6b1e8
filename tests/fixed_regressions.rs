//! Regression tests for tuples and arrays (`fanout::fixed`), from review:
//! each failed before its fix. A batch polled again after a panic in an
//! element's poll must never poll that element again, run the others to
//! their ends, then panic naming it (issue 25: it once polled the element
//! again, and with one that did not wake itself waited forever); after a
//! panic in an element's `Drop` during a cancel it must still resolve and
//! drop each element once; a graceful stop by the signal must judge by the
//! elements' own outcomes, as the iterator faces do; an array run by the
//! engine must drop the elements it never pulled when it resolves, not when
//! the batch is dropped.

use fanout::cancel::CancelSource;
use fanout::{Failure, Join, Race};
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};

fn cx() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

/// Panics on its first poll (after waking itself), then is ready with `value`.
struct PanicOnce {
    panicked: bool,
    value: Result<u32, u32>,
}
impl Future for PanicOnce {
    type Output = Result<u32, u32>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !self.panicked {
            self.panicked = true;
            cx.waker().wake_by_ref();
            panic!("element panics once");
        }
        Poll::Ready(self.value)
    }
}

/// Ready with `value` on its first poll, or (`panic_once`) panics first.
struct Job {
    panic_once: bool,
    value: Result<u32, u32>,
}
impl Future for Job {
    type Output = Result<u32, u32>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.panic_once {
            self.panic_once = false;
            cx.waker().wake_by_ref();
            panic!("element panics once");
        }
        Poll::Ready(self.value)
    }
}

/// Polls `fut` up to `n` times (catching panics); the first `Ready`.
fn poll_n<F: Future>(mut fut: Pin<&mut F>, n: usize) -> (Option<F::Output>, usize) {
    let mut panics = 0;
    for _ in 0..n {
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx()))) {
            Ok(Poll::Ready(v)) => return (Some(v), panics),
            Ok(Poll::Pending) => {}
            Err(_) => panics += 1,
        }
    }
    (None, panics)
}

/// Polls `fut` (catching panics) until a second panic comes out of it; the
/// messages of both. Fails if it resolves, or if it takes more than `n`
/// polls (it hangs).
fn panics_twice<F: Future>(mut fut: Pin<&mut F>, n: usize) -> [String; 2] {
    let mut messages = Vec::new();
    for _ in 0..n {
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx()))) {
            Ok(Poll::Ready(_)) => panic!("the batch resolved without the lost element"),
            Ok(Poll::Pending) => {}
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                messages.push(message);
                if messages.len() == 2 {
                    return [messages.remove(0), messages.remove(0)];
                }
            }
        }
    }
    panic!("the batch never ended after the panic: {messages:?}");
}

/// The second panic of a batch polled again: it names element `index`.
fn assert_names(messages: &[String; 2], index: usize) {
    assert_eq!(messages[0], "element panics once");
    assert!(
        messages[1].starts_with(&format!("fanout: task {index} has no result: it panicked")),
        "{messages:?}"
    );
}

#[test]
fn inline_tuple_names_an_element_lost_to_a_panic() {
    let batch = pin!((
        async { Ok::<u32, u32>(1) },
        PanicOnce {
            panicked: false,
            value: Ok(2)
        }
    )
        .join_all());
    // Element 0 ends on poll 1; element 1 panics then and is dropped, never
    // polled again: the next poll names it.
    assert_names(&panics_twice(batch, 10), 1);
}

#[test]
fn inline_array_names_an_element_lost_to_a_panic() {
    let batch = pin!([
        Job {
            panic_once: false,
            value: Ok(1)
        },
        Job {
            panic_once: true,
            value: Ok(2)
        },
    ]
    .when_all());
    assert_names(&panics_twice(batch, 10), 1);
}

#[test]
fn engine_array_names_an_element_lost_to_a_panic() {
    let batch = pin!(core::array::from_fn::<_, 40, _>(|i| Job {
        panic_once: i == 5,
        value: Ok(i as u32)
    })
    .when_all());
    assert_names(&panics_twice(batch, 10), 5);
}

/// Pending forever; its `Drop` panics.
struct PanicOnDrop;
impl Future for PanicOnDrop {
    type Output = Result<u32, u32>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop panics");
        }
    }
}

/// Counts its polls and its drop; ready with Ok on its first poll.
struct Watched {
    polls: Rc<Cell<u32>>,
    dropped: Rc<Cell<bool>>,
}
impl Future for Watched {
    type Output = Result<u32, u32>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls.set(self.polls.get() + 1);
        Poll::Ready(Ok(7))
    }
}
impl Drop for Watched {
    fn drop(&mut self) {
        self.dropped.set(true);
    }
}

#[test]
fn inline_fail_fast_finishes_a_cancel_cut_short_by_a_panicking_drop() {
    let polls = Rc::new(Cell::new(0));
    let dropped = Rc::new(Cell::new(false));
    let watched = Watched {
        polls: polls.clone(),
        dropped: dropped.clone(),
    };
    let mut batch = Box::pin(
        (
            futures::future::ready(Err::<u32, u32>(1)),
            PanicOnDrop,
            watched,
        )
            .when_all()
            .fail_fast(),
    );
    let (out, panics) = poll_n(batch.as_mut(), 10);
    assert_eq!(panics, 1);
    assert!(dropped.get(), "element 2 dropped by the finished cancel");
    assert_eq!(
        polls.get(),
        0,
        "element 2 was polled after the fail-fast cancel"
    );
    assert!(
        out.is_some(),
        "batch never resolved after the panic in a cancel"
    );
}

#[test]
fn engine_fail_fast_finishes_a_cancel_cut_short_by_a_panicking_drop() {
    // Element 0 pending (its Drop panics), element 1 faults at once in the
    // first fill: 2..40 are never pulled.
    let mut batch = Box::pin(
        core::array::from_fn::<_, 40, _>(|i| match i {
            0 => futures::future::Either::Left(PanicOnDrop),
            1 => futures::future::Either::Right(futures::future::ready(Err(1))),
            _ => futures::future::Either::Right(futures::future::ready(Ok(2))),
        })
        .when_all()
        .fail_fast(),
    );
    let (out, panics) = poll_n(batch.as_mut(), 10);
    assert_eq!(panics, 1);
    assert!(
        out.is_some(),
        "batch never resolved after the panic in a cancel"
    );
}

/// Pending on its first poll, ready on the second (waking itself).
struct YieldOnce<T>(Option<T>, bool);
impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if !self.1 {
            self.1 = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.0.take().unwrap())
    }
}

#[test]
fn graceful_signal_judges_by_the_elements_as_the_iterator_face_does() {
    // The signal fires on the batch's second poll; every element ignores the
    // stop and completes Ok on its second poll.
    let run_fixed = || {
        let stop = CancelSource::new();
        let batch = [1u32, 2, 3]
            .map(|i| YieldOnce(Some(Ok::<u32, u32>(i)), false))
            .when_all()
            .graceful(&stop)
            .cancel_on(YieldOnce(Some(()), false));
        futures::executor::block_on(batch)
    };
    let run_iter = || {
        let stop = CancelSource::new();
        let batch =
            fanout::when_all([1u32, 2, 3].map(|i| YieldOnce(Some(Ok::<u32, u32>(i)), false)))
                .graceful(&stop)
                .cancel_on(YieldOnce(Some(()), false));
        futures::executor::block_on(batch)
    };
    let (fixed, iter) = (run_fixed(), run_iter());
    assert_eq!(fixed.map(Vec::from), iter);
}

#[test]
fn fail_fast_stops_at_the_first_fault_in_element_order() {
    let r = futures::executor::block_on(
        (
            futures::future::ready(Err::<u8, &str>("a")),
            futures::future::ready(Err::<u8, &str>("b")),
        )
            .when_all()
            .fail_fast(),
    );
    let Err(Failure::Faulted(f)) = r else {
        panic!()
    };
    // As documented on `fail_fast`: element 1 is not polled after the fault.
    assert_eq!(f.into_vec(), [(0, "a")]);
}

#[test]
fn engine_drops_never_pulled_elements_when_it_resolves() {
    fn run<const N: usize>() -> usize {
        let dropped = Rc::new(Cell::new(0usize));
        struct D(Rc<Cell<usize>>, bool);
        impl Future for D {
            type Output = Result<u8, u8>;
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
                Poll::Ready(if self.1 { Err(0) } else { Ok(0) })
            }
        }
        impl Drop for D {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let mut batch = Box::pin(
            core::array::from_fn::<_, N, _>(|i| D(dropped.clone(), i == 0))
                .when_all()
                .fail_fast(),
        );
        assert!(batch.as_mut().poll(&mut cx()).is_ready());
        let before_drop = dropped.get();
        drop(batch);
        assert_eq!(dropped.get(), N);
        before_drop
    }
    let inline = run::<3>();
    let engine = run::<40>();
    assert_eq!((inline, engine), (3, 40));
}

#[test]
fn engine_race_drops_its_losers_when_it_resolves() {
    let dropped = Rc::new(Cell::new(0usize));
    struct D(Rc<Cell<usize>>);
    impl Future for D {
        type Output = u8;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u8> {
            Poll::Ready(1)
        }
    }
    impl Drop for D {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let mut race = Box::pin(core::array::from_fn::<_, 40, _>(|_| D(dropped.clone())).when_any());
    assert_eq!(race.as_mut().poll(&mut cx()), Poll::Ready(Some((0, 1))));
    assert_eq!(
        dropped.get(),
        40,
        "losers not dropped when the race was decided"
    );
}

#[test]
fn unpin_follows_elements() {
    fn unpin<T: Unpin>(_: &T) {}
    let b = core::array::from_fn::<_, 3, _>(|_| futures::future::ready(1u8)).join_all();
    unpin(&b);
    let b = core::array::from_fn::<_, 40, _>(|_| futures::future::ready(1u8)).join_all();
    unpin(&b);
}

#[test]
fn graceful_fail_fast_lets_every_element_end_on_its_own() {
    let polls = Rc::new(Cell::new(0));
    let dropped = Rc::new(Cell::new(false));
    let stop = CancelSource::new();
    let fixed = futures::executor::block_on(
        [
            futures::future::Either::Left(futures::future::ready(Err::<u32, u32>(1))),
            futures::future::Either::Right(Watched {
                polls: polls.clone(),
                dropped: dropped.clone(),
            }),
        ]
        .settle_all()
        .fail_fast()
        .graceful(&stop),
    );
    let fixed_polls = polls.get();
    // Documented: every element of a fixed batch exists from the start, and
    // a graceful stop lets each end on its own (the iterator face never
    // pulls element 1).
    assert_eq!(fixed_polls, 1);
    assert!(matches!(fixed[1], fanout::Outcome::Completed(7)));
    let stop = CancelSource::new();
    polls.set(0);
    let iter = futures::executor::block_on(
        fanout::settle_all([
            futures::future::Either::Left(futures::future::ready(Err::<u32, u32>(1))),
            futures::future::Either::Right(Watched {
                polls: polls.clone(),
                dropped: dropped.clone(),
            }),
        ])
        .fail_fast()
        .graceful(&stop),
    );
    assert_eq!(iter.len(), 1);
    assert_eq!(polls.get(), 0);
}

thread_local!(static DROPS: Cell<u32> = const { Cell::new(0) });
struct CountedPanicOnDrop;
impl Future for CountedPanicOnDrop {
    type Output = Result<u32, u32>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}
impl Drop for CountedPanicOnDrop {
    fn drop(&mut self) {
        DROPS.with(|d| d.set(d.get() + 1));
        if !std::thread::panicking() {
            panic!("drop panics");
        }
    }
}

#[test]
fn panicking_drop_in_cancel_drops_once() {
    DROPS.with(|d| d.set(0));
    let mut batch = Box::pin(
        (
            futures::future::ready(Err::<u32, u32>(1)),
            CountedPanicOnDrop,
            CountedPanicOnDrop,
        )
            .when_all()
            .fail_fast(),
    );
    let (out, panics) = poll_n(batch.as_mut(), 3);
    assert!(out.is_some());
    assert_eq!(panics, 2, "each element's Drop panics once");
    assert_eq!(DROPS.with(Cell::get), 2, "both dropped by the cancel");
    let _ = catch_unwind(AssertUnwindSafe(|| drop(batch)));
    assert_eq!(DROPS.with(Cell::get), 2);
}

#[test]
fn race_resolves_after_a_losers_panicking_drop() {
    let mut race = Box::pin(
        [
            futures::future::Either::Left(futures::future::ready(Ok::<u32, u32>(1))),
            futures::future::Either::Right(PanicOnDrop),
            futures::future::Either::Right(PanicOnDrop),
        ]
        .when_any(),
    );
    let (out, panics) = poll_n(race.as_mut(), 5);
    assert_eq!(panics, 2, "each loser's Drop panics once");
    assert!(out.is_some(), "race never resolved");
}
