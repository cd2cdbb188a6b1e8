//! The ready set: which tasks of a block were woken since the engine last looked.
//!
//! # Layout
//!
//! One heap allocation per block, shared by the engine and by every waker it
//! ever handed out; the block's slots (the tasks themselves) live at its end:
//!
//! ```text
//! +---------+--------+-----------------------------------+-------------------+
//! | padding | Header | words: 2 x [AtomicUsize; total]   | tail: the block's |
//! | (0 for  | refs   | the shared set, then the local    | slots, owned by   |
//! | up to 8 | parent | set, each: level 0 (leaves), 1 bit| the engine        |
//! | slots)  | owner  | per slot; level 1, 1 bit per      | (never read here) |
//! |         | ...    | level-0 word; ... one top word    |                   |
//! +---------+--------+-----------------------------------+-------------------+
//!           ^ the set's start: a multiple of 2^k, the capacity rounded up
//!             to a power of two
//! ```
//!
//! Why the slots share the set's allocation: a block then costs one
//! allocation instead of two, which is most of the fixed cost of a small batch
//! (measured on S8, 10,000 batches of 8). The price: a waker that outlives its
//! batch keeps the emptied slot memory allocated until it is dropped, not only
//! the bit set.
//!
//! # Wakers: an address, nothing stored
//!
//! Slot `i`'s waker is the address `i` bytes past the set's start, its
//! header (never dereferenced: only a number with the allocation's
//! provenance). The header sits at a multiple of `2^k` with `2^k >=
//! capacity`, so the waker's low `k` bits are `i` and the rest are the
//! header's address. `k` is in the waker's vtable: there is one vtable per `k`
//! ([`VTABLES`]), whose functions are compiled for it, so resolving a waker
//! is two register operations and reads no memory. Wakers cost no
//! allocation, and the engine hands a child a borrowed waker ([`SlotWaker`])
//! that touches no reference count unless the child clones it.
//!
//! Why not store anything per slot: wakers used to point at a 4-byte item
//! per slot holding `i`. A wake from outside then read that item first: one
//! more cache line per wake in a random place, the cost that decides driven
//! wakes over 100,000 tasks; the engine wrote it for every task it started;
//! and it was 4 more bytes per task. The alignment costs room for padding
//! before the header: `2^k` less the allocation's own alignment (8 bytes on
//! 64-bit targets), so nothing for blocks of up to 8 slots and under 2
//! bytes per slot above that. (Asking the allocator for the alignment
//! instead took its slower path, `posix_memalign` in glibc: 350 more
//! instructions for a batch of 20.) And it costs code: 33 vtables whose
//! functions are compiled once each, about 5 KB on `thumbv7em-none-eabihf`
//! (the firmware check's text grew from 54.2 to 59.1 KB). Bodies shared
//! between the shifts, behind a thin wrapper per shift, would take most of
//! that back for a jump per clone, wake and drop; not done yet.
//!
//! # The hierarchical bit set
//!
//! Level 0 has one bit per slot: the slot's "queued" flag. Each higher level has
//! one bit per word of the level below, set while that word may be non-zero; the
//! top level is a single word. A wake sets its leaf bit and climbs only while it
//! turns a word from zero to non-zero, so most wakes are one `fetch_or`; the
//! wake that turns the top word non-zero wakes the parent, so a burst of wakes
//! costs the executor one wake. The engine takes the top word with a `swap` and
//! descends only into words whose bit it took, so a round costs time in
//! proportion to the tasks woken, never to the size of the batch, and visits
//! them in slot order (which is index order when slots are not reused).
//!
//! Why the top is one word: a wake from outside the engine's run into an
//! empty set climbs every level, one atomic read-modify-write each, and the
//! round takes each level back down with another. A top level of up to four
//! words would save one of each for sets of 257 to 16,384 slots (two levels
//! instead of three). It was built and measured: the engine looks at the top
//! on every poll (before it waits, and for its own notes) and at the start
//! of every round, and scanning several words there cost more than the two
//! atomics saved. On 10,000 tasks woken one at a time from another future
//! it took 10% more instructions and was no faster.
//!
//! # Two sets: shared and local
//!
//! The *shared* set above takes wakes from any thread. The *local* set, laid
//! out the same, takes only the wakes made on the engine's own thread while it
//! runs (a task waking itself or a sibling during its poll): with plain loads
//! and stores instead of `fetch_or`, and without waking the parent, since the
//! engine looks at both sets before it waits. Which wakes are which is decided
//! by a thread-local (`self_wake`, with its invariants); a round takes both
//! sets, and sorts the two runs together in the rare round where a block has
//! bits in both. The same waker serves both paths, so waker identity (and
//! `Waker::will_wake`) is unchanged.
//!
//! # Reference counts: atomic, and the engine's own thread's
//!
//! The engine and every cloned waker hold a reference to the allocation. A
//! task that keeps its waker (most that wait on anything do) clones it in
//! its first poll, on the engine's thread while the engine runs, and drops
//! it there too when the batch cancels it. Counting those with atomic
//! read-modify-writes on one shared counter cost S5 (a race of 10,000) and
//! S7 (a cancel of 100,000) about a fifth of their time. So references are
//! counted the way wakes are (`self_wake`): on the engine's own thread,
//! while it runs, in `local_refs` with plain loads and stores; anywhere
//! else, in `refs` with atomics (biased reference counting). A reference
//! may be made on one side and given up on the other, so `local_refs` is a
//! signed count and only the sum means anything: while the engine lives,
//! it holds [`ENGINE_REFS`] on `refs`, far more than any count of wakers,
//! so no waker can bring `refs` to zero; when it drops its set, it gives
//! that up less `local_refs` in one subtraction, after which `refs` alone
//! counts the wakers left, and the last of them frees the set. (The engine
//! drops its tasks inside a run, so a task that drops its waker then counts
//! locally too.)
//!
//! # Invariants
//!
//! 1. The allocation lives while a reference to it is counted: while the
//!    engine lives, `refs + local_refs - ENGINE_REFS` (wrapping) is the number
//!    of waker references, and `refs >= ENGINE_REFS - MAX_REFS`; after the
//!    engine's drop, `refs` is. A reference is counted before it is handed
//!    out and given up as its holder's last act.
//! 2. The header's plain fields are written once, before the first waker
//!    exists, and never again. The words are built clear, one by one,
//!    before the set is handed out. The header sits at a multiple of `2^k`
//!    with `capacity <= 2^k`, `padding` bytes into an allocation aligned
//!    only as its contents need (freed from `header - padding`), and slot
//!    `i`'s wakers all carry the address `header + i` and the vtable of `k`
//!    (the header's `vtable`).
//! 3. For every non-zero word below the top, its bit in the level above is set,
//!    or the waker that made it non-zero is still climbing and will set it, or
//!    the engine has taken that bit in its current round and will take the word.
//!    So no wake is lost between a waker and the engine.
//! 4. Only the engine (through `&ReadySet`, from the engine's `&mut` state)
//!    clears bits.
//! 5. The tail (a block's slots, see [`ReadySet::with_tail`]) belongs to the
//!    engine: the set never touches it, and only frees its memory with the
//!    rest of the allocation.
//! 6. Invariant 3 holds for the local set too, trivially: its bits are set and
//!    taken on one thread, never concurrently (`self_wake`, invariant 2).
//! 7. `local_refs` is read and written with plain loads and stores, only on
//!    the thread where the engine runs while it runs (`self_wake`, invariant
//!    2), and by the engine's drop of the set, which no run overlaps. Only a
//!    first block's set counts locally ([`counts_locally`]): its owner token
//!    is its own address, which no other live allocation has, so "its owner
//!    runs here" means this set's engine, alive, runs here now. A later
//!    block's token is its first set's address, which a new engine may take
//!    once that set is freed (`self_wake`, invariant 3): its wakers always
//!    count in `refs`.

