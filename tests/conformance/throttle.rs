//! Throttling, `.limit(n)`: T1–T5.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use fanout::{from_stream, join_all, settle_all, when_all, Failure, Outcome};
use futures::future::join;
use futures::{stream, Stream};

use super::{pulls, stream_polls, yield_now, Gates, Reentrance, Runtime, XorShift};
use crate::support::jobs::run_job;
use crate::support::{run_timed, PollCounter, Tracker, YieldN};

/// T1: never more than `n` tasks in flight, and with enough work exactly `n`
/// — checked after every poll of the batch, with tasks finishing in a random
/// order; each task is polled exactly twice.
pub fn t1_exactly_n_in_flight(rt: &impl Runtime) {
    let (n, limit) = (300, 8);
    let gates = Gates::new(n);
    let tracker = Tracker::new();
    let pulled = RefCell::new(Vec::new());
    let batch = when_all((0..n).map(|i| {
        pulled.borrow_mut().push(i);
        tracker.track(gates.future(i, Ok::<_, ()>(i)))
    }))
    .limit(limit);
    let driver = async {
        let mut rng = XorShift::new(0x71);
        let mut opened = 0;
        loop {
            let pulled_now = pulled.borrow().len();
            assert_eq!(pulled_now, (opened + limit).min(n));
            assert_eq!(tracker.in_flight(), pulled_now - opened);
            if opened == n {
                break;
            }
            let waiting: Vec<usize> = pulled
                .borrow()
                .iter()
                .copied()
                .filter(|&i| !gates.is_open(i))
                .collect();
            gates.open(waiting[rng.below(waiting.len())]);
            opened += 1;
            yield_now().await;
        }
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(result, Ok((0..n).collect::<Vec<_>>()));
    assert_eq!(tracker.peak(), limit);
    assert!(gates.all_polls().iter().all(|&p| p == 2));
}

/// T1 for each combinator: self-waking tasks of random length under
/// `.limit(5)` reach exactly 5 in flight, never more.
pub fn t1_peak_is_the_limit_for_every_combinator(rt: &impl Runtime) {
    let n = 200;
    let yields: Vec<usize> = {
        let mut rng = XorShift::new(0x715);
        (0..n).map(|_| rng.below(6)).collect()
    };
    let task = |tracker: &Tracker, i: usize| {
        tracker.track(YieldN::new(yields[i], Ok::<_, ()>(i), PollCounter::new()))
    };

    let tracker = Tracker::new();
    let out = rt.block_on(join_all((0..n).map(|i| task(&tracker, i))).limit(5));
    assert_eq!(out.len(), n);
    assert_eq!((tracker.peak(), tracker.finished()), (5, n));

    let tracker = Tracker::new();
    let out = rt.block_on(when_all((0..n).map(|i| task(&tracker, i))).limit(5));
    assert_eq!(out, Ok((0..n).collect()));
    assert_eq!((tracker.peak(), tracker.finished()), (5, n));

    let tracker = Tracker::new();
    let out = rt.block_on(settle_all((0..n).map(|i| task(&tracker, i))).limit(5));
    assert_eq!(out, (0..n).map(Outcome::Completed).collect::<Vec<_>>());
    assert_eq!((tracker.peak(), tracker.finished()), (5, n));

    // A stream source is throttled the same way.
    let tracker = Tracker::new();
    let tasks = stream::iter((0..n).map(|i| task(&tracker, i)));
    let out = rt.block_on(when_all(from_stream(tasks)).limit(5));
    assert_eq!(out, Ok((0..n).collect()));
    assert_eq!((tracker.peak(), tracker.finished()), (5, n));
}

/// T1: `limit(1)` runs the tasks one after another.
pub fn t1_limit_one_is_sequential(rt: &impl Runtime) {
    let log = RefCell::new(Vec::new());
    let tasks = (0..5).map(|i| {
        let log = &log;
        async move {
            log.borrow_mut().push(("start", i));
            for _ in 0..i % 3 {
                yield_now().await;
            }
            log.borrow_mut().push(("end", i));
            i
        }
    });
    assert_eq!(rt.block_on(join_all(tasks).limit(1)), [0, 1, 2, 3, 4]);
    let expected: Vec<_> = (0..5).flat_map(|i| [("start", i), ("end", i)]).collect();
    assert_eq!(*log.borrow(), expected);
}

/// T2: with `n` tasks blocked, exactly `n` items have been pulled; one more
/// only when a place frees.
pub fn t2_pulls_lazily(rt: &impl Runtime) {
    let gates = Gates::new(100);
    let pulled = PollCounter::new();
    let tracker = Tracker::new();
    let source = pulls((0..100).map(|i| tracker.track(gates.future(i, i))), &pulled);
    let batch = join_all(source).limit(4);
    let driver = async {
        assert_eq!(pulled.get(), 4);
        for (step, i) in [0, 2, 1, 5].into_iter().enumerate() {
            gates.open(i);
            yield_now().await;
            assert_eq!(pulled.get(), 5 + step);
            assert_eq!(tracker.in_flight(), 4);
            // Nothing happens while nothing frees.
            yield_now().await;
            assert_eq!(pulled.get(), 5 + step);
        }
        gates.open_in_order(0..100).await;
    };
    let (outputs, ()) = rt.block_on(join(batch, driver));
    assert_eq!(outputs, (0..100).collect::<Vec<_>>());
    assert_eq!(pulled.get(), 101);
    assert_eq!(tracker.peak(), 4);
}

/// T2 with a stream source: `poll_next` is called only when a place is free.
pub fn t2_pulls_lazily_from_stream(rt: &impl Runtime) {
    let gates = Gates::new(20);
    let polled = PollCounter::new();
    let tasks = stream::iter((0..20).map(|i| gates.future(i, Ok::<_, ()>(i))));
    let batch = when_all(from_stream(stream_polls(tasks, &polled))).limit(3);
    let driver = async {
        assert_eq!(polled.get(), 3);
        gates.open(1);
        yield_now().await;
        assert_eq!(polled.get(), 4);
        yield_now().await;
        assert_eq!(polled.get(), 4);
        gates.open_in_order(0..20).await;
    };
    let (result, ()) = rt.block_on(join(batch, driver));
    assert_eq!(result, Ok((0..20).collect::<Vec<_>>()));
    assert_eq!(polled.get(), 21);
}

/// A task of the re-entrance probes: asserts that it is never polled while the
/// source is inside `next()`, and waits for `i % 3` outside wakes.
fn probe_task(
    i: usize,
    flag: &Reentrance,
    stash: &Rc<RefCell<Vec<Waker>>>,
) -> impl Future<Output = Result<usize, ()>> {
    let (flag, stash) = (flag.clone(), Rc::clone(stash));
    let mut left = i % 3;
    poll_fn(move |cx| {
        assert!(
            !flag.inside(),
            "a task was polled inside the source's next()"
        );
        if left == 0 {
            return Poll::Ready(Ok(i));
        }
        left -= 1;
        stash.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    })
}

/// Wakes every stashed waker until `done`.
async fn wake_stash(stash: &RefCell<Vec<Waker>>, done: &Cell<bool>) {
    while !done.get() {
        let wakers = std::mem::take(&mut *stash.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
        yield_now().await;
    }
}

/// T3: the source's `next()` is never re-entered, and no task is polled from
/// inside it — although `next()` itself wakes tasks of the batch.
pub fn t3_source_is_never_reentered(rt: &impl Runtime) {
    for limit in [3, usize::MAX] {
        let flag = Reentrance::default();
        let stash = Rc::new(RefCell::new(Vec::<Waker>::new()));
        let mut i = 0;
        let source = std::iter::from_fn(|| {
            flag.enter();
            // Tempt a re-entrant engine: wake tasks of the batch from here.
            let wakers = std::mem::take(&mut *stash.borrow_mut());
            wakers.into_iter().for_each(Waker::wake);
            let task = (i < 60).then(|| probe_task(i, &flag, &stash));
            i += 1;
            flag.leave();
            task
        });
        let done = Cell::new(false);
        let batch = async {
            let result = when_all(source).limit(limit).await;
            done.set(true);
            result
        };
        let (result, ()) = rt.block_on(join(batch, wake_stash(&stash, &done)));
        assert_eq!(result, Ok((0..60).collect::<Vec<_>>()));
    }
}

/// A stream of `n` probe tasks that is `Pending` before every other item, and
/// asserts that `poll_next` is never re-entered.
struct ProbeStream {
    next: usize,
    n: usize,
    pending: bool,
    flag: Reentrance,
    stash: Rc<RefCell<Vec<Waker>>>,
}

impl Stream for ProbeStream {
    type Item = Pin<Box<dyn Future<Output = Result<usize, ()>>>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.flag.enter();
        let wakers = std::mem::take(&mut *self.stash.borrow_mut());
        wakers.into_iter().for_each(Waker::wake);
        let out = if self.next >= self.n {
            Poll::Ready(None)
        } else if self.pending {
            self.pending = false;
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            self.pending = true;
            let task: Self::Item = Box::pin(probe_task(self.next, &self.flag, &self.stash));
            self.next += 1;
            Poll::Ready(Some(task))
        };
        self.flag.leave();
        out
    }
}

/// T3 with a stream source: `poll_next` is never re-entered.
pub fn t3_stream_source_is_never_reentered(rt: &impl Runtime) {
    for limit in [2, usize::MAX] {
        let stash = Rc::new(RefCell::new(Vec::new()));
        let source = ProbeStream {
            next: 0,
            n: 40,
            pending: true,
            flag: Reentrance::default(),
            stash: Rc::clone(&stash),
        };
        let done = Cell::new(false);
        let batch = async {
            let result = when_all(from_stream(source)).limit(limit).await;
            done.set(true);
            result
        };
        let (result, ()) = rt.block_on(join(batch, wake_stash(&stash, &done)));
        assert_eq!(result, Ok((0..40).collect::<Vec<_>>()));
    }
}

/// T4: `when_all(..).limit(0)` is rejected at the call with a message that
/// names the limit.
pub fn t4_when_all_limit_zero_panics(rt: &impl Runtime) {
    let tasks = [ready(Ok::<u8, ()>(1))];
    let _ = rt.block_on(async { when_all(tasks).limit(0).await });
}

/// T4 for `settle_all`.
pub fn t4_settle_all_limit_zero_panics(rt: &impl Runtime) {
    let tasks = [ready(Ok::<u8, ()>(1))];
    let _ = rt.block_on(async { settle_all(tasks).limit(0).await });
}

/// T4 for `join_all`.
pub fn t4_join_all_limit_zero_panics(rt: &impl Runtime) {
    let tasks: [Ready<u8>; 1] = [ready(1)];
    let _ = rt.block_on(async { join_all(tasks).limit(0).await });
}

/// T5: each item is processed exactly once, under a limit, from an iterator
/// and from a stream.
pub fn t5_each_item_processed_once(rt: &impl Runtime) {
    let n = 1_000;
    let mut rng = XorShift::new(0x75);
    let yields: Vec<usize> = (0..n).map(|_| rng.below(5)).collect();
    let started: Vec<Cell<usize>> = (0..n).map(|_| Cell::new(0)).collect();
    let body = |i: usize| {
        let (started, yields) = (&started, &yields);
        async move {
            started[i].set(started[i].get() + 1);
            for _ in 0..yields[i] {
                yield_now().await;
            }
            if i % 97 == 0 {
                Err(i)
            } else {
                Ok(i)
            }
        }
    };

    let outcomes = rt.block_on(settle_all((0..n).map(body)).limit(7));
    let expected: Vec<Outcome<usize, usize>> = (0..n)
        .map(|i| {
            if i % 97 == 0 {
                Outcome::Faulted(i)
            } else {
                Outcome::Completed(i)
            }
        })
        .collect();
    assert_eq!(outcomes, expected);
    assert!(started.iter().all(|c| c.get() == 1));

    let result = rt.block_on(when_all(from_stream(stream::iter((0..n).map(body)))).limit(13));
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted");
    };
    assert_eq!(
        faults.indices().collect::<Vec<_>>(),
        (0..n).step_by(97).collect::<Vec<_>>()
    );
    assert!(started.iter().all(|c| c.get() == 2));
}

