//! [`FixedRace`]: the future of `.when_any()` and `.first_ok()` on an array (or a
//! tuple whose elements share one type).
//! One loop for the two; the kind ([`WhenAny`], [`FirstOk`]) says which
//! ending wins and what the race resolves to.

use super::control::Control;
use super::storage::{Storage, Uniform};
use super::Join;
use crate::cancel::CancelSource;
use crate::outcome::{Failure, Outcome, TaskOutput};
use crate::signal::{EitherSignal, NoSignal, Signal};
use alloc::vec::Vec;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

mod sealed {
    pub trait Kind<T> {
        /// What the race keeps while it runs: the winner, and (for
        /// `first_ok`) every fault so far.
        type State: Default;
        type Output;
        /// Judges the output of element `index`; `true` if it wins.
        fn judge(state: &mut Self::State, index: usize, output: Option<T>) -> bool;
        /// What the race resolves to, once every element has ended.
        fn finish(state: &mut Self::State, canceled: bool) -> Self::Output;
    }
}
use sealed::Kind;

/// The kind of [`FixedRace`] that [`Race::when_any`](super::Race::when_any) builds: the first
/// element to end, whatever its output.
#[derive(Debug)]
pub enum WhenAny {}

/// The kind of [`FixedRace`] that [`Race::first_ok`](super::Race::first_ok) builds: the first
/// element to complete successfully.
#[derive(Debug)]
pub enum FirstOk {}

impl<T> Kind<T> for WhenAny {
    type State = Option<(usize, T)>;
    type Output = Option<(usize, T)>;

    fn judge(state: &mut Self::State, index: usize, output: Option<T>) -> bool {
        match output {
            Some(output) => {
                *state = Some((index, output));
                true
            }
            // Dropped by the signal: the race was given up.
            None => false,
        }
    }

    fn finish(state: &mut Self::State, _: bool) -> Self::Output {
        state.take()
    }
}

/// What [`first_ok`](super::Race::first_ok) keeps while it runs.
#[derive(Debug)]
pub struct FirstOkState<T, E> {
    winner: Option<(usize, T)>,
    faults: Vec<(usize, E)>,
    canceled: bool,
}

impl<T, E> Default for FirstOkState<T, E> {
    fn default() -> Self {
        Self {
            winner: None,
            faults: Vec::new(),
            canceled: false,
        }
    }
}

impl<O: TaskOutput> Kind<O> for FirstOk {
    type State = FirstOkState<O::Ok, O::Err>;
    type Output = Result<(usize, O::Ok), Failure<O::Err>>;

    fn judge(state: &mut Self::State, index: usize, output: Option<O>) -> bool {
        match output.map(TaskOutput::into_outcome) {
            Some(Outcome::Completed(value)) => {
                state.winner = Some((index, value));
                return true;
            }
            Some(Outcome::Faulted(error)) => state.faults.push((index, error)),
            Some(Outcome::Canceled) | None => state.canceled = true,
        }
        false
    }

    fn finish(state: &mut Self::State, canceled: bool) -> Self::Output {
        if let Some(winner) = state.winner.take() {
            return Ok(winner);
        }
        let faults = core::mem::take(&mut state.faults);
        // No fault and no cancellation: the array was empty, a failure with
        // no faults (as `Promise.any([])` rejects).
        Err(
            Failure::from_parts(faults.into_iter().collect(), state.canceled || canceled)
                .unwrap_or(Failure::Faulted(crate::outcome::Faults::new())),
        )
    }
}

pin_project! {
    /// The future of [`Race::when_any`](super::Race::when_any) and [`Race::first_ok`](super::Race::first_ok) on an array of
    /// futures: `K` is [`WhenAny`] or [`FirstOk`], `C` the cancel signal.
    ///
    /// Once the race has a winner, the other elements are dropped (or, with
    /// [`graceful`](FixedRace::graceful), told to stop and awaited, their
    /// outputs discarded). Polled like [`FixedJoin`](super::FixedJoin). It
    /// allocates nothing, but `first_ok`'s list of faults when an element
    /// faults.
    #[must_use = "futures do nothing unless polled"]
    pub struct FixedRace<T, K, C = NoSignal>
    where
        T: Join,
        T::Slots: Uniform,
        K: Kind<<T::Slots as Uniform>::Item>,
    {
        #[pin]
        slots: T::Slots,
        #[pin]
        signal: C,
        control: Control,
        state: K::State,
        // The race has a winner: the others' endings change nothing.
        won: bool,
    }
}