use super::parent_waker::ParentWaker;
use super::self_wake;
use crate::sync::{AtomicUsize, Ordering};
use alloc::alloc::{alloc, dealloc, handle_alloc_error};
use core::alloc::Layout;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::ptr::{self, NonNull};
use core::task::{RawWaker, RawWakerVTable, Waker};

/// Bits in one word of the set.
pub(crate) const BITS: usize = usize::BITS as usize;
/// Enough levels for `u32::MAX` slots even with 16-bit words.
const MAX_LEVELS: usize = 8;
/// What the engine holds on `refs` while it lives (invariant 1): so much
/// that no wake or drop on another thread can bring the count to zero while
/// the engine's own thread counts in `local_refs` (see "Reference counts").
pub(crate) const ENGINE_REFS: usize = usize::MAX / 2 + 1;
/// The limit of both counts: a clone panics instead of taking `local_refs`
/// (read as a signed count) above this, or `refs` above `usize::MAX -
/// MAX_REFS` (about three quarters of its range, engine's count included).
/// Far more wakers than memory could hold (`usize::MAX / 4` is 16,383 on a
/// 16-bit target, where a waker takes 4 bytes): only a loop that clones and
/// forgets could reach it.
pub(crate) const MAX_REFS: usize = usize::MAX / 4;

/// The largest block a ready set can track (the engine names a slot with a
/// `u32`).
pub(crate) const MAX_CAPACITY: usize = u32::MAX as usize;

struct Header {
    /// Invariant 1: references counted with atomics.
    refs: AtomicUsize,
    /// Invariant 1: references made and given up on the engine's own thread
    /// while it runs (a signed count, wrapping): plain loads and stores,
    /// never concurrent (invariant 7).
    local_refs: AtomicUsize,
    /// The engine's own waker, woken when the set turns non-empty.
    parent: ParentWaker,
    /// Number of levels; level `levels - 1` is the single top word.
    levels: usize,
    /// Index into `words` of each level's first word.
    level_start: [usize; MAX_LEVELS],
    /// Byte offset of `words` from the header.
    words_offset: usize,
    /// Number of words in all levels together.
    total_words: usize,
    /// Number of slots.
    capacity: usize,
    /// The vtable of this set's wakers: [`VTABLES`]`[k]`, where the header
    /// sits at a multiple of `2^k >= capacity` (invariant 2).
    vtable: &'static RawWakerVTable,
    /// The layout of the whole allocation, for `dealloc`.
    layout: Layout,
    /// Bytes from the start of the allocation to the header: the padding
    /// that aligns the header to `2^k` (invariant 2).
    padding: usize,
    /// Which engine owns this set, as the thread-local of `self_wake` names
    /// it while that engine runs: the address of the engine's first ready
    /// set (this one's, for a first block). A wake on that thread then only
    /// notes the slot in the local bit set. 0: never.
    owner: usize,
}

