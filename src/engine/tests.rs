//! Unit tests of the ready set, the slots and the engine. They run under Miri
//! (`cargo +nightly miri test --lib`) with reduced sizes, which is what checks
//! the raw-waker code for undefined behaviour.

use super::ready::{ReadySet, BITS};
use super::{block_size, Engine, Event};
use crate::signal::NoSignal;
use crate::source::{IntoSource, Source};
use alloc::sync::Arc;
use alloc::task::Wake;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::{pin, Pin};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

extern crate std;

/// The threaded tests of the ready set, which `ci/test miri` also runs under
/// many schedules (`-Zmiri-many-seeds`).
mod threads;

/// Wakes on the engine's own thread while it runs (`self_wake`).
mod self_wake;

/// References to a ready set, counted on the engine's thread while it runs
/// or with atomics elsewhere (`ready`, "Reference counts").
mod refs;

/// Sizes that cover one, two and three levels of the bit set (with 64-bit
/// words) but stay quick under Miri.
#[cfg(not(miri))]
const SIZES: &[usize] = &[1, 2, 63, 64, 65, 4095, 4096, 4097, 70_000];
#[cfg(miri)]
const SIZES: &[usize] = &[1, 2, 63, 64, 65, 130];

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let count = Arc::new(CountingWaker::default());
    (count.clone(), Waker::from(count))
}

fn drain(set: &ReadySet) -> Vec<usize> {
    let mut taken = Vec::new();
    set.take_round(0, &mut taken);
    let mut out = Vec::new();
    for (_, word, mut bits) in taken {
        while bits != 0 {
            out.push(word * BITS + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
    out
}

/// A cheap deterministic shuffle (xorshift), so tests need no `rand`.
fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    v
}

#[test]
fn wakes_come_out_once_each_in_slot_order() {
    for &n in SIZES {
        let set = ReadySet::new(n);
        let (count, parent) = counting_waker();
        set.register(&parent);
        let order = shuffled(n, n as u64 + 1);
        for &slot in &order {
            set.waker(slot).wake_by_ref();
            // A second wake of a queued slot is absorbed by its flag.
            set.waker(slot).wake_by_ref();
        }
        let drained = drain(&set);
        assert_eq!(drained, (0..n).collect::<Vec<_>>(), "n = {n}");
        // The parent was woken once: only the first wake made the set non-empty.
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "n = {n}");
        assert!(drain(&set).is_empty());
    }
}

/// A waker is its set's header address plus its slot, resolved through the
/// vtable of the set's alignment (`ready`, "Wakers"): at each side of every
/// power of two up to 2^12 (2^7 under Miri), clones of the first, a middle
/// and the last slot's waker find their own set and slot, wake it by value,
/// and give their reference back; clones of one slot's waker are
/// `will_wake` equal; and a clone that outlives its set is the last
/// reference, which frees the allocation from before its header (Miri
/// checks the free). Some of these sets have padding before their header.
#[test]
fn every_alignment_resolves_its_wakers_to_their_own_set_and_slot() {
    let top = if cfg!(miri) { 7 } else { 12 };
    let mut padded = 0;
    for shift in 0..=top {
        for n in [
            (1usize << shift).saturating_sub(1).max(1),
            1 << shift,
            (1 << shift) + 1,
        ] {
            let set = ReadySet::new(n);
            padded += usize::from(set.padding() > 0);
            // A second set of the same size, alive at the same time: its
            // wakers must not reach the first.
            let other = ReadySet::new(n);
            let (count, parent) = counting_waker();
            set.register(&parent);
            let before = set.counts();
            let mut slots = [0, n / 2, n - 1].to_vec();
            slots.dedup();
            let kept: Vec<Waker> = slots.iter().map(|&slot| set.waker(slot).clone()).collect();
            assert!(kept[kept.len() - 1].will_wake(&set.waker(n - 1)), "n = {n}");
            assert!(
                !kept[kept.len() - 1].will_wake(&other.waker(n - 1)),
                "n = {n}"
            );
            assert_eq!(set.counts().0, before.0 + slots.len(), "n = {n}");
            for waker in kept {
                waker.wake();
            }
            assert_eq!(set.counts(), before, "n = {n}");
            assert_eq!(count.0.load(Ordering::SeqCst), 1, "n = {n}");
            assert_eq!(drain(&set), slots, "n = {n}");
            assert!(drain(&other).is_empty(), "n = {n}");
            // The last reference: a waker, after the set.
            let late = set.waker(n - 1).clone();
            drop(set);
            late.wake_by_ref();
            drop(late);
        }
    }
    assert!(padded > 0, "no set had padding before its header");
}

/// The block's slots live in the set's tail: whatever the set's padding, a
/// tail aligned to 64 or 4,096 bytes is aligned, and every byte of it is
/// inside the allocation (written here; Miri checks the bounds).
#[test]
fn a_tail_is_aligned_and_in_bounds_after_any_padding() {
    use super::ready::Owner;
    use core::alloc::Layout;
    for align in [1, 8, 64, 4096] {
        for n in [1, 9, 100, 1000] {
            let tail = Layout::from_size_align(3 * n, align).unwrap();
            let (set, at) = ReadySet::with_tail(n, tail, Owner::Nobody);
            assert_eq!(at.as_ptr() as usize % align, 0, "align {align}, n = {n}");
            // SAFETY: `with_tail` gives `3 * n` bytes at `at`, the tail's.
            unsafe { core::ptr::write_bytes(at.as_ptr(), 0xA5, 3 * n) };
            set.waker(n - 1).wake_by_ref();
            assert_eq!(drain(&set), [n - 1], "align {align}, n = {n}");
        }
    }
}

#[test]
fn a_round_is_one_snapshot_later_wakes_go_to_the_next() {
    let n = SIZES[SIZES.len() - 1];
    let set = ReadySet::new(n);
    for slot in [0, n / 2] {
        set.waker(slot).wake_by_ref();
    }
    let mut taken = Vec::new();
    set.take_round(0, &mut taken);
    // Woken after the snapshot: slot 0 again (already visited), and slot n - 1
    // (not reached yet). Neither joins this round.
    set.waker(0).wake_by_ref();
    set.waker(n - 1).wake_by_ref();
    let this_round: Vec<usize> = taken
        .iter()
        .flat_map(|&(_, word, bits)| {
            (0..BITS)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| word * BITS + b)
        })
        .collect();
    assert_eq!(this_round, [0, n / 2]);
    assert_eq!(drain(&set), [0, n - 1]);
}

