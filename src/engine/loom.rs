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
        let set = Arc::new(ReadySet::new(65));
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

/// A waker cloned from the set and woken on another thread while the engine
/// drops the set: no use after free, the last reference frees it.
#[test]
fn a_wake_racing_the_drop_of_the_batch() {
    loom::model(|| {
        let set = ReadySet::new(1);
        let waker = set.waker(0).clone();
        let t = thread::spawn(move || waker.wake());
        drop(set);
        t.join().unwrap();
    });
}