/// Which engine a new ready set tells `self_wake` it belongs to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Owner {
    /// No engine: wakes always take the atomic path (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Nobody,
    /// The engine's first set: its own address (its header's) names the
    /// engine. An address inside a live allocation is not reused, and the
    /// allocation lives while the engine or any of its wakers does, so no
    /// other live engine has it.
    This,
    /// A later block: the same owner as the engine's first set
    /// ([`ReadySet::owner`]).
    SameAs(usize),
}

/// The engine's handle on one block's ready set. Not `Clone`: there is one
/// owner, the engine; wakers are the other references.
pub(crate) struct ReadySet {
    header: NonNull<Header>,
}

// SAFETY: everything shared through the header is atomic (`refs`, `words`),
// written once before sharing (invariant 2), or the `Sync` `ParentWaker`.
unsafe impl Send for ReadySet {}
// SAFETY: as above; `&ReadySet` only reads immutable fields or uses atomics.
unsafe impl Sync for ReadySet {}

impl ReadySet {
    /// A set for slots `0..capacity`, all clear, with nothing after it.
    ///
    /// # Panics
    /// If `capacity` is zero or above [`MAX_CAPACITY`], or the layout overflows.
    #[cfg(test)]
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_tail(capacity, Layout::new::<()>(), Owner::Nobody).0
    }

    /// A set for slots `0..capacity`, all clear, in one allocation with room
    /// for `tail` after it: the block's slots live there, so a block costs one
    /// allocation, not two. Returns the set and the tail's (uninitialized,
    /// suitably aligned) start.
    ///
    /// The set never reads, writes or drops the tail: its owner must drop
    /// whatever it puts there before it drops the set. The memory itself is
    /// freed with the set's last reference — a waker kept after the batch
    /// ends keeps the (already emptied) tail allocated too, as a task's
    /// memory stays while any of its wakers lives in most executors.
    ///
    /// # Panics
    /// If `capacity` is zero or above [`MAX_CAPACITY`], or the layout overflows.
    pub(crate) fn with_tail(capacity: usize, tail: Layout, owner: Owner) -> (Self, NonNull<u8>) {
        assert!(
            (1..=MAX_CAPACITY).contains(&capacity),
            "fanout: a block holds 1..=u32::MAX tasks"
        );
        let mut level_start = [0; MAX_LEVELS];
        let mut levels = 0;
        let mut total_words = 0;
        let mut width = capacity;
        loop {
            let words = width.div_ceil(BITS);
            level_start[levels] = total_words;
            total_words += words;
            levels += 1;
            if words == 1 {
                break;
            }
            width = words;
        }
        let too_big = "fanout: batch too large to lay out";
        // The wakers' alignment (invariant 2): `2^shift >= capacity`.
        let align = capacity.checked_next_power_of_two().expect(too_big);
        let shift = align.trailing_zeros();
        let (set, words_offset) = Layout::new::<Header>()
            .extend(Layout::array::<AtomicUsize>(2 * total_words).expect(too_big))
            .expect(too_big);
        let (set, tail_offset) = set.extend(tail).expect(too_big);
        // The header goes at the first multiple of `align` in the
        // allocation, which has room for the padding before it (see
        // "Wakers"): under twice the capacity in bytes, none for blocks of
        // up to `set.align()` slots.
        let room = align.saturating_sub(set.align());
        let layout =
            Layout::from_size_align(set.size().checked_add(room).expect(too_big), set.align())
                .expect(too_big);
        // Only the bit set's words must start clear (the tail is its
        // owner's): the allocation is plain and the words are built one by
        // one below — a pass over one bit per slot, where zeroing the whole
        // allocation would cost a pass over every slot.
        // SAFETY: the layout has a non-zero size (it holds a `Header`).
        let start = unsafe { alloc(layout) };
        if start.is_null() {
            handle_alloc_error(layout)
        }
        // At most `room`: `start` is a multiple of `set.align()`.
        let padding = (start as usize).wrapping_neg() & (align - 1);
        debug_assert!(padding <= room);
        // SAFETY: inside the allocation (above), not null.
        let base = unsafe { NonNull::new_unchecked(start.add(padding)) };
        // `base` starts `set` inside the fresh allocation of `layout`, which
        // places a `Header` at 0, `total_words` atomics at `words_offset`
        // and the tail at `tail_offset`, each suitably aligned by
        // `Layout::extend` since `base` is (a multiple of `align` and of
        // `set.align()`, both powers of two).
        // SAFETY: so each write below is in bounds, aligned and unaliased.
        let tail = unsafe {
            base.cast::<Header>().as_ptr().write(Header {
                refs: AtomicUsize::new(ENGINE_REFS),
                local_refs: AtomicUsize::new(0),
                parent: ParentWaker::new(),
                levels,
                level_start,
                words_offset,
                total_words,
                capacity,
                vtable: &VTABLES[shift as usize],
                layout,
                padding,
                owner: match owner {
                    Owner::Nobody => 0,
                    Owner::This => base.as_ptr() as usize,
                    Owner::SameAs(first) => first,
                },
            });
            let words = base.as_ptr().add(words_offset).cast::<AtomicUsize>();
            for w in 0..2 * total_words {
                words.add(w).write(AtomicUsize::new(0));
            }
            NonNull::new_unchecked(base.as_ptr().add(tail_offset))
        };
        (
            Self {
                header: base.cast(),
            },
            tail,
        )
    }

    /// A set as an engine's first: its wakers count on the engine's thread
    /// while it runs (see "Reference counts").
    #[cfg(test)]
    pub(crate) fn first(capacity: usize) -> Self {
        Self::with_tail(capacity, Layout::new::<()>(), Owner::This).0
    }

    /// `(refs, local_refs)`, for tests.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        let head = self.header();
        (
            head.refs.load(Ordering::SeqCst),
            head.local_refs.load(Ordering::SeqCst),
        )
    }

    /// Sets `(refs, local_refs)`, for tests of the overflow checks: only
    /// with no waker alive, and put back before the set is dropped.
    #[cfg(test)]
    pub(crate) fn set_counts(&self, (refs, local): (usize, usize)) {
        let head = self.header();
        head.refs.store(refs, Ordering::SeqCst);
        head.local_refs.store(local, Ordering::SeqCst);
    }

    fn header(&self) -> &Header {
        // SAFETY: the engine's reference keeps the allocation alive (invariant 1).
        unsafe { self.header.as_ref() }
    }

    /// A waker for `slot`, borrowed from the engine: no reference count changes
    /// unless the child clones it.
    ///
    /// # Panics
    /// If `slot` is not below the capacity.
    #[cfg(test)]
    pub(crate) fn waker(&self, slot: usize) -> SlotWaker<'_> {
        assert!(slot < self.header().capacity, "fanout: slot out of range");
        // SAFETY: checked just above.
        unsafe { self.waker_unchecked(slot) }
    }

    /// [`ReadySet::waker`] without the bounds check, for the engine's hot
    /// paths, which have just compared `slot` with their block's length
    /// (the set's capacity).
    ///
    /// # Safety
    /// `slot` must be below the capacity: a waker of a slot past it would
    /// resolve to another address than this set's (invariant 2).
    #[inline(always)]
    pub(crate) unsafe fn waker_unchecked(&self, slot: usize) -> SlotWaker<'_> {
        let header = self.header();
        debug_assert!(slot < header.capacity, "fanout: slot out of range");
        // Invariant 2: `slot` bytes past the header, with the allocation's
        // provenance (wrapping: the address need not be inside it, and is
        // never dereferenced).
        let data = self.header.as_ptr().cast::<u8>().wrapping_add(slot);
        let raw = RawWaker::new(data.cast(), header.vtable);
        // SAFETY: `data` is a slot of this set (`slot` is below the capacity,
        // the contract), which the vtable's functions accept (invariant 2).
        let waker = unsafe { Waker::from_raw(raw) };
        SlotWaker {
            // Borrowed for as long as `&self` keeps the set alive: the
            // `ManuallyDrop` keeps us from releasing a reference we never took.
            waker: ManuallyDrop::new(waker),
            _set: PhantomData,
        }
    }

    /// Bytes of padding before the header, for tests.
    #[cfg(test)]
    pub(crate) fn padding(&self) -> usize {
        self.header().padding
    }

    /// Notes `slot` in the local bit set, as a wake of its waker on the
    /// engine's thread during its run would (`self_wake`), without the
    /// waker's detour: for the engine itself, queueing a task to poll in its
    /// next round.
    ///
    /// # Panics
    /// If `slot` is not below the capacity.
    #[inline]
    pub(crate) fn note(&self, slot: usize) {
        let header = self.header();
        assert!(slot < header.capacity, "fanout: slot out of range");
        // Only the engine calls this, through `&ReadySet` from its own state,
        // so on its own thread, as `self_wake` invariant 2 asks of the local
        // set's writers; the engine takes its notes before it waits.
        // SAFETY: the engine's reference keeps the allocation alive.
        header.mark::<true>(unsafe { set_ptr::<true>(self.header) }, slot);
    }

    /// The token of the engine that owns this set (see [`Owner`]).
    #[inline]
    pub(crate) fn owner(&self) -> usize {
        self.header().owner
    }

    /// Registers the engine's waker, so that a wake from now on reaches it.
    /// The engine calls it when it is about to wait, then looks at the set
    /// once more ([`ReadySet::any_woken`]) before it does: a wake before the
    /// registration is seen by that look, one after it wakes the engine
    /// (loom model 5).
    #[inline]
    pub(crate) fn register(&self, waker: &Waker) {
        self.header().parent.register(waker);
    }

    /// Whether a slot has been woken since the set was last taken: plain
    /// loads of the two top words (a later wake on another thread wakes the
    /// registered parent).
    #[inline]
    pub(crate) fn any_woken(&self) -> bool {
        self.top_word::<false>().load(Ordering::Acquire) != 0 || self.any_noted()
    }

    /// Whether a slot was noted in the local bit set since the set was last
    /// taken (see `self_wake`): nothing wakes the parent for those, so the
    /// engine must look before it waits.
    #[inline]
    pub(crate) fn any_noted(&self) -> bool {
        self.top_word::<true>().load(Ordering::Relaxed) != 0
    }

    /// The top word of the shared (`LOCAL == false`) or local bit set.
    #[inline(always)]
    fn top_word<const LOCAL: bool>(&self) -> &AtomicUsize {
        let header = self.header();
        // SAFETY: the top word of each set is the last of its initialized
        // atomics; the allocation lives as long as `&self`.
        unsafe { &*set_ptr::<LOCAL>(self.header).add(header.total_words - 1) }
    }

    /// Takes both bit sets for a new round (see [`ReadySet::take_set`]).
    /// Returns true when both had slots: the entries pushed are then two
    /// runs, each in slot order, and the caller must sort them together.
    #[inline]
    pub(crate) fn take_round(&self, tag: u32, out: &mut impl Extend<(u32, usize, usize)>) -> bool {
        let shared = self.take_set::<false>(tag, out);
        // Most rounds have no notes: one load decides it here, inline.
        if !self.any_noted() {
            return false;
        }
        let local = self.take_set::<true>(tag, out);
        shared && local
    }

    /// Takes both bit sets of a set of one word (a capacity of at most
    /// [`BITS`]) for a new round: their union, in slot order. The same as
    /// [`ReadySet::take_round`] without the snapshot.
    #[inline]
    pub(crate) fn take_only_word(&self) -> usize {
        debug_assert_eq!(self.header().levels, 1, "fanout: not a one-word set");
        let shared = self.top_word::<false>();
        // A load first, as in `take_set`: an empty set costs no
        // read-modify-write.
        let shared = if shared.load(Ordering::Acquire) != 0 {
            take::<false>(shared)
        } else {
            0
        };
        shared | take::<true>(self.top_word::<true>())
    }

    /// Takes the whole set for a new round, top down: every word whose bit it
    /// took is taken in turn, and each non-empty leaf word is pushed onto
    /// `out` as `(tag, leaf word index, bits)`, in slot order. A wake after
    /// its word was taken goes to the next round — whether or not the engine
    /// has reached that slot yet — so a round is one snapshot of the set.
    /// Returns false when the set was empty (nothing pushed).
    ///
    /// `LOCAL` picks the local bit set, which only the engine's own thread
    /// touches (see `self_wake`): its words are taken with a plain load and
    /// store instead of a `swap`.
    fn take_set<const LOCAL: bool>(
        &self,
        tag: u32,
        out: &mut impl Extend<(u32, usize, usize)>,
    ) -> bool {
        let header = self.header();
        let top = header.levels - 1;
        let top_word = self.top_word::<LOCAL>();
        // A load first: an empty set then costs no read-modify-write. A
        // wake this round misses is found before the engine waits: a shared
        // one by the look that follows the engine's registration
        // (`register`), a local one (made on this thread, so not during this
        // load) by `any_noted`.
        if top_word.load(Ordering::Acquire) == 0 {
            return false;
        }
        let bits = take::<LOCAL>(top_word);
        match top {
            0 => {
                if bits != 0 {
                    out.extend(core::iter::once((tag, 0, bits)));
                }
                return true;
            }
            // Up to 4,096 slots: the leaves are right below the top.
            1 => {
                self.take_leaves::<LOCAL>(tag, 0, bits, out);
                return true;
            }
            // Up to 262,144 slots.
            2 => {
                let mut rest = bits;
                while rest != 0 {
                    let child = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let child_bits = self.take_word::<LOCAL>(1, child);
                    self.take_leaves::<LOCAL>(tag, child, child_bits, out);
                }
                return true;
            }
            _ => {}
        }
        // Deeper sets: a depth-first walk without recursion; `pending[level]`
        // is the word of that level being walked and its bits not visited yet.
        let mut pending = [(0usize, 0usize); MAX_LEVELS];
        pending[top] = (0, bits);
        let mut level = top;
        loop {
            let (word, rest) = pending[level];
            if rest == 0 {
                if level == top {
                    return true;
                }
                level += 1;
                continue;
            }
            pending[level].1 = rest & (rest - 1);
            let child = word * BITS + rest.trailing_zeros() as usize;
            let child_bits = self.take_word::<LOCAL>(level - 1, child);
            if level == 1 {
                if child_bits != 0 {
                    out.extend(core::iter::once((tag, child, child_bits)));
                }
            } else {
                level -= 1;
                pending[level] = (child, child_bits);
            }
        }
    }

    /// Takes the leaf words below word `word` of level 1 whose bits are in
    /// `bits` (already taken), pushing the non-empty ones.
    #[inline(always)]
    fn take_leaves<const LOCAL: bool>(
        &self,
        tag: u32,
        word: usize,
        bits: usize,
        out: &mut impl Extend<(u32, usize, usize)>,
    ) {
        let mut rest = bits;
        while rest != 0 {
            let leaf = word * BITS + rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let leaf_bits = self.take_word::<LOCAL>(0, leaf);
            if leaf_bits != 0 {
                out.extend(core::iter::once((tag, leaf, leaf_bits)));
            }
        }
    }

    /// Clears word `word` of `level` and returns what it held.
    #[inline]
    fn take_word<const LOCAL: bool>(&self, level: usize, word: usize) -> usize {
        let header = self.header();
        let index = header.level_start[level] + word;
        debug_assert!(index < header.total_words);
        // SAFETY: `index < total_words`, so this is one of the initialized atomics
        // of the live allocation.
        take::<LOCAL>(unsafe { &*set_ptr::<LOCAL>(self.header).add(index) })
    }
}

