//! The queue consumer loop: receive, decode, dispatch to the [`Executor`], settle.
//!
//! A [`Runner`] consumes one or more [`Source`]s — in production the `incoming-calls` queue
//! (IncomingCall from Event Grid, not sessionful) and the `call-events` queue (callbacks from
//! the ingress and our own scheduled timers, session id = correlation id) — with at most
//! `concurrency` units of work in flight. A unit is one message on a plain queue, or one
//! locked session on a session queue: a session's messages are handled one at a time in
//! order (so one call's events never race each other), different calls in parallel.
//!
//! Settlement by outcome ([`Settlement`]): handled (applied, duplicate, stale, ignored,
//! orphan) or an event type we do not act on → complete; transient failure → abandon after
//! a backoff that grows with the delivery count (the queue dead-letters it at its max
//! delivery count); permanent failure or an undecodable body → dead-letter with a reason and
//! a description. While a handler runs its lock (message or session) is renewed.
//!
//! Shutdown: when the [`CancellationToken`] fires the runner stops receiving, lets in-flight
//! handlers finish within the grace period, then abandons what is left (a handler stopped
//! mid-way leaves its decisions in the call state's outbox; the redelivery finishes them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_queue::{Delivery, QueueError, QueueReceiver, SessionReceiver};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::executor::{ExecError, Executor};
use crate::inbox::decode_delivery;
use crate::telemetry::Metrics;

/// Longest wait for a settlement or a session close: past it the connection is treated as
/// not answering and the message (or session) is left to come back when its lock expires.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one message may be handled before it is abandoned (and redelivered).
const MAX_HANDLE_TIME: Duration = Duration::from_secs(120);

/// Tunables of a [`Runner`].
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Messages (plain queues) plus sessions (session queues) handled at once.
    pub concurrency: usize,
    /// Longest single wait for a message or a session.
    pub receive_wait: Duration,
    /// How long a locked session waits for its next message before it is released (so
    /// another replica can take the call's later events).
    pub session_idle: Duration,
    /// After shutdown is requested, how long in-flight handlers may run.
    pub grace_period: Duration,
    /// First abandon backoff; doubles per delivery.
    pub retry_backoff: Duration,
    /// Longest abandon backoff.
    pub max_retry_backoff: Duration,
    /// How often this runner deletes expired store entries (`None`: never; another
    /// replica or a job does it).
    pub sweep_every: Option<Duration>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        Self {
            concurrency: 16,
            receive_wait: Duration::from_secs(1),
            session_idle: Duration::from_millis(500),
            grace_period: Duration::from_secs(20),
            retry_backoff: Duration::from_millis(200),
            max_retry_backoff: Duration::from_secs(10),
            sweep_every: Some(Duration::from_secs(300)),
        }
    }
}

impl RunnerOptions {
    /// From the `[worker]` configuration.
    pub fn from_config(cfg: &crate::config::WorkerConfig) -> Self {
        Self {
            concurrency: cfg.concurrency.max(1),
            receive_wait: Duration::from_millis(cfg.receive_wait_ms.max(1)),
            grace_period: Duration::from_secs(cfg.grace_period_secs),
            ..Self::default()
        }
    }
}

/// One queue to consume.
#[derive(Clone)]
pub struct Source {
    pub receiver: Arc<dyn QueueReceiver>,
    /// Consume through session receivers (the queue requires sessions).
    pub sessions: bool,
}

impl Source {
    /// A plain (not sessionful) queue.
    pub fn plain(receiver: Arc<dyn QueueReceiver>) -> Self {
        Self {
            receiver,
            sessions: false,
        }
    }

    /// A session queue.
    pub fn sessions(receiver: Arc<dyn QueueReceiver>) -> Self {
        Self {
            receiver,
            sessions: true,
        }
    }
}

/// How a message was settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    Complete,
    Abandon { reason: String },
    DeadLetter { reason: String, description: String },
}

impl Settlement {
    fn label(&self) -> &'static str {
        match self {
            Self::Complete => "completed",
            Self::Abandon { .. } => "abandoned",
            Self::DeadLetter { .. } => "dead_lettered",
        }
    }
}

/// Counts a held session in `switchboard_sessions_held` for as long as it lives.
struct SessionGauge {
    metrics: Metrics,
    queue: String,
}

