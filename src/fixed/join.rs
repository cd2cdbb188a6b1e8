//! [`FixedJoin`]: the future of `.join_all()`, `.when_all()` and
//! `.settle_all()` on a tuple or an array. One loop for the three; the kind
//! ([`JoinAll`], [`WhenAll`], [`SettleAll`]) says what the batch resolves to.

use super::control::Control;
use super::storage::{Judged, SharedError, Storage};
use super::Join;
use crate::cancel::CancelSource;
use crate::outcome::Failure;
use crate::signal::{EitherSignal, NoSignal, Signal};
use core::future::{Future, IntoFuture};
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::FusedFuture;
use pin_project_lite::pin_project;

mod sealed {
    /// The kinds whose batch can fail, and so takes `cancel_on`,
    /// `fail_fast` and `graceful`.
    pub trait CanFail {}
    impl CanFail for super::WhenAll {}
    impl CanFail for super::SettleAll {}

    pub trait Kind<S> {
        type Output;
        /// Whether an element's ending can be a fault (and so stop a
        /// fail-fast batch).
        fn is_fault(slots: &S, index: usize) -> bool;
        /// What the batch resolves to, once every element has ended.
        fn finish(slots: core::pin::Pin<&mut S>, canceled: bool) -> Self::Output;
    }
}
use sealed::Kind;

/// The kind of [`FixedJoin`] that [`Join::join_all`] builds: every output, as
/// it is.
#[derive(Debug)]
pub enum JoinAll {}

/// The kind of [`FixedJoin`] that [`Join::when_all`] builds: every value, or
/// every fault.
#[derive(Debug)]
pub enum WhenAll {}

/// The kind of [`FixedJoin`] that [`Join::settle_all`] builds: every
/// element's [`Outcome`](crate::Outcome).
#[derive(Debug)]
pub enum SettleAll {}

impl<S: Storage> Kind<S> for JoinAll {
    type Output = S::Outputs;

    #[inline(always)]
    fn is_fault(_: &S, _: usize) -> bool {
        false
    }

    fn finish(slots: Pin<&mut S>, _: bool) -> S::Outputs {
        slots.take_outputs()
    }
}

impl<S: SharedError> Kind<S> for WhenAll {
    type Output = Result<S::Values, Failure<S::Err>>;

    #[inline(always)]
    fn is_fault(slots: &S, index: usize) -> bool {
        slots.is_fault(index)
    }

    #[inline(always)]
    fn finish(slots: Pin<&mut S>, canceled: bool) -> Self::Output {
        slots.take_verdict(canceled)
    }
}

impl<S: Judged> Kind<S> for SettleAll {
    type Output = S::Outcomes;

    #[inline(always)]
    fn is_fault(slots: &S, index: usize) -> bool {
        slots.is_fault(index)
    }

    fn finish(slots: Pin<&mut S>, _: bool) -> S::Outcomes {
        slots.take_outcomes()
    }
}

pin_project! {
    /// The future of [`Join::join_all`], [`Join::when_all`] and
    /// [`Join::settle_all`] on a tuple or an array of futures: `K` is
    /// [`JoinAll`], [`WhenAll`] or [`SettleAll`], `C` the cancel signal.
    ///
    /// Every element runs inside the batch, pinned where it is: the batch
    /// allocates nothing (but a failed `when_all`'s list of faults, and an
    /// array longer than [`INLINE_MAX`](super::INLINE_MAX), which the engine
    /// runs). Each poll of a tuple or a short array polls every element
    /// still running, in element order, as `futures::join!` does; a long
    /// array polls only its woken elements (see [the module
    /// docs](super#how-it-polls)).
    #[must_use = "futures do nothing unless polled"]
    pub struct FixedJoin<T: Join, K, C = NoSignal> {
        #[pin]
        slots: T::Slots,
        #[pin]
        signal: C,
        control: Control,
        kind: PhantomData<fn() -> K>,
    }
}

impl<T: Join, K> FixedJoin<T, K> {
    pub(crate) fn new(tasks: T) -> Self {
        Self {
            slots: tasks.into_slots(),
            signal: NoSignal,
            control: Control::default(),
            kind: PhantomData,
        }
    }
}

/// The options of a batch that can fail, `when_all` and `settle_all`: one
/// set for both (`join_all`'s elements cannot fail, so it has none).
impl<T: Join, K: sealed::CanFail, C> FixedJoin<T, K, C> {
    /// Cancels the batch when `signal` completes: every element still
    /// running is dropped and counts as canceled. Any future is a signal — a
    /// [`CancelToken::canceled`](crate::cancel::CancelToken::canceled), a
    /// runtime's timer, a shutdown future. Called twice, either signal
    /// cancels. `when_all` then fails with `Failure::Canceled`, or with
    /// `Failure::Faulted` if an element faulted (faults win); `settle_all`
    /// records each dropped element as `Outcome::Canceled`.
    ///
    /// ```
    /// use fanout::{Failure, Join, Outcome};
    /// use futures::future::{pending, ready};
    ///
    /// let batch = (ready(Ok::<u8, ()>(1)), pending::<Result<&str, ()>>())
    ///     .when_all()
    ///     .cancel_on(ready(())); // a signal that already fired
    /// assert_eq!(futures::executor::block_on(batch), Err(Failure::Canceled));
    ///
    /// let batch = (ready(Ok::<u8, ()>(1)), pending::<Result<&str, ()>>())
    ///     .settle_all()
    ///     .cancel_on(ready(()));
    /// let (a, b) = futures::executor::block_on(batch);
    /// assert_eq!((a, b), (Outcome::Canceled, Outcome::Canceled)); // the signal came first
    /// ```
    pub fn cancel_on<F: IntoFuture>(
        self,
        signal: F,
    ) -> FixedJoin<T, K, EitherSignal<C, F::IntoFuture>> {
        FixedJoin {
            slots: self.slots,
            signal: EitherSignal::new(self.signal, signal.into_future()),
            control: self.control,
            kind: PhantomData,
        }
    }

