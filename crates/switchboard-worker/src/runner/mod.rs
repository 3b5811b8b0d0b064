//! The queue consumer loop: receive, decode, dispatch to the [`Executor`], settle.
//!
//! A [`Runner`] consumes one or more [`Source`]s — in production the `incoming-calls` queue
//! (IncomingCall from Event Grid, not sessionful) and the `call-events` queue (callbacks from
//! the ingress and our own scheduled timers, session id = correlation id) — with at most
//! `concurrency` units of work in flight. A unit is one message on a plain queue, or one
//! locked session on a session queue: a session's messages are handled one at a time in
//! order (so one call's events never race each other), different calls in parallel.
//!
//! Settlement by outcome (`Settlement`): handled (applied, duplicate, stale, ignored,
//! orphan) or an event type we do not act on → complete; transient failure → abandon after
//! a backoff that grows with the delivery count (the queue dead-letters it at its max
//! delivery count); permanent failure or an undecodable body → dead-letter with a reason and
//! a description. While a handler runs its lock (message or session) is renewed.
//!
//! Shutdown: when the [`CancellationToken`] fires the runner stops receiving, lets in-flight
//! handlers finish within the grace period, then abandons what is left (a handler stopped
//! mid-way leaves its decisions in the call state's outbox; the redelivery finishes them).
//!
//! This file receives (plain queues and sessions, concurrency, shutdown); `settle` takes one
//! delivery from its lock to its settlement (decoding is `crate::inbox`'s).

use std::sync::Arc;
use std::time::Duration;

use switchboard_queue::{QueueError, QueueReceiver, SessionReceiver};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::executor::Executor;
use crate::telemetry::Metrics;

mod settle;

mod lock;
mod slots;

#[allow(unused_imports)]
pub(crate) use self::lock::Settlement;
use self::lock::{backoff, Lock, SETTLE_TIMEOUT};
use self::slots::Slots;

/// Tunables of a [`Runner`].
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Messages (plain queues) plus sessions (session queues) handled at once.
    pub concurrency: usize,
    /// Of `concurrency`, the slots only plain-queue messages (IncomingCall) may take, so a
    /// burst of callback sessions never leaves a ringing call waiting (at least one slot
    /// stays shared).
    pub reserved_for_plain: usize,
    /// Longest single wait for a message or a session.
    pub receive_wait: Duration,
    /// How long a locked session waits for its next message once nothing is pending before
    /// it is released. Zero (the default): released as soon as its pending messages are
    /// handled. A call's events come tens to hundreds of milliseconds apart, so holding an
    /// idle session only keeps a concurrency slot (and a polling receiver) busy while other
    /// calls wait; the next event is accepted again, by any replica, in order.
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
            concurrency: 64,
            reserved_for_plain: 2,
            receive_wait: Duration::from_secs(1),
            session_idle: Duration::ZERO,
            grace_period: Duration::from_secs(20),
            retry_backoff: Duration::from_millis(200),
            max_retry_backoff: Duration::from_secs(10),
            sweep_every: Some(Duration::from_secs(300)),
        }
    }
}

impl RunnerOptions {
    /// From the `[worker]` configuration.
    pub(crate) fn from_config(cfg: &crate::config::WorkerConfig) -> Self {
        Self {
            concurrency: cfg.concurrency.max(1),
            reserved_for_plain: cfg.incoming_reserved,
            receive_wait: Duration::from_millis(cfg.receive_wait_ms.max(1)),
            grace_period: Duration::from_secs(cfg.grace_period_secs),
            ..Self::default()
        }
    }
}

/// One queue to consume.
#[derive(Clone)]
pub struct Source {
    /// Where its messages come from.
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
        let permits = Slots::new(this.options.concurrency, this.options.reserved_for_plain);
        // Fires when the grace period is over: handlers still running abandon their message.
        let hard_stop = CancellationToken::new();
        let mut loops = JoinSet::new();
        let tasks = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        for source in this.sources.clone() {
            // A session accept waits on the broker for a round trip or more; with one loop, a
            // worker's new sessions queue behind each other when the backend can run several
            // (`QueueReceiver::concurrent_accepts`). Each loop holds a permit while it waits.
            let loops_for_source = if source.sessions {
                source
                    .receiver
                    .concurrent_accepts()
                    .clamp(1, this.options.concurrency.max(1))
            } else {
                1
            };
            for _ in 0..loops_for_source {
                let this = Arc::clone(&this);
                let source = source.clone();
                let permits = permits.clone();
                let shutdown = shutdown.clone();
                let hard_stop = hard_stop.clone();
                let tasks = Arc::clone(&tasks);
                loops.spawn(async move {
                    this.receive_loop(source, permits, shutdown, hard_stop, tasks)
                        .await;
                });
            }
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
        permits: Slots,
        shutdown: CancellationToken,
        hard_stop: CancellationToken,
        tasks: Arc<tokio::sync::Mutex<JoinSet<()>>>,
    ) {
        let queue = source.receiver.queue_name().to_string();
        let mut failures = 0u32;
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => return,
                p = permits.acquire(!source.sessions) => match p {
                    Some(p) => p,
                    None => return,
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
                let extra = permits.available(true);
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
                                None => match permits.try_acquire(true) {
                                    Some(p) => p,
                                    // Raced with another loop: wait for one.
                                    None => match permits.acquire(true).await {
                                        Some(p) => p,
                                        None => return,
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
        if self.options.session_idle.is_zero() {
            // This loop closes the session as soon as a receive finds nothing: the queue may
            // complete a message and hand over the next one (or give the session up) at once.
            session.release_when_drained();
        }
        async {
            loop {
                if shutdown.is_cancelled() {
                    break;
                }
                // One at a time: a message abandoned for a retry must come back before the
                // call's next one is handled (per-call order).
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
}
