//! The snapshot of one round: the non-empty leaf words taken from every
//! block's ready set, kept in the engine itself while there are few of them.
//!
//! A round of a small batch (up to 64 slots per block: one leaf word) takes at
//! most one entry per block, so the first few entries live inline and a batch
//! of eight tasks allocates nothing for its rounds; a round that takes more
//! moves to a `Vec`, kept for the next rounds, sized once from the bound the
//! engine gives.

use alloc::vec::Vec;

/// One non-empty leaf word taken: `(block, leaf word, bits)`.
pub(crate) type Entry = (u32, usize, usize);

/// Entries kept inline before the snapshot moves to the heap.
const INLINE: usize = 4;

pub(crate) struct Snapshot {
    inline: [Entry; INLINE],
    /// Entries in `inline`, while not spilled.
    len: usize,
    /// Every entry of the round, once it had more than [`INLINE`].
    heap: Vec<Entry>,
    spilled: bool,
    /// The most entries a round can take (one per leaf word): what the heap
    /// is sized to when the snapshot first spills.
    bound: usize,
}

impl Snapshot {
    pub(crate) const fn new() -> Self {
        Self {
            inline: [(0, 0, 0); INLINE],
            len: 0,
            heap: Vec::new(),
            spilled: false,
            bound: 0,
        }
    }

    /// Empties the snapshot for a new round of at most `bound` entries.
    #[inline]
    pub(crate) fn start(&mut self, bound: usize) {
        self.len = 0;
        self.heap.clear();
        self.spilled = false;
        self.bound = bound;
    }

    /// Whether the snapshot holds no entry.
    pub(crate) fn is_empty(&self) -> bool {
        if self.spilled {
            self.heap.is_empty()
        } else {
            self.len == 0
        }
    }

    /// Adds an entry at the end.
    #[inline]
    pub(crate) fn push(&mut self, entry: Entry) {
        if !self.spilled {
            if self.len < INLINE {
                self.inline[self.len] = entry;
                self.len += 1;
                return;
            }
            self.spill();
        }
        self.heap.push(entry);
    }

    #[cold]
    fn spill(&mut self) {
        if self.heap.capacity() < self.bound {
            self.heap.reserve_exact(self.bound);
        }
        self.heap.extend_from_slice(&self.inline[..self.len]);
        self.spilled = true;
    }

    /// Puts the entries in (block, leaf word) order, one entry per leaf word:
    /// for a round that took a block's shared and local bit sets, each run
    /// of entries in order but not the two together.
    pub(crate) fn sort_and_merge(&mut self) {
        let entries = self.entries_mut();
        entries.sort_unstable_by_key(|&(block, word, _)| (block, word));
        let mut kept = 0;
        for i in 0..entries.len() {
            let entry = entries[i];
            if kept > 0 && entries[kept - 1].0 == entry.0 && entries[kept - 1].1 == entry.1 {
                entries[kept - 1].2 |= entry.2;
            } else {
                entries[kept] = entry;
                kept += 1;
            }
        }
        if self.spilled {
            self.heap.truncate(kept);
        } else {
            self.len = kept;
        }
    }

    #[inline]
    fn entries_mut(&mut self) -> &mut [Entry] {
        if self.spilled {
            &mut self.heap
        } else {
            &mut self.inline[..self.len]
        }
    }

    /// Entry `pos`, if the round has that many. (The round walks a copy of
    /// the entry it is on, so entries are never updated in place.)
    #[inline(always)]
    pub(crate) fn get(&self, pos: usize) -> Option<Entry> {
        if self.spilled {
            self.heap.get(pos).copied()
        } else {
            self.inline[..self.len].get(pos).copied()
        }
    }
}

impl Extend<Entry> for Snapshot {
    #[inline]
    fn extend<I: IntoIterator<Item = Entry>>(&mut self, entries: I) {
        for entry in entries {
            self.push(entry);
        }
    }
}

#[cfg(all(test, not(fanout_loom)))]
mod tests {
    use super::{Snapshot, INLINE};
    use alloc::vec::Vec;

    fn entries(snapshot: &Snapshot) -> Vec<(u32, usize, usize)> {
        let mut out = Vec::new();
        while let Some(entry) = snapshot.get(out.len()) {
            out.push(entry);
        }
        out
    }

    #[test]
    fn keeps_few_entries_inline_and_spills_the_rest_in_order() {
        let mut snapshot = Snapshot::new();
        for n in [0, 1, INLINE, INLINE + 1, 3 * INLINE] {
            snapshot.start(n);
            let want: Vec<_> = (0..n).map(|i| (i as u32, i, i + 1)).collect();
            snapshot.extend(want.iter().copied());
            assert_eq!(snapshot.spilled, n > INLINE);
            assert_eq!(entries(&snapshot), want);
        }
    }
}
