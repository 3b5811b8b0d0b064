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
//! 5. Run the outbox in order. Call Automation requests carry `Repeatability-Request-ID` /
//!    `First-Sent` derived from (correlation id + input id, action) and the input time, so a
//!    re-run after a redelivery or crash has one effect; media operations (which take no
//!    repeatability headers) are fenced with a store marker instead. Results the flow needs
//!    (a reservation, an invitation id, a permanent failure, "call gone") are fed back
//!    through [`step`] at once, which may queue more commands.
//! 6. Save the drained state (or, after [`Op::Archive`], nothing: the state is archived).
//!
//! Waiting calls: [`Op::JoinWaitlist`] lists a waiting call in its queue's waitlist (a store
//! member set, one entry per call). When [`Op::Release`] frees an agent, the waiting call that
//! agent should take next (routing's `next_call_for_agent`: queue priority, then longest
//! wait) is taken off the list and sent its re-check at once (or when the agent's wrap-up
//! ends), so nobody waits for a timer while an agent sits idle.
//!
//! Errors: a transient failure (network, throttling, store busy) returns
//! [`ExecError::Transient`] after saving progress — the runner abandons the message and its
//! redelivery resumes the outbox. A permanent command failure is not an error: the flow gets
//! [`Internal::CommandFailed`] and decides (next agent, fall back, end the call); "call not
//! found" is the same with `gone = true` (clean up and complete). Only input that can never be
//! handled — a corrupt state document, an input without a call key — is
//! [`ExecError::Permanent`] (dead-letter).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_callautomation::{
    AddParticipantRequest, AnswerCallRequest, CallAutomationClient, CancelAddParticipantRequest,
    DtmfOptions, Error as CaError, PlayOptions, PlayRequest, RecognizeRequest,
    RecordingChannelType, RecordingContentType, RecordingFormatType, RedirectCallRequest,
    RejectCallRequest, RemoveParticipantRequest, Repeatability, RequestOptions,
    StartCallRecordingRequest, TransferToParticipantRequest,
};
use switchboard_events::{CallConnectionId, CommunicationIdentifier, CorrelationId, TeamsUserId};
use switchboard_queue::{OutgoingMessage, QueueError, QueueSender};
use switchboard_routing::presence::PresenceObservation;
use switchboard_routing::queue::PlaySource;
use switchboard_routing::roster::AgentStateSource;
use switchboard_routing::{
    next_call_for_agent, rank_agents, AgentLiveState, Availability, CallRequirements,
    PresenceCache, PresenceView, QueueName, Roster, RoutingDecision,
};
use switchboard_store::{
    AgentProfile, AgentStatus, CasOutcome, Clock, Reservation, ReservationState, Store, StoreError,
    StoreExt,
};
use time::OffsetDateTime;
use tracing::Instrument;
use uuid::Uuid;

use crate::flow::input::millis;
use crate::flow::{
    step, CallState, Command, Disposition, FlowConfig, FlowInput, InputKind, Internal,
    InternalMessage, Lease, Op, Transition, INTERNAL_TYPE_PREFIX,
};
use crate::telemetry::Metrics;

/// Longest a handler waits for another handler's outbox lease before giving its message back.
const MAX_LEASE_WAIT: Duration = Duration::from_secs(35);
/// How often a waiting handler looks whether the lease was given up.
const LEASE_POLL: Duration = Duration::from_millis(200);

/// Namespace of scheduled-timer message ids (UUID v5 of correlation id + input id).
const TIMER_NAMESPACE: Uuid = Uuid::from_u128(0x5b0e_2f7c_41d9_4a8e_b3c6_9d1a_7e52_0c84);

/// Tunables of the executor. `Default` suits production; tests shorten nothing here (time
/// comes from the clock and the flow configuration).
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// The ingress's public `…/api/callbacks` URL: answer callbacks and recording state.
    pub callback_url: String,
    /// A call-state document expires this long after its last write (a call that never got
    /// its CallDisconnected does not live forever).
    pub call_state_ttl: Duration,
    /// How long the audit record of a finished call is kept.
    pub audit_ttl: Duration,
    /// Reservation lifetime while ringing, on top of ring timeout + grace.
    pub reservation_margin: Duration,
    /// Reservation lifetime once the agent is on the call (guards against a lost release).
    pub on_call_ttl: Duration,
    /// How long "this media command ran" markers are kept.
    pub marker_ttl: Duration,
    /// Compare-and-set attempts per input before giving up (transient).
    pub max_cas_attempts: u32,
    /// Most feedback steps per input (a guard against a flow bug looping forever).
    pub max_feedback_steps: usize,
    /// How long a handler owns a call's outbox while executing it. Another handler waits
    /// (retries later) rather than running the same commands at the same time; after this
    /// long the owner is presumed dead and the outbox is taken over. Set it to about the
    /// queue's lock duration.
    pub outbox_lease: Duration,
}

impl ExecutorOptions {
    /// Defaults with the callback URL from the worker configuration (`acs.callback_url`).
    pub fn from_config(cfg: &crate::config::Config) -> Result<Self, crate::config::ConfigError> {
        let url = cfg.acs.callback_url.clone().ok_or_else(|| {
            crate::config::ConfigError::new("acs.callback_url", "the worker needs the callback URL")
        })?;
        Ok(Self::new(url))
    }

    /// Defaults with the callback URL.
    pub fn new(callback_url: impl Into<String>) -> Self {
        Self {
            callback_url: callback_url.into(),
            call_state_ttl: Duration::from_secs(24 * 3600),
            audit_ttl: Duration::from_secs(24 * 3600),
            reservation_margin: Duration::from_secs(30),
            on_call_ttl: Duration::from_secs(8 * 3600),
            marker_ttl: Duration::from_secs(24 * 3600),
            max_cas_attempts: 8,
            max_feedback_steps: 64,
            outbox_lease: Duration::from_secs(30),
        }
    }
}

