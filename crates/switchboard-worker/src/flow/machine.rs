//! The transition function. See [`super`] for the call flow it implements.

use std::time::Duration;

use switchboard_events::{
    AcsEvent, AddParticipantFailed, AddParticipantSucceeded, CommunicationIdentifier, IncomingCall,
    ParticipantsUpdated, RecognizeCompleted, RecordingState, RecordingStateChanged, TeamsUserId,
};
use switchboard_routing::classify::CustomHeaders;
use switchboard_routing::{
    classify, CallRequirements, IncomingCallInfo, OverflowTarget, QueueConfig, QueueName,
};
use time::OffsetDateTime;

use super::command::{Command, Op, RepeatKey};
use super::config::FlowConfig;
use super::input::{FlowInput, InputKind, Internal};
use super::opctx::OpCtx;
use super::state::{CallState, HistoryEntry, Phase};

/// Most queues one call may pass through (overflow chains) before we give up on it.
pub const MAX_QUEUE_VISITS: usize = 8;

/// What the flow made of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// The state changed (and may have commands): save it, then run the commands.
    Applied,
    /// Already applied (same input id): nothing to do.
    Duplicate,
    /// Valid but out of date (an older attempt's result, an older participant list, a
    /// timer that was superseded): nothing to do.
    Stale,
    /// Nothing to do for this input (informational events, calls we do not serve).
    Ignored,
    /// A callback or timer for a call we have no state for: it ended (and was archived) or
    /// was never ours.
    Orphan,
}

impl Disposition {
    /// Lower-case name for metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Stale => "stale",
            Self::Ignored => "ignored",
            Self::Orphan => "orphan",
        }
    }
}

/// The result of [`step`].
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub disposition: Disposition,
    /// Human-readable decision for logs and the timeline.
    pub decision: String,
    /// The new state when [`Disposition::Applied`]: its `outbox` is the old outbox followed
    /// by `commands`.
    pub state: Option<CallState>,
    /// Commands this input caused (already appended to `state.outbox`).
    pub commands: Vec<Command>,
}

impl Transition {
    fn nothing(disposition: Disposition, decision: impl Into<String>) -> Self {
        Self {
            disposition,
            decision: decision.into(),
            state: None,
            commands: Vec::new(),
        }
    }
}

/// Applies one input to a call's state. Pure: no I/O, no clock (`now` is given), no
/// randomness; the same arguments always give the same transition.
pub fn step(
    state: Option<&CallState>,
    input: &FlowInput,
    cfg: &FlowConfig,
    now: OffsetDateTime,
) -> Transition {
    let Some(state) = state else {
        return match &input.kind {
            InputKind::Acs(AcsEvent::IncomingCall(ic)) => new_call(ic, input, cfg, now),
            _ => Transition::nothing(
                Disposition::Orphan,
                format!(
                    "{} for a call with no state: it ended or is not ours",
                    input.type_name()
                ),
            ),
        };
    };
    let key = input.dedupe_key();
    if state.has_applied(&key) {
        return Transition::nothing(
            Disposition::Duplicate,
            format!("{} {} already applied", input.type_name(), input.id),
        );
    }
    let mut cx = Cx::new(state.clone(), input, cfg, now);
    cx.capture_ids();
    let disposition = cx.apply();
    if disposition != Disposition::Applied {
        return Transition::nothing(disposition, cx.decision);
    }
    cx.finish(key)
}

