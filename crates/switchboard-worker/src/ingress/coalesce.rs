//! Group commit for the ingress's publishes: deliveries that arrive while a send to the same
//! queue is in flight go out together in the next send.
//!
//! Each callback is its own HTTP request, and each request used to be its own send: on the
//! SQLite queue one write transaction per event (a WAL commit that rewrites the same table and
//! index pages the previous one did, under a lock the workers need too), on Service Bus one
//! round trip per event. A [`Coalescer`] keeps at most `in_flight` sends per queue; a delivery
//! that finds them all busy waits in a channel, and the next free sender takes every waiting
//! delivery that fits the queue's batch size limit into one atomic send. Nothing is answered
//! before its send committed, so the guarantee is the one a lone send gives: 2xx means durable.
//!
//! A failed shared send never lets one delivery fail another: a permanent failure (the queue
//! refuses some message and always will) re-sends every delivery of it on its own, so each gets
//! its own answer; a retryable one (the queue is unreachable) is every delivery's answer, as it
//! would have been had each been sent alone.

use std::sync::Arc;

use switchboard_queue::{OutgoingMessage, QueueError, QueueSender};
use tokio::sync::{mpsc, oneshot, Mutex};

/// One delivery's messages waiting for a send, and where its outcome goes.
struct Job {
    messages: Vec<OutgoingMessage>,
    cost: usize,
    reply: oneshot::Sender<Result<(), QueueError>>,
}

/// Sends to one queue, joining deliveries that wait into shared sends (see the module docs).
pub struct Coalescer {
    jobs: mpsc::UnboundedSender<Job>,
    per_message_overhead: usize,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer").finish_non_exhaustive()
    }
}

impl Coalescer {
    /// Over `sender`, with up to `in_flight` sends at a time (at least 1), each at most
    /// `max_batch_bytes` counting `per_message_overhead` per message, as the ingress counts a
    /// delivery's chunks. Spawns its senders on the current runtime; they end when the
    /// coalescer is dropped and the deliveries waiting have been sent.
    pub fn spawn(
        sender: Arc<dyn QueueSender>,
        in_flight: usize,
        max_batch_bytes: usize,
        per_message_overhead: usize,
    ) -> Self {
        let (jobs, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..in_flight.max(1) {
            tokio::spawn(send_loop(
                Arc::clone(&sender),
                Arc::clone(&rx),
                max_batch_bytes,
            ));
        }
        Self {
            jobs,
            per_message_overhead,
        }
    }

    /// Sends `messages` atomically (alone or in a shared send), once committed.
    pub async fn send(&self, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let cost = messages
            .iter()
            .map(|m| m.size() + self.per_message_overhead)
            .sum();
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            messages,
            cost,
            reply,
        };
        self.jobs.send(job).map_err(|_| gone())?;
        outcome.await.map_err(|_| gone())?
    }
}

fn gone() -> QueueError {
    QueueError::Backend {
        op: "send",
        message: "the ingress's queue sender stopped".into(),
        retryable: true,
        source: None,
    }
}

async fn send_loop(
    sender: Arc<dyn QueueSender>,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    max_batch_bytes: usize,
) {
    // A delivery taken from the channel that did not fit the previous send goes first next.
    let mut carried: Option<Job> = None;
    loop {
        let mut batch = Vec::new();
        let mut size = 0;
        {
            let mut rx = rx.lock().await;
            let first = match carried.take() {
                Some(j) => j,
                None => match rx.recv().await {
                    Some(j) => j,
                    None => return,
                },
            };
            size += first.cost;
            batch.push(first);
            while let Ok(next) = rx.try_recv() {
                if size + next.cost > max_batch_bytes {
                    carried = Some(next);
                    break;
                }
                size += next.cost;
                batch.push(next);
            }
        }
        send_jobs(sender.as_ref(), batch).await;
    }
}

