//! The one door through which every atomic and interior-mutable cell enters the
//! crate.
//!
//! Under `cfg(fanout_loom)` the same names come from `loom`, so the lock-free parts
//! (the ready set and the parent waker) are model-checked with the very code that
//! ships. Nothing outside this module names `core::sync::atomic` or
//! `core::cell::UnsafeCell` directly.

#[cfg(not(fanout_loom))]
pub(crate) use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(fanout_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};

/// An `UnsafeCell` with loom's closure-based API, so one body compiles both ways.
#[cfg(not(fanout_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(fanout_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a mutable pointer to the contents. The caller upholds the
    /// exclusivity that dereferencing it requires.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a shared pointer to the contents. The caller upholds that
    /// nobody writes them meanwhile.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(fanout_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Tells the processor (or loom's scheduler) that we are spinning.
#[inline(always)]
pub(crate) fn spin_loop() {
    #[cfg(not(fanout_loom))]
    core::hint::spin_loop();
    #[cfg(fanout_loom)]
    loom::thread::yield_now();
}