    /// The first fault cancels the batch: every element still running is
    /// dropped (`settle_all`: recorded `Outcome::Canceled`), or, with
    /// [`graceful`](Self::graceful), told to stop and awaited. The fault is
    /// the first seen in element order: elements after it are not polled
    /// again, so their faults in the same poll are not seen (as with
    /// `try_join!`); faults of earlier polls are all kept.
    ///
    /// ```
    /// use fanout::{Failure, Join, Outcome};
    /// use futures::future::{pending, ready};
    ///
    /// let batch = (pending::<Result<u8, &str>>(), ready(Err::<String, _>("boom"))).when_all();
    /// let Err(Failure::Faulted(faults)) = futures::executor::block_on(batch.fail_fast()) else {
    ///     unreachable!()
    /// };
    /// assert_eq!(faults.into_vec(), [(1, "boom")]);
    ///
    /// let batch = (pending::<Result<u8, &str>>(), ready(Err::<(), _>("boom"))).settle_all();
    /// let (a, b) = futures::executor::block_on(batch.fail_fast());
    /// assert_eq!((a, b), (Outcome::Canceled, Outcome::Faulted("boom")));
    /// ```
    pub fn fail_fast(mut self) -> Self {
        self.control.fail_fast = true;
        self
    }

    /// Stops gracefully, the `Parallel.ForEachAsync` way: when the batch is
    /// canceled (its signal, or a fault with [`fail_fast`](Self::fail_fast)),
    /// it cancels `stop` and **waits** for the elements still running to end
    /// on their own, instead of dropping them; each keeps the outcome it ends
    /// with. Build each element with a token of `stop`
    /// ([`CancelToken::run`](crate::cancel::CancelToken::run)) so it can
    /// notice.
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    /// use fanout::{Failure, Join, Outcome};
    /// use futures::future::{pending, ready};
    ///
    /// let stop = CancelSource::new();
    /// let slow = stop.token().run(pending::<Result<u8, &str>>());
    /// let batch = (slow, ready(Err::<u8, _>("boom"))).when_all().fail_fast().graceful(&stop);
    /// // The fault cancels `stop`; the slow element ends `Canceled` on its own.
    /// let Err(Failure::Faulted(faults)) = futures::executor::block_on(batch) else { unreachable!() };
    /// assert_eq!(faults.into_vec(), [(1, "boom")]);
    /// assert!(stop.is_canceled());
    ///
    /// let stop = CancelSource::new();
    /// let slow = stop.token().run(pending::<Result<u8, &str>>());
    /// let batch = (slow, ready(Err::<u8, _>("boom"))).settle_all().fail_fast().graceful(&stop);
    /// let (a, b) = futures::executor::block_on(batch);
    /// assert_eq!((a, b), (Outcome::Canceled, Outcome::Faulted("boom")));
    /// ```
    pub fn graceful(mut self, stop: &CancelSource) -> Self {
        self.control.graceful = Some(stop.clone_handle());
        self
    }
}

impl<T, K, C> Future for FixedJoin<T, K, C>
where
    T: Join,
    K: Kind<T::Slots>,
    C: Signal,
{
    type Output = K::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<K::Output> {
        let this = self.project();
        let (control, mut slots) = (this.control, this.slots);
        assert!(
            !control.done,
            "a fanout batch was polled after it completed"
        );
        control.check_signal(this.signal, slots.as_mut(), cx);
        let finished = control.pass(slots.as_mut(), cx, K::is_fault);
        if finished {
            if let Some(index) = slots.lost() {
                crate::engine::lost_to_panic(index);
            }
            control.done = true;
            Poll::Ready(K::finish(slots, control.canceled))
        } else {
            Poll::Pending
        }
    }
}

impl<T, K, C> FusedFuture for FixedJoin<T, K, C>
where
    T: Join,
    K: Kind<T::Slots>,
    C: Signal,
{
    fn is_terminated(&self) -> bool {
        self.control.done
    }
}

impl<T: Join, K, C> core::fmt::Debug for FixedJoin<T, K, C> {
    /// The batch's progress, never its elements (which need not be `Debug`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FixedJoin")
            .field("len", &<T::Slots as Storage>::LEN)
            .field("canceled", &self.control.canceled)
            .field("finished", &self.control.done)
            .finish()
    }
}
