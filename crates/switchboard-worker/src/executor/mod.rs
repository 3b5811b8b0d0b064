//! The executor: runs the flow's decisions against the world.
//!
//! One [`Executor::handle`] call handles one input of one call:
//!
//! 1. Load the call's [`CallState`] (key = correlation id) with its version.
//! 2. If its outbox holds commands a previous handler decided but did not finish (it crashed,
//!    or a command failed transiently), run them first: another replica finishes the work.
//!    An outbox carries a lease naming the handler executing it; while another handler's
//!    lease is live this one waits (polling, up to the lease's end) instead of running the
//!    same commands alongside it — after a crash the lease simply expires — and only then
//!    hands its message back, so redeliveries do not use up the delivery count meanwhile.
//! 3. [`step`] the input. Not applied (duplicate, stale, orphan…) → done.
//! 4. Save the new state (outbox included) with compare-and-set **before** any effect, so a
//!    decision is durable before the world sees it. Conflict → reload and start over
//!    (bounded); the input is then found applied or decided afresh.
//! 5. Run the outbox in order. Call Automation requests carry `Repeatability-Request-ID`
//!    derived from (correlation id + input id, action) and `First-Sent` = when the command
//!    was decided (saved with it), so a re-run after a redelivery or crash has one effect; a
//!    command older than the service's repeatability window is reconciled with the call
//!    first (`crate::calls`). Media operations (which take no repeatability headers) are
//!    claimed with a store marker before they are sent, and never sent twice: when their
//!    outcome is unknown the flow is told ([`Internal::CommandUncertain`](crate::flow::Internal::CommandUncertain)). Results the flow needs
//!    (a reservation, an invitation id, a permanent failure, "call gone") are fed back
//!    through [`step`] at once, which may queue more commands.
//! 6. Save the drained state (or, after [`Op::Archive`](crate::flow::Op::Archive), nothing: the state is archived).
//!
//! Waiting calls: [`Op::JoinWaitlist`](crate::flow::Op::JoinWaitlist) lists a waiting call in its queue's waitlist (a store
//! member set, one entry per call). When [`Op::Release`](crate::flow::Op::Release) frees an agent, the waiting call that
//! agent should take next (routing's `next_call_for_agent`: queue priority, then longest
//! wait) is taken off the list and sent its re-check at once (or when the agent's wrap-up
//! ends), so nobody waits for a timer while an agent sits idle.
//!
//! Errors: a transient failure (network, throttling, store busy) returns
//! [`ExecError::Transient`] after saving progress — the runner abandons the message and its
//! redelivery resumes the outbox. A permanent command failure is not an error: the flow gets
//! [`Internal::CommandFailed`](crate::flow::Internal::CommandFailed) and decides (next agent, fall back, end the call); "call not
//! found" is the same with `gone = true` (clean up and complete). Only input that can never be
//! handled — a corrupt state document, an input without a call key — is
//! [`ExecError::Permanent`] (dead-letter).

//!
//! The executor owns the protocol (this file: load, step, compare-and-set; `outbox`: run the
//! commands in order and feed results back). What one command does lives elsewhere:
//! `crate::calls` (Call Automation requests) and `crate::routing` (reservations and
//! waitlists); scheduling a timer and archiving the call are the executor's own.

mod outbox;
mod outcome;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_callautomation::CallAutomationClient;
use switchboard_events::CorrelationId;
use switchboard_queue::QueueSender;
use switchboard_routing::{PresenceCache, Roster};
use switchboard_store::{CasOutcome, Clock, Store, StoreError, StoreExt};
use tracing::Instrument;
use uuid::Uuid;

pub(crate) use self::outcome::store_err;
use self::outcome::Drained;
pub use self::outcome::{CommandOutcome, ExecError, ExecutorOptions, Handled, Observer};
use crate::calls::Calls;
use crate::flow::{step, CallState, Disposition, FlowConfig, FlowInput, InputKind, Lease};
pub use crate::routing::StoreAgentState;
use crate::routing::{Routing, RoutingParts};
use crate::seal::Seal;
use crate::telemetry::Metrics;

/// Longest a handler waits for another handler's outbox lease before giving its message back.
const MAX_LEASE_WAIT: Duration = Duration::from_secs(35);
/// How often a waiting handler looks whether the lease was given up.
const LEASE_POLL: Duration = Duration::from_millis(200);

