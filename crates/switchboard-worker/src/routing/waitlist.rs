//! Queue waitlists: a waiting call lists itself in its queue's store member set; an agent who
//! frees up pulls the call they should take next (queue priority, then longest wait) — a
//! stored callback request counts there with the place its caller left.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_events::{CorrelationId, TeamsUserId};
use switchboard_routing::{next_call_for_agent, AgentLiveState, CallRequirements, QueueName};
use switchboard_store::Reservation;
use time::OffsetDateTime;

use super::Routing;
use crate::calls::CmdError;
use crate::flow::{Command, Internal, InternalMessage};
use crate::timers::timer_message;

impl Routing {
    /// Lists the call as waiting in its queue (replacing an older entry of the call).
    pub(super) async fn join_waitlist(
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

    pub(crate) async fn leave_waitlist(
        &self,
        key: &CorrelationId,
        queue: &QueueName,
    ) -> Result<(), CmdError> {
        self.store
            .remove_member(&waitlist_key(queue), key.as_str())
            .await?;
        Ok(())
    }

    /// An agent became free: the waiting call they should take next (queue priority, then
    /// longest wait) gets an immediate re-check — or one at the end of the agent's wrap-up —
    /// instead of waiting for its own timer.
    pub(super) async fn pull_waiting_call(
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
        let mut calls: Vec<(QueueName, Pulled)> = Vec::new();
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
                    calls.push((name.clone(), Pulled::Waiting(e)));
                }
            }
            // Callback requests keep their place among the waiting callers.
            if q.callback.is_some() {
                for r in self.pending_callbacks(name).await {
                    calls.push((name.clone(), Pulled::Callback(r.call)));
                }
            }
        }
        if calls.is_empty() {
            return Ok(None);
        }
        let reqs: Vec<CallRequirements> = calls.iter().map(|(_, e)| e.call().clone()).collect();
        let Some(i) = next_call_for_agent(&snapshot, &reqs, queues) else {
            return Ok(None);
        };
        let at = now + wrap_up;
        let (queue, entry) = match calls.swap_remove(i) {
            (_, Pulled::Callback(call)) => {
                let target = self.pull_callback(cmd, &call, at).await?;
                self.metrics
                    .inc("switchboard_waiting_calls_pulled_total", &[]);
                return Ok(Some(target));
            }
            (queue, Pulled::Waiting(entry)) => (queue, entry),
        };
        let target = entry.call.call_id.clone();
        // Take it off the list so the next freed agent pulls a different call.
        self.leave_waitlist(&target, &queue).await?;
        let id = cmd.key.derived_id(&format!("pull:{target}"));
        let msg = InternalMessage::new(
            id.clone(),
            target.clone(),
            at,
            Internal::QueueRecheck { n: entry.n },
        );
        let mut out = timer_message(&self.seal, &target, &id, &msg);
        if !wrap_up.is_zero() {
            out = out.scheduled_at(at);
        }
        self.timers.send(out).await?;
        self.metrics
            .inc("switchboard_waiting_calls_pulled_total", &[]);
        Ok(Some(target))
    }
}

/// What a freed agent can pull: a waiting call, or a stored callback request.
enum Pulled {
    Waiting(WaitEntry),
    Callback(CallRequirements),
}

impl Pulled {
    fn call(&self) -> &CallRequirements {
        match self {
            Self::Waiting(e) => &e.call,
            Self::Callback(c) => c,
        }
    }
}

/// Waitlist entries are dropped this long after their call should have overflowed.
const WAITLIST_SLACK: Duration = Duration::from_secs(60);

/// Store member set of a queue's waiting calls, one member per call: every waiting call of a
/// queue writes its own entry, so a burst of them never contends on one document.
pub(super) fn waitlist_key(queue: &QueueName) -> String {
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
