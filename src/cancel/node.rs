//! The shared state behind a `CancelSource` and its tokens: one flag that
//! goes up once, and a list of who to tell.
//!
//! # The list and its lock
//!
//! Waiting futures, callbacks and child tokens register in a slab guarded by
//! a lock bit in the same word as the canceled flag. The lock is held only for
//! a few instructions (a slab insert or remove) and **never** while a waker or
//! a callback runs: `cancel` takes the whole list out, lets go, and only then
//! wakes and calls.
//!
//! Without `std` there is no OS mutex to sleep on, so registrations that meet
//! a held lock spin; they only ever wait for another registration's slab
//! operation. `cancel` itself never spins and never blocks: it sets the
//! canceled bit and the lock bit in one `fetch_or`; if someone else held the
//! lock, that holder sees the canceled bit when it lets go and delivers the
//! cancellation itself. So `cancel` cannot deadlock against a registration it
//! interrupted on the same thread — the case that deadlocks a plain spin lock.
//!
//! # Invariants
//!
//! 1. `list` is only touched by the thread that set `LOCKED` (from clear).
//! 2. `CANCELED` never goes down.
//! 3. Once `CANCELED` is up, the first thread to let go of the lock (or
//!    `cancel` itself, if it took the lock) takes every entry out and marks
//!    the list `drained`; nothing is inserted after that (inserts check
//!    `CANCELED` under the lock).
//! 4. Entries are delivered outside the lock, in reverse registration order.

use crate::sync::{spin_loop, Arc, AtomicUsize, Ordering, UnsafeCell, Weak};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::task::Waker;

/// Set once, never cleared: the source was canceled.
const CANCELED: usize = 0b01;
/// Set while one thread owns `list`.
const LOCKED: usize = 0b10;

/// A callback registered with `CancelToken::register`.
pub(crate) type Callback = Box<dyn FnOnce() + Send>;

/// One registration.
enum What {
    /// A `Canceled` future waiting.
    Waker(Waker),
    /// A callback to run once.
    Callback(Callback),
    /// A child (or linked) node to cancel in turn.
    Child(Weak<Node>),
}

struct Entry {
    /// Registration order, for last-registered-first delivery.
    seq: u64,
    what: What,
}

#[derive(Default)]
struct List {
    slots: Vec<Option<Entry>>,
    /// Vacant indices of `slots`.
    vacant: Vec<usize>,
    next_seq: u64,
    /// Invariant 3: the entries were taken out for delivery.
    drained: bool,
}

/// A cancellation node: a source, a child token, or a linked source.
pub(crate) struct Node {
    state: AtomicUsize,
    list: UnsafeCell<List>,
    /// Where this node is registered as a child: removed when it is dropped,
    /// so a long-lived parent does not collect its dead children. Written once
    /// by the creator before the node is shared.
    parents: Vec<(Arc<Node>, usize)>,
}

// SAFETY: `list` is only reached under the lock (invariant 1); everything in
// it is `Send` (wakers, `Send` callbacks, weak node handles).
unsafe impl Send for Node {}
// SAFETY: as above: shared access goes through the lock bit.
unsafe impl Sync for Node {}

/// What [`Node::insert`] did.
pub(crate) enum Inserted {
    /// Registered under this key.
    Key(usize),
    /// The node was already canceled: nothing registered. The thing is handed
    /// back so the caller can act on it at once.
    AlreadyCanceled(Option<Callback>),
}

