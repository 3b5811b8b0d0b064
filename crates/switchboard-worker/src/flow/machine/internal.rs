//! Our own inputs: routing results, timers (ring timeout, queue re-check, voicemail, an
//! overdue recognize), commands that failed for good, and media commands whose outcome is
//! unknown.

use super::*;

impl Cx<'_> {
    pub(super) fn on_internal(&mut self, i: &Internal) -> Disposition {
        match i {
            Internal::Routed {
                seq,
                reservation,
                detail,
            } => match self.s.phase.clone() {
                Phase::Routing { seq: current } if current == *seq => {
                    self.decide(format!("reserved agent {} ({detail})", reservation.agent));
                    self.offer(reservation.clone());
                    Disposition::Applied
                }
                Phase::DirectRouting { seq: current } if current == *seq => {
                    self.decide(format!(
                        "direct mode: redirecting to agent {} ({detail})",
                        reservation.agent
                    ));
                    self.redirect_to_agent(reservation.clone());
                    Disposition::Applied
                }
                _ => {
                    // Never leave a reservation nobody tracks: it would block the agent until
                    // it expires.
                    if self.s.reservation.as_ref() == Some(reservation) {
                        return self.stale(format!("route {seq} result already applied"));
                    }
                    self.decide(format!(
                        "route {seq} result is stale ({}): releasing agent {}",
                        self.s.phase.name(),
                        reservation.agent
                    ));
                    self.release_stale_route(*seq, reservation)
                }
            },
            Internal::NoAgent {
                seq,
                retry_after_ms,
                detail,
            } => match self.s.phase.clone() {
                Phase::Routing { seq: current } if current == *seq => {
                    self.s.rechecks += 1;
                    let n = self.s.rechecks;
                    self.s.phase = Phase::Waiting { recheck: n };
                    self.decide(format!(
                        "nobody free ({detail}): waiting, re-check in {retry_after_ms} ms"
                    ));
                    let at = self.now + Duration::from_millis(*retry_after_ms);
                    self.schedule(&format!("recheck:{n}"), Internal::QueueRecheck { n }, at);
                    let call = self.requirements();
                    self.cmd(
                        format!("waitlist:{n}"),
                        Op::JoinWaitlist {
                            n,
                            call,
                            excluded: self.s.tried.clone(),
                        },
                    );
                    self.start_wait_status();
                    Disposition::Applied
                }
                Phase::DirectRouting { seq: current } if current == *seq => {
                    self.decide(format!(
                        "direct mode: nobody free ({detail}): answering to queue"
                    ));
                    self.answer();
                    Disposition::Applied
                }
                _ => self.stale(format!("route {seq} result is stale")),
            },
            Internal::Overflow {
                seq,
                target,
                detail,
            } => match self.s.phase.clone() {
                Phase::Routing { seq: current } if current == *seq => {
                    self.decide(format!("overflow ({detail})"));
                    self.overflow(target.clone());
                    Disposition::Applied
                }
                Phase::DirectRouting { seq: current } if current == *seq => {
                    self.decide(format!("direct mode: overflow ({detail})"));
                    self.direct_overflow(target.clone());
                    Disposition::Applied
                }
                _ => self.stale(format!("route {seq} result is stale")),
            },
            Internal::Invited { seq, invitation_id } => match &mut self.s.phase {
                Phase::Ringing {
                    seq: current,
                    invitation,
                    ..
                } if *current == *seq => {
                    *invitation = Some(invitation_id.clone());
                    self.decide(format!(
                        "offer {seq} is ringing (invitation {invitation_id})"
                    ));
                    Disposition::Applied
                }
                phase if *seq < self.s.seq && !phase.is_over() => {
                    // We moved on before learning the invitation id: withdraw it now.
                    self.decide(format!(
                        "offer {seq} was withdrawn before it rang: cancelling"
                    ));
                    self.cmd(
                        format!("cancel:{seq}"),
                        Op::CancelAddParticipant {
                            invitation_id: invitation_id.clone(),
                            operation_context: OpCtx::Cancel { seq: *seq }.to_string(),
                        },
                    );
                    Disposition::Applied
                }
                _ => self.stale(format!("invitation of offer {seq} already known")),
            },
            Internal::RingTimeout { seq } => match self.s.phase.clone() {
                Phase::Ringing {
                    seq: current,
                    agent,
                    invitation,
                    ..
                } if current == *seq => {
                    self.decide(format!(
                        "offer {seq} to agent {agent}: no outcome in time, withdrawing it"
                    ));
                    if let Some(invitation_id) = invitation {
                        self.cmd(
                            format!("cancel:{seq}"),
                            Op::CancelAddParticipant {
                                invitation_id,
                                operation_context: OpCtx::Cancel { seq: *seq }.to_string(),
                            },
                        );
                    }
                    self.release(self.cfg.cooldowns.no_answer);
                    self.route(false);
                    Disposition::Applied
                }
                _ => self.stale(format!("ring timeout of offer {seq}: it had an outcome")),
            },
            Internal::QueueRecheck { n } => match self.s.phase {
                Phase::Waiting { recheck } if recheck == *n => {
                    self.decide("re-checking the queue");
                    self.route(false);
                    Disposition::Applied
                }
                _ => self.stale(format!("queue re-check {n} superseded")),
            },
            Internal::WaitStatusDue { n } => self.on_wait_status_due(*n),
            Internal::WaitStatus {
                n,
                position,
                estimated_wait_secs,
                ..
            } => self.on_wait_status(*n, *position, Duration::from_secs(*estimated_wait_secs)),
            Internal::VoicemailDone => {
                if self.s.phase != Phase::VoicemailRecording {
                    return self.stale("voicemail window closed outside voicemail");
                }
                self.decide("voicemail window over");
                self.hang_up("voicemail recorded");
                Disposition::Applied
            }
            Internal::RecognizeOverdue { try_no } => self.on_recognize_failed(
                Some(OpCtx::Ivr { try_no: *try_no }),
                "no outcome of an uncertain recognize request",
            ),
            Internal::CommandUncertain { command, reason } => {
                self.on_command_uncertain(command, reason)
            }
            Internal::CommandFailed {
                command,
                gone,
                reason,
            } => self.on_command_failed(command, *gone, reason),
            Internal::CallbackStart { .. }
            | Internal::CallbackDue
            | Internal::CallbackDialled { .. }
            | Internal::CallbackCustomerOverdue { .. } => self.stale(format!(
                "{} for a call that is not a callback",
                i.type_name()
            )),
        }
    }

    /// A media command that may or may not have taken effect is not sent again (it could
    /// play twice). Its callbacks settle it when it did; the flow only needs a way out where
    /// it waits for one: a recognize whose outcome never comes would hold the caller in the
    /// menu forever, so a timer ends that menu try as if the caller pressed nothing.
    fn on_command_uncertain(&mut self, command: &Command, reason: &str) -> Disposition {
        let Op::Recognize {
            initial_silence_timeout_secs,
            max_tones,
            operation_context,
            ..
        } = &command.op
        else {
            return self.ignore(format!(
                "{} outcome unknown ({reason}): not sent again; its callbacks tell",
                command.op.name()
            ));
        };
        let Some(OpCtx::Ivr { try_no }) = OpCtx::parse(operation_context) else {
            return self.ignore(format!("recognize outcome unknown ({reason})"));
        };
        if self.s.phase != (Phase::Triage { try_no }) {
            return self.stale(format!(
                "recognize of menu try {try_no} outcome unknown: moved on"
            ));
        }
        // The caller's silence and their tones (5 s apart at most), then time for the prompt.
        let patience = Duration::from_secs(
            u64::from(*initial_silence_timeout_secs) + 5 * u64::from(*max_tones),
        ) + self.cfg.media_grace;
        self.decide(format!(
            "recognize of menu try {try_no} outcome unknown ({reason}): not sent again;              waiting up to {} s for its callbacks",
            patience.as_secs()
        ));
        let at = self.now + patience;
        self.schedule(
            &format!("recognize-overdue:{try_no}"),
            Internal::RecognizeOverdue { try_no },
            at,
        );
        Disposition::Applied
    }

    pub(super) fn on_command_failed(
        &mut self,
        command: &Command,
        gone: bool,
        reason: &str,
    ) -> Disposition {
        let name = command.op.name();
        if let Op::Redirect {
            incoming_call_context,
            target,
        } = &command.op
        {
            let archive_pending = self.s.outbox.iter().any(|c| c.op == Op::Archive);
            if !gone && matches!(self.s.phase, Phase::Ended { .. }) && archive_pending {
                // The redirect was to be our last word and failed: answer and queue instead.
                self.s.outbox.retain(|c| c.op != Op::Archive);
                self.s.incoming_call_context = Some(incoming_call_context.clone());
                self.s.ended_at = None;
                self.decide(format!(
                    "redirect to {target} failed ({reason}): answering instead"
                ));
                self.answer();
                return Disposition::Applied;
            }
        }
        if matches!(self.s.phase, Phase::Ended { .. }) {
            return self.stale(format!("{name} failed after the call ended"));
        }
        if gone {
            self.decide(format!("{name}: the call no longer exists ({reason})"));
            self.end_now("call gone".to_string());
            return Disposition::Applied;
        }
        let ctx = command.op.operation_context().and_then(OpCtx::parse);
        match &command.op {
            Op::Answer { .. } => {
                self.decide(format!("answer failed: {reason}"));
                self.end_now(format!("answer failed: {reason}"));
                Disposition::Applied
            }
            Op::Redirect { .. } => self.ignore(format!("redirect failed: {reason}")),
            Op::Reject { .. } => self.ignore(format!("reject failed: {reason}")),
            Op::AddParticipant { seq, agent, .. } => match self.s.phase.clone() {
                Phase::Ringing {
                    seq: current,
                    agent: ringing,
                    ..
                } if current == *seq && ringing == *agent => {
                    self.decide(format!(
                        "adding agent {agent} failed ({reason}): next agent"
                    ));
                    self.release(self.cfg.cooldowns.other);
                    self.route(false);
                    Disposition::Applied
                }
                _ => self.stale(format!("add of agent {agent} failed for an older offer")),
            },
            Op::Recognize { .. } => match ctx {
                Some(OpCtx::CallbackOffer { n }) => {
                    self.on_callback_reply(n, None, &format!("failed ({reason})"))
                }
                ctx => self.on_recognize_failed(ctx, &format!("failed ({reason})")),
            },
            Op::QueryWaitStatus { n, .. } => self.on_wait_status_failed(*n, reason),
            Op::Play { .. } => self.on_play_ended(ctx, &format!("failed ({reason})"), false),
            Op::StartRecording => {
                self.s.recording.requested = false;
                self.decide(format!("recording could not start: {reason}"));
                Disposition::Applied
            }
            Op::Transfer { .. } => self.on_transfer_failed(ctx, reason, true),
            Op::HangUp { .. } => {
                self.decide(format!("hang up failed: {reason}"));
                self.end_now(format!("hang up failed: {reason}"));
                Disposition::Applied
            }
            Op::Route { seq, .. } => match self.s.phase.clone() {
                Phase::Routing { seq: current } if current == *seq => {
                    let target = self
                        .queue_cfg()
                        .map_or(OverflowTarget::Hangup, |q| q.overflow.clone());
                    self.decide(format!("routing failed ({reason}): overflow"));
                    self.overflow(target);
                    Disposition::Applied
                }
                Phase::DirectRouting { seq: current } if current == *seq => {
                    self.decide(format!(
                        "direct routing failed ({reason}): answering to queue"
                    ));
                    self.answer();
                    Disposition::Applied
                }
                _ => self.stale(format!("route {seq} failed but is stale")),
            },
            other => self.ignore(format!("{} failed: {reason}", other.name())),
        }
    }
}

impl Cx<'_> {
    /// A route result that arrived after the call moved on: give its reservation back at once
    /// (no wrap-up), keyed by the route so a redelivery releases it once.
    pub(super) fn release_stale_route(
        &mut self,
        seq: u32,
        reservation: &switchboard_store::Reservation,
    ) -> Disposition {
        self.cmd(
            format!("release-stale:{seq}"),
            Op::Release {
                reservation: reservation.clone(),
                wrap_up_secs: 0,
                reason: None,
            },
        );
        Disposition::Applied
    }
}
