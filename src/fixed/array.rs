//! Arrays `[F; N]`: inline up to [`INLINE_MAX`] elements, polled in passes
//! like a tuple; larger arrays are handed to the engine, which polls only
//! the elements that were woken.

use super::slot::{poll_noting_loss, Slot};
use super::storage::{Judged, SharedError, Storage, Uniform};
use super::{sealed, Join, Race};
use crate::engine::{Engine, Event};
use crate::outcome::{Failure, Faults, Outcome, TaskOutput};
use crate::signal::NoSignal;
use crate::source::{IntoSource, IterSource};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};

/// Arrays of at most this many elements are polled inline, every running
/// element on each poll of the batch (as `join!` does), with no allocation.
/// Longer arrays go to the engine: a pass that polls every element costs
/// `O(N)` per wake, `O(N²)` for a batch whose elements are woken one at a
/// time. (`futures::future::join_all` switches at 30 for the same reason.)
pub const INLINE_MAX: usize = 32;

/// The engine of a long array: its elements, pulled from the array itself.
type ArrayEngine<F, const N: usize> = Engine<IterSource<core::array::IntoIter<F, N>>, NoSignal>;

/// The storage of an array batch.
///
/// Pinning is structural for `slots` (projected by [`ArraySlots::project`])
/// and not for the other fields. (`pin-project-lite` takes no const
/// generics, so the projection is written out.) `ArraySlots` is `Unpin`
/// exactly when its elements are, it has no `Drop` of its own, and nothing
/// moves `slots` or an element out of a pinned `ArraySlots`.
pub struct ArraySlots<F: Future, const N: usize> {
    // Inline: the elements themselves. Handed to the engine: where their
    // outputs are kept as the engine hands them back.
    slots: [Slot<F>; N],
    // Only for arrays longer than `INLINE_MAX`. Boxed, so that a short
    // array's batch is one pointer larger, not an engine larger.
    engine: Option<Pin<Box<ArrayEngine<F, N>>>>,
    // Where an inline pass goes on: the next element to poll.
    cursor: usize,
    // The first inline element whose poll panicked (`Storage::lost`).
    lost: Option<usize>,
}

/// The fields of a pinned [`ArraySlots`].
struct Projection<'a, F: Future, const N: usize> {
    slots: Pin<&'a mut [Slot<F>; N]>,
    engine: &'a mut Option<Pin<Box<ArrayEngine<F, N>>>>,
    cursor: &'a mut usize,
    lost: &'a mut Option<usize>,
}

/// Element `index` of a pinned array, pinned.
#[inline(always)]
fn pin_index<T, const N: usize>(array: Pin<&mut [T; N]>, index: usize) -> Pin<&mut T> {
    // Pinning is structural for the elements of an array: the array is a
    // place that holds them, nothing here moves an element out of a pinned
    // array or swaps two of them, and an array that is `Unpin` (and so could
    // be moved through `Pin::get_mut`) has `Unpin` elements.
    // SAFETY: so the element stays pinned for as long as the array is.
    unsafe { array.map_unchecked_mut(|array| &mut array[index]) }
}

impl<F: Future, const N: usize> ArraySlots<F, N> {
    #[inline(always)]
    fn project(self: Pin<&mut Self>) -> Projection<'_, F, N> {
        // SAFETY: see the type's docs: `slots` is pinned structurally and is
        // only ever handed out pinned; the other fields are never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        Projection {
            // SAFETY: `slots` lives in the pinned `self` and is not moved
            // out of it (the type's docs).
            slots: unsafe { Pin::new_unchecked(&mut this.slots) },
            engine: &mut this.engine,
            cursor: &mut this.cursor,
            lost: &mut this.lost,
        }
    }

    fn new<I: IntoFuture<IntoFuture = F>>(array: [I; N]) -> Self {
        let futures = array.map(IntoFuture::into_future);
        if N <= INLINE_MAX {
            Self {
                slots: futures.map(|future| Slot::Running { future }),
                engine: None,
                cursor: 0,
                lost: None,
            }
        } else {
            // Every element is pulled on the first poll (no limit); the
            // engine reports each cancel by index, as outcomes are per index.
            let engine = Engine::new(futures.into_source(), NoSignal).report_each_cancel();
            Self {
                slots: core::array::from_fn(|_| Slot::Empty),
                engine: Some(Box::pin(engine)),
                cursor: 0,
                lost: None,
            }
        }
    }

    /// Takes every output out, in order.
    fn take_each<T>(self: Pin<&mut Self>, mut f: impl FnMut(Option<F::Output>) -> T) -> [T; N] {
        let mut slots = self.project().slots;
        core::array::from_fn(|index| f(pin_index(slots.as_mut(), index).take()))
    }
}

impl<I: IntoFuture, const N: usize> sealed::Sealed for [I; N] {}

impl<I: IntoFuture, const N: usize> Join for [I; N] {
    type Slots = ArraySlots<I::IntoFuture, N>;

    fn into_slots(self) -> Self::Slots {
        ArraySlots::new(self)
    }
}

impl<I: IntoFuture, const N: usize> Race for [I; N] {}

