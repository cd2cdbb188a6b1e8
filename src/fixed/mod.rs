//! Small fan-outs: a tuple of futures of **different** types, or an array
//! `[F; N]`, joined in place — every fault kept with its position, no
//! allocation, no `'static` or `Send` bound.
//!
//! ```
//! use fanout::{Failure, Join};
//!
//! # async fn user(id: u32) -> Result<String, String> { Ok(format!("user {id}")) }
//! # async fn orders(id: u32) -> Result<Vec<u32>, String> { Err(format!("orders of {id}: timeout")) }
//! # async fn count(id: u32) -> Result<u64, String> { Err(format!("count of {id}: timeout")) }
//! # futures::executor::block_on(async {
//! match (user(7), orders(7), count(7)).when_all().await {
//!     Ok((user, orders, count)) => println!("{user}: {} orders of {count}", orders.len()),
//!     // Every fault, with its element's position in the tuple.
//!     Err(Failure::Faulted(faults)) => {
//!         assert_eq!(faults.indices().collect::<Vec<_>>(), [1, 2]);
//!     }
//!     Err(Failure::Canceled) => println!("canceled"),
//! }
//! # });
//! ```
//!
//! [`Join`] gives tuples of 1 to 12 futures (each element any
//! [`IntoFuture`](core::future::IntoFuture)) and arrays three faces, named as the iterator faces are:
//!
//! | method | resolves to | like |
//! | --- | --- | --- |
//! | [`.join_all()`](Join::join_all) | `(A, B, C)` / `[T; N]`, every output | `futures::join!` |
//! | [`.when_all()`](Join::when_all) | `Ok((a, b, c))` / `Ok([T; N])`, or `Err(Failure)` with **every** fault | `futures::try_join!`, keeping every fault |
//! | [`.settle_all()`](Join::settle_all) | `(Outcome<A, E1>, Outcome<B, E2>, ..)` / `[Outcome<T, E>; N]` | `Promise.allSettled` |
//!
//! [`Race`] gives arrays (and tuples whose elements share one type) the
//! racing faces, [`.when_any()`](Race::when_any)
//! and [`.first_ok()`](Race::first_ok). `when_all` and `settle_all` take
//! [`.cancel_on(signal)`](FixedJoin::cancel_on),
//! [`.fail_fast()`](FixedJoin::fail_fast) and
//! [`.graceful(&stop)`](FixedJoin::graceful); the races take `cancel_on` and
//! `graceful`. A fixed batch runs every element at once: for at most *n* at a
//! time, pass the array to the iterator faces (`fanout::when_all(array).limit(n)`).
//!
//! # One error type
//!
//! `when_all` on a tuple needs one error type, as `try_join!` does (a
//! `Failure<E>` lists faults of one type); the values may all differ. When
//! the errors differ, convert them where each future is made, or keep them
//! apart with `settle_all`:
//!
//! ```
//! use fanout::Join;
//!
//! #[derive(Debug)]
//! enum AppError { Io(std::io::Error), Parse(std::num::ParseIntError) }
//! impl From<std::io::Error> for AppError { fn from(e: std::io::Error) -> Self { AppError::Io(e) } }
//! impl From<std::num::ParseIntError> for AppError { fn from(e: std::num::ParseIntError) -> Self { AppError::Parse(e) } }
//!
//! async fn read() -> Result<String, std::io::Error> { Ok("42".into()) }
//! async fn parse() -> Result<u32, std::num::ParseIntError> { "7".parse() }
//!
//! # futures::executor::block_on(async {
//! let (text, number) = (
//!     async { Ok::<_, AppError>(read().await?) },
//!     async { Ok::<_, AppError>(parse().await?) },
//! )
//!     .when_all()
//!     .await
//!     .unwrap();
//! assert_eq!((text.as_str(), number), ("42", 7));
//! # });
//! ```
//!
//! # Why trait methods
//!
//! Three shapes were written out for the same three-call fan-out:
//! a free function (`fanout::when_all((a, b, c))`), a macro
//! (`fanout::when_all!(a, b, c)`) and a method (`(a, b, c).when_all()`).
//! The method is the shape the closest peer (futures-concurrency's
//! `(a, b).try_join()`) taught Rust users; it keeps the iterator faces'
//! names (`fanout::when_all(vec)` and `(a, b).when_all()` do the same thing
//! to a `Vec` and to a tuple); its options chain as on every batch; and a
//! missing import is a compiler hint (`use fanout::Join`) rather than a
//! macro's expansion error. A free function over tuples would have needed
//! a second trait on `when_all`'s argument, and every existing error about
//! a wrong source would have named it. Passing a tuple to `fanout::when_all`
//! is an error that points here.
//!
//! An array still works with the iterator faces (`fanout::when_all([a, b])`
//! resolves to a `Vec` and takes `.limit(n)`); `[a, b].when_all()` resolves
//! to an array and allocates nothing.
//!
//! # How it polls
//!
//! Each poll of a tuple, or of an array of up to [`INLINE_MAX`] elements,
//! polls every element still running, in element order, as `futures::join!`
//! does: an element is polled once per poll of the batch until it ends,
//! woken or not. For a few elements this is the fastest join there is (no
//! waker per element, nothing to allocate), and it is what makes the batch
//! allocation-free. For many elements it would be quadratic, so an array
//! longer than [`INLINE_MAX`] is handed to the engine of the iterator faces,
//! which polls only the elements that were woken (*polls = wakes + 1*) at the
//! cost of its constant few allocations. (The array itself, and a place per
//! element for its output, stay inside the batch: a long array of large
//! futures is best boxed, or passed to the iterator faces as a `Vec`.)
//!
//! Elements that end in the same poll are seen in element order: a race's
//! tie goes to the lowest index, and fail-fast stops at the first fault in
//! element order (elements after it are not polled again).
//!
//! Every element of a fixed batch exists from the start, so where an
//! iterator batch would never pull a task, a fixed batch has an element
//! that it drops unpolled (fail-fast, a fired signal: recorded canceled).
//! A graceful stop drops nothing: each element that has not ended runs
//! until it ends on its own, even one not polled yet (which sees its token
//! canceled on its first poll).
//!
//! # Panics
//!
//! A panic in an element's poll (or in its `Drop`, when the batch cancels
//! it) comes out of the batch's poll; the other elements are dropped with
//! the batch. A batch polled again after such a panic (under
//! `catch_unwind`) stays sound and loses nothing that ended: every other
//! element runs on, and a cancel still drops each one once. The element
//! that panicked in its poll is polled again (an `async` block then panics
//! again, "resumed after panicking"). Polling a batch after it resolved
//! panics.

