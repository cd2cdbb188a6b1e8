//! A leaf future that allocates nothing: it wakes itself and returns
//! `Pending` once, then is ready with its value. Shared by the test binaries
//! that measure the heap (`alloc_count`, `peak_memory`), which include this
//! file alone rather than the whole support module.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Wakes itself and returns `Pending` once, then `Ready(value)`.
pub struct YieldOnce<T> {
    yielded: bool,
    value: Option<T>,
}

impl<T> YieldOnce<T> {
    pub fn new(value: T) -> Self {
        Self {
            yielded: false,
            value: Some(value),
        }
    }
}

impl<T> Unpin for YieldOnce<T> {}

impl<T> Future for YieldOnce<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.yielded {
            Poll::Ready(self.value.take().expect("polled after completion"))
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
