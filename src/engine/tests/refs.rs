//! References to a ready set: counted in `local_refs` with plain loads and
//! stores when a waker is cloned or dropped on the engine's thread while it
//! runs, in `refs` with atomics anywhere else (`ready`, "Reference counts").
//! Only the sum means anything, so a reference may be made on one side and
//! given up on the other; every test here ends with the set freed exactly
//! once, which Miri checks (no leak, no use after free).

use super::super::ready::{Owner, ReadySet, ENGINE_REFS, MAX_REFS};
use super::super::self_wake::{self, Running};
use super::counting_waker;
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::cell::{Cell, RefCell};
use core::future::Future;
use core::panic::AssertUnwindSafe;
use core::pin::{pin, Pin};
use core::sync::atomic::Ordering;
use core::task::{Context, Poll, Waker};
use std::panic::catch_unwind;

extern crate std;

/// Whether this build counts on the engine's thread at all: it needs the
/// thread-local of `self_wake` (the `std` feature); without it every
/// reference is counted in `refs`.
const LOCAL: bool = cfg!(feature = "std");

#[test]
fn a_clone_and_a_drop_in_the_run_are_counted_on_its_thread() {
    let set = ReadySet::first(4);
    let run = Running::enter(set.owner());
    let waker = set.waker(0).clone();
    let again = waker.clone();
    if LOCAL {
        assert_eq!(set.counts(), (ENGINE_REFS, 2), "no atomic touched");
    } else {
        assert_eq!(set.counts(), (ENGINE_REFS + 2, 0));
    }
    drop(waker);
    drop(again);
    assert_eq!(set.counts(), (ENGINE_REFS, 0));
    drop(run);
}

/// The same with a set whose header sits after padding (1,000 slots: a
/// multiple of 1,024 bytes): wakers count locally by the header's address,
/// which is the owner token.
#[test]
fn a_padded_first_set_counts_its_run_s_clones_locally() {
    let set = ReadySet::first(1000);
    let run = Running::enter(set.owner());
    let wakers: Vec<Waker> = [0, 500, 999]
        .iter()
        .map(|&s| set.waker(s).clone())
        .collect();
    if LOCAL {
        assert_eq!(set.counts(), (ENGINE_REFS, 3), "no atomic touched");
    } else {
        assert_eq!(set.counts(), (ENGINE_REFS + 3, 0));
    }
    drop(wakers);
    assert_eq!(set.counts(), (ENGINE_REFS, 0));
    drop(run);
}

#[test]
fn a_clone_made_in_the_run_may_be_dropped_on_another_thread() {
    let set = ReadySet::first(4);
    let waker = {
        let _run = Running::enter(set.owner());
        set.waker(1).clone()
    };
    std::thread::scope(|scope| {
        scope.spawn(move || drop(waker));
    });
    // Made on one side, given up on the other: the sum says none is left,
    // and the drop of the set frees it.
    if LOCAL {
        assert_eq!(set.counts(), (ENGINE_REFS - 1, 1));
    } else {
        assert_eq!(set.counts(), (ENGINE_REFS, 0));
    }
}

#[test]
fn a_clone_made_outside_the_run_may_be_dropped_in_it() {
    let set = ReadySet::first(4);
    let waker = set.waker(2).clone();
    assert_eq!(set.counts(), (ENGINE_REFS + 1, 0), "no run: atomics");
    {
        let _run = Running::enter(set.owner());
        drop(waker);
    }
    if LOCAL {
        // A local count of -1.
        assert_eq!(set.counts(), (ENGINE_REFS + 1, usize::MAX));
    } else {
        assert_eq!(set.counts(), (ENGINE_REFS, 0));
    }
}

