//! `CancelSource` and `CancelToken`: who may cancel, and who may watch.

use super::node::{Inserted, Node};
use crate::sync::Arc;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use futures_core::FusedFuture;

/// The right to cancel: .NET's `CancellationTokenSource`.
///
/// A source hands out [`CancelToken`]s; [`cancel`](CancelSource::cancel)
/// cancels every one of them at once (and every child token made from them).
/// Dropping a source does **not** cancel it — use
/// [`drop_guard`](CancelSource::drop_guard) for that.
///
/// ```
/// use fanout::cancel::CancelSource;
///
/// let source = CancelSource::new();
/// let token = source.token();
/// assert!(!token.is_canceled());
/// source.cancel();
/// assert!(token.is_canceled());
/// futures::executor::block_on(token.canceled()); // ready at once now
/// ```
pub struct CancelSource {
    pub(super) node: Arc<Node>,
}

/// A handle that observes a [`CancelSource`]: .NET's `CancellationToken`.
///
/// Cheap to clone (one reference count), `Send + Sync`, and works without
/// `std`. Pass one to each task that should stop when the batch does, or hand
/// [`canceled()`](CancelToken::canceled) to a batch's `.cancel_on`.
#[derive(Clone)]
pub struct CancelToken {
    node: Arc<Node>,
}

impl CancelSource {
    /// A new source, not canceled.
    pub fn new() -> Self {
        Self { node: Node::new() }
    }

    /// A source that is canceled as soon as any of `tokens` is (and at once if
    /// one already is): .NET's `CreateLinkedTokenSource`. Canceling the linked
    /// source does not touch the tokens it was linked to. Once the linked
    /// source and all its tokens are dropped, it is unlinked from each parent.
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    ///
    /// let (shutdown, user) = (CancelSource::new(), CancelSource::new());
    /// let either = CancelSource::linked([&shutdown.token(), &user.token()]);
    /// user.cancel();
    /// assert!(either.is_canceled());
    /// assert!(!shutdown.is_canceled());
    /// ```
    #[must_use]
    pub fn linked<'a>(tokens: impl IntoIterator<Item = &'a CancelToken>) -> Self {
        Self {
            node: Node::with_parents(tokens.into_iter().map(|token| &token.node)),
        }
    }

    /// A token of this source.
    #[must_use]
    pub fn token(&self) -> CancelToken {
        CancelToken {
            node: Arc::clone(&self.node),
        }
    }

    /// Cancels the source: every token sees it, every waiting `canceled()`
    /// future is woken, every callback runs once (last registered first), and
    /// every child token is canceled. Idempotent. Never waits for the
    /// source's internal lock (a registration holding it delivers instead);
    /// wakers and callbacks run on the delivering thread, never under the
    /// lock.
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// Whether the source was canceled.
    pub fn is_canceled(&self) -> bool {
        self.node.is_canceled()
    }

    /// A second handle with the right to cancel the same source (for the
    /// crate's own deadline futures; not public, so that the right to cancel
    /// is only ever passed on deliberately, by moving the source).
    pub(crate) fn clone_handle(&self) -> Self {
        Self {
            node: Arc::clone(&self.node),
        }
    }

    /// Cancels the source when the returned guard is dropped — structured
    /// cancellation of a scope (tokio's `DropGuard`). [`DropGuard::disarm`]
    /// hands the source back instead.
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    ///
    /// let source = CancelSource::new();
    /// let token = source.token();
    /// {
    ///     let _guard = source.drop_guard();
    ///     assert!(!token.is_canceled());
    /// }
    /// assert!(token.is_canceled());
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { source: Some(self) }
    }
}

impl Default for CancelSource {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelSource")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}

impl CancelToken {
    /// A token that is never canceled (.NET's `CancellationToken.None`): its
    /// own source is dropped at once.
    #[must_use]
    pub fn never() -> Self {
        CancelSource::new().token()
    }

    /// Whether the source was canceled. Once true, always true.
    pub fn is_canceled(&self) -> bool {
        self.node.is_canceled()
    }

    /// A future that completes when the source is canceled (at once if it
    /// already was). It is `Unpin`, `'static` (it holds its own reference),
    /// and fused; any number may wait at once. Hand it to a batch's
    /// `.cancel_on`.
    ///
    /// # Cancellation
    ///
    /// Dropping the future unregisters it; nothing is lost.
    pub fn canceled(&self) -> Canceled {
        Canceled {
            node: Arc::clone(&self.node),
            key: None,
            done: false,
        }
    }

    /// A child token: canceled when this token's source is (at once if it
    /// already is), while canceling the child — through
    /// [`CancelSource::linked`] with this token alone, which is what `child`
    /// is — never touches the parent. A dropped child is unlinked from its
    /// parent, so a long-lived parent does not grow with short-lived children.
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    ///
    /// let parent = CancelSource::new();
    /// let child = parent.token().child();
    /// parent.cancel();
    /// assert!(child.is_canceled());
    /// ```
    #[must_use]
    pub fn child(&self) -> CancelToken {
        CancelSource::linked([self]).token()
    }

    pub(crate) fn node(&self) -> &Arc<Node> {
        &self.node
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("canceled", &self.is_canceled())
            .finish()
    }
}

/// The future of [`CancelToken::canceled`].
#[must_use = "futures do nothing unless polled"]
pub struct Canceled {
    node: Arc<Node>,
    /// Where our waker is registered, once it is.
    key: Option<usize>,
    done: bool,
}

impl Future for Canceled {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done || self.node.is_canceled() {
            self.done = true;
            return Poll::Ready(());
        }
        match self.key {
            Some(key) => self.node.update_waker(key, cx.waker()),
            None => match self.node.insert_waker(cx.waker()) {
                Inserted::Key(key) => self.key = Some(key),
                Inserted::AlreadyCanceled(_) => {
                    self.done = true;
                    return Poll::Ready(());
                }
            },
        }
        // Canceled between our look and the registration: the delivery may
        // already have passed us by, so look once more.
        if self.node.is_canceled() {
            self.done = true;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl FusedFuture for Canceled {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Drop for Canceled {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.node.remove(key);
        }
    }
}

impl fmt::Debug for Canceled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceled")
            .field("done", &self.done)
            .finish()
    }
}

/// Cancels its source when dropped; made by [`CancelSource::drop_guard`].
#[must_use = "dropping the guard cancels at once"]
pub struct DropGuard {
    source: Option<CancelSource>,
}

impl DropGuard {
    /// Gives the source back without canceling it.
    pub fn disarm(mut self) -> CancelSource {
        self.source
            .take()
            .expect("a guard holds its source until dropped")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(source) = &self.source {
            source.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard")
            .field("source", &self.source)
            .finish()
    }
}
