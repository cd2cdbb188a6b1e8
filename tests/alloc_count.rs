//! Heap allocations of a batch, counted by a global allocator.
//!
//! The counting allocator wraps `std::alloc::System` and counts only while the
//! current thread has switched counting on, so the harness and other threads
//! never pollute a measurement. Every measurement lives in ONE `#[test]`, so
//! nothing else in this binary allocates on another test's behalf meanwhile.
//!
//! What is counted: `alloc` and `alloc_zeroed` calls ("allocations"), and
//! `realloc` calls separately (a `Vec` growing in place or moving). The inputs
//! (a `Vec` of futures, or a lazy iterator) are built before counting starts;
//! the batch's output `Vec` is part of what the batch allocates and is counted.
//! `futures::executor::block_on`'s own allocations (a thread-local notifier made
//! on first use) are measured as a baseline on a ready future, after a warm-up,
//! and subtracted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/yield_once.rs"]
mod yield_once;

use fanout::{join_all, when_all, Join, Outcome, Race};
use futures::executor::block_on;
use yield_once::YieldOnce;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // `const` and `Drop`-free: reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded to `System` unchanged; counting touches only
// atomics and a const thread-local, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            REALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations and reallocations made on this thread by `f`; also
/// returns `f`'s output (dropped by the caller, after counting stops).
fn measure<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    ALLOCS.store(0, Ordering::SeqCst);
    REALLOCS.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    let counts = Counts {
        allocs: ALLOCS.load(Ordering::SeqCst),
        reallocs: REALLOCS.load(Ordering::SeqCst),
    };
    (out, counts)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    allocs: usize,
    reallocs: usize,
}

impl std::ops::Sub for Counts {
    type Output = Counts;

    fn sub(self, base: Counts) -> Counts {
        Counts {
            allocs: self.allocs - base.allocs,
            reallocs: self.reallocs - base.reallocs,
        }
    }
}

#[test]
fn allocations_are_independent_of_the_batch_size() {
    // Warm up: block_on makes its thread-local notifier on first use (this
    // test runs on a fresh thread).
    let _ = measure(|| block_on(std::future::ready(())));
    let ((), baseline) = measure(|| block_on(std::future::ready(())));

    // when_all over a Vec of N yield-once futures (built before counting).
    let mut when_all_counts = Vec::new();
    for n in [10, 1_000, 10_000] {
        let tasks: Vec<YieldOnce<Result<usize, ()>>> =
            (0..n).map(|i| YieldOnce::new(Ok(i))).collect();
        let (result, counts) = measure(|| block_on(when_all(tasks)));
        assert_eq!(result, Ok((0..n).collect::<Vec<_>>()));
        when_all_counts.push(counts - baseline);
    }
    // Exactly: the output `Vec`, the block (its slots and its ready set share
    // one allocation), and — only once a round takes more leaf words of the
    // set than the engine keeps inline (4 words: 256 slots) — the round
    // snapshot's `Vec`. So at most 3 whatever N, and 2 for a small batch.
    let allocs: Vec<usize> = when_all_counts.iter().map(|c| c.allocs).collect();
    assert_eq!(
        allocs,
        [2, 3, 3],
        "when_all allocations: {when_all_counts:?}"
    );
    assert!(
        when_all_counts.iter().all(|c| c.reallocs == 0),
        "when_all reallocates: {when_all_counts:?}"
    );

    // join_all(..).limit(64) over a lazy iterator of N yield-once futures.
    let mut limited_counts = Vec::new();
    for n in [1_000, 10_000, 100_000] {
        let tasks = (0..n).map(YieldOnce::new);
        let (outputs, counts) = measure(|| block_on(join_all(tasks).limit(64)));
        assert_eq!(outputs.len(), n);
        assert!(outputs.iter().enumerate().all(|(i, &o)| i == o));
        limited_counts.push(counts - baseline);
    }
    // Exactly: the output `Vec` and one block of 64 slots, whatever N. The
    // tasks finish in waves of 64, and the slots rewind after each wave (see
    // `engine/slots.rs`), so no round's completions are ever parked to be
    // sorted: the parking `Vec` is never allocated (before the rewind it
    // cost 1 allocation and 4 reallocations).
    let two = Counts {
        allocs: 2,
        reallocs: 0,
    };
    assert_eq!(
        limited_counts, [two; 3],
        "limited join_all allocations: {limited_counts:?}"
    );

    // Fewer tasks than the limit: the same two.
    let (_, small) = measure(|| block_on(join_all((0..10).map(YieldOnce::new)).limit(64)));
    assert_eq!(small - baseline, two, "join_all(..).limit(64) over 10");

    // Tasks that finish in reverse order (task i yields n - 1 - i times): the
    // outputs arrive out of order from the first one on. Exactly: the block
    // and the output `Vec` (each output written at its place from the
    // start; it is handed back as it is); above 256 tasks, the bits that
    // record which places are filled (up to 256 are kept inline) and the
    // round snapshot's `Vec`.
    for (n, want) in [(10, 2), (100, 2), (256, 2), (1_000, 4)] {
        let tasks: Vec<Countdown> = (0..n).map(|i| Countdown(n - 1 - i, i)).collect();
        let (outputs, counts) = measure(|| block_on(join_all(tasks)));
        assert!(outputs.iter().enumerate().all(|(i, &o)| i == o));
        assert_eq!(outputs.capacity(), n, "no room past the last output");
        assert_eq!(
            counts - baseline,
            Counts {
                allocs: want,
                reallocs: 0
            },
            "join_all over {n} finishing in reverse order"
        );
    }

    fixed_batches_allocate_nothing(baseline);

    // A source of unknown size: blocks of 16, 16 and 32 slots (doubling up to
    // the limit), the `Vec` that holds the blocks after the first, and the
    // output `Vec`, which grows by doubling (reallocations, so O(log N) of
    // them; allocations stay 5).
    for n in [1_000, 10_000, 100_000] {
        let tasks = (0..n).filter(|_| true).map(YieldOnce::new);
        let (outputs, counts) = measure(|| block_on(join_all(tasks).limit(64)));
        assert!(outputs.iter().enumerate().all(|(i, &o)| i == o));
        assert_eq!(
            (counts - baseline).allocs,
            5,
            "join_all(..).limit(64) over {n} of unknown size: {counts:?}"
        );
    }
}

