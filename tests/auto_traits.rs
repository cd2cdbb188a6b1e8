//! Compile-time promises about the public types: batches are `Send` and `Sync`
//! when their tasks are, `Unpin` whatever their tasks are (tasks live pinned
//! on the heap), and `Debug` without asking anything of the tasks.

use core::future::Future;
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::task::{Context, Poll};
use fanout::source::IterSource;

fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}

/// A task future that is `!Unpin` and not `Debug`.
struct Pinned(PhantomPinned);

impl Future for Pinned {
    type Output = Result<u8, u16>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(0))
    }
}

type Src = IterSource<std::vec::IntoIter<Pinned>>;

#[test]
fn batches_are_send_sync_and_unpin_over_unpin_free_tasks() {
    send_sync::<fanout::JoinAll<Src>>();
    send_sync::<fanout::WhenAll<Src>>();
    send_sync::<fanout::SettleAll<Src>>();
    send_sync::<fanout::WhenEach<Src>>();
    send_sync::<fanout::WhenAny<Src>>();
    send_sync::<fanout::FirstOk<Src>>();
    send_sync::<fanout::ForEach<Src, fn(usize, u8)>>();
    unpin::<fanout::JoinAll<Src>>();
    unpin::<fanout::WhenAll<Src>>();
    unpin::<fanout::SettleAll<Src>>();
    unpin::<fanout::WhenEach<Src>>();
    unpin::<fanout::WhenAny<Src>>();
    unpin::<fanout::FirstOk<Src>>();
    unpin::<fanout::ForEach<Src, fn(usize, u8)>>();
    send_sync::<fanout::Faults<u16>>();
    send_sync::<fanout::Failure<u16>>();
}

#[test]
fn batches_are_debug_without_debug_tasks() {
    let tasks = || vec![Pinned(PhantomPinned), Pinned(PhantomPinned)];
    let batch = fanout::when_all(tasks()).limit(1);
    assert_eq!(
        format!("{batch:?}"),
        "WhenAll(Batch { pulled: 0, in_flight: 0, limit: 1, source_done: false, canceled: false, finished: false })"
    );
    let mut batch = Box::pin(fanout::join_all(tasks()));
    let waker = futures::task::noop_waker();
    assert!(batch
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_ready());
    assert!(format!("{batch:?}").contains("pulled: 2"));
    assert!(format!("{batch:?}").contains("finished: true"));
    let _ = format!("{:?}", fanout::when_any(tasks()));
    let _ = format!("{:?}", fanout::when_each(tasks()));
}
