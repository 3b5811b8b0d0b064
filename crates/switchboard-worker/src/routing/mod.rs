//! Routing against the store: reserving an agent for a call (`route`), the queues'
//! waitlists (`waitlist`), waiting calls' position / estimated wait and stored callback
//! requests (`wait_status`), serving callback requests (`callbacks`), confirming and releasing reservations, and the one mapping from a
//! store agent record to routing's live agent state (`live_state`).
//!
//! The decisions are switchboard-routing's (pure); this module reads what they need from
//! the store and writes back what they decided.

mod callbacks;
mod route;
mod wait_status;
mod waitlist;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchboard_events::{CorrelationId, TeamsUserId};
use switchboard_queue::QueueSender;
use switchboard_routing::roster::AgentStateSource;
use switchboard_routing::{AgentLiveState, PresenceCache, Roster};
use switchboard_store::{AgentProfile, AgentRecord, AgentStatus, Clock, Store, StoreError};

use crate::calls::{CmdError, Effect};
use crate::flow::{CallState, Command, FlowConfig, Op};
use crate::seal::Seal;
use crate::telemetry::Metrics;

/// The routing side of the executor.
pub(crate) struct Routing {
    pub(crate) flow: Arc<FlowConfig>,
    store: Arc<dyn Store>,
    /// Sender of the call-events queue: a freed agent's pull re-checks a waiting call.
    timers: Arc<dyn QueueSender>,
    seal: Seal,
    pub(crate) roster: Arc<Roster>,
    presence: Option<Arc<PresenceCache>>,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    /// Reservation lifetime while ringing, on top of ring timeout + grace.
    reservation_margin: Duration,
    /// Reservation lifetime once the agent is on the call.
    on_call_ttl: Duration,
    /// When `switchboard_agents_available` was last recounted from the whole agent list (see
    /// [`Routing::refresh_available`]).
    available_counted: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Least time between two recounts of `switchboard_agents_available` after a release: the
/// count reads every agent record, and releases come once per call.
const AVAILABLE_RECOUNT_EVERY: Duration = Duration::from_secs(1);

/// What [`Routing`] is built from.
pub(crate) struct RoutingParts {
    pub(crate) flow: Arc<FlowConfig>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) timers: Arc<dyn QueueSender>,
    /// Seals the waitlist pulls sent through `timers`.
    pub(crate) seal: Seal,
    pub(crate) roster: Arc<Roster>,
    pub(crate) presence: Option<Arc<PresenceCache>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Metrics,
    pub(crate) reservation_margin: Duration,
    pub(crate) on_call_ttl: Duration,
}

impl Routing {
    pub(crate) fn new(p: RoutingParts) -> Self {
        Self {
            flow: p.flow,
            store: p.store,
            timers: p.timers,
            seal: p.seal,
            roster: p.roster,
            presence: p.presence,
            clock: p.clock,
            metrics: p.metrics,
            reservation_margin: p.reservation_margin,
            on_call_ttl: p.on_call_ttl,
            available_counted: std::sync::Mutex::new(None),
        }
    }

    /// Puts the roster into the store: creates or updates every agent (display name,
    /// capacity) and sets disabled agents offline, enabled ones available unless an operator
    /// paused them. Idempotent; run at startup by every replica.
    pub(crate) async fn sync_roster(&self) -> Result<(), StoreError> {
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

    pub(crate) async fn route_command(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Route {
            seq,
            call,
            excluded,
        } = &cmd.op
        else {
            return Err(crate::calls::not_this_op(cmd));
        };
        if state.rechecks > 0 {
            // Being routed now: no longer a candidate for a freed agent's pull.
            self.leave_waitlist(key, &call.queue).await?;
        }
        self.route(key, cmd, *seq, call, excluded).await
    }

    pub(crate) async fn join_waitlist_command(
        &self,
        key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::JoinWaitlist { n, call, excluded } = &cmd.op else {
            return Err(crate::calls::not_this_op(cmd));
        };
        self.join_waitlist(key, *n, call, excluded).await?;
        Ok(Effect::Done(format!("waiting in {}", call.queue)))
    }

    pub(crate) async fn confirm(
        &self,
        _key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Confirm { reservation } = &cmd.op else {
            return Err(crate::calls::not_this_op(cmd));
        };
        // Reserved → on the call: the agent was not reservable before and is not now, so
        // `switchboard_agents_available` does not change.
        let held = self.store.confirm(reservation, self.on_call_ttl).await?;
        Ok(Effect::Done(if held.is_some() {
            format!("agent {} on call", reservation.agent)
        } else {
            format!("reservation on {} no longer held", reservation.agent)
        }))
    }

    pub(crate) async fn release(
        &self,
        _key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Release {
            reservation,
            wrap_up_secs,
            reason,
        } = &cmd.op
        else {
            return Err(crate::calls::not_this_op(cmd));
        };
        let wrap_up = Duration::from_secs(*wrap_up_secs);
        let released = self.store.release(reservation, wrap_up).await?;
        if released && reason.as_deref() == Some(crate::flow::command::RELEASE_TENANT_POLICY) {
            // Counted once per refused offer: a repeat of this command finds the reservation
            // already released.
            self.metrics
                .inc("switchboard_agents_refused_by_policy_total", &[]);
        }
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

    /// Recounts `switchboard_agents_available` from the store after a release, at most every
    /// [`AVAILABLE_RECOUNT_EVERY`] (the gauge is a sample: wrap-ups end with no event, so it was
    /// never exact between changes), instead of reading every agent record once per call.
    pub(super) async fn refresh_available(&self) {
        {
            let mut last = self
                .available_counted
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < AVAILABLE_RECOUNT_EVERY) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        if let Ok(agents) = self.store.list_agents().await {
            self.set_available(&agents, None);
        }
    }

    /// Sets `switchboard_agents_available` from `agents` as read, less `taken` (an agent
    /// reserved since the read) when it was counted.
    pub(super) fn set_available(
        &self,
        agents: &[switchboard_store::AgentRecord],
        taken: Option<&TeamsUserId>,
    ) {
        let n = agents
            .iter()
            .filter(|a| a.is_reservable() && Some(&a.id) != taken)
            .count();
        self.metrics
            .set("switchboard_agents_available", &[], n as f64);
    }
}

/// Routing's view of a store agent record (the one place the two models meet).
pub(crate) fn live_state(r: &AgentRecord) -> AgentLiveState {
    AgentLiveState {
        active_calls: r.on_call,
        reserved: r.reserved,
        last_released_at: r.last_released_at,
        wrap_up_until: r.wrap_up_until,
    }
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
            .map(|r| (r.id.clone(), live_state(&r)))
            .collect())
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }
}
