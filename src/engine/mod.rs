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
//! 1. If the batch was canceled, report the dropped tasks — as one count, or
//!    one by one with their indices for a face that asks for them — then end.
//! 2. Poll the signal; when it has fired, drop every task in flight at once
//!    (recorded `Canceled`), and never pull from the source again.
//! 3. *Round first*, when the batch comes back from `Pending`, or from an
//!    event handed out in the middle of a fill with tasks woken since: walk
//!    the woken tasks (step 5) before pulling anything. A task pulled
//!    later always has a higher index than every task in flight, so a poll's
//!    events come out in index order — a woken task 3 before a newly pulled
//!    task 5 that is ready at once, never after it.
//! 4. *Fill*: fill the places free when the fill starts (fewer than `limit`
//!    in flight): pull a task and poll it at once; one that finishes at once
//!    is an event, and its place waits for the next fill, so a woken task is
//!    never kept waiting behind a stream of instantly ready ones.
//! 5. *Round*: walk the ready set — poll only the tasks whose wakers fired
//!    since the last round, each at most once per round (a task that wakes
//!    itself waits for the next round). A finished task frees its slot and
//!    becomes an event.
//! 6. Back to *Fill*, so a place freed in the round is refilled within the
//!    same poll of the batch: with work left, exactly `limit` tasks are in
//!    flight whenever the batch returns. When the fill pulled nothing and
//!    nothing has been woken since the round, return `Pending`. The
//!    executor's waker is registered only then, just before a last look at
//!    the ready sets: a wake before the registration is seen by the look, one
//!    after it wakes the batch, so none is missed — and a batch that finishes
//!    in the poll that started it never touches its executor's waker (no
//!    clone, no atomic), which is most of what a short batch used to spend
//!    on it.
//!
//! Every event is returned as soon as it happens, before anything else is
//! pulled, so a face can stop the batch (fail fast) before the source is
//! touched again.
//!
//! # Order
//!
//! Tasks that finish in the same round come out in **index order**. Without
//! slot reuse this is free: task `i` sits in slot `i` and the ready set walks
//! slots in order. Once a limit (or a source of unknown size) has made a new
//! task reuse a freed slot, slot order is no longer index order, so a round's
//! completions are parked, sorted by index, and handed out after the round;
//! the sort costs `O(k log k)` for `k` completions in the round, and only
//! batches that reuse slots pay it. A batch that runs dry (nothing in flight)
//! rewinds its slots before it takes the next task (see `slots`), so slot
//! order is index order again: a throttled batch whose tasks finish in waves
//! never parks at all (S4, 100,000 yield-once tasks through a limit of 64:
//! 16% fewer instructions, and no parking `Vec`).
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
mod self_wake;
mod slots;
mod snapshot;

use crate::cancel::CancelSource;
use crate::signal::{EitherSignal, Signal};
use crate::source::Source;
use alloc::vec::Vec;
use core::future::{Future, IntoFuture};
use core::num::NonZeroUsize;
use core::ops::ControlFlow;
use core::pin::Pin;
use core::task::{Context, Poll};
use pin_project_lite::pin_project;
use self_wake::Running;
use slots::{Polled, Rounds, SlotId, Slots};

/// At least this many children are polled in one poll of a batch before it
/// yields to its executor. 256 keeps a throttled batch of instantly ready tasks
/// from yielding every few tasks, and is small enough that other work on the
/// same executor waits only microseconds.
pub(crate) const MIN_BUDGET: usize = 256;

/// Blocks of a batch of unknown size start at this many slots.
const MIN_BLOCK: usize = 16;

/// The first block is never larger than this, whatever the size hint says: an
/// exact hint of a billion (`(0..n).map(f)` with a huge `n`) must not allocate
/// a billion slots up front when the tasks may finish as fast as they are
/// pulled. Bigger batches add blocks as they need them.
const MAX_FIRST_BLOCK: usize = 1 << 20;

/// Why [`Engine::poll_drive`] returned `Ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drive {
    /// The sink asked to stop; the batch can be driven on.
    Stopped,
    /// Every pulled task has been reported and nothing more will be pulled.
    Finished,
}

/// What happened to one task.
#[derive(Debug)]
pub(crate) enum Event<T> {
    /// The task with this index finished with this output.
    Done(usize, T),
    /// The batch dropped the task with this index before it finished. Only
    /// for a batch that reports each cancel ([`Engine::report_each_cancel`]).
    Canceled(usize),
    /// The batch dropped this many tasks (at least one) at once, before they
    /// finished. The default report of a cancel: a face that only counts
    /// cancellations pays nothing per task to learn which ones they were.
    CanceledMany(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Canceled: tasks were dropped; their `Canceled` events are being reported.
    Canceling,
    /// Every pulled task has been reported; the source will not be pulled again.
    Done,
}

/// Where a running batch is within its cycle (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Pulling and first-polling new tasks.
    Fill,
    /// Walking the ready set.
    Round,
    /// Handing out a round's parked completions in index order.
    Emit,
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
        core: Core<S::Task>,
    }
}

