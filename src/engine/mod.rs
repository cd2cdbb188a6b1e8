//! The engine: the one state machine that every combinator of the crate drives.
//!
//! # Design
//!
//! A batch is a lazily pulled [`Source`] of tasks, a bounded set of tasks in
//! flight, and a policy (a limit, a cancellation signal). The engine owns all
//! three and turns them into a sequence of [`Event`]s: `(index, output)` when a
//! task finishes, `(index, canceled)` when the batch drops it. It knows nothing
//! of what the combinator on top does with an event — a face collects them into
//! a `Vec`, streams them, or races them — so every combinator gets every quality
//! (throttling, cancellation, fairness, the cost model) from one place.
//!
//! One call to [`Engine::poll_event`] does, in order:
//!
//! 1. If the batch was canceled, report the dropped tasks one by one, then end.
//! 2. Poll the signal; when it has fired, drop every task in flight at once
//!    (recorded `Canceled`), and never pull from the source again.
//! 3. While a task may be added (fewer than `limit` in flight), pull one and
//!    poll it at once. So a slot freed by a finished task is refilled within the
//!    same poll of the batch, and exactly `limit` tasks are in flight after
//!    every completion while work remains.
//! 4. Walk the ready set: poll only the tasks whose wakers fired since the last
//!    round, each at most once per round (a task that wakes itself waits for the
//!    next round). A finished task frees its slot and becomes the event.
//! 5. When a round has found woken tasks, start another; when a whole round
//!    finds none, return `Pending` — every block's waker was registered before
//!    its set was taken, so no wake can be missed.
//!
//! Every event is returned as soon as it happens, before anything else is pulled,
//! so a face can stop the batch (fail fast) before the source is touched again.
//!
//! # Budget
//!
//! One poll of the batch polls at most [`budget`] children (at least
//! [`MIN_BUDGET`], at least as many as the batch has slots), then wakes itself
//! and returns `Pending`: a task that wakes itself on every poll, or a source of
//! endless ready tasks, cannot starve the executor, and a fresh batch is still
//! polled in one go.

mod parent_waker;
mod ready;
mod slots;

use crate::signal::{EitherSignal, Signal};
use crate::source::Source;
use core::future::{Future, IntoFuture};
use core::num::NonZeroUsize;
use core::pin::Pin;
use core::task::{Context, Poll};
use pin_project_lite::pin_project;
use slots::{Polled, Rounds, Slots};

/// At least this many children are polled in one poll of a batch before it
/// yields to its executor. 256 keeps a throttled batch of instantly ready tasks
/// from yielding every few tasks, and is small enough that other work on the
/// same executor waits only microseconds.
pub(crate) const MIN_BUDGET: usize = 256;

/// Blocks of a batch of unknown size start at this many slots.
const MIN_BLOCK: usize = 16;

/// What happened to one task.
#[derive(Debug)]
pub(crate) enum Event<T> {
    /// The task with this index finished with this output.
    Done(usize, T),
    /// The batch dropped the task with this index before it finished.
    Canceled(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Canceled: tasks were dropped; their `Canceled` events are being reported.
    Canceling,
    /// Every pulled task has been reported; the source will not be pulled again.
    Done,
}

pin_project! {
    /// The state machine behind every combinator. See the module docs.
    pub(crate) struct Engine<S, C>
    where
        S: Source,
    {
        #[pin]
        source: S,
        #[pin]
        signal: C,
        slots: Slots<S::Task>,
        rounds: Rounds,
        limit: usize,
        // Places of the limit taken by finished tasks whose results the face
        // still holds (an async processor's backlog), so the backlog stays
        // within the limit too.
        held: usize,
        pulled: usize,
        polls: usize,
        phase: Phase,
        source_done: bool,
        // The source returned `Pending` this turn; not pulled again until the
        // engine has returned `Pending` itself.
        source_parked: bool,
        canceled: bool,
    }
}

impl<S: Source, C> Engine<S, C> {
    pub(crate) fn new(source: S, signal: C) -> Self {
        Self {
            source,
            signal,
            slots: Slots::new(),
            rounds: Rounds::new(),
            limit: usize::MAX,
            held: 0,
            pulled: 0,
            polls: 0,
            phase: Phase::Running,
            source_done: false,
            source_parked: false,
            canceled: false,
        }
    }

    /// At most `limit` tasks in flight.
    pub(crate) fn set_limit(&mut self, limit: NonZeroUsize) {
        self.limit = limit.get();
    }

    /// The same engine with another signal. Only before the first poll (the
    /// engine is moved).
    pub(crate) fn map_signal<C2>(self, f: impl FnOnce(C) -> C2) -> Engine<S, C2> {
        Engine {
            source: self.source,
            signal: f(self.signal),
            slots: self.slots,
            rounds: self.rounds,
            limit: self.limit,
            held: self.held,
            pulled: self.pulled,
            polls: self.polls,
            phase: self.phase,
            source_done: self.source_done,
            source_parked: self.source_parked,
            canceled: self.canceled,
        }
    }

    /// How many tasks have been pulled from the source so far.
    pub(crate) fn pulled(&self) -> usize {
        self.pulled
    }

    /// Tasks pulled and not yet reported: in flight, or dropped and not yet
    /// reported as canceled.
    pub(crate) fn in_flight(&self) -> usize {
        self.slots.running()
    }

    /// Counts one more (or, with `false`, one fewer) result held by the face
    /// against the limit: while held, it keeps its task's place.
    pub(crate) fn hold(self: Pin<&mut Self>, held: bool) {
        let this = self.project();
        if held {
            *this.held += 1;
        } else {
            *this.held -= 1;
        }
    }

