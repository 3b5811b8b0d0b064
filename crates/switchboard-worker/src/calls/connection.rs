//! The call connection itself: transfer it away, hang up.

use switchboard_callautomation::{PhoneNumberIdentifier, TransferToParticipantRequest};
use switchboard_events::CorrelationId;

use super::{not_this_op, Calls, CmdError, Effect};
use crate::flow::{CallState, Command, Op};

impl Calls {
    pub(super) async fn transfer(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::Transfer {
            target,
            operation_context,
            transferee,
            source_caller_id,
        } = &cmd.op
        else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let mut req = TransferToParticipantRequest::new(target.clone());
        req.operation_context = Some(operation_context.as_str().into());
        req.transferee = transferee.clone();
        req.source_caller_id_number = source_caller_id.clone().map(PhoneNumberIdentifier::new);
        self.client
            .transfer_to_participant(cc, &req, self.request_options(key, cmd))
            .await?;
        Ok(Effect::Done(String::new()))
    }

    pub(super) async fn hang_up(
        &self,
        key: &CorrelationId,
        state: &CallState,
        cmd: &Command,
    ) -> Result<Effect, CmdError> {
        let Op::HangUp { for_everyone } = &cmd.op else {
            return Err(not_this_op(cmd));
        };
        let cc = self.connection(state)?;
        let opts = self.request_options(key, cmd);
        let result = if *for_everyone {
            self.client.terminate_call(cc, opts).await
        } else {
            self.client.hang_up(cc, opts).await
        };
        result?;
        Ok(Effect::Done(String::new()))
    }
}
