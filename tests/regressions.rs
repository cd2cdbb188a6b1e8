//! Regression tests for bugs found in review: each failed before its fix
//! (lost wakes through a parked stream source and a resumed round, an
//! async processor that never yielded, a budget top-up that pulled past a
//! fault, a task's `Drop` that panicked during a cancel and left the batch
//! waiting forever, a throttled fill's budget yield that left the batch
//! idle with tasks still to pull), and the documented cost of slot reuse (a stale waker
//! polls the slot's next task once).

use futures::Stream;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

struct Counter(AtomicUsize);
impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
fn counting() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// A task that is pending until its gate opens; opening wakes its stored waker.
#[derive(Default)]
struct GateState {
    open: bool,
    waker: Option<Waker>,
}
#[derive(Clone, Default)]
struct Gate(Rc<RefCell<GateState>>);
impl Gate {
    fn open(&self) {
        let w = {
            let mut s = self.0.borrow_mut();
            s.open = true;
            s.waker.take()
        };
        if let Some(w) = w {
            w.wake()
        }
    }
}
struct GateFut(Gate, usize);
impl Future for GateFut {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let mut s = self.0 .0.borrow_mut();
        if s.open {
            Poll::Ready(self.1)
        } else {
            s.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// Lost wake: a round resumed mid-way in block 0 at a new turn registers only
/// the later blocks, and `registered = k + 2` then skips block 0 for the rest
/// of the turn. A wake in block 0 after that is lost.
#[test]
fn lost_wake_after_resumed_round_in_multi_block_batch() {
    let gates: Vec<Gate> = (0..20).map(|_| Gate::default()).collect();
    // `filter` hides the size: blocks of 16 (tasks 0..16) and 16 (16..20).
    let tasks = gates
        .iter()
        .cloned()
        .enumerate()
        .filter(|_| true)
        .map(|(i, g)| GateFut(g, i));
    let mut each = pin!(fanout::when_each(tasks));
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    assert!(each.as_mut().poll_next(&mut cx).is_pending()); // turn 1: all 20 pulled
    gates[1].open();
    gates[2].open();
    assert_eq!(each.as_mut().poll_next(&mut cx), Poll::Ready(Some((1, 1)))); // turn 2
    gates[3].open(); // wakes the batch: block 0's parent waker is taken
    assert_eq!(each.as_mut().poll_next(&mut cx), Poll::Ready(Some((2, 2)))); // turn 3: resumed
    assert_eq!(each.as_mut().poll_next(&mut cx), Poll::Ready(Some((3, 3)))); // turn 4
    assert!(each.as_mut().poll_next(&mut cx).is_pending()); // turn 5
    let before = count.0.load(Ordering::SeqCst);
    gates[4].open();
    let after = count.0.load(Ordering::SeqCst);
    assert!(
        after > before,
        "task 4 was woken but the batch was not: lost wake"
    );
}

/// B2: `for_each_async` ignores the engine's budget yield and loops forever
/// over an endless source of ready tasks with a ready processor.
#[test]
fn for_each_async_never_yields() {
    let calls = Cell::new(0usize);
    let batch =
        fanout::for_each_async((0..).map(|i| std::future::ready(Ok::<_, ()>(i))), |_, _| {
            calls.set(calls.get() + 1);
            assert!(
                calls.get() < 100_000,
                "one poll of for_each_async ran 100k processor calls without yielding"
            );
            std::future::ready(())
        });
    let mut batch = pin!(batch);
    let (_c, waker) = counting();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        batch.as_mut().poll(&mut Context::from_waker(&waker))
    }));
    assert!(
        r.is_ok(),
        "the poll never returned (stopped by the processor's panic)"
    );
}

/// A yield-once task: wakes itself, then returns its value.
struct YieldOnce<T>(Option<T>, bool, Option<Rc<Cell<bool>>>);
impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if !self.1 {
            self.1 = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(flag) = &self.2 {
            flag.set(true);
        }
        Poll::Ready(self.0.take().unwrap())
    }
}