impl SessionGauge {
    fn hold(metrics: &Metrics, queue: &str) -> Self {
        metrics.gauge_add("switchboard_sessions_held", &[("queue", queue)], 1.0);
        Self {
            metrics: metrics.clone(),
            queue: queue.to_string(),
        }
    }
}

impl Drop for SessionGauge {
    fn drop(&mut self) {
        self.metrics
            .gauge_add("switchboard_sessions_held", &[("queue", &self.queue)], -1.0);
    }
}

/// The consumer. Build with [`Runner::new`], then [`Runner::run`] until cancelled.
pub struct Runner {
    executor: Arc<Executor>,
    sources: Vec<Source>,
    options: RunnerOptions,
    metrics: Metrics,
}

/// Where a delivery is settled: its own lock, or its session's.
#[derive(Clone, Copy)]
enum Lock<'a> {
    Message(&'a dyn QueueReceiver),
    Session(&'a dyn SessionReceiver),
}

impl Lock<'_> {
    async fn settle(&self, d: &Delivery, s: &Settlement) -> Result<(), QueueError> {
        match (self, s) {
            (Self::Message(r), Settlement::Complete) => r.complete(d).await,
            (Self::Session(r), Settlement::Complete) => r.complete(d).await,
            (Self::Message(r), Settlement::Abandon { .. }) => r.abandon(d, None).await,
            (Self::Session(r), Settlement::Abandon { .. }) => r.abandon(d, None).await,
            (
                Self::Message(r),
                Settlement::DeadLetter {
                    reason,
                    description,
                },
            ) => r.dead_letter(d, reason, description).await,
            (
                Self::Session(r),
                Settlement::DeadLetter {
                    reason,
                    description,
                },
            ) => r.dead_letter(d, reason, description).await,
        }
    }

    async fn renew(&self, d: &Delivery) -> Result<OffsetDateTime, QueueError> {
        match self {
            Self::Message(r) => r.renew_lock(d).await,
            Self::Session(r) => r.renew_session_lock().await,
        }
    }
}

impl Runner {
    /// A runner over `sources`. Metrics are the executor's registry.
    pub fn new(executor: Arc<Executor>, sources: Vec<Source>, options: RunnerOptions) -> Self {
        let metrics = executor.metrics().clone();
        Self {
            executor,
            sources,
            options,
            metrics,
        }
    }

