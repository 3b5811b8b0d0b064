//! The per-call state document.
//!
//! One [`CallState`] per call, stored under the call's correlation id with versioned
//! compare-and-set, so any replica can handle any event of any call. It holds what the flow
//! needs to decide (phase, queue, offers made, who is in the call) plus two things that make
//! handling idempotent and crash-safe: `applied` (ids of inputs already applied — a
//! redelivered event is recognised and does nothing) and `outbox` (commands decided but not
//! yet confirmed executed — saved *before* they run, so a replica that picks the call up
//! after a crash finishes them; their repeatability keys make re-running them harmless).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use switchboard_events::{
    CallConnectionId, CommunicationIdentifier, CorrelationId, IncomingCallContext, InvitationId,
    RecordingId, ServerCallId, TeamsUserId,
};
use switchboard_routing::{IncomingCallInfo, QueueName};
use switchboard_store::Reservation;
use time::OffsetDateTime;

use super::callback::CallbackCall;
use super::command::Command;
use crate::stats::ledger::CallLedger;

/// Version of the document layout; bump on incompatible changes.
pub(crate) const STATE_SCHEMA: u32 = 1;

/// Where the call is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// Direct mode: looking for an agent to redirect the unanswered call to.
    #[serde(rename_all = "camelCase")]
    DirectRouting {
        /// Offer number being routed.
        seq: u32,
    },
    /// Answer sent; waiting for `CallConnected`.
    Answering,
    /// IVR menu playing / collecting tones (try `try_no`).
    #[serde(rename_all = "camelCase")]
    Triage {
        /// Menu attempt (1-based); the menu is repeated up to the configured tries.
        try_no: u32,
    },
    /// Route `seq` asked; waiting for its result.
    #[serde(rename_all = "camelCase")]
    Routing {
        /// Offer number whose route result is awaited.
        seq: u32,
    },
    /// Nobody free; re-check `recheck` is scheduled.
    #[serde(rename_all = "camelCase")]
    Waiting {
        /// Number of the re-check timer that is current; older ones are stale.
        recheck: u32,
    },
    /// Offer `seq` to `agent` is ringing.
    #[serde(rename_all = "camelCase")]
    Ringing {
        /// Offer number.
        seq: u32,
        /// Who is being offered the call.
        agent: TeamsUserId,
        /// Set once Call Automation accepted the invitation (needed to cancel it).
        invitation: Option<InvitationId>,
        /// When the offer started ringing.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// The agent is in the call.
    #[serde(rename_all = "camelCase")]
    Talking {
        /// Who is talking to the caller.
        agent: TeamsUserId,
        /// When the agent joined.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// Transfer attempt `attempt` to `target` in progress (overflow, or the queue's
    /// `transfer_to`).
    #[serde(rename_all = "camelCase")]
    Transferring {
        /// Transfer attempt (1-based) across the call's transfers.
        attempt: u32,
        /// Where the caller is being transferred.
        target: CommunicationIdentifier,
    },
    /// Overflow announcement playing; hang up when it ends.
    OverflowAnnouncement,
    /// Voicemail greeting playing.
    #[serde(rename_all = "camelCase")]
    VoicemailGreeting {
        /// Longest voicemail recording once the greeting ends.
        max_duration_secs: u64,
    },
    /// Voicemail: recording the caller's message until the window closes.
    VoicemailRecording,
    /// The caller asked to be called back: the confirmation is playing; hang up when it ends.
    CallbackAccepted,
    /// Callback: the agent answered; the customer's phone is ringing (attempt `attempt`).
    #[serde(rename_all = "camelCase")]
    CallingCustomer {
        /// Customer call number (1-based).
        attempt: u32,
        /// The agent on the call.
        agent: TeamsUserId,
    },
    /// We ended (or handed off) the call; waiting for `CallDisconnected`.
    #[serde(rename_all = "camelCase")]
    Ending {
        /// Why the call is ending (for the audit record).
        reason: String,
    },
    /// Over.
    #[serde(rename_all = "camelCase")]
    Ended {
        /// Why the call ended.
        reason: String,
    },
}

impl Phase {
    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Self::DirectRouting { .. } => "direct_routing",
            Self::Answering => "answering",
            Self::Triage { .. } => "triage",
            Self::Routing { .. } => "routing",
            Self::Waiting { .. } => "waiting",
            Self::Ringing { .. } => "ringing",
            Self::Talking { .. } => "talking",
            Self::Transferring { .. } => "transferring",
            Self::OverflowAnnouncement => "overflow_announcement",
            Self::VoicemailGreeting { .. } => "voicemail_greeting",
            Self::VoicemailRecording => "voicemail_recording",
            Self::CallbackAccepted => "callback_accepted",
            Self::CallingCustomer { .. } => "calling_customer",
            Self::Ending { .. } => "ending",
            Self::Ended { .. } => "ended",
        }
    }

    /// The caller is waiting for an agent (hold music belongs here).
    pub(crate) fn is_queued(&self) -> bool {
        matches!(
            self,
            Self::Routing { .. } | Self::Waiting { .. } | Self::Ringing { .. }
        )
    }

    /// `Ending` or `Ended`.
    pub(crate) fn is_over(&self) -> bool {
        matches!(self, Self::Ending { .. } | Self::Ended { .. })
    }
}

