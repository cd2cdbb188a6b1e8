//! Seeded schedules for the deterministic executor: which ready task runs next,
//! the order of timers due at the same instant, and injected wakes.
//!
//! A *schedule* is chosen per case and seed with [`with_seed`]; every
//! [`run`](super::executor::run) inside it derives its own [`Chaos`] from the
//! seed (and how many runs came before it in the case), installs it on its
//! thread for the run's duration, and the support primitives consult it:
//!
//! - the executor picks the next ready task at random instead of in FIFO order
//!   (observable only when a run has several tasks: spawned ones);
//! - timers due at the same virtual instant fire in a random order;
//! - [`wake`] / [`wake_by_ref`] (used by `Gate::open`, `YieldN`, `yield_now`,
//!   the timers) sometimes **duplicate** a wake (wake twice in a row) and
//!   sometimes deliver it **from another thread** (a helper thread wakes, the
//!   executor waits until it has, so the run stays reproducible);
//! - the executor sometimes wakes a task that nothing woke (a spurious wake
//!   of the batch itself: it is polled with nothing new to do);
//! - a pending `GateFuture` or `Sleep` sometimes wakes its own waker at once
//!   (a **spurious** wake: nothing changed). A spurious wake makes a correct
//!   combinator poll that child once more, so `PollCounter::get` reports the
//!   polls *minus* those caused by spurious wakes alone
//!   (`PollCounter::spurious`): "polls = wakes + 1" stays an exact assertion.
//!
//! Seed 0 is the calm schedule: FIFO, registration order, no injected wake —
//! the same as a run outside any seed. Nothing here reads the wall clock.

use std::cell::{Cell, RefCell};
use std::sync::mpsc;
use std::task::Waker;

/// splitmix64: the seed mixer and generator of the schedules.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next pseudo-random `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && (self.next_u64() % 1000) < u64::from(per_mille)
    }
}

/// Mixes two words into one (a seed and a run number, a seed and a name).
pub fn mix(a: u64, b: u64) -> u64 {
    SplitMix::new(a ^ b.rotate_left(32) ^ 0x5851_F42D_4C95_7F2D).next_u64()
}

/// A stable hash of a case's name (FNV-1a), so each case has its own schedules.
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// One run's schedule: the generator and how often each kind of chaos strikes.
#[derive(Debug, Clone)]
pub struct Chaos {
    rng: SplitMix,
    /// Pick the next ready task at random (else FIFO).
    pub shuffle: bool,
    /// Per mille of wakes delivered twice.
    pub duplicate: u32,
    /// Per mille of wakes delivered from the helper thread.
    pub cross_thread: u32,
    /// Per mille of pending polls of a gate or timer that wake themselves.
    pub spurious: u32,
}

impl Chaos {
    /// The schedule of one run under `seed` (never the calm one: seed 0 is
    /// handled by [`with_seed`]). Intensities vary with the seed, from none
    /// to a third of all wakes.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = SplitMix::new(seed);
        let mut level = |max: usize| match rng.below(4) {
            0 => 0,
            _ => rng.below(max + 1) as u32,
        };
        let (duplicate, cross_thread, spurious) = (level(350), level(120), level(350));
        Self {
            rng,
            shuffle: true,
            duplicate,
            cross_thread,
            spurious,
        }
    }
}

/// The schedule of the current case on this thread: its seed and how many
/// runs it has started.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    seed: u64,
    runs: u64,
}

/// How many chaos events were injected on this thread (for the self-tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    /// Wakes delivered twice.
    pub duplicated: u64,
    /// Wakes delivered from the helper thread.
    pub cross_thread: u64,
    /// Spurious self-wakes.
    pub spurious: u64,
    /// Spurious wakes of a whole task by the executor.
    pub spurious_tasks: u64,
}

thread_local! {
    static SCHEDULE: Cell<Option<Schedule>> = const { Cell::new(None) };
    static CHAOS: RefCell<Option<Chaos>> = const { RefCell::new(None) };
    static INJECTED: Cell<Injected> = const { Cell::new(Injected { duplicated: 0, cross_thread: 0, spurious: 0, spurious_tasks: 0 }) };
    static NO_SPURIOUS: Cell<usize> = const { Cell::new(0) };
    static HELPER: Helper = Helper::start();
}

/// Runs `f` with `seed` as the schedule of every executor run it starts on
/// this thread (seed 0: calm). Restores the previous schedule after.
pub fn with_seed<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Schedule>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCHEDULE.with(|s| s.set(self.0));
        }
    }
    let next = (seed != 0).then_some(Schedule { seed, runs: 0 });
    let _restore = Restore(SCHEDULE.with(|s| s.replace(next)));
    f()
}

/// The chaos of the next run on this thread under the current schedule, if any.
pub(crate) fn next_run_chaos() -> Option<Chaos> {
    SCHEDULE.with(|s| {
        let mut schedule = s.get()?;
        let run_seed = mix(schedule.seed, schedule.runs);
        schedule.runs += 1;
        s.set(Some(schedule));
        Some(Chaos::from_seed(run_seed))
    })
}

/// Restores the previously installed chaos when dropped; see [`install`].
pub(crate) struct ChaosGuard(Option<Chaos>);

