//! Queue sampling when a queue's counts cannot be read (on Azure: the session queue, whose
//! counts need the management API's Manage right).

use std::sync::Arc;
use std::time::Duration;

use switchboard_queue::{
    Delivery, Message, Properties, QueueError, QueueReceiver, QueueRuntimeProperties,
    SessionReceiver,
};
use time::OffsetDateTime;

use crate::app::sample_queues;
use crate::backend::{open_backends, EngineHooks};
use crate::telemetry::Metrics;

/// A receiver whose counts cannot be read; everything else is the real queue's.
struct Unreadable(Arc<dyn QueueReceiver>);

#[async_trait::async_trait]
impl QueueReceiver for Unreadable {
    fn queue_name(&self) -> &str {
        self.0.queue_name()
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.0.receive(max, wait).await
    }
    async fn receive_deferred(&self, seq: &[i64]) -> Result<Vec<Delivery>, QueueError> {
        self.0.receive_deferred(seq).await
    }
    async fn peek(&self, from: i64, max: usize) -> Result<Vec<Message>, QueueError> {
        self.0.peek(from, max).await
    }
    async fn complete(&self, d: &Delivery) -> Result<(), QueueError> {
        self.0.complete(d).await
    }
    async fn abandon(&self, d: &Delivery, p: Option<Properties>) -> Result<(), QueueError> {
        self.0.abandon(d, p).await
    }
    async fn dead_letter(&self, d: &Delivery, r: &str, x: &str) -> Result<(), QueueError> {
        self.0.dead_letter(d, r, x).await
    }
    async fn defer(&self, d: &Delivery) -> Result<(), QueueError> {
        self.0.defer(d).await
    }
    async fn renew_lock(&self, d: &Delivery) -> Result<OffsetDateTime, QueueError> {
        self.0.renew_lock(d).await
    }
    async fn accept_next_session(
        &self,
        wait: Duration,
    ) -> Result<Option<Box<dyn SessionReceiver>>, QueueError> {
        self.0.accept_next_session(wait).await
    }
    async fn accept_session(&self, id: &str) -> Result<Box<dyn SessionReceiver>, QueueError> {
        self.0.accept_session(id).await
    }
    async fn runtime_properties(&self) -> Result<QueueRuntimeProperties, QueueError> {
        Err(QueueError::Backend {
            op: "runtime_properties",
            message: "401 Unauthorized: Manage claim required".into(),
            retryable: false,
            source: None,
        })
    }
}

/// The gauge says which queue could not be read (instead of a silent 0), the set of queues
/// already warned about keeps the WARN to once, and a readable queue is marked readable.
#[tokio::test]
async fn unreadable_counts_are_flagged_and_warned_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::config::Config::default();
    c.queue
        .settings
        .set("sqlite_path", dir.path().join("q.db").display().to_string());
    let mut b = open_backends(&c, &EngineHooks::default()).await.unwrap();
    b.queues.events.receiver = Arc::new(Unreadable(Arc::clone(&b.queues.events.receiver)));
    let metrics = Metrics::new();
    let mut unreadable = Default::default();
    sample_queues(&b.queues, &metrics, &mut unreadable).await;
    let available = |q: &str| metrics.gauge("switchboard_queue_counts_available", &[("queue", q)]);
    assert_eq!(available(&b.queues.events.name), 0.0);
    assert_eq!(available(&b.queues.incoming.name), 1.0);
    assert!(unreadable.contains(&b.queues.events.name), "{unreadable:?}");
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    // Readable again: cleared, so a later failure warns again.
    b.queues.events.receiver = Arc::clone(&b.queues.incoming.receiver);
    sample_queues(&b.queues, &metrics, &mut unreadable).await;
    assert!(unreadable.is_empty(), "{unreadable:?}");
}