/// A7: with a limit (slots reused, completions parked), a budget yield in the
/// middle of a round tops the limit up from the source while a fault sits
/// parked: the source is pulled after the fault happened.
#[test]
fn fail_fast_pulls_after_a_parked_fault_via_budget_top_up() {
    let mut violations = Vec::new();
    for k in 0..1200usize {
        let faulted = Rc::new(Cell::new(false));
        let late_pulls = Rc::new(Cell::new(0usize));
        let (f2, l2) = (faulted.clone(), late_pulls.clone());
        let jobs = (0..5000usize).map(move |i| {
            if f2.get() {
                l2.set(l2.get() + 1);
            }
            let out: Result<usize, usize> = if i == k { Err(i) } else { Ok(i) };
            YieldOnce(
                Some(out),
                false,
                if i == k { Some(f2.clone()) } else { None },
            )
        });
        let r = futures::executor::block_on(fanout::when_all(jobs).limit(4).fail_fast());
        assert!(r.is_err());
        if late_pulls.get() > 0 {
            violations.push((k, late_pulls.get()));
        }
    }
    assert!(
        violations.is_empty(),
        "pulled after the fault completed (fault index, pulls): {violations:?}"
    );
}

/// Lost wake of the *source*: `source_parked` survives across polls of the
/// face when the poll ended with an item rather than `Pending`; the next
/// poll (triggered by the source's own wake) skips the source and returns
/// `Pending`, so the item the source woke us for is never pulled.
#[test]
fn when_each_over_stream_loses_the_source_wake() {
    use futures::channel::mpsc;
    let (tx, rx) = mpsc::unbounded::<GateFut>();
    let gate_a = Gate::default();
    tx.unbounded_send(GateFut(gate_a.clone(), 0)).unwrap();
    let mut each = pin!(fanout::when_each(fanout::from_stream(rx)));
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    assert!(each.as_mut().poll_next(&mut cx).is_pending()); // A pulled, stream pending
    gate_a.open();
    // Stream polled (Pending, parked), then A finishes in the round: an item.
    assert_eq!(each.as_mut().poll_next(&mut cx), Poll::Ready(Some((0, 0))));
    let before = count.0.load(Ordering::SeqCst);
    let gate_b = Gate::default();
    gate_b.open(); // B is ready at once
    tx.unbounded_send(GateFut(gate_b, 1)).unwrap(); // the stream wakes us
    assert!(
        count.0.load(Ordering::SeqCst) > before,
        "stream woke the batch"
    );
    // We are polled because of that wake: B must be pulled now.
    let r = each.as_mut().poll_next(&mut cx);
    let after = count.0.load(Ordering::SeqCst);
    assert_eq!(
        r,
        Poll::Ready(Some((1, 1))),
        "got {r:?}; wakes since: {}",
        after - before - 1
    );
}

