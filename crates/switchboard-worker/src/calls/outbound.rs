//! A callback's own calls: place the call to the agent (`CreateCall`), add the customer's
//! number to it with our number as caller id, end one leg.
//!
//! The events of a placed call carry that call's correlation id, not the callback's key:
//! the key is stored under the new correlation id (`super::alias`) before the flow hears of
//! the call, and the executor keys the call's events by it.

use switchboard_callautomation::{AddParticipantRequest, CreateCallRequest, PhoneNumberIdentifier};
use switchboard_events::{CommunicationIdentifier, CorrelationId};

use super::alias::{alias_key, ALIAS_MEMBER, ALIAS_TTL};
use super::{not_this_op, Calls, CmdError, Effect};
use crate::flow::{CallState, Command, FlowInput, Internal, Op};

impl Calls {
    pub(super) async fn call_agent(
        &self,
        key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::CallAgent {
            seq,
            agent,
            operation_context,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let target = CommunicationIdentifier::teams_user(agent.as_str());
        let mut req = CreateCallRequest::new(vec![target], self.callback_url.clone());
        req.source_display_name = Some(self.source_display_name.clone());
        req.operation_context = Some(operation_context.as_str().into());
        // Repeatable (ids from the callback's key and the input that decided the offer): a
        // redelivery, or a second replica finishing this outbox, gets the same call back.
        let props = self
            .client
            .create_call(&req, self.request_options(key, cmd))
            .await?;
        let (Some(ccid), Some(corr)) = (props.call_connection_id, props.correlation_id) else {
            return Err(CmdError::Permanent(
                "CreateCall answered without callConnectionId / correlationId".into(),
            ));
        };
        // Before the flow hears of the call: its events (CallConnected first) must find us.
        self.store
            .put_member(
                &alias_key(corr.as_str()),
                ALIAS_MEMBER,
                &serde_json::json!(key.as_str()),
                ALIAS_TTL,
            )
            .await?;
        let input = FlowInput::internal(
            cmd.key.derived_id("dialled"),
            cmd.key.first_sent,
            Internal::CallbackDialled {
                seq: *seq,
                call_connection_id: ccid.clone(),
            },
        );
        Ok(Effect::Feedback(
            Box::new(input),
            format!("agent call {ccid} (correlation {corr})"),
        ))
    }

    pub(super) async fn add_customer(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::AddCustomer {
            number,
            caller_id,
            invitation_timeout_secs,
            operation_context,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let mut req = AddParticipantRequest::new(CommunicationIdentifier::phone(number.clone()));
        // A phone number is only called with one of ours shown as the caller id.
        req.source_caller_id_number = Some(PhoneNumberIdentifier::new(caller_id.clone()));
        req.invitation_timeout_in_seconds = Some(*invitation_timeout_secs);
        req.operation_context = Some(operation_context.as_str().into());
        self.client
            .add_participant(cc, &req, self.request_options(key, cmd))
            .await?;
        Ok(Effect::Done(format!("ringing {number}")))
    }

    pub(super) async fn end_leg(
        &self,
        key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::EndLeg { call_connection_id } = &cmd.op else {
            return Err(not_this_op(cmd));
        };
        match self
            .client
            .terminate_call(call_connection_id, self.request_options(key, cmd))
            .await
        {
            Ok(_) => Ok(Effect::Done(String::new())),
            // Already over (declined, or the other side hung up): nothing to end.
            Err(e) if e.is_call_not_found() => Ok(Effect::Done("already ended".into())),
            Err(e) => Err(e.into()),
        }
    }
}
