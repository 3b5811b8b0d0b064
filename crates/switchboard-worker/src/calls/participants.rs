//! Participants of a connected call: invite an agent, withdraw an invitation, remove someone.

use switchboard_callautomation::{
    AddParticipantRequest, CancelAddParticipantRequest, RemoveParticipantRequest,
};
use switchboard_events::{CommunicationIdentifier, CorrelationId};

use super::{not_this_op, Calls, CmdError, Effect};
use crate::flow::{CallState, Command, FlowInput, Internal, Op};

impl Calls {
    pub(super) async fn add_participant(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::AddParticipant {
            agent,
            invitation_timeout_secs,
            operation_context,
            seq,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let mut req =
            AddParticipantRequest::new(CommunicationIdentifier::teams_user(agent.as_str()));
        req.source_display_name = Some(self.source_display_name.clone());
        req.invitation_timeout_in_seconds = Some(*invitation_timeout_secs);
        req.operation_context = Some(operation_context.as_str().into());
        let resp = self
            .client
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

    pub(super) async fn cancel_add_participant(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::CancelAddParticipant {
            invitation_id,
            operation_context,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let mut req = CancelAddParticipantRequest::new(invitation_id.clone());
        req.operation_context = Some(operation_context.as_str().into());
        let r = self
            .client
            .cancel_add_participant(cc, &req, self.request_options(key, cmd))
            .await;
        self.participant_op(cc, r, "the invitation is over").await
    }

    pub(super) async fn remove_participant(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::RemoveParticipant {
            participant,
            operation_context,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let mut req = RemoveParticipantRequest::new(participant.clone());
        req.operation_context = Some(operation_context.as_str().into());
        let r = self
            .client
            .remove_participant(cc, &req, self.request_options(key, cmd))
            .await;
        self.participant_op(cc, r, "the participant already left")
            .await
    }
}