/// IVR progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IvrState {
    /// Menu plays so far.
    pub tries: u32,
    /// The caller's choice, once made.
    pub choice: Option<String>,
    /// Why the menu was skipped, if it was.
    pub skipped: Option<String>,
}

/// Who is in the call, from `ParticipantsUpdated` (the source of truth).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantView {
    /// `sequenceNumber` of the newest update applied.
    pub sequence_number: Option<i64>,
    /// Updates applied (orders updates that carry no sequence number).
    pub updates: u32,
    /// Raw ids in the newest update.
    pub raw_ids: Vec<String>,
    /// Update number in which the caller was last seen.
    pub caller_seen: Option<u32>,
    /// Update number in which the current agent was last seen.
    pub agent_seen: Option<u32>,
}

impl ParticipantView {
    /// True if a Teams user is in the call now (recognize is unsupported then).
    pub(crate) fn has_teams_user(&self) -> bool {
        self.raw_ids
            .iter()
            .any(|r| CommunicationIdentifier::from_raw_id(r).kind() == "microsoftTeamsUser")
    }
}

/// Media the flow started and may have to stop or restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaState {
    /// Playback number of the newest hold-music play, if it may still be playing.
    pub hold: Option<u32>,
    /// Counter for play operation contexts.
    pub plays: u32,
}

/// Recording and its notice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingInfo {
    /// We asked ACS to record.
    pub requested: bool,
    /// ACS says recording is active.
    pub active: bool,
    /// Recordings the caller was told about (the notice plays once per recording).
    pub notified: Vec<RecordingId>,
    /// Notice playbacks started.
    pub notices: u32,
    /// The recording held paused until the notice has played (started paused, or paused
    /// by us); resumed only once the notice played.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<RecordingId>,
    /// Transcription started and the participants are owed the notice.
    #[serde(default)]
    pub transcription_owed: bool,
    /// The participants were told about transcription.
    #[serde(default)]
    pub transcription_notified: bool,
    /// Number of the notice playback in flight, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playing: Option<u32>,
    /// Notice plays that failed (or were cancelled) in a row.
    #[serde(default)]
    pub failures: u32,
    /// The configured fallback was applied (`pause`, `stop`, `hang_up`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// Position announcements and the callback offer while the caller waits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitInfo {
    /// Number of the newest wait-status timer (never reset, so older timers stay stale).
    pub status: u32,
    /// A wait-status timer is running for the current queue.
    pub scheduled: bool,
    /// Announcements played.
    pub announcements: u32,
    /// The callback was offered in this call (it is offered once).
    pub callback_offered: bool,
    /// The offer's recognize in flight (its wait-status number) and when to give up on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offering: Option<u32>,
    /// When a callback offer whose outcome never came is given up.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub offering_until: Option<OffsetDateTime>,
    /// The caller accepted a callback.
    pub callback_requested: bool,
}

/// Who is executing the outbox, until when. A handler that finds another's live lease does
/// not run the same commands concurrently (it retries later); an expired lease means the
/// holder died, and the finder takes over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// A random id of the handler (one delivery being handled) executing the outbox.
    pub holder: String,
    /// When the lease lapses if the holder neither finishes nor renews it.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// One line of the call's timeline (kept in the audit record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// When the input was applied.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Input type.
    pub input: String,
    /// What the flow decided.
    pub decision: String,
    /// Commands issued (their descriptions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
}

