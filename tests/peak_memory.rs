//! Peak heap memory of a batch (issue 7's contract: for S2 at N = 1,000,000,
//! no more than futures-buffered's), measured by a global allocator that
//! tracks the bytes live on the counting thread and their high-water mark.
//!
//! Only this thread's allocations count (a `const` thread-local switch), and
//! all measurements live in one `#[test]`, so nothing else in the binary
//! allocates while one runs. The inputs are lazy iterators, so the peak is
//! what each combinator itself holds: its task storage, its wakers' shared
//! state and the output `Vec`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use futures::executor::block_on;

#[path = "support/yield_once.rs"]
mod yield_once;

use yield_once::YieldOnce;

struct Tracking;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let live = LIVE.with(|l| {
                l.set(l.get() + delta);
                l.get()
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

// SAFETY: every call is forwarded to `System` unchanged; tracking touches only
// `const` thread-locals, which never allocate.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size() as isize);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(-(layout.size() as isize));
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// The peak bytes live above the starting point while `f` runs (its output
/// is dropped after tracking stops).
fn peak_of<R>(f: impl FnOnce() -> R) -> usize {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    COUNTING.with(|on| on.set(true));
    let out = f();
    COUNTING.with(|on| on.set(false));
    drop(out);
    PEAK.with(Cell::get) as usize
}

/// S2's tasks, with the benches' output type (so `when_all` and
/// `try_join_all` apply too).
fn tasks(n: usize) -> impl Iterator<Item = YieldOnce<Result<u64, ()>>> {
    (0..n as u64).map(|value| YieldOnce::new(Ok(value)))
}

/// What fanout may hold per task at most: the task and its index in a slot
/// (rounded up to 8 bytes, plus 8 for the slot's state), a bit of the ready
/// set (rounded up to a byte), under 2 bytes of the room that aligns the
/// ready set's header to the capacity rounded up to a power of two (a waker
/// stores nothing per task: `ready`, "Wakers"), and its place in the output
/// `Vec`. Everything else is per batch.
fn fanout_bound(n: usize) -> usize {
    let task = std::mem::size_of::<YieldOnce<Result<u64, ()>>>().div_ceil(8) * 8;
    let output = std::mem::size_of::<Result<u64, ()>>();
    let per_task = task + 8 + 8 + 1 + 2 + output;
    n * per_task + (64 << 10)
}

#[test]
fn peak_memory_of_s2_at_a_million_tasks() {
    const N: usize = 1_000_000;
    // The executor's thread-local notifier is made on first use: not ours.
    block_on(async {});

    let fanout_join = peak_of(|| block_on(fanout::join_all(tasks(N))));
    let buffered_join = peak_of(|| block_on(futures_buffered::join_all(tasks(N))));
    let fanout_when = peak_of(|| block_on(fanout::when_all(tasks(N))));
    let buffered_try = peak_of(|| block_on(futures_buffered::try_join_all(tasks(N))));

    // The contract: no more than futures-buffered's, like for like.
    assert!(
        fanout_join <= buffered_join,
        "join_all: fanout {fanout_join} B > futures-buffered {buffered_join} B"
    );
    assert!(
        fanout_when <= buffered_try,
        "when_all: fanout {fanout_when} B > futures-buffered try_join_all {buffered_try} B"
    );
    // And no hidden per-task allocation: within the per-task budget.
    for (face, peak) in [("join_all", fanout_join), ("when_all", fanout_when)] {
        assert!(
            peak <= fanout_bound(N),
            "{face}: {peak} B is over the per-task budget of {} B",
            fanout_bound(N)
        );
    }
    // A batch holds its peak while its tasks are in flight; the measurement
    // itself is exact: the same run twice peaks at the same byte.
    assert_eq!(
        peak_of(|| block_on(fanout::join_all(tasks(N)))),
        fanout_join
    );
}
