//! The simulated world: customer calls, call connections, participants, invitations, media
//! operations, recordings and agents. Plain data; the engine mutates it under one lock.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use switchboard_events::CommunicationIdentifier;
use tokio::sync::mpsc::UnboundedSender;

use crate::config::{AgentSpec, NumberSpec};
use crate::ids::IdGen;
use crate::wire::CallIds;

/// Everything behind the engine lock.
pub(crate) struct State {
    pub ids: IdGen,
    /// Customer calls (and outbound calls) by correlation id.
    pub calls: HashMap<String, SimCall>,
    /// call connection id → correlation id.
    pub by_connection: HashMap<String, String>,
    /// incomingCallContext → correlation id.
    pub by_context: HashMap<String, String>,
    /// server call id → correlation id.
    pub by_server_call: HashMap<String, String>,
    /// recording id → recording.
    pub recordings: HashMap<String, Recording>,
    pub agents: BTreeMap<String, Agent>,
    pub numbers: BTreeMap<String, NumberSpec>,
    /// Correlation ids in creation order (for retention).
    pub order: VecDeque<String>,
    /// The Teams tenant's interop settings and our resource id (ADR 0010).
    pub tenant: Option<(crate::tenant::TenantPolicy, String)>,
}

impl State {
    pub fn new(ids: IdGen) -> Self {
        Self {
            ids,
            calls: HashMap::new(),
            by_connection: HashMap::new(),
            by_context: HashMap::new(),
            by_server_call: HashMap::new(),
            recordings: HashMap::new(),
            agents: BTreeMap::new(),
            numbers: BTreeMap::new(),
            order: VecDeque::new(),
            tenant: None,
        }
    }

    /// Add a call and forget the oldest finished calls beyond `max`. Returns the correlation
    /// ids forgotten (their timelines and ledger entries go too).
    pub fn insert_call(&mut self, call: SimCall, max: usize) -> Vec<String> {
        let corr = call.correlation_id.clone();
        self.calls.insert(corr.clone(), call);
        self.order.push_back(corr);
        let mut evicted = Vec::new();
        let mut budget = self.order.len();
        while self.order.len() > max && budget > 0 {
            budget -= 1;
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            let finished = self.calls.get(&oldest).is_none_or(SimCall::is_finished);
            if !finished {
                // Live calls stay; look further.
                self.order.push_back(oldest);
                continue;
            }
            if let Some(call) = self.calls.remove(&oldest) {
                self.by_server_call.remove(&call.server_call_id);
                if let Some(ctx) = &call.incoming_context {
                    self.by_context.remove(ctx);
                }
                if let Some(conn) = &call.conn {
                    self.by_connection.remove(&conn.id);
                    if let Some(r) = &conn.recording {
                        self.recordings.remove(r);
                    }
                }
            }
            evicted.push(oldest);
        }
        evicted
    }

    /// Find a call by correlation id, call connection id, server call id or incoming context.
    pub fn resolve(&self, id: &str) -> Option<String> {
        if self.calls.contains_key(id) {
            return Some(id.to_owned());
        }
        self.by_connection
            .get(id)
            .or_else(|| self.by_server_call.get(id))
            .or_else(|| self.by_context.get(id))
            .cloned()
    }
}

/// Where a customer call is in its life, seen from the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// IncomingCall published, nobody answered yet.
    Ringing,
    /// Answered: a call connection exists.
    Answered,
    /// Redirected to another target; we are out of the loop.
    Redirected,
    /// Rejected by the app.
    Rejected,
    /// The caller hung up before anyone answered.
    Abandoned,
    /// Nobody answered within the ringing window.
    Expired,
    /// An outbound call created by the app.
    Outbound,
}

/// State of a call connection (`CallConnectionStateModel`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ConnState {
    /// Answered or created, `CallConnected` not sent yet; mid-call actions get 400/8501.
    Connecting,
    /// Established: mid-call actions are allowed.
    Connected,
    /// A transfer is ringing its target: another transfer gets 409/8607, other mid-call
    /// actions 400/8501.
    Transferring,
    /// The transfer target answered; our leg is about to be disconnected.
    TransferAccepted,
    /// In the contract's enum for completeness; the simulator goes straight to
    /// `Disconnected`.
    Disconnecting,
    /// Our leg has left. Requests on the connection answer 404/8522.
    Disconnected,
}

impl ConnState {
    /// The contract's spelling (`transferAccepted`), as `GET` on the connection returns it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Connected => "connected",
            ConnState::Transferring => "transferring",
            ConnState::TransferAccepted => "transferAccepted",
            ConnState::Disconnecting => "disconnecting",
            ConnState::Disconnected => "disconnected",
        }
    }
}

/// A party of the simulated call.
#[derive(Clone, Debug)]
pub(crate) struct Party {
    pub id: CommunicationIdentifier,
    pub raw: String,
}