/// Why an input could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Worth another try (store busy, Call Automation throttled or unreachable, queue down).
    /// The runner abandons the message; progress made so far is saved.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Will fail the same way every time. The runner dead-letters the message.
    #[error("{reason}: {description}")]
    Permanent {
        reason: &'static str,
        description: String,
    },
}

impl ExecError {
    /// True for [`ExecError::Transient`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// What handling an input did.
#[derive(Clone, Debug)]
pub struct Handled {
    pub disposition: Disposition,
    pub decision: String,
    /// Commands executed (including leftovers of an earlier handler and feedback commands).
    pub commands: usize,
    /// The call's phase afterwards (`ended` once archived).
    pub phase: Option<&'static str>,
}

/// How one command ended, for observers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Done; `detail` says what came of it.
    Done { detail: String },
    /// Skipped: a marker shows it already ran.
    AlreadyDone,
    /// Failed for good; fed back to the flow.
    Failed { reason: String, gone: bool },
    /// Failed transiently; the message will be retried.
    Retry { reason: String },
}

impl CommandOutcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Done { .. } => "ok",
            Self::AlreadyDone => "skipped",
            Self::Failed { gone: true, .. } => "gone",
            Self::Failed { .. } => "failed",
            Self::Retry { .. } => "retry",
        }
    }
}

impl fmt::Display for CommandOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Done { detail } if detail.is_empty() => f.write_str("ok"),
            Self::Done { detail } => write!(f, "ok: {detail}"),
            Self::AlreadyDone => f.write_str("already done"),
            Self::Failed { reason, gone } => {
                write!(
                    f,
                    "failed{}: {reason}",
                    if *gone { " (call gone)" } else { "" }
                )
            }
            Self::Retry { reason } => write!(f, "will retry: {reason}"),
        }
    }
}

/// Sees every decision and command (the demo's timeline, benchmarks, tests).
pub trait Observer: Send + Sync {
    /// Handling of `input` starts (the message was received and decoded). Benchmarks use it
    /// to measure the time the worker adds before its first command.
    fn input(&self, _call: &CorrelationId, _input: &FlowInput) {}
    /// The flow decided something about `input`.
    fn decision(&self, call: &CorrelationId, input: &FlowInput, transition: &Transition);
    /// A command ran.
    fn command(
        &self,
        call: &CorrelationId,
        command: &Command,
        outcome: &CommandOutcome,
        took: Duration,
    );
}

/// Failure of one command, classified.
#[derive(Debug)]
enum CmdError {
    Transient(String),
    Permanent(String),
    Gone(String),
}

impl From<StoreError> for CmdError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