    /// Consumes until `shutdown` fires, then drains (see the [module docs](self)).
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.options.concurrency.max(1)));
        // Fires when the grace period is over: handlers still running abandon their message.
        let hard_stop = CancellationToken::new();
        let mut loops = JoinSet::new();
        let tasks = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        for source in this.sources.clone() {
            let this = Arc::clone(&this);
            let permits = Arc::clone(&permits);
            let shutdown = shutdown.clone();
            let hard_stop = hard_stop.clone();
            let tasks = Arc::clone(&tasks);
            loops.spawn(async move {
                this.receive_loop(source, permits, shutdown, hard_stop, tasks)
                    .await;
            });
        }
        if let Some(every) = this.options.sweep_every.filter(|d| !d.is_zero()) {
            let executor = Arc::clone(&this.executor);
            let shutdown = shutdown.clone();
            loops.spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    match executor.sweep().await {
                        Ok(n) => tracing::debug!(removed = n, "swept expired store entries"),
                        Err(e) => tracing::warn!(error = %e, "store sweep failed"),
                    }
                }
            });
        }
        while loops.join_next().await.is_some() {}
        let grace = this.options.grace_period;
        let in_flight = {
            let t = tasks.lock().await;
            t.len()
        };
        tracing::info!(
            in_flight,
            grace_secs = grace.as_secs_f64(),
            "stopped receiving; draining"
        );
        let drained = crate::shutdown::drain_within(grace, async {
            let mut t = tasks.lock().await;
            while t.join_next().await.is_some() {}
        })
        .await;
        if !drained {
            hard_stop.cancel();
            let mut t = tasks.lock().await;
            // Handlers abandon promptly once told; do not wait forever for a stuck one.
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while t.join_next().await.is_some() {}
            })
            .await;
            t.abort_all();
        }
        tracing::info!("runner stopped");
    }

    async fn receive_loop(
        self: Arc<Self>,
        source: Source,
        permits: Arc<Semaphore>,
        shutdown: CancellationToken,
        hard_stop: CancellationToken,
        tasks: Arc<tokio::sync::Mutex<JoinSet<()>>>,
    ) {
        let queue = source.receiver.queue_name().to_string();
        let mut failures = 0u32;
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return,
                p = Arc::clone(&permits).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let wait = self.options.receive_wait;
            if source.sessions {
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = source.receiver.accept_next_session(wait) => r,
                };
                match accepted {
                    Ok(Some(session)) => {
                        failures = 0;
                        let this = Arc::clone(&self);
                        let shutdown = shutdown.clone();
                        let hard_stop = hard_stop.clone();
                        let queue = queue.clone();
                        tasks.lock().await.spawn(async move {
                            this.run_session(&queue, session, shutdown, hard_stop).await;
                            drop(permit);
                        });
                    }
                    Ok(None) => {}
                    Err(e) => {
                        failures += 1;
                        self.receive_failed(&queue, &e, failures, &shutdown).await;
                    }
                }
            } else {
                // Take as many messages as there are free permits (at least the one we hold).
                let extra = permits.available_permits();
                let max = 1 + extra;
                let received = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = source.receiver.receive(max, wait) => r,
                };
                match received {
                    Ok(deliveries) => {
                        failures = 0;
                        let mut first = Some(permit);
                        for d in deliveries {
                            let permit = match first.take() {
                                Some(p) => p,
                                None => match Arc::clone(&permits).try_acquire_owned() {
                                    Ok(p) => p,
                                    // Raced with another loop: wait for one.
                                    Err(_) => match Arc::clone(&permits).acquire_owned().await {
                                        Ok(p) => p,
                                        Err(_) => return,
                                    },
                                },
                            };
                            let this = Arc::clone(&self);
                            let receiver = Arc::clone(&source.receiver);
                            let hard_stop = hard_stop.clone();
                            let queue = queue.clone();
                            tasks.lock().await.spawn(async move {
                                this.process(
                                    &queue,
                                    Lock::Message(receiver.as_ref()),
                                    &d,
                                    &hard_stop,
                                )
                                .await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        self.receive_failed(&queue, &e, failures, &shutdown).await;
                    }
                }
            }
            // Reap finished handler tasks so the set does not grow.
            let mut t = tasks.lock().await;
            while let Some(r) = t.try_join_next() {
                if let Err(e) = r {
                    if e.is_panic() {
                        self.metrics.inc("switchboard_handler_panics_total", &[]);
                        tracing::error!(error = %e, "a message handler panicked");
                    }
                }
            }
        }
    }

    async fn receive_failed(
        &self,
        queue: &str,
        e: &QueueError,
        failures: u32,
        shutdown: &CancellationToken,
    ) {
        self.metrics
            .inc("switchboard_receive_errors_total", &[("queue", queue)]);
        tracing::warn!(queue, error = %e, failures, "receive failed");
        let backoff = backoff(
            self.options.retry_backoff,
            self.options.max_retry_backoff,
            failures,
        );
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(backoff) => {}
        }
    }

    /// Handles a locked session's messages in order until it runs dry or shutdown.
    async fn run_session(
        &self,
        queue: &str,
        session: Box<dyn SessionReceiver>,
        shutdown: CancellationToken,
        hard_stop: CancellationToken,
    ) {
        let span = tracing::info_span!("session", queue, session_id = session.session_id());
        // Sessions held = calls this replica is serving right now: the scaling signal that
        // queue depth alone misses (KEDA's Service Bus scaler cannot count sessions).
        let _held = SessionGauge::hold(&self.metrics, queue);
        async {
            loop {
                if shutdown.is_cancelled() {
                    break;
                }
                let received = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = session.receive(1, self.options.session_idle) => r,
                };
                match received {
                    Ok(ds) if ds.is_empty() => break,
                    Ok(ds) => {
                        for d in ds {
                            self.process(queue, Lock::Session(session.as_ref()), &d, &hard_stop)
                                .await;
                        }
                    }
                    Err(e) => {
                        self.metrics
                            .inc("switchboard_receive_errors_total", &[("queue", queue)]);
                        tracing::warn!(error = %e, "session receive failed; releasing the session");
                        break;
                    }
                }
            }
            match tokio::time::timeout(SETTLE_TIMEOUT, session.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "closing the session failed"),
                Err(_) => tracing::warn!("closing the session got no answer; its lock will expire"),
            }
        }
        .instrument(span)
        .await;
    }

    /// Handles one delivery and settles it.
    async fn process(
        &self,
        queue: &str,
        lock: Lock<'_>,
        d: &Delivery,
        hard_stop: &CancellationToken,
    ) {
        let started = Instant::now();
        let span = tracing::info_span!(
            "message",
            queue,
            message_id = %d.message_id,
            sequence_number = d.sequence_number,
            delivery_count = d.delivery_count,
            session_id = d.session_id.as_deref().unwrap_or(""),
        );
        async {
            let wait = OffsetDateTime::now_utc() - d.enqueued_time;
            if wait.is_positive() {
                self.metrics.observe(
                    "switchboard_queue_wait_seconds",
                    &[("queue", queue)],
                    wait.unsigned_abs(),
                );
            }
            if d.delivery_count > 1 {
                self.metrics
                    .inc("switchboard_message_retries_total", &[("queue", queue)]);
            }
            let work = self.handle(d);
            let renew = self.renew_while(lock, d);
            let settlement = tokio::select! {
                s = work => s,
                _ = renew => Settlement::Abandon { reason: "lock lost".into() },
                // Every step of a handler is bounded (command deadlines, store and queue
                // timeouts); this catches whatever is not, so a message can never keep its
                // session — a whole call — for ever while its lock keeps being renewed.
                _ = tokio::time::sleep(MAX_HANDLE_TIME) => Settlement::Abandon { reason: "handler took too long".into() },
                _ = hard_stop.cancelled() => Settlement::Abandon { reason: "shutdown grace period over".into() },
            };
            let settlement = match settlement {
                Settlement::Abandon { reason } if !hard_stop.is_cancelled() => {
                    // Back off before giving the message back, so a failing dependency is not
                    // hammered by immediate redeliveries.
                    let delay = backoff(
                        self.options.retry_backoff,
                        self.options.max_retry_backoff,
                        d.delivery_count,
                    );
                    let remaining = (d.locked_until - OffsetDateTime::now_utc()).unsigned_abs();
                    let delay = delay.min(remaining / 2);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = hard_stop.cancelled() => {}
                    }
                    Settlement::Abandon { reason }
                }
                other => other,
            };
            if let Settlement::DeadLetter {
                reason,
                description,
            } = &settlement
            {
                self.metrics
                    .inc("switchboard_dead_letters_total", &[("reason", reason.as_str())]);
                tracing::warn!(%reason, %description, "dead-lettering message");
            }
            if let Settlement::Abandon { reason } = &settlement {
                self.metrics
                    .inc("switchboard_abandoned_total", &[("queue", queue)]);
                tracing::info!(%reason, "abandoning message");
            }
            // Bounded: settling through a connection that stopped answering must not hold this
            // handler (and a session) forever; an unsettled message comes back once its lock
            // expires.
            let settled = tokio::time::timeout(SETTLE_TIMEOUT, lock.settle(d, &settlement))
                .await
                .unwrap_or_else(|_| {
                    Err(QueueError::Backend {
                        op: "settle",
                        message: format!("no answer within {SETTLE_TIMEOUT:?}"),
                        retryable: true,
                        source: None,
                    })
                });
            if let Err(e) = settled {
                self.metrics
                    .inc("switchboard_settle_errors_total", &[("queue", queue)]);
                tracing::warn!(error = %e, settlement = settlement.label(), "settling failed; the message will be redelivered");
            }
            self.metrics.inc(
                "switchboard_messages_total",
                &[("queue", queue), ("settlement", settlement.label())],
            );
            self.metrics.observe(
                "switchboard_message_seconds",
                &[("queue", queue)],
                started.elapsed(),
            );
        }
        .instrument(span)
        .await;
    }

    /// Renews the lock until the lock is lost (resolves) — never resolves while renewals
    /// succeed.
    async fn renew_while(&self, lock: Lock<'_>, d: &Delivery) {
        let mut locked_until = d.locked_until;
        loop {
            let left = (locked_until - OffsetDateTime::now_utc()).unsigned_abs();
            // Renew at a third of what is left, at least every 50 ms apart.
            let sleep = (left / 3).max(Duration::from_millis(50));
            tokio::time::sleep(sleep).await;
            // A renewal that is still unanswered when the lock runs out is a lost lock: a
            // connection that stopped answering must not keep the message (and, for a session,
            // the whole call) here for the client library's own minute-long timeouts.
            let left = locked_until - OffsetDateTime::now_utc();
            if !left.is_positive() {
                tracing::warn!("lock expired before it could be renewed");
                return;
            }
            // A little past the lock's end, so an adapter that bounds its own renewals by the
            // lock (and replaces a dead connection) answers first.
            let bound = left.unsigned_abs() + Duration::from_secs(2);
            let renewed = match tokio::time::timeout(bound, lock.renew(d)).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!("lock renewal got no answer before the lock expired");
                    return;
                }
            };
            match renewed {
                Ok(until) => locked_until = until,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "lock renewal failed; retrying");
                    if OffsetDateTime::now_utc() >= locked_until {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lock lost while handling");
                    return;
                }
            }
        }
    }

    /// Decodes and handles a delivery; returns how to settle it.
    async fn handle(&self, d: &Delivery) -> Settlement {
        let decoded = match decode_delivery(d) {
            Ok(x) => x,
            Err((reason, description)) => {
                self.metrics.inc(
                    "switchboard_events_total",
                    &[("type", "undecodable"), ("outcome", "dead_lettered")],
                );
                return Settlement::DeadLetter {
                    reason,
                    description,
                };
            }
        };
        for t in &decoded.unknown {
            self.metrics.inc(
                "switchboard_events_total",
                &[("type", "Unknown"), ("outcome", "unknown")],
            );
            tracing::info!(event_type = %t, "event type we do not act on");
        }
        for (t, why) in &decoded.rejected {
            self.metrics.inc(
                "switchboard_events_total",
                &[("type", t.as_str()), ("outcome", "rejected")],
            );
            tracing::warn!(event_type = %t, %why, "event cannot be handled");
        }
        for (key, input) in decoded.inputs {
            let kind = input.type_name().to_string();
            let started = Instant::now();
            let result = self.executor.handle(&key, input).await;
            self.metrics.observe(
                "switchboard_handle_seconds",
                &[("type", kind.as_str())],
                started.elapsed(),
            );
            match result {
                Ok(h) => {
                    self.metrics.inc(
                        "switchboard_events_total",
                        &[("type", kind.as_str()), ("outcome", h.disposition.as_str())],
                    );
                }
                Err(ExecError::Transient(reason)) => {
                    self.metrics.inc(
                        "switchboard_events_total",
                        &[("type", kind.as_str()), ("outcome", "retry")],
                    );
                    // Events before this one in the body were handled; they are idempotent,
                    // so the redelivery simply finds them applied.
                    return Settlement::Abandon { reason };
                }
                Err(ExecError::Permanent {
                    reason,
                    description,
                }) => {
                    self.metrics.inc(
                        "switchboard_events_total",
                        &[("type", kind.as_str()), ("outcome", "dead_lettered")],
                    );
                    return Settlement::DeadLetter {
                        reason: reason.to_string(),
                        description,
                    };
                }
            }
        }
        if let Some((reason, description)) = decoded.partial {
            return Settlement::DeadLetter {
                reason,
                description,
            };
        }
        if !decoded.rejected.is_empty() {
            let description = decoded
                .rejected
                .iter()
                .map(|(t, why)| format!("{t}: {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Settlement::DeadLetter {
                reason: "MissingCorrelationId".into(),
                description,
            };
        }
        Settlement::Complete
    }
}

/// `base · 2^(n-1)`, capped.
fn backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let exp = n.saturating_sub(1).min(16);
    base.saturating_mul(1u32 << exp).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_millis(100);
        let m = Duration::from_secs(1);
        assert_eq!(backoff(b, m, 1), Duration::from_millis(100));
        assert_eq!(backoff(b, m, 2), Duration::from_millis(200));
        assert_eq!(backoff(b, m, 4), Duration::from_millis(800));
        assert_eq!(backoff(b, m, 5), m);
        assert_eq!(backoff(b, m, u32::MAX), m);
    }
}
