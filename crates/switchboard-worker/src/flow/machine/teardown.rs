//! Leaving: stop media, transfer away, timers, releasing the agent, hanging up, ending the call.

use super::*;

impl Cx<'_> {
    pub(super) fn stop_media(&mut self) {
        if self.s.media.hold.take().is_some() {
            self.cmd("cancel-media", Op::CancelMedia);
        }
    }

    pub(super) fn transfer(&mut self, target: CommunicationIdentifier) {
        self.s.transfers += 1;
        let n = self.s.transfers;
        self.s.phase = Phase::Transferring {
            attempt: n,
            target: target.clone(),
        };
        self.decide(format!("transferring to {target}"));
        // A PSTN caller is named as the transferee; a PSTN target needs a caller id, which
        // must be a number of ours: the one the caller dialled.
        let transferee = matches!(
            self.s.call.from,
            CommunicationIdentifier::PhoneNumber { .. }
        )
        .then(|| self.s.call.from.clone());
        let source_caller_id = match (&target, &self.s.call.to) {
            (
                CommunicationIdentifier::PhoneNumber { .. },
                CommunicationIdentifier::PhoneNumber { value, .. },
            ) => Some(value.clone()),
            _ => None,
        };
        self.cmd(
            format!("transfer:{n}"),
            Op::Transfer {
                target,
                operation_context: OpCtx::Transfer { n }.to_string(),
                transferee,
                source_caller_id,
            },
        );
    }

    pub(super) fn schedule(&mut self, action: &str, input: Internal, at: OffsetDateTime) {
        let id = format!("{}/{action}", self.input.id);
        self.cmd(format!("schedule:{action}"), Op::Schedule { id, input, at });
    }

    /// Releases the held reservation with `wrap_up` (a failed offer: the cool-down).
    pub(super) fn release(&mut self, wrap_up: Duration) {
        self.release_for(wrap_up, None);
    }

    /// [`release`](Self::release), saying why (counted by the executor).
    pub(super) fn release_for(&mut self, wrap_up: Duration, reason: Option<&str>) {
        if let Some(reservation) = self.s.reservation.take() {
            self.cmd(
                format!("release:{}", reservation.agent),
                Op::Release {
                    reservation,
                    wrap_up_secs: wrap_up.as_secs(),
                    reason: reason.map(str::to_owned),
                },
            );
        }
    }

    /// Releases the held reservation after a conversation: the agent's wrap-up.
    pub(super) fn release_after_call(&mut self) {
        let wrap_up = match (&self.s.phase, &self.s.reservation) {
            (Phase::Talking { agent, .. }, _) => self.cfg.wrap_up_for(agent),
            (_, Some(r)) if self.s.answered_by.as_ref() == Some(&r.agent) => {
                self.cfg.wrap_up_for(&r.agent)
            }
            _ => Duration::ZERO,
        };
        self.release(wrap_up);
    }

    /// Ends the call from our side (terminate for everyone) and waits for CallDisconnected.
    pub(super) fn hang_up(&mut self, reason: &str) {
        if let Phase::Ringing {
            seq,
            invitation: Some(invitation_id),
            ..
        } = self.s.phase.clone()
        {
            self.cmd(
                format!("cancel:{seq}"),
                Op::CancelAddParticipant {
                    invitation_id,
                    operation_context: OpCtx::Cancel { seq }.to_string(),
                },
            );
        }
        self.release_after_call();
        self.s.media.hold = None;
        self.s.phase = Phase::Ending {
            reason: reason.to_string(),
        };
        self.cmd("hang-up", Op::HangUp { for_everyone: true });
    }

    /// The call is over now: release, archive.
    pub(super) fn end_now(&mut self, reason: String) {
        // Commands still pending (this step is a command's feedback) are pointless once the
        // call is over, and a pending route would reserve an agent for a dead call. Only
        // releases still matter.
        self.s.outbox.retain(|c| matches!(c.op, Op::Release { .. }));
        self.release_after_call();
        self.s.media.hold = None;
        self.s.incoming_call_context = None;
        self.s.phase = Phase::Ended { reason };
        self.s.ended_at = Some(self.now);
        self.cmd("archive", Op::Archive);
    }
}
