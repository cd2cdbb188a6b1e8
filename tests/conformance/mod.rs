//! The conformance suite of the aggregate combinators (`join_all`, `when_all`,
//! `settle_all`) against the rules of `CONFORMANCE.md` (O1–O3, A1–A8, T1–T5,
//! C1–C3, B1–B5), plus a Rust twin of every `WhenAll*` test of the .NET guide.
//!
//! # Design
//!
//! The suite is a library of test *bodies*, plain `pub fn`s, and two macros that
//! turn them into `#[test]`s inside a test binary. There are two kinds of body:
//!
//! - **Runtime-generic** bodies, `pub fn name(rt: &impl Runtime)`. They run every
//!   future through [`Runtime::block_on`] and never touch the virtual clock (no
//!   `sleep`): progress comes from [`Gate`](crate::support::Gate)s opened by a
//!   driver future, self-waking [`YieldN`](crate::support::YieldN)s and
//!   [`yield_now`]. So they run unchanged on any executor; each binary picks
//!   one by implementing the [`Runtime`] trait: `block_on`, and optionally
//!   `spawn_task`. Bodies that spawn (`spawned.rs`) call [`Runtime::spawn`];
//!   on a runtime that cannot spawn, the spawned future runs inside its
//!   handle, so those bodies run everywhere.
//! - **Virtual-time** bodies, `pub fn name()`. They use `support::sleep` and
//!   `support::run_timed`, and may assert *virtual* durations (never wall-clock
//!   time). They need the deterministic executor of `tests/support`, so only the
//!   `deterministic` binary runs them.
//!
//! The list of bodies lives here, once, in [`runtime_suite!`] and
//! [`virtual_clock_suite!`], together with the attributes a body needs
//! (`#[should_panic(expected = ..)]`, `#[ignore = "BUG: .."]`). A test binary
//! includes `support` and this module and writes one line per suite:
//!
//! ```ignore
//! #[path = "support/mod.rs"] mod support;
//! #[path = "conformance/mod.rs"] mod conformance;
//!
//! struct MyRuntime;
//! impl conformance::Runtime for MyRuntime {
//!     fn block_on<F: Future>(&self, fut: F) -> F::Output { my_runtime::block_on(fut) }
//! }
//! conformance::runtime_suite!(MyRuntime);      // one #[test] per generic body
//! conformance::virtual_clock_suite!();         // only with the virtual clock
//! ```
//!
//! `runtime_suite!(rt, seeded)` and `virtual_clock_suite!(seeded)` run each
//! body under many seeded schedules of the deterministic executor instead of
//! once (`support::seeds`). A binary with several executors puts one
//! `runtime_suite!` in a module per executor.
//!
//! Tests come out as `<file>::<body>` (e.g. `when_all::a5_faults_in_input_order`)
//! and `virtual_clock::<file>::<body>`. Bodies are named after the rule they
//! check (`a7_…`, `t2_…`); the .NET twins after their .NET test, in snake_case.
//! Adding a runtime later is one binary of a few lines; adding a body is one
//! function and one line in the list.
//!
//! Nothing here asserts wall-clock time. Counts (polls, pulls, drops), peak
//! concurrency (`Tracker`), order, outcomes and virtual durations are the
//! observables.
#![allow(dead_code, unused_macros)]

pub mod cancel;
pub mod first_ok;
pub mod fixed;
pub mod for_each;
pub mod join_all;
pub mod panics;
pub mod robustness;
pub mod seed_process_as_complete;
pub mod seed_tokens;
pub mod seed_when_all;
pub mod settle_all;
pub mod spawned;
pub mod throttle;
pub mod tokens;
pub mod when_all;
pub mod when_any;
pub mod when_each;

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::Stream;

use crate::support::{Gate, GateFuture, PollCounter};

/// A task handed to [`Runtime::spawn_task`]: boxed, `Send`, `'static`.
pub type SpawnedTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An executor that can run a future to completion on the current thread,
/// and, where it offers it, run other futures as tasks of their own.
pub trait Runtime {
    /// Runs `fut` to completion and returns its output. A panic of `fut`
    /// propagates out of this call.
    fn block_on<F: Future>(&self, fut: F) -> F::Output;