impl From<QueueError> for CmdError {
    fn from(e: QueueError) -> Self {
        if e.is_retryable() {
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

impl From<CaError> for CmdError {
    fn from(e: CaError) -> Self {
        if e.is_call_not_found() {
            Self::Gone(e.to_string())
        } else if e.is_retryable() || e.status() == Some(409) {
            // 409: "the original request with this Repeatability-Request-ID is still in
            // progress" — asking again later returns that request's result.
            Self::Transient(e.to_string())
        } else {
            Self::Permanent(e.to_string())
        }
    }
}

/// What a successful command produced.
enum Effect {
    Done(String),
    Skipped,
    Feedback(Box<FlowInput>, String),
    Archived,
}

enum Drained {
    Saved(u64),
    Archived,
    Conflict,
}

/// Runs flow commands. Cheap to share (`Arc`); every method takes `&self`.
pub struct Executor {
    flow: Arc<FlowConfig>,
    options: ExecutorOptions,
    store: Arc<dyn Store>,
    calls: Arc<CallAutomationClient>,
    timers: Arc<dyn QueueSender>,
    roster: Arc<Roster>,
    presence: Option<Arc<PresenceCache>>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    observer: Option<Arc<dyn Observer>>,
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("callback_url", &self.options.callback_url)
            .field("timers", &self.timers.queue_name())
            .field("agents", &self.roster.agents().len())
            .finish_non_exhaustive()
    }
}

/// Everything an [`Executor`] is built from.
pub struct ExecutorParts {
    pub flow: Arc<FlowConfig>,
    pub options: ExecutorOptions,
    pub store: Arc<dyn Store>,
    pub calls: Arc<CallAutomationClient>,
    /// Sender of the sessionful call-events queue (timers are scheduled there).
    pub timers: Arc<dyn QueueSender>,
    /// The resolved roster (OIDs known).
    pub roster: Arc<Roster>,
    /// Graph presence; without it routing uses the presence kept in the store (if any).
    pub presence: Option<Arc<PresenceCache>>,
    /// The same clock the store uses.
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub observer: Option<Arc<dyn Observer>>,
}

impl Executor {
    /// Builds an executor. The flow configuration's wrap-up times are completed from the
    /// resolved roster.
    pub fn new(parts: ExecutorParts) -> Self {
        let mut flow = (*parts.flow).clone();
        flow.apply_roster(&parts.roster);
        Self {
            flow: Arc::new(flow),
            options: parts.options,
            store: parts.store,
            calls: parts.calls,
            timers: parts.timers,
            roster: parts.roster,
            presence: parts.presence,
            clock: parts.clock,
            metrics: parts.metrics,
            observer: parts.observer,
        }
    }

    /// The flow configuration.
    pub fn flow_config(&self) -> &FlowConfig {
        &self.flow
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Puts the roster into the store: creates or updates every agent (display name,
    /// capacity) and sets disabled agents offline, enabled ones available unless an operator
    /// paused them. Idempotent; run at startup by every replica.
    pub async fn sync_roster(&self) -> Result<(), StoreError> {
        for agent in self.roster.agents() {
            let profile = AgentProfile::new(agent.oid.clone())
                .with_capacity(agent.entry.capacity.max(1))
                .with_display_name(agent.display_name.clone());
            self.store.upsert_agent(&profile).await?;
            let current = self.store.get_agent(&agent.oid).await?.map(|a| a.status);
            let wanted = if agent.entry.enabled {
                match current {
                    Some(AgentStatus::Paused) => AgentStatus::Paused,
                    _ => AgentStatus::Available,
                }
            } else {
                AgentStatus::Offline
            };
            if current != Some(wanted) {
                self.store.set_agent_status(&agent.oid, wanted).await?;
            }
        }
        let available = self
            .store
            .list_agents()
            .await?
            .iter()
            .filter(|a| a.is_reservable())
            .count();
        self.metrics
            .set("switchboard_agents_available", &[], available as f64);
        Ok(())
    }

    /// Deletes expired store entries (reservations, call documents, audit records, markers).
    /// Correctness never depends on it; it keeps the store small. Returns the rows removed.
    pub async fn sweep(&self) -> Result<u64, StoreError> {
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
        if let Some(o) = &self.observer {
            o.input(key, &input);
        }
        let span = tracing::info_span!(
            "input",
            correlation_id = %key,
            input = input.type_name(),
            input_id = %input.id,
        );
        self.handle_inner(key, input).instrument(span).await
    }

    async fn handle_inner(
        &self,
        key: &CorrelationId,
        input: FlowInput,
    ) -> Result<Handled, ExecError> {
        let mut executed = 0usize;
        // Identifies this handler as the outbox's executor (random: it names a process's
        // attempt, not a decision).
        let holder = Uuid::new_v4().to_string();
        let mut lease_wait_until: Option<Instant> = None;
        let mut attempt = 0;
        while attempt < self.options.max_cas_attempts.max(1) {
            attempt += 1;
            if attempt > 1 {
                self.metrics.inc("switchboard_state_conflicts_total", &[]);
            }
            let loaded = self.load(key).await?;
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
                        until: now + self.options.outbox_lease,
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
                if let InputKind::Acs(switchboard_events::AcsEvent::IncomingCall(_)) = &input.kind {
                    // A redelivered IncomingCall after the call ended must not answer again.
                    if self
                        .store
                        .get_archived_call(key.as_str())
                        .await
                        .map_err(store_err)?
                        .is_some()
                    {
                        let decision = "IncomingCall for a call that already ended".to_string();
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
            // Durable before any effect.
            next.lease = (!next.outbox.is_empty()).then(|| Lease {
                holder: holder.clone(),
                until: now + self.options.outbox_lease,
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

    fn count_decision(&self, d: Disposition) {
        self.metrics.inc(
            "switchboard_flow_decisions_total",
            &[("disposition", d.as_str())],
        );
    }

    async fn load(&self, key: &CorrelationId) -> Result<Option<(CallState, u64)>, ExecError> {
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

    /// Runs the outbox of `state` (saved at `version`) front to back, feeding results back
    /// into the flow, then saves the result.
    async fn drain(
        &self,
        key: &CorrelationId,
        state: &mut CallState,
        version: u64,
        executed: &mut usize,
    ) -> Result<Drained, ExecError> {
        let mut feedback_steps = 0usize;
        while let Some(cmd) = state.outbox.first().cloned() {
            let started = Instant::now();
            let span = tracing::info_span!(
                "command",
                op = cmd.op.name(),
                action = %cmd.key.action,
                correlation_id = %key,
                call_connection_id = state.call_connection_id.as_ref().map(|c| c.as_str()).unwrap_or(""),
            );
            let result = self.execute(key, state, &cmd).instrument(span).await;
            let took = started.elapsed();
            self.metrics.observe(
                "switchboard_command_seconds",
                &[("op", cmd.op.name())],
                took,
            );
            *executed += 1;
            let (outcome, feedback) = match result {
                Ok(Effect::Done(detail)) => (CommandOutcome::Done { detail }, None),
                Ok(Effect::Skipped) => (CommandOutcome::AlreadyDone, None),
                Ok(Effect::Feedback(input, detail)) => {
                    (CommandOutcome::Done { detail }, Some(*input))
                }
                Ok(Effect::Archived) => {
                    let outcome = CommandOutcome::Done {
                        detail: "archived".into(),
                    };
                    self.report(key, &cmd, &outcome, took);
                    if state.outbox.len() > 1 {
                        tracing::warn!(
                            dropped = state.outbox.len() - 1,
                            "commands after archive dropped"
                        );
                    }
                    state.outbox.clear();
                    self.metrics.inc("switchboard_calls_ended_total", &[]);
                    return Ok(Drained::Archived);
                }
                Err(CmdError::Transient(reason)) => {
                    let outcome = CommandOutcome::Retry {
                        reason: reason.clone(),
                    };
                    self.report(key, &cmd, &outcome, took);
                    tracing::warn!(%reason, "command failed transiently; message will be retried");
                    // Keep what is done done: the retry resumes from this command, and may
                    // do so at once (the lease is given up).
                    state.lease = None;
                    let _ = self.save(key, Some(version), state).await;
                    return Err(ExecError::Transient(format!("{}: {reason}", cmd.op.name())));
                }
                Err(CmdError::Permanent(reason)) => {
                    tracing::warn!(%reason, "command failed permanently; the flow decides");
                    let input = failed_input(&cmd, false, &reason);
                    (
                        CommandOutcome::Failed {
                            reason,
                            gone: false,
                        },
                        Some(input),
                    )
                }
                Err(CmdError::Gone(reason)) => {
                    tracing::info!(%reason, "the call is gone");
                    let input = failed_input(&cmd, true, &reason);
                    (CommandOutcome::Failed { reason, gone: true }, Some(input))
                }
            };
            self.report(key, &cmd, &outcome, took);
            state.outbox.remove(0);
            if let Some(input) = feedback {
                feedback_steps += 1;
                if feedback_steps > self.options.max_feedback_steps {
                    return Err(ExecError::Permanent {
                        reason: "FlowLoop",
                        description: format!(
                            "more than {} feedback steps for one input",
                            self.options.max_feedback_steps
                        ),
                    });
                }
                let now = self.clock.now();
                let t = step(Some(state), &input, &self.flow, now);
                self.count_decision(t.disposition);
                if let Some(o) = &self.observer {
                    o.decision(key, &input, &t);
                }
                tracing::info!(
                    input = input.type_name(),
                    disposition = t.disposition.as_str(),
                    decision = %t.decision,
                    "decided on feedback"
                );
                if let Some(next) = t.state {
                    *state = next;
                }
            }
        }
        state.lease = None;
        match self.save(key, Some(version), state).await? {
            Some(v) => Ok(Drained::Saved(v)),
            None => Ok(Drained::Conflict),
        }
    }

    fn report(&self, key: &CorrelationId, cmd: &Command, outcome: &CommandOutcome, took: Duration) {
        self.metrics.inc(
            "switchboard_commands_total",
            &[("op", cmd.op.name()), ("outcome", outcome.label())],
        );
        if let Some(o) = &self.observer {
            o.command(key, cmd, outcome, took);
        }
    }

    fn repeatability(&self, key: &CorrelationId, cmd: &Command) -> Repeatability {
        // The correlation id is part of the namespace key: sanitized captures (and buggy
        // senders) reuse event ids across calls.
        Repeatability::derive(
            &format!("{key}/{}", cmd.key.event_id),
            &cmd.key.action,
            cmd.key.first_sent,
        )
    }

    /// The result of an operation on one participant. Call Automation answers 404 both when
    /// the call is gone and when only the participant (or invitation) is — an agent who joined
    /// late and was already removed, say — so a 404 is checked against the call itself: only
    /// a call that is really gone ends the flow.
    async fn participant_op(
        &self,
        cc: &CallConnectionId,
        result: Result<impl Sized, CaError>,
        already_done: &str,
    ) -> Result<Effect, CmdError> {
        match result {
            Ok(_) => Ok(Effect::Done(String::new())),
            Err(e) if e.is_call_not_found() => {
                match self.calls.get_call(cc, RequestOptions::default()).await {
                    Ok(_) => Ok(Effect::Done(already_done.to_string())),
                    Err(check) if check.is_call_not_found() => Err(e.into()),
                    // Could not tell: retry the command later rather than end the call.
                    Err(check) => Err(CmdError::Transient(format!(
                        "{e}; checking whether the call still exists failed: {check}"
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn request_options(&self, key: &CorrelationId, cmd: &Command) -> RequestOptions {
        RequestOptions::with_repeatability(self.repeatability(key, cmd))
    }

    fn connection<'s>(&self, state: &'s CallState) -> Result<&'s CallConnectionId, CmdError> {
        state
            .call_connection_id
            .as_ref()
            .ok_or_else(|| CmdError::Permanent("no call connection id yet".into()))
    }

    /// Media operations take no repeatability headers: a store marker makes them run once.
    fn marker(&self, key: &CorrelationId, cmd: &Command) -> String {
        format!("cmd:{key}:{}", self.repeatability(key, cmd).request_id)
    }

    async fn fenced<F>(
        &self,
        key: &CorrelationId,
        cmd: &Command,
        run: F,
    ) -> Result<Effect, CmdError>
    where
        F: std::future::Future<Output = Result<(), CaError>>,
    {
        let marker = self.marker(key, cmd);
        if self.store.check_mark(&marker).await? {
            return Ok(Effect::Skipped);
        }
        run.await?;
        // A crash between the request and this write repeats the media operation once; the
        // window is one store round trip.
        self.store
            .mark_once(&marker, self.options.marker_ttl)
            .await?;
        Ok(Effect::Done(String::new()))
    }

    async fn execute(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        match &cmd.op {
            Op::Answer {
                incoming_call_context,
                operation_context,
            } => {
                let mut req = AnswerCallRequest::new(
                    incoming_call_context.expose(),
                    self.options.callback_url.clone(),
                );
                req.operation_context = Some(operation_context.as_str().into());
                let props = self
                    .calls
                    .answer_call(&req, self.request_options(key, cmd))
                    .await?;
                Ok(Effect::Done(
                    props
                        .call_connection_id
                        .map(|c| format!("call connection {c}"))
                        .unwrap_or_default(),
                ))
            }
            Op::Redirect {
                incoming_call_context,
                target,
            } => {
                let req = RedirectCallRequest {
                    incoming_call_context: incoming_call_context.expose().to_string(),
                    target: target.clone(),
                };
                self.calls
                    .redirect_call(&req, self.request_options(key, cmd))
                    .await?;
                Ok(Effect::Done(String::new()))
            }
            Op::Reject {
                incoming_call_context,
            } => {
                let req = RejectCallRequest {
                    incoming_call_context: incoming_call_context.expose().to_string(),
                    call_reject_reason: None,
                };
                self.calls
                    .reject_call(&req, self.request_options(key, cmd))
                    .await?;
                Ok(Effect::Done(String::new()))
            }
            Op::AddParticipant {
                agent,
                invitation_timeout_secs,
                operation_context,
                seq,
            } => {
                let cc = self.connection(state)?;
                let mut req =
                    AddParticipantRequest::new(CommunicationIdentifier::teams_user(agent.as_str()));
                req.source_display_name = Some(self.flow.source_display_name.clone());
                req.invitation_timeout_in_seconds = Some(*invitation_timeout_secs);
                req.operation_context = Some(operation_context.as_str().into());
                let resp = self
                    .calls
                    .add_participant(cc, &req, self.request_options(key, cmd))
                    .await?;
                match resp.invitation_id {
                    Some(invitation_id) => {
                        let detail = format!("invitation {invitation_id}");
                        let input = FlowInput::internal(
                            cmd.key.derived_id("invited"),
                            cmd.key.first_sent,
                            Internal::Invited {
                                seq: *seq,
                                invitation_id,
                            },
                        );
                        Ok(Effect::Feedback(Box::new(input), detail))
                    }
                    None => Ok(Effect::Done("no invitation id returned".into())),
                }
            }
            Op::CancelAddParticipant {
                invitation_id,
                operation_context,
            } => {
                let cc = self.connection(state)?;
                let mut req = CancelAddParticipantRequest::new(invitation_id.clone());
                req.operation_context = Some(operation_context.as_str().into());
                let r = self
                    .calls
                    .cancel_add_participant(cc, &req, self.request_options(key, cmd))
                    .await;
                self.participant_op(cc, r, "the invitation is over").await
            }
            Op::RemoveParticipant {
                participant,
                operation_context,
            } => {
                let cc = self.connection(state)?;
                let mut req = RemoveParticipantRequest::new(participant.clone());
                req.operation_context = Some(operation_context.as_str().into());
                let r = self
                    .calls
                    .remove_participant(cc, &req, self.request_options(key, cmd))
                    .await;
                self.participant_op(cc, r, "the participant already left")
                    .await
            }
            Op::Play {
                source,
                loop_playback,
                play_to,
                interrupt,
                operation_context,
            } => {
                let cc = self.connection(state)?;
                let mut req = PlayRequest::new(vec![play_source(source)]);
                req.play_to = play_to.iter().cloned().collect();
                if *interrupt && req.play_to.is_empty() {
                    req.interrupt_call_media_operation = Some(true);
                }
                if *loop_playback {
                    req.play_options = Some(PlayOptions { loop_: true });
                }
                req.operation_context = Some(operation_context.as_str().into());
                let calls = &self.calls;
                let opts = self.request_options(key, cmd);
                self.fenced(key, cmd, async move { calls.play(cc, &req, opts).await })
                    .await
            }
            Op::CancelMedia => {
                let cc = self.connection(state)?;
                let calls = &self.calls;
                let opts = self.request_options(key, cmd);
                self.fenced(key, cmd, async move {
                    calls.cancel_all_media_operations(cc, opts).await
                })
                .await
            }
            Op::Recognize {
                prompt,
                target,
                max_tones,
                initial_silence_timeout_secs,
                operation_context,
            } => {
                let cc = self.connection(state)?;
                let mut req =
                    RecognizeRequest::dtmf(target.clone(), Some(play_source(prompt)), *max_tones);
                req.recognize_options.initial_silence_timeout_in_seconds =
                    Some((*initial_silence_timeout_secs).min(300));
                if let Some(d) = req.recognize_options.dtmf_options.as_mut() {
                    *d = DtmfOptions {
                        inter_tone_timeout_in_seconds: Some(5),
                        ..d.clone()
                    };
                }
                req.operation_context = Some(operation_context.as_str().into());
                let calls = &self.calls;
                let opts = self.request_options(key, cmd);
                self.fenced(
                    key,
                    cmd,
                    async move { calls.recognize(cc, &req, opts).await },
                )
                .await
            }
            Op::StartRecording => {
                let mut req = match (&state.server_call_id, &state.call_connection_id) {
                    (Some(server), _) => StartCallRecordingRequest::for_server_call(server.clone()),
                    (None, Some(cc)) => StartCallRecordingRequest::for_call_connection(cc.clone()),
                    (None, None) => {
                        return Err(CmdError::Permanent("no call to record yet".into()));
                    }
                };
                req.recording_state_callback_uri = Some(self.options.callback_url.clone());
                req.recording_content_type = Some(RecordingContentType::Audio);
                req.recording_channel_type = Some(RecordingChannelType::Mixed);
                req.recording_format_type = Some(RecordingFormatType::Wav);
                let resp = self
                    .calls
                    .start_recording(&req, self.request_options(key, cmd))
                    .await?;
                Ok(Effect::Done(
                    resp.recording_id
                        .map(|r| format!("recording {r}"))
                        .unwrap_or_default(),
                ))
            }
            Op::Transfer {
                target,
                operation_context,
            } => {
                let cc = self.connection(state)?;
                let mut req = TransferToParticipantRequest::new(target.clone());
                req.operation_context = Some(operation_context.as_str().into());
                self.calls
                    .transfer_to_participant(cc, &req, self.request_options(key, cmd))
                    .await?;
                Ok(Effect::Done(String::new()))
            }
            Op::HangUp { for_everyone } => {
                let cc = self.connection(state)?;
                let opts = self.request_options(key, cmd);
                let result = if *for_everyone {
                    self.calls.terminate_call(cc, opts).await
                } else {
                    self.calls.hang_up(cc, opts).await
                };
                result?;
                Ok(Effect::Done(String::new()))
            }
            Op::Route {
                seq,
                call,
                excluded,
            } => {
                if state.rechecks > 0 {
                    // Being routed now: no longer a candidate for a freed agent's pull.
                    self.leave_waitlist(key, &call.queue).await?;
                }
                self.route(key, cmd, *seq, call, excluded).await
            }
            Op::JoinWaitlist { n, call, excluded } => {
                self.join_waitlist(key, *n, call, excluded).await?;
                Ok(Effect::Done(format!("waiting in {}", call.queue)))
            }
            Op::Confirm { reservation } => {
                let held = self
                    .store
                    .confirm(reservation, self.options.on_call_ttl)
                    .await?;
                self.refresh_available().await;
                Ok(Effect::Done(if held.is_some() {
                    format!("agent {} on call", reservation.agent)
                } else {
                    format!("reservation on {} no longer held", reservation.agent)
                }))
            }
            Op::Release {
                reservation,
                wrap_up_secs,
            } => {
                let wrap_up = Duration::from_secs(*wrap_up_secs);
                let released = self.store.release(reservation, wrap_up).await?;
                self.refresh_available().await;
                if !released {
                    return Ok(Effect::Done("already released".into()));
                }
                let pulled = self.pull_waiting_call(cmd, reservation, wrap_up).await?;
                Ok(Effect::Done(match pulled {
                    Some(call) => format!(
                        "agent {} released; waiting call {call} re-checked",
                        reservation.agent
                    ),
                    None => format!("agent {} released", reservation.agent),
                }))
            }
            Op::Schedule { id, input, at } => {
                let msg = InternalMessage::new(id.clone(), key.clone(), *at, input.clone());
                let out = timer_message(key, id, &msg).scheduled_at(*at);
                self.timers.send(out).await?;
                Ok(Effect::Done(format!("due {at}")))
            }
            Op::Archive => {
                if state.rechecks > 0 {
                    self.leave_waitlist(key, &state.queue).await?;
                }
                let mut doc = state.clone();
                doc.outbox.clear();
                doc.incoming_call_context = None;
                let value = serde_json::to_value(&doc)
                    .map_err(|e| CmdError::Permanent(format!("state does not serialize: {e}")))?;
                self.store
                    .archive_call(key.as_str(), &value, self.options.audit_ttl)
                    .await?;
                Ok(Effect::Archived)
            }
        }
    }

    /// Ranks agents and reserves the first free one.
    async fn route(
        &self,
        key: &CorrelationId,
        cmd: &Command,
        seq: u32,
        call: &CallRequirements,
        excluded: &[TeamsUserId],
    ) -> Result<Effect, CmdError> {
        let Some(queue) = self.flow.queue(call.queue.as_str()) else {
            return Err(CmdError::Permanent(format!(
                "queue {} is not configured",
                call.queue
            )));
        };
        let ttl = queue.ring_timeout + self.flow.ring_grace + self.options.reservation_margin;
        // A call that already holds a reservation it has not used up (the worker that reserved
        // crashed before its state was saved, or this command was redelivered) keeps that
        // agent: ranking again would see the agent as busy — with this very call — and reserve
        // a second one, and the add already sent to the first would be followed by another.
        let held = self.store.reservations_for_call(key.as_str()).await?;
        if let Some(r) = held
            .iter()
            .find(|r| r.state == ReservationState::Reserved && !excluded.contains(&r.agent))
        {
            if let Some(reservation) = self
                .store
                .reserve_first_of(std::slice::from_ref(&r.agent), key.as_str(), ttl)
                .await?
            {
                let detail = format!("kept reservation of {} (redelivered)", reservation.agent);
                let internal = Internal::Routed {
                    seq,
                    reservation,
                    detail: "kept reservation".into(),
                };
                let input =
                    FlowInput::internal(cmd.key.derived_id("routed"), cmd.key.first_sent, internal);
                return Ok(Effect::Feedback(Box::new(input), detail));
            }
        }
        let records = self.store.list_agents().await?;
        let mut live = HashMap::new();
        let mut stored_presence = PresenceView::new();
        for r in &records {
            live.insert(
                r.id.clone(),
                AgentLiveState {
                    active_calls: r.on_call,
                    reserved: r.reserved,
                    last_released_at: r.last_released_at,
                    wrap_up_until: r.wrap_up_until,
                },
            );
            if let Some(p) = &r.presence {
                stored_presence.insert(
                    r.id.clone(),
                    PresenceObservation {
                        availability: Availability::parse(&p.availability),
                        activity: p.activity.clone(),
                        observed_at: p.observed_at,
                    },
                );
            }
        }
        // Agents the store does not know (or an operator took offline/paused) cannot be
        // reserved; leave them out so the engine does not offer them.
        let reservable_status: HashSet<&TeamsUserId> = records
            .iter()
            .filter(|r| r.status == AgentStatus::Available)
            .map(|r| &r.id)
            .collect();
        let mut agents = self.roster.snapshots(&live);
        for a in &mut agents {
            if !reservable_status.contains(&a.oid) {
                a.enabled = false;
            }
        }
        let presence = match &self.presence {
            Some(cache) => cache.view(&self.roster.ids()).await,
            None => stored_presence,
        };
        let excluded: HashSet<TeamsUserId> = excluded.iter().cloned().collect();
        let now = self.clock.now();
        let decision = rank_agents(call, queue, &agents, &presence, now, &excluded);
        let (internal, detail) = match decision {
            RoutingDecision::Offer { ranked } => {
                let ids: Vec<TeamsUserId> = ranked.iter().map(|c| c.agent.clone()).collect();
                match self.store.reserve_first_of(&ids, key.as_str(), ttl).await? {
                    Some(reservation) => {
                        let reason = ranked
                            .iter()
                            .find(|c| c.agent == reservation.agent)
                            .map(|c| c.reason.to_string())
                            .unwrap_or_default();
                        let detail = format!("reserved {} ({reason})", reservation.agent);
                        self.refresh_available().await;
                        (
                            Internal::Routed {
                                seq,
                                reservation,
                                detail: reason,
                            },
                            detail,
                        )
                    }
                    None => {
                        // Every ranked agent was taken between reading and reserving.
                        let retry = queue.wait_retry.max(Duration::from_millis(250));
                        let detail = format!("all {} candidates taken meanwhile", ids.len());
                        (
                            Internal::NoAgent {
                                seq,
                                retry_after_ms: millis(retry),
                                detail: detail.clone(),
                            },
                            detail,
                        )
                    }
                }
            }
            RoutingDecision::Wait {
                reason,
                retry_after,
            } => {
                let detail = reason.to_string();
                (
                    Internal::NoAgent {
                        seq,
                        retry_after_ms: millis(retry_after),
                        detail: detail.clone(),
                    },
                    format!("wait: {detail}"),
                )
            }
            RoutingDecision::Overflow { target, reason } => {
                let detail = reason.to_string();
                (
                    Internal::Overflow {
                        seq,
                        target,
                        detail: detail.clone(),
                    },
                    format!("overflow: {detail}"),
                )
            }
        };
        let suffix = match &internal {
            Internal::Routed { .. } => "routed",
            Internal::NoAgent { .. } => "no-agent",
            _ => "overflow",
        };
        let input = FlowInput::internal(cmd.key.derived_id(suffix), cmd.key.first_sent, internal);
        Ok(Effect::Feedback(Box::new(input), detail))
    }

    /// Lists the call as waiting in its queue (replacing an older entry of the call).
    async fn join_waitlist(
        &self,
        key: &CorrelationId,
        n: u32,
        call: &CallRequirements,
        excluded: &[TeamsUserId],
    ) -> Result<(), CmdError> {
        let now = self.clock.now();
        let max_wait = self
            .flow
            .queue(call.queue.as_str())
            .map_or(Duration::from_secs(3600), |q| q.max_wait);
        let entry = WaitEntry {
            call: call.clone(),
            n,
            excluded: excluded.to_vec(),
            added_at: now,
        };
        // The entry outlives its usefulness by a little: once the call should have overflowed
        // it is a leftover, and the store drops it by itself.
        let ttl = (call.waiting_since + max_wait + WAITLIST_SLACK - now)
            .try_into()
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_secs(1));
        let value = serde_json::to_value(&entry)
            .map_err(|e| CmdError::Transient(format!("waitlist entry does not serialize: {e}")))?;
        self.store
            .put_member(&waitlist_key(&call.queue), key.as_str(), &value, ttl)
            .await?;
        Ok(())
    }

    async fn leave_waitlist(&self, key: &CorrelationId, queue: &QueueName) -> Result<(), CmdError> {
        self.store
            .remove_member(&waitlist_key(queue), key.as_str())
            .await?;
        Ok(())
    }

    /// An agent became free: the waiting call they should take next (queue priority, then
    /// longest wait) gets an immediate re-check — or one at the end of the agent's wrap-up —
    /// instead of waiting for its own timer.
    async fn pull_waiting_call(
        &self,
        cmd: &Command,
        reservation: &Reservation,
        wrap_up: Duration,
    ) -> Result<Option<CorrelationId>, CmdError> {
        let Some(agent) = self.roster.get(&reservation.agent) else {
            return Ok(None);
        };
        let snapshot = agent.snapshot(AgentLiveState::default());
        let queues = &self.flow.routing.queues;
        let now = self.clock.now();
        let mut calls: Vec<(QueueName, WaitEntry)> = Vec::new();
        for (name, q) in queues {
            if q.direct || !snapshot.meets(&q.required_skills) {
                continue;
            }
            // Only a hint (the call state stays the truth): a list or an entry that cannot be
            // read is skipped.
            let Ok(members) = self.store.list_members(&waitlist_key(name)).await else {
                continue;
            };
            let entries = members
                .into_iter()
                .filter_map(|(_, v)| serde_json::from_value::<WaitEntry>(v).ok());
            for e in entries {
                let stale = e.call.waiting_since + q.max_wait + WAITLIST_SLACK <= now;
                if !stale && !e.excluded.contains(&reservation.agent) {
                    calls.push((name.clone(), e));
                }
            }
        }
        if calls.is_empty() {
            return Ok(None);
        }
        let reqs: Vec<CallRequirements> = calls.iter().map(|(_, e)| e.call.clone()).collect();
        let Some(i) = next_call_for_agent(&snapshot, &reqs, queues) else {
            return Ok(None);
        };
        let (queue, entry) = calls.swap_remove(i);
        let target = entry.call.call_id.clone();
        // Take it off the list so the next freed agent pulls a different call.
        self.leave_waitlist(&target, &queue).await?;
        let id = cmd.key.derived_id(&format!("pull:{target}"));
        let at = now + wrap_up;
        let msg = InternalMessage::new(
            id.clone(),
            target.clone(),
            at,
            Internal::QueueRecheck { n: entry.n },
        );
        let mut out = timer_message(&target, &id, &msg);
        if !wrap_up.is_zero() {
            out = out.scheduled_at(at);
        }
        self.timers.send(out).await?;
        self.metrics
            .inc("switchboard_waiting_calls_pulled_total", &[]);
        Ok(Some(target))
    }

    async fn refresh_available(&self) {
        if let Ok(agents) = self.store.list_agents().await {
            let n = agents.iter().filter(|a| a.is_reservable()).count();
            self.metrics
                .set("switchboard_agents_available", &[], n as f64);
        }
    }
}

/// Waitlist entries are dropped this long after their call should have overflowed.
const WAITLIST_SLACK: Duration = Duration::from_secs(60);

/// Store member set of a queue's waiting calls, one member per call: every waiting call of a
/// queue writes its own entry, so a burst of them never contends on one document.
fn waitlist_key(queue: &QueueName) -> String {
    format!("waitlist:{queue}")
}

/// A call waiting in a queue (a hint for freed agents; the call state stays the truth).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WaitEntry {
    call: CallRequirements,
    /// The call's current re-check number: the pull sends this re-check early.
    n: u32,
    /// Agents already tried for the call.
    excluded: Vec<TeamsUserId>,
    #[serde(with = "time::serde::rfc3339")]
    added_at: OffsetDateTime,
}

/// A queue message carrying an internal input to the call's session. The message id is
/// derived from the input id, so sending it twice is deduplicated where the queue does that
/// (and the flow ignores a repeated input anyway).
fn timer_message(key: &CorrelationId, id: &str, msg: &InternalMessage) -> OutgoingMessage {
    let message_id = Uuid::new_v5(&TIMER_NAMESPACE, format!("{key}\n{id}").as_bytes()).to_string();
    OutgoingMessage::new(message_id, msg.encode())
        .with_session_id(key.as_str())
        .with_correlation_id(key.as_str())
        .with_content_type("application/json")
        .with_subject(msg.message_type.clone())
        .with_property("type", msg.message_type.clone())
}

fn store_err(e: StoreError) -> ExecError {
    if e.is_retryable() {
        ExecError::Transient(e.to_string())
    } else {
        ExecError::Permanent {
            reason: "StoreError",
            description: e.to_string(),
        }
    }
}

fn failed_input(cmd: &Command, gone: bool, reason: &str) -> FlowInput {
    FlowInput::internal(
        cmd.key.derived_id(if gone { "gone" } else { "failed" }),
        cmd.key.first_sent,
        Internal::CommandFailed {
            command: Box::new(cmd.clone()),
            gone,
            reason: reason.to_string(),
        },
    )
}

/// The routing configuration's play source as a Call Automation play source.
pub fn play_source(source: &PlaySource) -> switchboard_callautomation::PlaySource {
    match source {
        PlaySource::Text {
            text,
            voice,
            locale,
        } => switchboard_callautomation::PlaySource::text(text.clone())
            .with_voice(voice.clone(), locale.clone()),
        PlaySource::File { url } => switchboard_callautomation::PlaySource::file(url.clone()),
        PlaySource::Ssml { ssml } => switchboard_callautomation::PlaySource::ssml(ssml.clone()),
    }
}

/// True if a queue message body is one of our internal inputs (by its `type` property or
/// its body).
pub fn is_internal_type(message_type: Option<&str>, body: &[u8]) -> bool {
    message_type.is_some_and(|t| t.starts_with(INTERNAL_TYPE_PREFIX))
        || InternalMessage::sniff(body)
}

/// Live agent state from the store, for `switchboard agents list` (routing's
/// [`AgentStateSource`] extension point).
#[derive(Clone)]
pub struct StoreAgentState {
    store: Arc<dyn Store>,
    describe: String,
}

impl StoreAgentState {
    /// Over `store`; `describe` names it in messages (`"sqlite store switchboard.db"`).
    pub fn new(store: Arc<dyn Store>, describe: impl Into<String>) -> Self {
        Self {
            store,
            describe: describe.into(),
        }
    }
}

#[async_trait]
impl AgentStateSource for StoreAgentState {
    async fn agent_states(
        &self,
        ids: &[TeamsUserId],
    ) -> Result<HashMap<TeamsUserId, AgentLiveState>, Box<dyn std::error::Error + Send + Sync>>
    {
        let wanted: HashSet<&TeamsUserId> = ids.iter().collect();
        Ok(self
            .store
            .list_agents()
            .await?
            .into_iter()
            .filter(|r| wanted.contains(&r.id))
            .map(|r| {
                (
                    r.id.clone(),
                    AgentLiveState {
                        active_calls: r.on_call,
                        reserved: r.reserved,
                        last_released_at: r.last_released_at,
                        wrap_up_until: r.wrap_up_until,
                    },
                )
            })
            .collect())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_sources_convert() {
        let t = play_source(&PlaySource::Text {
            text: "hi".into(),
            voice: Some("en-US-JennyNeural".into()),
            locale: Some("en-US".into()),
        });
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["kind"], "text");
        assert_eq!(v["text"]["text"], "hi");
        assert_eq!(v["text"]["voiceName"], "en-US-JennyNeural");
        let f = serde_json::to_value(play_source(&PlaySource::File {
            url: "https://x/a.wav".into(),
        }))
        .unwrap();
        assert_eq!(f["kind"], "file");
        assert_eq!(f["file"]["uri"], "https://x/a.wav");
    }

    #[test]
    fn internal_messages_are_recognised_by_type_or_body() {
        assert!(is_internal_type(Some("Switchboard.RingTimeout"), b""));
        assert!(!is_internal_type(
            Some("Microsoft.Communication.CallConnected"),
            b"[]"
        ));
        assert!(is_internal_type(
            None,
            br#"{"type":"Switchboard.QueueRecheck"}"#
        ));
    }

    #[test]
    fn outcomes_have_labels() {
        assert_eq!(CommandOutcome::AlreadyDone.label(), "skipped");
        assert_eq!(
            CommandOutcome::Failed {
                reason: "x".into(),
                gone: true
            }
            .label(),
            "gone"
        );
        assert_eq!(
            CommandOutcome::Done {
                detail: String::new()
            }
            .to_string(),
            "ok"
        );
    }
}
