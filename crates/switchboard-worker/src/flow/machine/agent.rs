//! The agent's side: who is in the call (ParticipantsUpdated), the outcome of an offer
//! (add participant succeeded or failed), agents who join late.

use super::*;

impl Cx<'_> {
    pub(super) fn on_participants(&mut self, p: &ParticipantsUpdated) -> Disposition {
        if self.s.phase.is_over() {
            return self.stale(format!("participants update while {}", self.s.phase.name()));
        }
        if let (Some(new), Some(old)) = (p.sequence_number, self.s.participants.sequence_number) {
            if new <= old {
                return self.on_older_participants(p, new, old);
            }
        }
        let view = &mut self.s.participants;
        if p.sequence_number.is_some() {
            view.sequence_number = p.sequence_number;
        }
        view.updates += 1;
        let update = view.updates;
        view.raw_ids = p
            .participants
            .iter()
            .map(|x| x.identifier.raw_id())
            .collect();
        let caller_raw = self.s.call.from.raw_id();
        let caller_here = view.raw_ids.contains(&caller_raw);
        let caller_was_seen = view.caller_seen.is_some();
        if caller_here {
            view.caller_seen = Some(update);
        }
        let teams: Vec<TeamsUserId> = p
            .participants
            .iter()
            .filter_map(|x| x.identifier.teams_user_id())
            .collect();
        self.decide(format!(
            "participants #{}: {} in the call",
            p.sequence_number
                .map_or_else(|| "?".to_string(), |s| s.to_string()),
            p.participants.len()
        ));
        // Who joined: the agent we are ringing, or someone we stopped ringing.
        for agent in &teams {
            match self.s.phase.clone() {
                Phase::Ringing { agent: ringing, .. } if ringing == *agent => {
                    self.s.participants.agent_seen = Some(update);
                    self.agent_joined(agent.clone());
                }
                Phase::Talking { agent: talking, .. } if talking == *agent => {
                    self.s.participants.agent_seen = Some(update);
                }
                _ => {
                    if self.s.invited.contains(agent) && !self.s.removed.contains(agent) {
                        self.remove_late_joiner(agent.clone());
                    }
                }
            }
        }
        if !caller_here && caller_was_seen && !self.s.phase.is_over() {
            self.decide("the caller left");
            self.hang_up("caller left");
            return Disposition::Applied;
        }
        if let Phase::Talking { agent, .. } = self.s.phase.clone() {
            let seen = self.s.participants.agent_seen.is_some();
            if seen && !teams.contains(&agent) {
                self.decide(format!("agent {agent} left"));
                self.hang_up("agent left");
            }
        }
        Disposition::Applied
    }

    /// A list older than the newest one applied. Usually stale; but when it is the first to
    /// show the agent we are talking to, and the newer list already lacks them, the two
    /// together say the agent came and went (the list of their joining was delivered after
    /// the list of their leaving): the agent left.
    fn on_older_participants(
        &mut self,
        p: &ParticipantsUpdated,
        new: i64,
        old: i64,
    ) -> Disposition {
        if let Phase::Talking { agent, .. } = self.s.phase.clone() {
            let lists_agent = p
                .participants
                .iter()
                .any(|x| x.identifier.teams_user_id().as_ref() == Some(&agent));
            let agent_raw = CommunicationIdentifier::teams_user(agent.as_str()).raw_id();
            let newest_lacks_agent = !self.s.participants.raw_ids.contains(&agent_raw);
            if lists_agent && self.s.participants.agent_seen.is_none() && newest_lacks_agent {
                self.s.participants.agent_seen = Some(self.s.participants.updates);
                self.decide(format!(
                    "participants #{new} (delivered late) shows agent {agent}; the newer #{old} \
                     does not: agent {agent} left"
                ));
                self.hang_up("agent left");
                return Disposition::Applied;
            }
        }
        self.stale(format!("participants #{new} is not newer than #{old}"))
    }

    /// Which offer an add-participant result belongs to: the operation context when there is
    /// one (2024+), else the participant.
    pub(super) fn offer_of(
        &self,
        ctx: Option<OpCtx>,
        participant: Option<&CommunicationIdentifier>,
    ) -> Option<(u32, TeamsUserId)> {
        if let Some(OpCtx::Add { seq, agent }) = ctx {
            return Some((seq, agent));
        }
        let agent = participant.and_then(|p| p.teams_user_id())?;
        match &self.s.phase {
            Phase::Ringing {
                seq,
                agent: ringing,
                ..
            } if *ringing == agent => Some((*seq, agent)),
            // An invited agent who is no longer current: seq 0 marks "an older offer".
            _ if self.s.invited.contains(&agent) => Some((0, agent)),
            _ => None,
        }
    }

    pub(super) fn on_add_succeeded(&mut self, a: &AddParticipantSucceeded) -> Disposition {
        let Some((seq, agent)) =
            self.offer_of(opctx(a.operation_context.as_ref()), a.participant.as_ref())
        else {
            return self.ignore("AddParticipantSucceeded for someone we did not invite");
        };
        match self.s.phase.clone() {
            // The agent we are ringing is in the call, whichever of their invitations they
            // took (the same agent can be offered twice after a queue change).
            Phase::Ringing { agent: ringing, .. } if ringing == agent => {
                if seq != 0 && seq != self.s.seq {
                    self.decide(format!("agent {agent} joined on offer {seq}"));
                }
                self.agent_joined(agent);
                Disposition::Applied
            }
            Phase::Talking { agent: talking, .. } if talking == agent => {
                self.stale(format!("agent {agent} already in the call"))
            }
            _ if self.s.removed.contains(&agent) || self.s.phase.is_over() => {
                self.stale(format!("late join of agent {agent} already handled"))
            }
            _ => {
                self.remove_late_joiner(agent);
                Disposition::Applied
            }
        }
    }

    pub(super) fn on_add_failed(&mut self, a: &AddParticipantFailed) -> Disposition {
        let Some((seq, agent)) =
            self.offer_of(opctx(a.operation_context.as_ref()), a.participant.as_ref())
        else {
            return self.ignore("AddParticipantFailed for someone we did not invite");
        };
        let Phase::Ringing {
            seq: current,
            agent: ringing,
            ..
        } = self.s.phase.clone()
        else {
            return self.stale(format!(
                "AddParticipantFailed for offer {seq} while {}",
                self.s.phase.name()
            ));
        };
        if current != seq || ringing != agent {
            return self.stale(format!(
                "AddParticipantFailed for older offer {seq} (now {current})"
            ));
        }
        let info = a.result_information.clone().unwrap_or_default();
        let cooldowns = &self.cfg.cooldowns;
        if info.is_forbidden() {
            self.decide(format!(
                "agent {agent} may not be called: the Teams tenant's interop policy refuses our resource ({}); next agent",
                describe_result(Some(&info))
            ));
            self.release_for(
                self.cfg.cooldowns.policy,
                Some(super::super::command::RELEASE_TENANT_POLICY),
            );
            self.route(false);
            return Disposition::Applied;
        }
        let (what, cooldown) = if info.is_timeout() {
            ("did not answer", cooldowns.no_answer)
        } else if info.is_declined() {
            ("declined", cooldowns.declined)
        } else if info.is_busy() {
            ("was busy", cooldowns.busy)
        } else {
            ("could not be added", cooldowns.other)
        };
        self.decide(format!(
            "agent {agent} {what} ({}): next agent",
            describe_result(Some(&info))
        ));
        self.release(cooldown);
        self.route(false);
        Disposition::Applied
    }

    pub(super) fn agent_joined(&mut self, agent: TeamsUserId) {
        self.decide(format!("agent {agent} joined"));
        self.s.phase = Phase::Talking {
            agent: agent.clone(),
            since: self.now,
        };
        self.s.answered_by = Some(agent);
        if self.s.media.hold.take().is_some() {
            self.cmd("cancel-media", Op::CancelMedia);
        }
        if let Some(reservation) = self.s.reservation.clone() {
            self.cmd("confirm", Op::Confirm { reservation });
        }
    }

    pub(super) fn remove_late_joiner(&mut self, agent: TeamsUserId) {
        self.decide(format!(
            "agent {agent} joined after their offer was withdrawn: removing them"
        ));
        self.s.removed.push(agent.clone());
        let seq = self.s.seq;
        self.cmd(
            format!("remove:{agent}"),
            Op::RemoveParticipant {
                participant: CommunicationIdentifier::teams_user(agent.as_str()),
                operation_context: OpCtx::Remove { seq }.to_string(),
            },
        );
    }
}