    /// Runs `task` as a task of its own (on another thread, where the
    /// runtime has a pool), or gives it back if the runtime cannot spawn.
    /// Called only from inside a future run by [`Runtime::block_on`].
    /// The default cannot spawn.
    fn spawn_task(&self, task: SpawnedTask) -> Result<(), SpawnedTask> {
        Err(task)
    }

    /// Runs `fut` as a task of its own and returns a handle that resolves to
    /// its output (a panic of `fut` comes out of the handle's poll). On a
    /// runtime that cannot spawn, `fut` runs inside the handle when the handle
    /// is polled, so a body that `join`s its handles runs everywhere.
    /// Call it only from inside a future run by [`Runtime::block_on`].
    fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        Self: Sized,
    {
        use futures::FutureExt;
        let (tx, rx) = futures::channel::oneshot::channel();
        let task: SpawnedTask = Box::pin(async move {
            let out = std::panic::AssertUnwindSafe(fut).catch_unwind().await;
            let _ = tx.send(out);
        });
        match self.spawn_task(task) {
            Ok(()) => JoinHandle { inline: None, rx },
            Err(task) => JoinHandle {
                inline: Some(task),
                rx,
            },
        }
    }
}

/// The output of a task started with [`Runtime::spawn`], as a future.
/// Dropping it detaches the task.
#[must_use = "a JoinHandle does nothing unless polled (and on a runtime without spawn, neither does its task)"]
pub struct JoinHandle<T> {
    /// The task itself, when the runtime could not spawn it: run here.
    inline: Option<SpawnedTask>,
    rx: futures::channel::oneshot::Receiver<std::thread::Result<T>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(task) = self.inline.as_mut() {
            if task.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.inline = None;
        }
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(out))) => Poll::Ready(out),
            Poll::Ready(Ok(Err(panic))) => std::panic::resume_unwind(panic),
            Poll::Ready(Err(_)) => panic!("a spawned task was dropped before it finished"),
        }
    }
}

/// The deterministic virtual-time executor of `tests/support`, calm: one
/// schedule, no injected wakes (seeded when run inside `support::chaos::with_seed`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Deterministic;

impl Runtime for Deterministic {
    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        crate::support::run(fut)
    }

    fn spawn_task(&self, task: SpawnedTask) -> Result<(), SpawnedTask> {
        crate::support::executor::spawn(task);
        Ok(())
    }
}

/// Wakes itself once and returns `Pending` once: gives the executor (and the
/// other branch of a `join`/`select`) a turn.
pub async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            crate::support::chaos::wake_by_ref(cx.waker());
            Poll::Pending
        }
    })
    .await;
}

/// Polls `fut` exactly once, with the waker of the task running this, and
/// returns what that one poll gave (then drops `fut`).
pub async fn first_poll<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await
}

/// A future that counts how many times it was polled and forwards to `fut`.
pub fn count_polls<F: Future>(fut: F, counter: PollCounter) -> impl Future<Output = F::Output> {
    let mut fut = Box::pin(fut);
    poll_fn(move |cx| {
        counter.incr();
        fut.as_mut().poll(cx)
    })
}

/// xorshift64*: a seeded, dependency-free pseudo-random generator.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next pseudo-random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `0..n` in a random order.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        self.shuffle(&mut order);
        order
    }
}

/// `n` gates, one per task, each with its own poll counter.
#[derive(Debug, Clone)]
pub struct Gates {
    gates: Vec<Gate>,
    polls: Vec<PollCounter>,
}

impl Gates {
    /// `n` closed gates.
    pub fn new(n: usize) -> Self {
        Self {
            gates: (0..n).map(|_| Gate::new()).collect(),
            polls: (0..n).map(|_| PollCounter::new()).collect(),
        }
    }

    /// How many gates.
    pub fn len(&self) -> usize {
        self.gates.len()
    }