mod array;
mod control;
mod join;
mod race;
mod slot;
mod storage;
mod tuple;

pub use array::INLINE_MAX;
pub use join::FixedJoin;
pub use race::FixedRace;

/// The kinds of [`FixedJoin`] and [`FixedRace`]: which face a fixed batch
/// is, in its type (`FixedJoin<(A, B), kind::WhenAll>`). In a module of
/// their own, so that a glob import of `fanout::fixed::*` does not clash
/// with the iterator faces' futures of the same names at the crate root.
pub mod kind {
    pub use super::join::{JoinAll, SettleAll, WhenAll};
    pub use super::race::{FirstOk, WhenAny};
}
use kind::{FirstOk, JoinAll, SettleAll, WhenAll, WhenAny};

use storage::{Judged, SharedError, Storage, Uniform};

pub(crate) mod sealed {
    pub trait Sealed {}
}

/// Joins a tuple of futures of different types, or an array of futures, in
/// place: see [the module docs](self).
///
/// Implemented for tuples of 1 to 12 [`IntoFuture`](core::future::IntoFuture)s and for arrays
/// `[F; N]` of them.
///
/// # Examples
///
/// ```
/// use fanout::{Join, Outcome};
/// use futures::future::ready;
///
/// futures::executor::block_on(async {
///     // Every output, as a tuple.
///     let (a, b) = (ready(1u8), async { "two" }).join_all().await;
///     assert_eq!((a, b), (1, "two"));
///
///     // Every value, or every fault with its position.
///     let ok = (ready(Ok::<_, String>(1)), async { Ok(vec![2, 3]) }).when_all().await;
///     assert_eq!(ok, Ok((1, vec![2, 3])));
///
///     // How each ended; the error types may differ.
///     let (a, b) = (ready(Ok::<u8, &str>(1)), ready(Err::<(), u32>(404))).settle_all().await;
///     assert_eq!((a, b), (Outcome::Completed(1), Outcome::Faulted(404)));
///
///     // An array resolves to an array.
///     let squares = [1, 2, 3].map(|i| async move { i * i }).join_all().await;
///     assert_eq!(squares, [1, 4, 9]);
/// });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tuple or an array of futures",
    label = "`.join_all()`, `.when_all()` and `.settle_all()` take a tuple `(a, b, ..)` of 1 to 12 futures or an array `[F; N]`",
    note = "for a `Vec` or an iterator of futures, use `fanout::when_all(tasks)` and its siblings"
)]
pub trait Join: sealed::Sealed + Sized {
    /// Where the batch keeps its elements (a fanout type).
    #[doc(hidden)]
    type Slots: Storage;

    /// Moves the elements into their storage.
    #[doc(hidden)]
    fn into_slots(self) -> Self::Slots;

    /// Runs every element at once and resolves to every output, in element
    /// order: `futures::join!` as a method.
    ///
    /// ```
    /// use fanout::Join;
    ///
    /// let (n, s) = futures::executor::block_on((async { 1 }, async { "one" }).join_all());
    /// assert_eq!((n, s), (1, "one"));
    /// ```
    ///
    /// # Cancellation
    ///
    /// Dropping the batch drops every element still running.
    fn join_all(self) -> FixedJoin<Self, JoinAll> {
        FixedJoin::new(self)
    }