/// A task that finishes on its first poll gives its never-used slot back, so
/// the next task takes the same slot. A clone of the first task's waker, woken
/// later, then reaches the second task: one spurious poll (which the `Future`
/// contract allows), never a lost or misrouted outcome.
#[test]
fn stale_waker_of_an_instantly_ready_task_polls_its_successor_once() {
    let left_behind: Rc<RefCell<Option<Waker>>> = Rc::default();
    let gate = Gate::default();
    let polls = Rc::new(Cell::new(0));
    let first = {
        let left_behind = left_behind.clone();
        futures::future::poll_fn(move |cx| {
            *left_behind.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(0)
        })
    };
    let second = {
        let (gate, polls) = (gate.clone(), polls.clone());
        let mut inner = GateFut(gate, 1);
        futures::future::poll_fn(move |cx| {
            polls.set(polls.get() + 1);
            Pin::new(&mut inner).poll(cx)
        })
    };
    type Task = Pin<Box<dyn Future<Output = usize>>>;
    let tasks: Vec<Task> = vec![Box::pin(first), Box::pin(second)];
    let mut batch = pin!(fanout::join_all(tasks));
    let (_, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    assert!(batch.as_mut().poll(&mut cx).is_pending());
    assert_eq!(polls.get(), 1);
    // The first task's stale waker: the second task is polled once, spuriously.
    left_behind.borrow_mut().take().unwrap().wake();
    assert!(batch.as_mut().poll(&mut cx).is_pending());
    assert_eq!(polls.get(), 2);
    gate.open();
    assert_eq!(batch.as_mut().poll(&mut cx), Poll::Ready(vec![0, 1]));
    assert_eq!(polls.get(), 3);
}

/// Counts its drops, and panics in the drop of task `boom`.
struct DropProbe {
    index: usize,
    boom: usize,
    drops: Rc<RefCell<Vec<usize>>>,
}
impl Drop for DropProbe {
    fn drop(&mut self) {
        self.drops.borrow_mut().push(self.index);
        if self.index == self.boom {
            panic!("task {} panics in drop", self.index);
        }
    }
}

/// `n` tasks that never finish, each with a probe; task `boom`'s drop panics.
fn probed(
    n: usize,
    boom: usize,
    drops: &Rc<RefCell<Vec<usize>>>,
) -> Vec<impl Future<Output = Result<u8, ()>>> {
    (0..n)
        .map(|index| {
            let probe = DropProbe {
                index,
                boom,
                drops: drops.clone(),
            };
            async move {
                let _probe = probe;
                std::future::pending::<()>().await;
                Ok(0)
            }
        })
        .collect()
}

/// A signal that fires once the flag is set.
fn flag_signal() -> (Rc<Cell<bool>>, impl Future<Output = ()>) {
    let fire = Rc::new(Cell::new(false));
    let signal = {
        let fire = fire.clone();
        futures::future::poll_fn(move |_| {
            if fire.get() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    };
    (fire, signal)
}

/// A task whose `Drop` panics while the batch cancels: the panic reaches the
/// caller of `poll`, and a caller that catches it and polls again still gets
/// every task's outcome, with every task dropped exactly once (the rest of
/// the batch is dropped on that next poll, not lost or dropped twice).
#[test]
fn a_drop_that_panics_during_a_cancel_loses_no_outcome() {
    use fanout::Outcome;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let (_, waker) = counting();
    let mut cx = Context::from_waker(&waker);

    // settle_all: one outcome per index.
    let drops = Rc::new(RefCell::new(Vec::new()));
    let (fire, signal) = flag_signal();
    let mut batch = pin!(fanout::settle_all(probed(6, 2, &drops)).cancel_on(signal));
    assert!(batch.as_mut().poll(&mut cx).is_pending());
    fire.set(true);
    let panicked = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
    assert!(panicked.is_err(), "the drop's panic reaches the caller");
    let outcomes = match batch.as_mut().poll(&mut cx) {
        Poll::Ready(outcomes) => outcomes,
        Poll::Pending => panic!("a canceled batch finishes"),
    };
    assert_eq!(outcomes.len(), 6);
    assert!(
        outcomes.iter().all(|o| matches!(o, Outcome::Canceled)),
        "{outcomes:?}"
    );
    let mut dropped = drops.borrow().clone();
    dropped.sort_unstable();
    assert_eq!(dropped, [0, 1, 2, 3, 4, 5], "each task dropped once");

    // when_all: cancellations counted, not listed. Over a source of unknown
    // size, so the tasks span three blocks (16, 16 and 32 slots): the blocks
    // after the panicking task's are dropped while the panic unwinds.
    let drops = Rc::new(RefCell::new(Vec::new()));
    let (fire, signal) = flag_signal();
    let tasks = probed(40, 3, &drops).into_iter().filter(|_| true);
    let mut batch = pin!(fanout::when_all(tasks).cancel_on(signal));
    assert!(batch.as_mut().poll(&mut cx).is_pending());
    fire.set(true);
    let panicked = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
    assert!(panicked.is_err(), "the drop's panic reaches the caller");
    assert_eq!(drops.borrow().len(), 40, "every task dropped in that poll");
    match batch.as_mut().poll(&mut cx) {
        Poll::Ready(Err(failure)) => assert!(failure.is_canceled(), "{failure:?}"),
        other => panic!("a canceled batch fails as canceled: {other:?}"),
    }
    let mut dropped = drops.borrow().clone();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        (0..40).collect::<Vec<_>>(),
        "each task dropped once"
    );
}

/// What a [`Pinned`] task does.
#[derive(Clone, Copy)]
enum Kind {
    /// Pending once (waking itself), then ready.
    YieldOnce,
    /// Panics on its first poll, after noting where it is pinned.
    PanicFirst,
    /// Ready at once; notes whether it was placed over a live task.
    Probe,
}

/// Where the task that panicked is pinned, and whether it is still alive.
#[derive(Default)]
struct PinLog {
    panicked_at: Cell<usize>,
    panicked_alive: Cell<bool>,
    reused_while_alive: Cell<bool>,
}

/// A `!Unpin` task that reports on its own address.
struct Pinned {
    index: usize,
    kind: Kind,
    polled: bool,
    log: Rc<PinLog>,
    _pin: std::marker::PhantomPinned,
}

impl Pinned {
    fn new(index: usize, kind: Kind, log: &Rc<PinLog>) -> Self {
        Self {
            index,
            kind,
            polled: false,
            log: log.clone(),
            _pin: std::marker::PhantomPinned,
        }
    }
}

impl Future for Pinned {
    type Output = usize;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        // SAFETY: nothing is moved out; the address is only compared.
        let this = unsafe { self.get_unchecked_mut() };
        let at = std::ptr::from_mut(this) as usize;
        let first = !this.polled;
        this.polled = true;
        match this.kind {
            Kind::YieldOnce if first => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Kind::YieldOnce => Poll::Ready(this.index),
            Kind::PanicFirst => {
                this.log.panicked_at.set(at);
                this.log.panicked_alive.set(true);
                panic!("task {} panics on its first poll", this.index);
            }
            Kind::Probe => {
                if at == this.log.panicked_at.get() && this.log.panicked_alive.get() {
                    this.log.reused_while_alive.set(true);
                }
                Poll::Ready(this.index)
            }
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if matches!(self.kind, Kind::PanicFirst) && self.polled {
            self.log.panicked_alive.set(false);
        }
    }
}

/// Found in review: a task that panicked on its first poll was not counted
/// as running, so once the others finished, the slots rewound and the next
/// task was written over it — a pinned future whose memory was reused
/// without its `Drop` (unsound). It now stays counted, and the check before
/// a rewind refuses to forget a slot in use.
#[test]
fn a_task_that_panicked_on_its_first_poll_is_never_overwritten() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let log = Rc::new(PinLog::default());
    // 0 and 1 fill the two slots; 2 panics in slot 0 after a rewind; 3 takes
    // slot 1 and finishes; 4 would be placed over 2 by a second rewind.
    let kinds = [
        Kind::YieldOnce,
        Kind::YieldOnce,
        Kind::PanicFirst,
        Kind::YieldOnce,
        Kind::Probe,
    ];
    // A stream that hands out only `allowed` tasks so far.
    let allowed = Rc::new(Cell::new(3));
    let parked: Rc<RefCell<Option<Waker>>> = Rc::default();
    let mut next = 0;
    let stream = {
        let (allowed, parked, log) = (allowed.clone(), parked.clone(), log.clone());
        futures::stream::poll_fn(move |cx| {
            if next == kinds.len() {
                return Poll::Ready(None);
            }
            if next == allowed.get() {
                *parked.borrow_mut() = Some(cx.waker().clone());
                return Poll::Pending;
            }
            next += 1;
            Poll::Ready(Some(Pinned::new(next - 1, kinds[next - 1], &log)))
        })
    };
    let (_, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut batch = pin!(fanout::join_all(fanout::from_stream(stream)).limit(2));
    let caught = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
    assert!(caught.is_err(), "task 2 panics");
    allowed.set(4);
    let second = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
    assert!(matches!(second, Ok(Poll::Pending)), "task 3 ran");
    allowed.set(5);
    if let Some(parked) = parked.borrow_mut().take() {
        parked.wake();
    }
    // Task 2, whose poll panicked, was dropped at the start of the second
    // poll (never polled again) and its slot freed.
    assert!(!log.panicked_alive.get(), "task 2 is dropped, not kept");
    // Task 4 runs; then every other task has ended, and the batch names
    // task 2 rather than wait for it or invent its output.
    let third = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
    let message = third.expect_err("the batch cannot make up task 2's result");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.starts_with("fanout: task 2 has no result: it panicked"),
        "{message}"
    );
    assert!(
        !log.reused_while_alive.get(),
        "task 4 was written over task 2, pinned and never dropped"
    );
}

/// Found in review: with the panicking task uncounted, a cancel counted one
/// running task too many away (an overflow).
#[test]
fn a_cancel_after_a_first_poll_panic_counts_right() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let log = Rc::new(PinLog::default());
    let (fire, signal) = flag_signal();
    let tasks: Vec<_> = [Kind::YieldOnce, Kind::PanicFirst, Kind::YieldOnce]
        .into_iter()
        .enumerate()
        .map(|(index, kind)| Pinned::new(index, kind, &log))
        .map(|task| async move { Ok::<usize, ()>(task.await) })
        .collect();
    let (_, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut batch = pin!(fanout::settle_all(tasks).cancel_on(signal));
    let caught = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
    assert!(caught.is_err(), "task 1 panics");
    fire.set(true);
    // Task 1, lost to its panic, is dropped as the second poll starts; the
    // signal then cancels task 0 (task 2 was never pulled). The batch
    // cannot settle task 1 (it did not end `Canceled`: it panicked), so it
    // names it rather than invent an outcome.
    let second = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
    let message = second.expect_err("task 1 has no outcome to settle");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.starts_with("fanout: task 1 has no result: it panicked"),
        "{message}"
    );
    assert!(!log.panicked_alive.get(), "task 1 was dropped");
}