/// The call state document. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallState {
    /// Version of this document's shape; a newer one is refused, not misread.
    pub schema: u32,
    /// The call's key: ACS's correlation id, the same on every event of the call.
    pub correlation_id: CorrelationId,
    /// Known once the call is answered (or redirected): Call Automation addresses the call by it.
    pub call_connection_id: Option<CallConnectionId>,
    /// The server call id (recording needs it).
    pub server_call_id: Option<ServerCallId>,
    /// The call as classification sees it (to, from, headers).
    pub call: IncomingCallInfo,
    /// Kept until the call is answered or redirected (direct mode needs it after routing).
    pub incoming_call_context: Option<IncomingCallContext>,
    /// Where the call is in its life.
    pub phase: Phase,
    /// Queue chosen on IncomingCall (before IVR).
    pub entry_queue: QueueName,
    /// Queue the call is in now.
    pub queue: QueueName,
    /// When the call entered `queue`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub waiting_since: Option<OffsetDateTime>,
    /// Offers made in the current queue (the routing engine's `attempts`).
    pub attempts: u32,
    /// Offers (route requests) made over the whole call; numbers operation contexts.
    pub seq: u32,
    /// Agents offered in the current queue (excluded from further offers there).
    pub tried: Vec<TeamsUserId>,
    /// Every agent ever invited to this call (to recognise late joiners).
    pub invited: Vec<TeamsUserId>,
    /// Late joiners we removed.
    pub removed: Vec<TeamsUserId>,
    /// Queues visited, in order (overflow loops stop here).
    pub visited: Vec<QueueName>,
    /// The reservation held now (ringing or talking agent).
    pub reservation: Option<Reservation>,
    /// Menu progress (tries, digits collected).
    pub ivr: IvrState,
    /// Who is in the call, as the last `ParticipantsUpdated` said.
    pub participants: ParticipantView,
    /// What is playing or being recognised.
    pub media: MediaState,
    /// Recording id and state, once recording started.
    pub recording: RecordingInfo,
    /// Waits so far (numbers re-check timers; only the newest counts).
    pub rechecks: u32,
    /// Announcements and the callback offer while waiting.
    #[serde(default)]
    pub wait: WaitInfo,
    /// Overflow transfer attempts.
    pub transfers: u32,
    /// Set when this call serves a virtual-hold callback request (an outbound call to an
    /// agent, then the customer) instead of an incoming call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackCall>,
    /// Agent who talked to the caller, once one did.
    pub answered_by: Option<TeamsUserId>,
    /// Figures for statistics and the call history, kept by the executor (the flow never
    /// reads them): see [`crate::stats::CallLedger`].
    #[serde(default, skip_serializing_if = "CallLedger::is_empty")]
    pub ledger: CallLedger,
    /// When `IncomingCall` arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When the state was last saved.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When the call ended (set with the final phase).
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Dedupe keys of inputs applied, oldest first (bounded).
    pub applied: VecDeque<String>,
    /// Commands decided and not yet confirmed executed, in order.
    pub outbox: Vec<Command>,
    /// The handler executing `outbox`, if any (maintained by the executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Timeline (bounded).
    pub history: Vec<HistoryEntry>,
}

impl CallState {
    /// A new call that was classified to `queue`.
    pub fn new(
        correlation_id: CorrelationId,
        call: IncomingCallInfo,
        incoming_call_context: Option<IncomingCallContext>,
        server_call_id: Option<ServerCallId>,
        queue: QueueName,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            schema: STATE_SCHEMA,
            correlation_id,
            call_connection_id: None,
            server_call_id,
            call,
            incoming_call_context,
            phase: Phase::Answering,
            entry_queue: queue.clone(),
            queue,
            waiting_since: None,
            attempts: 0,
            seq: 0,
            tried: Vec::new(),
            invited: Vec::new(),
            removed: Vec::new(),
            visited: Vec::new(),
            reservation: None,
            ivr: IvrState::default(),
            participants: ParticipantView::default(),
            media: MediaState::default(),
            recording: RecordingInfo::default(),
            rechecks: 0,
            wait: WaitInfo::default(),
            transfers: 0,
            callback: None,
            answered_by: None,
            ledger: CallLedger::default(),
            started_at: now,
            updated_at: now,
            ended_at: None,
            applied: VecDeque::new(),
            outbox: Vec::new(),
            lease: None,
            history: Vec::new(),
        }
    }

    /// True if the input with this dedupe key was applied.
    pub(crate) fn has_applied(&self, key: &str) -> bool {
        self.applied.iter().any(|k| k == key)
    }

    /// Records an applied input, forgetting the oldest beyond `limit`.
    pub(crate) fn mark_applied(&mut self, key: String, limit: usize) {
        self.applied.push_back(key);
        while self.applied.len() > limit.max(1) {
            self.applied.pop_front();
        }
    }

    /// Appends to the timeline, forgetting the oldest beyond `limit`.
    pub(crate) fn push_history(&mut self, entry: HistoryEntry, limit: usize) {
        self.history.push(entry);
        if self.history.len() > limit.max(1) {
            let excess = self.history.len() - limit.max(1);
            self.history.drain(..excess);
        }
    }

    /// The caller's identifier.
    pub fn caller(&self) -> &CommunicationIdentifier {
        &self.call.from
    }

    /// The agent currently ringing or talking.
    pub fn current_agent(&self) -> Option<&TeamsUserId> {
        match &self.phase {
            Phase::Ringing { agent, .. }
            | Phase::Talking { agent, .. }
            | Phase::CallingCustomer { agent, .. } => Some(agent),
            _ => None,
        }
    }
}