/// A new call: classify, then answer (or, in direct mode, route first).
fn new_call(
    ic: &IncomingCall,
    input: &FlowInput,
    cfg: &FlowConfig,
    now: OffsetDateTime,
) -> Transition {
    let called = ic.normalized_to();
    if !cfg.serves(&called) {
        return Transition::nothing(
            Disposition::Ignored,
            format!("IncomingCall to {called}: not a number we serve"),
        );
    }
    let Some(correlation_id) = ic.correlation_id.clone() else {
        return Transition::nothing(Disposition::Ignored, "IncomingCall without correlationId");
    };
    let Some(context) = ic.incoming_call_context.clone().filter(|c| !c.is_empty()) else {
        return Transition::nothing(
            Disposition::Ignored,
            "IncomingCall without incomingCallContext: cannot answer",
        );
    };
    let custom = ic.custom_context.clone().unwrap_or_default();
    let info = IncomingCallInfo {
        to: ic.to.clone(),
        from: ic.from.clone(),
        caller_display_name: ic.caller_display_name.clone(),
        custom_context: CustomHeaders {
            sip_headers: custom.sip_headers,
            voip_headers: custom.voip_headers,
        },
    };
    let mut queue = classify(&info, None, &cfg.routing);
    if cfg.routing.queue(queue.as_str()).is_none() {
        queue = cfg.routing.default_queue.clone();
    }
    let state = CallState::new(
        correlation_id,
        info,
        Some(context),
        ic.server_call_id.clone(),
        queue.clone(),
        now,
    );
    let mut cx = Cx::new(state, input, cfg, now);
    let direct = cfg.queue(queue.as_str()).is_some_and(|q| q.direct);
    if direct {
        cx.s.visited.push(queue.clone());
        cx.s.waiting_since = Some(now);
        cx.decide(format!(
            "new call from {} to {called}: queue {queue} (direct mode: find an agent to redirect to)",
            ic.from
        ));
        cx.route(true);
    } else {
        cx.decide(format!(
            "new call from {} to {called}: queue {queue}, answer",
            ic.from
        ));
        cx.answer();
    }
    cx.finish(input.dedupe_key())
}

/// Working context of one step.
struct Cx<'a> {
    s: CallState,
    input: &'a FlowInput,
    cfg: &'a FlowConfig,
    now: OffsetDateTime,
    cmds: Vec<Command>,
    decision: String,
}

impl<'a> Cx<'a> {
    fn new(s: CallState, input: &'a FlowInput, cfg: &'a FlowConfig, now: OffsetDateTime) -> Self {
        Self {
            s,
            input,
            cfg,
            now,
            cmds: Vec::new(),
            decision: String::new(),
        }
    }

    fn finish(mut self, key: String) -> Transition {
        self.s.mark_applied(key, self.cfg.applied_limit);
        self.s.updated_at = self.now;
        let entry = HistoryEntry {
            at: self.now,
            input: self.input.type_name().to_string(),
            decision: self.decision.clone(),
            commands: self.cmds.iter().map(|c| c.op.to_string()).collect(),
        };
        self.s.push_history(entry, self.cfg.history_limit);
        self.s.outbox.extend(self.cmds.iter().cloned());
        Transition {
            disposition: Disposition::Applied,
            decision: self.decision,
            state: Some(self.s),
            commands: self.cmds,
        }
    }

    /// Adds to the decision text.
    fn decide(&mut self, text: impl AsRef<str>) {
        if !self.decision.is_empty() {
            self.decision.push_str("; ");
        }
        self.decision.push_str(text.as_ref());
    }

    fn ignore(&mut self, text: impl AsRef<str>) -> Disposition {
        self.decide(text);
        Disposition::Ignored
    }

    fn stale(&mut self, text: impl AsRef<str>) -> Disposition {
        self.decide(text);
        Disposition::Stale
    }

    /// Queues a command; action names are unique within one input.
    fn cmd(&mut self, action: impl Into<String>, op: Op) {
        let base = action.into();
        let mut action = base.clone();
        let mut n = 2;
        while self.cmds.iter().any(|c| c.key.action == action) {
            action = format!("{base}#{n}");
            n += 1;
        }
        self.cmds.push(Command {
            key: RepeatKey {
                event_id: self.input.id.clone(),
                action,
                first_sent: self.input.time,
            },
            op,
        });
    }

