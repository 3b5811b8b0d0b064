//! Routing one call: rank the queue's agents (switchboard-routing's engine) and reserve the
//! first free one atomically in the store.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use switchboard_events::{CorrelationId, TeamsUserId};
use switchboard_routing::presence::PresenceObservation;
use switchboard_routing::{
    rank_agents, Availability, CallQueueConfig, CallRequirements, PresenceView, QueueName,
    RoutingDecision,
};
use switchboard_store::{AgentRecord, AgentStatus, ReservationState};

use super::{live_state, Routing};
use crate::calls::{CmdError, Effect};
use crate::flow::input::millis;
use crate::flow::{Command, FlowInput, Internal};

impl Routing {
    /// Ranks agents and reserves the first free one.
    pub(super) async fn route(
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
        // A callback's agent leg rings for the callback policy's time, which may be longer.
        let ring = queue.callback.as_ref().map_or(queue.ring_timeout, |c| {
            c.agent_ring_timeout.max(queue.ring_timeout)
        });
        let ttl = ring + self.flow.ring_grace + self.reservation_margin;
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
        let excluded: HashSet<TeamsUserId> = excluded.iter().cloned().collect();
        let now = self.clock.now();
        let mut call = call.clone();
        if queue.strategy.keeps_cursor() {
            call.round_robin_cursor = self.cursor(&call.queue).await;
        }
        // First only the agents reservable now. The engine offers a call to agents with free
        // capacity out of wrap-up and ranks those alone, so when one of them can take it the
        // offer is the one the whole list gives; reading every agent (and building a snapshot
        // of each) for every decision made its cost grow with the size of the contact centre.
        // A wait or an overflow depends on the others too (busy, in wrap-up, tried): the whole
        // list decides those.
        let free = self.store.list_reservable_agents().await?;
        let offered = if free.is_empty() {
            None
        } else {
            let decision = self.decide(&free, true, &call, queue, &excluded, now).await;
            matches!(decision, RoutingDecision::Offer { .. }).then_some((decision, free))
        };
        let (decision, records) = match offered {
            Some(d) => d,
            None => {
                let all = self.store.list_agents().await?;
                let decision = self.decide(&all, false, &call, queue, &excluded, now).await;
                (decision, all)
            }
        };
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
                        if queue.strategy.keeps_cursor() {
                            self.move_cursor(&call.queue, &reservation.agent).await;
                        }
                        // From the list this decision read: no second read of every agent.
                        self.set_available(&records, Some(&reservation.agent));
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

    /// The agent the queue reserved last (a hint: unreadable means "start of the ring").
    async fn cursor(&self, queue: &QueueName) -> Option<TeamsUserId> {
        let members = self.store.list_members(&cursor_key(queue)).await.ok()?;
        members
            .into_iter()
            .find(|(m, _)| m == CURSOR_MEMBER)
            .and_then(|(_, v)| serde_json::from_value(v).ok())
    }

    /// Remembers `agent` as the queue's last reservation. Losing this write only means the
    /// next call may start the ring one agent early, so a failure is logged, not returned.
    async fn move_cursor(&self, queue: &QueueName, agent: &TeamsUserId) {
        let value = serde_json::json!(agent);
        let set = cursor_key(queue);
        let put = self
            .store
            .put_member(&set, CURSOR_MEMBER, &value, CURSOR_TTL);
        if let Err(e) = put.await {
            tracing::warn!(%queue, error = %e, "round-robin cursor not saved");
        }
    }

    /// The engine's decision over `records` (all agents, or with `subset` only those listed:
    /// the others are left out, not taken as idle).
    async fn decide(
        &self,
        records: &[AgentRecord],
        subset: bool,
        call: &CallRequirements,
        queue: &CallQueueConfig,
        excluded: &HashSet<TeamsUserId>,
        now: time::OffsetDateTime,
    ) -> RoutingDecision {
        let mut live = HashMap::with_capacity(records.len());
        let mut stored_presence = PresenceView::new();
        // With a presence cache the stored observations are not read: no copy of them.
        let use_stored_presence = self.presence.is_none();
        for r in records {
            live.insert(r.id.clone(), live_state(r));
            if let Some(p) = r.presence.as_ref().filter(|_| use_stored_presence) {
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
        let mut agents = if subset {
            self.roster.snapshots_of(&live)
        } else {
            self.roster.snapshots(&live)
        };
        for a in &mut agents {
            if !reservable_status.contains(&a.oid) {
                a.enabled = false;
            }
        }
        let presence = match &self.presence {
            Some(cache) if subset => {
                let ids: Vec<TeamsUserId> = agents.iter().map(|a| a.oid.clone()).collect();
                cache.view(&ids).await
            }
            Some(cache) => cache.view(&self.roster.ids()).await,
            None => stored_presence,
        };
        rank_agents(call, queue, &agents, &presence, now, excluded)
    }
}

/// The round-robin cursor lives in the store, not in a worker, so it survives restarts and
/// every replica continues the same ring.
fn cursor_key(queue: &QueueName) -> String {
    format!("cursor:{queue}")
}

const CURSOR_MEMBER: &str = "last-reserved";

/// A queue idle this long starts its ring over.
const CURSOR_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
