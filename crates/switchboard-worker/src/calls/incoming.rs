//! An incoming call that is not answered yet: answer, redirect or reject it (by its incoming call context).

use switchboard_callautomation::{
    AnswerCallRequest, CallIntelligenceOptions, RedirectCallRequest, RejectCallRequest,
};
use switchboard_events::CorrelationId;

use super::{not_this_op, Calls, CmdError, Effect};
use crate::flow::{CallState, Command, Op};

impl Calls {
    pub(super) async fn answer(
        &self,
        key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Answer {
            incoming_call_context,
            operation_context,
            cognitive_services_endpoint,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let mut req =
            AnswerCallRequest::new(incoming_call_context.expose(), self.callback_url.clone());
        req.operation_context = Some(operation_context.as_str().into());
        req.call_intelligence_options =
            cognitive_services_endpoint
                .as_ref()
                .map(|e| CallIntelligenceOptions {
                    cognitive_services_endpoint: Some(e.clone()),
                });
        let props = self
            .client
            .answer_call(&req, self.request_options(key, cmd))
            .await?;
        Ok(Effect::Done(
            props
                .call_connection_id
                .map(|c| format!("call connection {c}"))
                .unwrap_or_default(),
        ))
    }

    pub(super) async fn redirect(
        &self,
        key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Redirect {
            incoming_call_context,
            target,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let req = RedirectCallRequest {
            incoming_call_context: incoming_call_context.expose().to_string(),
            target: target.clone(),
        };
        self.client
            .redirect_call(&req, self.request_options(key, cmd))
            .await?;
        Ok(Effect::Done(String::new()))
    }

    pub(super) async fn reject(
        &self,
        key: &CorrelationId,
        _state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Reject {
            incoming_call_context,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let req = RejectCallRequest {
            incoming_call_context: incoming_call_context.expose().to_string(),
            call_reject_reason: None,
        };
        self.client
            .reject_call(&req, self.request_options(key, cmd))
            .await?;
        Ok(Effect::Done(String::new()))
    }
}
