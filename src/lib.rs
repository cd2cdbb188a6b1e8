//! Fire off many futures, fan their results back in: the .NET TPL task
//! combinators (`Task.WhenAll`, throttled `WhenAll`, `Parallel.ForEachAsync`'s
//! degree of parallelism, batch cancellation) for **any** async runtime, in
//! `no_std + alloc` too.
//!
//! fanout has no executor inside and depends on no runtime: a batch is a plain
//! `Future` that you `.await` on smol, async-std, futures-executor, your own
//! executor, or firmware.
//!
//! ```
//! use fanout::{when_all, Failure};
//!
//! # futures::executor::block_on(async {
//! // Every fault is kept, with its task's index, in input order.
//! let jobs = (0..6).map(|i| async move { if i % 4 == 1 { Err(i) } else { Ok(i * 10) } });
//! match when_all(jobs).limit(2).await {
//!     Ok(values) => println!("all done: {values:?}"),
//!     Err(Failure::Faulted(faults)) => {
//!         assert_eq!(faults.indices().collect::<Vec<_>>(), [1, 5]);
//!     }
//!     Err(Failure::Canceled) => println!("canceled"),
//! }
//! # });
//! ```
//!
//! # The qualities, in any combination
//!
//! The TPL guide this crate grew from compares ways to process a batch by five
//! qualities; every implementation it knows gets some and not others. In
//! fanout each quality is one option on one engine, so they combine freely:
//!
//! | quality | choices | in fanout |
//! | --- | --- | --- |
//! | order of processing | sequential, concurrent, at most *L* in flight | default concurrent; `.limit(1)` sequential; `.limit(L)` throttled |
//! | process as complete | aggregate at the end, or each as it finishes | [`join_all`], [`when_all`], [`settle_all`] aggregate; [`when_each`], [`for_each`], [`for_each_async`] hand each result out as its task finishes |
//! | throttling | bound in-flight work, pull the source lazily | `.limit(L)`: the source is pulled only when a task finishes, and the freed place is refilled in the same poll |
//! | batch cancellation | an outside signal, or the first fault | `.cancel_on(any future)`, `.fail_fast()` |
//! | interleaving | results handled one at a time | `for_each`'s processor runs inside the batch's poll, one call at a time; `for_each_async` awaits each call while the tasks keep moving |
//!
//! The guide's whole table, each row as one fanout expression:
//!
//! | the guide's strategy | fanout |
//! | --- | --- |
//! | `Task.WhenAll` | `when_all(tasks)` |
//! | SequentialBlockingForEachAsync | `for_each(items.map(body), process).limit(1)` |
//! | ConcurrentInterleavedForEachAsync | `for_each(items.map(body), process)` |
//! | ConcurrentInterleavedCombinator (`Interleaved`) | `when_each(tasks)` |
//! | WhenAllThrottled | `when_all(tasks).limit(n)` |
//! | ControlParallelismForEachAsync (DOP) | `for_each(items.map(body), process).limit(dop)` |
//! | any of them, canceled from outside or by the first fault | add `.cancel_on(signal)` / `.fail_fast()` |
//!
//! `cargo run --example tour` runs that table live on smol.
//!
//! # Which combinator do I want?
//!
//! | you want | use | resolves to |
//! | --- | --- | --- |
//! | every output; tasks cannot fail | [`join_all`] | `Vec<T>` in input order |
//! | every value, or every fault (`Task.WhenAll`) | [`when_all`] | `Result<Vec<T>, Failure<E>>` |
//! | how each task ended (`Promise.allSettled`) | [`settle_all`] | `Vec<Outcome<T, E>>` in input order |
//! | each output as its task finishes (`Task.WhenEach`) | [`when_each`] | a `Stream` of `(index, output)` |
//! | the first to finish, keep the rest running (`Task.WhenAny`) | [`when_any`] | `Option<(index, output, rest)>` |
//! | the first success (`Promise.any`) | [`first_ok`] | `Result<(index, T), Failure<E>>` |
//! | to process each value as it completes (`Parallel.ForEachAsync`) | [`for_each`] | `Result<(), Failure<E>>` |
//! | the same with an async processor, tasks kept moving | [`for_each_async`] | `Result<(), Failure<E>>` |
//! | a processor that can fail (`?` in it; its error is that item's fault) | either, returning `Result<(), E>` ([`Processed`]) | `Result<(), Failure<E>>` |
//! | a task's panic kept as its fault, the others running on (`JoinSet`'s `is_panic`) | any face over [`catch_panic`]`(task)` (`std`) | `Failure<TaskError<E>>`, ... |
//! | any of these over a `Stream` of futures | the same over [`from_stream`] | as above |
//! | a few futures of **different** types at once (`join!`) | [`(a, b, c).join_all()`](Join::join_all) | `(A, B, C)` |
//! | their values, or every fault with its position (`try_join!` keeping every fault) | [`(a, b, c).when_all()`](Join::when_all) | `Result<(A, B, C), Failure<E>>` |
//! | how each of them ended | [`(a, b, c).settle_all()`](Join::settle_all) | `(Outcome<A, E1>, Outcome<B, E2>, ..)` |
//! | the same for an array `[F; N]`, allocation-free | [`[..].when_all()`](Join::when_all) and the others | `Result<[T; N], Failure<E>>`, ... |
//! | the first of an array to finish, or to succeed | [`[..].when_any()`](Race::when_any), [`[..].first_ok()`](Race::first_ok) | `Option<(index, output)>`, `Result<(index, T), Failure<E>>` |
//!
//! Then add options: [`.limit(n)`](WhenAll::limit) for at most *n* in flight,
//! [`.cancel_on(signal)`](WhenAll::cancel_on) to cancel from outside (any future:
//! a token, a timer of your runtime, a shutdown future),
//! [`.fail_fast()`](WhenAll::fail_fast) to cancel the rest at the first fault,
//! [`.graceful(&stop)`](WhenAll::graceful) to stop by canceling a
//! [`CancelSource`](cancel::CancelSource) and waiting for the tasks in flight
//! instead of dropping them (every face but `join_all`).
//!
//! Tuples and arrays ([`Join`], [`Race`], the [`fixed`] module) run every
//! element at once, in place, with no allocation: they take `cancel_on`,
//! `fail_fast` and `graceful`, not `limit` (pass an array to the iterator
//! faces for that).

