//! Tuples of 1 to 12 futures of different types: one storage struct per
//! arity, a field per element, each element pinned in place (no allocation).

use super::slot::{poll_noting_loss, Slot};
use super::storage::{Judged, SharedError, Storage, Uniform};
use super::{sealed, Join, Race};
use crate::outcome::{Failure, Outcome, TaskOutput};
use alloc::vec::Vec;
use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::Context;
use pin_project_lite::pin_project;

/// How an element ended, as an outcome: `Canceled` if the batch dropped it.
#[inline(always)]
fn outcome<O: TaskOutput>(output: Option<O>) -> Outcome<O::Ok, O::Err> {
    output.map_or(Outcome::Canceled, TaskOutput::into_outcome)
}

/// `X`, once for each element: the type list of a tuple whose elements all
/// have one type.
macro_rules! same {
    ($_element:ident, $X:ident) => {
        $X
    };
}

const DROPPED: &str = "fanout: `join_all` cannot cancel an element";

macro_rules! tuple {
    ($Name:ident, $len:literal; $($F:ident $f:ident $i:tt),+) => {
        pin_project! {
            /// The storage of a tuple batch of this many elements.
            pub struct $Name<$($F: Future),+> {
                $(#[pin] $f: Slot<$F>,)+
                // Where the pass goes on: the next element to poll.
                cursor: usize,
                // The first element whose poll panicked (`Storage::lost`).
                lost: Option<usize>,
            }
        }

        impl<$($F: IntoFuture),+> sealed::Sealed for ($($F,)+) {}

        impl<$($F: IntoFuture),+> Race for ($($F,)+) {}

        #[diagnostic::do_not_recommend]
        impl<X: Future> Uniform for $Name<$(same!($F, X)),+> {
            type Item = X::Output;

            fn take_item(self: Pin<&mut Self>, index: usize) -> Option<X::Output> {
                let this = self.project();
                match index {
                    $($i => this.$f.take(),)+
                    _ => None,
                }
            }
        }

        impl<$($F: IntoFuture),+> Join for ($($F,)+) {
            type Slots = $Name<$($F::IntoFuture),+>;

            fn into_slots(self) -> Self::Slots {
                let ($($f,)+) = self;
                $Name {
                    $($f: Slot::Running { future: $f.into_future() },)+
                    cursor: 0,
                    lost: None,
                }
            }
        }

        impl<$($F: Future),+> $Name<$($F),+> {
            /// Drops the element whose poll panicked out of an earlier
            /// pass (`Storage::lost`), if it still runs. Out of line: the
            /// hot pass only tests `lost`.
            #[cold]
            #[inline(never)]
            fn lose_lost(self: Pin<&mut Self>) {
                let this = self.project();
                match *this.lost {
                    $(Some($i) => this.$f.lose(),)+
                    _ => {}
                }
            }
        }

        impl<$($F: Future),+> Storage for $Name<$($F),+> {
            const LEN: usize = $len;
            type Outputs = ($($F::Output,)+);

            #[inline(always)]
            fn start_pass(mut self: Pin<&mut Self>) {
                if self.lost.is_some() {
                    self.as_mut().lose_lost();
                }
                *self.project().cursor = 0;
            }

            #[inline(always)]
            fn lost(&self) -> Option<usize> {
                self.lost
            }

            #[inline(always)]
            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<usize> {
                let mut this = self.project();
                while *this.cursor < $len {
                    let index = *this.cursor;
                    *this.cursor += 1;
                    let ended = match index {
                        $($i => poll_noting_loss(this.lost, $i, this.$f.as_mut(), cx),)+
                        _ => false,
                    };
                    if ended {
                        return Some(index);
                    }
                }
                None
            }

            #[inline(always)]
            fn poll_all(self: Pin<&mut Self>, cx: &mut Context<'_>) {
                let this = self.project();
                $(poll_noting_loss(this.lost, $i, this.$f, cx);)+
            }

            #[inline(always)]
            fn all_ended(&self) -> bool {
                !($(self.$f.is_running())||+)
            }

            fn cancel(self: Pin<&mut Self>) {
                let this = self.project();
                $(this.$f.cancel();)+
            }

            fn take_outputs(self: Pin<&mut Self>) -> Self::Outputs {
                let this = self.project();
                ($(this.$f.take().expect(DROPPED),)+)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<$($F),+> Judged for $Name<$($F),+>
        where
            $($F: Future, $F::Output: TaskOutput,)+
        {
            type Outcomes = ($(Outcome<<$F::Output as TaskOutput>::Ok, <$F::Output as TaskOutput>::Err>,)+);

            #[inline]
            fn is_fault(&self, index: usize) -> bool {
                match index {
                    $($i => self.$f.output().is_some_and(TaskOutput::is_fault),)+
                    _ => false,
                }
            }

            #[inline(always)]
            fn take_outcomes(self: Pin<&mut Self>) -> Self::Outcomes {
                let this = self.project();
                ($(outcome(this.$f.take()),)+)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<E, $($F),+> SharedError for $Name<$($F),+>
        where
            $($F: Future, $F::Output: TaskOutput<Err = E>,)+
        {
            type Values = ($(<$F::Output as TaskOutput>::Ok,)+);
            type Err = E;

            #[inline(always)]
            fn take_verdict(
                self: Pin<&mut Self>,
                canceled: bool,
            ) -> Result<Self::Values, Failure<E>> {
                let outcomes = self.take_outcomes();
                // The common case first: one match on every element.
                if !canceled {
                    if let ($(Outcome::Completed($f),)+) = outcomes {
                        return Ok(($($f,)+));
                    }
                }
                /// How a tuple batch that did not succeed failed: every fault, in
                /// tuple order, else `Canceled`.
                #[cold]
                fn failure<E, $($F),+>(outcomes: ($(Outcome<$F, E>,)+)) -> Result<($($F,)+), Failure<E>> {
                    let faults = 0 $(+ usize::from(outcomes.$i.is_faulted()))+;
                    if faults == 0 {
                        return Err(Failure::Canceled);
                    }
                    // The one allocation of a tuple batch, and only when it failed:
                    // the list of faults.
                    let mut list = Vec::with_capacity(faults);
                    $(
                        if let Outcome::Faulted(error) = outcomes.$i {
                            list.push(($i, error));
                        }
                    )+
                    Err(Failure::Faulted(list.into_iter().collect()))
                }
                failure(outcomes)
            }
        }
    };
}

tuple!(Tuple1, 1; A a 0);
tuple!(Tuple2, 2; A a 0, B b 1);
tuple!(Tuple3, 3; A a 0, B b 1, C c 2);
tuple!(Tuple4, 4; A a 0, B b 1, C c 2, D d 3);
tuple!(Tuple5, 5; A a 0, B b 1, C c 2, D d 3, E5 e 4);
tuple!(Tuple6, 6; A a 0, B b 1, C c 2, D d 3, E5 e 4, F f 5);
tuple!(Tuple7, 7; A a 0, B b 1, C c 2, D d 3, E5 e 4, F f 5, G g 6);
tuple!(Tuple8, 8; A a 0, B b 1, C c 2, D d 3, E5 e 4, F f 5, G g 6, H h 7);
tuple!(Tuple9, 9; A a 0, B b 1, C c 2, D d 3, E5 e 4, F f 5, G g 6, H h 7, I i 8);
tuple!(Tuple10, 10; A a 0, B b 1, C c 2, D d 3, E5 e 4, F f 5, G g 6, H h 7, I i 8, J j 9);
tuple!(Tuple11, 11; A a 0, B b 1, C c 2, D d 3, E5 e 4, F f 5, G g 6, H h 7, I i 8, J j 9, K k 10);
tuple!(Tuple12, 12; A a 0, B b 1, C c 2, D d 3, E5 e 4, F f 5, G g 6, H h 7, I i 8, J j 9, K k 10, L l 11);