impl Drop for ReadySet {
    fn drop(&mut self) {
        // Never inside a run of its own engine (`Slots`'s drop ends its run
        // before the blocks go): a clone counted locally after the fold
        // below would be counted nowhere.
        debug_assert!(
            !counts_locally(self_wake::current(), self.header),
            "fanout: a ready set dropped inside its engine's run"
        );
        let head = self.header();
        // Relaxed: written only by the engine's runs (invariant 7), which
        // happened before this drop.
        let local = head.local_refs.load(Ordering::Relaxed);
        // What the engine gives up on `refs`: its own count, less the
        // references counted locally (wrapping: a negative local count
        // adds), so that `refs` alone counts the wakers left (invariant 1).
        let ours = ENGINE_REFS.wrapping_sub(local);
        // Acquire: see every write of the wakers whose drops brought `refs`
        // down to that, before their memory goes.
        if head.refs.load(Ordering::Acquire) == ours {
            // No waker is left, and no new one can be made: a waker is
            // cloned only from a live one, and the borrowed wakers of the
            // engine's polls are gone (we have `&mut self`). So no wake can
            // come, and the set is freed without the two read-modify-writes
            // below — which a batch whose tasks keep no waker (most short
            // batches) used to pay on every drop.
            // SAFETY: the only reference, which we give up; nothing else
            // can reach the allocation.
            unsafe { free(self.header) };
            return;
        }
        // The engine is gone: a late wake must not wake (and keep alive) the
        // task that used to poll it.
        head.parent.clear();
        // AcqRel: as in `release`.
        if head.refs.fetch_sub(ours, Ordering::AcqRel) == ours {
            // The last waker went in the meantime.
            // SAFETY: no reference is left (invariant 1), and none can be
            // made.
            unsafe { free(self.header) };
        }
    }
}

