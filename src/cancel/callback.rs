//! Callbacks run once on cancellation: .NET's `CancellationToken.Register`.

use super::node::{Inserted, Node};
use super::token::CancelToken;
use crate::sync::Arc;
use alloc::boxed::Box;
use core::fmt;

impl CancelToken {
    /// Runs `callback` once when the source is canceled — at once, on this
    /// thread, if it already is. Callbacks run last-registered-first, on the
    /// thread that cancels, after the token's internal lock is released (a
    /// callback may itself register, cancel, or drop registrations).
    ///
    /// Dropping the returned [`Registration`] before cancellation unregisters
    /// the callback (it never runs, and what it captured is dropped); after
    /// cancellation has started running it, dropping does not wait for it.
    ///
    /// ```
    /// use fanout::cancel::CancelSource;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let source = CancelSource::new();
    /// let log = Arc::new(Mutex::new(Vec::new()));
    /// let (a, b) = (log.clone(), log.clone());
    /// let _first = source.token().register(move || a.lock().unwrap().push("first"));
    /// let _second = source.token().register(move || b.lock().unwrap().push("second"));
    /// source.cancel();
    /// assert_eq!(*log.lock().unwrap(), ["second", "first"]); // last registered first
    /// ```
    pub fn register(&self, callback: impl FnOnce() + Send + 'static) -> Registration {
        let node = self.node();
        match node.insert_callback(Box::new(callback)) {
            Inserted::Key(key) => Registration {
                node: Some((Arc::clone(node), key)),
            },
            Inserted::AlreadyCanceled(callback) => {
                if let Some(callback) = callback {
                    callback();
                }
                Registration { node: None }
            }
        }
    }
}

/// A callback registered with [`CancelToken::register`]; dropping it before
/// cancellation unregisters the callback.
#[must_use = "dropping the registration unregisters the callback"]
pub struct Registration {
    node: Option<(Arc<Node>, usize)>,
}

impl Registration {
    /// Keeps the callback registered for the life of the token, without
    /// holding a guard.
    pub fn forget(mut self) {
        self.node = None;
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some((node, key)) = self.node.take() {
            node.remove(key);
        }
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("registered", &self.node.is_some())
            .finish()
    }
}