#[test]
fn a_clone_made_in_the_run_outlives_the_engine() {
    let (parent_count, parent) = counting_waker();
    let set = ReadySet::first(4);
    set.register(&parent);
    let wakers = {
        let _run = Running::enter(set.owner());
        [set.waker(3).clone(), set.waker(0).clone()]
    };
    // The engine gives up its count less the two local ones: `refs` alone
    // counts the two wakers from now on.
    drop(set);
    std::thread::scope(|scope| {
        for waker in wakers {
            scope.spawn(move || {
                waker.wake_by_ref();
                drop(waker);
            });
        }
    });
    // Nobody was woken (the engine is gone), and the last waker freed the
    // set, with the clone of the engine's waker it held.
    assert_eq!(parent_count.0.load(Ordering::SeqCst), 0);
    drop(parent);
    assert_eq!(Arc::strong_count(&parent_count), 1);
}

#[test]
fn a_later_block_counts_every_reference_with_atomics() {
    // A later block's owner token is its first set's address, which a new
    // engine may take once that set is freed: its wakers never count
    // locally, even while the engine runs.
    let first = ReadySet::first(2);
    let (later, _) = ReadySet::with_tail(2, Layout::new::<()>(), Owner::SameAs(first.owner()));
    let run = Running::enter(first.owner());
    let waker = later.waker(0).clone();
    assert_eq!(later.counts(), (ENGINE_REFS + 1, 0));
    drop(waker);
    assert_eq!(later.counts(), (ENGINE_REFS, 0));
    drop(run);
}

#[test]
fn a_clone_past_the_limit_panics_and_counts_nothing() {
    let set = ReadySet::first(1);
    let full = (usize::MAX - MAX_REFS + 1, 0);
    set.set_counts(full);
    let cloned = catch_unwind(AssertUnwindSafe(|| set.waker(0).clone()));
    assert!(cloned.is_err(), "past the limit of `refs`");
    assert_eq!(set.counts(), full, "the failed clone took nothing");
    if LOCAL {
        let full = (ENGINE_REFS, MAX_REFS);
        set.set_counts(full);
        let run = Running::enter(set.owner());
        let cloned = catch_unwind(AssertUnwindSafe(|| set.waker(0).clone()));
        drop(run);
        assert!(cloned.is_err(), "past the limit of `local_refs`");
        assert_eq!(set.counts(), full, "the failed clone took nothing");
    }
    // No waker is alive: back to the engine's own count, to be freed.
    set.set_counts((ENGINE_REFS, 0));
}

/// A task that keeps a clone of its waker, and notes when it is dropped
/// whether an engine was running on this thread.
struct KeepsItsWaker {
    waker: Option<Waker>,
    dropped_in_a_run: Rc<Cell<usize>>,
}