/// A waker borrowed from a [`ReadySet`] for one poll of one slot.
pub(crate) struct SlotWaker<'a> {
    waker: ManuallyDrop<Waker>,
    _set: PhantomData<&'a ReadySet>,
}

impl Deref for SlotWaker<'_> {
    type Target = Waker;

    #[inline]
    fn deref(&self) -> &Waker {
        &self.waker
    }
}

/// # Safety
/// `header` must be the base of a live ready-set allocation.
#[inline]
unsafe fn words_ptr(header: NonNull<Header>) -> *const AtomicUsize {
    // SAFETY: per the contract; `words_offset` is inside the allocation.
    unsafe {
        let offset = (*header.as_ptr()).words_offset;
        header
            .as_ptr()
            .cast::<u8>()
            .add(offset)
            .cast::<AtomicUsize>()
    }
}

/// The first word of the shared (`LOCAL == false`) or the local bit set: the
/// local set's words follow the shared set's, level for level the same.
///
/// # Safety
/// `header` must be the base of a live ready-set allocation.
#[inline(always)]
unsafe fn set_ptr<const LOCAL: bool>(header: NonNull<Header>) -> *const AtomicUsize {
    // SAFETY: per the contract; both sets are inside the allocation.
    unsafe {
        let words = words_ptr(header);
        if LOCAL {
            words.add((*header.as_ptr()).total_words)
        } else {
            words
        }
    }
}