/// Everything but the pinned source and signal.
///
/// # Counting pulls
///
/// A pull in the fill moves one counter only: `pulled`. The fill's other
/// counts are marks on it: the polls of the budget (`polls_base`), whether
/// this fill pulled (`fill_mark`), the end of its quota (`quota_end`) and
/// the end of the stretch of pulls (`stretch_end`). They were separate
/// counts once, each moved by every pull. With an opaque call (the task's
/// poll) between two pulls, more counters than the call leaves registers
/// for went to memory and back on each pull: six instructions of a race's
/// 113 per task, seven of a join of instantly ready tasks' 65. Marks are
/// also right after a poll that panics, with no write to put back.
struct Core<F: Future> {
    slots: Slots<F>,
    rounds: Rounds,
    /// A round's completions, when slots are reused: sorted by index, highest
    /// first, and handed out from the back.
    parked: Vec<(usize, F::Output)>,
    step: Step,
    phase: Phase,
    limit: usize,
    /// Places of the limit taken by finished tasks whose results the face still
    /// holds (an async processor's backlog), so the backlog stays within the
    /// limit too.
    held: usize,
    /// Tasks pulled so far: the next task's index. The fill's other counts
    /// are kept as marks on this one (see "Counting pulls" on [`Core`]).
    pulled: usize,
    /// [`Core::polls`] is `polls_base + pulled` (wrapping).
    polls_base: usize,
    /// `pulled` when the current trip through the fill started: the fill
    /// pulled a task iff `pulled` moved past it ([`Core::filled`]). (A
    /// budget yield's top-up moves `pulled` too; the fill after it then
    /// counts as having pulled, which costs one more trip, never a wake.)
    fill_mark: usize,
    /// `pulled` at which the current fill's quota runs out (set when the
    /// fill starts; `None` between fills). A budget yield's top-up raises
    /// it by each task it queues: those are not the fill's pulls.
    quota_end: Option<usize>,
    /// `pulled` at which the current stretch of pulls ends, when the quota,
    /// the limit and the budget must be looked at again ([`Core::fill_room`]).
    /// The stretch has room while `pulled` has not reached it; every result
    /// the face holds takes one place of it. Equal to `pulled` outside a
    /// stretch.
    ///
    /// All the marks wrap with `pulled` (which a 32-bit target with an
    /// endless source can wrap in a release build, as it could before the
    /// marks): each is compared by its distance from `pulled`, never by
    /// its value, so no mark gets stuck at `usize::MAX` and stops the fill.
    stretch_end: usize,
    source_done: bool,
    /// The source returned `Pending`: not pulled again until the engine has
    /// returned `Pending` itself (the source will wake us).
    source_parked: bool,
    canceled: bool,
    /// Report each dropped task with its index, not one count for them all.
    each_cancel: bool,
    /// Tasks dropped by a cancel and not yet reported, when they are reported
    /// as one count.
    dropped_together: usize,
    /// The batch was told to stop (signal, fail-fast or first success); the
    /// signal is not polled again.
    stopping: bool,
    /// Stop gracefully: cancel this source and wait, instead of dropping.
    graceful: Option<CancelSource>,
    /// The last `Pending` was a budget yield.
    yielded: bool,
    /// The first task whose poll (or finishing drop) panicked: its outcome
    /// is lost, and a face that would resolve without it panics instead
    /// ([`Engine::lost`]).
    lost: Option<usize>,
}

impl<S: Source, C> Engine<S, C> {
    pub(crate) fn new(source: S, signal: C) -> Self {
        Self {
            source,
            signal,
            core: Core {
                slots: Slots::new(),
                rounds: Rounds::new(),
                parked: Vec::new(),
                step: Step::Fill,
                phase: Phase::Running,
                limit: usize::MAX,
                held: 0,
                pulled: 0,
                polls_base: 0,
                fill_mark: 0,
                quota_end: None,
                stretch_end: 0,
                source_done: false,
                source_parked: false,
                canceled: false,
                each_cancel: false,
                dropped_together: 0,
                stopping: false,
                graceful: None,
                yielded: false,
                lost: None,
            },
        }
    }

