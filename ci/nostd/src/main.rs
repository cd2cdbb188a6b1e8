//! fanout on bare metal: `when_all`, `when_each`, `.limit`, `.fail_fast` and a
//! `CancelToken`, with `default-features = false`, a global allocator of its
//! own and a panic handler — everything a firmware image needs. Built (and
//! linked) by `ci/test nostd`; nothing runs it.
//!
//! `_start` is the entry symbol the linker looks for, so the whole demo is kept
//! in the image without a runtime crate such as `cortex-m-rt`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::future::Future;
use core::pin::{pin, Pin};
use core::ptr;
use core::task::{Context, Poll, Waker};
use fanout::cancel::CancelSource;
use fanout::{when_all, when_each, Failure};
use futures_core::Stream;
use portable_atomic::{AtomicUsize, Ordering};

// ------------------------------------------------------------------ allocator

/// Bytes of heap, in a static array.
const HEAP_SIZE: usize = 16 * 1024;

#[repr(C, align(8))]
struct HeapBytes(UnsafeCell<[u8; HEAP_SIZE]>);

// SAFETY: the bytes are only handed out by `Arena`, each range to one owner.
unsafe impl Sync for HeapBytes {}

static HEAP_BYTES: HeapBytes = HeapBytes(UnsafeCell::new([0; HEAP_SIZE]));

/// A bump allocator that rewinds when nothing is allocated: small, lock-free
/// and interrupt-safe. The state is one word — live allocations in the high
/// half, the next free offset in the low half — so a single compare-and-swap
/// moves both and no rewind can race an allocation.
struct Arena {
    state: AtomicUsize,
}

/// Bits of `state` holding the next free offset (`HEAP_SIZE` fits).
const OFFSET_BITS: u32 = 16;
const OFFSET_MASK: usize = (1 << OFFSET_BITS) - 1;
const _: () = assert!(HEAP_SIZE <= OFFSET_MASK);

// SAFETY: `alloc` hands out disjoint, suitably aligned ranges of
// `HEAP_BYTES` (the CAS reserves `start..end` before anyone can reserve past
// it), and the offset goes back to 0 only when no allocation is live.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = HEAP_BYTES.0.get().cast::<u8>();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let next = state & OFFSET_MASK;
            let live = state >> OFFSET_BITS;
            // Align the address, not just the offset.
            let pad = base.wrapping_add(next).align_offset(layout.align());
            let Some(end) = next
                .checked_add(pad)
                .and_then(|start| start.checked_add(layout.size()))
            else {
                return ptr::null_mut();
            };
            if end > HEAP_SIZE || live + 1 > usize::MAX >> OFFSET_BITS {
                return ptr::null_mut();
            }
            let new = ((live + 1) << OFFSET_BITS) | end;
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                // SAFETY: `next + pad + size <= HEAP_SIZE`: inside the array.
                Ok(_) => return unsafe { base.add(next + pad) },
                Err(actual) => state = actual,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let live = (state >> OFFSET_BITS) - 1;
            let next = if live == 0 { 0 } else { state & OFFSET_MASK };
            let new = (live << OFFSET_BITS) | next;
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }
}

#[global_allocator]
static ALLOCATOR: Arena = Arena {
    state: AtomicUsize::new(0),
};

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

// ------------------------------------------------------------------ executor

/// Polls `future` until it is ready. Firmware would sleep (`wfi`) between
/// polls and wake on the waker; busy polling is enough to prove the build.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Ready on the second poll, after waking itself: a task that really waits.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A sensor read that fails for channel 5.
async fn read(channel: u32) -> Result<u32, u32> {
    YieldOnce(false).await;
    if channel == 5 {
        Err(channel)
    } else {
        Ok(channel * 10)
    }
}

// ------------------------------------------------------------------ demo

/// Runs every combinator once; returns a checksum so none of it is optimized
/// away.
#[no_mangle]
pub extern "C" fn fanout_demo() -> u32 {
    let mut check = 0;

    // Every value, at most 3 reads in flight.
    if let Ok(values) = block_on(when_all((0..5).map(read)).limit(3)) {
        check += values.iter().sum::<u32>();
    }

    // The first fault cancels the rest.
    if let Err(Failure::Faulted(faults)) = block_on(when_all((0..8).map(read)).fail_fast()) {
        check += faults.indices().map(|i| i as u32).sum::<u32>();
    }

    // Each reading as it arrives.
    let mut each = pin!(when_each((0..4).map(read)).limit(2));
    let mut order = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match each.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some((index, _reading))) => order.push(index),
            Poll::Ready(None) => break,
            Poll::Pending => {}
        }
    }
    check += order.len() as u32;

    // A batch canceled by a token, each task also running under it.
    let source = CancelSource::new();
    let token = source.token();
    let jobs = (0..4).map(|i| token.child().run(read(i)));
    let batch = when_all(jobs).cancel_on(token.canceled());
    source.cancel();
    if let Err(Failure::Canceled) = block_on(batch) {
        check += 1;
    }
    check
}

/// The entry point the linker starts the image at.
#[no_mangle]
pub extern "C" fn _start() -> ! {
    core::hint::black_box(fanout_demo());
    loop {
        core::hint::spin_loop();
    }
}
