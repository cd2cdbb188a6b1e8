//! Loom models of the ready set and the parent waker: every interleaving of
//! wakes from other threads against the engine's register-then-take rounds.
//! Run by `ci/test loom` as
//! `RUSTFLAGS="--cfg fanout_loom" cargo test --lib --release`.
//!
//! The three properties the engine relies on, one model each, plus one for
//! deduplication:
//!
//! 1. several threads waking while the engine drains lose no wake
//!    ([`wakes_racing_a_round_are_never_lost`]);
//! 2. the per-slot queued flag never swallows a wake the engine has not seen
//!    ([`the_queued_flag_never_loses_a_wake`]);
//! 3. a wake after the batch is dropped is harmless
//!    ([`a_wake_after_the_batch_is_dropped`]);
//! 4. a slot woken twice at once is queued once ([`a_slot_is_queued_once`]);
//! 5. a batch that takes a round before it has ever registered a waker, then
//!    registers and looks at its set before it waits, misses no wake
//!    ([`a_late_registration_then_a_look_loses_no_wake`]).

use super::ready::{ReadySet, BITS};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use std::task::{Wake, Waker};
use std::vec::Vec;

extern crate std;

/// A parent waker that counts its wakes with a loom atomic.
struct Parent(AtomicUsize);

impl Wake for Parent {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn drain(set: &ReadySet, seen: &mut Vec<usize>) {
    let mut taken = Vec::new();
    set.take_round(0, &mut taken);
    for (_, word, mut bits) in taken {
        while bits != 0 {
            seen.push(word * BITS + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
}

/// A two-level set (65 slots: leaves and a top word), a counting parent
/// waker (not registered yet), and two threads that wake slots 0 and 64.
#[allow(clippy::type_complexity)]
fn two_threads_waking() -> (
    Arc<ReadySet>,
    std::sync::Arc<Parent>,
    Waker,
    Vec<thread::JoinHandle<()>>,
) {
    let set = Arc::new(ReadySet::new(65));
    let parent = std::sync::Arc::new(Parent(AtomicUsize::new(0)));
    let parent_waker = Waker::from(parent.clone());
    let threads = [0, 64]
        .iter()
        .map(|&slot| {
            let waker = set.waker(slot).clone();
            thread::spawn(move || waker.wake())
        })
        .collect();
    (set, parent, parent_waker, threads)
}

/// Property 1: two threads wake two slots of a two-level set (65 slots:
/// leaves and a top word) while the engine registers and drains. Whatever the
/// interleaving: a wake that the first round missed has woken the parent, and
/// every slot is seen exactly once.
#[test]
fn wakes_racing_a_round_are_never_lost() {
    loom::model(|| {
        let (set, parent, parent_waker, threads) = two_threads_waking();
        set.register(&parent_waker);
        let mut seen = Vec::new();
        drain(&set, &mut seen);
        let woken_before = parent.0.load(Ordering::SeqCst);
        for thread in threads {
            thread.join().unwrap();
        }
        if seen.len() < 2 {
            // Something arrived after our take: it must have woken us.
            assert!(parent.0.load(Ordering::SeqCst) > woken_before || woken_before > 0);
            drain(&set, &mut seen);
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 64]);
    });
}

/// Property 5: the engine registers its waker only when it is about to wait
/// (a batch that never waits never clones it), so its first rounds are taken
/// with no waker registered at all. Before waiting it registers, then looks
/// at the top word: whatever the interleaving, a wake the rounds missed is
/// either seen by that look or wakes the newly registered waker.
#[test]
fn a_late_registration_then_a_look_loses_no_wake() {
    loom::model(|| {
        let (set, parent, parent_waker, threads) = two_threads_waking();
        let mut seen = Vec::new();
        // A round with nothing registered yet.
        drain(&set, &mut seen);
        set.register(&parent_waker);
        let looked = set.any_woken();
        for thread in threads {
            thread.join().unwrap();
        }
        if seen.len() < 2 && !looked {
            // The engine would wait now: it must have been woken.
            assert!(parent.0.load(Ordering::SeqCst) > 0, "a wake was lost");
        }
        drain(&set, &mut seen);
        seen.sort_unstable();
        assert_eq!(seen, [0, 64]);
    });
}

/// Property 2: the queued flag never loses a wake. Slot 64 is already queued
/// (its flag is set) when another thread publishes a value and wakes the slot
/// again, while the engine registers, takes a round and "polls" the slot (reads
/// the value). If the poll missed the value, the second wake was not absorbed
/// by the flag the engine had just cleared: the slot is queued again, and the
/// engine's waker was woken so that it comes back for it.
#[test]
fn the_queued_flag_never_loses_a_wake() {
    loom::model(|| {
        let set = ReadySet::new(65);
        let parent = std::sync::Arc::new(Parent(AtomicUsize::new(0)));
        let parent_waker = Waker::from(parent.clone());
        let value = Arc::new(AtomicUsize::new(0));
        let waker = set.waker(64).clone();
        waker.wake_by_ref();
        let t = {
            let value = value.clone();
            thread::spawn(move || {
                value.store(1, Ordering::Release);
                waker.wake();
            })
        };
        set.register(&parent_waker);
        let mut seen = Vec::new();
        drain(&set, &mut seen);
        assert_eq!(seen, [64]);
        let polled = value.load(Ordering::Acquire);
        t.join().unwrap();
        let mut again = Vec::new();
        drain(&set, &mut again);
        if polled == 0 {
            assert_eq!(again, [64]);
            assert_eq!(parent.0.load(Ordering::SeqCst), 1);
        }
    });
}

/// Property 4: the same slot woken from two threads at once is queued once.
#[test]
fn a_slot_is_queued_once() {
    loom::model(|| {
        let set = Arc::new(ReadySet::new(2));
        let a = set.waker(1).clone();
        let b = set.waker(1).clone();
        let t = thread::spawn(move || a.wake());
        b.wake();
        t.join().unwrap();
        let mut seen = Vec::new();
        drain(&set, &mut seen);
        assert_eq!(seen, [1]);
    });
}

/// Property 3: a wake after the batch is dropped. A clone of a slot's waker
/// outlives the engine's set and is woken (and dropped) on another thread
/// while, or after, the engine drops the set. In every interleaving the
/// reference count frees the allocation exactly once, a wake that begins after
/// the drop returned does not wake the engine's task (the set forgot it), and
/// no clone of the engine's waker is left behind.
#[test]
fn a_wake_after_the_batch_is_dropped() {
    loom::model(|| {
        let set = ReadySet::new(1);
        let parent = std::sync::Arc::new(Parent(AtomicUsize::new(0)));
        let parent_waker = Waker::from(parent.clone());
        set.register(&parent_waker);
        let dropped = Arc::new(AtomicUsize::new(0));
        let waker = set.waker(0).clone();
        let t = {
            let (dropped, parent) = (dropped.clone(), parent.clone());
            thread::spawn(move || {
                let after = dropped.load(Ordering::SeqCst) == 1;
                waker.wake();
                if after {
                    assert_eq!(parent.0.load(Ordering::SeqCst), 0);
                }
            })
        };
        drop(set);
        dropped.store(1, Ordering::SeqCst);
        t.join().unwrap();
        drop(parent_waker);
        assert_eq!(std::sync::Arc::strong_count(&parent), 1);
    });
}

/// A waker that counts its wakes (any thread) and lets tests see when it is
/// dropped (through its `Arc`'s strong count).
fn counting() -> (std::sync::Arc<Parent>, Waker) {
    let parent = std::sync::Arc::new(Parent(AtomicUsize::new(0)));
    let waker = Waker::from(parent.clone());
    (parent, waker)
}

/// The parent waker's protocol with a waker change: a child sets its flag and
/// wakes while the engine replaces waker A by waker B, then checks the flag.
/// If the engine's check missed the flag, B was woken: the engine, now
/// waiting on B, is polled again.
#[test]
fn a_wake_racing_a_new_parent_waker_is_not_lost() {
    use super::parent_waker::ParentWaker;
    loom::model(|| {
        let parent = Arc::new(ParentWaker::new());
        let flag = Arc::new(AtomicUsize::new(0));
        let (_a, waker_a) = counting();
        let (b, waker_b) = counting();
        parent.register(&waker_a);
        let child = {
            let (parent, flag) = (parent.clone(), flag.clone());
            thread::spawn(move || {
                flag.store(1, Ordering::Release);
                parent.wake();
            })
        };
        parent.register(&waker_b);
        let seen = flag.load(Ordering::Acquire) == 1;
        child.join().unwrap();
        if !seen {
            assert!(b.0.load(Ordering::SeqCst) >= 1, "a wake was lost");
        }
    });
}

/// Two children wake at once, each after setting its flag, while the engine
/// checks both flags after registering: a flag the engine missed was followed
/// by a wake of the registered waker (a leader wakes again for a wake that
/// arrived while it was waking).
#[test]
fn concurrent_wakes_are_each_followed_by_a_wake() {
    use super::parent_waker::ParentWaker;
    loom::model(|| {
        let parent = Arc::new(ParentWaker::new());
        let flags = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let (counter, waker) = counting();
        parent.register(&waker);
        // Wakes delivered before the engine looks at the flags.
        let children: Vec<_> = (0..2)
            .map(|i| {
                let (parent, flags) = (parent.clone(), flags.clone());
                thread::spawn(move || {
                    flags[i].store(1, Ordering::Release);
                    parent.wake();
                })
            })
            .collect();
        let before = counter.0.load(Ordering::SeqCst);
        parent.register(&waker);
        let seen = flags
            .iter()
            .filter(|f| f.load(Ordering::Acquire) == 1)
            .count();
        for child in children {
            child.join().unwrap();
        }
        if seen < 2 {
            assert!(counter.0.load(Ordering::SeqCst) > before, "a wake was lost");
        }
    });
}

/// A child wakes while the engine closes the parent waker: the registered
/// waker is dropped exactly once whoever wins (the engine, or the busy leader
/// when it sees the close), so the task that polled the batch is not kept
/// alive by a late wake.
#[test]
fn a_wake_racing_the_close_drops_the_waker() {
    use super::parent_waker::ParentWaker;
    loom::model(|| {
        let parent = Arc::new(ParentWaker::new());
        let (counter, waker) = counting();
        parent.register(&waker);
        drop(waker);
        let child = {
            let parent = parent.clone();
            thread::spawn(move || parent.wake())
        };
        parent.clear();
        child.join().unwrap();
        assert_eq!(
            std::sync::Arc::strong_count(&counter),
            1,
            "waker kept alive"
        );
        // Wakes after the close do nothing.
        let before = counter.0.load(Ordering::SeqCst);
        parent.wake();
        assert_eq!(counter.0.load(Ordering::SeqCst), before);
    });
}
