//! Collecting a batch's outputs back into input order.

use alloc::vec::Vec;
use core::mem;
use core::ptr;

/// Bits in one word of [`Ordered`]'s record of outputs placed out of order.
const BITS: usize = usize::BITS as usize;

/// Outputs keyed by task index, handed back as a `Vec` in index order.
///
/// Tasks finish in any order; each output is put at its index, so the final
/// `Vec` is in input order whatever the completion order (TPL's `WhenAll<T>`
/// result array).
///
/// # One buffer, the one handed back
///
/// Every output lives in the `Vec` that is finally returned, at its own
/// index, from the moment it arrives:
///
/// - An output that arrives in index order (the next one after the `Vec`'s
///   length) is pushed. Tasks very often finish in index order (all ready
///   at once, or woken together: the engine hands out a round's
///   completions in index order), and then nothing else is kept.
/// - An output that arrives early is written straight into the `Vec`'s
///   spare capacity at its index, and one bit in `placed` says it is there.
///   The first such output sizes the `Vec` (once, by the hint) and
///   `placed`; every later one is an inlined store and a bit.
///
/// At the end the `Vec`'s length is set over the places every bit vouches
/// for, and it is handed back as it is: no second buffer and no pass over
/// the outputs. Why not a `Vec<Option<T>>` for out-of-order outputs, as
/// this type kept before: each place then held a tag too (16 bytes, not 8,
/// for a `u64` output), a random write touched twice the memory, and the
/// result had to be collected out of it at the end, into a `Vec<T>` that kept
/// all that room as spare capacity. On 100,000 tasks woken in random order
/// (S3), the batch's peak memory fell from 9.1 MiB to 7.0 MiB (futures-
/// buffered's `join_all`: 7.6 MiB), at the same instructions per wake.
///
/// # Invariants
///
/// 1. `items[..items.len()]` holds the outputs of tasks `0..items.len()`
///    (the `Vec` owns them, as any `Vec` does).
/// 2. A set bit `i` of `placed` means place `i` of `items`' buffer (past its
///    length, within its capacity) holds task `i`'s output, which this
///    type owns (drops, or hands back).
///    Bits are only ever set at `i >= items.len()`: a push only takes the
///    place at the length, whose task has not reported yet (each index is
///    reported once), so no bit is ever at or below a place the `Vec` owns.
/// 3. `places <= items.capacity()` and `places <= placed.bits()`: every
///    place below it can be written at once. `places` is 0 until the first
///    early output, and no bit is set while it is.
pub(crate) struct Ordered<T> {
    items: Vec<T>,
    /// One bit per place of `items`' buffer: see invariant 2. All clear
    /// while every output so far came in order.
    placed: Placed,
    /// Places below this can take an early output at once (invariant 3);
    /// 0 while every output so far came in order.
    places: usize,
}

/// Up to this many bytes, storage for the outputs is made with
/// `Vec::with_capacity`; a larger size hint is only tried
/// (`try_reserve_exact`), since a failure to allocate it must not abort.
const SURE_BYTES: usize = 1 << 16;

impl<T> Ordered<T> {
    pub(crate) const fn new() -> Self {
        Self {
            items: Vec::new(),
            placed: Placed::new(),
            places: 0,
        }
    }

    /// The `more` to pass to [`Ordered::put`] for this poll's outputs:
    /// `hint()`, a lower bound on the events still to come, or 0 once the
    /// outputs are out of order, whose storage was sized when the order
    /// broke and needs no hint unless that one fell short (a poll of a
    /// batch woken one task at a time then skips the engine's count).
    #[inline]
    pub(crate) fn more_hint(&self, hint: impl FnOnce() -> usize) -> usize {
        if self.places == 0 {
            hint()
        } else {
            0
        }
    }

    /// Stores the output of task `index`. `more` is a lower bound on the tasks
    /// still to come after this one, so a known-size batch allocates once.
    #[inline(always)]
    pub(crate) fn put(&mut self, index: usize, value: T, more: usize) {
        let len = self.items.len();
        if index == len && len < self.items.capacity() {
            // The next output in order, with room for it: kept small enough
            // to inline into the engine's loop. (Its place holds no early
            // output: invariant 2.)
            self.items.push(value);
        } else if index < self.places && index > len {
            // Early, within the storage sized when the order broke.
            // SAFETY: invariant 3: `index` is inside the buffer; past the
            // length, so not an output the `Vec` owns.
            unsafe { self.place(index, value) };
        } else {
            self.put_slow(index, value, more);
        }
    }

