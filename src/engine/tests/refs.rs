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
use core::alloc::Layout;
use core::cell::Cell;
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
    let set = ReadySet::first_prepared(4);
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

#[test]
fn a_clone_made_in_the_run_may_be_dropped_on_another_thread() {
    let set = ReadySet::first_prepared(4);
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
    let set = ReadySet::first_prepared(4);
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
    let set = ReadySet::first_prepared(4);
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
    let first = ReadySet::first_prepared(2);
    let (later, _) = ReadySet::with_tail(2, Layout::new::<()>(), Owner::SameAs(first.owner()));
    later.prepare(0);
    let run = Running::enter(first.owner());
    let waker = later.waker(0).clone();
    assert_eq!(later.counts(), (ENGINE_REFS + 1, 0));
    drop(waker);
    assert_eq!(later.counts(), (ENGINE_REFS, 0));
    drop(run);
}

#[test]
fn a_clone_past_the_limit_panics_and_counts_nothing() {
    let set = ReadySet::first_prepared(1);
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