/// Clears a word of the shared (`LOCAL == false`) or the local bit set and
/// returns what it held.
#[inline(always)]
fn take<const LOCAL: bool>(word: &AtomicUsize) -> usize {
    if LOCAL {
        // Only the engine's thread touches the local set (see `self_wake`):
        // a plain load and store, no read-modify-write.
        let bits = word.load(Ordering::Relaxed);
        if bits != 0 {
            word.store(0, Ordering::Relaxed);
        }
        bits
    } else {
        // Acquire: see everything a waker did before it set a bit we take.
        word.swap(0, Ordering::AcqRel)
    }
}

/// Recovers the header and the slot from a waker's data pointer, for a set
/// aligned to `2^SHIFT` (invariant 2): no memory is read.
///
/// # Safety
/// `data` must be a waker's data pointer made by [`ReadySet::waker`] on a set
/// of that alignment that is still allocated.
#[inline(always)]
unsafe fn resolve<const SHIFT: u32>(data: *const ()) -> (NonNull<Header>, usize) {
    // (Wrapping: for a shift past the address width no set exists, and no
    // waker of it is ever made; the function still has to compile.)
    let slot = data as usize & 1usize.wrapping_shl(SHIFT).wrapping_sub(1);
    // Back to the start, keeping the allocation's provenance.
    let header = data.cast::<u8>().wrapping_sub(slot);
    // SAFETY: the header of a live set, so not null.
    (
        unsafe { NonNull::new_unchecked(header.cast_mut().cast()) },
        slot,
    )
}