async fn send_jobs(sender: &dyn QueueSender, batch: Vec<Job>) {
    if batch.len() == 1 {
        let Some(job) = batch.into_iter().next() else {
            return;
        };
        let result = sender.send_batch(job.messages).await;
        let _ = job.reply.send(result);
        return;
    }
    let messages: Vec<OutgoingMessage> = batch
        .iter()
        .flat_map(|j| j.messages.iter().cloned())
        .collect();
    match sender.send_batch(messages).await {
        Ok(()) => {
            for job in batch {
                let _ = job.reply.send(Ok(()));
            }
        }
        Err(e) if e.is_retryable() => {
            let message = e.to_string();
            for job in batch {
                let _ = job.reply.send(Err(QueueError::Backend {
                    op: "send",
                    message: message.clone(),
                    retryable: true,
                    source: None,
                }));
            }
        }
        Err(_) => {
            // Which delivery the queue refused is not said: each is sent on its own.
            for job in batch {
                let result = sender.send_batch(job.messages).await;
                let _ = job.reply.send(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard_queue::sqlite::SqliteNamespace;
    use switchboard_queue::QueueConfig;

    async fn queue(dir: &tempfile::TempDir) -> switchboard_queue::QueueHandle {
        let ns = SqliteNamespace::open(dir.path().join("q.db"))
            .await
            .unwrap();
        ns.create_queue("events", QueueConfig::default())
            .await
            .unwrap()
            .handle()
    }

    /// Counts the sends that reach the queue, and holds the first one until released, so
    /// deliveries arriving meanwhile must wait for a sender.
    struct Counting {
        inner: Arc<dyn QueueSender>,
        sends: AtomicUsize,
        gate: tokio::sync::Semaphore,
    }

    #[async_trait::async_trait]
    impl QueueSender for Counting {
        fn queue_name(&self) -> &str {
            self.inner.queue_name()
        }
        async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError> {
            self.send_batch(vec![message]).await
        }
        async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
            self.sends.fetch_add(1, Ordering::SeqCst);
            let _permit = self.gate.acquire().await;
            self.inner.send_batch(messages).await
        }
        async fn send_dead_letter(
            &self,
            message: OutgoingMessage,
            reason: &str,
            description: &str,
        ) -> Result<(), QueueError> {
            self.inner
                .send_dead_letter(message, reason, description)
                .await
        }
    }

    fn msg(id: &str) -> OutgoingMessage {
        OutgoingMessage::new(id, format!("{{\"id\":\"{id}\"}}").into_bytes())
    }

    /// A queue, its sender wrapped in [`Counting`], and a coalescer with one send in flight.
    async fn rig() -> (
        tempfile::TempDir,
        switchboard_queue::QueueHandle,
        Arc<Counting>,
        Arc<Coalescer>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let h = queue(&dir).await;
        let counting = Arc::new(Counting {
            inner: Arc::clone(&h.sender),
            sends: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(0),
        });
        let c = Arc::new(Coalescer::spawn(
            Arc::clone(&counting) as Arc<dyn QueueSender>,
            1,
            256 * 1024,
            512,
        ));
        (dir, h, counting, c)
    }

    impl Counting {
        /// Until the first send reached the queue (and is held at the gate).
        async fn first_send_in_flight(&self) {
            while self.sends.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Lets the deliveries spawned meanwhile reach the coalescer's channel.
    async fn let_the_others_queue() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    /// The ids of the messages on the queue, sorted.
    async fn received_ids(h: &switchboard_queue::QueueHandle) -> Vec<String> {
        let got = h
            .receiver
            .receive(20, std::time::Duration::from_millis(100))
            .await
            .unwrap();
        let mut ids: Vec<String> = got.iter().map(|d| d.message_id.clone()).collect();
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn deliveries_waiting_for_a_send_share_the_next_one_and_all_are_durable() {
        let (_dir, h, counting, c) = rig().await;
        let mut tasks = tokio::task::JoinSet::new();
        let first = Arc::clone(&c);
        tasks.spawn(async move { first.send(vec![msg("m0")]).await });
        // The first send is in flight (held at the gate) before the others arrive.
        counting.first_send_in_flight().await;
        for i in 1..=9 {
            let c = Arc::clone(&c);
            tasks.spawn(async move { c.send(vec![msg(&format!("m{i}"))]).await });
        }
        // Let all nine reach the channel, then release the sends.
        let_the_others_queue().await;
        counting.gate.add_permits(100);
        while let Some(r) = tasks.join_next().await {
            r.unwrap().unwrap();
        }
        assert_eq!(
            counting.sends.load(Ordering::SeqCst),
            2,
            "nine deliveries waiting behind one send went out in one"
        );
        let ids = received_ids(&h).await;
        assert_eq!(ids.len(), 10, "{ids:?}");
    }

    #[tokio::test]
    async fn a_refused_delivery_does_not_fail_the_ones_sent_with_it() {
        let (_dir, h, counting, c) = rig().await;
        let mut tasks = tokio::task::JoinSet::new();
        let first = Arc::clone(&c);
        tasks.spawn(async move { (0, first.send(vec![msg("a")]).await) });
        counting.first_send_in_flight().await;
        // An empty message id: the queue refuses it, permanently.
        let bad = Arc::clone(&c);
        tasks.spawn(async move { (1, bad.send(vec![msg("")]).await) });
        let good = Arc::clone(&c);
        tasks.spawn(async move { (2, good.send(vec![msg("b")]).await) });
        let_the_others_queue().await;
        counting.gate.add_permits(100);
        let mut outcomes = Vec::new();
        while let Some(r) = tasks.join_next().await {
            outcomes.push(r.unwrap());
        }
        outcomes.sort_by_key(|(i, _)| *i);
        assert!(outcomes[0].1.is_ok());
        let refused = outcomes[1].1.as_ref().unwrap_err();
        assert!(!refused.is_retryable(), "{refused}");
        assert!(outcomes[2].1.is_ok(), "{:?}", outcomes[2].1);
        let ids = received_ids(&h).await;
        assert_eq!(ids, ["a", "b"]);
    }
}
