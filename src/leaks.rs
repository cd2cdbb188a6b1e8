//! Leak checks of the cancellation and fail-fast paths: every task a batch
//! drops, every registration a token delivers or forgets, every waker a task
//! left behind is given back. Each test counts its live objects itself, and
//! each owns heap memory, so `ci/test leak` (Miri, whose leak checker fails
//! the run if anything is still allocated at exit) proves that nothing is
//! lost, not even memory the counts cannot see. Sizes are small for Miri.

use crate::cancel::{CancelSource, CancelToken};
use crate::{first_ok, for_each, for_each_async, settle_all, when_all, when_any, when_each};
use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::{pin, Pin};
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};

extern crate std;
use std::sync::Mutex;

/// Counts the live objects of one test.
#[derive(Clone, Default)]
struct Census(Arc<AtomicUsize>);

impl Census {
    fn live(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// An object that counts itself live until dropped, and owns heap memory.
    fn object(&self) -> Live {
        self.0.fetch_add(1, Ordering::SeqCst);
        Live(self.0.clone(), Box::new([7; 32]))
    }
}

struct Live(Arc<AtomicUsize>, #[allow(dead_code)] Box<[u8; 32]>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wakers that tasks left behind, like a timer that outlives its task.
#[derive(Clone, Default)]
struct Parked(Arc<Mutex<Vec<Waker>>>);

impl Parked {
    /// Wakes every parked waker (a wake after the batch is gone) and drops it.
    fn wake_all(&self) {
        for waker in core::mem::take(&mut *self.0.lock().unwrap()) {
            waker.wake();
        }
    }
}

/// Pending forever; parks a clone of its waker at the first poll.
struct Forever(Parked, bool);

impl Future for Forever {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.1 {
            self.1 = true;
            self.0 .0.lock().unwrap().push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Wakes itself and is pending once.
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

/// Task `i` of a batch: 3 faults, multiples of 4 complete, the rest wait
/// forever (until dropped). Each owns a live object across its awaits.
fn job(census: &Census, parked: &Parked, i: usize) -> impl Future<Output = Result<usize, usize>> {
    let live = census.object();
    let parked = parked.clone();
    async move {
        let _live = live;
        YieldOnce(false).await;
        match i {
            3 => Err(i),
            i if i % 4 == 0 => Ok(i),
            _ => {
                Forever(parked, false).await;
                Ok(i)
            }
        }
    }
}

const N: usize = 10;

/// Runs `check` with a fresh census and parked list, then wakes the parked
/// wakers after the batch is gone and checks that nothing is left.
fn leak_free(check: impl FnOnce(&Census, &Parked)) {
    let (census, parked) = (Census::default(), Parked::default());
    check(&census, &parked);
    parked.wake_all();
    assert_eq!(census.live(), 0, "objects still live after the batch");
}

#[test]
fn fail_fast_drops_every_task_on_every_face() {
    use futures::executor::block_on;
    for limit in [N, 3] {
        leak_free(|c, p| {
            let jobs = (0..N).map(|i| job(c, p, i));
            assert!(block_on(when_all(jobs).limit(limit).fail_fast()).is_err());
        });
        leak_free(|c, p| {
            let jobs = (0..N).map(|i| job(c, p, i));
            let outcomes = block_on(settle_all(jobs).limit(limit).fail_fast());
            assert!(outcomes.iter().any(|o| o.is_faulted()));
        });
        leak_free(|c, p| {
            let jobs = (0..N).map(|i| job(c, p, i));
            let keep = c.object();
            let batch = for_each(jobs, move |_, _| {
                let _ = &keep;
            });
            assert!(block_on(batch.limit(limit).fail_fast()).is_err());
        });
        leak_free(|c, p| {
            let jobs = (0..N).map(|i| job(c, p, i));
            let c2 = c.clone();
            // The processor owns memory across an await too.
            let batch = for_each_async(jobs, move |_, _| {
                let live = c2.object();
                async move {
                    let _live = live;
                    YieldOnce(false).await;
                }
            });
            assert!(block_on(batch.limit(limit).fail_fast()).is_err());
        });
        // The first success drops the rest.
        leak_free(|c, p| {
            let jobs = (0..N).map(|i| job(c, p, i));
            assert_eq!(block_on(first_ok(jobs).limit(limit)), Ok((0, 0)));
        });
        // A race's rest dropped unfinished.
        leak_free(|c, p| {
            let jobs = (0..N).map(|i| job(c, p, i));
            let (_, _, rest) = block_on(when_any(jobs).limit(limit)).unwrap();
            drop(rest);
        });
    }
}

#[test]
fn a_batch_canceled_by_a_token_gives_everything_back() {
    use futures::executor::block_on;
    leak_free(|c, p| {
        let source = CancelSource::new();
        let token = source.token();
        // Each task runs under a child token that has a callback: forgotten
        // (kept until the cancel runs it) or unregistered.
        let jobs = (0..N).map(|i| {
            let child = token.child();
            let live = c.object();
            let registration = child.register(move || drop(live));
            match i % 2 {
                0 => registration.forget(),
                _ => drop(registration),
            }
            child.run(job(c, p, i + 4 * (i % 2)))
        });
        let batch = when_all(jobs).limit(4).cancel_on(token.canceled());
        let mut batch = pin!(batch);
        let waker = Waker::noop();
        assert!(batch
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        source.cancel();
        assert!(block_on(batch).is_err());
    });
    // The source is dropped without being canceled: forgotten callbacks and
    // registered waiters are freed with it.
    leak_free(|c, p| {
        let source = CancelSource::new();
        let token = source.token();
        let live = c.object();
        token.register(move || drop(live)).forget();
        let jobs = (0..N).map(|i| token.child().run(job(c, p, i)));
        let mut batch = pin!(settle_all(jobs).cancel_on(token.canceled()));
        let _ = batch.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    });
}

#[test]
fn a_graceful_stop_gives_everything_back() {
    use futures::executor::block_on;
    leak_free(|c, p| {
        let stop = CancelSource::new();
        let jobs = (0..N).map(|i| stop.token().run(job(c, p, i)));
        let outcomes = block_on(settle_all(jobs).limit(4).fail_fast().graceful(&stop));
        assert!(outcomes.iter().any(|o| o.is_faulted()));
    });
    leak_free(|c, p| {
        let stop = CancelSource::new();
        let jobs = (0..N).map(|i| stop.token().run(job(c, p, i)));
        assert!(block_on(when_all(jobs).fail_fast().graceful(&stop)).is_err());
    });
    // The first success stops the losers gracefully.
    leak_free(|c, p| {
        let stop = CancelSource::new();
        let jobs = (0..N).map(|i| stop.token().run(job(c, p, i)));
        assert_eq!(
            block_on(first_ok(jobs).limit(4).graceful(&stop)),
            Ok((0, 0))
        );
    });
    // A stream stopped by its signal streams the tasks in flight to their end.
    leak_free(|c, p| {
        use futures::StreamExt;
        let (stop, outside) = (CancelSource::new(), CancelSource::new());
        let jobs = (0..N).map(|i| stop.token().run(job(c, p, i)));
        let mut each = when_each(jobs)
            .limit(4)
            .cancel_on(outside.token().canceled())
            .graceful(&stop);
        assert_eq!(
            block_on(each.next()),
            Some((0, crate::Outcome::Completed(0)))
        );
        outside.cancel();
        let rest: Vec<_> = block_on(each.by_ref().collect());
        // 1, 2 and 3: 0's place was not refilled, the signal came first.
        assert_eq!(rest.len(), 3);
        assert_eq!(each.canceled_count(), 0);
    });
    // A race stopped by its signal before a winner: the first to end wins,
    // the rest is streamed to its end.
    leak_free(|c, p| {
        use futures::StreamExt;
        let (stop, outside) = (CancelSource::new(), CancelSource::new());
        // Jobs 1 and 2 wait forever, until `stop` fires.
        let jobs = (1..=N).map(|i| stop.token().run(job(c, p, i)));
        let mut race = when_any(jobs)
            .limit(2)
            .cancel_on(outside.token().canceled())
            .graceful(&stop);
        let waker = Waker::noop();
        assert!(pin!(&mut race)
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        outside.cancel();
        let (index, _, rest) = block_on(race).expect("not given up");
        assert_eq!(index, 0);
        assert_eq!(block_on(rest.collect::<Vec<_>>()).len(), 1);
    });
}

#[test]
fn a_batch_dropped_mid_flight_gives_everything_back() {
    let cx = &mut Context::from_waker(Waker::noop());
    leak_free(|c, p| {
        let mut batch = pin!(when_all((0..N).map(|i| job(c, p, i))).limit(3));
        assert!(batch.as_mut().poll(cx).is_pending());
    });
    leak_free(|c, p| {
        use futures_core::Stream;
        let mut each = pin!(when_each((0..N).map(|i| job(c, p, i))));
        let _ = each.as_mut().poll_next(cx);
        let _ = each.as_mut().poll_next(cx);
    });
}

#[test]
fn token_trees_give_everything_back() {
    leak_free(|c, _| {
        let root = CancelSource::new();
        let other = CancelSource::new();
        let linked = CancelSource::linked([&root.token(), &other.token()]);
        // A chain of children, each with a callback; half of it dropped
        // before the cancel, half after.
        let mut chain: Vec<CancelToken> = alloc::vec![linked.token()];
        for _ in 0..8 {
            let child = chain.last().unwrap().child();
            let live = c.object();
            child.register(move || drop(live)).forget();
            chain.push(child);
        }
        chain.truncate(4);
        let guard = CancelSource::new().drop_guard();
        let deadline = root.cancel_when(futures::future::pending::<()>());
        drop(deadline);
        root.cancel();
        assert!(chain.iter().all(CancelToken::is_canceled));
        drop(guard);
        drop((chain, linked, other));
    });
}

#[test]
fn a_panicking_task_gives_everything_back() {
    use core::panic::AssertUnwindSafe;
    use std::panic::catch_unwind;
    leak_free(|c, p| {
        let jobs = (0..N).map(|i| {
            let job = job(c, p, i);
            async move {
                if i == 5 {
                    YieldOnce(false).await;
                    panic!("task 5 panics (expected by the test)");
                }
                job.await
            }
        });
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            futures::executor::block_on(when_all(jobs).limit(4))
        }));
        assert!(panicked.is_err());
    });
}

/// A batch polled again after a task's poll panicked (issue 25): the task
/// that panicked is dropped at the next poll (never polled again), the
/// others run on and are dropped once, and the batch ends by naming the
/// task; nothing is left live, on the iterator faces and on a tuple.
#[test]
fn a_batch_polled_again_after_a_panic_gives_everything_back() {
    use crate::Join;
    use core::panic::AssertUnwindSafe;
    use std::panic::catch_unwind;
    /// Polls `batch` until a second panic comes out of it.
    fn until_second_panic<F: Future>(batch: F) {
        let mut batch = pin!(batch);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        let mut panics = 0;
        for _ in 0..20 {
            match catch_unwind(AssertUnwindSafe(|| batch.as_mut().poll(&mut cx))) {
                Ok(Poll::Ready(_)) => panic!("resolved without the lost task"),
                Ok(Poll::Pending) => {}
                Err(_) => panics += 1,
            }
            if panics == 2 {
                return;
            }
        }
        panic!("the batch never ended");
    }
    let task = |c: &Census, i: usize| {
        let live = c.object();
        async move {
            let _live = live;
            if i == 1 {
                panic!("task 1 panics (expected by the test)");
            }
            YieldOnce(false).await;
            Ok::<usize, usize>(i)
        }
    };
    leak_free(|c, _| {
        until_second_panic(when_all((0..4).map(|i| task(c, i))).limit(2));
        until_second_panic(settle_all((0..4).map(|i| task(c, i))));
        until_second_panic((task(c, 0), task(c, 1), task(c, 2)).when_all());
    });
}

/// Tuples and arrays (`crate::fixed`): the elements are pinned in place
/// (`!Unpin` async blocks here), inline or, past `INLINE_MAX`, in the
/// engine; fail-fast, a signal and a race's win drop each one once, and
/// Miri checks the array's pin projection on the way.
#[test]
fn fixed_batches_drop_every_element() {
    use crate::fixed::INLINE_MAX;
    use crate::{Join, Race};
    use futures::executor::block_on;
    fn array<const M: usize>(
        c: &Census,
        p: &Parked,
    ) -> [impl Future<Output = Result<usize, usize>>; M] {
        core::array::from_fn(|i| job(c, p, i))
    }
    fn each_face<const M: usize>() {
        leak_free(|c, p| {
            assert!(block_on(array::<M>(c, p).when_all().fail_fast()).is_err());
        });
        leak_free(|c, p| {
            let outcomes = block_on(array::<M>(c, p).settle_all().fail_fast());
            assert!(outcomes.iter().any(|o| o.is_canceled()));
        });
        leak_free(|c, p| {
            let outcomes = block_on(
                array::<M>(c, p)
                    .settle_all()
                    .cancel_on(core::future::ready(())),
            );
            assert!(outcomes.iter().all(|o| o.is_canceled()), "{outcomes:?}");
        });
        leak_free(|c, p| {
            assert_eq!(block_on(array::<M>(c, p).when_any()), Some((0, Ok(0))));
        });
        leak_free(|c, p| {
            assert_eq!(block_on(array::<M>(c, p).first_ok()), Ok((0, 0)));
        });
        // Dropped midway, with elements still running.
        leak_free(|c, p| {
            let mut batch = Box::pin(array::<M>(c, p).join_all());
            let waker = futures::task::noop_waker();
            assert!(batch
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
        });
    }
    each_face::<N>();
    each_face::<{ INLINE_MAX + 8 }>();
    leak_free(|c, p| {
        let tuple = (job(c, p, 1), job(c, p, 3), job(c, p, 4));
        let Err(failure) = block_on(tuple.when_all().fail_fast()) else {
            panic!("task 3 faults");
        };
        assert_eq!(
            failure.into_faults().map(|f| f.into_vec()),
            Some(alloc::vec![(1, 3)])
        );
    });
}