impl Node {
    /// A fresh node with no parents.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: AtomicUsize::new(0),
            list: UnsafeCell::new(List::default()),
            parents: Vec::new(),
        })
    }

    /// A node canceled when any of `parents` is (a child token, or a linked
    /// source), and unlinked from each of them when dropped.
    pub(crate) fn with_parents<'a>(parents: impl IntoIterator<Item = &'a Arc<Node>>) -> Arc<Self> {
        let parents: Vec<&Arc<Node>> = parents.into_iter().collect();
        let mut already = false;
        let node = Arc::new_cyclic(|weak: &Weak<Node>| {
            let mut links = Vec::with_capacity(parents.len());
            for parent in &parents {
                match parent.insert_what(What::Child(weak.clone())) {
                    Inserted::Key(key) => links.push((Arc::clone(parent), key)),
                    Inserted::AlreadyCanceled(_) => already = true,
                }
            }
            Self {
                state: AtomicUsize::new(0),
                list: UnsafeCell::new(List::default()),
                parents: links,
            }
        });
        // A parent canceled while we were being built could not reach us
        // (the weak handle was not upgradable yet): look again now.
        if already || parents.iter().any(|parent| parent.is_canceled()) {
            node.cancel();
        }
        node
    }

    #[inline]
    pub(crate) fn is_canceled(&self) -> bool {
        self.state.load(Ordering::Acquire) & CANCELED != 0
    }

    /// Cancels the node: every waiter is woken, every callback runs (last
    /// registered first), every child is canceled — each exactly once, on
    /// whichever thread lets go of the lock first, never under the lock.
    /// Idempotent, never blocks, never spins.
    pub(crate) fn cancel(&self) {
        if let Some(taken) = self.cancel_take() {
            deliver(taken);
        }
    }

    /// Raises the canceled bit; if that also took the lock, takes the entries
    /// out for delivery and lets go. Otherwise the holder delivers when it
    /// lets go (invariant 3), and this returns `None`.
    fn cancel_take(&self) -> Option<Vec<Entry>> {
        let prev = self.state.fetch_or(CANCELED | LOCKED, Ordering::AcqRel);
        if prev & LOCKED != 0 {
            return None;
        }
        // SAFETY: we hold the lock (invariant 1).
        let taken = unsafe { self.list.with_mut(|list| take_all(&mut *list)) };
        self.state.fetch_and(!LOCKED, Ordering::Release);
        Some(taken)
    }

    /// Takes the lock, spinning while another registration holds it.
    fn lock(&self) {
        loop {
            let state = self.state.load(Ordering::Relaxed);
            if state & LOCKED == 0
                && self
                    .state
                    .compare_exchange_weak(
                        state,
                        state | LOCKED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                return;
            }
            spin_loop();
        }
    }

    /// Lets go of the lock; if the node was canceled meanwhile and nobody has
    /// delivered yet, takes the entries out first and delivers them after.
    fn unlock(&self) {
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state & CANCELED != 0 {
                // SAFETY: we hold the lock (invariant 1).
                let taken = unsafe { self.list.with_mut(|list| take_all(&mut *list)) };
                self.state.fetch_and(!LOCKED, Ordering::Release);
                deliver(taken);
                return;
            }
            if self
                .state
                .compare_exchange_weak(state, state & !LOCKED, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    fn insert_what(&self, what: What) -> Inserted {
        self.lock();
        let inserted = if self.state.load(Ordering::Acquire) & CANCELED != 0 {
            Inserted::AlreadyCanceled(match what {
                What::Callback(callback) => Some(callback),
                _ => None,
            })
        } else {
            // SAFETY: we hold the lock (invariant 1).
            Inserted::Key(unsafe {
                self.list.with_mut(|list| {
                    let list = &mut *list;
                    let entry = Entry {
                        seq: list.next_seq,
                        what,
                    };
                    list.next_seq += 1;
                    match list.vacant.pop() {
                        Some(key) => {
                            list.slots[key] = Some(entry);
                            key
                        }
                        None => {
                            list.slots.push(Some(entry));
                            list.slots.len() - 1
                        }
                    }
                })
            })
        };
        self.unlock();
        inserted
    }

    /// Registers a waker; see [`Inserted`].
    pub(crate) fn insert_waker(&self, waker: &Waker) -> Inserted {
        self.insert_what(What::Waker(waker.clone()))
    }

    /// Registers a callback; see [`Inserted`].
    pub(crate) fn insert_callback(&self, callback: Callback) -> Inserted {
        self.insert_what(What::Callback(callback))
    }

    /// Replaces the waker under `key`, unless it would wake the same task. The
    /// old waker is dropped after the lock is let go: dropping a waker can run
    /// arbitrary code (even drop another registration of this token).
    pub(crate) fn update_waker(&self, key: usize, waker: &Waker) {
        self.lock();
        // SAFETY: we hold the lock (invariant 1).
        let old = unsafe {
            self.list.with_mut(|list| {
                let list = &mut *list;
                match list.slots.get_mut(key) {
                    Some(Some(Entry {
                        what: What::Waker(old),
                        ..
                    })) if !old.will_wake(waker) => Some(core::mem::replace(old, waker.clone())),
                    _ => None,
                }
            })
        };
        self.unlock();
        drop(old);
    }

    /// Removes the registration under `key`, if it is still there (it is gone
    /// once the node was canceled and delivered).
    pub(crate) fn remove(&self, key: usize) {
        self.lock();
        // SAFETY: we hold the lock (invariant 1).
        let removed = unsafe {
            self.list.with_mut(|list| {
                let list = &mut *list;
                if list.drained {
                    return None;
                }
                let removed = list.slots.get_mut(key).and_then(Option::take);
                if removed.is_some() {
                    list.vacant.push(key);
                }
                removed
            })
        };
        self.unlock();
        // Dropped outside the lock: a callback's captures run arbitrary drops.
        drop(removed);
    }

    /// How many registrations are live (for tests of unlinking).
    #[cfg(all(test, not(fanout_loom)))]
    pub(crate) fn registrations(&self) -> usize {
        self.lock();
        // SAFETY: we hold the lock (invariant 1).
        let n = unsafe {
            self.list
                .with_mut(|list| (&*list).slots.iter().flatten().count())
        };
        self.unlock();
        n
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A worklist, not recursion: when this was the last handle on a parent,
        // the parent is unlinked here too, so dropping the end of a long chain
        // of child tokens does not overflow the stack.
        let mut links = core::mem::take(&mut self.parents);
        while let Some((parent, key)) = links.pop() {
            parent.remove(key);
            if let Ok(mut parent) = Arc::try_unwrap(parent) {
                links.append(&mut parent.parents);
            }
        }
    }
}

/// Takes every entry out, newest first, and marks the list drained.
fn take_all(list: &mut List) -> Vec<Entry> {
    if list.drained {
        return Vec::new();
    }
    list.drained = true;
    list.vacant = Vec::new();
    let mut taken: Vec<Entry> = core::mem::take(&mut list.slots)
        .into_iter()
        .flatten()
        .collect();
    taken.sort_unstable_by_key(|entry| core::cmp::Reverse(entry.seq));
    taken
}

/// Delivers taken entries, outside the lock (invariant 4), newest first.
/// Children's entries are delivered from a worklist, not by recursion, so a
/// long chain of child tokens does not overflow the stack. If a callback
/// panics, everything still queued — the rest of its node's entries and every
/// child's already taken out — is delivered while the panic unwinds, so no
/// waiter is left asleep (a second panicking callback then aborts, as any
/// panic during unwinding does).
fn deliver(taken: Vec<Entry>) {
    struct Work(Vec<alloc::vec::IntoIter<Entry>>);

    impl Work {
        fn run(&mut self) {
            loop {
                let Some(batch) = self.0.last_mut() else {
                    return;
                };
                let Some(entry) = batch.next() else {
                    self.0.pop();
                    continue;
                };
                match entry.what {
                    What::Waker(waker) => waker.wake(),
                    What::Callback(callback) => callback(),
                    What::Child(child) => {
                        if let Some(taken) = child.upgrade().and_then(|child| child.cancel_take()) {
                            self.0.push(taken.into_iter());
                        }
                    }
                }
            }
        }
    }

    impl Drop for Work {
        fn drop(&mut self) {
            // Only reached with work left while a callback's panic unwinds.
            self.run();
        }
    }

    Work(alloc::vec![taken.into_iter()]).run();
}
