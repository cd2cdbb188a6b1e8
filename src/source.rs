//! Where a batch's tasks come from: pulled lazily, one at a time, only when the
//! batch has room for another task in flight.
//!
//! Any [`IntoIterator`] whose items are [`IntoFuture`] is a source, so
//! `items.into_iter().map(body)` is .NET's `ForEachAsync` body over `items`. A
//! [`Stream`] of futures is a source once wrapped in [`from_stream`]: the name
//! says that the batch will poll the stream for its next task.
//!
//! The engine calls the source only from its own `poll`, never re-entrantly,
//! never after the batch was canceled or failed fast, and never when the batch
//! already has as many tasks in flight as its limit allows.

use core::future::{Future, IntoFuture};
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::Stream;
use pin_project_lite::pin_project;

mod sealed {
    pub trait Sealed {}
}

/// A lazily pulled supply of tasks. Implemented by [`IterSource`] and
/// [`FromStream`]; you get one from any iterator of futures through
/// [`IntoSource`], or from a stream through [`from_stream`].
///
/// This trait is sealed: fanout decides how it pulls, so that it can promise
/// that a source is never re-entered and never pulled after cancellation.
pub trait Source: sealed::Sealed {
    /// The future of one task.
    type Task: Future;

    /// Pulls the next task, if one is available now.
    fn poll_next_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Task>>;

    /// Bounds on how many tasks remain, as [`Iterator::size_hint`]. Used only to
    /// size the batch's storage up front; a wrong hint costs memory or an extra
    /// allocation, never correctness.
    fn size_hint(&self) -> (usize, Option<usize>);
}

/// Anything a batch can be built from: every `IntoIterator` of `IntoFuture`s,
/// and a [`FromStream`].
///
/// ```
/// // A Vec of futures, a range mapped to futures, an array: all sources.
/// let a = fanout::join_all(vec![std::future::ready(1), std::future::ready(2)]);
/// let b = fanout::join_all((0..3).map(|i| async move { i * 10 }));
/// let c = fanout::join_all([core::future::ready('x')]);
/// futures::executor::block_on(async {
///     assert_eq!(a.await, [1, 2]);
///     assert_eq!(b.await, [0, 10, 20]);
///     assert_eq!(c.await, ['x']);
/// });
/// ```
// `do_not_recommend` on the blanket impl below makes a wrong argument fail
// with this message, not with "not an iterator" from deep inside that impl.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a source of tasks: an iterator of futures, or `fanout::from_stream(stream)`",
    label = "expected a `Vec`, an array or an iterator of futures",
    note = "a tuple of futures of different types is joined in place: `use fanout::Join;` then `(a, b, c).when_all()` (or `.join_all()`, `.settle_all()`)",
    note = "a `Stream` of futures becomes a source through `fanout::from_stream(stream)`"
)]
pub trait IntoSource {
    /// The source this turns into.
    type Source: Source;

    /// Turns `self` into a source.
    fn into_source(self) -> Self::Source;
}

/// A [`Source`] over an iterator of [`IntoFuture`]s.
#[derive(Debug, Clone)]
pub struct IterSource<I> {
    iter: I,
}

impl<I> sealed::Sealed for IterSource<I> {}

impl<I> Source for IterSource<I>
where
    I: Iterator,
    I::Item: IntoFuture,
{
    type Task = <I::Item as IntoFuture>::IntoFuture;

    #[inline]
    fn poll_next_task(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Task>> {
        let iter = &mut self.get_mut().iter;
        Poll::Ready(iter.next().map(IntoFuture::into_future))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

// The iterator is never pinned (pinning is not structural for it), so the
// source may move freely whatever `I` is.
impl<I> Unpin for IterSource<I> {}

pin_project! {
    /// A [`Source`] that pulls its tasks from a [`Stream`] of [`IntoFuture`]s.
    /// Made by [`from_stream`].
    #[derive(Debug)]
    pub struct FromStream<S> {
        #[pin]
        stream: S,
    }
}

impl<S> sealed::Sealed for FromStream<S> {}

impl<S> Source for FromStream<S>
where
    S: Stream,
    S::Item: IntoFuture,
{
    type Task = <S::Item as IntoFuture>::IntoFuture;

    #[inline]
    fn poll_next_task(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Task>> {
        self.project()
            .stream
            .poll_next(cx)
            .map(|item| item.map(IntoFuture::into_future))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.stream.size_hint()
    }
}

/// Uses a [`Stream`] of futures as the source of a batch: the batch polls the
/// stream for its next task whenever it has room, and finishes when the stream
/// has ended and every task has.
///
/// ```
/// use futures::stream;
///
/// let tasks = stream::iter((1..=3).map(|i| async move { Ok::<_, ()>(i * i) }));
/// let squares = futures::executor::block_on(fanout::when_all(fanout::from_stream(tasks)));
/// assert_eq!(squares, Ok(vec![1, 4, 9]));
/// ```
#[must_use = "a source does nothing until a batch pulls from it"]
pub fn from_stream<S>(stream: S) -> FromStream<S>
where
    S: Stream,
    S::Item: IntoFuture,
{
    FromStream { stream }
}

#[diagnostic::do_not_recommend]
impl<I> IntoSource for I
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    type Source = IterSource<I::IntoIter>;

    #[inline]
    fn into_source(self) -> Self::Source {
        IterSource {
            iter: self.into_iter(),
        }
    }
}

impl<S> IntoSource for FromStream<S>
where
    S: Stream,
    S::Item: IntoFuture,
{
    type Source = Self;

    #[inline]
    fn into_source(self) -> Self {
        self
    }
}
