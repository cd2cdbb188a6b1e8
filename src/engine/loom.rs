//! Loom models of the ready set and the parent waker: every interleaving of
//! wakes from other threads against the engine's register-then-take rounds.
//! Run by `ci/test` as `RUSTFLAGS="--cfg fanout_loom" cargo test --lib --release`.

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

/// Two threads wake two slots of a two-level set (65 slots: leaves and a top)
/// while the engine registers and drains. Whatever the interleaving: a wake
/// that the first round missed has woken the parent, and every slot is seen
/// exactly once.
#[test]
fn wakes_racing_a_round_are_never_lost() {
    loom::model(|| {
        let set = Arc::new(ReadySet::prepared(65));
        let parent = std::sync::Arc::new(Parent(AtomicUsize::new(0)));
        let parent_waker = Waker::from(parent.clone());
        let wakers: Vec<Waker> = [0, 64]
            .iter()
            .map(|&slot| set.waker(slot).clone())
            .collect();
        let threads: Vec<_> = wakers
            .into_iter()
            .map(|waker| thread::spawn(move || waker.wake()))
            .collect();
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

/// The same slot woken from two threads at once is queued once.
#[test]
fn a_slot_is_queued_once() {
    loom::model(|| {
        let set = Arc::new(ReadySet::prepared(2));
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

/// A waker cloned from the set and woken on another thread while the engine
/// drops the set: no use after free, the last reference frees it.
#[test]
fn a_wake_racing_the_drop_of_the_batch() {
    loom::model(|| {
        let set = ReadySet::prepared(1);
        let waker = set.waker(0).clone();
        let t = thread::spawn(move || waker.wake());
        drop(set);
        t.join().unwrap();
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