#[test]
fn cloned_wakers_outlive_the_set_and_wake_harmlessly() {
    let set = ReadySet::new(3);
    let (count, parent) = counting_waker();
    set.register(&parent);
    let kept: Vec<Waker> = (0..3).map(|slot| set.waker(slot).clone()).collect();
    let also = kept[1].clone();
    assert!(kept[0].will_wake(&set.waker(0)));
    drop(set);
    for waker in kept {
        waker.wake();
    }
    also.wake_by_ref();
    drop(also);
    // The dropped set forgot its parent waker: nothing reached it.
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
}

#[test]
fn block_sizes() {
    // Exact hints size the first block exactly; the limit caps it.
    assert_eq!(block_size(0, usize::MAX, (10, Some(10))), 10);
    assert_eq!(block_size(0, 4, (10, Some(10))), 4);
    // An empty or unknown source starts small, then doubles.
    assert_eq!(block_size(0, usize::MAX, (0, Some(0))), 1);
    assert_eq!(block_size(0, usize::MAX, (0, None)), 16);
    assert_eq!(block_size(16, usize::MAX, (0, None)), 16);
    assert_eq!(block_size(32, usize::MAX, (100, None)), 32);
    assert_eq!(block_size(32, 40, (100, None)), 8);
    // Endless or huge sources do not size the storage.
    assert_eq!(block_size(0, usize::MAX, (usize::MAX, None)), 1 << 20);
    assert_eq!(block_size(0, 8, (usize::MAX, None)), 8);
    assert_eq!(
        block_size(0, usize::MAX, (usize::MAX, Some(usize::MAX))),
        1 << 20
    );
}