/// Yields once; its `Drop` panics if `boom`.
struct DropBoom {
    index: usize,
    boom: bool,
    yielded: bool,
}

impl Future for DropBoom {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if self.yielded {
            Poll::Ready(self.index)
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl Drop for DropBoom {
    fn drop(&mut self) {
        if self.boom {
            panic!("boom in drop");
        }
    }
}

/// Found in review: a task whose `Drop` panicked as it finished left the
/// batch counting it as running, so a batch polled again waited forever. It
/// now runs to its end and then panics, naming the task whose panic took its
/// result (the documented behaviour), with or without a limit (slot reuse).
#[test]
fn a_drop_that_panics_as_its_task_finishes_is_named_not_waited_for() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let message = |panic: Box<dyn std::any::Any + Send>| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let (_, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    for limit in [usize::MAX, 2] {
        let tasks = (0..4).map(|index| DropBoom {
            index,
            boom: index == 1,
            yielded: false,
        });
        let mut batch = pin!(fanout::join_all(tasks).limit(limit));
        let first = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
        assert_eq!(message(first.unwrap_err()), "boom in drop");
        let second = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
        let second = message(second.expect_err("the batch cannot make up task 1's result"));
        assert!(
            second.starts_with("fanout: task 1 has no result: it panicked"),
            "limit {limit}: {second}"
        );
    }
}

/// A signal that fires between two tasks that finish on their first poll
/// stops the fill there: the engine hands such a task's output to the face
/// from inside its fill loop, and must still look at the signal between two
/// events, as a new poll would. (Without that look, all 100 tasks ran.)
#[test]
fn a_signal_between_two_instantly_ready_tasks_stops_the_fill() {
    let ran = Cell::new(0);
    let signal = fires_at(&ran, 5);
    let ran = &ran;
    let batch = fanout::when_all((0..100).map(|i| async move {
        ran.set(ran.get() + 1);
        Ok::<_, ()>(i)
    }))
    .cancel_on(signal);
    let result = futures::executor::block_on(batch);
    assert!(
        matches!(result, Err(fanout::Failure::Canceled)),
        "{result:?}"
    );
    assert_eq!(ran.get(), 5, "the batch ran on after its signal fired");
}

/// The same within a round: a task woken and finished in a round is handed
/// to the face from inside the round, and a signal that fires between two
/// such tasks stops the batch there. (Without the look, all 100 finished.)
#[test]
fn a_signal_between_two_tasks_finished_in_a_round_stops_the_round() {
    let finished = Cell::new(0);
    let signal = fires_at(&finished, 5);
    let finished = &finished;
    let batch =
        fanout::when_all((0..100).map(|i| yield_once_then_count(finished, i))).cancel_on(signal);
    let result = futures::executor::block_on(batch);
    assert!(
        matches!(result, Err(fanout::Failure::Canceled)),
        "{result:?}"
    );
    assert_eq!(finished.get(), 5, "the round ran on after the signal fired");
}

/// A signal that has fired once `count` has reached `at`.
fn fires_at(count: &Cell<usize>, at: usize) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |_| {
        if count.get() >= at {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// A signal between two instantly ready tasks while another task is in
/// flight: the batch stops there and still reports the task in flight
/// (dropped: `settle_all` records it `Canceled`). Found by review: without
/// its move on to the cancel's report after the in-loop look at the signal,
/// the batch ended without reporting it.
#[test]
fn a_signal_in_the_fill_reports_the_task_in_flight() {
    let ran = Cell::new(0);
    let signal = fires_at(&ran, 3);
    let ran = &ran;
    let batch = fanout::settle_all((0..10).map(|i| {
        let mut first = true;
        std::future::poll_fn(move |_| {
            if i == 0 {
                // Parked for good, no wake: in flight when the signal fires.
                return Poll::Pending;
            }
            if first {
                first = false;
                ran.set(ran.get() + 1);
            }
            Poll::Ready(Ok::<_, ()>(i))
        })
    }))
    .cancel_on(signal);
    let outcomes = futures::executor::block_on(batch);
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert!(
        matches!(outcomes[0], fanout::Outcome::Canceled),
        "{outcomes:?}"
    );
    assert_eq!(ran.get(), 3);
}

/// The same through a round (tasks that yield once, handed out from inside
/// the round), with a task parked for good in flight.
#[test]
fn a_signal_in_the_round_reports_the_task_in_flight() {
    let finished = Cell::new(0);
    let signal = fires_at(&finished, 3);
    let finished = &finished;
    let batch = fanout::settle_all((0..10).map(|i| async move {
        if i == 0 {
            // Parked for good, no wake: in flight when the signal fires.
            std::future::pending::<()>().await;
        }
        yield_once_then_count(finished, i).await
    }))
    .cancel_on(signal);
    let outcomes = futures::executor::block_on(batch);
    assert_eq!(outcomes.len(), 10, "{outcomes:?}");
    let completed = outcomes
        .iter()
        .filter(|o| matches!(o, fanout::Outcome::Completed(_)))
        .count();
    assert_eq!(completed, 3, "{outcomes:?}");
    assert!(
        matches!(outcomes[0], fanout::Outcome::Canceled),
        "{outcomes:?}"
    );
}

/// A graceful stop from inside the fill: the signal fires after 3 instantly
/// ready tasks; nothing more is pulled, and the task in flight (it watches
/// the stop token) ends on its own and is reported.
#[test]
fn a_graceful_signal_in_the_fill_pulls_nothing_more() {
    let stop = fanout::cancel::CancelSource::new();
    let ran = Cell::new(0);
    let pulled = Cell::new(0);
    let signal = fires_at(&ran, 3);
    let (ran, pulled, token) = (&ran, &pulled, stop.token());
    let batch = fanout::settle_all((0..10).map(|i| {
        pulled.set(pulled.get() + 1);
        let token = token.clone();
        async move {
            if i == 0 {
                token.canceled().await;
                return Err::<usize, ()>(());
            }
            ran.set(ran.get() + 1);
            Ok(i)
        }
    }))
    .cancel_on(signal)
    .graceful(&stop);
    let outcomes = futures::executor::block_on(batch);
    assert!(stop.is_canceled());
    assert_eq!(pulled.get(), 4, "pulled after the signal");
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
}

/// Pending once (waking itself), then counts itself in `finished` and is
/// ready with `Ok(i)`.
fn yield_once_then_count(
    finished: &Cell<usize>,
    i: usize,
) -> impl Future<Output = Result<usize, ()>> + '_ {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if !yielded {
            yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        finished.set(finished.get() + 1);
        Poll::Ready(Ok(i))
    })
}

/// Lost wake: a throttled fill that runs out of budget yields with its quota
/// spent; after the yield's round every place is free again, and the fill
/// that goes on pulls nothing (its quota is spent). It must not then count as
/// idle: the batch returned `Pending` with tasks left in the source, nothing
/// in flight and no wake to come. (Found when the fill's counters became
/// marks on `pulled`: the mark was reset at the yield.)
#[test]
fn a_throttled_fill_that_ran_out_of_budget_is_not_idle_after_its_yield() {
    // 300 tasks through a limit of 64: 600 polls, past the budget of
    // 64 + 256 polls of one poll of the batch.
    let finished = Cell::new(0);
    let tasks = (0..300).map(|i| yield_once_then_count(&finished, i));
    let mut batch = pin!(fanout::when_all(tasks).limit(64));
    let (count, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    let outputs = loop {
        let before = count.0.load(Ordering::SeqCst);
        polls += 1;
        match batch.as_mut().poll(&mut cx) {
            Poll::Ready(outputs) => break outputs.unwrap(),
            Poll::Pending => assert!(
                count.0.load(Ordering::SeqCst) > before,
                "Pending with no wake to come after {} of 300 tasks (poll {polls})",
                finished.get()
            ),
        }
        assert!(polls < 100, "no progress");
    };
    assert_eq!(outputs, (0..300).collect::<Vec<_>>());
    assert_eq!(finished.get(), 300);
}

/// Pending until dropped; its `Drop` panics.
struct PendingPanicsInDrop;

impl Future for PendingPanicsInDrop {
    type Output = Result<usize, usize>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

impl Drop for PendingPanicsInDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop of a canceled task panics");
        }
    }
}