    /// At most `limit` tasks in flight.
    pub(crate) fn set_limit(&mut self, limit: NonZeroUsize) {
        self.core.limit = limit.get();
    }

    /// Report every task a cancel drops on its own, with its index
    /// ([`Event::Canceled`]), instead of one [`Event::CanceledMany`] count —
    /// for a face that records an outcome per index.
    pub(crate) fn report_each_cancel(mut self) -> Self {
        self.core.each_cancel = true;
        self
    }

    /// Stop gracefully: see [`Core::cancel`].
    pub(crate) fn set_graceful(&mut self, stop: CancelSource) {
        self.core.graceful = Some(stop);
    }

    /// The same engine with another signal. Only before the first poll (the
    /// engine is moved).
    pub(crate) fn map_signal<C2>(self, f: impl FnOnce(C) -> C2) -> Engine<S, C2> {
        Engine {
            source: self.source,
            signal: f(self.signal),
            core: self.core,
        }
    }

    /// How many tasks have been pulled from the source so far.
    pub(crate) fn pulled(&self) -> usize {
        self.core.pulled
    }

    /// Tasks in flight: pulled, not finished, not dropped.
    pub(crate) fn in_flight(&self) -> usize {
        self.core.slots.running()
    }

    /// Tasks pulled whose events have not been handed out yet: in flight, or
    /// finished in the current round and parked, or dropped and not yet
    /// reported.
    pub(crate) fn unreported(&self) -> usize {
        self.core.slots.running()
            + self.core.parked.len()
            + self.core.slots.dropped()
            + self.core.dropped_together
    }

    /// A lower bound on the events still to come after the current one, for
    /// sizing a face's output: saturating, since an endless source says
    /// `usize::MAX`.
    pub(crate) fn events_hint(&self) -> usize {
        self.unreported().saturating_add(self.remaining_hint())
    }

    /// Counts one more (or, with `false`, one fewer) result held by the face
    /// against the limit: while held, it keeps its task's place.
    pub(crate) fn hold(self: Pin<&mut Self>, held: bool) {
        let core = self.project().core;
        if held {
            core.held += 1;
            // One place fewer for the stretch of pulls in progress, if any.
            if core.has_room() {
                core.stretch_end = core.stretch_end.wrapping_sub(1);
            }
        } else {
            core.held -= 1;
        }
    }

    /// Call at the start of every poll of the face: the waker may have changed,
    /// so the engine registers it again before it next waits (returns
    /// `Pending` for a wake).
    #[inline]
    pub(crate) fn start_turn(self: Pin<&mut Self>) {
        let core = self.project().core;
        if core.slots.has_lost() {
            core.take_lost();
        }
        core.rounds.start_turn();
        // A parked source may have woken us: this is the poll it asked for.
        core.source_parked = false;
        core.yielded = false;
    }

    /// Whether the last `Pending` was a budget yield (the engine woke itself)
    /// rather than a wait for a wake: a face that loops on the engine must
    /// return then, not poll the engine again.
    pub(crate) fn yielded(&self) -> bool {
        self.core.yielded
    }

    /// Whether the batch was canceled (by its signal or by [`Engine::cancel`]).
    pub(crate) fn was_canceled(&self) -> bool {
        self.core.canceled
    }

    /// Bounds on the tasks still to be pulled, as `Iterator::size_hint`.
    pub(crate) fn remaining_bounds(&self) -> (usize, Option<usize>) {
        if self.core.source_done || self.core.canceled {
            (0, Some(0))
        } else {
            self.source.size_hint()
        }
    }

    /// A lower bound on the tasks still to be pulled.
    pub(crate) fn remaining_hint(&self) -> usize {
        self.remaining_bounds().0
    }

    /// Drops every task in flight now (each will be reported `Canceled`) and
    /// never pulls from the source again. Idempotent; no effect once every task
    /// has been reported. Completions already parked (finished, not yet handed
    /// out) are still handed out: those tasks did finish.
    pub(crate) fn cancel(self: Pin<&mut Self>) {
        let this = self.project();
        if this.core.slots.has_lost() {
            // Not counted canceled: its outcome was the panic.
            this.core.take_lost();
        }
        this.core.cancel(this.source.size_hint().1 == Some(0));
    }

    /// The index of the first task whose poll, or whose drop as it
    /// finished, panicked out of an earlier poll of the batch, if any: its
    /// outcome is lost. The other tasks run on; a face calls
    /// [`Engine::check_lost`] where it would resolve.
    pub(crate) fn lost(&self) -> Option<usize> {
        self.core.lost
    }

