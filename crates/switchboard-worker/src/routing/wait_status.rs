//! A waiting call's position and estimated wait, and stored callback requests — read from
//! and written to the shared store, so every replica announces the same place.
//!
//! The position counts the queue's waitlist entries (calls on hold) and callback requests
//! (callers who hung up and keep their place) that started waiting earlier (ties by call
//! id); the estimate is [`estimated_wait`] over the agents staffing the queue (status
//! available, with the queue's required skills) and the queue's average handle time.

use std::time::Duration;

use serde::Deserialize;
use switchboard_events::CorrelationId;
use switchboard_routing::queue::estimated_wait;
use switchboard_routing::{CallRequirements, QueueName};
use switchboard_store::AgentStatus;

use super::waitlist::waitlist_key;
use super::Routing;
use crate::calls::{CmdError, Effect};
use crate::flow::{CallState, Command, FlowInput, Internal, Op};

/// Store member set of a queue's callback requests, one member per request (keyed by the
/// call the caller left), each expiring with its request.
pub(crate) fn callbacks_key(queue: &QueueName) -> String {
    format!("callbacks:{queue}")
}

/// What a waitlist entry and a callback request have in common: the call and its place.
#[derive(Deserialize)]
struct Listed {
    call: CallRequirements,
}

impl Routing {
    pub(crate) async fn wait_status_command(
        &self,
        key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::QueryWaitStatus { n, call } = &cmd.op else {
            return Err(crate::calls::not_this_op(cmd));
        };
        let (position, staffed) = self.position(key, call).await?;
        let handle = self
            .flow
            .queue(call.queue.as_str())
            .map_or(switchboard_routing::queue::DEFAULT_AVERAGE_HANDLE, |q| {
                q.average_handle()
            });
        let est = estimated_wait(position, staffed, handle);
        let detail = format!(
            "position {position} in {}, about {} s ({staffed} staffed)",
            call.queue,
            est.as_secs()
        );
        let input = FlowInput::internal(
            cmd.key.derived_id("status"),
            cmd.key.first_sent,
            Internal::WaitStatus {
                n: *n,
                position,
                estimated_wait_secs: est.as_secs(),
                staffed,
            },
        );
        Ok(Effect::Feedback(Box::new(input), detail))
    }

    /// (position, staffed agents) of `key` in its queue, from the store.
    pub(crate) async fn position(
        &self,
        key: &CorrelationId,
        call: &CallRequirements,
    ) -> Result<(u32, u32), CmdError> {
        let mine = (call.waiting_since, key.as_str());
        let mut ahead = 0u32;
        for set in [waitlist_key(&call.queue), callbacks_key(&call.queue)] {
            for (member, value) in self.store.list_members(&set).await? {
                // An entry that does not read is skipped: the position is a hint.
                let Ok(l) = serde_json::from_value::<Listed>(value) else {
                    continue;
                };
                if member != key.as_str() && (l.call.waiting_since, member.as_str()) < mine {
                    ahead = ahead.saturating_add(1);
                }
            }
        }
        let required = self
            .flow
            .queue(call.queue.as_str())
            .map(|q| q.required_skills.clone())
            .unwrap_or_default();
        let staffed = self
            .store
            .list_agents()
            .await?
            .iter()
            .filter(|a| a.status == AgentStatus::Available)
            .filter(|a| {
                self.roster.get(&a.id).is_some_and(|r| {
                    r.entry.enabled && r.snapshot(Default::default()).meets(&required)
                })
            })
            .count();
        Ok((ahead + 1, u32::try_from(staffed).unwrap_or(u32::MAX)))
    }

    pub(crate) async fn request_callback_command(
        &self,
        _key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::RequestCallback { request } = &cmd.op else {
            return Err(crate::calls::not_this_op(cmd));
        };
        let now = self.clock.now();
        let ttl: Duration = (request.expires_at - now)
            .try_into()
            .unwrap_or(Duration::ZERO);
        if ttl.is_zero() {
            return Ok(Effect::Done("callback request already expired".into()));
        }
        // Re-run after its callback was served and archived (a late redelivery of the
        // caller's command): storing and starting it again would call the customer twice.
        let served = crate::flow::callback_key(&request.correlation_id);
        if self
            .store
            .get_archived_call(served.as_str())
            .await?
            .is_some()
        {
            return Ok(Effect::Done("callback request already served".into()));
        }
        let value = serde_json::to_value(request).map_err(|e| {
            CmdError::Permanent(format!("callback request does not serialize: {e}"))
        })?;
        // Keyed by the call: storing it again (a redelivery) replaces the same member.
        self.store
            .put_member(
                &callbacks_key(&request.call.queue),
                request.correlation_id.as_str(),
                &value,
                ttl,
            )
            .await?;
        self.start_callback(request, cmd).await?;
        self.metrics.inc(
            "switchboard_callbacks_requested_total",
            &[("queue", request.call.queue.as_str())],
        );
        Ok(Effect::Done(format!(
            "callback request stored in {} until {}",
            request.call.queue, request.expires_at
        )))
    }
}