    /// Writes an early output at `index` and records it.
    ///
    /// # Safety
    /// `items.len() < index < places` (invariant 3).
    #[inline(always)]
    unsafe fn place(&mut self, index: usize, value: T) {
        let (word, bit) = (index / BITS, 1usize << (index % BITS));
        debug_assert!(
            index > self.items.len() && index < self.places,
            "fanout: place {index} outside the storage"
        );
        // SAFETY: per the contract, `index < places <= placed.bits()`.
        let word = unsafe { self.placed.word_unchecked(word) };
        debug_assert!(*word & bit == 0, "task {index} reported twice");
        // No bit was set here (each index is reported once): nothing is
        // overwritten.
        // SAFETY: per the contract, spare capacity the `Vec` does not own.
        unsafe { ptr::write(self.items.as_mut_ptr().add(index), value) };
        *word |= bit;
    }

    /// [`Ordered::put`] when storage must be made or grown.
    #[inline(never)]
    fn put_slow(&mut self, index: usize, value: T, more: usize) {
        let len = self.items.len();
        assert!(index >= len, "fanout: task {index} reported twice");
        if index == len {
            // In order, with no room left (or none made yet).
            if self.items.capacity() == 0 {
                let want = more.saturating_add(1);
                if want.saturating_mul(mem::size_of::<T>()) <= SURE_BYTES {
                    // A size that is surely fine: the direct way, without
                    // the checks of a reservation (a short batch's cost).
                    self.items = Vec::with_capacity(want);
                } else {
                    // A hint is only a hint (an endless source says
                    // `usize::MAX`): if it cannot be had, grow as we go.
                    let _ = self.items.try_reserve_exact(want);
                }
            }
            if self.places > 0 && self.items.len() == self.items.capacity() {
                // Spare capacity holds early outputs, which `Vec::push`'s
                // own growth would not carry over. (Not reached today: an
                // early output sits past the length, so a `Vec` holding one
                // is never full. Kept, on this cold path, because a push
                // that grew the `Vec` over early outputs would lose them.)
                self.grow_items(index + 1, index + 1);
            }
            self.items.push(value);
            return;
        }
        // Early: make room for every place the hint promises, so that the
        // outputs still to come land in place through `put`'s inlined path.
        // The batch has `reported + 1 + more` tasks in all: the outputs in
        // so far, this one and those to come. (Not `index + 1 + more`: when
        // the last task finishes first, that was twice the batch, and the
        // `Vec` handed back kept the room.)
        let reported = len + self.placed.ones_below(usize::MAX);
        let total = reported.saturating_add(1).saturating_add(more);
        self.grow(index + 1, total.max(index + 1));
        // SAFETY: `grow` made `index < places` (invariant 3); `index > len`.
        unsafe { self.place(index, value) };
    }

    /// Makes `places` at least `need`, and tries for `want` (a hint: only
    /// tried, and a failure to get it grows by doubling).
    #[cold]
    fn grow(&mut self, need: usize, want: usize) {
        if need > self.items.capacity() {
            self.grow_items(need, want);
        }
        let words = self.items.capacity().min(want).div_ceil(BITS);
        self.placed.grow(words, need.div_ceil(BITS));
        self.places = self.items.capacity().min(self.placed.bits());
        debug_assert!(self.places >= need, "fanout: no room made for an output");
    }

    /// Moves the outputs to a buffer of at least `need` places (`want`, or
    /// double the old, if it can be had), early ones included: an untyped
    /// copy of the whole old buffer.
    #[cold]
    fn grow_items(&mut self, need: usize, want: usize) {
        let cap = self.items.capacity();
        let mut bigger: Vec<T> = Vec::new();
        if bigger
            .try_reserve_exact(want.max(cap.saturating_mul(2)))
            .is_err()
        {
            bigger.reserve_exact(need.max(cap.saturating_mul(2)));
        }
        // An untyped copy of every place carries over the `Vec`'s outputs
        // and the early ones (invariant 2), and the bytes between.
        // SAFETY: both buffers hold at least `cap` places; no overlap.
        unsafe { ptr::copy_nonoverlapping(self.items.as_ptr(), bigger.as_mut_ptr(), cap) };
        // SAFETY: the new buffer now holds the first `len` outputs (and the
        // early ones at their places); the old one is freed without
        // dropping any.
        unsafe {
            bigger.set_len(self.items.len());
            self.items.set_len(0);
        }
        self.items = bigger;
    }

    /// Frees what was stored: the batch failed and its outputs will not be used.
    pub(crate) fn discard(&mut self) {
        *self = Self::new();
    }

