//! Concurrency slots with a part reserved for plain queues.
//!
//! Every unit of work (a message of a plain queue, a locked session of a session queue) holds a
//! slot. Sessions are long-lived compared with an IncomingCall (a call's callbacks keep coming
//! while it lasts), so a burst of callbacks could take every slot and leave a ringing call's
//! IncomingCall waiting for one. `reserved` slots may only be taken by plain-queue messages:
//! sessions never starve IncomingCall.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of one runner (cheap to clone).
#[derive(Clone, Debug)]
pub(crate) struct Slots {
    shared: Arc<Semaphore>,
    reserved: Arc<Semaphore>,
}

impl Slots {
    /// `concurrency` slots, `reserved` of them for plain queues only. At least one slot stays
    /// shared, so session queues are never locked out.
    pub(crate) fn new(concurrency: usize, reserved: usize) -> Self {
        let concurrency = concurrency.max(1);
        let reserved = reserved.min(concurrency - 1);
        Self {
            shared: Arc::new(Semaphore::new(concurrency - reserved)),
            reserved: Arc::new(Semaphore::new(reserved)),
        }
    }

    /// Wait for a slot: a plain queue takes a reserved one first, else a shared one; a session
    /// queue only a shared one. `None` if the runner is closing.
    pub(crate) async fn acquire(&self, plain: bool) -> Option<OwnedSemaphorePermit> {
        if !plain {
            return Arc::clone(&self.shared).acquire_owned().await.ok();
        }
        if let Some(p) = self.try_acquire(true) {
            return Some(p);
        }
        tokio::select! {
            biased;
            p = Arc::clone(&self.reserved).acquire_owned() => p.ok(),
            p = Arc::clone(&self.shared).acquire_owned() => p.ok(),
        }
    }

    /// A slot if one is free now.
    pub(crate) fn try_acquire(&self, plain: bool) -> Option<OwnedSemaphorePermit> {
        if plain {
            if let Ok(p) = Arc::clone(&self.reserved).try_acquire_owned() {
                return Some(p);
            }
        }
        Arc::clone(&self.shared).try_acquire_owned().ok()
    }

    /// Free slots a plain queue (`plain`) or a session queue could take now.
    pub(crate) fn available(&self, plain: bool) -> usize {
        let shared = self.shared.available_permits();
        if plain {
            shared + self.reserved.available_permits()
        } else {
            shared
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Sessions take every slot they may; an IncomingCall still gets one.
    #[tokio::test]
    async fn sessions_cannot_take_the_reserved_slots() {
        let slots = Slots::new(4, 1);
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(slots.acquire(false).await.unwrap());
        }
        assert!(
            slots.try_acquire(false).is_none(),
            "3 shared slots, all held"
        );
        let waiting = tokio::time::timeout(Duration::from_millis(50), slots.acquire(false)).await;
        assert!(waiting.is_err(), "a fourth session waits");
        assert_eq!(slots.available(false), 0);
        assert_eq!(slots.available(true), 1);
        let incoming = tokio::time::timeout(Duration::from_millis(50), slots.acquire(true))
            .await
            .expect("the IncomingCall does not wait");
        assert!(incoming.is_some());
        // A freed shared slot goes to whoever asks; plain queues may use shared slots too.
        drop(held.pop());
        assert!(slots.try_acquire(true).is_some());
    }

    #[test]
    fn at_least_one_slot_stays_shared() {
        let slots = Slots::new(2, 5);
        assert_eq!(slots.available(false), 1);
        assert_eq!(slots.available(true), 2);
        let single = Slots::new(1, 1);
        assert_eq!(
            single.available(false),
            1,
            "concurrency 1: nothing reserved"
        );
    }
}
