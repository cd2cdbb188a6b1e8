//! S3 driven wakes: N ∈ {10k, 100k} `Waiter`s, each pending until its own
//! flag on a shared `Board` is set. An outside `Driver`, joined with the batch
//! by `futures::future::join`, waits until every waiter has registered its
//! waker, then sets one flag and wakes its waiter per poll, yielding to the
//! executor between wakes — so every wake is its own poll of the batch, the
//! shape of I/O completions. Two orders: `s3_reverse_wakes/<N>` (last task
//! first) and `s3_random_wakes/<N>` (a seeded shuffle, the same every run).
//!
//! What it shows: the cost of one wake in a big batch. A join that polls every
//! child on each wake is O(N²) here.
//!
//! Rows (the waiters' output is a plain `u64`, so only the joins that take any
//! future apply; `when_all` and the `try_*` joins would need a `Result`):
//!
//! - `floor`: polls every waiter once with a no-op waker, then for each index
//!   in the driver's order sets the flag, wakes, and polls exactly that waiter
//!   — knowing who was woken for free, which no combinator can.
//! - `bound::join` (`bound.rs`): a lean join, about the least work one can do
//!   that polls only the woken task, as fanout's contract asks, with a waker
//!   per task; not a peer — it shows roughly how far ahead of the peers such a
//!   design can get here.
//! - `fanout::[F; N].join_all`, at 10k only: fanout's array face, the same
//!   waiters as one `[Waiter; 10_000]` (built by `core::array::from_fn`
//!   inside the iteration) joined by `.join_all()` into a `[u64; 10_000]`.
//!   An array longer than `fanout::fixed::INLINE_MAX` (32) is handed to the
//!   engine, which polls only the woken element: this row shows that a big
//!   array is not quadratic, as a `join!`-style pass over every element on
//!   each wake would be (futures-concurrency's rows below are). The batch
//!   keeps one slot per element inline, on the stack of the thread that
//!   polls it, so the row stops at 10k (the size is a compile-time constant,
//!   and at 100k criterion's main thread would hold megabytes of it).
//! - fanout `join_all`; futures `join_all`, `FuturesOrdered`,
//!   `FuturesUnordered`; futures-buffered `join_all`,
//!   `FuturesUnorderedBounded`; futures-concurrency `Vec` `join`,
//!   `FutureGroup` — at 10k only: both scan every child's readiness bit on
//!   each wake (O(N) per wake, O(N²) here), so at 100k one iteration takes
//!   seconds and twenty samples would take minutes per row.

use crate::common::{len_is, noop_context, shuffled, sizes, Board, Driver, Scenario};
use core::future::Future;
use core::pin::Pin;
use criterion::Criterion;
use fanout::Join as _;
use futures::executor::block_on;
use futures::StreamExt as _;
use futures_concurrency::future::Join as _;

/// The largest N at which the rows that scan every child on each wake
/// (futures-concurrency's) are measured.
const SCANNING_ROWS_UP_TO: usize = 10_000;

pub fn run(c: &mut Criterion) {
    for n in sizes(&[10_000, 100_000]) {
        let reverse: Vec<usize> = (0..n).rev().collect();
        driven(c, format!("s3_reverse_wakes/{n}"), &reverse);
        let random = shuffled(n, 0x9E37_79B9_7F4A_7C15);
        driven(c, format!("s3_random_wakes/{n}"), &random);
    }
}

/// Runs `batch` (over the waiters of `board`) with a driver that wakes them in
/// `order`; returns the batch's output.
fn drive<T>(board: &Board, order: &[usize], batch: impl Future<Output = T>) -> T {
    block_on(futures::future::join(batch, Driver::new(board, order))).0
}

fn driven(c: &mut Criterion, name: String, order: &[usize]) {
    let n = order.len();
    let mut s = Scenario::new(c, name, n);
    s.bench("floor", len_is(n), || {
        let board = Board::new(n);
        let mut waiters: Vec<_> = board.waiters().collect();
        let mut cx = noop_context();
        for waiter in &mut waiters {
            assert!(Pin::new(waiter).poll(&mut cx).is_pending());
        }
        let mut out = vec![0; n];
        for &index in order {
            board.fire(index);
            match Pin::new(&mut waiters[index]).poll(&mut cx) {
                core::task::Poll::Ready(v) => out[index] = v,
                core::task::Poll::Pending => unreachable!("a fired waiter is ready"),
            }
        }
        out
    });
    s.bench("bound::join", len_is(n), || {
        let board = Board::new(n);
        drive(&board, order, crate::bound::join(board.waiters()))
    });
    s.bench("fanout::join_all", len_is(n), || {
        let board = Board::new(n);
        drive(&board, order, fanout::join_all(board.waiters()))
    });
    array_row(&mut s, order);
    s.bench("futures::join_all", len_is(n), || {
        let board = Board::new(n);
        drive(&board, order, futures::future::join_all(board.waiters()))
    });
    s.bench("futures::FuturesOrdered", len_is(n), || {
        let board = Board::new(n);
        let set: futures::stream::FuturesOrdered<_> = board.waiters().collect();
        drive(&board, order, set.collect::<Vec<_>>())
    });
    s.bench("futures::FuturesUnordered", len_is(n), || {
        let board = Board::new(n);
        let set: futures::stream::FuturesUnordered<_> = board.waiters().collect();
        drive(&board, order, set.collect::<Vec<_>>())
    });
    s.bench("futures_buffered::join_all", len_is(n), || {
        let board = Board::new(n);
        drive(&board, order, futures_buffered::join_all(board.waiters()))
    });
    s.bench(
        "futures_buffered::FuturesUnorderedBounded",
        len_is(n),
        || {
            let board = Board::new(n);
            let set: futures_buffered::FuturesUnorderedBounded<_> = board.waiters().collect();
            drive(&board, order, set.collect::<Vec<_>>())
        },
    );
    if n > SCANNING_ROWS_UP_TO {
        s.finish();
        return;
    }
    s.bench("futures_concurrency::join", len_is(n), || {
        let board = Board::new(n);
        drive(&board, order, board.waiters().collect::<Vec<_>>().join())
    });
    s.bench("futures_concurrency::FutureGroup", len_is(n), || {
        let board = Board::new(n);
        let set: futures_concurrency::future::FutureGroup<_> = board.waiters().collect();
        drive(&board, order, set.collect::<Vec<_>>())
    });
    s.finish();
}

/// The array row, at the sizes this bench compiles an array for: 10k, and
/// 1,000 (every size in test mode and in a smoke run).
fn array_row(s: &mut Scenario<'_>, order: &[usize]) {
    match order.len() {
        10_000 => array_join::<10_000>(s, order),
        1_000 => array_join::<1_000>(s, order),
        _ => {}
    }
}

/// fanout's array face: the waiters as one `[Waiter; N]`, joined by
/// `.join_all()`, which hands an array longer than `fanout::fixed::INLINE_MAX`
/// to the engine, and resolves to an array `[u64; N]`.
fn array_join<const N: usize>(s: &mut Scenario<'_>, order: &[usize]) {
    const { assert!(N > fanout::fixed::INLINE_MAX) };
    let in_order = |out: &[u64; N]| out.iter().enumerate().all(|(i, &v)| v == i as u64);
    s.bench("fanout::[F; N].join_all", in_order, || {
        let board = Board::new(N);
        drive(&board, order, board.waiter_array::<N>().join_all())
    });
}