    /// Every output, in index order. There must be one for each index below
    /// `len`, the number of tasks pulled.
    pub(crate) fn into_vec(mut self, len: usize) -> Vec<T> {
        let prefix = self.items.len();
        if self.places > 0 || prefix != len {
            self.check_complete(len);
            // SAFETY: `check_complete` found every place in `prefix..len`
            // placed (invariant 2), and no output past `len`: the `Vec` now
            // owns exactly the outputs, and nothing is left for `drop`.
            unsafe { self.items.set_len(len) };
            self.placed = Placed::new();
            self.places = 0;
        }
        mem::take(&mut self.items)
    }

    /// Panics, naming it, if a task below `len` has no output, or if an
    /// output lies past `len`. Either leaves `self` whole, so its drop
    /// drops every output once.
    #[cold]
    fn check_complete(&self, len: usize) {
        let prefix = self.items.len();
        let early = self.placed.ones_below(usize::MAX);
        if prefix <= len && self.placed.ones_below(len) == len - prefix && early == len - prefix {
            // Every bit lies in `prefix..len` (invariant 2: none below
            // `prefix`), and there are as many as places there: all placed.
            return;
        }
        let bit = |i: usize| self.placed.word(i / BITS) & (1 << (i % BITS)) != 0;
        // More outputs in order than tasks pulled cannot happen; named as
        // the first task past the end if it did.
        let missing = if prefix > len {
            Some(len)
        } else {
            (prefix..len).find(|&i| !bit(i))
        };
        if let Some(index) = missing {
            crate::engine::lost_to_panic(index);
        }
        // Places past `len` come only from a size hint that promised more
        // tasks than were pulled, and hold nothing: an output there would be
        // a task this batch never reported.
        panic!("fanout: an output past the last task pulled");
    }
}

impl<T> Drop for Ordered<T> {
    /// Drops the early outputs (the `Vec` drops its own after this). A drop
    /// that panics does not stop the others, as in a `Vec`.
    fn drop(&mut self) {
        if !mem::needs_drop::<T>() || self.places == 0 {
            return;
        }
        /// The early outputs not dropped yet: if one's drop panics, this is
        /// dropped while the panic unwinds, and drops the rest.
        struct Rest<'a, T> {
            items: *mut T,
            placed: &'a mut Placed,
        }
        impl<T> Rest<'_, T> {
            fn drop_each(&mut self) {
                for w in 0..self.placed.words() {
                    // SAFETY: `w` is below `words()`.
                    let word = unsafe { self.placed.word_unchecked(w) };
                    while *word != 0 {
                        let bit = word.trailing_zeros() as usize;
                        // Cleared first: a panic below leaves it dropped.
                        *word &= *word - 1;
                        // SAFETY: the bit was set, so this place holds an
                        // early output that `Ordered` owns (invariant 2),
                        // dropped once: its bit is now clear.
                        unsafe { ptr::drop_in_place(self.items.add(w * BITS + bit)) };
                    }
                }
            }
        }
        impl<T> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                self.drop_each();
            }
        }
        let mut rest = Rest {
            items: self.items.as_mut_ptr(),
            placed: &mut self.placed,
        };
        rest.drop_each();
        mem::forget(rest);
    }
}

/// Words of [`Placed`] kept inline: a batch of up to 256 tasks records its
/// early outputs without an allocation.
const INLINE_WORDS: usize = 4;

/// One bit per place of the outputs' buffer (see [`Ordered`]): the first
/// [`INLINE_WORDS`] words inline, the rest, for a bigger batch, in a `Vec`.
/// Why inline: a short batch whose tasks finish out of order then makes
/// no allocation for them, as it made none when out-of-order outputs went
/// into a `Vec<Option<T>>` that became the result.
struct Placed {
    inline: [usize; INLINE_WORDS],
    more: Vec<usize>,
}

impl Placed {
    const fn new() -> Self {
        Self {
            inline: [0; INLINE_WORDS],
            more: Vec::new(),
        }
    }

    /// How many words there are.
    fn words(&self) -> usize {
        INLINE_WORDS + self.more.len()
    }

    /// How many places there are bits for.
    fn bits(&self) -> usize {
        self.words().saturating_mul(BITS)
    }

    /// Word `w`, or 0 past the last.
    fn word(&self, w: usize) -> usize {
        match w.checked_sub(INLINE_WORDS) {
            None => self.inline[w],
            Some(w) => self.more.get(w).copied().unwrap_or(0),
        }
    }