//! # Semantics
//!
//! - **Outcomes.** Every task pulled from the source ends exactly once, as
//!   [`Outcome::Completed`], [`Outcome::Faulted`] or [`Outcome::Canceled`], and
//!   is reported exactly once, whatever the wake order. A task's output is
//!   classified by [`TaskOutput`]: `Result<T, E>`, or `Outcome<T, E>` for a
//!   task that reports its own cancellation.
//! - **Failures.** Any fault gives [`Failure::Faulted`] with every fault, each
//!   with its index, in input order ([`Faults`], .NET's `AggregateException`);
//!   otherwise any cancellation gives [`Failure::Canceled`]. Faults win.
//! - **Run to completion** is the default, as with `Task.WhenAll`: a fault does
//!   not drop the other tasks. `.fail_fast()` drops them, and pulls not one more
//!   item from the source after the fault is seen.
//! - **Cancellation is dropping.** When a batch is canceled, its tasks in
//!   flight are dropped at once (Rust's cancellation) and recorded canceled;
//!   tasks never pulled from the source are never created. A
//!   `.graceful(&stop)` batch drops nothing: a stop (its signal,
//!   `.fail_fast()`, `first_ok`'s first success) cancels `stop` and waits for
//!   the tasks in flight to end on their own, the `Parallel.ForEachAsync` way.
//! - **Laziness.** Nothing runs until the batch is polled; the source is pulled
//!   only while fewer than the limit are in flight, never re-entered, never
//!   after cancellation.
//! - **Fairness.** One poll of a batch polls a bounded number of children, then
//!   yields to the executor, so a child that wakes itself forever starves
//!   neither its siblings nor the executor. A fresh batch of known size is
//!   still polled in one go.
//! - **Order of completions.** Tasks that finish in the same round (woken
//!   before the same poll of the batch) are handed out in index order, so ties
//!   in `when_any` and `when_each` go to the lowest index, every time.
//! - **Finished is finished.** Polling a batch after it resolved panics with a
//!   clear message; each batch also implements `FusedFuture` (`WhenEach`:
//!   `FusedStream`), so `select!` can tell.
//! - **A panic is the task's outcome.** Wrap a task in
//!   [`catch_panic`] (with the `std` feature) and its panic is a fault at
//!   its index, [`TaskError::Panic`], kept with every other outcome of the
//!   batch: the others run on (or are canceled by `.fail_fast()`), the
//!   payload is kept for `resume_unwind`, and the message reads without a
//!   downcast ([module `panic`](mod@panic) says why a panic is a fault and not an
//!   outcome of its own). Unwrapped, a task that panics — in its poll, or
//!   in its `Drop` when it finishes or is canceled — panics out of the
//!   batch's poll; the other tasks are dropped with the batch. A batch polled
//!   again after such a panic (under `catch_unwind`) stays sound: the task
//!   that panicked is dropped and never polled again, the other tasks run on
//!   (a face that hands out results as they come, `when_each` or `for_each`,
//!   hands theirs out), a cancel still drops each of them once, and where the
//!   batch would resolve it panics instead, naming the task whose panic took
//!   its result ("task 3 has no result: it panicked …"), rather than invent
//!   one or wait for it forever. (A batch registers its executor's waker only
//!   when it is about to wait: after a panic in the poll that started it,
//!   poll it again rather than wait for a wake; the wakes in between are kept
//!   for that poll.)