    /// Panics, naming the task, if one was lost to a panic: for a face about
    /// to resolve, whose result would otherwise claim every task's outcome
    /// (see the crate docs, "A panic is the task's outcome").
    #[inline]
    pub(crate) fn check_lost(&self) {
        if let Some(index) = self.core.lost {
            lost_to_panic(index);
        }
    }
}

impl<S: Source, C> core::fmt::Debug for Engine<S, C> {
    /// What a batch shows in `{:?}`: its progress, never its tasks (which need
    /// not be `Debug`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let core = &self.core;
        let mut s = f.debug_struct("Batch");
        s.field("pulled", &core.pulled)
            .field("in_flight", &core.slots.running());
        if core.limit != usize::MAX {
            s.field("limit", &core.limit);
        }
        s.field("source_done", &core.source_done)
            .field("canceled", &core.canceled)
            .field("finished", &(core.phase == Phase::Done))
            .finish()
    }
}

impl<S: Source, C: Signal> Engine<S, C> {
    /// The next event of the batch: see the module docs for what one call does.
    /// `Ready(None)` once every pulled task has been reported and nothing more
    /// will be pulled; from then on it keeps returning `Ready(None)`.
    #[inline]
    pub(crate) fn poll_event(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Event<<S::Task as Future>::Output>>> {
        let mut event = None;
        let drive = self.poll_drive(cx, |next| {
            event = Some(next);
            ControlFlow::Break(())
        });
        drive.map(|_| event)
    }

    /// Runs the batch, handing each event to `sink` as it happens, until the
    /// sink says stop (`Ready(Drive::Stopped)`: call again to go on), every
    /// pulled task has been reported and nothing more will be pulled
    /// (`Ready(Drive::Finished)`, and so on every later call), or nothing can
    /// progress until a wake (`Pending`).
    ///
    /// This is [`Engine::poll_event`] without a return per event: a face that
    /// consumes every event as it comes (`join_all`, `when_all`, ...) passes a
    /// sink that the compiler inlines into the engine's loop, so an event
    /// costs no call and no trip through `Poll<Option<Event>>`. Between two
    /// events the engine does exactly what a new call would (the cancel check,
    /// the signal), so the two ways of driving a batch behave the same.
    pub(crate) fn poll_drive<K>(self: Pin<&mut Self>, cx: &mut Context<'_>, sink: K) -> Poll<Drive>
    where
        K: FnMut(Event<<S::Task as Future>::Output>) -> ControlFlow<()>,
    {
        let this = self.project();
        this.core.drive(this.source, this.signal, cx, sink)
    }
}

impl<F: Future> Core<F> {
    /// The body of [`Engine::poll_drive`]. A method of `Core` taking the
    /// pinned source and signal apart, so that `&mut Core` is a function
    /// argument, which the compiler may assume nothing else touches while
    /// the function runs. It can then keep more of the engine's state in
    /// registers across a task's poll, an opaque call (how much, registers
    /// decide: see "Counting pulls" on [`Core`]); with the same loop
    /// reached through the engine's `Pin<&mut Self>`, it reloaded all of it
    /// after each poll (a race of 10,000 tasks, and
    /// 10,000 driven wakes, ran 6% faster for this alone). A `Core` that is
    /// `!Unpin` (a task output that is, through `parked`) carries no such
    /// promise even so: still correct, only not as fast.
    #[inline(always)]
    fn drive<S, C, K>(
        &mut self,
        mut source: Pin<&mut S>,
        mut signal: Pin<&mut C>,
        cx: &mut Context<'_>,
        mut sink: K,
    ) -> Poll<Drive>
    where
        S: Source<Task = F>,
        C: Signal,
        K: FnMut(Event<F::Output>) -> ControlFlow<()>,
    {
        let core = self;
        if core.step == Step::Fill && core.quota_end.is_some() && core.slots.running() > 0 {
            // The last run handed out an event from the middle of its fill
            // (it did not wait). Tasks woken since then have lower indices
            // than any the fill will pull, so they go first, as after a
            // wait (rules E2, R2: ties go to the lowest index); the fill
            // goes on after the round, with its quota. Here, not at the
            // start of a face's poll: a face that takes several events in
            // one poll (`first_ok`) gets the same order as one that takes
            // one per poll. (With no task in flight none can have been
            // woken: a batch of tasks that finish on their first poll pays
            // nothing here.)
            core.round_first_if_woken();
        }
        // While this run lasts, a wake of one of our tasks on this thread is
        // only a note in a local bit set (see `self_wake`).
        let running = Running::enter(core.slots.owner());
        // Leaves the search for the next event with this one: it goes to the
        // sink, and the engine starts over as a new call would. Events leave
        // through three calls of `sink`: the one below, for every kind, and
        // one each for the two hottest, a task that finishes on its first poll
        // (in the fill) and one that finishes in a round while slot order is
        // index order. Those two stay in their loops, and look at the signal
        // between two events as a new call would: a third fewer instructions
        // per task on S1, an eighth on S2 and S4. The compiler inlines a small
        // sink at all three; with a call at each of the five sites it kept
        // none inlined, so faces keep their sinks small (slow paths out of
        // line, as `when_all` does). (The label is passed in: labels are
        // hygienic in macros.)
        macro_rules! emit {
            ($found:lifetime, $event:expr) => {
                break $found $event
            };
        }
        // Hands an event to the sink from inside the loop that found it (the
        // fill's or the round's), then does what a new call would before the
        // next event: look at the signal, and on a cancel start over at the
        // top (`$drive`), which reports the tasks it dropped.
        macro_rules! hand_out {
            ($drive:lifetime, $event:expr) => {
                if sink($event).is_break() {
                    return Poll::Ready(Drive::Stopped);
                }
                if !core.stopping && signal.as_mut().poll(cx).is_ready() {
                    core.cancel(source.size_hint().1 == Some(0));
                    continue $drive;
                }
            };
        }
        'drive: loop {
            let event = 'event: {
                loop {
                    match core.phase {
                        Phase::Running => {}
                        Phase::Canceling => {
                            if core.slots.running() > 0 {
                                // A task's `Drop` panicked during the cancel
                                // (out of an earlier poll): drop the rest.
                                core.slots.drop_running();
                            }
                            // A round's parked completions finished before the cancel.
                            if let Some((index, output)) = core.parked.pop() {
                                emit!('event, Event::Done(index, output));
                            }
                            if core.dropped_together > 0 {
                                let count = core.dropped_together;
                                core.dropped_together = 0;
                                emit!('event, Event::CanceledMany(count));
                            }
                            if let Some(index) = core.slots.take_dropped() {
                                emit!('event, Event::Canceled(index));
                            }
                            core.phase = Phase::Done;
                            continue;
                        }
                        Phase::Done => return Poll::Ready(Drive::Finished),
                    }
                    if !core.stopping && signal.as_mut().poll(cx).is_ready() {
                        core.cancel(source.size_hint().1 == Some(0));
                        continue;
                    }
                    break;
                }
                loop {
                    match core.step {
                        Step::Fill => {
                            // The budget is checked here only, between rounds: never
                            // while a round's completions are parked, so a yield's
                            // top-up cannot pull past a fault that was already seen.
                            // Back in a stretch of pulls (room left, after an
                            // event) it cannot be spent: the room was cut to it.
                            debug_assert!(
                                !core.has_room()
                                    || core.polls() + core.room()
                                        <= core.slots.capacity().saturating_add(MIN_BUDGET)
                            );
                            if !core.has_room()
                                && core.polls() >= core.slots.capacity().saturating_add(MIN_BUDGET)
                            {
                                // Yield: the executor gets its thread back, and we are polled
                                // again soon because we woke ourselves. First top up to the
                                // limit, queueing the new tasks instead of polling them, so
                                // that the limit is reached whenever the batch returns. (A batch
                                // without a limit has no such promise, and an endless source
                                // must not be pulled dry here.)
                                while core.limit != usize::MAX
                                    && core.slots.running() + core.held < core.limit
                                    && !core.source_done
                                    && !core.source_parked
                                {
                                    match source.as_mut().poll_next_task(cx) {
                                        Poll::Ready(Some(task)) => {
                                            let id = core.admit(task, source.as_ref());
                                            core.slots.queue(id);
                                            // Not the fill's pulls: its quota
                                            // stays as it was.
                                            if let Some(end) = &mut core.quota_end {
                                                *end = end.wrapping_add(1);
                                            }
                                        }
                                        Poll::Ready(None) => core.source_done = true,
                                        Poll::Pending => core.source_parked = true,
                                    }
                                }
                                // No stretch goes on past the queued tasks.
                                core.end_stretch();
                                // (The tasks queued were not polled.) The
                                // fill's quota and mark stay: the next poll
                                // goes on with this fill after its round, and
                                // a fill that ran out of budget has pulled, so
                                // it is not idle then even if it pulls nothing
                                // more (its quota may be spent while places
                                // are free again: the fill after it pulls).
                                core.reset_polls();
                                core.source_parked = false;
                                core.yielded = true;
                                core.round_first();
                                // The run ends before the wake: if this batch is
                                // itself a task of a batch running on this
                                // thread, the wake is then that batch's note.
                                running.end();
                                cx.waker().wake_by_ref();
                                return Poll::Pending;
                            }
                            // A fill fills the places free when it starts: a task that
                            // finishes on its first poll frees a place for the *next*
                            // fill, after the round, so a woken task never waits
                            // behind a stream of instantly ready ones.
                            let quota_end = *core.quota_end.get_or_insert_with(|| {
                                let quota =
                                    core.limit.saturating_sub(core.slots.running() + core.held);
                                core.pulled.wrapping_add(quota)
                            });
                            // Pull and start tasks in a tight loop. Each pull
                            // stays within the quota, the limit and the budget
                            // exactly as one trip through the whole cycle would,
                            // but they are checked together once per stretch of
                            // pulls (`stretch_end`), not one by one per pull.
                            // A pull counts only in `pulled` (by `start`).
                            loop {
                                if !core.has_room() {
                                    if core.source_done || core.source_parked {
                                        break;
                                    }
                                    core.stretch_end =
                                        core.pulled.wrapping_add(core.fill_room(quota_end));
                                    if !core.has_room() {
                                        break;
                                    }
                                }
                                match source.as_mut().poll_next_task(cx) {
                                    Poll::Ready(Some(task)) => {
                                        // (A grow here, which raises the budget,
                                        // ends the stretch: see `Core::grow`.)
                                        if let Polled::Ready(index, output) =
                                            core.start(task, source.as_ref())
                                        {
                                            // Handed to the sink right here, so
                                            // that a batch of instantly ready
                                            // tasks stays in this loop; then,
                                            // as a new call would, the signal.
                                            hand_out!('drive, Event::Done(index, output));
                                        }
                                    }
                                    Poll::Ready(None) => {
                                        core.source_done = true;
                                        core.end_stretch();
                                    }
                                    Poll::Pending => {
                                        core.source_parked = true;
                                        core.end_stretch();
                                    }
                                }
                            }
                            if core.polls() >= core.slots.capacity().saturating_add(MIN_BUDGET) {
                                // Out of budget: yield (above) before the next pull.
                                continue;
                            }
                            // Nothing more to pull now.
                            core.quota_end = None;
                            core.end_stretch();
                            if core.source_done && core.slots.running() == 0 {
                                // Every task pulled has been reported (a round's
                                // completions are handed out before the next
                                // fill), and none is left to wake.
                                core.phase = Phase::Done;
                                return Poll::Ready(Drive::Finished);
                            }
                            // Idle when this trip pulled nothing new, no task
                            // woken on this thread is noted, and — with this
                            // turn's waker registered only now, so that a batch
                            // that never waits never clones it — the sets' top
                            // words show no wake: one before the registration
                            // left its bit, one after it wakes us.
                            let idle = !core.filled() && !core.slots.any_noted() && {
                                core.slots.register(&mut core.rounds, cx.waker());
                                !core.slots.any_woken()
                            };
                            core.fill_mark = core.pulled;
                            if idle {
                                core.reset_polls();
                                core.source_parked = false;
                                core.round_first();
                                return Poll::Pending;
                            }
                            core.rounds.restart();
                            core.step = Step::Round;
                        }
                        Step::Round => {
                            if let Some(id) = core.slots.next_woken(&mut core.rounds) {
                                match core.slots.poll(id) {
                                    Polled::Idle => {}
                                    Polled::Pending => core.count_poll(),
                                    Polled::Ready(index, output) => {
                                        core.count_poll();
                                        if !core.slots.reused() {
                                            // Slot order is index order: hand it out now,
                                            // from inside the round (as in the fill), then
                                            // look at the signal as a new call would.
                                            hand_out!('drive, Event::Done(index, output));
                                            continue;
                                        }
                                        core.parked.push((index, output));
                                    }
                                }
                                continue;
                            }
                            if core.parked.is_empty() {
                                // Nothing to hand out: straight back to filling.
                                core.step = Step::Fill;
                                continue;
                            }
                            if core.parked.len() > 1 {
                                core.parked
                                    .sort_unstable_by_key(|&(index, _)| core::cmp::Reverse(index));
                            }
                            core.step = Step::Emit;
                        }
                        Step::Emit => match core.parked.pop() {
                            Some((index, output)) => emit!('event, Event::Done(index, output)),
                            None => core.step = Step::Fill,
                        },
                    }
                }
            };
            if sink(event).is_break() {
                return Poll::Ready(Drive::Stopped);
            }
        }
    }
}

/// The panic of a batch polled again after a task's panic, once the others
/// have ended.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn lost_to_panic(index: usize) -> ! {
    panic!(
        "fanout: task {index} has no result: it panicked (in its poll or its `Drop`) in an \
         earlier poll of this batch (to keep a panic as the task's outcome, wrap each task \
         in `fanout::catch_panic`)"
    )
}

impl<F: Future> Core<F> {
    /// Drops the task lost to a panic out of the last run (if its future is
    /// still there) and remembers the first such index. During a run of
    /// the engine, as a cancel's drops are.
    #[cold]
    fn take_lost(&mut self) {
        let _running = Running::enter(self.slots.owner());
        if let Some((id, index)) = self.slots.take_lost() {
            // Recorded before the drop, which may panic too.
            self.lost.get_or_insert(index);
            self.slots.drop_lost(id, index);
        }
    }

    /// See [`Engine::cancel`]. The batch counts as canceled only if that cut it
    /// short — a task was dropped, or the source still had work: a signal that
    /// fires after every task completed changes nothing.
    ///
    /// Whether the source still had work: `source_exhausted` says its size
    /// hint promises no more tasks (an upper bound of 0), for a source whose
    /// end the engine has not pulled yet — a batch whose limit equals its
    /// size has every task in flight and has not asked for a next one. So the
    /// verdict does not depend on the limit. (Only an exact `Some(0)` counts,
    /// and only once a task was pulled: a signal that fired before the batch
    /// started cancels it even over an empty source, rule C1.)
    ///
    /// With a graceful stop ([`Engine::set_graceful`]), nothing is dropped:
    /// the stop source is canceled, nothing more is pulled, and the tasks in
    /// flight run on to their own ends (typically `Canceled`, as they observe
    /// their tokens), each reported as usual.
    fn cancel(&mut self, source_exhausted: bool) {
        if self.phase != Phase::Running || self.stopping {
            return;
        }
        self.stopping = true;
        // The fill in progress must look at the source's state again.
        self.end_stretch();
        let seen_empty = source_exhausted && self.pulled > 0;
        let cut_source = !self.source_done && !seen_empty;
        if let Some(stop) = &self.graceful {
            self.canceled = cut_source;
            self.source_done = true;
            stop.cancel();
        } else {
            // The state first, then the drops: a task whose `Drop` panics
            // leaves a batch that reports every task when polled again (the
            // `Canceling` phase drops what the panic left running).
            self.canceled = self.slots.running() > 0 || cut_source;
            self.source_done = true;
            self.phase = Phase::Canceling;
            // The tasks are dropped as in a run of the engine, as they are
            // when the batch is dropped: a face may cancel between two polls
            // (`first_ok` once it has a winner), and a task that drops its
            // waker then gives up a reference counted on this thread, with no
            // atomic (`ready`, "Reference counts"). A wake a task's drop makes
            // is then a note, which nothing needs: the batch reports its
            // cancel next, and never waits again.
            let _running = Running::enter(self.slots.owner());
            if self.each_cancel {
                self.slots.drop_running();
            } else {
                self.dropped_together = self.slots.running();
                self.slots.drop_all();
            }
        }
    }

    /// [`Core::round_first`], if a task was woken (or noted on this thread)
    /// since the last round: a fill cut short by an event resumes after it.
    #[inline]
    fn round_first_if_woken(&mut self) {
        // (`any_woken` looks at the noted wakes too.)
        if self.slots.any_woken() {
            // No stretch of pulls goes on past the round.
            self.end_stretch();
            self.round_first();
        }
    }

    /// Makes the next poll of the batch start with a round, not a fill: the
    /// tasks woken while the batch waited were ready before any task that
    /// poll will pull, and have lower indices (a task pulled later always
    /// has a higher one), so walking them first hands out a poll's events in
    /// index order (rules E2 and R2).
    #[inline]
    fn round_first(&mut self) {
        self.rounds.restart();
        self.step = Step::Round;
    }

    /// How many tasks the fill in progress may pull before it must look again:
    /// within what is left of its `quota`, the limit (counting the results the
    /// face holds) and the budget of polls before a yield. Each pull uses at
    /// most one of each, so this many pulls in a row keep every bound.
    ///
    /// Never inlined: it runs once per stretch of pulls, and inlined, the
    /// compiler computed it (branch-free) on every trip through the fill,
    /// one per task that finishes on its first poll: 25 instructions of
    /// S1's ~120 per task.
    #[inline(never)]
    fn fill_room(&self, quota_end: usize) -> usize {
        let quota = quota_end.wrapping_sub(self.pulled);
        let free = self.limit.saturating_sub(self.slots.running() + self.held);
        let budget = self
            .slots
            .capacity()
            .saturating_add(MIN_BUDGET)
            .saturating_sub(self.polls());
        quota.min(free).min(budget)
    }

    /// Whether the stretch of pulls in progress may pull another task.
    #[inline(always)]
    fn has_room(&self) -> bool {
        self.pulled != self.stretch_end
    }

    /// How many more tasks the stretch of pulls in progress may pull.
    #[inline(always)]
    fn room(&self) -> usize {
        self.stretch_end.wrapping_sub(self.pulled)
    }

    /// Ends the stretch of pulls in progress, if any: the next pull looks at
    /// the quota, the limit and the budget first.
    #[inline(always)]
    fn end_stretch(&mut self) {
        self.stretch_end = self.pulled;
    }

    /// Children polled since the batch last returned `Pending`.
    #[inline(always)]
    fn polls(&self) -> usize {
        self.polls_base.wrapping_add(self.pulled)
    }

    /// Counts a poll of a task that was pulled before (a fill's first polls
    /// count through `pulled`).
    #[inline(always)]
    fn count_poll(&mut self) {
        self.polls_base = self.polls_base.wrapping_add(1);
    }

    /// The batch returns `Pending`: a new budget for its next poll.
    #[inline(always)]
    fn reset_polls(&mut self) {
        self.polls_base = self.pulled.wrapping_neg();
    }

    /// Whether the current trip through the fill pulled a task (or a budget
    /// yield's top-up queued one since the trip started: see `fill_mark`).
    #[inline(always)]
    fn filled(&self) -> bool {
        self.pulled != self.fill_mark
    }

    /// Gives a task just pulled from the source its index and a slot, growing
    /// the storage if every slot is in use (see [`Core::grow`]).
    fn admit<S: Source<Task = F>>(&mut self, task: F, source: Pin<&S>) -> SlotId {
        if !self.slots.has_free() {
            self.grow(source);
        }
        let id = self.slots.insert(self.pulled, task);
        self.pulled += 1;
        id
    }

    /// Gives a task just pulled from the source its index and a slot, and
    /// polls it for the first time. Always inlined: it is the fill loop's body.
    #[inline(always)]
    fn start<S: Source<Task = F>>(&mut self, task: F, source: Pin<&S>) -> Polled<F::Output> {
        let index = self.pulled;
        self.pulled += 1;
        match self.slots.start(index, task) {
            Ok(polled) => polled,
            Err(task) => {
                self.grow(source);
                match self.slots.start(index, task) {
                    Ok(polled) => polled,
                    Err(_) => unreachable!("fanout: no slot after growing"),
                }
            }
        }
    }

    /// Adds a block when every slot is in use. The source's size hint *after*
    /// the task being placed is asked only here, so a known-size batch gets one
    /// exact block (and an empty one allocates nothing: storage is made for
    /// the first task).
    #[cold]
    fn grow<S: Source<Task = F>>(&mut self, source: Pin<&S>) {
        let (low, high) = source.size_hint();
        let hint = (
            low.saturating_add(1),
            high.and_then(|high| high.checked_add(1)),
        );
        let first = self.slots.capacity() == 0;
        self.slots
            .grow(block_size(self.slots.capacity(), self.limit, hint));
        if first {
            // The batch has a name for `self_wake` now; it is running (only
            // a run grows), so its tasks' wakes on this thread from now on
            // are notes.
            self_wake::now_running(self.slots.owner());
        }
        // More slots, more budget: the fill in progress works out its room
        // again after this pull (`start` counts it in `pulled` first).
        self.end_stretch();
    }
}

/// The size of the block to add when every slot is in use: an exact size hint
/// sizes the first block exactly (a known-size batch allocates once, up to
/// [`MAX_FIRST_BLOCK`]); otherwise blocks double the total capacity, so a batch
/// of unknown size has O(log n) blocks and never moves a started task. Never
/// more than the limit allows. A lower bound alone is not trusted for size:
/// an endless source (`0..`) says `usize::MAX`.
fn block_size(capacity: usize, limit: usize, (low, high): (usize, Option<usize>)) -> usize {
    let room = limit - capacity;
    let want = if capacity == 0 {
        match high {
            Some(high) if high == low => low.min(MAX_FIRST_BLOCK),
            _ => low.clamp(MIN_BLOCK, MAX_FIRST_BLOCK),
        }
    } else {
        capacity
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

    /// The builder step behind a face's `.graceful(stop)`.
    pub(crate) fn with_graceful(mut self, stop: CancelSource) -> Self {
        self.set_graceful(stop);
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

#[cfg(all(test, not(fanout_loom)))]
mod tests;

#[cfg(all(test, fanout_loom))]
mod loom;