impl Party {
    pub fn new(id: CommunicationIdentifier) -> Self {
        let raw = id.raw_id();
        Self { id, raw }
    }

    pub fn wire(&self) -> Value {
        serde_json::to_value(&self.id).unwrap_or(Value::Null)
    }
}

/// A participant in the call connection's roster.
#[derive(Clone, Debug)]
pub(crate) struct Participant {
    pub party: Party,
    pub muted: bool,
    pub on_hold: bool,
    /// Our own leg (the Call Automation app).
    pub is_bot: bool,
    /// Roster agent id when this is a simulated Teams user.
    pub agent: Option<String>,
    /// Unique per join, so a stale "talk time over" timer does nothing.
    pub join: u64,
}

impl Participant {
    pub fn new(party: Party) -> Self {
        Self {
            party,
            muted: false,
            on_hold: false,
            is_bot: false,
            agent: None,
            join: 0,
        }
    }

    /// `CallParticipant` wire shape.
    pub fn wire(&self) -> Value {
        json!({"identifier": self.party.wire(), "isMuted": self.muted, "isOnHold": self.on_hold})
    }
}

/// How an invitation ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Picked up (or voicemail picked up).
    Joined,
    Declined,
    Busy,
    TimedOut,
    /// The Teams tenant's interop policy does not let our resource reach the user.
    Forbidden,
}

/// Status of an add-participant invitation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum InvitationState {
    /// The target's phone is ringing; it can still be cancelled.
    Ringing,
    /// The target joined (`AddParticipantSucceeded` sent). Voicemail picking up counts too.
    Accepted,
    /// Declined, busy or timed out (`AddParticipantFailed` sent).
    Failed,
    /// Cancelled while ringing (`CancelAddParticipantSucceeded` sent, no add result).
    Cancelled,
}

#[derive(Clone, Debug)]
pub(crate) struct Invitation {
    pub id: String,
    pub target: Party,
    pub operation_context: Option<String>,
    pub callback_override: Option<String>,
    pub state: InvitationState,
    pub agent: Option<String>,
}

/// An in-flight transfer.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    pub target: Party,
    pub transferee: Party,
    pub operation_context: Option<String>,
    pub callback_override: Option<String>,
    pub agent: Option<String>,
    pub gen: u64,
}

/// A queued or running media operation.
#[derive(Clone, Debug)]
pub(crate) enum MediaOp {
    Play(PlayOp),
    Recognize(RecognizeOp),
}

impl MediaOp {
    pub fn operation_context(&self) -> Option<&String> {
        match self {
            MediaOp::Play(p) => p.operation_context.as_ref(),
            MediaOp::Recognize(r) => r.operation_context.as_ref(),
        }
    }

    pub fn callback_override(&self) -> Option<&String> {
        match self {
            MediaOp::Play(p) => p.callback_override.as_ref(),
            MediaOp::Recognize(r) => r.callback_override.as_ref(),
        }
    }

