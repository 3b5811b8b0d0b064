//! What the flow asks the executor to do.
//!
//! A [`Command`] is data: an [`Op`] plus the [`RepeatKey`] it was derived from (the id of the
//! input that caused it, an action name unique within that input, and when it was decided). The
//! executor turns the key into the `Repeatability-Request-ID` / `Repeatability-First-Sent`
//! pair of Call Automation requests and into message ids for scheduled timers, so executing
//! the same command twice — after a redelivery, or by a second replica finishing a crashed
//! one's work — has one effect. Commands are kept in the call state's outbox until executed,
//! so they serialize.

use std::fmt;

use serde::{Deserialize, Serialize};
use switchboard_events::{
    CallConnectionId, CommunicationIdentifier, IncomingCallContext, InvitationId, RecordingId,
    TeamsUserId,
};
use switchboard_routing::queue::PlaySource;
use switchboard_routing::{CallRequirements, OverflowTarget};
use switchboard_store::Reservation;
use time::OffsetDateTime;

use super::callback::{CallbackCall, CallbackRequest};

/// Where a command's repeatability comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RepeatKey {
    /// Id of the input that caused the command.
    pub event_id: String,
    /// Unique among the commands of that input (`answer`, `add:3`, `play:hold:2`).
    pub action: String,
    /// When the command was decided (saved with it before its first attempt):
    /// `Repeatability-First-Sent`.
    #[serde(with = "time::serde::rfc3339")]
    pub first_sent: OffsetDateTime,
}

impl RepeatKey {
    /// Id of an input that is the result of this command (`<event>/<action>/<suffix>`).
    pub(crate) fn derived_id(&self, suffix: &str) -> String {
        format!("{}/{}/{suffix}", self.event_id, self.action)
    }
}

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// Where the command's repeatability ids and markers derive from (the input that caused it).
    pub key: RepeatKey,
    /// What to do.
    pub op: Op,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.op, self.key.action)
    }
}

