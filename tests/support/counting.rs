//! Instrumented futures: poll counters, self-waking yielders, outside-driven gates and a
//! concurrency tracker.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A shared, cheaply clonable counter of polls.
///
/// Under a seeded schedule a gate or timer may wake itself spuriously
/// (see [`super::chaos`]); the polls caused by such a wake alone are counted
/// apart ([`PollCounter::spurious`]) and left out of [`PollCounter::get`], so
/// "polled once more than woken" stays exact whatever the seed.
#[derive(Clone, Debug, Default)]
pub struct PollCounter(Arc<(AtomicUsize, AtomicUsize)>);

impl PollCounter {
    /// A new counter at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current count, without the polls caused only by injected spurious wakes.
    pub fn get(&self) -> usize {
        self.0 .0.load(Ordering::SeqCst) - self.spurious()
    }

    /// Adds one poll to the count.
    pub fn incr(&self) {
        self.0 .0.fetch_add(1, Ordering::SeqCst);
    }

    /// How many of the counted polls were caused by an injected spurious wake alone.
    pub fn spurious(&self) -> usize {
        self.0 .1.load(Ordering::SeqCst)
    }

    /// Marks one counted poll as caused by an injected spurious wake alone.
    fn incr_spurious(&self) {
        self.0 .1.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future that wakes itself and returns `Pending` `n` times, then returns
/// `Ready(value)`; every poll is counted, so a completed `YieldN` was polled `n + 1`
/// times by a combinator that polls a child only when it was woken.
///
/// # Panics
/// If polled after it returned `Ready`.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct YieldN<T> {
    remaining: usize,
    value: Option<T>,
    counter: PollCounter,
}

impl<T> YieldN<T> {
    /// A future that yields (self-waking) `n` times, then completes with `value`.
    pub fn new(n: usize, value: T, counter: PollCounter) -> Self {
        Self {
            remaining: n,
            value: Some(value),
            counter,
        }
    }
}

impl<T> Unpin for YieldN<T> {}

impl<T> Future for YieldN<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        this.counter.incr();
        assert!(this.value.is_some(), "YieldN polled after completion");
        if this.remaining > 0 {
            this.remaining -= 1;
            super::chaos::wake_by_ref(cx.waker());
            return Poll::Pending;
        }
        Poll::Ready(this.value.take().expect("checked above"))
    }
}

#[derive(Debug, Default)]
struct GateState {
    open: bool,
    /// One waker slot per `GateFuture` made from this gate (indexed by `GateFuture::slot`).
    wakers: Vec<Option<Waker>>,
    /// Per `GateFuture`: it woke itself spuriously at its last poll and no real
    /// wake (an open) came since, so its next poll is due to that wake alone.
    spurious: Vec<bool>,
}

/// An outside-driven flag: futures made with [`Gate::future`] stay pending until
/// [`Gate::open`] is called (from any thread). Clones share the same flag.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<Mutex<GateState>>);

impl Gate {
    /// A new, closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // A panicking test thread must not poison other assertions.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A future that completes with `value` once the gate is open, counting each poll in
    /// `counter`. It never wakes itself: only [`Gate::open`] wakes it, so when opened once
    /// it is polled exactly 2 times by a combinator that polls only woken children.
    pub fn future<T>(&self, value: T, counter: PollCounter) -> GateFuture<T> {
        let mut state = self.lock();
        state.wakers.push(None);
        state.spurious.push(false);
        GateFuture {
            gate: self.clone(),
            slot: state.wakers.len() - 1,
            value: Some(value),
            counter,
        }
    }

    /// Opens the gate and wakes the latest waker of every pending future made from it.
    /// Idempotent.
    pub fn open(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.lock();
            state.open = true;
            // A real wake: whatever poll comes next is not due to a spurious one.
            state.spurious.iter_mut().for_each(|s| *s = false);
            state.wakers.iter_mut().filter_map(Option::take).collect()
        };
        for w in wakers {
            super::chaos::wake(w);
        }
    }

    /// Whether some future of this gate is waiting: it was polled, returned
    /// `Pending` and left its waker, so opening the gate now wakes it.
    pub fn is_awaited(&self) -> bool {
        self.lock().wakers.iter().any(Option::is_some)
    }

    /// Whether [`Gate::open`] has been called.
    pub fn is_open(&self) -> bool {
        self.lock().open
    }
}