/// A call's state and its version, as read (`None`: there is none).
type Loaded = Option<(CallState, u64)>;

/// Runs flow commands. Cheap to share (`Arc`); every method takes `&self`.
pub struct Executor {
    flow: Arc<FlowConfig>,
    options: ExecutorOptions,
    store: Arc<dyn Store>,
    calls: Calls,
    routing: Routing,
    timers: Arc<dyn QueueSender>,
    seal: Seal,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    observer: Option<Arc<dyn Observer>>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("callback_url", &self.options.callback_url)
            .field("timers", &self.timers.queue_name())
            .field("agents", &self.routing.roster.agents().len())
            .finish_non_exhaustive()
    }
}

/// Everything an [`Executor`] is built from.
pub struct ExecutorParts {
    /// The flow's configuration (timeouts, IVR, queues' call handling).
    pub flow: Arc<FlowConfig>,
    /// TTLs, the callback URL and the protocol's limits.
    pub options: ExecutorOptions,
    /// Call state, outbox, reservations and markers (shared by every replica).
    pub store: Arc<dyn Store>,
    /// The Call Automation client every `calls` function sends through.
    pub calls: Arc<CallAutomationClient>,
    /// Sender of the sessionful call-events queue (timers are scheduled there).
    pub timers: Arc<dyn QueueSender>,
    /// The deployment's key for internal messages: timers are sealed with it and the inbox
    /// takes a `Switchboard.*` message only when its seal verifies.
    pub seal: Seal,
    /// The resolved roster (OIDs known).
    pub roster: Arc<Roster>,
    /// Graph presence; without it routing uses the presence kept in the store (if any).
    pub presence: Option<Arc<PresenceCache>>,
    /// The same clock the store uses.
    pub clock: Arc<dyn Clock>,
    /// Where command and decision counters go.
    pub metrics: Metrics,
    /// Told every input, decision and command outcome (tests and the demo's timeline).
    pub observer: Option<Arc<dyn Observer>>,
}

impl Executor {
    /// Builds an executor. The flow configuration's wrap-up times are completed from the
    /// resolved roster.
    pub fn new(parts: ExecutorParts) -> Self {
        let mut flow = (*parts.flow).clone();
        flow.apply_roster(&parts.roster);
        let flow = Arc::new(flow);
        let calls = Calls::new(
            parts.calls,
            parts.store.clone(),
            parts.options.callback_url.clone(),
            flow.source_display_name.clone(),
            parts.options.marker_ttl,
            parts.clock.clone(),
        );
        let routing = Routing::new(RoutingParts {
            flow: flow.clone(),
            store: parts.store.clone(),
            timers: parts.timers.clone(),
            seal: parts.seal.clone(),
            roster: parts.roster,
            presence: parts.presence,
            clock: parts.clock.clone(),
            metrics: parts.metrics.clone(),
            reservation_margin: parts.options.reservation_margin,
            on_call_ttl: parts.options.on_call_ttl,
        });
        Self {
            flow,
            options: parts.options,
            store: parts.store,
            calls,
            routing,
            timers: parts.timers,
            seal: parts.seal,
            clock: parts.clock,
            metrics: parts.metrics,
            observer: parts.observer,
        }
    }

    /// The key internal messages are sealed and checked with.
    pub(crate) fn seal(&self) -> &Seal {
        &self.seal
    }

    /// The flow configuration.
    pub fn flow_config(&self) -> &FlowConfig {
        &self.flow
    }

    /// The configured queues with the roster agents who serve each (for statistics).
    pub fn queue_members(&self) -> crate::stats::QueueMembers {
        crate::stats::queue_members(&self.flow.routing, &self.routing.roster)
    }

    /// The shared store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock the store uses.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Puts the roster into the store: creates or updates every agent (display name,
    /// capacity) and sets disabled agents offline, enabled ones available unless an operator
    /// paused them. Idempotent; run at startup by every replica.
    pub async fn sync_roster(&self) -> Result<(), StoreError> {
        self.routing.sync_roster().await
    }

    /// Deletes expired store entries (reservations, call documents, audit records, markers).
    /// Correctness never depends on it; it keeps the store small. Returns the rows removed.
    pub(crate) async fn sweep(&self) -> Result<u64, StoreError> {
        let report = self.store.sweep_expired().await?;
        self.metrics
            .add("switchboard_store_swept_total", &[], report.total());
        Ok(report.total())
    }

