//! Panics as outcomes: [`catch_panic`] turns a task's panic into a fault of
//! that task, kept at its index with every other outcome of the batch.
//!
//! Without it a panic in a task's poll comes out of the batch's `.await`
//! and the batch is gone (see the crate docs, "A panic is the task's
//! outcome"). With it the batch goes on as after any fault: the other tasks
//! run on (or are canceled by `.fail_fast()`, or awaited by `.graceful`),
//! and nothing already finished is lost. This is what .NET's `Task.WhenAll`
//! does with an exception, what asyncio's `gather` and `TaskGroup` do, and
//! what tokio's `JoinSet` does with a `JoinError` whose `is_panic()` is true.
//!
//! Only with the `std` feature: without `std` there is no unwinding to
//! catch (a `no_std` target's panic handler does not return).
//!
//! ```
//! use fanout::{catch_panic, Failure, TaskError};
//!
//! async fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
//!     if s.is_empty() {
//!         panic!("empty input"); // a bug, not an error
//!     }
//!     s.parse()
//! }
//!
//! let inputs = ["1", "", "x", "4"];
//! let batch = fanout::when_all(inputs.map(|s| catch_panic(parse(s))));
//! let Err(Failure::Faulted(faults)) = futures::executor::block_on(batch) else {
//!     unreachable!()
//! };
//! // Every fault, in input order, each with its index: a panic is one of them.
//! let faults: Vec<String> = faults
//!     .iter()
//!     .map(|(index, fault)| match fault {
//!         TaskError::Panic(panic) => format!("{index}: panicked: {}", panic.message().unwrap()),
//!         TaskError::Error(error) => format!("{index}: {error}"),
//!     })
//!     .collect();
//! assert_eq!(faults, ["1: panicked: empty input", "2: invalid digit found in string"]);
//! ```
//!
//! # Why a panic is a kind of fault
//!
//! A panic could have been a third kind of [`Failure`](crate::Failure), an
//! [`Outcome`] of its own, or a kind of fault. Written out for `when_all`,
//! `settle_all` and `when_each`:
//!
//! - A third `Failure` variant must still carry the faults (a batch can
//!   have both), so `match` arms multiply, and the panics lose their place
//!   among the faults in input order.
//! - An `Outcome::Panicked` variant gives every `match` on an outcome one
//!   more arm, in every program, including those that never catch a panic,
//!   and `when_all` still needs somewhere to put it.
//! - As a fault, the error type becomes [`TaskError<E>`] **only where the
//!   caller wrapped the tasks**: `when_all` fails with `Failure::Faulted`
//!   listing errors and panics together in input order, `settle_all` gives
//!   `Outcome::Faulted(TaskError::Panic(_))` at the task's index, and a
//!   `when_each` item is a `Result` like any other. `.fail_fast()` and
//!   `.graceful` treat a panic as the fault it is. The types of code that
//!   does not catch panics do not change.
//!
//! So a panic is a fault. The wrapper is per task (not a batch option) so
//! that one mechanism serves every face — iterators, streams, tuples of
//! different types, arrays — and so that a caller can catch the panics of
//! some tasks and not others.
//!
//! # What is caught
//!
//! - A panic in the task's poll. The task is not polled again: its outcome
//!   is the panic.
//! - A panic in the task's `Drop` as it finishes: the wrapper drops a
//!   finished task inside the catch, so that panic is its outcome too (its
//!   value is lost with it).
//! - **Not** a panic in the task's `Drop` right after its poll panicked
//!   (the wrapper drops a task that panicked at once): that second panic
//!   comes out of the batch's poll, and the first panic's payload is
//!   dropped with it; polled again, the batch names the task as one whose
//!   result a panic took (see the crate docs).
//! - **Not** a panic in the task's `Drop` when the batch cancels it: the
//!   task already has its outcome (`Canceled`), and there is no later poll to
//!   report a second one on. That panic comes out of the batch's poll (or
//!   out of the batch's drop), as a `Vec` propagates a panic in an
//!   element's drop; the batch stays sound and, polled again, drops each
//!   remaining task once.
//!
//! [`Outcome`]: crate::Outcome

use crate::outcome::Outcome;
use alloc::boxed::Box;
use core::any::Any;
use core::fmt;
use core::future::{Future, IntoFuture};
use core::panic::AssertUnwindSafe;
use core::pin::Pin;
use core::task::{Context, Poll};
use pin_project_lite::pin_project;
use std::panic::{catch_unwind, resume_unwind};