impl<T, K> FixedRace<T, K>
where
    T: Join,
    T::Slots: Uniform,
    K: Kind<<T::Slots as Uniform>::Item>,
{
    pub(crate) fn new(tasks: T) -> Self {
        Self {
            slots: tasks.into_slots(),
            signal: NoSignal,
            control: Control::default(),
            state: K::State::default(),
            won: false,
        }
    }
}

impl<T, K, C> FixedRace<T, K, C>
where
    T: Join,
    T::Slots: Uniform,
    K: Kind<<T::Slots as Uniform>::Item>,
{
    /// Gives up the race when `signal` completes: every element still
    /// running is dropped, and the race resolves to `None` (`when_any`) or
    /// fails with every fault so far, else `Failure::Canceled` (`first_ok`).
    /// Any future is a signal; called twice, either signal cancels.
    ///
    /// ```
    /// use fanout::Race;
    /// use futures::future::{pending, ready};
    ///
    /// let race = [pending::<u8>(), pending()].when_any().cancel_on(ready(()));
    /// assert_eq!(futures::executor::block_on(race), None);
    /// ```
    pub fn cancel_on<F: IntoFuture>(
        self,
        signal: F,
    ) -> FixedRace<T, K, EitherSignal<C, F::IntoFuture>> {
        FixedRace {
            slots: self.slots,
            signal: EitherSignal::new(self.signal, signal.into_future()),
            control: self.control,
            state: self.state,
            won: self.won,
        }
    }

    /// Stops gracefully: when the race is decided — by a winner, or by the
    /// signal of [`cancel_on`](Self::cancel_on) — it cancels `stop` and
    /// **waits** for the elements still running to end on their own, instead
    /// of dropping them. After a winner, their outputs are discarded; after
    /// the signal, they still take part (the first to win, wins).
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    /// use fanout::Race;
    /// use futures::future::{pending, ready, Either};
    ///
    /// let stop = CancelSource::new();
    /// let mirrors = [
    ///     Either::Left(stop.token().run(pending::<Result<&str, &str>>())),
    ///     Either::Right(ready(Ok("mirror 1").into())),
    /// ];
    /// let race = mirrors.first_ok().graceful(&stop);
    /// assert_eq!(futures::executor::block_on(race), Ok((1, "mirror 1")));
    /// assert!(stop.is_canceled()); // mirror 0 was told to stop, and ended
    /// ```
    pub fn graceful(mut self, stop: &CancelSource) -> Self {
        self.control.graceful = Some(stop.clone_handle());
        self
    }
}

impl<T, K, C> Future for FixedRace<T, K, C>
where
    T: Join,
    T::Slots: Uniform,
    K: Kind<<T::Slots as Uniform>::Item>,
    C: Signal,
{
    type Output = K::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Output> {
        let this = self.project();
        let (control, state, won, mut slots) = (this.control, this.state, this.won, this.slots);
        assert!(!control.done, "a fanout race was polled after it completed");
        control.check_signal(this.signal, slots.as_mut(), cx);
        slots.as_mut().start_pass();
        if control.stopping && control.graceful.is_none() {
            // See `Control::pass`: finish a cancel cut short by a panic.
            slots.as_mut().cancel();
        }
        while let Some(index) = slots.as_mut().poll_next(cx) {
            let output = slots.as_mut().take_item(index);
            if !*won && K::judge(state, index, output) {
                *won = true;
                control.stop(slots.as_mut());
            }
        }
        if slots.all_ended() {
            if let Some(index) = slots.lost() {
                crate::engine::lost_to_panic(index);
            }
            control.done = true;
            Poll::Ready(K::finish(state, control.canceled))
        } else {
            Poll::Pending
        }
    }
}

impl<T, K, C> FusedFuture for FixedRace<T, K, C>
where
    T: Join,
    T::Slots: Uniform,
    K: Kind<<T::Slots as Uniform>::Item>,
    C: Signal,
{
    fn is_terminated(&self) -> bool {
        self.control.done
    }
}

impl<T, K, C> core::fmt::Debug for FixedRace<T, K, C>
where
    T: Join,
    T::Slots: Uniform,
    K: Kind<<T::Slots as Uniform>::Item>,
{
    /// The race's progress, never its elements.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FixedRace")
            .field("len", &<T::Slots as Storage>::LEN)
            .field("canceled", &self.control.canceled)
            .field("finished", &self.control.done)
            .finish()
    }
}