    /// Handles one input for the call `key`. See the [module docs](self).
    pub async fn handle(
        &self,
        key: &CorrelationId,
        input: FlowInput,
    ) -> Result<Handled, ExecError> {
        if key.as_str().is_empty() {
            return Err(ExecError::Permanent {
                reason: "MissingCorrelationId",
                description: format!("{} {} has an empty call key", input.type_name(), input.id),
            });
        }
        let (aliased, preloaded) = self.resolve(key, &input).await?;
        let key = aliased.as_ref().unwrap_or(key);
        if let Some(o) = &self.observer {
            o.input(key, &input);
        }
        let span = tracing::info_span!(
            "input",
            correlation_id = %key,
            input = input.type_name(),
            input_id = %input.id,
        );
        self.handle_inner(key, input, preloaded)
            .instrument(span)
            .await
    }

    /// `preloaded`: the call's state as [`Self::resolve`] already read it, for the first
    /// attempt.
    async fn handle_inner(
        &self,
        key: &CorrelationId,
        input: FlowInput,
        mut preloaded: Option<Loaded>,
    ) -> Result<Handled, ExecError> {
        let mut executed = 0usize;
        // Identifies this handler as the outbox's executor (random: it names a process's
        // attempt, not a decision).
        let holder = Uuid::new_v4().to_string();
        let mut lease_wait_until: Option<Instant> = None;
        let lease_len = match &input.kind {
            InputKind::Acs(switchboard_events::AcsEvent::IncomingCall(_)) => {
                self.options.incoming_lease
            }
            _ => self.options.outbox_lease,
        };
        let mut attempt = 0;
        while attempt < self.options.max_cas_attempts.max(1) {
            attempt += 1;
            if attempt > 1 {
                self.metrics.inc("switchboard_state_conflicts_total", &[]);
            }
            let loaded = match preloaded.take() {
                Some(loaded) => loaded,
                None => self.load(key).await?,
            };
            let (mut state, mut version) = match loaded {
                Some((s, v)) => (Some(s), Some(v)),
                None => (None, None),
            };
            // Finish what an earlier handler decided before deciding anything new.
            if let (Some(s), Some(v)) = (state.as_mut(), version) {
                if !s.outbox.is_empty() {
                    let now = self.clock.now();
                    if let Some(lease) = s.lease.as_ref().filter(|l| l.holder != holder) {
                        if lease.until > now {
                            self.metrics.inc("switchboard_outbox_busy_total", &[]);
                            // Wait for that handler (or for its lease to run out, if it died)
                            // while holding this message, rather than handing it straight back:
                            // immediate redeliveries would use up the delivery count within
                            // the lease and dead-letter a live call's event.
                            let left = (lease.until - now).unsigned_abs();
                            let give_up = *lease_wait_until
                                .get_or_insert_with(|| Instant::now() + left.min(MAX_LEASE_WAIT));
                            if Instant::now() < give_up {
                                // Polling does not count as a compare-and-set attempt.
                                attempt -= 1;
                                tokio::time::sleep(LEASE_POLL).await;
                                continue;
                            }
                            return Err(ExecError::Transient(format!(
                                "another handler is executing this call's commands (until {})",
                                lease.until
                            )));
                        }
                    }
                    tracing::info!(pending = s.outbox.len(), "resuming unfinished commands");
                    self.metrics.inc("switchboard_outbox_resumed_total", &[]);
                    s.lease = Some(Lease {
                        holder: holder.clone(),
                        until: now + lease_len,
                    });
                    let v = match self.save(key, Some(v), s).await? {
                        Some(v) => v,
                        None => continue,
                    };
                    match self.drain(key, s, v, &mut executed).await? {
                        Drained::Saved(v2) => version = Some(v2),
                        Drained::Archived => {
                            state = None;
                            version = None;
                        }
                        Drained::Conflict => continue,
                    }
                }
            }
            if state.is_none() {
                let starts_a_call = matches!(
                    &input.kind,
                    InputKind::Acs(switchboard_events::AcsEvent::IncomingCall(_))
                        | InputKind::Internal(crate::flow::Internal::CallbackStart { .. })
                );
                if starts_a_call {
                    // A redelivered IncomingCall (or callback start) after the call ended must
                    // not answer (or call back) again.
                    if self
                        .store
                        .get_archived_call(key.as_str())
                        .await
                        .map_err(store_err)?
                        .is_some()
                    {
                        let decision =
                            format!("{} for a call that already ended", input.type_name());
                        self.count_decision(Disposition::Duplicate);
                        return Ok(Handled {
                            disposition: Disposition::Duplicate,
                            decision,
                            commands: executed,
                            phase: Some("ended"),
                        });
                    }
                }
            }
            let now = self.clock.now();
            let transition = step(state.as_ref(), &input, &self.flow, now);
            tracing::info!(
                disposition = transition.disposition.as_str(),
                decision = %transition.decision,
                commands = transition.commands.len(),
                "decided"
            );
            let Some(mut next) = transition.state.clone() else {
                self.count_decision(transition.disposition);
                if let Some(o) = &self.observer {
                    o.decision(key, &input, &transition);
                }
                return Ok(Handled {
                    disposition: transition.disposition,
                    decision: transition.decision,
                    commands: executed,
                    phase: state.as_ref().map(|s| s.phase.name()),
                });
            };
            crate::stats::note(state.as_ref(), &input, &mut next, now);
            // Durable before any effect.
            next.lease = (!next.outbox.is_empty()).then(|| Lease {
                holder: holder.clone(),
                until: now + lease_len,
            });
            let v = match self.save(key, version, &next).await? {
                Some(v) => v,
                // Someone else changed the call first: this decision never happened.
                None => continue,
            };
            self.count_decision(transition.disposition);
            if let Some(o) = &self.observer {
                o.decision(key, &input, &transition);
            }
            match self.drain(key, &mut next, v, &mut executed).await? {
                Drained::Saved(_) | Drained::Archived => {
                    return Ok(Handled {
                        disposition: transition.disposition,
                        decision: transition.decision,
                        commands: executed,
                        phase: Some(next.phase.name()),
                    });
                }
                Drained::Conflict => continue,
            }
        }
        Err(ExecError::Transient(format!(
            "call state of {key} kept changing ({} attempts)",
            self.options.max_cas_attempts
        )))
    }