/// A future that is pending until its slot waker has been woken `n` times
/// (it wakes itself), counting its polls.
struct YieldN {
    left: usize,
    polls: Arc<AtomicUsize>,
}

impl Future for YieldN {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if self.left == 0 {
            Poll::Ready(self.polls.load(Ordering::Relaxed))
        } else {
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Drives an engine to the end on the current thread, returning its events.
fn run_engine<I: IntoSource>(
    source: I,
    limit: usize,
) -> Vec<Event<<<I::Source as crate::source::Source>::Task as Future>::Output>> {
    let engine = Engine::new(source.into_source(), NoSignal).with_limit(limit);
    let mut engine = pin!(engine);
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut events = Vec::new();
    let mut pendings = 0;
    loop {
        match engine.as_mut().poll_event(&mut cx) {
            Poll::Ready(Some(event)) => events.push(event),
            Poll::Ready(None) => return events,
            Poll::Pending => {
                pendings += 1;
                assert!(pendings < 100_000, "the engine does not make progress");
            }
        }
    }
}

#[test]
fn every_task_is_polled_wakes_plus_one_times() {
    let n = if cfg!(miri) { 50 } else { 3_000 };
    for limit in [usize::MAX, 7, 1] {
        let polls: Vec<Arc<AtomicUsize>> = (0..n).map(|_| Arc::default()).collect();
        let tasks: Vec<YieldN> = (0..n)
            .map(|i| YieldN {
                left: i % 5,
                polls: polls[i].clone(),
            })
            .collect();
        let events = run_engine(tasks, limit);
        let mut seen = alloc::vec![false; n];
        for event in events {
            let Event::Done(index, polled) = event else {
                panic!("nothing cancels this batch")
            };
            assert!(!seen[index]);
            seen[index] = true;
            assert_eq!(polled, index % 5 + 1, "task {index}, limit {limit}");
        }
        assert!(seen.iter().all(|&s| s));
    }
}

#[test]
fn sources_of_unknown_size_grow_in_blocks() {
    let n = if cfg!(miri) { 100 } else { 10_000 };
    // `filter` hides the size: the engine starts small and doubles.
    let tasks = (0..n).filter(|_| true).map(|i| YieldN {
        left: i % 3,
        polls: Arc::default(),
    });
    let events = run_engine(tasks, usize::MAX);
    assert_eq!(events.len(), n);
    // Each task polled exactly wakes + 1 times, and reported once: no woken
    // slot is skipped or walked twice as the batch goes from one word (its
    // first block of 16 slots) to many.
    let mut seen = alloc::vec![false; n];
    for event in events {
        let Event::Done(index, polled) = event else {
            panic!("nothing cancels this batch")
        };
        assert!(!seen[index], "task {index} reported twice");
        seen[index] = true;
        assert_eq!(polled, index % 3 + 1, "task {index}");
    }
}

/// A task that never finishes and holds a share of `alive` until dropped.
fn parked_task(alive: &Arc<()>) -> impl Future<Output = ()> {
    let alive = Arc::clone(alive);
    async move {
        core::future::pending::<()>().await;
        drop(alive);
    }
}

/// Starts `n` parked tasks of `alive` on `engine`, cancels it, and checks that
/// every task was dropped at once and is still to be reported; returns the
/// events that follow, up to the end (which must then stay the end).
fn cancel_parked<S: Source<Task = T>, T: Future<Output = ()>>(
    engine: Engine<S, NoSignal>,
    n: usize,
    alive: &Arc<()>,
) -> Vec<Event<()>> {
    let mut engine = pin!(engine);
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    assert!(engine.as_mut().poll_event(&mut cx).is_pending());
    assert_eq!(engine.in_flight(), n);
    engine.as_mut().cancel();
    assert_eq!(engine.in_flight(), 0);
    assert_eq!(
        Arc::strong_count(alive),
        1,
        "every task dropped at the cancel"
    );
    assert_eq!(engine.unreported(), n);
    let mut events = Vec::new();
    while let Poll::Ready(Some(event)) = engine.as_mut().poll_event(&mut cx) {
        events.push(event);
    }
    assert_eq!(engine.unreported(), 0);
    assert!(engine.was_canceled());
    assert!(matches!(
        engine.as_mut().poll_event(&mut cx),
        Poll::Ready(None)
    ));
    events
}

#[test]
fn cancel_drops_every_task_and_reports_each_one_when_asked() {
    let n = if cfg!(miri) { 30 } else { 1_000 };
    let alive = Arc::new(());
    let tasks: Vec<_> = (0..n).map(|_| parked_task(&alive)).collect();
    let engine = Engine::new(tasks.into_source(), NoSignal).report_each_cancel();
    let mut canceled: Vec<usize> = cancel_parked(engine, n, &alive)
        .into_iter()
        .map(|event| match event {
            Event::Canceled(index) => index,
            _ => panic!("only cancellations are left, each with its index"),
        })
        .collect();
    canceled.sort_unstable();
    assert_eq!(canceled, (0..n).collect::<Vec<_>>());
}

#[test]
fn cancel_drops_every_task_and_reports_them_as_one_count() {
    let n = if cfg!(miri) { 30 } else { 1_000 };
    let alive = Arc::new(());
    // Over a source of unknown size, so the tasks span several blocks.
    let tasks = (0..n).map(|_| parked_task(&alive)).filter(|_| true);
    let engine = Engine::new(tasks.into_source(), NoSignal);
    let events = cancel_parked(engine, n, &alive);
    assert!(
        matches!(events[..], [Event::CanceledMany(count)] if count == n),
        "one count of every dropped task: {events:?}"
    );
}

#[test]
fn a_rounds_completions_come_out_in_index_order_even_when_slots_are_reused() {
    // limit 2: task 0 finishes at once and frees slot 0; task 1 takes slot 1;
    // task 2 reuses slot 0. Both then finish in the same round, walked in slot
    // order (task 2 first) — and must come out in index order.
    let tasks = [0, 1, 1].map(|left| YieldN {
        left,
        polls: Arc::default(),
    });
    let order: Vec<usize> = run_engine(tasks, 2)
        .into_iter()
        .map(|event| match event {
            Event::Done(index, _) => index,
            Event::Canceled(_) | Event::CanceledMany(_) => panic!("nothing cancels this batch"),
        })
        .collect();
    assert_eq!(order, [0, 1, 2]);
}

#[test]
fn drained_slots_rewind_to_slot_order_across_blocks() {
    use super::slots::{Polled, Slots};
    let task = |left| YieldN {
        left,
        polls: Arc::default(),
    };
    let mut slots = Slots::new();
    // Two blocks of two slots (as a source of unknown size grows them).
    slots.grow(2);
    let a = slots.insert(0, task(0));
    let b = slots.insert(1, task(0));
    slots.grow(2);
    let c = slots.insert(2, task(0));
    assert_eq!([a.at(), b.at(), c.at()], [(0, 0), (0, 1), (1, 0)]);
    // Free slot (0, 1) while the others run: a new task reuses it, out of
    // slot order.
    assert!(matches!(slots.poll(b), Polled::Ready(1, _)));
    let d = slots.insert(3, task(0));
    assert_eq!(d.at(), (1, 1), "never-used slots first");
    let e = slots.insert(4, task(0));
    assert_eq!(e.at(), (0, 1), "then the freed one");
    assert!(slots.reused());
    assert!(!slots.has_free());
    // The batch runs dry: every slot free, none running.
    for id in [a, c, d, e] {
        assert!(matches!(slots.poll(id), Polled::Ready(..)));
    }
    assert_eq!(slots.running(), 0);
    // The next tasks take the slots from the first again, block by block:
    // slot order is index order, and the batch says so.
    let next: Vec<(u32, u32)> = (5..9).map(|i| slots.insert(i, task(0)).at()).collect();
    assert_eq!(next, [(0, 0), (0, 1), (1, 0), (1, 1)]);
    assert!(!slots.reused());
    assert!(!slots.has_free());
    assert_eq!(slots.running(), 4);
}

#[test]
fn a_throttled_batch_in_waves_never_parks_a_completion() {
    // Waves of `limit` tasks that each yield once: every wave finishes in one
    // round, the slots rewind before the next wave, so completions come out
    // as they happen (in index order), and nothing is ever parked to be
    // sorted. A wave over a source of unknown size spans several blocks.
    let n = if cfg!(miri) { 60 } else { 2_000 };
    for limit in [1, 7, 64] {
        let tasks = (0..n)
            .map(|_| YieldN {
                left: 1,
                polls: Arc::default(),
            })
            .filter(|_| true);
        let engine = Engine::new(tasks.into_source(), NoSignal).with_limit(limit);
        let mut engine = pin!(engine);
        let (_, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut next = 0;
        loop {
            match engine.as_mut().poll_event(&mut cx) {
                Poll::Ready(Some(Event::Done(index, polls))) => {
                    assert_eq!((index, polls), (next, 2));
                    next += 1;
                }
                Poll::Ready(Some(event)) => panic!("nothing cancels this batch: {event:?}"),
                Poll::Ready(None) => break,
                Poll::Pending => {}
            }
            let core = engine.as_mut().project().core;
            assert_eq!(
                core.parked.capacity(),
                0,
                "limit {limit}: a completion was parked"
            );
        }
        assert_eq!(next, n);
    }
}

#[test]
fn exactly_limit_tasks_in_flight_after_every_completion() {
    let n = if cfg!(miri) { 40 } else { 2_000 };
    let limit = 7;
    let tasks = (0..n).map(|i| YieldN {
        left: i % 4,
        polls: Arc::default(),
    });
    let engine = Engine::new(tasks.into_source(), NoSignal).with_limit(limit);
    let mut engine = pin!(engine);
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut done = 0;
    loop {
        match engine.as_mut().poll_event(&mut cx) {
            Poll::Ready(Some(_)) => done += 1,
            Poll::Ready(None) => break,
            Poll::Pending => {
                // Between polls of the batch the limit is always reached while
                // the source has work left.
                assert!(engine.in_flight() == limit || engine.pulled() == n);
                assert!(engine.in_flight() <= limit);
            }
        }
    }
    assert_eq!(done, n);
}

/// A future that wakes itself and is pending once.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A self-referential task: a borrow of its own state lives across awaits.
async fn self_referential(i: usize, fail: bool) -> Result<usize, usize> {
    let mut state = [i as u8; 8];
    let borrowed = &mut state;
    YieldOnce(false).await;
    borrowed[2] = 1;
    let v = borrowed[0] as usize;
    YieldOnce(false).await;
    if fail {
        Err(v)
    } else {
        Ok(v + borrowed[1] as usize)
    }
}

/// Under Miri's Stacked Borrows this catches any shared borrow of the slots
/// that aliases a running task's borrow of itself, on every path: several
/// blocks, slot reuse and parked completions, fail-fast drops, the stream
/// face, a race's rest moved after polling, an async processor's backlog.
#[test]
fn self_referential_tasks_through_every_path() {
    use futures::StreamExt;
    let n = if cfg!(miri) { 70 } else { 600 };
    futures::executor::block_on(async {
        let all = crate::when_all((0..70).filter(|_| true).map(|i| self_referential(i, false)));
        assert!(all.await.is_ok());
        let limited = crate::when_all((0..n).map(|i| self_referential(i, false))).limit(3);
        assert!(limited.await.is_ok());
        let failing = (0..50).map(|i| self_referential(i, i == 20));
        assert!(crate::settle_all(failing).limit(8).fail_fast().await.len() >= 21);
        let mut each =
            crate::when_each((0..40).filter(|_| true).map(|i| self_referential(i, false)));
        while each.next().await.is_some() {}
        let race = crate::when_any((0..40).filter(|_| true).map(|i| self_referential(i, false)));
        let (_, _, rest) = race.await.unwrap();
        assert_eq!(rest.collect::<Vec<_>>().await.len(), 39);
        let tasks = (0..30).map(|i| self_referential(i, false));
        crate::for_each_async(tasks, |_, _| YieldOnce(false))
            .limit(4)
            .await
            .unwrap();
    });
}

/// Near `usize::MAX` pulls (reachable on 32-bit targets with an endless
/// source), the batch must not wait for a wake that never comes: going on
/// (indices wrap, in a release build) or panicking (the overflow check of a
/// debug build) are both loud; `Pending` with the source still ready and
/// nothing in flight is a silent hang. (Found in review: the fill's marks on
/// `pulled` saturated at `usize::MAX`, so no fill could pull past it.)
#[test]
fn a_batch_near_usize_max_pulls_never_waits_forever() {
    extern crate std;
    let start = usize::MAX - 3;
    let tasks = (0..).map(|_: u64| core::future::ready(()));
    let engine = Engine::new(tasks.into_source(), NoSignal);
    let mut engine = pin!(engine);
    // A batch that has pulled `start` tasks and returned `Pending` since.
    engine.core.pulled = start;
    engine.core.polls_base = start.wrapping_neg();
    engine.core.fill_mark = start;
    engine.core.stretch_end = start;
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let outcome = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
        let mut events = 0;
        while events < 8 {
            let before = count.0.load(Ordering::SeqCst);
            match engine.as_mut().poll_event(&mut cx) {
                Poll::Ready(Some(_)) => events += 1,
                Poll::Ready(None) => panic!("an endless source ended"),
                Poll::Pending => assert!(
                    count.0.load(Ordering::SeqCst) > before,
                    "Pending with no wake to come, pulled = usize::MAX - {}",
                    usize::MAX - engine.pulled()
                ),
            }
        }
    }));
    if let Err(e) = outcome {
        let msg = e
            .downcast_ref::<std::string::String>()
            .map(|s| s.as_str())
            .or_else(|| e.downcast_ref::<&str>().copied())
            .unwrap_or("");
        assert!(!msg.contains("no wake to come"), "{msg}");
    }
}

