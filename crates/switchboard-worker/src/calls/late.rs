//! Commands decided longer ago than the service remembers repeatable requests.
//!
//! Call Automation keeps a `Repeatability-Request-ID` for five minutes after its
//! `Repeatability-First-Sent` and refuses an older First-Sent (412; the simulator's ADR
//! 0002). A command still in the outbox that long — a queue outage, a worker that crashed
//! mid-outbox and a redelivery that came late — can be neither repeated as it was (refused)
//! nor blindly sent again (its first attempt may have worked). So the call is read first and
//! the command settled from what it shows; only an effect that certainly did not happen is
//! sent again, with a fresh repeatability pair derived from the same command.

use std::time::Duration;

use switchboard_callautomation::{Repeatability, RequestOptions};
use switchboard_events::{CommunicationIdentifier, CorrelationId};

use super::{Calls, CmdError, Effect};
use crate::flow::{CallState, Command, Op};

/// How long the service remembers a repeatable request after its First-Sent.
pub(crate) const REPEATABILITY_WINDOW: Duration = Duration::from_secs(300);
/// Margin for clock skew and the request's own time in flight.
const LATE_MARGIN: Duration = Duration::from_secs(30);

/// Operations that carry the repeatability pair.
fn repeatable(op: &Op) -> bool {
    matches!(
        op,
        Op::Answer { .. }
            | Op::Redirect { .. }
            | Op::Reject { .. }
            | Op::AddParticipant { .. }
            | Op::CancelAddParticipant { .. }
            | Op::RemoveParticipant { .. }
            | Op::Transfer { .. }
            | Op::HangUp { .. }
            | Op::StartRecording
    )
}

impl Calls {
    /// True when `cmd` is repeatable and was decided too long ago for its First-Sent to be
    /// accepted.
    pub(super) fn is_late(&self, cmd: &Command) -> bool {
        let age = self.clock.now() - cmd.key.first_sent;
        repeatable(&cmd.op) && age > REPEATABILITY_WINDOW.saturating_sub(LATE_MARGIN)
    }

    /// The repeatability pair of a late command's new attempt: the same id every time it is
    /// re-sent late (so its own redelivery is replayed), First-Sent now.
    pub(super) fn late_options(&self, key: &CorrelationId, cmd: &Command) -> RequestOptions {
        RequestOptions::with_repeatability(Repeatability::derive(
            &format!("{key}/{}/late", cmd.key.event_id),
            &cmd.key.action,
            self.clock.now(),
        ))
    }

    /// Settles a late command from the call's state when that shows whether its effect
    /// happened; `None` means it certainly did not (or cannot have mattered), so it is sent
    /// again.
    pub(super) async fn reconcile_late(
        &self,
        state: &CallState,
        cmd: &Command,
    ) -> Option<Result<Effect, CmdError>> {
        let age = (self.clock.now() - cmd.key.first_sent).whole_seconds();
        tracing::info!(
            op = cmd.op.name(),
            age_secs = age,
            "command older than the repeatability window: reconciling with the call"
        );
        match &cmd.op {
            Op::Answer { .. } | Op::Redirect { .. } | Op::Reject { .. } => {
                // Only a call that was answered has a connection to read.
                let Some(cc) = state.call_connection_id.as_ref() else {
                    return Some(Err(CmdError::Permanent(format!(
                        "the incoming call context expired: {} decided {age} s ago",
                        cmd.op.name()
                    ))));
                };
                Some(
                    match self.client.get_call(cc, RequestOptions::default()).await {
                        Ok(_) => Ok(Effect::Done("reconciled: the call was answered".into())),
                        Err(e) => Err(e.into()),
                    },
                )
            }
            Op::AddParticipant { agent, .. } => {
                let who = CommunicationIdentifier::teams_user(agent.as_str());
                match self.present(state, &who).await {
                    Ok(true) => Some(Ok(Effect::Done(
                        "reconciled: the agent is already in the call".into(),
                    ))),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                }
            }
            Op::RemoveParticipant { participant, .. } => {
                match self.present(state, participant).await {
                    Ok(false) => Some(Ok(Effect::Done(
                        "reconciled: the participant already left".into(),
                    ))),
                    Ok(true) => None,
                    Err(e) => Some(Err(e)),
                }
            }
            Op::Transfer { .. } | Op::HangUp { .. } => {
                let cc = match self.connection(state) {
                    Ok(cc) => cc,
                    Err(e) => return Some(Err(e)),
                };
                match self.client.get_call(cc, RequestOptions::default()).await {
                    Ok(_) => None,
                    // Transferred away or hung up: our leg is gone either way.
                    Err(e) if e.is_call_not_found() => Some(Ok(Effect::Done(
                        "reconciled: the call connection is already gone".into(),
                    ))),
                    Err(e) => Some(Err(e.into())),
                }
            }
            // Withdrawing an invitation or starting a recording again is harmless.
            _ => None,
        }
    }

    /// Whether `who` is a participant of the call.
    async fn present(
        &self,
        state: &CallState,
        who: &CommunicationIdentifier,
    ) -> Result<bool, CmdError> {
        let cc = self.connection(state)?;
        let raw = who.raw_id();
        let participants = self
            .client
            .list_participants(cc, RequestOptions::default())
            .await?;
        Ok(participants.iter().any(|p| p.identifier.raw_id() == raw))
    }
}