/// The operations. Call Automation ones address the call by the call connection id kept in
/// the call state; store, routing and queue ones are the executor's own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Op {
    /// Answer the incoming call (callback URI from configuration).
    #[serde(rename_all = "camelCase")]
    Answer {
        /// The opaque context from `IncomingCall`; valid only while the call rings.
        incoming_call_context: IncomingCallContext,
        /// Echoed on the call's callbacks (an `sb1:` string).
        operation_context: String,
        /// `callIntelligenceOptions.cognitiveServicesEndpoint`: the Azure AI services resource
        /// text-to-speech and speech recognition use on this call (none: audio files only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cognitive_services_endpoint: Option<String>,
    },
    /// Redirect the unanswered call (direct mode).
    #[serde(rename_all = "camelCase")]
    Redirect {
        /// The opaque context from `IncomingCall`.
        incoming_call_context: IncomingCallContext,
        /// Who the call is redirected to (the chosen agent).
        target: CommunicationIdentifier,
    },
    /// Reject the unanswered call.
    #[serde(rename_all = "camelCase")]
    Reject {
        /// The opaque context from `IncomingCall`.
        incoming_call_context: IncomingCallContext,
    },
    /// Invite a Teams agent.
    #[serde(rename_all = "camelCase")]
    AddParticipant {
        /// The Teams user invited.
        agent: TeamsUserId,
        /// How long the invitation rings before Call Automation gives up.
        invitation_timeout_secs: u32,
        /// Echoed on the outcome callbacks (`sb1:` with the offer number).
        operation_context: String,
        /// Offer number (echoed back as [`Internal::Invited`]).
        seq: u32,
    },
    /// Withdraw a pending invitation.
    #[serde(rename_all = "camelCase")]
    CancelAddParticipant {
        /// The id Call Automation returned when the invitation was sent.
        invitation_id: InvitationId,
        /// Echoed on the cancellation's callbacks.
        operation_context: String,
    },
    /// Remove someone from the call.
    #[serde(rename_all = "camelCase")]
    RemoveParticipant {
        /// Who is removed (a late joiner, or the bot's own leg).
        participant: CommunicationIdentifier,
        /// Echoed on the removal's callbacks.
        operation_context: String,
    },
    /// Play media (to everyone, or to one participant).
    #[serde(rename_all = "camelCase")]
    Play {
        /// Audio file, text or SSML.
        source: PlaySource,
        /// Repeat until cancelled (hold music).
        loop_playback: bool,
        /// One participant only; `None` plays to everyone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        play_to: Option<CommunicationIdentifier>,
        /// Interrupt (and drop) media already playing or queued (play to all only).
        interrupt: bool,
        /// Echoed on `PlayCompleted` / `PlayFailed` (tells which prompt ended).
        operation_context: String,
    },
    /// Stop all media operations (hold music, prompts).
    CancelMedia,
    /// DTMF menu: prompt and collect tones from `target`.
    #[serde(rename_all = "camelCase")]
    Recognize {
        /// What the caller hears while tones are collected.
        prompt: PlaySource,
        /// Whose tones are collected (the caller).
        target: CommunicationIdentifier,
        /// Stop after this many tones.
        max_tones: u32,
        /// Give up when the caller presses nothing for this long.
        initial_silence_timeout_secs: u32,
        /// Echoed on `RecognizeCompleted` / `RecognizeFailed`.
        operation_context: String,
    },
    /// Start recording the call (audio, mixed), paused until the participants have heard
    /// the notice; state changes arrive as `RecordingStateChanged` on the callback URI.
    StartRecording,
    /// Pause a recording (it ran before the notice had played).
    #[serde(rename_all = "camelCase")]
    PauseRecording {
        /// The recording.
        recording_id: RecordingId,
    },
    /// Resume a recording held paused for the notice, once the notice has played.
    #[serde(rename_all = "camelCase")]
    ResumeRecording {
        /// The recording.
        recording_id: RecordingId,
    },
    /// Stop a recording (notice fallback `stop`).
    #[serde(rename_all = "camelCase")]
    StopRecording {
        /// The recording.
        recording_id: RecordingId,
    },
    /// Stop transcription (it cannot be paused; notice fallbacks `pause` and `stop`).
    StopTranscription,
    /// Blind-transfer the caller (overflow, or a queue's `transfer_to`).
    #[serde(rename_all = "camelCase")]
    Transfer {
        /// Where the caller goes (a phone number, a Teams user or a Teams voice app).
        target: CommunicationIdentifier,
        /// Echoed on `CallTransferAccepted` / `CallTransferFailed`.
        operation_context: String,
        /// The participant transferred: the PSTN caller, named explicitly.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transferee: Option<CommunicationIdentifier>,
        /// `sourceCallerIdNumber`: the caller id a PSTN target sees — one of our numbers
        /// (the one the caller dialled); required by Call Automation for phone targets.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_caller_id: Option<String>,
    },
    /// End the call: for everyone (terminate), or just drop our leg.
    #[serde(rename_all = "camelCase")]
    HangUp {
        /// `true` terminates the call for all participants; `false` drops only our leg.
        for_everyone: bool,
    },
    /// Ask the routing engine and reserve an agent; the result comes back as
    /// [`Internal::Routed`], [`Internal::NoAgent`] or [`Internal::Overflow`].
    #[serde(rename_all = "camelCase")]
    Route {
        /// Offer number; echoed in the result so a stale result is recognised.
        seq: u32,
        /// What the call needs (queue, skills, language, wait so far).
        call: CallRequirements,
        /// Agents already tried in this queue.
        excluded: Vec<TeamsUserId>,
    },
    /// The call waits in `call.queue` (re-check `n`): list it so an agent who frees up can
    /// pull it at once instead of waiting for the re-check timer.
    #[serde(rename_all = "camelCase")]
    JoinWaitlist {
        /// The wait number the listing belongs to (stale listings are ignored).
        n: u32,
        /// What the call needs (queue, skills, language, wait so far).
        call: CallRequirements,
        /// Agents already tried in this queue.
        excluded: Vec<TeamsUserId>,
    },
    /// Read the waiting call's position and estimated wait from the shared store (the
    /// queue's waitlist, its callback requests and the staffed agents); the answer comes back
    /// as [`Internal::WaitStatus`] `n`.
    #[serde(rename_all = "camelCase")]
    QueryWaitStatus {
        /// The wait-status number (stale answers are ignored).
        n: u32,
        /// The call (queue, wait so far).
        call: CallRequirements,
    },
    /// Store a callback request (the caller keeps their place and hangs up).
    #[serde(rename_all = "camelCase")]
    RequestCallback {
        /// The request.
        request: CallbackRequest,
    },
    /// The agent joined: the reservation now stands for a call in progress (agent busy).
    #[serde(rename_all = "camelCase")]
    Confirm {
        /// The reservation to turn into a busy agent.
        reservation: Reservation,
    },
    /// Free the agent; `wrap_up_secs` of after-call work (or a no-answer cool-down) first.
    #[serde(rename_all = "camelCase")]
    Release {
        /// The reservation to give up.
        reservation: Reservation,
        /// Seconds before the agent is offered again.
        wrap_up_secs: u64,
        /// Why, when the offer failed for a reason worth counting ([`RELEASE_TENANT_POLICY`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Deliver `input` back to this call at `at` (a scheduled queue message).
    #[serde(rename_all = "camelCase")]
    Schedule {
        /// The input id (and queue message id).
        id: String,
        /// What comes back when the timer fires.
        input: Internal,
        /// When it fires.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// The call is over: move its state to the short-lived audit record. Always last.
    Archive,
    /// Callback: call the reserved Teams agent (`CreateCall`); the new call's connection
    /// comes back as [`Internal::CallbackDialled`] and its events are keyed to this call.
    #[serde(rename_all = "camelCase")]
    CallAgent {
        /// Offer number (echoed back).
        seq: u32,
        /// The agent called.
        agent: TeamsUserId,
        /// Echoed on `CallConnected` / `CreateCallFailed`.
        operation_context: String,
    },
    /// Callback: add the customer's number to the agent's call, with our number as caller id.
    #[serde(rename_all = "camelCase")]
    AddCustomer {
        /// The customer's number (E.164).
        number: String,
        /// `sourceCallerIdNumber`: the number the customer called (one of ours).
        caller_id: String,
        /// How long the customer's phone rings.
        invitation_timeout_secs: u32,
        /// Echoed on the outcome callbacks (`sb1:` with the attempt number).
        operation_context: String,
    },
    /// Callback: end one leg's call for everyone (named: the state may already track the
    /// next leg).
    #[serde(rename_all = "camelCase")]
    EndLeg {
        /// The call connection ended.
        call_connection_id: CallConnectionId,
    },
    /// Callback: the request is served or given up: take it off the queue's callback set,
    /// store its final state and report it.
    #[serde(rename_all = "camelCase")]
    FinishCallback {
        /// The callback's final state.
        callback: Box<CallbackCall>,
    },
}

/// [`Op::Release`] reason: the Teams tenant's interop policy does not let our resource call
/// the agent (counted as `switchboard_agents_refused_by_policy_total`).
pub const RELEASE_TENANT_POLICY: &str = "tenant_policy";

impl Op {
    /// Stable name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Answer { .. } => "answer",
            Self::Redirect { .. } => "redirect",
            Self::Reject { .. } => "reject",
            Self::AddParticipant { .. } => "add_participant",
            Self::CancelAddParticipant { .. } => "cancel_add_participant",
            Self::RemoveParticipant { .. } => "remove_participant",
            Self::Play { .. } => "play",
            Self::CancelMedia => "cancel_media",
            Self::Recognize { .. } => "recognize",
            Self::StartRecording => "start_recording",
            Self::PauseRecording { .. } => "pause_recording",
            Self::ResumeRecording { .. } => "resume_recording",
            Self::StopRecording { .. } => "stop_recording",
            Self::StopTranscription => "stop_transcription",
            Self::Transfer { .. } => "transfer",
            Self::HangUp { .. } => "hang_up",
            Self::Route { .. } => "route",
            Self::JoinWaitlist { .. } => "join_waitlist",
            Self::QueryWaitStatus { .. } => "query_wait_status",
            Self::RequestCallback { .. } => "request_callback",
            Self::Confirm { .. } => "confirm",
            Self::Release { .. } => "release",
            Self::Schedule { .. } => "schedule",
            Self::Archive => "archive",
            Self::CallAgent { .. } => "call_agent",
            Self::AddCustomer { .. } => "add_customer",
            Self::EndLeg { .. } => "end_leg",
            Self::FinishCallback { .. } => "finish_callback",
        }
    }

    /// True for Call Automation requests (as opposed to store, routing and queue work).
    pub(crate) fn is_call_automation(&self) -> bool {
        matches!(
            self,
            Self::Answer { .. }
                | Self::Redirect { .. }
                | Self::Reject { .. }
                | Self::AddParticipant { .. }
                | Self::CancelAddParticipant { .. }
                | Self::RemoveParticipant { .. }
                | Self::Play { .. }
                | Self::CancelMedia
                | Self::Recognize { .. }
                | Self::StartRecording
                | Self::PauseRecording { .. }
                | Self::ResumeRecording { .. }
                | Self::StopRecording { .. }
                | Self::StopTranscription
                | Self::Transfer { .. }
                | Self::HangUp { .. }
                | Self::CallAgent { .. }
                | Self::AddCustomer { .. }
                | Self::EndLeg { .. }
        )
    }

    /// The operation context the request carries, if any.
    pub fn operation_context(&self) -> Option<&str> {
        match self {
            Self::Answer {
                operation_context, ..
            }
            | Self::AddParticipant {
                operation_context, ..
            }
            | Self::CancelAddParticipant {
                operation_context, ..
            }
            | Self::RemoveParticipant {
                operation_context, ..
            }
            | Self::Play {
                operation_context, ..
            }
            | Self::Recognize {
                operation_context, ..
            }
            | Self::Transfer {
                operation_context, ..
            }
            | Self::CallAgent {
                operation_context, ..
            }
            | Self::AddCustomer {
                operation_context, ..
            } => Some(operation_context),
            _ => None,
        }
    }
}