/// Tuples and arrays joined in place (`fanout::Join`, `fanout::Race`): no
/// allocation at all, but the list of faults of a failed `when_all` (or of a
/// `first_ok` that saw a fault) — and an array longer than `INLINE_MAX`,
/// which the engine runs with its own few.
fn fixed_batches_allocate_nothing(baseline: Counts) {
    let zero = Counts {
        allocs: 0,
        reallocs: 0,
    };
    let one = Counts {
        allocs: 1,
        reallocs: 0,
    };
    // S9's shape: eight yield-once futures of three types.
    let tuple = |fault: bool| {
        (
            YieldOnce::new(Ok::<u8, u32>(0)),
            YieldOnce::new(Ok::<u16, u32>(1)),
            YieldOnce::new(if fault { Err(2) } else { Ok::<u64, u32>(2) }),
            YieldOnce::new(Ok::<u8, u32>(3)),
            YieldOnce::new(Ok::<u16, u32>(4)),
            YieldOnce::new(if fault { Err(5) } else { Ok::<u64, u32>(5) }),
            YieldOnce::new(Ok::<u8, u32>(6)),
            YieldOnce::new(Ok::<u16, u32>(7)),
        )
    };
    let batch = tuple(false);
    let (out, counts) = measure(|| block_on(batch.when_all()));
    assert_eq!(out.map(|t| t.7), Ok(7));
    assert_eq!(counts - baseline, zero, "tuple when_all, every element Ok");
    let batch = tuple(true);
    let (out, counts) = measure(|| block_on(batch.when_all()));
    assert_eq!(out.unwrap_err().into_faults().map(|f| f.len()), Some(2));
    assert_eq!(
        counts - baseline,
        one,
        "tuple when_all, two faults: the list of faults"
    );
    let batch = tuple(true);
    let (out, counts) = measure(|| block_on(batch.settle_all()));
    assert_eq!(out.2, Outcome::Faulted(2));
    assert_eq!(counts - baseline, zero, "tuple settle_all");
    let batch = (YieldOnce::new(1u8), YieldOnce::new("two"));
    let (out, counts) = measure(|| block_on(batch.join_all()));
    assert_eq!(out, (1, "two"));
    assert_eq!(counts - baseline, zero, "tuple join_all");

    // Arrays up to INLINE_MAX (32).
    let array: [YieldOnce<Result<usize, ()>>; 32] = std::array::from_fn(|i| YieldOnce::new(Ok(i)));
    let (out, counts) = measure(|| block_on(array.when_all()));
    assert_eq!(out.map(|a| a[31]), Ok(31));
    assert_eq!(counts - baseline, zero, "array when_all");
    let array: [YieldOnce<usize>; 32] = std::array::from_fn(YieldOnce::new);
    let (out, counts) = measure(|| block_on(array.when_any()));
    assert_eq!(out, Some((0, 0)));
    assert_eq!(counts - baseline, zero, "array when_any");
    let array: [YieldOnce<Result<usize, ()>>; 8] = std::array::from_fn(|i| YieldOnce::new(Ok(i)));
    let (out, counts) = measure(|| block_on(array.first_ok()));
    assert_eq!(out, Ok((0, 0)));
    assert_eq!(counts - baseline, zero, "array first_ok");

    // Longer: the engine's block (slots and wakers' bit set) and the boxed
    // engine itself; the outputs stay in the array.
    let array: [YieldOnce<Result<usize, ()>>; 33] = std::array::from_fn(|i| YieldOnce::new(Ok(i)));
    let (out, counts) = measure(|| block_on(array.when_all()));
    assert_eq!(out.map(|a| a[32]), Ok(32));
    assert_eq!(
        counts - baseline,
        Counts {
            allocs: 2,
            reallocs: 0
        },
        "array of 33 when_all, through the engine"
    );
}

/// Pending (waking itself) `.0` more times, then ready with `.1`.
struct Countdown(usize, usize);

impl std::future::Future for Countdown {
    type Output = usize;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<usize> {
        if self.0 == 0 {
            return std::task::Poll::Ready(self.1);
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}
