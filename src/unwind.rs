//! [`LostOnUnwind`]: notes which task (or item) a panic took, at no cost
//! unless something unwinds.

/// Records `index` as lost to a panic when dropped: held across a call that
/// may panic (a task's poll, a processor) and forgotten after it, so only a
/// call that unwinds records it. The first loss is the one kept (the one a
/// batch names when it cannot resolve without it).
pub(crate) struct LostOnUnwind<'a> {
    pub(crate) lost: &'a mut Option<usize>,
    pub(crate) index: usize,
}

impl Drop for LostOnUnwind<'_> {
    fn drop(&mut self) {
        self.lost.get_or_insert(self.index);
    }
}

impl LostOnUnwind<'_> {
    /// Runs `f` with the guard held.
    #[inline(always)]
    pub(crate) fn call<T>(lost: &mut Option<usize>, index: usize, f: impl FnOnce() -> T) -> T {
        let guard = LostOnUnwind { lost, index };
        let out = f();
        core::mem::forget(guard);
        out
    }
}
