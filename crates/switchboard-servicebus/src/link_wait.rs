//! Settles that need a receiver link a receive is waiting on.
//!
//! A settle (complete, abandon, dead-letter, defer) or a lock renewal goes through the link
//! its message came on, and the SDK takes that link exclusively (`&mut`) for a receive too. A
//! worker's receive loop asks for its next message on that same link as soon as it has handed
//! the last one to a handler, and on an empty queue that receive waits (up to the worker's
//! `receive_wait`): the settle used to wait it out, so a worker started from zero settled its
//! first message a whole second late.
//!
//! Other links are no way out: settlements spread over several links reach the broker in no
//! defined order (a dead-letter and a purge right after it must see it). Instead a settle
//! that has waited a little for the link (`CUT_AFTER` in `client.rs`: under load the receive
//! ends on its own by then) says it wants it ([`LinkWanted::want`]), and a receive waiting on
//! it ends its wait at once ([`LinkWanted::wanted`] is its cut), hands the link over (the
//! link's mutex is fair: the settle queued first), and then takes it back to wait out the rest
//! of its wait.
//!
//! The cut leaves the link's credit as it is (AMQP 1.0 flow control: the broker may still send
//! the one message it was granted), and the receive asks again on the same link right after
//! the settle, so a message already on its way is simply the next one it gets; only a wait
//! that runs out drains the credit. Draining on a cut would cost a rest of a round trip
//! before the next receive (see `DrainGuard` in `client.rs`) for every settle under load.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// How many settles wait for one receiver link, and the wake-up for the receive holding it.
#[derive(Default)]
pub(crate) struct LinkWanted {
    waiting: AtomicUsize,
    wake: Notify,
}

/// A settle's claim on the link, from before it asks for the link's lock until it has it.
pub(crate) struct Want<'a>(&'a LinkWanted);

impl Drop for Want<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LinkWanted {
    /// Registers a settle that needs the link and wakes a receive waiting on it. Keep the
    /// claim until the link's lock is held (dropping it on cancellation withdraws it).
    pub(crate) fn want(&self) -> Want<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_waiters();
        Want(self)
    }

    /// Whether a settle waits for the link now.
    pub(crate) fn is_wanted(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// Completes once a settle waits for the link (at once if one already does).
    pub(crate) async fn wanted(&self) {
        loop {
            // Created before the check, so a `want` in between still wakes it
            // (`notify_waiters` reaches every `Notified` that exists).
            let notified = self.wake.notified();
            if self.is_wanted() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_want_ends_the_wait_and_a_dropped_one_is_withdrawn() {
        let w = Arc::new(LinkWanted::default());
        let waiting = tokio::spawn({
            let w = Arc::clone(&w);
            async move { w.wanted().await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished(), "nobody wants the link yet");
        let claim = w.want();
        tokio::time::timeout(Duration::from_millis(1), waiting)
            .await
            .expect("the want woke the waiter")
            .expect("join");
        // Already wanted: no wait at all.
        tokio::time::timeout(Duration::from_millis(1), w.wanted())
            .await
            .expect("wanted at once");
        drop(claim);
        assert!(!w.is_wanted());
        assert!(
            tokio::time::timeout(Duration::from_secs(5), w.wanted())
                .await
                .is_err(),
            "a withdrawn claim does not cut the next wait"
        );
    }
}