/// Issue 25, decided and documented in `fanout::panic`: `catch_panic` does
/// not catch a panic in the `Drop` of a task the batch cancels (the task's
/// outcome is `Canceled` already). It comes out of the batch's poll; polled
/// again, the batch finishes its cancel and resolves with the fault that
/// canceled it.
#[test]
fn a_panic_in_a_canceled_tasks_drop_propagates_through_catch_panic() {
    use fanout::{catch_panic, Failure, TaskError};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let (_, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    // Task 0 in flight when task 1 faults: its drop panics out of the poll.
    type Task = Pin<Box<dyn Future<Output = Result<usize, usize>>>>;
    let tasks: Vec<Task> = vec![
        Box::pin(PendingPanicsInDrop),
        Box::pin(async { Err::<usize, usize>(1) }),
    ];
    let mut batch = pin!(fanout::when_all(tasks.into_iter().map(catch_panic)).fail_fast());
    let first = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)));
    let payload = first.expect_err("the canceled task's drop panic propagates");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"drop of a canceled task panics")
    );
    let second = catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx)))
        .expect("the batch finishes its cancel");
    let Poll::Ready(Err(Failure::Faulted(faults))) = second else {
        panic!("the fault fails the batch")
    };
    assert!(matches!(faults.into_vec()[..], [(1, TaskError::Error(1))]));
}

