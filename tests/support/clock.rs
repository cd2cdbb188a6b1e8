//! Virtual clock and [`sleep`] for the test executor.
//!
//! The clock is thread-local and exists only while [`super::executor::run`]
//! (or `run_timed`) is running on the current thread; every run starts with a fresh
//! clock at virtual time 0 (a nested `run` gets its own clock and the outer clock is
//! restored when it returns). Virtual time never moves by itself: the executor moves
//! it to the earliest pending timer deadline when the root future is pending and
//! nothing woke it.
//!
//! A [`Sleep`] is plain data (a deadline and an id), so it is `Send + Sync + Unpin` and
//! can live inside `Send` futures, but it must be *polled* on the thread that runs the
//! executor (anywhere inside the root future, however deeply nested).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The state of one run's clock.
struct ClockState {
    /// Identifies the run, so a `Sleep` created in one run is not confused with another.
    run_id: u64,
    /// Current virtual time in milliseconds since the run started.
    now: u64,
    /// Next registration sequence number (ties between equal deadlines fire in this order).
    next_seq: u64,
    /// Registered timers keyed by `(deadline, registration seq)`.
    timers: BTreeMap<(u64, u64), Waker>,
}

thread_local! {
    static CLOCK: RefCell<Option<ClockState>> = const { RefCell::new(None) };
    static NEXT_RUN_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(1) };
}

const OUTSIDE_RUN: &str =
    "support::clock used outside support::executor::run on this thread (sleeps must be polled on the executor thread)";

/// Restores the previously installed clock (if any) when dropped; returned by [`install`].
pub(crate) struct ClockGuard {
    previous: Option<ClockState>,
}

impl Drop for ClockGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // Never panic in drop (this also runs while unwinding).
        let _ = CLOCK.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = previous;
            }
        });
    }
}

/// Installs a fresh clock at virtual time 0 on this thread for the duration of a run.
pub(crate) fn install() -> ClockGuard {
    let run_id = NEXT_RUN_ID.with(|n| {
        let id = n.get();
        n.set(id + 1);
        id
    });
    let fresh = ClockState {
        run_id,
        now: 0,
        next_seq: 0,
        timers: BTreeMap::new(),
    };
    let previous = CLOCK.with(|c| c.borrow_mut().replace(fresh));
    ClockGuard { previous }
}

/// If a timer is pending, advances virtual time to the earliest deadline, removes every
/// timer due at that time and returns their wakers in registration order (the caller
/// wakes them after the clock is no longer borrowed). Returns `None` if no timer is pending.
pub(crate) fn advance_to_next_deadline() -> Option<Vec<Waker>> {
    with_clock(|c| {
        let (&(deadline, _), _) = c.timers.first_key_value()?;
        debug_assert!(deadline > c.now, "stale timer in the virtual clock");
        c.now = deadline;
        let mut due = Vec::new();
        while let Some(entry) = c.timers.first_entry() {
            if entry.key().0 != deadline {
                break;
            }
            due.push(entry.remove());
        }
        Some(due)
    })
}

fn with_clock<R>(f: impl FnOnce(&mut ClockState) -> R) -> R {
    CLOCK.with(|c| f(c.borrow_mut().as_mut().expect(OUTSIDE_RUN)))
}

/// Current virtual time in milliseconds since the current run started.
///
/// # Panics
/// If called outside `executor::run` on this thread.
pub fn now() -> u64 {
    with_clock(|c| c.now)
}

/// Number of timers currently registered with the clock (sleeps that were polled,
/// returned `Pending`, and have neither fired nor been dropped).
///
/// # Panics
/// If called outside `executor::run` on this thread.
pub fn pending_timers() -> usize {
    with_clock(|c| c.timers.len())
}

/// Returns a future that completes when virtual time reaches `now() + ms`.
///
/// The deadline is taken when `sleep` is **called** (like .NET `Task.Delay`, whose timer
/// starts when it is created), not at the first poll. A `Sleep` created outside any run
/// is treated as created at virtual time 0 of the run that first polls it. `sleep(0)` is
/// ready on its first poll. Dropping a `Sleep` removes its timer.
pub fn sleep(ms: u64) -> Sleep {
    let created = CLOCK.with(|c| c.borrow().as_ref().map(|c| (c.run_id, c.now)));
    match created {
        Some((run_id, now)) => Sleep {
            deadline: now.saturating_add(ms),
            run_id: Some(run_id),
            key: None,
        },
        None => Sleep {
            deadline: ms,
            run_id: None,
            key: None,
        },
    }
}

/// Future returned by [`sleep`]; completes at its virtual deadline.
#[must_use = "futures do nothing unless you `.await` or poll them"]
#[derive(Debug)]
pub struct Sleep {
    /// Virtual deadline in ms since the start of the run.
    deadline: u64,
    /// The run this sleep belongs to (`None` until first polled if created outside a run).
    run_id: Option<u64>,
    /// The timer's key in the clock, once registered.
    key: Option<(u64, u64)>,
}

impl Sleep {
    /// The virtual time (ms since the run started) at which this sleep completes.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // A waker replaced or removed here is dropped only after the clock borrow ends,
        // since dropping a waker may run arbitrary code (even drop another `Sleep`).
        let (poll, _old_waker) = with_clock(|c| {
            let run_id = *this.run_id.get_or_insert(c.run_id);
            assert_eq!(
                run_id, c.run_id,
                "a support::clock::Sleep was polled in a different executor run than the one it was created in"
            );
            if c.now >= this.deadline {
                let old = this.key.take().and_then(|key| c.timers.remove(&key));
                return (Poll::Ready(()), old);
            }
            let key = *this.key.get_or_insert_with(|| {
                let key = (this.deadline, c.next_seq);
                c.next_seq += 1;
                key
            });
            let old = match c.timers.get_mut(&key) {
                Some(w) if w.will_wake(cx.waker()) => None,
                Some(w) => Some(std::mem::replace(w, cx.waker().clone())),
                // First registration (or re-registration of a timer that cannot have fired,
                // since a fired timer has `now >= deadline`).
                None => c.timers.insert(key, cx.waker().clone()),
            };
            (Poll::Pending, old)
        });
        if poll.is_pending() && super::chaos::spurious() {
            // Nothing changed: a spurious wake, that a combinator must survive.
            super::chaos::wake_by_ref(cx.waker());
        }
        poll
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let (Some(key), Some(run_id)) = (self.key, self.run_id) else {
            return;
        };
        // Never panic in drop: ignore a missing/borrowed clock or a different run.
        let removed = CLOCK.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                if let Some(c) = c.as_mut() {
                    if c.run_id == run_id {
                        return c.timers.remove(&key);
                    }
                }
            }
            None
        });
        // Drop the waker outside the clock borrow (its drop may run arbitrary code).
        drop(removed);
    }
}
