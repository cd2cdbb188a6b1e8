//! Collecting a batch's outputs back into input order.

use alloc::vec::Vec;

/// Outputs keyed by task index, handed back as a `Vec` in index order.
///
/// Tasks finish in any order; each output is put at its index, so the final
/// `Vec` is in input order whatever the completion order (TPL's `WhenAll<T>`
/// result array).
///
/// Tasks very often finish in index order (all ready at once, or all woken
/// together: the engine hands out a round's completions in index order), so
/// outputs are pushed straight into the final `Vec` while they arrive in order;
/// only the first out-of-order output switches to a `Vec<Option<T>>`, which
/// costs one more pass at the end. That storage is sized then, for every task
/// the batch's size hint promises, so each later output is one inlined store
/// at its index, and a poll of a batch woken one task at a time does not ask
/// the engine for a hint at all ([`Ordered::more_hint`]): 40 fewer
/// instructions per wake when 10,000 tasks are woken in random order, about
/// a twentieth of the whole.
pub(crate) enum Ordered<T> {
    /// Every output so far arrived in index order: `items[i]` is task `i`'s.
    InOrder(Vec<T>),
    /// Outputs arrived out of order: `items[i]` is task `i`'s, if it is in.
    Sparse(Vec<Option<T>>),
}

/// Up to this many bytes, storage for the outputs is made with
/// `Vec::with_capacity`; a larger size hint is only tried
/// (`try_reserve_exact`), since a failure to allocate it must not abort.
const SURE_BYTES: usize = 1 << 16;

impl<T> Ordered<T> {
    pub(crate) const fn new() -> Self {
        Self::InOrder(Vec::new())
    }

    /// The `more` to pass to [`Ordered::put`] for this poll's outputs:
    /// `hint()`, a lower bound on the events still to come, or 0 once the
    /// outputs are out of order, whose storage was sized when the order
    /// broke and needs no hint unless that one fell short (a poll of a
    /// batch woken one task at a time then skips the engine's count).
    #[inline]
    pub(crate) fn more_hint(&self, hint: impl FnOnce() -> usize) -> usize {
        match self {
            Self::InOrder(_) => hint(),
            Self::Sparse(_) => 0,
        }
    }

    /// Stores the output of task `index`. `more` is a lower bound on the tasks
    /// still to come after this one, so a known-size batch allocates once.
    #[inline(always)]
    pub(crate) fn put(&mut self, index: usize, value: T, more: usize) {
        match self {
            // The common case, kept small enough to inline into the engine's
            // loop: the next output in order, with room for it.
            Self::InOrder(items) if index == items.len() && items.len() < items.capacity() => {
                items.push(value);
            }
            // Out of order, within the storage sized when the order broke.
            Self::Sparse(items) if index < items.len() => {
                debug_assert!(items[index].is_none(), "task {index} reported twice");
                items[index] = Some(value);
            }
            _ => self.put_slow(index, value, more),
        }
    }

    /// [`Ordered::put`] when storage must be made or outputs are out of order.
    #[inline(never)]
    fn put_slow(&mut self, index: usize, value: T, more: usize) {
        match self {
            Self::InOrder(items) if index == items.len() => {
                if items.capacity() == 0 {
                    let want = more.saturating_add(1);
                    if want.saturating_mul(core::mem::size_of::<T>()) <= SURE_BYTES {
                        // A size that is surely fine: the direct way, without
                        // the checks of a reservation (a short batch's cost).
                        *items = Vec::with_capacity(want);
                    } else {
                        // A hint is only a hint (an endless source says
                        // `usize::MAX`): if it cannot be had, grow as we go.
                        let _ = items.try_reserve_exact(want);
                    }
                }
                items.push(value);
            }
            Self::InOrder(items) => {
                let want = index.saturating_add(1).saturating_add(more);
                let mut sparse: Vec<Option<T>> = Vec::new();
                let _ = sparse.try_reserve_exact(want.max(items.len()));
                sparse.extend(items.drain(..).map(Some));
                // Every place the hint promises (as far as the reservation
                // went), so that the outputs still to come land in place
                // through `put`'s inlined path.
                let len = want.min(sparse.capacity()).max(index + 1);
                sparse.resize_with(len, || None);
                *self = Self::Sparse(sparse);
                self.put(index, value, more);
            }
            Self::Sparse(items) => {
                if index >= items.len() {
                    let want = index.saturating_add(1).saturating_add(more);
                    let _ = items.try_reserve(want - items.len());
                    items.resize_with(index + 1, || None);
                }
                debug_assert!(items[index].is_none(), "task {index} reported twice");
                items[index] = Some(value);
            }
        }
    }

    /// Frees what was stored: the batch failed and its outputs will not be used.
    pub(crate) fn discard(&mut self) {
        *self = Self::new();
    }

    /// Every output, in index order. There must be one for each index below
    /// `len`, the number of tasks pulled.
    pub(crate) fn into_vec(self, len: usize) -> Vec<T> {
        match self {
            Self::InOrder(items) => {
                assert_eq!(
                    items.len(),
                    len,
                    "fanout: task {} has no result: it panicked (in its poll or its `Drop`) \
                     in an earlier poll of this batch",
                    items.len()
                );
                items
            }
            Self::Sparse(mut items) => {
                // Places past `len` come only from a size hint that promised
                // more tasks than were pulled, and hold nothing: an output
                // there would be a task this batch never reported.
                assert!(
                    items.len() <= len || items[len..].iter().all(Option::is_none),
                    "fanout: an output past the last task pulled"
                );
                items.resize_with(len, || None);
                items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| match item {
                        Some(item) => item,
                        None => panic!(
                            "fanout: task {index} has no result: it panicked (in its poll or \
                             its `Drop`) in an earlier poll of this batch"
                        ),
                    })
                    .collect()
            }
        }
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
        assert!(matches!(ordered, Ordered::InOrder(_)));
        assert_eq!(ordered.into_vec(5), [0, 10, 20, 30, 40]);

        let mut ordered = Ordered::new();
        for i in [0, 1, 4, 2, 3] {
            ordered.put(i, i * 10, 0);
        }
        assert!(matches!(ordered, Ordered::Sparse(_)));
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
        ordered.put(5, 50, 94);
        let Ordered::Sparse(items) = &ordered else {
            panic!("out of order")
        };
        let (len, place) = (items.len(), items.as_ptr());
        assert_eq!(len, 100, "sized by the hint");
        assert_eq!(ordered.more_hint(hint), 0, "no hint once out of order");
        assert_eq!(asked.get(), 1, "the hint was not computed");
        for i in (0..100).filter(|&i| i != 5) {
            ordered.put(i, i * 10, 0);
        }
        let Ordered::Sparse(items) = &ordered else {
            panic!("still out of order")
        };
        assert_eq!((items.len(), items.as_ptr()), (len, place), "never moved");
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

    #[test]
    fn zero_sized_outputs() {
        let mut ordered = Ordered::new();
        for i in scrambled(70, 3) {
            ordered.put(i, (), 0);
        }
        assert_eq!(ordered.into_vec(70).len(), 70);
    }
}