    /// Runs every element at once and resolves to every value, in element
    /// order — or, if any element faulted, to `Failure::Faulted` with
    /// **every** fault and its element's position (faults win over
    /// cancellations); `Failure::Canceled` if none faulted but one was
    /// canceled. Every element's output is a `Result<_, E>` (or an
    /// `Outcome<_, E>`) with one error type `E`; the values may differ.
    ///
    /// By default every element runs to completion, even after a fault
    /// (unlike `try_join!`); options:
    /// [`.fail_fast()`](FixedJoin::fail_fast),
    /// [`.cancel_on(signal)`](FixedJoin::cancel_on),
    /// [`.graceful(&stop)`](FixedJoin::graceful).
    ///
    /// ```
    /// use fanout::{Failure, Join};
    /// use futures::future::ready;
    ///
    /// futures::executor::block_on(async {
    ///     let all = (ready(Ok::<u8, &str>(1)), ready(Err::<String, _>("no")), ready(Err::<(), _>("nope")));
    ///     let Err(Failure::Faulted(faults)) = all.when_all().await else { unreachable!() };
    ///     assert_eq!(faults.into_vec(), [(1, "no"), (2, "nope")]);
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Dropping the batch drops every element still running.
    fn when_all(self) -> FixedJoin<Self, WhenAll>
    where
        Self::Slots: SharedError,
    {
        FixedJoin::new(self)
    }

    /// Runs every element at once and resolves to how each one ended: an
    /// [`Outcome`](crate::Outcome) per element, in element order. The error
    /// types may differ from element to element. Options as for
    /// [`when_all`](Join::when_all).
    ///
    /// ```
    /// use fanout::{Join, Outcome};
    /// use futures::future::ready;
    ///
    /// let batch = (ready(Ok::<u8, &str>(1)), ready(Err::<(), u32>(404))).settle_all();
    /// let (a, b) = futures::executor::block_on(batch);
    /// assert_eq!((a, b), (Outcome::Completed(1), Outcome::Faulted(404)));
    /// ```
    ///
    /// # Cancellation
    ///
    /// Dropping the batch drops every element still running.
    fn settle_all(self) -> FixedJoin<Self, SettleAll>
    where
        Self::Slots: Judged,
    {
        FixedJoin::new(self)
    }
}

/// Races an array of futures, or a tuple whose elements share one type: the
/// first to end ([`when_any`](Race::when_any)) or the first to succeed
/// ([`first_ok`](Race::first_ok)). The losers are dropped when the race is
/// decided (or, with `.graceful(&stop)`, told to stop and awaited).
///
/// Unlike [`fanout::when_any`](crate::when_any), which hands back the rest of
/// an iterator's batch still running, a fixed race ends its losers: they
/// live inside the race, pinned, and cannot be handed back without boxing.
/// For the rest, pass the array to `fanout::when_any(array)`.
///
/// Implemented for every tuple and array, so that a tuple of different types
/// meets an error that says what to do, rather than "no method found".
pub trait Race: Join {
    /// Resolves to the first element to end, whatever its output, with its
    /// index: `Task.WhenAny`, `futures_concurrency`'s `race`. Ties go to the
    /// lowest index. `None` for an empty array, or when
    /// [`cancel_on`](FixedRace::cancel_on)'s signal gave up the race.
    ///
    /// ```
    /// use fanout::Race;
    /// use futures::future::{pending, ready, Either};
    ///
    /// let race = [Either::Left(pending()), Either::Right(ready('b')), Either::Right(ready('c'))];
    /// assert_eq!(futures::executor::block_on(race.when_any()), Some((1, 'b')));
    /// ```
    ///
    /// # Cancellation
    ///
    /// Once there is a winner the others are dropped; dropping the race
    /// drops every element still running.
    fn when_any(self) -> FixedRace<Self, WhenAny>
    where
        Self::Slots: Uniform,
    {
        FixedRace::new(self)
    }

    /// Resolves to the first element to complete successfully, with its
    /// index: `Promise.any`, `select_ok` keeping every fault. When none
    /// completes: `Failure::Faulted` with every fault and its index (an empty
    /// array fails with no faults), else `Failure::Canceled`.
    ///
    /// ```
    /// use fanout::{Failure, Race};
    ///
    /// futures::executor::block_on(async {
    ///     let mirrors = [Err("timeout"), Ok("mirror 1"), Ok("mirror 2")].map(|r| async move { r });
    ///     assert_eq!(mirrors.first_ok().await, Ok((1, "mirror 1")));
    ///
    ///     let all_fail = [Err::<(), _>("a"), Err("b")].map(|r| async move { r });
    ///     let Err(Failure::Faulted(faults)) = all_fail.first_ok().await else { unreachable!() };
    ///     assert_eq!(faults.into_vec(), [(0, "a"), (1, "b")]);
    /// });
    /// ```
    ///
    /// # Cancellation
    ///
    /// Once an element succeeds the others are dropped; dropping the race
    /// drops every element still running.
    fn first_ok(self) -> FixedRace<Self, FirstOk>
    where
        Self::Slots: Uniform,
        <Self::Slots as Uniform>::Item: crate::TaskOutput,
    {
        FixedRace::new(self)
    }
}
