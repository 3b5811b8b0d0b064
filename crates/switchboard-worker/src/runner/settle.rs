//! One delivery from lock to settlement: handle it (decode in [`crate::inbox`], run it
//! through the [`Executor`](crate::executor::Executor)), keep its lock renewed meanwhile, settle by the outcome.

use std::time::{Duration, Instant};

use switchboard_queue::{Delivery, QueueError};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::lock::{backoff, Lock, Settlement, MAX_HANDLE_TIME, SETTLE_TIMEOUT};
use super::Runner;
use crate::executor::ExecError;
use crate::inbox::decode_delivery;

impl Runner {
    /// Handles one delivery and settles it.
    pub(super) async fn process(
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
        let decoded = match decode_delivery(d, self.executor.seal()) {
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
