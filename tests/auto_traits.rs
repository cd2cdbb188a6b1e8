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

/// Tuples and arrays (`fanout::Join`, `fanout::Race`): `Send` and `Sync`
/// exactly when their elements are (they live inside the batch), `Unpin`
/// exactly when their elements are, `Debug` without `Debug` elements, and
/// no `'static` bound: elements may borrow from the caller.
#[test]
fn fixed_batches_take_their_elements_auto_traits() {
    use fanout::fixed::{kind, FixedJoin, FixedRace};
    use fanout::{Join, Race};
    fn send_sync_value<T: Send + Sync>(_: &T) {}
    fn unpin_value<T: Unpin>(_: &T) {}
    send_sync::<FixedJoin<(Pinned, Pinned), kind::WhenAll>>();
    send_sync::<FixedJoin<[Pinned; 40], kind::SettleAll>>();
    send_sync::<FixedRace<[Pinned; 3], kind::FirstOk>>();
    let ready = || core::future::ready(Ok::<u8, u16>(1));
    unpin_value(&(ready(), ready()).when_all());
    unpin_value(&[ready(), ready()].when_any());
    send_sync_value(&[ready(), ready()].first_ok());

    // Borrowing elements: no `'static` needed.
    let names = [String::from("a"), String::from("b")];
    let lengths = (async { names[0].len() }, async { names[1].len() }).join_all();
    assert_eq!(futures::executor::block_on(lengths), (1, 1));

    let batch = (Pinned(PhantomPinned), Pinned(PhantomPinned)).when_all();
    assert_eq!(
        format!("{batch:?}"),
        "FixedJoin { len: 2, canceled: false, finished: false }"
    );
}