/// Polls `fut` with a no-op waker, catching panics, until it resolves or
/// `n` polls have passed: each poll's result, as text.
fn drive_catching<F: Future>(fut: F, n: usize) -> Vec<String>
where
    F::Output: std::fmt::Debug,
{
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let mut fut = pin!(fut);
    let (_, waker) = counting();
    let mut cx = Context::from_waker(&waker);
    let mut log = Vec::new();
    for _ in 0..n {
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))) {
            Ok(Poll::Ready(v)) => {
                log.push(format!("ready {v:?}"));
                break;
            }
            Ok(Poll::Pending) => log.push("pending".into()),
            Err(p) => log.push(format!(
                "panic {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        }
    }
    log
}

/// Yields once; then panics in its poll (`poll_panics`) or is ready with
/// `Ok(0)`. Its `Drop` panics: always after a panicking poll, else once it
/// has finished.
struct Bomb {
    polls: u32,
    poll_panics: bool,
}

impl Bomb {
    fn new(poll_panics: bool) -> Self {
        Self {
            polls: 0,
            poll_panics,
        }
    }
}

impl Future for Bomb {
    type Output = Result<u32, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls += 1;
        if self.polls == 1 {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.poll_panics {
            panic!("poll bomb");
        }
        Poll::Ready(Ok(0))
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if self.poll_panics {
            panic!("drop bomb");
        }
        if self.polls >= 2 {
            panic!("drop bomb (finished)");
        }
    }
}

type ResultTask = Pin<Box<dyn Future<Output = Result<u32, ()>>>>;

/// Found in review (issue 25): a task whose poll panicked and whose `Drop`
/// then panicked too, as the next poll dropped it, went unrecorded:
/// `for_each` resolved `Ok(())` without it and `when_each` ended without
/// it. The loss is now recorded before the drop.
#[test]
fn a_lost_task_whose_drop_panics_too_is_still_named() {
    let tasks =
        || -> Vec<ResultTask> { vec![Box::pin(Bomb::new(true)), Box::pin(async { Ok(7) })] };
    let named = |log: &[String]| {
        assert!(!log.iter().any(|l| l.starts_with("ready")), "{log:?}");
        assert!(
            log.last()
                .is_some_and(|l| l.starts_with("panic fanout: task 0 has no result")),
            "{log:?}"
        );
        assert!(log.contains(&"panic drop bomb".to_string()), "{log:?}");
    };
    let mut seen = Vec::new();
    named(&drive_catching(
        fanout::for_each(tasks(), |i, v| seen.push((i, v))),
        10,
    ));
    assert_eq!(seen, [(1, 7)]);
    named(&drive_catching(
        futures::StreamExt::collect::<Vec<_>>(fanout::when_each(tasks())),
        10,
    ));
    // (`first_ok` is won by task 1 in the first poll, and cancels task 0,
    // whose drop's panic then comes out of that poll: a cancel's, not a
    // loss; polled again, the race resolves to its winner.)
    assert_eq!(
        drive_catching(fanout::first_ok(tasks()), 10),
        ["panic drop bomb", "ready Ok((1, 7))"]
    );
}

/// Wakes itself and is pending `left` times, then `Ok(1)`.
struct Slow {
    left: u32,
}

impl Future for Slow {
    type Output = Result<u32, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(Ok(1));
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Found in review (issue 25): under a limit, a task whose `Drop` panicked
/// as it finished left its slot free but out of the free list, so the next
/// pull tried to grow a full block ("min > max") and dropped the tasks it
/// pulled unreported. The slot is now linked when the loss is taken: the
/// other tasks run and are handed out, then the batch names task 0.
#[test]
fn a_finished_tasks_drop_panic_under_a_limit_loses_nothing_else() {
    let tasks = || -> Vec<ResultTask> {
        vec![
            Box::pin(Bomb::new(false)),
            Box::pin(Slow { left: 5 }),
            Box::pin(async { Ok(2) }),
            Box::pin(async { Ok(3) }),
        ]
    };
    let mut seen = Vec::new();
    let log = drive_catching(
        fanout::for_each(tasks(), |i, v| seen.push((i, v))).limit(2),
        20,
    );
    assert!(!log.iter().any(|l| l.contains("min > max")), "{log:?}");
    assert!(
        log.last()
            .is_some_and(|l| l.starts_with("panic fanout: task 0 has no result")),
        "{log:?}"
    );
    seen.sort_unstable();
    assert_eq!(seen, [(1, 1), (2, 2), (3, 3)], "{log:?}");
}

/// Found in review (issue 25): `first_ok` takes several events in one poll,
/// and the tie rule held only between polls: a task pulled after an event
/// and ready at once won over a lower task woken before it. Task 0 wakes
/// itself on its first poll (in the fill), task 1 faults at once (an event
/// in the middle of the fill), task 2 would succeed at once: task 0 wins.
#[test]
fn first_ok_ties_hold_within_one_poll() {
    let tasks: Vec<ResultTask> = vec![
        Box::pin(Slow { left: 1 }),
        Box::pin(async { Err(()) }),
        Box::pin(async { Ok(2) }),
    ];
    let log = drive_catching(fanout::first_ok(tasks), 5);
    assert_eq!(log, ["ready Ok((0, 1))"]);
}

/// Found in review (issue 25): a processor that panicked lost its item: a
/// `for_each` polled again resolved `Ok(())`, and a `for_each_async` polled
/// its panicked future again, forever. The other items are now processed,
/// the panicked call is never resumed, and the batch then names the item.
#[test]
fn a_processor_panic_is_named_not_lost() {
    let tasks =
        || -> Vec<ResultTask> { vec![Box::pin(async { Ok(1) }), Box::pin(async { Ok(2) })] };
    let processed = std::cell::RefCell::new(Vec::new());
    let log = drive_catching(
        fanout::for_each(tasks(), |i, _| {
            if i == 0 {
                panic!("processor panics");
            }
            processed.borrow_mut().push(i);
        }),
        10,
    );
    assert_eq!(log[0], "panic processor panics");
    assert!(
        log.last()
            .is_some_and(|l| l.starts_with("panic fanout: the processor panicked on item 0")),
        "{log:?}"
    );
    assert_eq!(*processed.borrow(), [1]);

    for panics_in in ["call", "future"] {
        processed.borrow_mut().clear();
        let log = drive_catching(
            fanout::for_each_async(tasks(), |i, _| {
                if i == 0 && panics_in == "call" {
                    panic!("processor panics");
                }
                let processed = &processed;
                async move {
                    if i == 0 {
                        panic!("processor panics");
                    }
                    processed.borrow_mut().push(i);
                }
            }),
            10,
        );
        assert_eq!(log[0], "panic processor panics", "{panics_in}");
        assert!(
            !log.iter().any(|l| l.contains("resumed after panicking")),
            "{panics_in}: {log:?}"
        );
        assert!(
            log.last()
                .is_some_and(|l| l.starts_with("panic fanout: the processor panicked on item 0")),
            "{panics_in}: {log:?}"
        );
        assert_eq!(*processed.borrow(), [1], "{panics_in}");
    }
}