/// T5/A7 with an endless source (`0..`, whose size hint is `(usize::MAX,
/// None)`): a throttled, fail-fast batch processes items until the first fault.
/// This is Parallel.ForEachAsync over an endless work queue.
pub fn t5_endless_range_source_with_limit(rt: &impl Runtime) {
    let pulled = PollCounter::new();
    let source = pulls(
        (0..).map(|i: usize| ready(if i == 5 { Err(i) } else { Ok(i) })),
        &pulled,
    );
    let result = rt.block_on(when_all(source).limit(4).fail_fast());
    let Err(Failure::Faulted(faults)) = result else {
        panic!("expected Faulted, got {result:?}");
    };
    assert_eq!(faults.into_vec(), vec![(5, 5)]);
    assert_eq!(pulled.get(), 6);
}

/// T1 on the virtual clock: ten 100 ms jobs under `.limit(3)` run in four
/// waves (400 virtual ms), three at a time.
pub fn t1_waves_of_jobs_timed() {
    let tracker = Tracker::new();
    let jobs = (0..10).map(|i| tracker.track(run_job(100, i)));
    let (result, elapsed) = run_timed(when_all(jobs).limit(3));
    assert_eq!(result, Ok((0..10).collect::<Vec<_>>()));
    assert_eq!(elapsed, 400);
    assert_eq!(tracker.peak(), 3);
    assert_eq!(tracker.finished(), 10);
}