// `Internal` lives with `Command` because the two contain each other (a scheduled timer is a
// command carrying an input; a command that failed comes back as an input). Keeping both here
// lets `input` import from `command` and never the other way round.
/// Inputs Switchboard produces itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Internal {
    /// Route `seq` reserved an agent.
    #[serde(rename_all = "camelCase")]
    Routed {
        /// The route request this answers.
        seq: u32,
        /// The agent held for this call, and until when.
        reservation: Reservation,
        /// Why this agent (the engine's rank reason), for the timeline.
        detail: String,
    },
    /// Route `seq` found nobody free now; ask again after `retry_after_ms`.
    #[serde(rename_all = "camelCase")]
    NoAgent {
        /// The route request this answers.
        seq: u32,
        /// When to ask again (the engine's hint).
        retry_after_ms: u64,
        /// Why nobody was free, for the timeline.
        detail: String,
    },
    /// Route `seq`: the routing engine says stop trying in this queue.
    #[serde(rename_all = "camelCase")]
    Overflow {
        /// The route request this answers.
        seq: u32,
        /// Where the call goes instead (another queue, a number, voicemail, hang up).
        target: OverflowTarget,
        /// Which overflow rule fired, for the timeline.
        detail: String,
    },
    /// Offer `seq`'s add-participant was accepted; this is the invitation to cancel it by.
    #[serde(rename_all = "camelCase")]
    Invited {
        /// The offer that was accepted.
        seq: u32,
        /// The invitation id Call Automation returned.
        invitation_id: InvitationId,
    },
    /// Timer: offer `seq` had no outcome within the invitation timeout plus grace.
    #[serde(rename_all = "camelCase")]
    RingTimeout {
        /// The offer the timer was set for; a later offer makes it stale.
        seq: u32,
    },
    /// Timer: re-evaluate a waiting call (wait number `n`).
    #[serde(rename_all = "camelCase")]
    QueueRecheck {
        /// The wait number; only the newest counts.
        n: u32,
    },
    /// Timer: time to read the waiting call's position and estimated wait (number `n`).
    #[serde(rename_all = "camelCase")]
    WaitStatusDue {
        /// The wait-status number; only the newest counts.
        n: u32,
    },
    /// The waiting call's position and estimated wait, read from the shared store.
    #[serde(rename_all = "camelCase")]
    WaitStatus {
        /// The wait-status number this answers.
        n: u32,
        /// Place in the queue (1 = next).
        position: u32,
        /// Estimated wait, seconds.
        estimated_wait_secs: u64,
        /// Agents staffing the queue now (for the timeline).
        staffed: u32,
    },
    /// Timer: the voicemail recording window is over.
    VoicemailDone,
    /// Timer: menu try `try_no`'s recognize had an uncertain request (its answer was lost, or
    /// a crash left it unknown whether it went out) and no outcome has come since.
    #[serde(rename_all = "camelCase")]
    RecognizeOverdue {
        /// The menu try the timer was set for; any outcome of it makes the timer stale.
        try_no: u32,
    },
    /// A media command (no repeatability headers) may or may not have taken effect: its
    /// answer was lost after the request went out, or an earlier attempt claimed it and did
    /// not finish. It is never sent again; the flow reconciles from the callbacks.
    #[serde(rename_all = "camelCase")]
    CommandUncertain {
        /// The command whose outcome is unknown.
        command: Box<Command>,
        /// Why it is unknown.
        reason: String,
    },
    /// Callback: a stored request's turn may have come (sent by the executor when the request
    /// is stored, with no state yet: it creates the callback's state).
    #[serde(rename_all = "camelCase")]
    CallbackStart {
        /// The stored request.
        request: Box<CallbackRequest>,
    },
    /// Callback: an agent freed up and this request is next (a freed agent's pull).
    CallbackDue,
    /// Callback: offer `seq`'s `CreateCall` was accepted: the agent's call connection.
    #[serde(rename_all = "camelCase")]
    CallbackDialled {
        /// The offer.
        seq: u32,
        /// The new call's connection id.
        call_connection_id: CallConnectionId,
    },
    /// Callback timer: the customer, added to offer `seq`'s agent call, had no outcome
    /// within the ring timeout plus grace (a lost outcome must not hold the agent forever).
    #[serde(rename_all = "camelCase")]
    CallbackCustomerOverdue {
        /// The offer (agent call) the customer was added to; a later offer makes it stale.
        seq: u32,
    },
    /// A command failed for good (not retryable), or the call is gone.
    #[serde(rename_all = "camelCase")]
    CommandFailed {
        /// The command that failed.
        command: Box<Command>,
        /// Call Automation says the call no longer exists.
        gone: bool,
        /// What Call Automation (or the store) said.
        reason: String,
    },
}