impl<F: Future, const N: usize> Storage for ArraySlots<F, N> {
    const LEN: usize = N;
    type Outputs = [F::Output; N];

    #[inline]
    fn start_pass(self: Pin<&mut Self>) {
        let this = self.project();
        *this.cursor = 0;
        if let Some(engine) = this.engine {
            engine.as_mut().start_turn();
        }
        if let Some(index) = *this.lost {
            pin_index(this.slots, index).lose();
        }
    }

    #[inline(always)]
    fn lost(&self) -> Option<usize> {
        self.lost
    }

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<usize> {
        let this = self.project();
        let mut slots = this.slots;
        if let Some(engine) = this.engine.as_mut() {
            match engine.as_mut().poll_event(cx) {
                Poll::Ready(Some(Event::Done(index, output))) => {
                    pin_index(slots, index).put(output);
                    return Some(index);
                }
                Poll::Ready(Some(Event::Canceled(index))) => {
                    pin_index(slots, index).put_canceled();
                    return Some(index);
                }
                Poll::Ready(Some(Event::CanceledMany(_))) => {
                    unreachable!("fanout: the array's engine reports each cancel")
                }
                Poll::Pending => return None,
                Poll::Ready(None) => {}
            }
            // An element the engine lost to a panic has no output to come.
            *this.lost = engine.lost();
            // Every element has been reported: drop the engine now, and
            // with it any element it never pulled (a cancel came first).
            *this.engine = None;
            return None;
        }
        while *this.cursor < N {
            let index = *this.cursor;
            *this.cursor += 1;
            if poll_noting_loss(this.lost, index, pin_index(slots.as_mut(), index), cx) {
                return Some(index);
            }
        }
        None
    }

    #[inline]
    fn poll_all(mut self: Pin<&mut Self>, cx: &mut Context<'_>) {
        if self.engine.is_some() {
            while self.as_mut().poll_next(cx).is_some() {}
            return;
        }
        let this = self.project();
        let mut slots = this.slots;
        for index in 0..N {
            poll_noting_loss(this.lost, index, pin_index(slots.as_mut(), index), cx);
        }
    }

    fn cancel(self: Pin<&mut Self>) {
        let this = self.project();
        let mut slots = this.slots;
        if let Some(engine) = this.engine {
            // The engine drops the elements in flight now and reports each
            // by index; the ones it never pulled are recorded here, and
            // dropped with the engine once it has reported the rest.
            engine.as_mut().cancel();
            for index in engine.pulled()..N {
                pin_index(slots.as_mut(), index).put_canceled();
            }
            return;
        }
        for index in 0..N {
            pin_index(slots.as_mut(), index).cancel();
        }
    }

    #[inline]
    fn all_ended(&self) -> bool {
        self.engine.is_none() && !self.slots.iter().any(Slot::is_running)
    }

    fn take_outputs(self: Pin<&mut Self>) -> Self::Outputs {
        self.take_each(|output| output.expect("fanout: `join_all` cannot cancel an element"))
    }
}

#[diagnostic::do_not_recommend]
impl<F, const N: usize> Judged for ArraySlots<F, N>
where
    F: Future,
    F::Output: TaskOutput,
{
    type Outcomes = [Outcome<<F::Output as TaskOutput>::Ok, <F::Output as TaskOutput>::Err>; N];

    #[inline]
    fn is_fault(&self, index: usize) -> bool {
        self.slots[index].output().is_some_and(TaskOutput::is_fault)
    }

    fn take_outcomes(self: Pin<&mut Self>) -> Self::Outcomes {
        self.take_each(|output| output.map_or(Outcome::Canceled, TaskOutput::into_outcome))
    }
}

#[diagnostic::do_not_recommend]
impl<F, const N: usize> SharedError for ArraySlots<F, N>
where
    F: Future,
    F::Output: TaskOutput,
{
    type Values = [<F::Output as TaskOutput>::Ok; N];
    type Err = <F::Output as TaskOutput>::Err;

    fn take_verdict(
        self: Pin<&mut Self>,
        canceled: bool,
    ) -> Result<Self::Values, Failure<Self::Err>> {
        let outcomes = self.take_outcomes();
        let faults = outcomes.iter().filter(|o| o.is_faulted()).count();
        if faults > 0 {
            let mut list = Vec::with_capacity(faults);
            for (index, outcome) in outcomes.into_iter().enumerate() {
                if let Outcome::Faulted(error) = outcome {
                    list.push((index, error));
                }
            }
            return Err(Failure::Faulted(list.into_iter().collect::<Faults<_>>()));
        }
        if canceled || outcomes.iter().any(Outcome::is_canceled) {
            return Err(Failure::Canceled);
        }
        Ok(outcomes.map(|outcome| match outcome {
            Outcome::Completed(value) => value,
            Outcome::Faulted(_) | Outcome::Canceled => unreachable!(),
        }))
    }
}

impl<F: Future, const N: usize> Uniform for ArraySlots<F, N> {
    type Item = F::Output;

    fn take_item(self: Pin<&mut Self>, index: usize) -> Option<F::Output> {
        pin_index(self.project().slots, index).take()
    }
}
