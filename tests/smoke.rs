use fanout::*;
use futures::executor::block_on;

#[test]
fn smoke() {
    assert_eq!(block_on(join_all((0..5).map(|i| async move { i }))), [0, 1, 2, 3, 4]);
    let v: Vec<i32> = block_on(join_all(Vec::<core::future::Ready<i32>>::new()));
    assert!(v.is_empty());
    let r = block_on(when_all((0..1000).map(|i| async move {
        yield_now().await;
        Ok::<_, ()>(i)
    })).limit(7));
    assert_eq!(r.unwrap().len(), 1000);
    let r = block_on(when_all(from_stream(futures::stream::iter((0..100).map(|i| async move {
        yield_now().await;
        Ok::<_, ()>(i)
    })))));
    assert_eq!(r.unwrap(), (0..100).collect::<Vec<_>>());
}

async fn yield_now() {
    let mut yielded = false;
    core::future::poll_fn(|cx| {
        if yielded {
            core::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            core::task::Poll::Pending
        }
    })
    .await
}
