//! What every fixed face shares: the cancel signal, fail-fast and the
//! graceful stop.

use super::storage::Storage;
use crate::cancel::CancelSource;
use crate::signal::Signal;
use core::pin::Pin;
use core::task::Context;

/// The state of a fixed batch besides its elements.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) fail_fast: bool,
    /// Stop gracefully: cancel this source and wait, instead of dropping.
    pub(crate) graceful: Option<CancelSource>,
    /// The batch was told to stop (its signal, fail-fast, a race's winner):
    /// the signal is not polled again.
    pub(crate) stopping: bool,
    /// The batch dropped elements: its signal or fail-fast stopped it
    /// without a graceful stop (which drops nothing: every element then
    /// ends on its own, and its outcome is the verdict).
    pub(crate) canceled: bool,
    pub(crate) done: bool,
}

impl Control {
    /// Polls the signal, unless the batch already stops; cancels the batch
    /// when it has fired.
    #[inline(always)]
    pub(crate) fn check_signal<S: Storage, C: Signal>(
        &mut self,
        signal: Pin<&mut C>,
        slots: Pin<&mut S>,
        cx: &mut Context<'_>,
    ) {
        if C::CAN_FIRE && !self.stopping && signal.poll(cx).is_ready() {
            self.stop(slots);
        }
    }

    /// Stops the batch: drops every element still running, or, with a
    /// graceful stop, cancels its source and lets them end on their own.
    /// Idempotent.
    pub(crate) fn stop<S: Storage>(&mut self, slots: Pin<&mut S>) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        match &self.graceful {
            Some(stop) => stop.cancel(),
            None => {
                self.canceled = true;
                slots.cancel();
            }
        }
    }

    /// Runs one pass over the elements: with fail-fast, `on_end` sees each
    /// element that ended and says whether it stops the batch (a fault);
    /// without, the pass polls every running element in one go. `true` once
    /// every element has ended.
    #[inline(always)]
    pub(crate) fn pass<S: Storage>(
        &mut self,
        mut slots: Pin<&mut S>,
        cx: &mut Context<'_>,
        mut on_end: impl FnMut(&S, usize) -> bool,
    ) -> bool {
        slots.as_mut().start_pass();
        if self.stopping && self.graceful.is_none() {
            // Stopped: nothing runs on. (A panicking `Drop` may have cut the
            // stop's cancel short; this finishes it rather than poll what
            // it left.)
            slots.as_mut().cancel();
        }
        if !self.fail_fast || self.stopping {
            slots.as_mut().poll_all(cx);
            return slots.all_ended();
        }
        while let Some(index) = slots.as_mut().poll_next(cx) {
            if on_end(&*slots, index) {
                self.stop(slots.as_mut());
            }
        }
        slots.all_ended()
    }
}
