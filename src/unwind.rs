//! [`LostOnUnwind`]: notes which task (or item) a panic took, at no cost
//! unless something unwinds.

/// Records `at` (a task's index, or where it is) as lost to a panic when
/// dropped: held across a call that may panic (a task's poll and the drop
/// of its finished future, a processor) and forgotten after it, so only a
/// call that unwinds records it. The first loss is the one kept (the one a
/// batch names when it cannot resolve without it).
pub(crate) struct LostOnUnwind<'a, T: Copy> {
    pub(crate) lost: &'a mut Option<T>,
    pub(crate) at: T,
}

impl<T: Copy> Drop for LostOnUnwind<'_, T> {
    fn drop(&mut self) {
        self.lost.get_or_insert(self.at);
    }
}

impl<T: Copy> LostOnUnwind<'_, T> {
    /// Runs `f` with the guard held.
    #[inline(always)]
    pub(crate) fn call<R>(lost: &mut Option<T>, at: T, f: impl FnOnce() -> R) -> R {
        let guard = LostOnUnwind { lost, at };
        let out = f();
        core::mem::forget(guard);
        out
    }
}
