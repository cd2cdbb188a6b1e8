//! Memory of cancellation tokens, measured by a counting global allocator:
//! K2 (a dropped child is unlinked, so a long-lived parent does not grow with
//! short-lived children) and K5 (a token is cheap: cloning allocates nothing).
//!
//! A private registration count cannot be read from an integration test, so
//! this binary measures the heap instead. The allocator wraps
//! `std::alloc::System` and keeps, per thread and only while the thread has
//! switched counting on, the bytes allocated minus the bytes freed ("live
//! bytes") and the number of allocations. Each `#[test]` runs on its own
//! thread, so tests (and the harness) never disturb each other's counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use fanout::cancel::{CancelSource, CancelToken};

struct Counting;

thread_local! {
    // `const` and `Drop`-free: reading them never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

fn add_live(bytes: isize) {
    let _ = LIVE.try_with(|live| live.set(live.get() + bytes));
}

fn add_alloc() {
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded to `System` unchanged; counting touches only
// const thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            add_alloc();
            add_live(layout.size() as isize);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting() {
            add_alloc();
            add_live(layout.size() as isize);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            add_alloc();
            add_live(new_size as isize - layout.size() as isize);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counting() {
            add_live(-(layout.size() as isize));
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live bytes and allocations made on this thread by `f` (its output is
/// dropped while counting, so what it leaves behind is what it leaked into
/// long-lived state).
fn measure(f: impl FnOnce()) -> (isize, usize) {
    LIVE.with(|l| l.set(0));
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    (LIVE.with(Cell::get), ALLOCS.with(Cell::get))
}

/// How many children come and go in each loop.
const CHILDREN: usize = 100_000;

/// What a parent may keep after the loop: its registration slab's spare
/// capacity (a few entries), never anything per child.
const SLACK: isize = 512;

fn noop_waker() -> Waker {
    futures::task::noop_waker()
}

/// Polls `fut` once with a no-op waker (registering it, if it waits).
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let waker = noop_waker();
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(&waker))
}

/// Runs `once` `CHILDREN` times against a long-lived parent and asserts that
/// the live bytes afterwards are back to where they were (within [`SLACK`]).
/// One warm-up run first, outside the measurement, so that the parent's
/// registration slab has its first block already. `per_round` is how many
/// allocations a round makes at least (a child node is one), to show the
/// measurement sees them.
fn no_growth(what: &str, parent: &CancelToken, per_round: usize, once: impl Fn(&CancelToken)) {
    once(parent);
    let (live, allocs) = measure(|| {
        for _ in 0..CHILDREN {
            once(parent);
        }
    });
    println!("{what}: {live} live bytes after {CHILDREN} rounds ({allocs} allocations)");
    assert!(
        live <= SLACK,
        "{what}: {live} bytes still live after {CHILDREN} children came and went \
         (about {} per child): dropped children are not unlinked",
        live / CHILDREN as isize
    );
    assert!(
        allocs >= per_round * CHILDREN,
        "{what}: {allocs} allocations; the measurement is broken"
    );
}

/// K2: a long-lived token's children (and grandchildren, linked sources,
/// children with a registered waiter or callback) are unlinked when dropped:
/// 100,000 of each, one after another, leave the parent no bigger.
#[test]
fn k2_dropped_children_are_unlinked_memory_stays_bounded() {
    let parent = CancelSource::new();
    let other = CancelSource::new();
    let token = parent.token();

    no_growth("child", &token, 1, |t| drop(t.child()));
    no_growth("grandchild", &token, 2, |t| drop(t.child().child()));
    no_growth("linked to two parents", &token, 1, |t| {
        drop(CancelSource::linked([t, &other.token()]));
    });
    no_growth("child with a waiting canceled()", &token, 1, |t| {
        let child = t.child();
        let mut wait = child.canceled();
        assert!(poll_once(&mut wait).is_pending());
        drop(child);
        drop(wait);
    });
    no_growth("child with a callback", &token, 1, |t| {
        let child = t.child();
        drop(child.register(|| unreachable!("the parent is never canceled here")));
    });
    no_growth("child with a forgotten callback", &token, 1, |t| {
        t.child().register(|| {}).forget();
    });
    no_growth("run under a child", &token, 1, |t| {
        let run = t.child().run(std::future::pending::<Result<(), ()>>());
        assert!(poll_once(run).is_pending());
    });
    no_growth("canceled() on the parent itself", &token, 0, |t| {
        let mut wait = t.canceled();
        assert!(poll_once(&mut wait).is_pending());
    });
    no_growth("registration on the parent itself", &token, 0, |t| {
        drop(t.register(|| {}));
    });

    // The parent still works after all that.
    let child = token.child();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    child
        .register(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .forget();
    parent.cancel();
    assert!(child.is_canceled());
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// K2 with many children alive at once: 100,000 children of one parent, then
/// all dropped. The parent keeps its registration slab at the size of that
/// peak (a capacity, printed here, not a leak per child): a second wave of
/// 100,000 reuses it and leaves nothing more behind. A canceled parent gives
/// its registrations back entirely.
#[test]
fn k2_many_live_children_are_given_back() {
    let parent = CancelSource::new();
    let token = parent.token();
    let wave = || {
        let children: Vec<CancelToken> = (0..CHILDREN).map(|_| token.child()).collect();
        assert!(children.iter().all(|c| !c.is_canceled()));
        drop(children);
    };
    let (kept, _) = measure(wave);
    println!("after {CHILDREN} live children were dropped, the parent keeps {kept} bytes");
    let (live, allocs) = measure(wave);
    println!("a second wave: {live} live bytes ({allocs} allocations)");
    assert!(
        live <= SLACK,
        "a second wave of children left {live} bytes behind"
    );
    assert!(allocs >= CHILDREN);

    let parent = CancelSource::new();
    let token = parent.token();
    let (live, _) = measure(|| {
        let children: Vec<CancelToken> = (0..1000).map(|_| token.child()).collect();
        parent.cancel();
        assert!(children.iter().all(CancelToken::is_canceled));
        drop(children);
    });
    assert!(live <= 0, "{live} bytes kept after the cancel");
}

/// K5: a token is cheap: cloning (one reference count), `is_canceled`,
/// making a `canceled()` future, and dropping them allocate nothing.
#[test]
fn k5_cloning_a_token_allocates_nothing() {
    let source = CancelSource::new();
    let token = source.token();
    let (live, allocs) = measure(|| {
        for _ in 0..10_000 {
            let clone = token.clone();
            assert!(!clone.is_canceled());
            let wait = clone.canceled();
            drop(wait);
            drop(clone);
        }
    });
    assert_eq!((live, allocs), (0, 0));
    source.cancel();
    let (live, allocs) = measure(|| {
        for _ in 0..10_000 {
            let clone = token.clone();
            assert!(poll_once(clone.canceled()).is_ready());
        }
    });
    assert_eq!(
        (live, allocs),
        (0, 0),
        "a canceled token's canceled() allocated"
    );
}
