//! fanout: fire off many futures, fan their results back in.
#![no_std]
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod engine;
mod join_all;
mod ordered;
mod outcome;
mod settle_all;
pub mod signal;
pub mod source;
mod sync;
mod when_all;

pub use join_all::{join_all, JoinAll};
pub use outcome::{FaultIndices, Failure, Faults, FaultsIntoIter, FaultsIter, Outcome, TaskOutput};
pub use settle_all::{settle_all, SettleAll};
pub use source::from_stream;
pub use when_all::{when_all, WhenAll};
