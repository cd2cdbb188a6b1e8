//! What every scenario shares: the hand-written leaf futures (so every
//! implementation pays the same per-task cost), the S3 waiter board, the seeded
//! shuffle, the executors, the counting allocator, and [`Scenario`], the
//! check-then-measure wrapper around one criterion group.

use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// The output of most tasks: a `Result`, so that `when_all`, `first_ok` and
/// the `try_*` peers can take the same futures as the plain joins.
pub type Out = Result<u64, ()>;

// ------------------------------------------------------------------ run mode

/// Whether criterion runs in test mode (`cargo bench -- --test`): every
/// benchmark runs once, nothing is measured. Sizes are then capped by
/// [`size`] so the smoke run stays quick.
pub fn test_mode() -> bool {
    std::env::args().any(|arg| arg == "--test")
}

/// Whether this is a smoke measurement (`FANOUT_BENCH_SMOKE=1`, set by
/// `ci/bench --smoke`): tiny sizes and short measurements, to check that the
/// whole pipeline (criterion's files, the report) works. Not a measurement.
pub fn smoke() -> bool {
    std::env::var_os("FANOUT_BENCH_SMOKE").is_some_and(|v| v == "1")
}

/// The size to use for a scenario that names `n`: `n` when measuring, at most
/// 1,000 in test mode and in a smoke run (the point there is that every row
/// still runs and passes its check, not how fast).
pub fn size(n: usize) -> usize {
    if test_mode() || smoke() {
        n.min(1_000)
    } else {
        n
    }
}

/// The sizes of a multi-size scenario, capped by [`size`] and deduplicated
/// (two capped sizes would otherwise make two groups of the same name).
pub fn sizes(ns: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = ns.iter().map(|&n| size(n)).collect();
    out.dedup();
    out
}

// ------------------------------------------------------------------ leaf futures

/// Wakes itself and returns `Pending` on its first poll; ready on its second.
pub struct YieldOnce {
    value: u64,
    yielded: bool,
}

impl YieldOnce {
    pub fn new(value: u64) -> Self {
        Self {
            value,
            yielded: false,
        }
    }
}

impl Future for YieldOnce {
    type Output = Out;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        if self.yielded {
            Poll::Ready(Ok(self.value))
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The error of S9's tasks: the position in its tuple of the element that
/// faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault(pub u8);

/// S9's leaf: [`YieldOnce`] for any output type, and able to fault. Wakes
/// itself and returns `Pending` on its first poll; on its second, `Ok(value)`,
/// or `Err(Fault(index))` if it was made to fault. `Typed<u64>`,
/// `Typed<u32>` and `Typed<u16>` are three different future types with three
/// different outputs (one error type), as three `async fn`s would be.
pub struct Typed<T> {
    value: T,
    index: u8,
    faults: bool,
    yielded: bool,
}

impl<T> Typed<T> {
    /// Element `index` of its tuple, completing with `value`, or faulting
    /// with `Fault(index)` if `faults`.
    pub fn new(value: T, index: u8, faults: bool) -> Self {
        Self {
            value,
            index,
            faults,
            yielded: false,
        }
    }
}

impl<T: Copy + Unpin> Future for Typed<T> {
    type Output = Result<T, Fault>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Fault>> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        } else if self.faults {
            Poll::Ready(Err(Fault(self.index)))
        } else {
            Poll::Ready(Ok(self.value))
        }
    }
}

/// Pending forever, like a leaf future waiting on I/O that never comes: it
/// keeps a clone of the latest waker it was polled with (as a real leaf
/// registers itself with its reactor), so dropping it drops a waker.
#[derive(Default)]
pub struct Parked {
    waker: Option<Waker>,
}

impl Parked {
    /// Registers `cx`'s waker (replacing an older one that would not wake the
    /// same task) and stays pending.
    fn park(&mut self, cx: &Context<'_>) {
        match &mut self.waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
    }
}

impl Future for Parked {
    type Output = Out;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        self.park(cx);
        Poll::Pending
    }
}

/// One runner of the S5 race: the winner yields once and then completes with
/// `Ok(value)`; every other runner is [`Parked`] forever.
pub struct Racer {
    value: u64,
    wins: bool,
    parked: Parked,
}

impl Racer {
    pub fn new(value: u64, wins: bool) -> Self {
        Self {
            value,
            wins,
            parked: Parked::default(),
        }
    }
}

