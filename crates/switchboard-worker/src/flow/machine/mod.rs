//! The transition function. See [`super`] for the call flow it implements.
//!
//! [`step`] and the dispatch of an input to its handler are here; the handlers live with the
//! part of the call they belong to:
//! - `queue`: answer, enter a queue, route, offer, overflow;
//! - `ivr`: the connected call's IVR menu;
//! - `agent`: participants and offer outcomes;
//! - `media`: play and transfer results;
//! - `notice`: the recording / transcription notice and its fallback;
//! - `internal`: our own inputs (routing results, timers, failed commands);
//! - `teardown`: releasing the agent, hanging up, ending the call;
//! - `waiting`: position announcements and the callback offer while the caller waits;
//! - `callback_call`: serving a stored callback request (agent first, then the customer).

mod agent;
mod callback_call;
mod internal;
mod ivr;
mod media;
mod notice;
mod queue;
mod teardown;
mod waiting;

use std::time::Duration;

use switchboard_events::{
    AcsEvent, AddParticipantFailed, AddParticipantSucceeded, CommunicationIdentifier, IncomingCall,
    ParticipantsUpdated, RecognizeCompleted, RecordingState, RecordingStateChanged, TeamsUserId,
};
use switchboard_routing::classify::CustomHeaders;
use switchboard_routing::{
    classify, CallQueueConfig, CallRequirements, IncomingCallInfo, OverflowTarget, QueueName,
};
use time::OffsetDateTime;

use super::command::{Command, Op, RepeatKey};
use super::config::FlowConfig;
use super::input::{FlowInput, InputKind, Internal};
use super::opctx::OpCtx;
use super::state::{CallState, HistoryEntry, Phase};

/// Most queues one call may pass through (overflow chains) before we give up on it.
pub(crate) const MAX_QUEUE_VISITS: usize = 8;

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
    /// An `IncomingCall` delivered after its ringing window: the caller is gone and the
    /// incoming call context has expired, so it is not answered.
    Expired,
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
            Self::Expired => "expired",
        }
    }
}

/// The result of [`step`].
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// What the flow made of the input.
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
            InputKind::Internal(Internal::CallbackStart { request }) => {
                callback_call::new_callback(request, input, cfg, now)
            }
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
    // The caller stops ringing (and the incoming call context expires) a ringing window
    // after the call was raised: answering later fails at best, and at worst answers a
    // call nobody is on. A backlog (queue outage, scale from zero) delivers such events.
    let age = now - input.time;
    if age > cfg.ringing_window {
        return Transition::nothing(
            Disposition::Expired,
            format!(
                "IncomingCall raised {:.1} s ago, past the {} s ringing window: not answered",
                age.as_seconds_f64(),
                cfg.ringing_window.as_secs()
            ),
        );
    }
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
                // The decision's time, saved with the command before its first attempt: a
                // redelivery re-sends the same First-Sent, and an input that arrives late
                // (a backlog) is not refused for the age of the event that caused it.
                first_sent: self.now,
            },
            op,
        });
    }

    fn queue_cfg(&self) -> Option<&'a CallQueueConfig> {
        self.cfg.queue(self.s.queue.as_str())
    }

    /// Ids the state learns from any event of the call.
    fn capture_ids(&mut self) {
        // A callback's legs are separate calls: it learns each one's connection when placed.
        if self.s.callback.is_some() {
            return;
        }
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
        if self.s.callback.is_some() {
            return self.on_callback_input();
        }
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
            AcsEvent::RecognizeCompleted(r) => match ctx_of(e) {
                Some(OpCtx::CallbackOffer { n }) => {
                    let digits = r
                        .dtmf_result
                        .as_ref()
                        .map(|d| d.digits())
                        .filter(|d| !d.is_empty());
                    self.on_callback_reply(n, digits, "no input")
                }
                _ => self.on_recognized(r),
            },
            AcsEvent::RecognizeFailed(r) => {
                let why = describe_result(r.result_information.as_ref());
                match ctx_of(e) {
                    Some(OpCtx::CallbackOffer { n }) => self.on_callback_reply(n, None, &why),
                    ctx => self.on_recognize_failed(ctx, &why),
                }
            }
            AcsEvent::RecognizeCanceled(_) => match ctx_of(e) {
                Some(OpCtx::CallbackOffer { n }) => self.on_callback_reply(n, None, "canceled"),
                ctx => self.on_recognize_failed(ctx, "canceled"),
            },
            AcsEvent::PlayCompleted(_) => self.on_play_ended(ctx_of(e), "completed", true),
            AcsEvent::PlayFailed(p) => {
                let why = format!("failed: {}", describe_result(p.result_information.as_ref()));
                self.on_play_ended(ctx_of(e), &why, false)
            }
            AcsEvent::PlayCanceled(_) => self.on_play_ended(ctx_of(e), "canceled", false),
            AcsEvent::RecordingStateChanged(r) => self.on_recording(r),
            AcsEvent::TranscriptionStarted(_) => self.on_transcription_started(),
            AcsEvent::StartRecordingFailed(r) => {
                self.s.recording.requested = false;
                let why = describe_result(r.result_information.as_ref());
                self.decide(format!("recording could not start: {why}"));
                Disposition::Applied
            }
            AcsEvent::CallTransferAccepted(_) => self.on_transfer_accepted(),
            AcsEvent::CallTransferFailed(t) => {
                let why = describe_result(t.result_information.as_ref());
                // Refused by the tenant's interop policy: the same target refuses again.
                let futile = t
                    .result_information
                    .as_ref()
                    .is_some_and(|i| i.is_forbidden());
                self.on_transfer_failed(ctx_of(e), &why, !futile)
            }
            other => self.ignore(format!("{} needs no action", other.short_type())),
        }
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