//! # How it works, and what it costs
//!
//! Every combinator is a thin face over one engine. Each task gets its own
//! waker, and all wakers of a batch share one allocation: a wake sets the
//! task's bit in a small hierarchical bit set (one atomic `fetch_or`, usually)
//! and wakes the batch only if the set was empty. The engine then polls **only
//! the tasks that were woken**, each at most once per round, and hands out a
//! round's completions in index order.
//! The batch's own waker stays registered across wakes (a wake borrows it
//! rather than taking it, as `AtomicWaker` does), so polling a batch whose
//! executor waker has not changed registers it with one pointer comparison and
//! no atomic operation. Collecting faces (`join_all`, `when_all`,
//! `settle_all`, `for_each`) take each event through an inlined callback
//! instead of one return per task, and a task that finishes on its first poll
//! gives its slot back at once, so a batch of instantly ready futures touches
//! one slot, not one per task.
//! So a task is polled exactly once more than it was woken, a round costs time
//! in proportion to the tasks woken (never to the size of the batch), and a
//! batch over a source of known size makes a constant number of allocations
//! whatever its size: two for `when_all` over a `Vec` (the tasks' slots and
//! their wakers' bit set share one, the results take the other), and a third,
//! for the round's snapshot, once a round has woken tasks in more than four
//! 64-slot words of the set (smaller rounds keep it inside the batch). Sharing
//! one allocation is why a stray clone of a task's waker, kept after its batch
//! ends, keeps the batch's (emptied) slot memory allocated until it is dropped
//! — the trade most executors make for their tasks too. A limited batch holds
//! `O(limit)` tasks however long its source.
//! A cancel drops every task in flight in place, in one pass, and faces that
//! only count cancellations (all but `settle_all`, which records each task's
//! `Outcome::Canceled` at its index) learn how many in one step rather than
//! one event per task. Tests assert those counts exactly; `benches/` compares the speed
//! with `futures-util`, `futures-buffered` and `futures-concurrency` in one
//! run.
//!
//! One deliberate trade-off: a slot's waker belongs to the slot, not to the
//! task. A batch reuses the slot of a finished task (a limited batch, any
//! slot; every batch, the slot of a task that finished on its first poll),
//! so if that task
//! left a clone of its waker behind (in a timer it no longer waits for, say),
//! waking the clone later polls the slot's new task once, spuriously — which
//! the `Future` contract allows, and which never loses a wake. The
//! alternative, a reference-counted allocation per task, is what makes
//! `FuturesUnordered` allocate per task.
//!
//! # Features
//!
//! - `std` (default): a faster path for wakes on the batch's own thread. While
//!   a batch runs, a thread-local names it, and a wake of one of its tasks on
//!   that thread (a task waking itself or a sibling during its poll) is a plain
//!   note in the batch's memory: no atomic read-modify-write and no wake of
//!   the executor. Clones and drops of a task's waker there (a task parking
//!   its waker in its first poll, then dropped by a cancel or with the
//!   batch) are counted the same way, with plain loads and stores; the
//!   batch folds that count into its atomic one when it drops. Without
//!   `std` every wake, clone and drop takes the atomic path, which is
//!   correct everywhere and a little slower. The error types implement
//!   `core::error::Error` either way.
//! - `portable-atomic`: take every atomic and `Arc` from
//!   [`portable-atomic`](https://docs.rs/portable-atomic) and
//!   [`portable-atomic-util`](https://docs.rs/portable-atomic-util) instead of
//!   `core` and `alloc`, for targets without atomic compare-and-swap
//!   (`thumbv6m-none-eabi`, `riscv32imc-unknown-none-elf`, ...). All of the
//!   crate's synchronization goes through one internal shim, so this one switch
//!   covers it all; on targets that have compare-and-swap it changes nothing
//!   but where the types come from.
//!
//!   fanout never chooses *how* `portable-atomic` provides compare-and-swap on
//!   such a target: that is the final binary's decision, made once for every
//!   crate in it. Enable `portable-atomic`'s `critical-section` feature and
//!   provide a [`critical-section`](https://docs.rs/critical-section)
//!   implementation (multi-core chips, or code running unprivileged), or its
//!   `unsafe-assume-single-core` feature (single-core chips in privileged mode:
//!   interrupts are masked around each operation). `ci/nostd`, the firmware
//!   crate `ci/test` builds for `thumbv6m-none-eabi`, takes the second: it
//!   needs no other crate.
//!
//! Without `std` the crate needs only `alloc` and atomic word operations
//! (`fetch_or`, `swap`, compare-and-swap, native or through
//! `portable-atomic`); wakers work the same with and without `std`. A target
//! without compare-and-swap and without the `portable-atomic` feature gets one
//! compile error that says so.
//!
//! # Dependencies
//!
//! `futures-core` (the `Stream` and `FusedFuture` traits every async user
//! already has) and `pin-project-lite` (safe pin projections, no proc macro).
//! Only with the `portable-atomic` feature: `portable-atomic` (the atomics,
//! emulated where the target lacks compare-and-swap) and
//! `portable-atomic-util` (its `Arc` and `Weak`: `alloc::sync` does not exist
//! on such targets, and the cancellation tokens share their state through
//! `Arc`). None of them needs `std`.
#![no_std]
#![deny(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod cancel;
mod engine;
mod first_ok;
pub mod fixed;
mod for_each;
mod for_each_async;
mod join_all;
#[cfg(all(test, not(fanout_loom)))]
mod leaks;
mod ordered;
mod outcome;
#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod panic;
mod processed;
mod settle_all;
pub mod signal;
pub mod source;
mod sync;
mod unwind;
mod verdict;
mod when_all;
mod when_any;
mod when_each;

pub use first_ok::{first_ok, FirstOk};
pub use fixed::{Join, Race};
pub use for_each::{for_each, ForEach};
pub use for_each_async::{for_each_async, ForEachAsync};
pub use join_all::{join_all, JoinAll};
pub use outcome::{Failure, FaultIndices, Faults, FaultsIntoIter, FaultsIter, Outcome, TaskOutput};
#[cfg(feature = "std")]
pub use panic::{catch_panic, CatchPanic, Panic, TaskError};
pub use processed::Processed;
pub use settle_all::{settle_all, SettleAll};
pub use source::from_stream;
pub use when_all::{when_all, WhenAll};
pub use when_any::{when_any, WhenAny};
pub use when_each::{when_each, WhenEach};