impl Future for Racer {
    type Output = Out;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        if !self.wins {
            self.parked.park(cx);
            return Poll::Pending;
        }
        if self.parked.waker.is_some() {
            Poll::Ready(Ok(self.value))
        } else {
            // Remember that the first poll happened (the waker is not kept
            // for anything else), and ask to be polled again.
            self.parked.park(cx);
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// One S6 task: counts its first poll in `polled`; the task whose value is
/// `faulty` returns `Err(())` on its first poll, every other one yields once
/// and then returns `Ok(value)`.
pub struct Counted<'a> {
    inner: YieldOnce,
    faulty: bool,
    first: bool,
    polled: &'a Cell<u64>,
}

impl<'a> Counted<'a> {
    pub fn new(value: u64, faulty: u64, polled: &'a Cell<u64>) -> Self {
        Self {
            inner: YieldOnce::new(value),
            faulty: value == faulty,
            first: true,
            polled,
        }
    }
}

impl Future for Counted<'_> {
    type Output = Out;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        if self.first {
            self.first = false;
            self.polled.set(self.polled.get() + 1);
        }
        if self.faulty {
            return Poll::Ready(Err(()));
        }
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A [`Parked`] task that counts, in `started`, how many tasks have been
/// polled at least once: S7 fires its signal only once every task of the
/// batch is in flight.
pub struct Started<'a> {
    parked: Parked,
    started: &'a Cell<usize>,
    counted: bool,
}

impl<'a> Started<'a> {
    pub fn new(started: &'a Cell<usize>) -> Self {
        Self {
            parked: Parked::default(),
            started,
            counted: false,
        }
    }
}

impl Future for Started<'_> {
    type Output = Out;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        if !self.counted {
            self.counted = true;
            self.started.set(self.started.get() + 1);
        }
        self.parked.park(cx);
        Poll::Pending
    }
}

/// Pending (waking itself) until `started` reaches `n`; then it runs `action`
/// and completes. With [`Started`] tasks: a cancellation signal that fires
/// once every task of the batch has been polled once, however many polls of
/// the batch that takes.
pub struct AllStarted<'a, F: FnOnce() + Unpin> {
    action: Option<F>,
    started: &'a Cell<usize>,
    n: usize,
}

impl<'a, F: FnOnce() + Unpin> AllStarted<'a, F> {
    pub fn new(started: &'a Cell<usize>, n: usize, action: F) -> Self {
        Self {
            action: Some(action),
            started,
            n,
        }
    }
}

impl<F: FnOnce() + Unpin> Future for AllStarted<'_, F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.started.get() < self.n {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let action = self
            .action
            .take()
            .expect("`AllStarted` polled after it completed");
        action();
        Poll::Ready(())
    }
}

// ------------------------------------------------------------------ the floor

/// A context whose waker does nothing: what the floor rows poll with.
pub fn noop_context() -> Context<'static> {
    Context::from_waker(futures::task::noop_waker_ref())
}

/// Polls `task` with `cx` until it is ready: the cheapest way to run a future
/// that wakes itself (each `Pending` is immediately followed by the next poll).
pub fn poll_to_end<F: Future + Unpin>(task: &mut F, cx: &mut Context<'_>) -> F::Output {
    loop {
        if let Poll::Ready(out) = Pin::new(&mut *task).poll(cx) {
            return out;
        }
    }
}

// ------------------------------------------------------------------ S3: driven wakes

/// One waiter's place on the [`Board`].
#[derive(Default)]
struct Spot {
    fired: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Shared by the waiters and the driver of one S3 batch (single-threaded):
/// one flag and one registered waker per waiter.
pub struct Board {
    spots: Vec<Spot>,
    registered: Cell<usize>,
}

impl Board {
    pub fn new(n: usize) -> Self {
        Self {
            spots: (0..n).map(|_| Spot::default()).collect(),
            registered: Cell::new(0),
        }
    }

    /// The board's waiters, in index order, as a lazy iterator.
    pub fn waiters(&self) -> impl Iterator<Item = Waiter<'_>> {
        (0..self.spots.len()).map(move |index| Waiter { board: self, index })
    }

    /// The board's waiters, in index order, as an array (for a join of an
    /// array `[F; N]`). `N` must be the board's size.
    pub fn waiter_array<const N: usize>(&self) -> [Waiter<'_>; N] {
        assert_eq!(N, self.spots.len(), "an array of every waiter");
        core::array::from_fn(|index| Waiter { board: self, index })
    }

    /// Sets waiter `index`'s flag and wakes the waker it registered.
    pub fn fire(&self, index: usize) {
        let spot = &self.spots[index];
        spot.fired.set(true);
        let waker = spot.waker.borrow_mut().take();
        waker.expect("every waiter registered").wake();
    }
}