    /// The events of a call a callback placed carry that call's correlation id: they belong
    /// to the callback's state (`crate::calls` stored the key when it placed the call).
    /// Returns that key, if it is another, and the state under `key` if it was read here.
    ///
    /// A call with state under its own key is never a placed call (only `IncomingCall` and
    /// a callback's start create state, each under its own key, and a placed call has
    /// neither), so the state is read first: most events are of such calls, and the alias
    /// lookup (one more read per event) is needed only when there is none.
    async fn resolve(
        &self,
        key: &CorrelationId,
        input: &FlowInput,
    ) -> Result<(Option<CorrelationId>, Option<Loaded>), ExecError> {
        match &input.kind {
            InputKind::Acs(switchboard_events::AcsEvent::IncomingCall(_))
            | InputKind::Internal(_) => Ok((None, None)),
            InputKind::Acs(_) => {
                let own = self.load(key).await?;
                if own.is_some() {
                    return Ok((None, Some(own)));
                }
                let alias = crate::calls::alias::resolve_alias(self.store.as_ref(), key)
                    .await
                    .map_err(store_err)?;
                // No alias: the state under `key` was just read (none).
                let preloaded = alias.is_none().then_some(own);
                Ok((alias, preloaded))
            }
        }
    }

    fn count_decision(&self, d: Disposition) {
        self.metrics.inc(
            "switchboard_flow_decisions_total",
            &[("disposition", d.as_str())],
        );
    }

    async fn load(&self, key: &CorrelationId) -> Result<Loaded, ExecError> {
        match self.store.get_call_as::<CallState>(key.as_str()).await {
            Ok(Some(v)) => Ok(Some((v.value, v.version))),
            Ok(None) => Ok(None),
            Err(e) if e.is_retryable() => Err(ExecError::Transient(e.to_string())),
            Err(e) => Err(ExecError::Permanent {
                reason: "CorruptCallState",
                description: e.to_string(),
            }),
        }
    }

    /// Compare-and-set; `None` on conflict.
    async fn save(
        &self,
        key: &CorrelationId,
        expected: Option<u64>,
        state: &CallState,
    ) -> Result<Option<u64>, ExecError> {
        let outcome = self
            .store
            .put_call_as(key.as_str(), expected, state, self.options.call_state_ttl)
            .await
            .map_err(store_err)?;
        match outcome {
            CasOutcome::Written { version } => Ok(Some(version)),
            CasOutcome::Conflict { .. } => Ok(None),
        }
    }
}