impl Internal {
    /// Short type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Routed { .. } => "Routed",
            Self::NoAgent { .. } => "NoAgent",
            Self::Overflow { .. } => "Overflow",
            Self::Invited { .. } => "Invited",
            Self::RingTimeout { .. } => "RingTimeout",
            Self::QueueRecheck { .. } => "QueueRecheck",
            Self::WaitStatusDue { .. } => "WaitStatusDue",
            Self::WaitStatus { .. } => "WaitStatus",
            Self::VoicemailDone => "VoicemailDone",
            Self::RecognizeOverdue { .. } => "RecognizeOverdue",
            Self::CommandUncertain { .. } => "CommandUncertain",
            Self::CommandFailed { .. } => "CommandFailed",
            Self::CallbackStart { .. } => "CallbackStart",
            Self::CallbackDue => "CallbackDue",
            Self::CallbackDialled { .. } => "CallbackDialled",
            Self::CallbackCustomerOverdue { .. } => "CallbackCustomerOverdue",
        }
    }

    /// True for the inputs that travel through the queue as scheduled messages.
    pub fn is_timer(&self) -> bool {
        matches!(
            self,
            Self::RingTimeout { .. }
                | Self::QueueRecheck { .. }
                | Self::VoicemailDone
                | Self::WaitStatusDue { .. }
                | Self::RecognizeOverdue { .. }
                | Self::CallbackStart { .. }
                | Self::CallbackDue
                | Self::CallbackCustomerOverdue { .. }
        )
    }
}
