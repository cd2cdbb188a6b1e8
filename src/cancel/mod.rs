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
//! # Why not a mutex
//!
//! Without `std` there is no mutex to sleep on. Registrations (a waiting
//! future, a callback, a child) go into a small slab behind a lock bit that is
//! held for a slab insert or remove and never while user code runs.
//! [`CancelSource::cancel`] never waits for that lock: it raises the canceled
//! bit and the lock bit together, and whoever holds the lock delivers the
//! cancellation when it lets go. So canceling is wait-free, safe from an
//! interrupt handler, and no waker or callback ever runs under a lock.

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
