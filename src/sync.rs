//! The one door through which every atomic, reference count and
//! interior-mutable cell enters the crate.
//!
//! - By default the atomics come from `core::sync::atomic` and `Arc` from
//!   `alloc::sync`.
//! - With the `portable-atomic` feature they come from `portable-atomic` and
//!   `portable-atomic-util`, so the crate builds for targets without
//!   compare-and-swap (`thumbv6m-none-eabi`, where `alloc::sync` does not
//!   exist) — the same code, one switch.
//! - Under `cfg(fanout_loom)` the atomics and the cell come from `loom`, so the
//!   lock-free parts (the ready set, the parent waker, the cancellation node)
//!   are model-checked with the very code that ships. (`Arc` stays
//!   `alloc::sync::Arc` there: loom's lacks `new_cyclic` and `Weak`.)
//!
//! Nothing outside this module names `core::sync::atomic`, `alloc::sync` or
//! `core::cell::UnsafeCell` directly.

#[cfg(all(not(fanout_loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{AtomicUsize, Ordering};

#[cfg(all(
    not(fanout_loom),
    not(feature = "portable-atomic"),
    not(target_has_atomic = "ptr")
))]
compile_error!(
    "fanout: this target has no atomic compare-and-swap; enable fanout's \
     `portable-atomic` feature, and in your binary choose how portable-atomic \
     provides it (its `critical-section` or `unsafe-assume-single-core` feature)"
);

#[cfg(all(not(fanout_loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{AtomicUsize, Ordering};

#[cfg(fanout_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};

#[cfg(any(fanout_loom, not(feature = "portable-atomic")))]
pub(crate) use alloc::sync::{Arc, Weak};

#[cfg(all(not(fanout_loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic_util::{Arc, Weak};

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