    fn queue_cfg(&self) -> Option<&'a QueueConfig> {
        self.cfg.queue(self.s.queue.as_str())
    }

    /// Ids the state learns from any event of the call.
    fn capture_ids(&mut self) {
        if let InputKind::Acs(e) = &self.input.kind {
            if self.s.call_connection_id.is_none() {
                self.s.call_connection_id = e.call_connection_id().cloned();
            }
            if self.s.server_call_id.is_none() {
                self.s.server_call_id = e.server_call_id().cloned();
            }
        }
    }

    fn apply(&mut self) -> Disposition {
        let input = self.input;
        match &input.kind {
            InputKind::Acs(e) => self.on_acs(e),
            InputKind::Internal(i) => self.on_internal(i),
        }
    }

    // ------------------------------------------------------------------ ACS events

    fn on_acs(&mut self, e: &AcsEvent) -> Disposition {
        match e {
            AcsEvent::IncomingCall(_) => {
                self.decide("IncomingCall for a call we already handle: not answering twice");
                Disposition::Duplicate
            }
            AcsEvent::CallConnected(_) => self.on_connected(),
            AcsEvent::AnswerFailed(f) => {
                if self.s.phase != Phase::Answering {
                    return self.stale("AnswerFailed outside answering");
                }
                let why = describe_result(f.result_information.as_ref());
                self.end_now(format!("answer failed: {why}"));
                Disposition::Applied
            }
            AcsEvent::CallDisconnected(_) => {
                if matches!(self.s.phase, Phase::Ended { .. }) {
                    return self.stale("CallDisconnected after the call ended");
                }
                let reason = match &self.s.phase {
                    Phase::Ending { reason } => reason.clone(),
                    _ => "disconnected".to_string(),
                };
                self.end_now(reason);
                Disposition::Applied
            }
            AcsEvent::ParticipantsUpdated(p) => self.on_participants(p),
            AcsEvent::AddParticipantSucceeded(a) => self.on_add_succeeded(a),
            AcsEvent::AddParticipantFailed(a) => self.on_add_failed(a),
            AcsEvent::CancelAddParticipantSucceeded(_) => {
                self.ignore("invitation withdrawn")
            }
            AcsEvent::CancelAddParticipantFailed(_) => self.ignore(
                "withdrawing the invitation failed (it had an outcome already; that outcome decides)",
            ),
            AcsEvent::RecognizeCompleted(r) => self.on_recognized(r),
            AcsEvent::RecognizeFailed(r) => {
                let why = describe_result(r.result_information.as_ref());
                self.on_recognize_failed(ctx_of(e), &why)
            }
            AcsEvent::RecognizeCanceled(_) => self.on_recognize_failed(ctx_of(e), "canceled"),
            AcsEvent::PlayCompleted(_) => self.on_play_ended(ctx_of(e), "completed"),
            AcsEvent::PlayFailed(p) => {
                let why = format!("failed: {}", describe_result(p.result_information.as_ref()));
                self.on_play_ended(ctx_of(e), &why)
            }
            AcsEvent::PlayCanceled(_) => self.on_play_ended(ctx_of(e), "canceled"),
            AcsEvent::RecordingStateChanged(r) => self.on_recording(r),
            AcsEvent::StartRecordingFailed(r) => {
                self.s.recording.requested = false;
                let why = describe_result(r.result_information.as_ref());
                self.decide(format!("recording could not start: {why}"));
                Disposition::Applied
            }
            AcsEvent::CallTransferAccepted(_) => self.on_transfer_accepted(),
            AcsEvent::CallTransferFailed(t) => {
                let why = describe_result(t.result_information.as_ref());
                self.on_transfer_failed(ctx_of(e), &why)
            }
            other => self.ignore(format!("{} needs no action", other.short_type())),
        }
    }

    fn on_connected(&mut self) -> Disposition {
        if self.s.phase != Phase::Answering {
            return self.stale(format!("CallConnected in phase {}", self.s.phase.name()));
        }
        // The context is single-use and no longer needed once answered.
        self.s.incoming_call_context = None;
        let queue = self.s.queue.clone();
        let menu = self.queue_cfg().and_then(|q| q.ivr.clone());
        match menu {
            Some(_) if self.s.ivr.choice.is_none() && self.s.ivr.tries == 0 => {
                if let Some(why) = self.ivr_blocked() {
                    self.s.ivr.skipped = Some(why.clone());
                    self.decide(format!("connected; IVR skipped: {why}"));
                    let fallback = self.ivr_fallback();
                    self.enter_queue(fallback);
                } else {
                    self.decide(format!("connected; IVR menu of queue {queue}"));
                    self.start_ivr(1);
                }
            }
            _ => {
                self.decide("connected");
                self.enter_queue(queue);
            }
        }
        Disposition::Applied
    }

    /// Recognize is unsupported while a Teams user is in the call.
    fn ivr_blocked(&self) -> Option<String> {
        if self.s.caller().kind() == "microsoftTeamsUser" {
            return Some("the caller is a Teams user (recognize unsupported)".into());
        }
        if self.s.participants.has_teams_user() {
            return Some("a Teams user is in the call (recognize unsupported)".into());
        }
        None
    }

    fn ivr_fallback(&self) -> QueueName {
        self.cfg
            .queue(self.s.entry_queue.as_str())
            .and_then(|q| q.ivr.as_ref())
            .and_then(|m| m.fallback.clone())
            .unwrap_or_else(|| self.s.entry_queue.clone())
    }

    fn start_ivr(&mut self, try_no: u32) {
        let Some(menu) = self
            .cfg
            .queue(self.s.entry_queue.as_str())
            .and_then(|q| q.ivr.clone())
        else {
            let q = self.s.entry_queue.clone();
            self.enter_queue(q);
            return;
        };
        let max_tones = menu
            .options
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(1)
            .max(1);
        self.s.ivr.tries = try_no;
        self.s.phase = Phase::Triage { try_no };
        let target = self.s.caller().clone();
        self.cmd(
            format!("recognize:{try_no}"),
            Op::Recognize {
                prompt: menu.prompt.clone(),
                target,
                max_tones: u32::try_from(max_tones).unwrap_or(1),
                initial_silence_timeout_secs: secs_u32(menu.timeout).max(1),
                operation_context: OpCtx::Ivr { try_no }.to_string(),
            },
        );
    }

    fn on_recognized(&mut self, r: &RecognizeCompleted) -> Disposition {
        let Phase::Triage { try_no } = self.s.phase else {
            return self.stale("RecognizeCompleted outside the IVR");
        };
        if let Some(OpCtx::Ivr { try_no: t }) = opctx(r.operation_context.as_ref()) {
            if t != try_no {
                return self.stale(format!("RecognizeCompleted for menu try {t}, now {try_no}"));
            }
        }
        let digits = r
            .dtmf_result
            .as_ref()
            .map(|d| d.digits())
            .filter(|d| !d.is_empty())
            .or_else(|| r.choice_result.as_ref().and_then(|c| c.label.clone()));
        let Some(choice) = digits else {
            return self.on_recognize_failed(None, "no input");
        };
        let queue = classify(&self.s.call, Some(&choice), &self.cfg.routing);
        let menu = self
            .cfg
            .queue(self.s.entry_queue.as_str())
            .and_then(|q| q.ivr.clone());
        let unknown = queue == self.s.entry_queue
            && menu
                .as_ref()
                .is_some_and(|m| !m.options.contains_key(&choice));
        let max_tries = menu.as_ref().map_or(1, |m| m.max_tries.max(1));
        if unknown && try_no < max_tries {
            self.decide(format!("IVR: unknown choice {choice:?}, menu again"));
            self.start_ivr(try_no + 1);
            return Disposition::Applied;
        }
        self.s.ivr.choice = Some(choice.clone());
        self.decide(format!("IVR: caller chose {choice:?}: queue {queue}"));
        self.enter_queue(queue);
        Disposition::Applied
    }

    fn on_recognize_failed(&mut self, ctx: Option<OpCtx>, why: &str) -> Disposition {
        let Phase::Triage { try_no } = self.s.phase else {
            return self.stale(format!("recognize {why} outside the IVR"));
        };
        if let Some(OpCtx::Ivr { try_no: t }) = ctx {
            if t != try_no {
                return self.stale(format!("recognize {why} for menu try {t}, now {try_no}"));
            }
        }
        let max_tries = self
            .cfg
            .queue(self.s.entry_queue.as_str())
            .and_then(|q| q.ivr.as_ref())
            .map_or(1, |m| m.max_tries.max(1));
        if try_no < max_tries {
            self.decide(format!("IVR: {why}, menu again (try {})", try_no + 1));
            self.start_ivr(try_no + 1);
        } else {
            let fallback = self.ivr_fallback();
            self.decide(format!("IVR: {why} after {try_no} tries: queue {fallback}"));
            self.enter_queue(fallback);
        }
        Disposition::Applied
    }

    fn on_participants(&mut self, p: &ParticipantsUpdated) -> Disposition {
        if self.s.phase.is_over() {
            return self.stale(format!("participants update while {}", self.s.phase.name()));
        }
        if let (Some(new), Some(old)) = (p.sequence_number, self.s.participants.sequence_number) {
            if new <= old {
                return self.stale(format!("participants #{new} is not newer than #{old}"));
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

    /// Which offer an add-participant result belongs to: the operation context when there is
    /// one (2024+), else the participant.
    fn offer_of(
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

    fn on_add_succeeded(&mut self, a: &AddParticipantSucceeded) -> Disposition {
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

    fn on_add_failed(&mut self, a: &AddParticipantFailed) -> Disposition {
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

    fn agent_joined(&mut self, agent: TeamsUserId) {
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

    fn remove_late_joiner(&mut self, agent: TeamsUserId) {
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

    fn on_play_ended(&mut self, ctx: Option<OpCtx>, how: &str) -> Disposition {
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
            Some(OpCtx::Notice { .. }) => {
                self.decide(format!("recording notice {how}"));
                // The notice interrupted hold music: start it again while the caller waits.
                if self.s.phase.is_queued() {
                    self.start_hold_music();
                }
                Disposition::Applied
            }
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
            _ => self.ignore(format!("media {how}")),
        }
    }

    fn on_recording(&mut self, r: &RecordingStateChanged) -> Disposition {
        match &r.state {
            Some(RecordingState::Active) => {
                self.s.recording.active = true;
                let id = r.recording_id.clone().unwrap_or_else(|| "unknown".into());
                if self.s.recording.notified.contains(&id) {
                    return self.stale("recording active again: caller already told");
                }
                self.s.recording.notified.push(id);
                if self.s.phase.is_over() {
                    self.decide("recording active while ending: no notice");
                    return Disposition::Applied;
                }
                self.decide("recording active: playing the recording notice");
                self.s.recording.notices += 1;
                let n = self.s.recording.notices;
                let source = self.cfg.recording_notice.clone();
                // Hold music loops forever, so a queued notice would never play: interrupt it
                // (and restart the music when the notice ends).
                let interrupt = self.s.media.hold.take().is_some();
                self.cmd(
                    format!("play:notice:{n}"),
                    Op::Play {
                        source,
                        loop_playback: false,
                        play_to: None,
                        interrupt,
                        operation_context: OpCtx::Notice { n }.to_string(),
                    },
                );
                Disposition::Applied
            }
            Some(RecordingState::Inactive) => {
                self.s.recording.active = false;
                self.decide("recording inactive");
                Disposition::Applied
            }
            _ => self.ignore("recording state unknown"),
        }
    }

    fn on_transfer_accepted(&mut self) -> Disposition {
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

    fn on_transfer_failed(&mut self, ctx: Option<OpCtx>, why: &str) -> Disposition {
        let Phase::Transferring { attempt, target } = self.s.phase.clone() else {
            return self.ignore("CallTransferFailed for a transfer we did not start");
        };
        if let Some(OpCtx::Transfer { n }) = ctx {
            if n != attempt {
                return self.stale(format!("CallTransferFailed for attempt {n}, now {attempt}"));
            }
        }
        if attempt <= self.cfg.transfer_retries {
            self.decide(format!("transfer to {target} failed ({why}): trying again"));
            self.transfer(target);
        } else {
            self.decide(format!("transfer to {target} failed ({why}): hanging up"));
            self.hang_up("overflow transfer failed");
        }
        Disposition::Applied
    }

    // ------------------------------------------------------------------ internal inputs

    fn on_internal(&mut self, i: &Internal) -> Disposition {
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
                    self.cmd(
                        format!("release-stale:{seq}"),
                        Op::Release {
                            reservation: reservation.clone(),
                            wrap_up_secs: 0,
                        },
                    );
                    Disposition::Applied
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
            Internal::VoicemailDone => {
                if self.s.phase != Phase::VoicemailRecording {
                    return self.stale("voicemail window closed outside voicemail");
                }
                self.decide("voicemail window over");
                self.hang_up("voicemail recorded");
                Disposition::Applied
            }
            Internal::CommandFailed {
                command,
                gone,
                reason,
            } => self.on_command_failed(command, *gone, reason),
        }
    }

    fn on_command_failed(&mut self, command: &Command, gone: bool, reason: &str) -> Disposition {
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
            Op::Recognize { .. } => self.on_recognize_failed(ctx, &format!("failed ({reason})")),
            Op::Play { .. } => self.on_play_ended(ctx, &format!("failed ({reason})")),
            Op::StartRecording => {
                self.s.recording.requested = false;
                self.decide(format!("recording could not start: {reason}"));
                Disposition::Applied
            }
            Op::Transfer { .. } => self.on_transfer_failed(ctx, reason),
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

    // ------------------------------------------------------------------ actions

    fn answer(&mut self) {
        let Some(context) = self.s.incoming_call_context.clone() else {
            self.decide("cannot answer: no incoming call context");
            self.end_now("no incoming call context".into());
            return;
        };
        self.s.phase = Phase::Answering;
        self.cmd(
            "answer",
            Op::Answer {
                incoming_call_context: context,
                operation_context: OpCtx::Answer.to_string(),
            },
        );
    }

    /// Puts the call into `queue`: recording, announcement, hold music, then routing.
    fn enter_queue(&mut self, queue: QueueName) {
        let queue = if self.cfg.routing.queue(queue.as_str()).is_some() {
            queue
        } else {
            self.cfg.routing.default_queue.clone()
        };
        if self.s.visited.len() >= MAX_QUEUE_VISITS {
            self.decide(format!("visited {MAX_QUEUE_VISITS} queues: giving up"));
            self.hang_up("too many queues");
            return;
        }
        self.s.visited.push(queue.clone());
        self.s.queue = queue.clone();
        self.s.waiting_since = Some(self.now);
        self.s.attempts = 0;
        self.s.tried.clear();
        let Some(q) = self.cfg.queue(queue.as_str()) else {
            self.decide(format!("queue {queue} is not configured: hanging up"));
            self.hang_up("no queue");
            return;
        };
        self.decide(format!("queue {queue}"));
        if q.recording && !self.s.recording.requested {
            self.s.recording.requested = true;
            self.cmd("start-recording", Op::StartRecording);
        }
        // Looped hold music from a previous queue would block everything queued after it.
        if self.s.media.hold.take().is_some() {
            self.cmd("cancel-media", Op::CancelMedia);
        }
        if let Some(a) = q.announcement.clone() {
            self.s.media.plays += 1;
            let n = self.s.media.plays;
            self.cmd(
                format!("play:announce:{n}"),
                Op::Play {
                    source: a.source,
                    loop_playback: a.loop_playback,
                    play_to: None,
                    interrupt: false,
                    operation_context: OpCtx::Announce { n }.to_string(),
                },
            );
        }
        self.start_hold_music();
        self.route(false);
    }

    fn start_hold_music(&mut self) {
        let Some(music) = self.queue_cfg().and_then(|q| q.hold_music.clone()) else {
            return;
        };
        self.s.media.plays += 1;
        let n = self.s.media.plays;
        self.s.media.hold = Some(n);
        self.cmd(
            format!("play:hold:{n}"),
            Op::Play {
                source: music.source,
                loop_playback: music.loop_playback,
                play_to: None,
                interrupt: false,
                operation_context: OpCtx::Hold { n }.to_string(),
            },
        );
    }

    /// Asks the routing engine for the next offer.
    fn route(&mut self, direct: bool) {
        self.s.seq += 1;
        let seq = self.s.seq;
        self.s.phase = if direct {
            Phase::DirectRouting { seq }
        } else {
            Phase::Routing { seq }
        };
        let call = self.requirements();
        self.cmd(
            format!("route:{seq}"),
            Op::Route {
                seq,
                call,
                excluded: self.s.tried.clone(),
            },
        );
    }

    /// What the routing engine needs to know about this call now.
    fn requirements(&self) -> CallRequirements {
        let mut call = CallRequirements::new(
            self.s.correlation_id.clone(),
            self.s.queue.clone(),
            self.s.waiting_since.unwrap_or(self.now),
        );
        call.attempts = self.s.attempts;
        call
    }

    /// Rings the reserved agent.
    fn offer(&mut self, reservation: switchboard_store::Reservation) {
        let seq = self.s.seq;
        let agent = reservation.agent.clone();
        let ring = self
            .queue_cfg()
            .map_or(Duration::from_secs(20), |q| q.ring_timeout);
        self.s.attempts += 1;
        self.s.tried.push(agent.clone());
        if !self.s.invited.contains(&agent) {
            self.s.invited.push(agent.clone());
        }
        self.s.reservation = Some(reservation);
        self.s.participants.agent_seen = None;
        self.s.phase = Phase::Ringing {
            seq,
            agent: agent.clone(),
            invitation: None,
            since: self.now,
        };
        self.cmd(
            format!("add:{seq}"),
            Op::AddParticipant {
                agent: agent.clone(),
                invitation_timeout_secs: secs_u32(ring).max(1),
                operation_context: OpCtx::Add { seq, agent }.to_string(),
                seq,
            },
        );
        let at = self.now + ring + self.cfg.ring_grace;
        self.schedule(
            &format!("ring-timeout:{seq}"),
            Internal::RingTimeout { seq },
            at,
        );
    }

    fn redirect_to_agent(&mut self, reservation: switchboard_store::Reservation) {
        let Some(context) = self.s.incoming_call_context.clone() else {
            self.decide("cannot redirect: no incoming call context");
            self.cmd(
                "release",
                Op::Release {
                    reservation,
                    wrap_up_secs: 0,
                },
            );
            self.end_now("no incoming call context".into());
            return;
        };
        let agent = reservation.agent.clone();
        // A redirected call is never ours again: no callback tells us when it ends. Hold the
        // agent back for one ring period so the next call does not ring them at once; Graph
        // presence covers the rest.
        let ring = self
            .queue_cfg()
            .map_or(Duration::from_secs(20), |q| q.ring_timeout);
        self.s.invited.push(agent.clone());
        self.s.answered_by = Some(agent.clone());
        self.cmd(
            "redirect",
            Op::Redirect {
                incoming_call_context: context,
                target: CommunicationIdentifier::teams_user(agent.as_str()),
            },
        );
        self.cmd(
            "release",
            Op::Release {
                reservation,
                wrap_up_secs: ring.as_secs(),
            },
        );
        self.end_now(format!("redirected to agent {agent}"));
    }

    fn direct_overflow(&mut self, target: OverflowTarget) {
        let Some(context) = self.s.incoming_call_context.clone() else {
            self.end_now("no incoming call context".into());
            return;
        };
        match target {
            OverflowTarget::Phone { number } => {
                self.cmd(
                    "redirect",
                    Op::Redirect {
                        incoming_call_context: context,
                        target: CommunicationIdentifier::phone(number.clone()),
                    },
                );
                self.end_now(format!("redirected to {number}"));
            }
            OverflowTarget::TeamsUser { oid } => {
                self.cmd(
                    "redirect",
                    Op::Redirect {
                        incoming_call_context: context,
                        target: CommunicationIdentifier::teams_user(oid.as_str()),
                    },
                );
                self.end_now(format!("redirected to Teams user {oid}"));
            }
            OverflowTarget::Hangup => {
                self.cmd(
                    "reject",
                    Op::Reject {
                        incoming_call_context: context,
                    },
                );
                self.end_now("rejected: nobody to take it".into());
            }
            OverflowTarget::Queue { queue } => {
                self.s.entry_queue = queue.clone();
                self.s.queue = queue;
                self.answer();
            }
            // Announcements and voicemail need the call answered; the answered queue's own
            // routing reaches the same overflow and plays them.
            OverflowTarget::Announcement { .. } | OverflowTarget::Voicemail { .. } => {
                self.answer();
            }
        }
    }

    fn overflow(&mut self, target: OverflowTarget) {
        match target {
            OverflowTarget::Phone { number } => {
                self.stop_media();
                self.transfer(CommunicationIdentifier::phone(number));
            }
            OverflowTarget::TeamsUser { oid } => {
                self.stop_media();
                self.transfer(CommunicationIdentifier::teams_user(oid.as_str()));
            }
            OverflowTarget::Queue { queue } => {
                if self.s.visited.contains(&queue) {
                    self.decide(format!("overflow queue {queue} already visited"));
                    self.hang_up("overflow loop");
                } else {
                    self.enter_queue(queue);
                }
            }
            OverflowTarget::Announcement { source } => {
                self.stop_media();
                self.s.phase = Phase::OverflowAnnouncement;
                self.cmd(
                    "play:overflow",
                    Op::Play {
                        source,
                        loop_playback: false,
                        play_to: None,
                        interrupt: false,
                        operation_context: OpCtx::OverflowAnnouncement.to_string(),
                    },
                );
            }
            OverflowTarget::Voicemail {
                greeting,
                max_duration,
            } => {
                self.stop_media();
                self.s.phase = Phase::VoicemailGreeting {
                    max_duration_secs: max_duration.as_secs(),
                };
                self.cmd(
                    "play:voicemail",
                    Op::Play {
                        source: greeting,
                        loop_playback: false,
                        play_to: None,
                        interrupt: false,
                        operation_context: OpCtx::VoicemailGreeting.to_string(),
                    },
                );
            }
            OverflowTarget::Hangup => self.hang_up("overflow: hang up"),
        }
    }

    fn stop_media(&mut self) {
        if self.s.media.hold.take().is_some() {
            self.cmd("cancel-media", Op::CancelMedia);
        }
    }

    fn transfer(&mut self, target: CommunicationIdentifier) {
        self.s.transfers += 1;
        let n = self.s.transfers;
        self.s.phase = Phase::Transferring {
            attempt: n,
            target: target.clone(),
        };
        self.decide(format!("transferring to {target}"));
        self.cmd(
            format!("transfer:{n}"),
            Op::Transfer {
                target,
                operation_context: OpCtx::Transfer { n }.to_string(),
            },
        );
    }

    fn schedule(&mut self, action: &str, input: Internal, at: OffsetDateTime) {
        let id = format!("{}/{action}", self.input.id);
        self.cmd(format!("schedule:{action}"), Op::Schedule { id, input, at });
    }

    /// Releases the held reservation with `wrap_up` (a failed offer: the cool-down).
    fn release(&mut self, wrap_up: Duration) {
        if let Some(reservation) = self.s.reservation.take() {
            self.cmd(
                format!("release:{}", reservation.agent),
                Op::Release {
                    reservation,
                    wrap_up_secs: wrap_up.as_secs(),
                },
            );
        }
    }

    /// Releases the held reservation after a conversation: the agent's wrap-up.
    fn release_after_call(&mut self) {
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
    fn hang_up(&mut self, reason: &str) {
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
    fn end_now(&mut self, reason: String) {
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

fn opctx(ctx: Option<&switchboard_events::OperationContext>) -> Option<OpCtx> {
    ctx.and_then(|c| OpCtx::parse(c.as_str()))
}

fn ctx_of(e: &AcsEvent) -> Option<OpCtx> {
    opctx(e.operation_context())
}

fn describe_result(info: Option<&switchboard_events::ResultInformation>) -> String {
    match info {
        None => "no result information".to_string(),
        Some(i) => {
            let code = i.code.map_or_else(|| "?".into(), |c| c.to_string());
            let sub = i.sub_code.map_or_else(|| "?".into(), |c| c.to_string());
            format!("{} {code}/{sub}", i.outcome().as_str())
        }
    }
}

fn secs_u32(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}
