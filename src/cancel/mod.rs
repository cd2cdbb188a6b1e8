//! Cancellation tokens for any runtime, `no_std` too: .NET's
//! `CancellationTokenSource` and `CancellationToken`.
//!
//! - [`CancelSource`] holds the right to cancel; [`CancelToken`]s observe it.
//!   Tokens are `Clone + Send + Sync`, one reference count to clone.
//! - [`CancelToken::canceled`] is a future that completes on cancellation:
//!   the natural signal for a batch's `.cancel_on`.
//! - [`CancelToken::child`] makes a token canceled with its parent (never the
//!   other way round); [`CancelSource::linked`] one canceled by any of several.
//!   Dropped children are unlinked, so long-lived parents do not grow.
//! - [`CancelSource::cancel_when`] cancels on any future — your runtime's
//!   timer is a deadline; fanout owns no clock.
//! - [`CancelToken::run`] runs one task under a token: it ends
//!   [`Outcome::Canceled`](crate::Outcome::Canceled) if the token fires first.
//! - [`CancelToken::register`] runs a callback once, last registered first;
//!   [`CancelSource::drop_guard`] cancels when a scope ends.
//!
//! ```
//! use fanout::cancel::CancelSource;
//! use fanout::{when_all, Failure};
//!
//! let source = CancelSource::new();
//! let token = source.token();
//! // Each task runs under the token; the batch is canceled by it too.
//! let jobs = (0..3).map(|_| token.run(futures::future::pending::<Result<(), ()>>()));
//! let batch = when_all(jobs).cancel_on(token.canceled());
//! source.cancel();
//! assert_eq!(futures::executor::block_on(batch), Err(Failure::Canceled));
//! ```
//!
//! # Recipes
//!
//! A batch canceled by a timer of your runtime (here a stand-in future; with
//! smol it is `smol::Timer::after(d)`, with async-std `task::sleep(d)`):
//!
//! ```
//! use fanout::{when_all, Failure};
//!
//! let timer = async {}; // fires at once, for the example
//! let slow = (0..3).map(|_| futures::future::pending::<Result<(), ()>>());
//! let result = futures::executor::block_on(when_all(slow).cancel_on(timer));
//! assert_eq!(result, Err(Failure::Canceled));
//! ```
//!
//! The same deadline on a token, so that everything holding the token sees
//! it, not just one batch:
//!
//! ```
//! use fanout::cancel::CancelSource;
//!
//! let source = CancelSource::new();
//! let token = source.token();
//! let deadline = source.cancel_when(async { /* your runtime's timer */ });
//! futures::executor::block_on(async {
//!     let work = token.run(futures::future::pending::<Result<(), ()>>());
//!     let (outcome, ()) = futures::join!(work, deadline);
//!     assert!(outcome.is_canceled());
//! });
//! ```
//!
//! A batch canceled by its first fault, each task stopping cooperatively
//! (`.graceful` waits for them instead of dropping them). A task must
//! *await* its token — through [`CancelToken::run`], or by racing
//! [`CancelToken::canceled`] against its work — because the batch polls only
//! tasks that were woken: one that merely checks `is_canceled()` between
//! steps is never polled again to see it.
//!
//! ```
//! use fanout::cancel::{CancelSource, CancelToken};
//! use fanout::{settle_all, Outcome};
//!
//! async fn job(i: u32) -> Result<u32, String> {
//!     if i == 2 {
//!         return Err("job 2 failed".into());
//!     }
//!     futures::future::pending::<()>().await; // long work
//!     Ok(i)
//! }
//!
//! let stop = CancelSource::new();
//! let jobs = (0..4).map(|i| stop.token().run(job(i)));
//! let batch = settle_all(jobs).limit(3).fail_fast().graceful(&stop);
//! let outcomes = futures::executor::block_on(batch);
//! // Jobs 0 and 1 saw the token and stopped; job 3 was never started.
//! assert_eq!(
//!     outcomes,
//!     [Outcome::Canceled, Outcome::Canceled, Outcome::Faulted("job 2 failed".to_string())]
//! );
//! ```
//!
//! # Why not a mutex
//!
//! Without `std` there is no mutex to sleep on. Registrations (a waiting
//! future, a callback, a child) go into a small slab behind a lock bit that is
//! held for a slab insert or remove and never while user code runs.
//! [`CancelSource::cancel`] never waits for that lock: it raises the canceled
//! bit and the lock bit together, and whoever holds the lock delivers the
//! cancellation when it lets go. So canceling cannot deadlock against a
//! registration it interrupted, and no waker or callback ever runs under a
//! lock. (It does run the wakers and callbacks, and allocate, on the thread
//! that delivers.)

mod callback;
mod node;
mod run;
mod token;

pub use callback::Registration;
pub use run::{CancelWhen, Run};
pub use token::{CancelSource, CancelToken, Canceled, DropGuard};

#[cfg(all(test, not(fanout_loom)))]
mod tests;

#[cfg(all(test, fanout_loom))]
mod loom;