    pub fn canceled_event(&self) -> &'static str {
        match self {
            MediaOp::Play(_) => "PlayCanceled",
            MediaOp::Recognize(_) => "RecognizeCanceled",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct PlayOp {
    pub sources: Vec<PlaySourceSpec>,
    pub looped: bool,
    pub operation_context: Option<String>,
    pub callback_override: Option<String>,
}

/// A play source reduced to what the simulator acts on.
#[derive(Clone, Debug)]
pub(crate) enum PlaySourceSpec {
    File { uri: String },
    Text,
    Ssml,
}

impl PlaySourceSpec {
    /// Text and SSML are synthesised by Azure AI Speech; files are not.
    pub fn needs_ai(&self) -> bool {
        matches!(self, Self::Text | Self::Ssml)
    }
}

#[derive(Clone, Debug)]
pub(crate) enum RecognizeMode {
    Dtmf {
        max_tones: usize,
        stop_tones: Vec<char>,
    },
    Choices(Vec<ChoiceSpec>),
}

#[derive(Clone, Debug)]
pub(crate) struct ChoiceSpec {
    pub label: String,
    pub tone: Option<char>,
}

#[derive(Clone, Debug)]
pub(crate) struct RecognizeOp {
    pub mode: RecognizeMode,
    pub prompts: Vec<PlaySourceSpec>,
    pub interrupt_prompt: bool,
    pub initial_silence: Duration,
    pub inter_tone: Duration,
    pub operation_context: Option<String>,
    pub callback_override: Option<String>,
}

/// The media operation currently running.
#[derive(Clone, Debug)]
pub(crate) struct ActiveMedia {
    pub op: MediaOp,
    pub gen: u64,
    pub started: Instant,
    /// Recognize: when listening starts (after the prompt).
    pub listen_at: Instant,
    /// Recognize: tones collected so far.
    pub collected: Vec<char>,
    pub last_tone_at: Option<Instant>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Media {
    pub active: Option<ActiveMedia>,
    pub queue: VecDeque<MediaOp>,
    pub gen: u64,
}

/// A recording of a call.
#[derive(Clone, Debug)]
pub(crate) struct Recording {
    pub id: String,
    pub correlation_id: String,
    pub active: bool,
    pub stopped: bool,
    pub started_at: time::OffsetDateTime,
    pub callback_uri: String,
}

/// A call connection (our leg) as Call Automation sees it.
pub(crate) struct Connection {
    pub id: String,
    pub state: ConnState,
    pub callback_uri: String,
    pub version: String,
    /// Our identity in the call (`answeredBy` / `source`).
    pub bot: Party,
    pub answered_for: Option<String>,
    pub source_display_name: Option<String>,
    pub source_caller_id: Option<String>,
    pub targets: Vec<Party>,
    pub participants: Vec<Participant>,
    pub sequence: u32,
    pub invitations: BTreeMap<String, Invitation>,
    pub transfer: Option<Transfer>,
    pub media: Media,
    pub recording: Option<String>,
    pub answer_context: Option<String>,
    /// `callIntelligenceOptions.cognitiveServicesEndpoint` of the answer / create: without it
    /// text-to-speech and speech recognition are refused (ADR 0009).
    pub cognitive_services_endpoint: Option<String>,
    /// Callback queue; `None` once the leg is disconnected (delivery drains and stops).
    pub tx: Option<UnboundedSender<Outgoing>>,
}

impl Connection {
    pub fn has_teams_user(&self) -> bool {
        self.participants.iter().any(|p| {
            matches!(
                p.party.id,
                CommunicationIdentifier::MicrosoftTeamsUser { .. }
            )
        })
    }

    pub fn find(&self, raw: &str) -> Option<usize> {
        self.participants.iter().position(|p| p.party.raw == raw)
    }

    pub fn humans(&self) -> usize {
        self.participants.iter().filter(|p| !p.is_bot).count()
    }

    pub fn is_established(&self) -> bool {
        self.state == ConnState::Connected
    }
}

/// One customer (or outbound) call.
pub(crate) struct SimCall {
    pub correlation_id: String,
    pub server_call_id: String,
    pub caller: Party,
    pub to: Party,
    pub phase: Phase,
    pub incoming_context: Option<String>,
    pub incoming_event_id: Option<String>,
    pub ring_deadline: Option<Instant>,
    pub conn: Option<Connection>,
    /// Tones the caller pressed that no recognize consumed yet.
    pub dtmf: VecDeque<char>,
    pub hang_up_after: Option<Duration>,
    /// Agents talking to the caller outside our leg (after a transfer or redirect), with
    /// their join id.
    pub external_agents: Vec<(String, u64)>,
}

impl SimCall {
    pub fn ids(&self) -> Option<CallIds> {
        self.conn.as_ref().map(|c| CallIds {
            call_connection_id: c.id.clone(),
            server_call_id: self.server_call_id.clone(),
            correlation_id: self.correlation_id.clone(),
            version: c.version.clone(),
        })
    }

    pub fn connection_id(&self) -> Option<&str> {
        self.conn.as_ref().map(|c| c.id.as_str())
    }

    /// The customer: the caller of an incoming call, the callee of an outbound one.
    pub fn customer(&self) -> &Party {
        if self.phase == Phase::Outbound {
            &self.to
        } else {
            &self.caller
        }
    }

    /// Nothing more can happen on this call (only what agents on a direct leg do).
    pub fn is_finished(&self) -> bool {
        let leg_over = self
            .conn
            .as_ref()
            .is_none_or(|c| c.state == ConnState::Disconnected);
        self.phase != Phase::Ringing && leg_over && self.external_agents.is_empty()
    }
}

/// A simulated Teams user.
pub(crate) struct Agent {
    pub spec: AgentSpec,
    /// Simulated calls the agent is in right now.
    pub in_calls: u32,
    /// The most calls the agent was ever in at once (a contact centre books an agent for one).
    pub peak_in_calls: u32,
}

impl Agent {
    pub fn new(spec: AgentSpec) -> Self {
        Self {
            spec,
            in_calls: 0,
            peak_in_calls: 0,
        }
    }

    /// The agent joins one more call.
    pub fn join(&mut self) {
        self.in_calls += 1;
        self.peak_in_calls = self.peak_in_calls.max(self.in_calls);
    }

    /// Presence as Graph reports it: in a simulated call means Busy/InACall.
    pub fn presence(&self) -> (String, String) {
        if self.in_calls > 0 {
            ("Busy".into(), "InACall".into())
        } else {
            (
                self.spec.presence.availability.clone(),
                self.spec.presence.activity.clone(),
            )
        }
    }
}

/// One queued callback, waiting in its call's delivery queue (see `crate::callbacks`).
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub body: Vec<u8>,
    pub url: String,
    pub event_type: &'static str,
    pub event_id: String,
    pub correlation_id: String,
    pub call_connection_id: String,
}
