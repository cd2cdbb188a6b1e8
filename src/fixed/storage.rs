//! What a fixed batch keeps its elements in: the contract between the faces
//! (`join.rs`, `race.rs`) and the two storages (`tuple.rs`, `array.rs`).
//!
//! The traits here are public (they appear in the bounds of [`Join`] and
//! [`Race`]) but live in a private module: users cannot name or implement
//! them, only meet them in an error, where `on_unimplemented` says what to do.
//!
//! [`Join`]: super::Join
//! [`Race`]: super::Race

use crate::outcome::Failure;
use core::pin::Pin;
use core::task::Context;

/// The elements of a fixed batch, polled in passes.
///
/// A *pass* is one poll of the batch: [`start_pass`](Storage::start_pass),
/// then [`poll_next`](Storage::poll_next) until it returns `None`. Each call
/// of `poll_next` goes on where the last one stopped and returns the index of
/// the next element that ended, so a face can look at each ending (and stop
/// the batch) before another element is polled.
pub trait Storage {
    /// How many elements.
    const LEN: usize;
    /// Every element's output, in element order: a tuple or an array.
    type Outputs;

    /// Starts a pass: the next `poll_next` starts again at element 0. An
    /// element whose poll panicked out of an earlier pass is dropped now,
    /// and never polled again ([`lost`](Storage::lost)).
    fn start_pass(self: Pin<&mut Self>);

    /// The first element whose poll panicked out of an earlier pass, if
    /// any: its outcome is lost, and the face panics, naming it, instead
    /// of finishing without it.
    fn lost(&self) -> Option<usize>;

    /// Goes on with the pass; the index of the next element that ended
    /// (finished, or was dropped by a cancel and not yet reported), or `None`
    /// when the pass is over.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<usize>;

    /// Polls every element still running, without stopping: a whole pass
    /// in one call, for a face that needs no look at each ending.
    fn poll_all(self: Pin<&mut Self>, cx: &mut Context<'_>);

    /// Drops every element still running. Idempotent: a cancel that a
    /// panicking `Drop` cut short is finished by the next one.
    fn cancel(self: Pin<&mut Self>);

    /// Whether every element has ended (finished, or dropped). Read from
    /// the elements themselves, not counted, so a panic between an ending
    /// and its count cannot leave the batch waiting forever.
    fn all_ended(&self) -> bool;

    /// Takes every output out, once every element has ended.
    ///
    /// # Panics
    ///
    /// If an element was dropped by a cancel: only faces that cannot cancel
    /// (`join_all`) take raw outputs.
    fn take_outputs(self: Pin<&mut Self>) -> Self::Outputs;
}

/// A storage whose every output is a [`TaskOutput`](crate::TaskOutput): each
/// ending can be judged, and the outputs taken as [`Outcome`](crate::Outcome)s.
#[diagnostic::on_unimplemented(
    message = "every future of this batch must output a `Result` or an `Outcome`",
    label = "`settle_all` judges each output as completed, faulted or canceled",
    note = "return `Result<T, E>` from each future, or use `.join_all()` to keep the outputs as they are"
)]
pub trait Judged: Storage {
    /// Every element's outcome, in element order.
    type Outcomes;

    /// Whether the ended element `index` faulted.
    fn is_fault(&self, index: usize) -> bool;

    /// Takes every output out as an outcome (`Canceled` for an element the
    /// batch dropped), once every element has ended.
    fn take_outcomes(self: Pin<&mut Self>) -> Self::Outcomes;
}

/// A judged storage whose outputs share one error type: the batch can succeed
/// with every value, or fail with every fault.
#[diagnostic::on_unimplemented(
    message = "`when_all` needs every future to output `Result<_, E>` (or `Outcome<_, E>`) with one error type `E`",
    label = "the futures' outputs are not results with one shared error type",
    note = "convert each error to one type, e.g. `async {{ fetch().await.map_err(MyError::from) }}`, use `.settle_all()` to keep each error as it is, or `.join_all()` for outputs that are not results"
)]
pub trait SharedError: Judged {
    /// Every element's value, in element order.
    type Values;
    /// The error type the elements share.
    type Err;

    /// Takes every output out: every value, or every fault (faults win), or
    /// `Canceled` if an element (or the batch: `canceled`) was canceled.
    fn take_verdict(
        self: Pin<&mut Self>,
        canceled: bool,
    ) -> Result<Self::Values, Failure<Self::Err>>;
}

/// A storage whose elements share one output type, so one of them can be
/// taken out on its own: what a race needs.
#[diagnostic::on_unimplemented(
    message = "`.when_any()` and `.first_ok()` race futures of one type",
    label = "the elements of this tuple are futures of different types",
    note = "race an array `[a, b, c]`, or make the futures one type first: `futures::future::Either`, or `Box::pin(fut) as Pin<Box<dyn Future<Output = T>>>`"
)]
pub trait Uniform: Storage {
    /// The output of every element.
    type Item;

    /// Takes the output of the ended element `index`: `None` if the batch
    /// dropped it.
    fn take_item(self: Pin<&mut Self>, index: usize) -> Option<Self::Item>;
}