/// Drops one reference; the last one frees the allocation. `running` is
/// this thread's [`self_wake::current`].
///
/// # Safety
/// The caller owns one reference to the live allocation at `header` and gives
/// it up.
unsafe fn release(running: usize, header: NonNull<Header>) {
    if counts_locally(running, header) {
        // SAFETY: as above.
        let local = unsafe { &(*header.as_ptr()).local_refs };
        // The engine is alive (invariant 7), so this is not the last
        // reference: it frees the set, not us.
        local.store(
            local.load(Ordering::Relaxed).wrapping_sub(1),
            Ordering::Relaxed,
        );
        return;
    }
    // SAFETY: per the contract.
    unsafe { release_shared(header) }
}

/// [`release`] counting in `refs`: out of line, as [`clone_shared`].
///
/// # Safety
/// As for [`release`].
#[inline(never)]
unsafe fn release_shared(header: NonNull<Header>) {
    // SAFETY: the caller's reference keeps it alive until this decrement.
    let refs = unsafe { &(*header.as_ptr()).refs };
    // AcqRel: the last owner must see every other owner's writes before it frees.
    if refs.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    // SAFETY: we held the last reference: nobody else can reach the allocation.
    unsafe { free(header) }
}

/// # Safety
/// No reference to the allocation at `header` is left, and none can be made.
unsafe fn free(header: NonNull<Header>) {
    // SAFETY: per the contract, nobody else reaches the allocation.
    unsafe {
        let layout = (*header.as_ptr()).layout;
        let padding = (*header.as_ptr()).padding;
        let words = words_ptr(header).cast_mut();
        let total_words = (*header.as_ptr()).total_words;
        ptr::drop_in_place(ptr::slice_from_raw_parts_mut(words, 2 * total_words));
        ptr::drop_in_place(header.as_ptr());
        dealloc(header.as_ptr().cast::<u8>().sub(padding), layout);
    }
}

impl Header {
    /// Queues `slot` in the shared (`LOCAL == false`) or the local bit set,
    /// whose words start at `words`. Returns true when this wake turned the
    /// whole set from empty to non-empty, which is when the parent must be
    /// woken (for the shared set: the local one never wakes it).
    #[inline(always)]
    fn mark<const LOCAL: bool>(&self, words: *const AtomicUsize, slot: usize) -> bool {
        let mut pos = slot;
        for level in 0..self.levels {
            let index = self.level_start[level] + pos / BITS;
            // SAFETY: `slot < capacity`, so `index` is within `total_words`.
            let word = unsafe { &*words.add(index) };
            let bit = 1 << (pos % BITS);
            let prev = if LOCAL {
                // Only the engine's thread touches the local set: no
                // read-modify-write (see `self_wake`).
                let prev = word.load(Ordering::Relaxed);
                word.store(prev | bit, Ordering::Relaxed);
                prev
            } else {
                // Release: the engine's `swap` that takes this bit sees our
                // writes.
                word.fetch_or(bit, Ordering::AcqRel)
            };
            if prev != 0 {
                // Already queued, or another wake is climbing from this word, or
                // the engine holds this word's bit this round (invariant 3).
                return false;
            }
            pos /= BITS;
        }
        true
    }
}

/// The vtables for each listed shift, in order.
macro_rules! vtables {
    ($($shift:literal)*) => {
        [$(RawWakerVTable::new(
            waker_clone::<$shift>,
            waker_wake::<$shift>,
            waker_wake_by_ref::<$shift>,
            waker_drop::<$shift>,
        )),*]
    };
}

/// The number of shifts there are vtables for: every `k` with `2^k` at most
/// [`MAX_CAPACITY`] rounded up.
const SHIFTS: usize = 33;
const _: () =
    assert!((MAX_CAPACITY as u64).next_power_of_two().trailing_zeros() as usize == SHIFTS - 1);

/// The wakers' vtables: entry `k` serves the sets aligned to `2^k`
/// (invariant 2), its functions compiled for that `k`. One static, so that
/// a set's wakers share one vtable address and `Waker::will_wake` sees them
/// equal.
static VTABLES: [RawWakerVTable; SHIFTS] = vtables!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
);

/// # Safety
/// `data` is a slot waker's data pointer, of a set aligned to `2^SHIFT`
/// (see [`resolve`]).
unsafe fn waker_clone<const SHIFT: u32>(data: *const ()) -> RawWaker {
    // First: see `self_wake::current`.
    let running = self_wake::current();
    // SAFETY: the waker being cloned holds (or borrows) a reference.
    let (header, _) = unsafe { resolve::<SHIFT>(data) };
    if counts_locally(running, header) {
        // SAFETY: as above.
        let local = unsafe { &(*header.as_ptr()).local_refs };
        // Invariant 7: only this thread, only now: no read-modify-write.
        let count = local.load(Ordering::Relaxed).wrapping_add(1);
        if count as isize <= MAX_REFS as isize {
            local.store(count, Ordering::Relaxed);
            return RawWaker::new(data, &VTABLES[SHIFT as usize]);
        }
    }
    // SAFETY: as above.
    unsafe { clone_shared::<SHIFT>(data) }
}