    /// Whether the batch was canceled (by its signal or by [`Engine::cancel`]).
    pub(crate) fn was_canceled(&self) -> bool {
        self.canceled
    }

    /// Bounds on the tasks still to be pulled, as `Iterator::size_hint`.
    pub(crate) fn remaining_bounds(&self) -> (usize, Option<usize>) {
        if self.source_done || self.canceled {
            (0, Some(0))
        } else {
            self.source.size_hint()
        }
    }

    /// A lower bound on the tasks still to be pulled.
    pub(crate) fn remaining_hint(&self) -> usize {
        if self.source_done || self.canceled {
            0
        } else {
            self.source.size_hint().0
        }
    }

    /// Drops every task in flight now (each will be reported `Canceled`) and
    /// never pulls from the source again. Idempotent; no effect once every task
    /// has been reported.
    pub(crate) fn cancel(self: Pin<&mut Self>) {
        let this = self.project();
        if *this.phase == Phase::Running {
            this.slots.drop_running();
            *this.phase = Phase::Canceling;
            *this.canceled = true;
        }
    }
}

impl<S: Source, C: Signal> Engine<S, C> {
    /// The next event of the batch: see the module docs for what one call does.
    /// `Ready(None)` once every pulled task has been reported and nothing more
    /// will be pulled; from then on it keeps returning `Ready(None)`.
    pub(crate) fn poll_event(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Event<<S::Task as Future>::Output>>> {
        loop {
            match self.phase {
                Phase::Running => {}
                Phase::Canceling => {
                    let this = self.as_mut().project();
                    if let Some(index) = this.slots.take_dropped() {
                        return Poll::Ready(Some(Event::Canceled(index)));
                    }
                    *this.phase = Phase::Done;
                    continue;
                }
                Phase::Done => return Poll::Ready(None),
            }
            if self.as_mut().project().signal.poll(cx).is_ready() {
                self.as_mut().cancel();
                continue;
            }
            break;
        }
        let mut this = self.as_mut().project();
        loop {
            if *this.polls >= this.slots.capacity().max(MIN_BUDGET) {
                // Yield: the executor gets its thread back, and we are polled
                // again soon because we woke ourselves.
                *this.polls = 0;
                *this.source_parked = false;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }

            // Pull while a task may be added; poll each new task at once.
            if !*this.source_done
                && !*this.source_parked
                && this.slots.running() + *this.held < *this.limit
            {
                if !this.slots.has_free() {
                    let size =
                        block_size(this.slots.capacity(), *this.limit, this.source.size_hint());
                    this.slots.grow(size);
                }
                match this.source.as_mut().poll_next_task(cx) {
                    Poll::Ready(Some(task)) => {
                        let index = *this.pulled;
                        *this.pulled += 1;
                        let id = this.slots.insert(index, task);
                        *this.polls += 1;
                        if let Polled::Ready(index, output) = this.slots.poll(id) {
                            return Poll::Ready(Some(Event::Done(index, output)));
                        }
                        continue;
                    }
                    Poll::Ready(None) => *this.source_done = true,
                    Poll::Pending => *this.source_parked = true,
                }
            }

            // Poll the woken.
            if let Some(id) = this.slots.next_woken(this.rounds, cx.waker()) {
                match this.slots.poll(id) {
                    Polled::Idle => {}
                    Polled::Pending => *this.polls += 1,
                    Polled::Ready(index, output) => {
                        *this.polls += 1;
                        return Poll::Ready(Some(Event::Done(index, output)));
                    }
                }
                continue;
            }
            let found = this.rounds.found();
            this.rounds.restart();
            if found {
                continue;
            }
            if *this.source_done && this.slots.running() == 0 {
                *this.phase = Phase::Done;
                return Poll::Ready(None);
            }
            *this.polls = 0;
            *this.source_parked = false;
            return Poll::Pending;
        }
    }
}

/// The size of the block to add when every slot is in use: an exact size hint
/// sizes the first block exactly (a known-size batch allocates once); otherwise
/// blocks double the total capacity, so a batch of unknown size has O(log n)
/// blocks and never moves a started task. Never more than the limit allows.
fn block_size(capacity: usize, limit: usize, (low, high): (usize, Option<usize>)) -> usize {
    let room = limit - capacity;
    let want = if capacity == 0 {
        match high {
            Some(high) if high == low => low,
            _ => low.max(MIN_BLOCK),
        }
    } else {
        capacity.max(low)
    };
    want.clamp(1, room)
}

impl<S: Source, C> Engine<S, C> {
    /// The builder step behind every face's `.limit(n)`.
    ///
    /// # Panics
    /// If `limit` is zero: such a batch could never run a task.
    pub(crate) fn with_limit(mut self, limit: usize) -> Self {
        let Some(limit) = NonZeroUsize::new(limit) else {
            panic!("fanout: `.limit(0)` would never run a task; the limit must be at least 1")
        };
        self.set_limit(limit);
        self
    }

    /// The builder step behind every face's `.cancel_on(signal)`: the batch
    /// is canceled by its old signal or by `signal`, whichever fires first.
    pub(crate) fn with_signal<C2: IntoFuture>(
        self,
        signal: C2,
    ) -> Engine<S, EitherSignal<C, C2::IntoFuture>> {
        self.map_signal(|old| EitherSignal::new(old, signal.into_future()))
    }
}

#[cfg(test)]
mod tests;
