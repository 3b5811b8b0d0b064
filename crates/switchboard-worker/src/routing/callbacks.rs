//! Serving stored callback requests: starting the callback's own call state once a request
//! is stored, offering requests to freed agents in the queue's order, and recording how each
//! ended.
//!
//! A request stays a member of `callbacks:<queue>` (it keeps the caller's place: positions
//! and pulls count it) until its callback finishes; then it moves to
//! `callback-results:<queue>` with its final state (outcome, attempts, agents who did not
//! answer), which `switchboard stats` / call history can read, and is counted in
//! `switchboard_callbacks_finished_total{queue,outcome}`.

use std::time::Duration;

use switchboard_events::CorrelationId;
use switchboard_routing::{CallRequirements, QueueName};
use switchboard_store::StoreExt;

use super::wait_status::callbacks_key;
use super::Routing;
use crate::calls::{CmdError, Effect};
use crate::flow::{
    callback_key, CallState, CallbackOutcome, CallbackRequest, Command, Internal, InternalMessage,
    Op, Phase,
};
use crate::timers::timer_message;

/// How long a finished callback's record is kept.
const CALLBACK_RESULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Store member set of a queue's finished callbacks (one member per request).
pub(crate) fn callback_results_key(queue: &QueueName) -> String {
    format!("callback-results:{queue}")
}

impl Routing {
    /// Hands a stored request to its callback: a sealed message to the callback's session
    /// (id from the request, so storing it again sends nothing new).
    pub(super) async fn start_callback(
        &self,
        request: &CallbackRequest,
        cmd: &Command,
    ) -> Result<(), CmdError> {
        let key = callback_key(&request.correlation_id);
        let id = format!("callback-start:{}", request.correlation_id);
        let msg = InternalMessage::new(
            id.clone(),
            key.clone(),
            cmd.key.first_sent,
            Internal::CallbackStart {
                request: Box::new(request.clone()),
            },
        );
        self.timers
            .send(timer_message(&self.seal, &key, &id, &msg))
            .await?;
        Ok(())
    }

    /// Requests of the queue `queue` whose callback waits for an agent now (unreadable or
    /// expired ones, and those being served, are skipped: the pull is a hint).
    pub(super) async fn pending_callbacks(&self, queue: &QueueName) -> Vec<CallbackRequest> {
        let Ok(members) = self.store.list_members(&callbacks_key(queue)).await else {
            return Vec::new();
        };
        let now = self.clock.now();
        let mut waiting = Vec::new();
        for r in members
            .into_iter()
            .filter_map(|(_, v)| serde_json::from_value::<CallbackRequest>(v).ok())
            .filter(|r| r.expires_at > now)
        {
            let key = callback_key(&r.correlation_id);
            let state = self.store.get_call_as::<CallState>(key.as_str()).await;
            if let Ok(Some(s)) = state {
                if matches!(s.value.phase, Phase::Waiting { .. }) {
                    waiting.push(r);
                }
            }
        }
        waiting
    }

    /// A freed agent's pull chose a callback request: its callback routes now (it ignores
    /// the pull while it is not waiting, or pausing between customer calls).
    pub(super) async fn pull_callback(
        &self,
        cmd: &Command,
        request: &CallRequirements,
        at: time::OffsetDateTime,
    ) -> Result<CorrelationId, CmdError> {
        let key = callback_key(&request.call_id);
        let id = cmd.key.derived_id(&format!("pull:{key}"));
        let msg = InternalMessage::new(id.clone(), key.clone(), at, Internal::CallbackDue);
        let mut out = timer_message(&self.seal, &key, &id, &msg);
        if at > self.clock.now() {
            out = out.scheduled_at(at);
        }
        self.timers.send(out).await?;
        Ok(key)
    }

    pub(crate) async fn finish_callback_command(
        &self,
        key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::FinishCallback { callback } = &cmd.op else {
            return Err(crate::calls::not_this_op(cmd));
        };
        let r = &callback.request;
        let queue = &r.call.queue;
        let outcome = callback.outcome.unwrap_or(CallbackOutcome::Failed);
        let value = serde_json::to_value(callback.as_ref())
            .map_err(|e| CmdError::Permanent(format!("callback does not serialize: {e}")))?;
        // The result first: a crash in between leaves the request counted twice for a while,
        // never lost.
        self.store
            .put_member(
                &callback_results_key(queue),
                r.correlation_id.as_str(),
                &value,
                CALLBACK_RESULT_TTL,
            )
            .await?;
        let removed = self
            .store
            .remove_member(&callbacks_key(queue), r.correlation_id.as_str())
            .await?;
        let detail = callback.detail.clone().unwrap_or_default();
        if removed {
            // Once per request: a repeat of this command finds the request gone.
            self.metrics.inc(
                "switchboard_callbacks_finished_total",
                &[("queue", queue.as_str()), ("outcome", outcome.as_str())],
            );
            if outcome == CallbackOutcome::Completed {
                tracing::info!(callback = %key, %queue, attempts = callback.attempts, "callback completed: {detail}");
            } else {
                tracing::warn!(callback = %key, %queue, attempts = callback.attempts, agent_failures = callback.agent_failures, outcome = outcome.as_str(), "callback not served: {detail}");
            }
        }
        Ok(Effect::Done(format!(
            "callback {} {}",
            r.correlation_id,
            outcome.as_str()
        )))
    }
}