    /// Word `w`, for a write.
    ///
    /// # Safety
    /// `w < self.words()`.
    #[inline(always)]
    unsafe fn word_unchecked(&mut self, w: usize) -> &mut usize {
        if w < INLINE_WORDS {
            // SAFETY: just checked.
            unsafe { self.inline.get_unchecked_mut(w) }
        } else {
            // SAFETY: per the contract, `w - INLINE_WORDS < more.len()`.
            unsafe { self.more.get_unchecked_mut(w - INLINE_WORDS) }
        }
    }

    /// At least `need` words, and `want` if they can be had (a hint: only
    /// tried).
    fn grow(&mut self, want: usize, need: usize) {
        let (want, need) = (
            want.saturating_sub(INLINE_WORDS),
            need.saturating_sub(INLINE_WORDS),
        );
        if want > self.more.len() {
            if self.more.try_reserve_exact(want - self.more.len()).is_err() {
                self.more
                    .reserve_exact(need.saturating_sub(self.more.len()));
            }
            let words = want.min(self.more.capacity());
            self.more.resize(words, 0);
        }
    }

    /// Set bits below place `end`: a word at a time.
    fn ones_below(&self, end: usize) -> usize {
        let (full, rest) = (end / BITS, end % BITS);
        let ones =
            |words: &[usize]| -> usize { words.iter().map(|w| w.count_ones() as usize).sum() };
        let whole = ones(&self.inline[..full.min(INLINE_WORDS)])
            + ones(&self.more[..full.saturating_sub(INLINE_WORDS).min(self.more.len())]);
        let part = if rest > 0 {
            (self.word(full) & ((1 << rest) - 1)).count_ones() as usize
        } else {
            0
        };
        whole + part
    }
}

#[cfg(all(test, not(fanout_loom)))]
mod tests {
    use super::Ordered;
    use alloc::vec::Vec;
    use core::cell::Cell;

    extern crate std;

    #[test]
    fn in_order_and_out_of_order() {
        let mut ordered = Ordered::new();
        for i in 0..5 {
            ordered.put(i, i * 10, 5 - i - 1);
        }
        assert_eq!(ordered.places, 0, "in order: nothing placed early");
        assert_eq!(ordered.into_vec(5), [0, 10, 20, 30, 40]);

        let mut ordered = Ordered::new();
        for i in [0, 1, 4, 2, 3] {
            ordered.put(i, i * 10, 0);
        }
        assert_eq!(
            ordered.placed.ones_below(usize::MAX),
            1,
            "only 4 came early: 2 and 3 were next in order"
        );
        assert_eq!(ordered.into_vec(5), [0, 10, 20, 30, 40]);
    }

