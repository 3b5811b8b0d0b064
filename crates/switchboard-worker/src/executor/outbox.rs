//! Running a call's outbox: the decided commands front to back, each result fed back through
//! the flow at once, progress saved so a redelivery resumes where this handler stopped.

use std::time::{Duration, Instant};

use switchboard_events::CorrelationId;
use tracing::Instrument;

use super::outcome::{CommandOutcome, Drained, ExecError};
use super::Executor;
use crate::calls::{CmdError, Effect};
use crate::flow::{step, CallState, Command, FlowInput, Internal, InternalMessage, Op};
use crate::timers::timer_message;

impl Executor {
    /// Runs the outbox of `state` (saved at `version`) front to back, feeding results back
    /// into the flow, then saves the result.
    pub(super) async fn drain(
        &self,
        key: &CorrelationId,
        state: &mut CallState,
        version: u64,
        executed: &mut usize,
    ) -> Result<Drained, ExecError> {
        if state.outbox.is_empty() && state.lease.is_none() {
            // Nothing to run and nothing to give up: the state is as saved at `version`, and a
            // second write of it would only cost a transaction (most events decide no
            // command).
            return Ok(Drained::Saved(version));
        }
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
                Ok(Effect::Uncertain(reason)) => {
                    self.metrics.inc(
                        "switchboard_commands_uncertain_total",
                        &[("op", cmd.op.name())],
                    );
                    tracing::warn!(%reason, "media command outcome unknown; not sent again");
                    let input = FlowInput::internal(
                        cmd.key.derived_id("uncertain"),
                        self.clock.now(),
                        Internal::CommandUncertain {
                            command: Box::new(cmd.clone()),
                            reason: reason.clone(),
                        },
                    );
                    (CommandOutcome::Uncertain { reason }, Some(input))
                }
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
                if let Some(mut next) = t.state {
                    crate::stats::note(Some(state), &input, &mut next, now);
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

    /// One command: Call Automation requests go to `crate::calls`, reservations and
    /// waitlists to [`crate::routing`]; timers and archiving are done here.
    async fn execute(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        match &cmd.op {
            op if op.is_call_automation() => self.calls.execute(key, state, cmd).await,
            Op::Route { .. } => self.routing.route_command(key, state, cmd).await,
            Op::JoinWaitlist { .. } => self.routing.join_waitlist_command(key, state, cmd).await,
            Op::QueryWaitStatus { .. } => self.routing.wait_status_command(key, state, cmd).await,
            Op::RequestCallback { .. } => {
                self.routing.request_callback_command(key, state, cmd).await
            }
            Op::FinishCallback { .. } => {
                self.routing.finish_callback_command(key, state, cmd).await
            }
            Op::Confirm { .. } => self.routing.confirm(key, state, cmd).await,
            Op::Release { .. } => self.routing.release(key, state, cmd).await,
            Op::Schedule { id, input, at } => {
                let msg = InternalMessage::new(id.clone(), key.clone(), *at, input.clone());
                let out = timer_message(&self.seal, key, id, &msg).scheduled_at(*at);
                self.timers.send(out).await?;
                Ok(Effect::Done(format!("due {at}")))
            }
            Op::Archive => {
                if state.rechecks > 0 {
                    self.routing.leave_waitlist(key, &state.queue).await?;
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
            _ => Err(crate::calls::not_this_op(cmd)),
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