impl Drop for ChaosGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = CHAOS.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = previous;
            }
        });
    }
}

/// Installs `chaos` (or calm) on this thread for a run.
pub(crate) fn install(chaos: Option<Chaos>) -> ChaosGuard {
    ChaosGuard(CHAOS.with(|c| c.replace(chaos)))
}

/// Draws from the current run's chaos; `None` when the run is calm.
fn draw<R>(f: impl FnOnce(&mut Chaos) -> R) -> Option<R> {
    CHAOS
        .try_with(|c| c.try_borrow_mut().ok()?.as_mut().map(f))
        .ok()
        .flatten()
}

/// Whether the current run picks ready tasks at random.
pub fn shuffling() -> bool {
    draw(|c| c.shuffle).unwrap_or(false)
}

/// A value in `0..n` from the current run's generator (0 when calm).
pub fn pick(n: usize) -> usize {
    draw(|c| c.rng.below(n)).unwrap_or(0)
}

/// Shuffles `items` when the run shuffles; leaves them in order when calm.
pub fn shuffle<T>(items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let Some(j) = draw(|c| if c.shuffle { c.rng.below(i + 1) } else { i }) else {
            return;
        };
        items.swap(i, j);
    }
}

/// Whether a pending gate or timer should wake itself now (spurious wake).
/// Always false when calm or inside [`no_spurious`].
pub fn spurious() -> bool {
    if NO_SPURIOUS.with(Cell::get) > 0 {
        return false;
    }
    let hit = draw(|c| {
        let p = c.spurious;
        c.rng.chance(p)
    })
    .unwrap_or(false);
    if hit {
        count(|i| i.spurious += 1);
    }
    hit
}

/// Whether the executor should now wake a task that nothing woke. Always
/// false when calm or inside [`no_spurious`].
pub fn spurious_task() -> bool {
    if NO_SPURIOUS.with(Cell::get) > 0 {
        return false;
    }
    let hit = draw(|c| {
        let p = c.spurious / 4;
        c.rng.chance(p)
    })
    .unwrap_or(false);
    if hit {
        count(|i| i.spurious_tasks += 1);
    }
    hit
}

/// While the returned guard lives, no spurious wake is injected on this
/// thread: for the few bodies that count polls of the *batch* (or of its
/// source), which a spurious wake of the batch or of a child legitimately
/// changes.
#[must_use = "spurious wakes come back when the guard is dropped"]
pub fn no_spurious() -> impl Drop {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            NO_SPURIOUS.with(|n| n.set(n.get() - 1));
        }
    }
    NO_SPURIOUS.with(|n| n.set(n.get() + 1));
    Guard
}

/// The chaos events injected on this thread so far.
pub fn injected() -> Injected {
    INJECTED.with(Cell::get)
}

fn count(f: impl FnOnce(&mut Injected)) {
    INJECTED.with(|c| {
        let mut i = c.get();
        f(&mut i);
        c.set(i);
    });
}

#[derive(Clone, Copy)]
enum Delivery {
    Plain,
    Twice,
    OtherThread,
}

fn delivery() -> Delivery {
    let d = draw(|c| {
        let (dup, thread) = (c.duplicate, c.cross_thread);
        if c.rng.chance(dup) {
            Delivery::Twice
        } else if c.rng.chance(thread) {
            Delivery::OtherThread
        } else {
            Delivery::Plain
        }
    })
    .unwrap_or(Delivery::Plain);
    match d {
        Delivery::Twice => count(|i| i.duplicated += 1),
        Delivery::OtherThread => count(|i| i.cross_thread += 1),
        Delivery::Plain => {}
    }
    d
}

/// Wakes `waker` as the current run's chaos says: once, twice, or from the
/// helper thread (waiting until it has).
pub fn wake_by_ref(waker: &Waker) {
    match delivery() {
        Delivery::Plain => waker.wake_by_ref(),
        Delivery::Twice => {
            waker.wake_by_ref();
            waker.wake_by_ref();
        }
        Delivery::OtherThread => HELPER.with(|h| h.wake(waker.clone())),
    }
}

/// [`wake_by_ref`], consuming the waker.
pub fn wake(waker: Waker) {
    match delivery() {
        Delivery::Plain => waker.wake(),
        Delivery::Twice => {
            waker.wake_by_ref();
            waker.wake();
        }
        Delivery::OtherThread => HELPER.with(|h| h.wake(waker)),
    }
}

/// A thread that wakes the wakers it is sent, one at a time, and says when
/// it has: a wake from another thread at a reproducible point of the run.
struct Helper {
    to: mpsc::Sender<Waker>,
    done: mpsc::Receiver<()>,
}

impl Helper {
    fn start() -> Self {
        let (to, from) = mpsc::channel::<Waker>();
        let (done_tx, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("chaos-waker".into())
            .spawn(move || {
                for waker in from {
                    waker.wake();
                    if done_tx.send(()).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the chaos helper thread");
        Self { to, done }
    }

    fn wake(&self, waker: Waker) {
        self.to
            .send(waker)
            .expect("the chaos helper thread is gone");
        self.done.recv().expect("the chaos helper thread is gone");
    }
}