impl Future for KeepsItsWaker {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for KeepsItsWaker {
    fn drop(&mut self) {
        if self_wake::current() != 0 {
            self.dropped_in_a_run.set(self.dropped_in_a_run.get() + 1);
        }
    }
}

#[test]
fn a_dropped_batch_drops_its_tasks_in_a_run() {
    let dropped_in_a_run = Rc::new(Cell::new(0));
    {
        let tasks = (0..3).map(|_| KeepsItsWaker {
            waker: None,
            dropped_in_a_run: dropped_in_a_run.clone(),
        });
        let mut batch = pin!(crate::join_all(tasks));
        let (_, waker) = counting_waker();
        assert!(batch
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    // So each task's waker, cloned in the run, was given up in one too:
    // no atomic at either end.
    assert_eq!(dropped_in_a_run.get(), if LOCAL { 3 } else { 0 });
    assert_eq!(self_wake::current(), 0, "the run ended with the drop");
}

/// What a task does with its waker when it is dropped.
#[derive(Clone, Copy, Debug)]
enum OnDrop {
    /// Keeps a clone of it.
    Keep,
    /// Wakes it by value.
    Wake,
    /// Wakes it, then keeps it.
    WakeThenKeep,
}

/// A task that parks a clone of its waker, and does `on_drop` with it when
/// dropped, keeping wakers in `kept`.
struct ParksItsWaker {
    waker: Option<Waker>,
    on_drop: OnDrop,
    kept: Rc<RefCell<Vec<Waker>>>,
}

impl Future for ParksItsWaker {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for ParksItsWaker {
    fn drop(&mut self) {
        let Some(waker) = self.waker.take() else {
            return;
        };
        match self.on_drop {
            OnDrop::Keep => self.kept.borrow_mut().push(waker.clone()),
            OnDrop::Wake => waker.wake(),
            OnDrop::WakeThenKeep => {
                waker.wake_by_ref();
                self.kept.borrow_mut().push(waker);
            }
        }
    }
}

#[test]
fn wakers_kept_by_dropped_tasks_outlive_the_batch_anywhere() {
    // Clones made in the drop of the batch (its run) outlive it: the batch
    // folds them into the shared count, and the last of them frees the set,
    // whether it is dropped here, on another thread, or inside another
    // batch's run.
    for on_drop in [OnDrop::Keep, OnDrop::Wake, OnDrop::WakeThenKeep] {
        let kept: Rc<RefCell<Vec<Waker>>> = Rc::default();
        {
            let tasks = (0..6).map(|_| ParksItsWaker {
                waker: None,
                on_drop,
                kept: kept.clone(),
            });
            let mut batch = pin!(crate::join_all(tasks));
            let (_, waker) = counting_waker();
            let polled = batch.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(polled.is_pending());
        }
        let mut kept = kept.take();
        let want = match on_drop {
            OnDrop::Wake => 0,
            _ => 6,
        };
        assert_eq!(kept.len(), want, "{on_drop:?}");
        let elsewhere = kept.split_off(kept.len() / 2);
        let inside = kept.split_off(kept.len() / 2);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for waker in elsewhere {
                    waker.wake();
                }
            });
        });
        {
            // Dropped while another batch runs on this thread: not its
            // engine, so counted with atomics.
            let other = ReadySet::first(1);
            let _run = Running::enter(other.owner());
            drop(inside);
        }
        drop(kept);
    }
}

#[test]
fn nested_batches_count_each_others_wakers_right() {
    // Each inner batch registers the outer slot's waker as its parent (a
    // clone made in the outer run) and its tasks park theirs (clones made in
    // the inner runs); dropping the outer batch drops the inner ones inside
    // its run. Every set is freed exactly once (Miri).
    let kept: Rc<RefCell<Vec<Waker>>> = Rc::default();
    {
        let inner = (0..3).map(|_| {
            crate::join_all((0..4).map(|_| ParksItsWaker {
                waker: None,
                on_drop: OnDrop::Keep,
                kept: kept.clone(),
            }))
        });
        let mut outer = pin!(crate::join_all(inner));
        let (_, waker) = counting_waker();
        assert!(outer
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    let kept = kept.take();
    assert_eq!(kept.len(), 12);
    std::thread::scope(|scope| {
        scope.spawn(move || drop(kept));
    });
}

/// A racer that wins on its first poll, or parks a clone of its waker and
/// notes, when dropped, whether an engine was running on this thread.
struct Racer {
    wins: bool,
    parked: KeepsItsWaker,
}

impl Future for Racer {
    type Output = Result<u32, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.wins {
            return Poll::Ready(Ok(7));
        }
        Pin::new(&mut self.parked).poll(cx).map(|()| Ok(0))
    }
}

#[test]
fn a_cancel_between_two_polls_drops_the_tasks_in_a_run() {
    // `first_ok` cancels the losers as soon as it has a winner, from its own
    // poll, between two polls of the engine: they are dropped as in a run
    // all the same, so their wakers are given up without atomics.
    let dropped_in_a_run = Rc::new(Cell::new(0));
    let racers = (0..4).map(|i| Racer {
        wins: i == 3,
        parked: KeepsItsWaker {
            waker: None,
            dropped_in_a_run: dropped_in_a_run.clone(),
        },
    });
    let mut race = pin!(crate::first_ok(racers));
    let (_, waker) = counting_waker();
    let won = race.as_mut().poll(&mut Context::from_waker(&waker));
    assert_eq!(won, Poll::Ready(Ok((3, 7))));
    // The winner too was dropped as it finished, inside the run.
    assert_eq!(dropped_in_a_run.get(), if LOCAL { 4 } else { 0 });
}