/// A task's panic, caught by [`catch_panic`]: the panic's payload, kept so
/// that it can be read ([`message`](Panic::message)) or resumed
/// ([`resume`](Panic::resume)).
///
/// ```
/// use fanout::{catch_panic, TaskError};
///
/// let caught = futures::executor::block_on(catch_panic(async {
///     panic!("disk {} full", 3);
///     #[allow(unreachable_code)]
///     Ok::<(), ()>(())
/// }));
/// let Err(TaskError::Panic(panic)) = caught else { unreachable!() };
/// assert_eq!(panic.message(), Some("disk 3 full"));
/// assert_eq!(panic.to_string(), "the task panicked: disk 3 full");
/// ```
pub struct Panic {
    payload: Box<dyn Any + Send>,
}

impl Panic {
    /// The panic's message, for the payloads `panic!` makes (`&str` and
    /// `String`); `None` for a payload of another type
    /// (`std::panic::panic_any`).
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.payload.downcast_ref::<&str>().copied().or_else(|| {
            self.payload
                .downcast_ref::<alloc::string::String>()
                .map(|s| s.as_str())
        })
    }

    /// The payload, as `std::panic::catch_unwind` gives it.
    #[must_use]
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        self.payload
    }

    /// Panics again with the same payload (`std::panic::resume_unwind`), for
    /// a caller that has collected what it needs and wants the panic back.
    pub fn resume(self) -> ! {
        resume_unwind(self.payload)
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Panic")
            .field(&self.message().unwrap_or("<non-string payload>"))
            .finish()
    }
}

impl fmt::Display for Panic {
    /// `the task panicked: <message>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(message) => write!(f, "the task panicked: {message}"),
            None => f.write_str("the task panicked (with a payload that is not a string)"),
        }
    }
}

impl core::error::Error for Panic {}

/// The error of a task wrapped in [`catch_panic`]: the task's own error, or
/// its panic.
///
/// A batch of such tasks fails with `Failure<TaskError<E>>`, its errors and
/// panics listed together in input order.
#[derive(Debug)]
pub enum TaskError<E> {
    /// The task returned this error.
    Error(E),
    /// The task panicked.
    Panic(Panic),
}

impl<E> TaskError<E> {
    /// Whether the task panicked.
    #[must_use]
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panic(_))
    }

    /// The task's own error, if it returned one.
    #[must_use]
    pub fn error(&self) -> Option<&E> {
        match self {
            TaskError::Error(error) => Some(error),
            TaskError::Panic(_) => None,
        }
    }

    /// The task's panic, if it panicked.
    #[must_use]
    pub fn panic(&self) -> Option<&Panic> {
        match self {
            TaskError::Error(_) => None,
            TaskError::Panic(panic) => Some(panic),
        }
    }

    /// The task's own error, or, if it panicked, that panic resumed
    /// ([`Panic::resume`]): for a caller that handles errors and lets
    /// panics go on.
    pub fn into_error(self) -> E {
        match self {
            TaskError::Error(error) => error,
            TaskError::Panic(panic) => panic.resume(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    /// The error as it displays, or the panic ([`Panic`]'s `Display`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Error(error) => error.fmt(f),
            TaskError::Panic(panic) => panic.fmt(f),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for TaskError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            TaskError::Error(error) => Some(error),
            TaskError::Panic(panic) => Some(panic),
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl<T, E> Sealed for Result<T, E> {}
    impl<T, E> Sealed for crate::Outcome<T, E> {}
}

/// The outputs [`catch_panic`] can wrap: `Result<T, E>` becomes
/// `Result<T, TaskError<E>>`, `Outcome<T, E>` becomes
/// `Outcome<T, TaskError<E>>`. Sealed.
#[diagnostic::on_unimplemented(
    message = "`catch_panic` needs a task that outputs a `Result` or an `Outcome`, not `{Self}`",
    label = "a panic is kept as the task's error, so the task needs an error type",
    note = "return `Ok::<_, std::convert::Infallible>(value)` from the task, or catch the panic yourself with `futures::FutureExt::catch_unwind`"
)]
pub trait CatchOutput: sealed::Sealed + Sized {
    /// The output with the panic as one more kind of error.
    type Caught;

    #[doc(hidden)]
    fn returned(self) -> Self::Caught;

    #[doc(hidden)]
    fn panicked(panic: Panic) -> Self::Caught;
}

impl<T, E> CatchOutput for Result<T, E> {
    type Caught = Result<T, TaskError<E>>;

    fn returned(self) -> Self::Caught {
        self.map_err(TaskError::Error)
    }

