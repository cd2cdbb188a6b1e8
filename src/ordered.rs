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
/// costs one more pass at the end.
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
}