/// Pending until the driver fires its spot; keeps its latest waker there.
pub struct Waiter<'a> {
    board: &'a Board,
    index: usize,
}

impl Future for Waiter<'_> {
    type Output = u64;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let spot = &self.board.spots[self.index];
        if spot.fired.get() {
            return Poll::Ready(self.index as u64);
        }
        let mut waker = spot.waker.borrow_mut();
        match &mut *waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            Some(old) => *old = cx.waker().clone(),
            None => {
                *waker = Some(cx.waker().clone());
                self.board.registered.set(self.board.registered.get() + 1);
            }
        }
        Poll::Pending
    }
}

/// Waits (yielding) until every waiter has registered its waker, then wakes
/// one waiter per poll in `order`, yielding to the executor between wakes, so
/// every wake is its own poll of the batch (the shape of I/O completions).
pub struct Driver<'a> {
    board: &'a Board,
    order: &'a [usize],
    next: usize,
}

impl<'a> Driver<'a> {
    pub fn new(board: &'a Board, order: &'a [usize]) -> Self {
        Self {
            board,
            order,
            next: 0,
        }
    }
}

impl Future for Driver<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.next == self.order.len() {
            return Poll::Ready(());
        }
        if self.board.registered.get() == self.order.len() {
            self.board.fire(self.order[self.next]);
            self.next += 1;
            if self.next == self.order.len() {
                return Poll::Ready(());
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A seeded random permutation of `0..n` (xorshift64 + Fisher–Yates).
pub fn shuffled(n: usize, mut seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        order.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    order
}

// ------------------------------------------------------------------ executors

/// An executor to run a scenario on.
pub trait Exec {
    fn block_on<F: Future>(future: F) -> F::Output;
}

/// `futures::executor::block_on`: the executor of every scenario.
pub struct FuturesExecutor;

impl Exec for FuturesExecutor {
    fn block_on<F: Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }
}

/// `smol::block_on`: S2 runs once more on it.
pub struct Smol;

impl Exec for Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

// ------------------------------------------------------------------ allocations

/// The global allocator of the bench binary: `System`, counting allocations
/// (`alloc`, `alloc_zeroed`, `realloc`) and tracking the bytes live and their
/// peak only while [`COUNTING`] is set, so the measured loops pay one relaxed
/// load per allocation and nothing else.
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated minus bytes freed since counting started (a free of memory
/// allocated before can make it negative).
static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

impl CountingAlloc {
    /// One allocation (`new` of them) changing the bytes live by `delta`.
    #[inline]
    fn count(new: u64, delta: i64) {
        if COUNTING.load(Relaxed) {
            ALLOCATIONS.fetch_add(new, Relaxed);
            let live = LIVE.fetch_add(delta, Relaxed) + delta;
            PEAK.fetch_max(live, Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are this allocator's; counting touches
// only two atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count(1, layout.size() as i64);
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count(1, layout.size() as i64);
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count(1, new_size as i64 - layout.size() as i64);
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        Self::count(0, -(layout.size() as i64));
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` with allocation counting on; returns its output (dropped by the
/// caller, after counting stops), the number of allocations it made and the
/// most bytes it held at once.
fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, u64, u64) {
    ALLOCATIONS.store(0, Relaxed);
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let out = f();
    COUNTING.store(false, Relaxed);
    let peak = PEAK.load(Relaxed).max(0) as u64;
    (out, ALLOCATIONS.load(Relaxed), peak)
}

// ------------------------------------------------------------------ records

/// What the check run of one benchmark found, for the report.
#[derive(Clone, Debug)]
pub struct Record {
    /// The criterion group (`s1_ready/100`).
    pub group: String,
    /// The benchmark id in the group (`fanout::join_all`).
    pub id: String,
    /// Tasks per iteration (what "per task" divides by).
    pub tasks: usize,
    /// Allocations of one iteration.
    pub allocations: u64,
    /// The most heap bytes one iteration held at once.
    pub peak_bytes: u64,
    /// S6 only: how many tasks were polled at least once.
    pub polled: Option<u64>,
    /// S9's faulting group only: per batch, how many faults the batch's
    /// output kept, and how many of its elements were made to fault.
    pub faults: Option<FaultsKept>,
}

/// How many of a batch's faults its output kept (see [`Record::faults`]).
#[derive(Clone, Copy, Debug)]
pub struct FaultsKept {
    pub kept: u64,
    pub planted: u64,
}

static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());

/// Every benchmark that ran in this process, in the order they ran.
pub fn records() -> Vec<Record> {
    RECORDS.lock().unwrap().clone()
}

// ------------------------------------------------------------------ Scenario

/// One criterion group (one scenario at one size) with every implementation
/// of that scenario in it, so they are measured in the same run under the
/// same machine load.
pub struct Scenario<'c> {
    group: BenchmarkGroup<'c, WallTime>,
    name: String,
    tasks: usize,
}

/// Warm-up per benchmark: criterion runs the routine this long before it
/// measures, which also settles the allocator. 500 ms (50 ms in a smoke run).
pub fn warm_up() -> Duration {
    Duration::from_millis(if smoke() { 50 } else { 500 })
}

/// Measurement time per benchmark: 1.5 s (100 ms in a smoke run). A row
/// whose iteration is longer than a sample allows takes one iteration per
/// sample instead.
pub fn measurement() -> Duration {
    Duration::from_millis(if smoke() { 100 } else { 1_500 })
}

/// Samples per benchmark; the report shows their median. 20 (10, criterion's
/// minimum, in a smoke run).
pub fn samples() -> usize {
    if smoke() {
        10
    } else {
        20
    }
}

impl<'c> Scenario<'c> {
    /// A group named `name` whose every iteration runs `tasks` tasks.
    pub fn new(c: &'c mut Criterion, name: String, tasks: usize) -> Self {
        let mut group = c.benchmark_group(name.clone());
        group
            .throughput(Throughput::Elements(tasks as u64))
            // Flat: every sample runs the same number of iterations, so a
            // slow row (a million tasks) costs SAMPLES iterations, not the
            // 210 that linear sampling needs at least.
            .sampling_mode(SamplingMode::Flat)
            .sample_size(samples())
            .warm_up_time(warm_up())
            .measurement_time(measurement());
        Self { group, name, tasks }
    }

    /// Measures `run` as benchmark `id`. The first time criterion runs this
    /// benchmark (not at all if a filter excludes it), `run` is run once
    /// outside the measurement with allocation counting on, and `check` must
    /// accept its output: a broken row fails loudly, under `--test` too.
    pub fn bench<R>(&mut self, id: &str, check: impl Fn(&R) -> bool, run: impl FnMut() -> R) {
        self.bench_with(id, None, None, check, run);
    }

    /// [`bench`](Self::bench) for a row whose `run` goes through `batches`
    /// batches of which `planted` elements each fault, and returns how many
    /// faults the batches' outputs kept in all: the check run must have kept
    /// `kept` per batch, and the report shows `kept` of `planted`.
    pub fn bench_faults(
        &mut self,
        id: &str,
        batches: usize,
        faults: FaultsKept,
        run: impl FnMut() -> u64,
    ) {
        let all = faults.kept * batches as u64;
        self.bench_with(id, None, Some(faults), move |&kept| kept == all, run);
    }

    /// [`bench`](Self::bench), also recording how many tasks the check run
    /// polled, as counted in `polled` (reset before the run).
    pub fn bench_polled<R>(
        &mut self,
        id: &str,
        polled: &Cell<u64>,
        check: impl Fn(&R) -> bool,
        run: impl FnMut() -> R,
    ) {
        self.bench_with(id, Some(polled), None, check, run);
    }

    fn bench_with<R>(
        &mut self,
        id: &str,
        polled: Option<&Cell<u64>>,
        faults: Option<FaultsKept>,
        check: impl Fn(&R) -> bool,
        mut run: impl FnMut() -> R,
    ) {
        let (group, tasks) = (&self.name, self.tasks);
        let mut checked = false;
        self.group.bench_function(id, |b| {
            if !checked {
                checked = true;
                if let Some(polled) = polled {
                    polled.set(0);
                }
                let (out, allocations, peak_bytes) = count_allocations(&mut run);
                assert!(check(&out), "{group}/{id}: wrong output");
                drop(out);
                RECORDS.lock().unwrap().push(Record {
                    group: group.clone(),
                    id: id.to_owned(),
                    tasks,
                    allocations,
                    peak_bytes,
                    polled: polled.map(Cell::get),
                    faults,
                });
            }
            b.iter(|| black_box(run()));
        });
    }

    pub fn finish(self) {
        self.group.finish();
    }
}

/// A check that a `Vec` output has `n` elements.
pub fn len_is<T>(n: usize) -> impl Fn(&Vec<T>) -> bool {
    move |v| v.len() == n
}

/// A check that a `bool` output is `true`.
pub fn is_true(b: &bool) -> bool {
    *b
}