    fn panicked(panic: Panic) -> Self::Caught {
        Err(TaskError::Panic(panic))
    }
}

impl<T, E> CatchOutput for Outcome<T, E> {
    type Caught = Outcome<T, TaskError<E>>;

    fn returned(self) -> Self::Caught {
        match self {
            Outcome::Completed(value) => Outcome::Completed(value),
            Outcome::Faulted(error) => Outcome::Faulted(TaskError::Error(error)),
            Outcome::Canceled => Outcome::Canceled,
        }
    }

    fn panicked(panic: Panic) -> Self::Caught {
        Outcome::Faulted(TaskError::Panic(panic))
    }
}

/// Wraps a task so that its panic becomes its outcome: a fault,
/// [`TaskError::Panic`], at its index in the batch, beside the other tasks'
/// outcomes. A task that outputs `Result<T, E>` becomes one that outputs
/// `Result<T, TaskError<E>>` (and `Outcome<T, E>`, `Outcome<T,
/// TaskError<E>>`). Wrap each task of any face: an iterator's
/// (`tasks.map(catch_panic)`), a stream's, a tuple's elements, an array's
/// (`array.map(catch_panic)`). See [the module docs](crate::panic) for what is
/// caught and why a panic is a fault.
///
/// ```
/// use fanout::{catch_panic, Join, Outcome, TaskError};
///
/// let user = async { Ok::<&str, &str>("ada") };
/// let orders = async {
///     let orders: Vec<u32> = vec![];
///     let _first = orders[0]; // panics: index out of bounds
///     Ok::<usize, &str>(orders.len())
/// };
/// let (user, orders) =
///     futures::executor::block_on((catch_panic(user), catch_panic(orders)).settle_all());
/// assert!(matches!(user, Outcome::Completed("ada")));
/// let Outcome::Faulted(TaskError::Panic(panic)) = orders else { unreachable!() };
/// assert!(panic.message().unwrap().starts_with("index out of bounds"));
/// ```
///
/// # Panics
///
/// Never from a panic of the task's poll, nor of its `Drop` as it finishes:
/// both are caught. A panic in the task's `Drop` right after its poll
/// panicked, or when the batch cancels it, is not (see [the module
/// docs](crate::panic#what-is-caught)); nor is a panic of the batch itself.
///
/// The panic hook still runs for a caught panic (by default it prints the
/// message to stderr), as with `std::panic::catch_unwind`.
pub fn catch_panic<F>(task: F) -> CatchPanic<F::IntoFuture>
where
    F: IntoFuture,
    F::Output: CatchOutput,
{
    CatchPanic {
        state: State::Running {
            task: task.into_future(),
        },
    }
}

pin_project! {
    /// The future of [`catch_panic`]: the task's output, with a panic as
    /// [`TaskError::Panic`].
    #[must_use = "futures do nothing unless polled"]
    pub struct CatchPanic<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    /// The task while it runs; nothing once it has ended (it is dropped
    /// inside the catch as soon as it ends).
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] task: F },
        Ended,
    }
}

impl<F> Future for CatchPanic<F>
where
    F: Future,
    F::Output: CatchOutput,
{
    type Output = <F::Output as CatchOutput>::Caught;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        // Outside the catch: a misuse is the caller's panic, not the task's.
        assert!(
            matches!(*state, State::Running { .. }),
            "`CatchPanic` polled after it completed"
        );
        // `AssertUnwindSafe`: after a panic the task is dropped, never
        // polled again, and its state is not observed.
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let StateProj::Running { task } = state.as_mut().project() else {
                unreachable!("checked above");
            };
            let output = match task.poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return Poll::Pending,
            };
            // Dropped here, inside the catch: a panic in the finished
            // task's `Drop` is its outcome too.
            state.as_mut().set(State::Ended);
            Poll::Ready(output)
        }));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(output.returned()),
            Err(payload) => {
                // The task is dropped now, outside the catch: a panic in
                // that `Drop`, after a panicking poll, propagates (the task
                // has its outcome already: the first panic).
                state.set(State::Ended);
                Poll::Ready(<F::Output as CatchOutput>::panicked(Panic { payload }))
            }
        }
    }
}

impl<F: Future> futures_core::FusedFuture for CatchPanic<F>
where
    F::Output: CatchOutput,
{
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Ended)
    }
}

impl<F> fmt::Debug for CatchPanic<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            State::Running { .. } => f.write_str("CatchPanic(running)"),
            State::Ended => f.write_str("CatchPanic(ended)"),
        }
    }
}