/// [`waker_clone`] counting in `refs` (or refusing a local count past its
/// limit): out of line, and given only `data`, so that the clone counted
/// locally is a leaf that saves no registers.
///
/// # Safety
/// As for [`waker_clone`].
#[inline(never)]
unsafe fn clone_shared<const SHIFT: u32>(data: *const ()) -> RawWaker {
    let running = self_wake::current();
    // SAFETY: the waker being cloned holds (or borrows) a reference.
    let (header, _) = unsafe { resolve::<SHIFT>(data) };
    if counts_locally(running, header) {
        // The local count is at its limit (`waker_clone`).
        too_many_clones();
    }
    // SAFETY: the waker being cloned keeps the allocation alive.
    let refs = unsafe { &(*header.as_ptr()).refs };
    // Relaxed: a new reference is made from an existing one; nothing to
    // publish.
    if refs.fetch_add(1, Ordering::Relaxed) > usize::MAX - MAX_REFS {
        refs.fetch_sub(1, Ordering::Relaxed);
        too_many_clones();
    }
    RawWaker::new(data, &VTABLES[SHIFT as usize])
}

/// Out of line, so that a clone saves no registers for a panic that never
/// comes.
#[cold]
#[inline(never)]
fn too_many_clones() -> ! {
    panic!("fanout: too many clones of one task's waker")
}

/// # Safety
/// `data` is an owned slot waker's data pointer, as for [`waker_clone`].
unsafe fn waker_wake<const SHIFT: u32>(data: *const ()) {
    // First: see `self_wake::current`. Read once for the wake and the drop
    // (a wake by value is how most wakes from outside the batch arrive).
    let running = self_wake::current();
    // SAFETY: the owned waker keeps the set alive until its release below.
    let (header, slot) = unsafe { resolve::<SHIFT>(data) };
    // SAFETY: as above.
    unsafe {
        wake_resolved::<SHIFT>(running, header, slot);
        release(running, header);
    }
}

/// # Safety
/// `data` is a slot waker's data pointer, as for [`waker_clone`].
unsafe fn waker_wake_by_ref<const SHIFT: u32>(data: *const ()) {
    // First: see `self_wake::current`.
    let running = self_wake::current();
    // SAFETY: the waker holds (or borrows) a reference, so the set is live.
    let (header, slot) = unsafe { resolve::<SHIFT>(data) };
    // SAFETY: as above.
    unsafe { wake_resolved::<SHIFT>(running, header, slot) }
}

/// Wakes `slot` of the live set at `header`; `running` is this thread's
/// [`self_wake::current`], read first by the caller.
///
/// # Safety
/// The caller holds (or borrows) a reference to the set, and `slot` is
/// below its capacity (what a waker's data pointer resolves to).
#[inline(always)]
unsafe fn wake_resolved<const SHIFT: u32>(running: usize, header: NonNull<Header>, slot: usize) {
    // SAFETY: per the contract, the set is live.
    let head = unsafe { header.as_ref() };
    // (`running` is 0 when no engine runs here, and so is the owner of a
    // set that has none.)
    if running != 0 && running == head.owner {
        // The engine that owns this set is running on this thread, right now
        // (this is a task it polls waking itself or a sibling): a note in the
        // local set, which it looks at before it waits, is enough.
        // SAFETY: as above.
        let words = unsafe { set_ptr::<true>(header) };
        if SHIFT <= BITS.trailing_zeros() {
            // Invariant 2: `capacity <= 2^SHIFT <= BITS`, so the set is one
            // word (one level), known here at compile time: the note of a
            // small batch's self-wake is a load, an `or` and a store, with
            // no walk up the levels.
            // SAFETY: the set has at least one word.
            let word = unsafe { &*words };
            word.store(word.load(Ordering::Relaxed) | 1 << slot, Ordering::Relaxed);
        } else {
            head.mark::<true>(words, slot);
        }
    } else {
        // SAFETY: as above.
        unsafe { wake_shared(header, slot) };
    }
}

/// [`waker_wake_by_ref`] on the shared set: out of line, so that the note
/// of a wake on the engine's own thread saves no registers for it.
///
/// # Safety
/// As for [`waker_wake_by_ref`]; `header` and `slot` are what its data pointer
/// resolves to.
#[inline(never)]
unsafe fn wake_shared(header: NonNull<Header>, slot: usize) {
    // SAFETY: the waker holds (or borrows) a reference, so the set is live.
    let head = unsafe { header.as_ref() };
    // SAFETY: as above.
    if head.mark::<false>(unsafe { set_ptr::<false>(header) }, slot) {
        head.parent.wake();
    }
}

/// Whether a waker of the set at `header`, cloned or dropped now on this
/// thread, counts in `local_refs` (invariant 7): the set is its engine's
/// first, and that engine is running here. `running` is this thread's
/// [`self_wake::current`], read first by the caller.
#[inline(always)]
fn counts_locally(running: usize, header: NonNull<Header>) -> bool {
    // A first set's owner token is its own address, and no other live
    // allocation has that address: so "the engine running here is named
    // by this address" says both that this is a first set and that its
    // engine runs here, with no load from the header. (An address is never
    // 0, the token of no engine.)
    running == header.as_ptr() as usize
}

/// # Safety
/// `data` is an owned slot waker's data pointer, as for [`waker_clone`].
unsafe fn waker_drop<const SHIFT: u32>(data: *const ()) {
    // First: see `self_wake::current`.
    let running = self_wake::current();
    // SAFETY: per the contract.
    unsafe {
        let (header, _) = resolve::<SHIFT>(data);
        release(running, header);
    }
}
