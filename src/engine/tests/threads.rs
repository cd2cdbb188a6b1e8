//! The ready set under real threads: wakers on several threads against the
//! engine draining, the per-slot queued flag, and late wakes racing the drop
//! of the batch. `ci/test miri` runs this module under many seeds
//! (`-Zmiri-many-seeds`), so Miri tries many interleavings and checks each for
//! data races, use after free and leaks; `ci/test loom` checks the same
//! properties exhaustively on smaller models (`src/engine/loom.rs`).

use super::super::ready::ReadySet;
use super::{counting_waker, drain};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::Waker;

extern crate std;

/// Several threads wake distinct slots while the engine drains rounds: every
/// slot comes out exactly once — never lost, never doubled.
#[test]
fn wakes_from_other_threads_are_never_lost() {
    let n = if cfg!(miri) { 40 } else { 5_000 };
    let threads = 4;
    let set = ReadySet::new(n);
    let (_, parent) = counting_waker();
    set.register(&parent);
    let wakers: Vec<Waker> = (0..n).map(|slot| set.waker(slot).clone()).collect();
    let wakers = Arc::new(wakers);
    let mut seen = alloc::vec![0usize; n];
    std::thread::scope(|scope| {
        for t in 0..threads {
            let wakers = wakers.clone();
            scope.spawn(move || {
                for slot in (t..n).step_by(threads) {
                    wakers[slot].wake_by_ref();
                }
            });
        }
        // Drain concurrently with the wakers.
        for _ in 0..50 {
            for slot in drain(&set) {
                seen[slot] += 1;
            }
        }
    });
    for slot in drain(&set) {
        seen[slot] += 1;
    }
    // Each slot was woken once, so it is seen exactly once: never lost, never
    // doubled.
    assert!(seen.iter().all(|&s| s == 1));
}

/// The engine's loop when every round waits: register, take a round, and
/// sleep until the parent is woken when the round was empty. (The engine
/// itself takes a round before it registers, then looks once more before it
/// waits: loom model 5.) Threads wake
/// slots spread over both levels of the set; the engine must see every one
/// without ever polling blindly — each empty round is followed by a wait that
/// only a real wake of the parent ends.
#[test]
fn the_engine_sleeps_only_when_a_wake_will_come() {
    let n = if cfg!(miri) { 130 } else { 4_097 };
    let threads = 3;
    let set = ReadySet::new(n);
    let (parent_count, parent) = counting_waker();
    let wakers: Vec<Waker> = (0..n).map(|slot| set.waker(slot).clone()).collect();
    let mut seen = alloc::vec![false; n];
    let mut left = n;
    std::thread::scope(|scope| {
        for chunk in wakers.chunks(n.div_ceil(threads)) {
            scope.spawn(move || {
                // From the top of the chunk down, so leaf words and their
                // summary bits are set in every order.
                for waker in chunk.iter().rev() {
                    waker.wake_by_ref();
                }
            });
        }
        while left > 0 {
            let before = parent_count.0.load(Ordering::SeqCst);
            set.register(&parent);
            let round = drain(&set);
            if round.is_empty() {
                // Nothing yet: a wake still to come must wake the parent.
                while parent_count.0.load(Ordering::SeqCst) == before {
                    std::thread::yield_now();
                }
                continue;
            }
            for slot in round {
                assert!(!seen[slot], "slot {slot} came out twice");
                seen[slot] = true;
                left -= 1;
            }
        }
    });
    assert!(drain(&set).is_empty());
}

/// The queued flag never loses a wake: threads publish a value and then wake
/// the *same* slot while the engine drains it. Whenever the engine's last look
/// at the slot may have missed a value, the slot is queued again.
#[test]
fn the_queued_flag_never_loses_a_wake() {
    let threads = 3;
    let rounds = if cfg!(miri) { 3 } else { 1_000 };
    let set = ReadySet::new(65);
    let (_, parent) = counting_waker();
    set.register(&parent);
    let published: Vec<AtomicUsize> = (0..threads).map(|_| AtomicUsize::new(0)).collect();
    let waker = set.waker(64).clone();
    let finished = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for value in &published {
            let (waker, finished) = (waker.clone(), &finished);
            scope.spawn(move || {
                for round in 1..=rounds {
                    value.store(round, Ordering::Release);
                    waker.wake_by_ref();
                }
                finished.fetch_add(1, Ordering::Release);
            });
        }
        // "Poll" the slot each time it comes out: read what was published.
        let mut last = alloc::vec![0; threads];
        loop {
            let all_finished = finished.load(Ordering::Acquire) == threads;
            if drain(&set) == [64] {
                for (seen, value) in last.iter_mut().zip(&published) {
                    *seen = value.load(Ordering::Acquire);
                }
            }
            if all_finished {
                // Every thread's last wake returned before this round began:
                // had one been lost, the slot would not have come out and a
                // value would be stale.
                assert!(last.iter().all(|&v| v == rounds));
                break;
            }
        }
    });
}

/// Clones of slot wakers, woken and dropped on other threads while the engine
/// drops the batch: no use after free, no data race, the last reference frees
/// the set (Miri's leak check), and no clone of the engine's waker outlives
/// it. (That a wake *after* the drop reaches nobody is the loom model's job:
/// here another thread's wake may still be delivering when the drop returns.)
#[test]
fn late_wakes_race_the_drop_of_the_batch() {
    let threads = 3;
    let set = ReadySet::new(70);
    let (parent_count, parent) = counting_waker();
    set.register(&parent);
    let wakers: Vec<Waker> = (0..threads).map(|t| set.waker(t * 30).clone()).collect();
    std::thread::scope(|scope| {
        for waker in wakers {
            scope.spawn(move || {
                waker.wake_by_ref();
                waker.wake();
            });
        }
        drop(set);
    });
    drop(parent);
    assert_eq!(Arc::strong_count(&parent_count), 1);
}

/// The engine's drop of its set (which folds the count of its own thread
/// into the shared one) races another thread that wakes and drops wakers
/// cloned on the engine's thread during a run (counted there, given up
/// here with atomics), while a third reference was made outside the run and
/// given up in it (a local count of -1). In every interleaving Miri tries,
/// the set is freed once, by whichever side goes last — no leak, no use
/// after free. (loom cannot see this: without thread-locals no reference is
/// ever counted locally.)
#[test]
fn the_drop_of_the_set_races_wakers_counted_on_its_thread() {
    use super::super::self_wake::Running;
    let (parent_count, parent) = counting_waker();
    let set = ReadySet::first(2);
    set.register(&parent);
    let (first, second) = {
        let _run = Running::enter(set.owner());
        (set.waker(0).clone(), set.waker(1).clone())
    };
    let outside = set.waker(1).clone();
    {
        let _run = Running::enter(set.owner());
        drop(outside);
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            first.wake_by_ref();
            drop(first);
            second.wake();
        });
        drop(set);
    });
    drop(parent);
    assert_eq!(Arc::strong_count(&parent_count), 1);
}