    /// Counts its drops, so that every output is seen dropped exactly once.
    struct Counted<'a>(usize, &'a Cell<usize>);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
        }
    }

    /// The indices `0..n`: the first `in_order` in order, then the rest in a
    /// scrambled order (a multiplicative permutation).
    fn scrambled(n: usize, in_order: usize) -> Vec<usize> {
        let rest = n - in_order;
        (0..in_order)
            .chain((0..rest).map(|k| in_order + (k * 7919 + 13) % rest.max(1)))
            .collect()
    }

    #[test]
    fn out_of_order_outputs_land_in_place_across_words() {
        for n in [2, 63, 64, 65, 130, 200] {
            for in_order in [0, 1, 63, 64, 65] {
                if in_order >= n || (n - in_order) % 7919 == 0 {
                    continue;
                }
                let order = scrambled(n, in_order);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert!(sorted.iter().copied().eq(0..n), "a permutation");
                for hint in [0, n] {
                    let mut ordered = Ordered::new();
                    for &i in &order {
                        ordered.put(i, i * 3, hint);
                    }
                    let want: Vec<usize> = (0..n).map(|i| i * 3).collect();
                    assert_eq!(ordered.into_vec(n), want, "n {n}, in order {in_order}");
                }
            }
        }
    }

    #[test]
    fn every_output_is_dropped_once_whatever_happens() {
        let drops = Cell::new(0);
        // Handed out: dropped by their new owner.
        let mut ordered = Ordered::new();
        for i in scrambled(100, 10) {
            ordered.put(i, Counted(i, &drops), 0);
        }
        let out = ordered.into_vec(100);
        assert!(out.iter().enumerate().all(|(i, c)| c.0 == i));
        assert_eq!(drops.get(), 0);
        drop(out);
        assert_eq!(drops.get(), 100);

        // Discarded half way.
        drops.set(0);
        let mut ordered = Ordered::new();
        for i in scrambled(100, 10).into_iter().take(50) {
            ordered.put(i, Counted(i, &drops), 0);
        }
        ordered.discard();
        assert_eq!(drops.get(), 50);

        // One missing: a panic that names it, and the rest dropped.
        drops.set(0);
        let mut ordered = Ordered::new();
        for i in scrambled(100, 10).into_iter().filter(|&i| i != 42) {
            ordered.put(i, Counted(i, &drops), 0);
        }
        let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| {
            ordered.into_vec(100);
        }));
        let message = caught.expect_err("task 42 is missing");
        let message = message
            .downcast_ref::<alloc::string::String>()
            .expect("a formatted message");
        assert!(message.contains("task 42 has no result"), "{message}");
        assert_eq!(drops.get(), 99);
    }

    /// Once the order breaks, the storage is sized by the hint, and the
    /// outputs still to come land in it without a hint: `more_hint` asks for
    /// none, and the storage does not move.
    #[test]
    fn out_of_order_storage_is_sized_once_by_the_hint() {
        let mut ordered = Ordered::new();
        let asked = Cell::new(0);
        let hint = || {
            asked.set(asked.get() + 1);
            99
        };
        let more = ordered.more_hint(hint);
        assert_eq!((more, asked.get()), (99, 1));
        // The first output in is task 5's, and 99 more are to come: 100 in
        // all.
        ordered.put(5, 50, more);
        let (places, place) = (ordered.places, ordered.items.as_ptr());
        assert_eq!(ordered.items.capacity(), 100, "sized by the hint");
        assert_eq!(places, 100, "every place promised can take an output");
        assert_eq!(ordered.more_hint(hint), 0, "no hint once out of order");
        assert_eq!(asked.get(), 1, "the hint was not computed");
        for i in (0..100).filter(|&i| i != 5) {
            ordered.put(i, i * 10, 0);
        }
        assert_eq!(
            (ordered.places, ordered.items.as_ptr()),
            (places, place),
            "never moved"
        );
        assert_eq!(
            ordered.into_vec(100),
            (0..100).map(|i| i * 10).collect::<Vec<_>>()
        );

        // A hint that promised more tasks than came (a source whose size
        // hint is wrong): the places past the last task held nothing, and
        // go.
        let mut ordered = Ordered::new();
        ordered.put(5, 50, 94);
        for i in (0..10).filter(|&i| i != 5) {
            ordered.put(i, i * 10, 0);
        }
        assert_eq!(
            ordered.into_vec(10),
            (0..10).map(|i| i * 10).collect::<Vec<_>>()
        );

        // A hint that fell short: the storage grows as it must.
        let mut ordered = Ordered::new();
        for i in [3, 0, 1, 2, 7, 4, 6, 5] {
            ordered.put(i, i, 0);
        }
        assert_eq!(ordered.into_vec(8), [0, 1, 2, 3, 4, 5, 6, 7]);
    }

    /// An early output whose drop panics does not keep the others from
    /// being dropped, as in a `Vec`.
    #[test]
    fn a_panicking_drop_leaves_no_output_undropped() {
        struct Bomb<'a>(bool, &'a Cell<usize>);
        impl Drop for Bomb<'_> {
            fn drop(&mut self) {
                self.1.set(self.1.get() + 1);
                if self.0 {
                    panic!("boom");
                }
            }
        }
        let drops = Cell::new(0);
        let mut ordered = Ordered::new();
        // 0 and 1 in order (the `Vec`'s), 9, 5, 70 and 3 early; 5 panics.
        for i in [0, 1, 9, 5, 70, 3] {
            ordered.put(i, Bomb(i == 5, &drops), 0);
        }
        assert_eq!(ordered.placed.ones_below(usize::MAX), 4);
        let caught = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| drop(ordered)));
        assert!(caught.is_err(), "the panic comes through");
        assert_eq!(drops.get(), 6, "every output dropped once");
    }

    /// Early outputs move with the buffer when a hint fell short, and the
    /// result is the buffer itself: no copy at the end.
    #[test]
    fn early_outputs_survive_growth_and_the_buffer_is_handed_back() {
        let mut ordered = Ordered::new();
        let order = [1, 0, 7, 2, 30, 3, 4, 5, 6]
            .into_iter()
            .chain(8..30)
            .chain(31..40)
            .collect::<Vec<_>>();
        for &i in &order {
            ordered.put(i, alloc::format!("{i}"), 0);
        }
        let place = ordered.items.as_ptr();
        let out = ordered.into_vec(40);
        assert_eq!(out.as_ptr(), place, "handed back as it is");
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, s)| *s == alloc::format!("{i}")));
    }

    #[test]
    fn zero_sized_outputs() {
        let mut ordered = Ordered::new();
        for i in scrambled(70, 3) {
            ordered.put(i, (), 0);
        }
        assert_eq!(ordered.into_vec(70).len(), 70);
    }
}