/// Future returned by [`Gate::future`].
///
/// # Panics
/// If polled after it returned `Ready`.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct GateFuture<T> {
    gate: Gate,
    slot: usize,
    value: Option<T>,
    counter: PollCounter,
}

impl<T> Unpin for GateFuture<T> {}

impl<T> Future for GateFuture<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        assert!(this.value.is_some(), "GateFuture polled after completion");
        let spurious = super::chaos::spurious();
        let old_waker = {
            let mut state = this.gate.lock();
            if std::mem::take(&mut state.spurious[this.slot]) {
                this.counter.incr_spurious();
            }
            this.counter.incr();
            if state.open {
                drop(state);
                return Poll::Ready(this.value.take().expect("checked above"));
            }
            state.spurious[this.slot] = spurious;
            state.wakers[this.slot].replace(cx.waker().clone())
        };
        drop(old_waker);
        if spurious {
            // Nothing changed: a spurious wake, that a combinator must survive.
            super::chaos::wake_by_ref(cx.waker());
        }
        Poll::Pending
    }
}

impl<T> Drop for GateFuture<T> {
    fn drop(&mut self) {
        let old_waker = self.gate.lock().wakers[self.slot].take();
        drop(old_waker);
    }
}

#[derive(Debug, Default)]
struct TrackerCounts {
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    started: AtomicUsize,
    finished: AtomicUsize,
    dropped_unfinished: AtomicUsize,
}

/// Measures concurrency of the futures it wraps with [`Tracker::track`]. Clones share
/// the same counts.
#[derive(Clone, Debug, Default)]
pub struct Tracker(Arc<TrackerCounts>);

impl Tracker {
    /// A new tracker with all counts at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps `fut`: it counts as started and in flight from its first poll until it
    /// completes (finished) or is dropped unfinished.
    pub fn track<F: Future>(&self, fut: F) -> Tracked<F> {
        Tracked {
            fut,
            guard: TrackGuard {
                tracker: self.clone(),
                state: TrackState::NotStarted,
            },
        }
    }

    /// Futures currently started and neither finished nor dropped.
    pub fn in_flight(&self) -> usize {
        self.0.in_flight.load(Ordering::SeqCst)
    }

    /// The highest `in_flight` value observed.
    pub fn peak(&self) -> usize {
        self.0.peak.load(Ordering::SeqCst)
    }

    /// Futures polled at least once.
    pub fn started(&self) -> usize {
        self.0.started.load(Ordering::SeqCst)
    }

    /// Futures that returned `Ready`.
    pub fn finished(&self) -> usize {
        self.0.finished.load(Ordering::SeqCst)
    }

    /// Futures dropped after their first poll but before completing (never-polled
    /// futures that are dropped are not counted anywhere).
    pub fn dropped_unfinished(&self) -> usize {
        self.0.dropped_unfinished.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrackState {
    NotStarted,
    Running,
    Done,
}

/// Updates the tracker's counts; a separate field so that `Tracked` needs no pinned drop.
#[derive(Debug)]
struct TrackGuard {
    tracker: Tracker,
    state: TrackState,
}

impl Drop for TrackGuard {
    fn drop(&mut self) {
        if self.state == TrackState::Running {
            let c = &self.tracker.0;
            c.in_flight.fetch_sub(1, Ordering::SeqCst);
            c.dropped_unfinished.fetch_add(1, Ordering::SeqCst);
        }
    }
}

pin_project_lite::pin_project! {
    /// Future returned by [`Tracker::track`]; forwards to the wrapped future.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct Tracked<F> {
        #[pin]
        fut: F,
        guard: TrackGuard,
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let c = &this.guard.tracker.0;
        match this.guard.state {
            TrackState::NotStarted => {
                this.guard.state = TrackState::Running;
                c.started.fetch_add(1, Ordering::SeqCst);
                let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                c.peak.fetch_max(now, Ordering::SeqCst);
            }
            TrackState::Running => {}
            TrackState::Done => panic!("Tracked future polled after completion"),
        }
        let out = this.fut.poll(cx);
        if out.is_ready() {
            this.guard.state = TrackState::Done;
            c.in_flight.fetch_sub(1, Ordering::SeqCst);
            c.finished.fetch_add(1, Ordering::SeqCst);
        }
        out
    }
}
