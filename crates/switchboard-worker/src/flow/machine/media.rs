//! Media and transfer results: play ended, transfer accepted or failed.

use super::*;

impl Cx<'_> {
    /// A play ended: `played` when it completed (not failed or cancelled).
    pub(super) fn on_play_ended(
        &mut self,
        ctx: Option<OpCtx>,
        how: &str,
        played: bool,
    ) -> Disposition {
        match ctx {
            Some(OpCtx::Hold { n }) => {
                if self.s.media.hold == Some(n) {
                    self.s.media.hold = None;
                    self.decide(format!("hold music {how}"));
                    Disposition::Applied
                } else {
                    self.stale(format!("older hold music {how}"))
                }
            }
            Some(OpCtx::Notice { n }) => self.on_notice_ended(n, played, how),
            Some(OpCtx::OverflowAnnouncement) => {
                if self.s.phase != Phase::OverflowAnnouncement {
                    return self.stale(format!(
                        "overflow announcement {how} in phase {}",
                        self.s.phase.name()
                    ));
                }
                self.decide(format!("overflow announcement {how}"));
                self.hang_up("overflow: announcement played");
                Disposition::Applied
            }
            Some(OpCtx::VoicemailGreeting) => {
                let Phase::VoicemailGreeting { max_duration_secs } = self.s.phase else {
                    return self.stale(format!(
                        "voicemail greeting {how} in phase {}",
                        self.s.phase.name()
                    ));
                };
                self.decide(format!("voicemail greeting {how}: recording the message"));
                self.s.phase = Phase::VoicemailRecording;
                if !self.s.recording.requested {
                    self.s.recording.requested = true;
                    self.cmd("start-recording", Op::StartRecording);
                }
                let at = self.now + Duration::from_secs(max_duration_secs);
                self.schedule("voicemail-done", Internal::VoicemailDone, at);
                Disposition::Applied
            }
            Some(OpCtx::Announce { .. }) => self.ignore(format!("announcement {how}")),
            Some(OpCtx::Position { .. }) => self.ignore(format!(
                "position announcement {how} (hold music queued after it)"
            )),
            Some(OpCtx::CallbackConfirm) => self.on_callback_confirm_ended(how),
            _ => self.ignore(format!("media {how}")),
        }
    }

    pub(super) fn on_transfer_accepted(&mut self) -> Disposition {
        let Phase::Transferring { target, .. } = self.s.phase.clone() else {
            return self.ignore("CallTransferAccepted for a transfer we did not start");
        };
        self.decide(format!("transfer to {target} accepted: our leg is done"));
        if self.s.reservation.is_some() {
            self.release_after_call();
        }
        self.s.phase = Phase::Ending {
            reason: format!("transferred to {target}"),
        };
        Disposition::Applied
    }

    /// A transfer failed; `retry` is false when trying the same target again cannot help.
    pub(super) fn on_transfer_failed(
        &mut self,
        ctx: Option<OpCtx>,
        why: &str,
        retry: bool,
    ) -> Disposition {
        let Phase::Transferring { attempt, target } = self.s.phase.clone() else {
            return self.ignore("CallTransferFailed for a transfer we did not start");
        };
        if let Some(OpCtx::Transfer { n }) = ctx {
            if n != attempt {
                return self.stale(format!("CallTransferFailed for attempt {n}, now {attempt}"));
            }
        }
        if retry && attempt <= self.cfg.transfer_retries {
            self.decide(format!("transfer to {target} failed ({why}): trying again"));
            self.transfer(target);
        } else {
            self.decide(format!("transfer to {target} failed ({why}): hanging up"));
            self.hang_up("overflow transfer failed");
        }
        Disposition::Applied
    }
}