    /// The future of task `i`: completes with `value` once gate `i` is open;
    /// its polls are counted in [`Gates::polls`].
    pub fn future<T>(&self, i: usize, value: T) -> GateFuture<T> {
        self.gates[i].future(value, self.polls[i].clone())
    }

    /// Opens gate `i` (waking its future).
    pub fn open(&self, i: usize) {
        self.gates[i].open();
    }

    /// Whether task `i` waits at its gate (polled, pending, waker left).
    pub fn is_awaited(&self, i: usize) -> bool {
        self.gates[i].is_awaited()
    }

    /// Yields until every task in `which` waits at its gate (or its gate
    /// was opened already).
    pub async fn until_awaited(&self, which: impl IntoIterator<Item = usize> + Clone) {
        while !which
            .clone()
            .into_iter()
            .all(|i| self.is_awaited(i) || self.is_open(i))
        {
            yield_now().await;
        }
    }

    /// Whether gate `i` is open.
    pub fn is_open(&self, i: usize) -> bool {
        self.gates[i].is_open()
    }

    /// How many times the future of task `i` was polled.
    pub fn polls(&self, i: usize) -> usize {
        self.polls[i].get()
    }

    /// Every task's poll count, in index order.
    pub fn all_polls(&self) -> Vec<usize> {
        self.polls.iter().map(PollCounter::get).collect()
    }

    /// A driver: opens the gates in `order`, one at a time, yielding to the
    /// executor after each.
    pub async fn open_in_order(&self, order: impl IntoIterator<Item = usize>) {
        for i in order {
            self.open(i);
            yield_now().await;
        }
    }
}

/// An iterator adapter that counts its `next()` calls (see [`pulls`]).
#[derive(Debug)]
pub struct Pulls<I> {
    iter: I,
    count: PollCounter,
}

impl<I: Iterator> Iterator for Pulls<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.count.incr();
        self.iter.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

/// `iter`, counting every `next()` call in `count`.
pub fn pulls<I: IntoIterator>(iter: I, count: &PollCounter) -> Pulls<I::IntoIter> {
    Pulls {
        iter: iter.into_iter(),
        count: count.clone(),
    }
}

/// A stream adapter that counts its `poll_next` calls (see [`stream_polls`]).
#[derive(Debug)]
pub struct StreamPolls<S> {
    stream: S,
    count: PollCounter,
}

impl<S: Stream + Unpin> Stream for StreamPolls<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.count.incr();
        Pin::new(&mut self.stream).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

/// `stream`, counting every `poll_next` call in `count`.
pub fn stream_polls<S: Stream + Unpin>(stream: S, count: &PollCounter) -> StreamPolls<S> {
    StreamPolls {
        stream,
        count: count.clone(),
    }
}

/// Counts its own drop in a shared counter: put one in a future to see when
/// the future is dropped (a never-polled `async` block drops what it captured).
#[derive(Debug)]
pub struct DropGuard(PollCounter);

impl DropGuard {
    /// A guard that adds one to `drops` when it is dropped.
    pub fn new(drops: &PollCounter) -> Self {
        Self(drops.clone())
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.incr();
    }
}

/// A boxed, type-erased task, so tasks of different kinds share one `Vec`.
pub type BoxTask<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Boxes `fut` as a [`BoxTask`].
pub fn boxed<'a, F: Future + 'a>(fut: F) -> BoxTask<'a, F::Output> {
    Box::pin(fut)
}

/// A flag that catches re-entrance: `enter` panics if already inside.
#[derive(Debug, Clone, Default)]
pub struct Reentrance(Rc<Cell<bool>>);

impl Reentrance {
    /// Marks the start of a section that must not be re-entered.
    pub fn enter(&self) {
        assert!(!self.0.get(), "re-entered");
        self.0.set(true);
    }

    /// Marks the end of the section.
    pub fn leave(&self) {
        self.0.set(false);
    }

    /// Whether we are inside the section now.
    pub fn inside(&self) -> bool {
        self.0.get()
    }
}

// ---------------------------------------------------------------------------
// The lists of bodies, and the macros that instantiate them.
// ---------------------------------------------------------------------------