/// A slot given back on its task's first poll is never-used again, and the
/// next task takes it while a stale waker of the slot wakes on another
/// thread. When wakers pointed at a per-slot item, the next task's start
/// wrote that item again as the stale waker read it: a data race (which
/// Miri reported) until items became atomics (found in review). Wakers read
/// nothing per slot now (`ready`, "Wakers"); the test stays, for Miri.
#[test]
fn a_stale_waker_may_wake_while_its_slot_takes_its_next_task() {
    extern crate std;
    use core::sync::atomic::AtomicBool;
    let woke = Arc::new(AtomicBool::new(false));
    let handle = Arc::new(std::sync::Mutex::new(None));
    let tasks = (0..2usize).map(|i| {
        let woke = woke.clone();
        let handle = handle.clone();
        core::future::poll_fn(move |cx: &mut Context<'_>| {
            if i == 0 {
                // Hand a clone of the waker to a thread that wakes it,
                // then finish: the slot becomes never-used again.
                let waker = cx.waker().clone();
                let woke2 = woke.clone();
                *handle.lock().unwrap() = Some(std::thread::spawn(move || {
                    waker.wake_by_ref();
                    woke2.store(true, Ordering::Relaxed);
                    drop(waker);
                }));
                // Relaxed: no happens-before with the thread's read.
                while !woke.load(Ordering::Relaxed) {
                    std::thread::yield_now();
                }
            }
            Poll::Ready(i)
        })
    });
    let engine = Engine::new(tasks.into_source(), NoSignal);
    let mut engine = pin!(engine);
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut n = 0;
    while let Poll::Ready(Some(_)) = engine.as_mut().poll_event(&mut cx) {
        n += 1;
    }
    assert_eq!(n, 2);
    handle.lock().unwrap().take().unwrap().join().unwrap();
}
