//! Collecting a batch's outputs back into input order.

use alloc::vec::Vec;

/// Outputs keyed by task index, handed back as a `Vec` in index order.
///
/// Tasks finish in any order; each output is put at its index, so the final
/// `Vec` is in input order whatever the completion order (TPL's `WhenAll<T>`
/// result array).
pub(crate) struct Ordered<T> {
    items: Vec<Option<T>>,
}

impl<T> Ordered<T> {
    pub(crate) const fn new() -> Self {
        Self { items: Vec::new() }
    }

    /// Stores the output of task `index`. `more` is a lower bound on the tasks
    /// still to come, so a known-size batch allocates once.
    #[inline]
    pub(crate) fn put(&mut self, index: usize, value: T, more: usize) {
        if index >= self.items.len() {
            let len = index + 1 + more;
            self.items.reserve(len - self.items.len());
            self.items.resize_with(index + 1, || None);
        }
        debug_assert!(self.items[index].is_none(), "task {index} reported twice");
        self.items[index] = Some(value);
    }

    /// Frees what was stored: the batch failed and its outputs will not be used.
    pub(crate) fn discard(&mut self) {
        self.items = Vec::new();
    }

    /// Every output, in index order. There must be one for each index below
    /// `len`, the number of tasks pulled.
    pub(crate) fn into_vec(self, len: usize) -> Vec<T> {
        let mut items = self.items;
        items.resize_with(len, || None);
        items
            .into_iter()
            .enumerate()
            .map(|(index, item)| match item {
                Some(item) => item,
                None => unreachable!("fanout: task {index} ended without an outcome"),
            })
            .collect()
    }
}