/// One `#[test]` per runtime-generic body, in a module per body file, each
/// running its body on the runtime `$rt` (an expression of a type that
/// implements [`Runtime`]).
macro_rules! runtime_suite {
    ($rt:expr) => {
        fn __conformance_case(_name: &str, _attrs: &[&str], body: &dyn Fn()) {
            body()
        }
        $crate::conformance::runtime_suite!(@bodies $rt);
    };
    ($rt:expr, seeded) => {
        fn __conformance_case(name: &str, attrs: &[&str], body: &dyn Fn()) {
            $crate::support::seeds::for_each_seed(name, attrs, body)
        }
        $crate::conformance::runtime_suite!(@bodies $rt);
    };
    (@bodies $rt:expr) => {
        fn __conformance_runtime() -> impl $crate::conformance::Runtime {
            $rt
        }

        $crate::conformance::__runtime_tests! {
            when_all {
                a1_input_order,
                a1_input_order_from_stream,
                a2_empty_is_ready_on_first_poll,
                a3_ready_inputs_are_ready_on_first_poll,
                a3_ready_faults_are_ready_on_first_poll,
                a4_fault_does_not_drop_the_others,
                a5_faults_in_input_order,
                a6_fault_beats_cancellation,
                a6_cancellation_without_fault_is_canceled,
                a6_all_completed_is_ok,
                a7_fail_fast_pulls_nothing_after_the_fault,
                a7_fail_fast_ready_fault_stops_pulling,
                a7_fail_fast_from_stream_stops_polling_the_stream,
                a7_without_fail_fast_everything_is_pulled,
                a8_nested_failure_is_the_task_error,
                a8_nested_cancellation_is_the_task_error,
                o3_outcome_canceled_is_canceled,
            }
            settle_all {
                a1_input_order,
                a2_empty_is_ready_on_first_poll,
                a3_ready_inputs_are_ready_on_first_poll,
                a4_faults_are_values,
                o1_every_pulled_task_has_one_outcome,
                o1_one_outcome_each_under_cancellation,
                o1_one_outcome_each_under_fail_fast,
                o2_completed_although_cancel_was_requested,
                o2_last_task_completed_although_cancel_was_requested,
                o3_outcome_canceled_is_canceled,
                a7_fail_fast_pulls_nothing_after_the_fault,
            }
            join_all {
                a1_input_order,
                a1_input_order_from_stream,
                a1_pending_stream_source,
                a2_empty_is_ready_on_first_poll,
                a3_ready_inputs_are_ready_on_first_poll,
                a3_many_ready_inputs_are_ready_on_first_poll,
                into_future_items,
                outputs_are_not_judged,
                exact_polls_gates_random_order,
                exact_polls_gates_opened_in_bursts,
                exact_polls_yield_n,
                exact_polls_stale_waker_polls_the_next_occupant_once,
            }
            throttle {
                t1_exactly_n_in_flight,
                t1_peak_is_the_limit_for_every_combinator,
                t1_limit_one_is_sequential,
                t2_pulls_lazily,
                t2_pulls_lazily_from_stream,
                t3_source_is_never_reentered,
                t3_stream_source_is_never_reentered,
                #[should_panic(expected = "limit")]
                t4_when_all_limit_zero_panics,
                #[should_panic(expected = "limit")]
                t4_settle_all_limit_zero_panics,
                #[should_panic(expected = "limit")]
                t4_join_all_limit_zero_panics,
                t5_each_item_processed_once,
                t5_endless_range_source_with_limit,
            }
            cancel {
                c1_fired_signal_pulls_nothing_when_all,
                c1_fired_signal_pulls_nothing_settle_all,
                c1_fired_signal_never_polls_the_stream,
                c1_fired_signal_with_empty_input,
                c2_signal_drops_every_task_in_flight_at_once,
                c2_faults_before_the_signal_win,
                c2_signal_after_everything_completed_changes_nothing,
                c3_any_future_is_a_signal,
                c3_either_of_two_signals_cancels,
                c2_signal_stops_an_endless_source,
                c2_graceful_verdict_does_not_depend_on_the_limit,
                c2_signal_between_two_events_stops_the_batch_there,
            }
            fixed {
                fixed_a1_tuple_in_order,
                fixed_a1_array_in_order,
                fixed_a5_every_fault_in_order,
                fixed_a5_large_array_every_fault,
                fixed_a6_fault_beats_cancellation,
                fixed_a7_fail_fast_drops_the_rest,
                fixed_c1_fired_signal_polls_nothing,
                fixed_c2_cancel_on_drops_and_records,
                fixed_graceful_waits_for_the_elements,
                fixed_join_all_and_settle_all,
                fixed_poll_contract_inline,
                fixed_large_array_polls_only_the_woken,
                fixed_r2_when_any_ties_and_drops,
                fixed_r5_first_ok,
                fixed_finished_is_finished,
            }
            when_each {
                e1_completion_order_with_indices,
                e1_completion_order_from_a_driver,
                e1_woken_task_is_not_deferred_by_ready_pulls,
                e2_ties_in_index_order,
                e2_ready_tasks_in_index_order,
                e2_one_burst_of_shuffled_wakes,
                e2_ties_in_index_order_with_slot_reuse,
                e2_ties_do_not_depend_on_the_block_layout,
                e2_a_woken_task_before_one_pulled_in_the_same_poll,
                e2_ties_after_an_item_go_to_the_lowest_index,
                e3_empty_ends_at_once,
                e5_consumed_once,
                e5_fused_stream_is_terminated,
                e_size_hint_is_honest,
                e_size_hint_with_a_signal,
                e_in_flight_and_debug,
                t1_when_each_exactly_n_in_flight_whenever_pending,
                t1_when_each_refills_at_the_next_poll,
                t2_when_each_pulls_lazily,
                #[should_panic(expected = "limit")]
                t4_when_each_limit_zero_panics,
                c1_when_each_fired_signal_pulls_nothing,
                c2_when_each_cancel_on_drops_in_flight_and_ends,
                c2_when_each_graceful_yields_the_tasks_in_flight_then_ends,
                c2_when_each_signal_after_the_end_changes_nothing,
            }
            when_any {
                r1_first_to_end_wins_whatever_its_outcome,
                r1_a_fault_is_a_value,
                r2_ties_lowest_index_every_time,
                r2_ready_tasks_lowest_index,
                r2_ties_with_limit_slot_reuse,
                r2_ties_with_limit_randomized,
                r3_rest_is_still_drivable,
                r3_rest_keeps_pulling_under_a_limit,
                r3_dropping_the_rest_drops_the_tasks,
                r3_not_unpin_tasks,
                r4_empty_is_none_at_once,
                r_when_any_is_fused,
                #[should_panic(expected = "limit")]
                t4_when_any_limit_zero_panics,
                c2_when_any_cancel_on_gives_up,
                c2_when_any_graceful_waits_for_the_tasks_in_flight,
            }
            first_ok {
                r5_first_completed_wins_and_the_rest_are_dropped_at_once,
                r5_ties_lowest_index_wins,
                r2_first_ok_ties_hold_within_one_poll,
                r5_all_fault_every_fault_in_input_order,
                r5_empty_is_faulted_with_no_faults_at_once,
                r5_only_cancellations_is_canceled,
                r5_limit_one_is_a_fallback_chain,
                #[should_panic(expected = "limit")]
                t4_first_ok_limit_zero_panics,
                c2_first_ok_cancel_on,
                c2_first_ok_graceful_waits_for_the_losers,
                c2_first_ok_graceful_on_the_signal,
            }
            for_each {
                e1_for_each_faults_are_kept_not_processed,
                e3_empty_never_calls_the_processor,
                e4_processor_runs_alone_in_completion_order,
                e_for_each_is_fused,
                t1_for_each_refills_in_the_same_poll,
                t1_for_each_bursts_refilled_in_the_same_poll,
                #[should_panic(expected = "limit")]
                t4_for_each_limit_zero_panics,
                #[should_panic(expected = "limit")]
                t4_for_each_async_limit_zero_panics,
                a6_for_each_failure_precedence,
                a7_for_each_fail_fast_pulls_nothing_after_the_fault,
                a7_for_each_fail_fast_endless_source,
                c2_for_each_async_cancel_on_keeps_the_backlog,
                fa_processor_futures_never_overlap,
                fa_tasks_keep_moving_while_the_processor_waits,
                fa_backlog_counts_against_the_limit,
                fa_fail_fast_still_processes_the_backlog,
                fp_a_processor_fault_is_the_items_fault,
                fp_a_processor_fault_stops_a_fail_fast_batch,
                fp_a_processor_fault_stops_a_graceful_batch,
            }
            tokens {
                k1_cancel_is_idempotent_and_every_clone_sees_it,
                k1_waiting_canceled_futures_are_woken,
                k1_cancel_from_another_thread_wakes_the_waiters,
                k1_concurrent_cancels_deliver_exactly_once,

                k1_a_panicking_callback_strands_no_waiter,

                k1_a_replaced_waker_is_dropped_outside_the_lock,
                k2_child_is_canceled_with_its_parent,
                k2_canceling_a_child_does_not_touch_the_parent,
                k2_grandchildren,
                k2_dropped_children_are_unlinked,
                k3_linked_source_is_canceled_by_any_parent,
                k3_linked_edge_cases,
                k4_callbacks_run_once_last_registered_first,
                k4_dropping_the_registration_unregisters_it,
                k4_callbacks_may_register_and_cancel_without_deadlock,
                k5_tokens_are_send_sync_and_cheap,
                c1_token_canceled_before_the_first_poll_pulls_nothing,
                c2_token_canceled_midway_drops_the_tasks_in_flight,
                c2_token_canceled_from_another_thread,
                c3_child_and_linked_tokens_are_signals,
                run_ends_canceled_when_the_token_fires_first,
                cancel_when_any_future,
                graceful_on_the_signal_waits_for_the_tasks_in_flight,
                graceful_waits_for_a_task_that_ignores_the_token,
                graceful_fail_fast_keeps_every_fault,
                graceful_for_each,
                graceful_for_each_async,
                graceful_stop_is_canceled_only_when_the_batch_stops,
                graceful_with_child_tokens,
            }
            spawned {
                s1_spawned_batch_gates_opened_by_spawned_tasks,
                s2_spawned_tasks_under_a_limit,
                s3_signal_from_a_spawned_task,
                s4_when_each_over_spawned_tasks,
                s5_for_each_processor_runs_alone,
                s6_fail_fast_pulls_nothing_after_the_fault,
                s7_when_any_over_spawned_tasks,
                s8_one_outcome_each_under_cancellation,
                s9_nested_batches_on_spawned_tasks,
            }
            robustness {
                b1_waker_outlives_the_batch,
                b1_waker_outlives_a_canceled_batch,
                b1_wakes_from_another_thread_while_running,
                b2_self_waking_child_does_not_starve_the_others,
                b2_self_wakes_finish_in_one_poll_without_waking_the_executor,
                b2_endless_ready_source_yields_to_the_executor,
                b2_unthrottled_endless_ready_source_yields,
                #[should_panic(expected = "polled after it completed")]
                b3_join_all_polled_after_completion_panics,
                #[should_panic(expected = "polled after it completed")]
                b3_when_all_polled_after_completion_panics,
                #[should_panic(expected = "polled after it completed")]
                b3_settle_all_polled_after_completion_panics,
                b3_finished_batches_say_they_are_terminated,
                b4_panicking_child_propagates_and_drops_the_others,
                b4_panicking_child_under_limit_drops_everything,
                b4_panicking_source_propagates,
                b4_polled_again_after_a_panic_the_batch_names_the_task,
                b5_a_million_ready_tasks,
            }
            panics {
                p1_a_caught_panic_is_a_fault_at_its_index,
                p2_fail_fast_cancels_on_a_caught_panic,
                p3_graceful_waits_after_a_caught_panic,
                p4_the_payload_is_kept,
                p5_a_panic_in_drop_as_the_task_finishes_is_its_outcome,
                p6_tuples_and_arrays_catch_panics_per_element,
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use runtime_suite;

/// One `#[test]` per virtual-time body, in `mod virtual_clock`.
macro_rules! virtual_clock_suite {
    () => {
        $crate::conformance::virtual_clock_suite!(@bodies |_name, _attrs, body| body());
    };
    (seeded) => {
        $crate::conformance::virtual_clock_suite!(@bodies |name, attrs, body| {
            $crate::support::seeds::for_each_seed(name, attrs, body)
        });
    };
    (@bodies $runner:expr) => {
        mod virtual_clock {
            fn __conformance_case(name: &str, attrs: &[&str], body: &dyn Fn()) {
                let runner: fn(&str, &[&str], &dyn Fn()) = $runner;
                runner(name, attrs, body)
            }

            $crate::conformance::__timed_tests! {
                seed_when_all {
                    when_all_result_unwrapped,
                    when_all_exceptions_thrown_exceptions_aggregated,
                    when_all_exceptions_thrown_exception_unwrapped,
                    when_all_exceptions_thrown_unwrapped_child_task,
                    when_all_canceled_task_exception_thrown,
                    when_all_canceled_and_faulted_exception_over_cancellation,
                    when_all_shared_cancellation_token_all_cancelled,
                    when_all_throttled_all_good,
                    when_all_throttled_exception_propagated,
                    when_all_throttled_cancellation_propagated,
                    benchmarks_sequential_concurrent_and_throttled,
                }
                seed_tokens {
                    when_all_shared_cancellation_token_all_cancelled,
                    when_all_canceled_task_exception_thrown,
                    when_all_canceled_and_faulted_exception_over_cancellation,
                    when_all_throttled_cancellation_propagated,
                }
                tokens {
                    run_and_cancel_when_timed,
                    cancel_when_gives_up_early_timed,
                    c2_token_deadline_mid_batch_timed,
                    graceful_timed,
                }
                seed_process_as_complete {
                    when_any_first_canceled,
                    concurrent_interleaved_combinator,
                    sequential_blocking_for_each_async,
                    concurrent_interleaved_for_each_async,
                    throttled_interleaved,
                    control_parallelism_for_each_async,
                }
                when_all {
                    a4_run_to_completion_timed,
                    a1_completion_order_is_not_result_order_timed,
                }
                for_each {
                    #[should_panic(expected = "deadlock")]
                    buffer_unordered_stalls_on_the_same_scenario,
                    fa_processing_overlaps_the_tasks_timed,
                }
                throttle {
                    t1_waves_of_jobs_timed,
                }
                cancel {
                    c2_timer_signal_mid_batch_timed,
                    c3_timer_is_a_signal_timed,
                }
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use virtual_clock_suite;

#[doc(hidden)]
macro_rules! __runtime_tests {
    ($( $module:ident { $( $(#[$attr:meta])* $name:ident ),* $(,)? } )*) => {
        $(
            mod $module {
                $(
                    #[test]
                    $(#[$attr])*
                    fn $name() {
                        super::__conformance_case(
                            concat!(stringify!($module), "::", stringify!($name)),
                            &[$(stringify!($attr)),*],
                            &|| $crate::conformance::$module::$name(&super::__conformance_runtime()),
                        );
                    }
                )*
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use __runtime_tests;

#[doc(hidden)]
macro_rules! __timed_tests {
    ($( $module:ident { $( $(#[$attr:meta])* $name:ident ),* $(,)? } )*) => {
        $(
            mod $module {
                $(
                    #[test]
                    $(#[$attr])*
                    fn $name() {
                        super::__conformance_case(
                            concat!("virtual_clock::", stringify!($module), "::", stringify!($name)),
                            &[$(stringify!($attr)),*],
                            &$crate::conformance::$module::$name,
                        );
                    }
                )*
            }
        )*
    };
}
#[allow(unused_imports)]
pub(crate) use __timed_tests;
