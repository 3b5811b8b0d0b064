//! Configuration of a simulator instance and the seed-file format.
//!
//! [`SimConfig`] is what [`crate::Simulator::start`] takes. [`Seed`] is the JSON seed file
//! (`examples/seed.json`): the Teams agents, the numbers customers can dial and, optionally,
//! faults to start with. Every duration is written in milliseconds on the wire (`…Ms`).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::Faults;
use crate::secret::Secret;

/// The ACS Call Automation stable API versions the simulator answers by default (newest last).
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "2023-03-06",
    "2023-10-15",
    "2024-04-15",
    "2024-09-15",
    "2025-05-15",
    "2025-06-15",
    "2026-03-12",
];

/// Issuer of ACS callback JWTs (the real service's value).
pub(crate) const ACS_CALLBACK_ISSUER: &str = "https://acscallautomation.communication.azure.com";

/// Everything a simulator instance needs. `Default` gives a working local simulator on
/// `127.0.0.1` with an OS-assigned port, a fresh access key and resource id.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Base64 access key for HMAC auth; generated when `None`.
    pub access_key: Option<Secret>,
    /// The ACS resource's immutable id: the audience of callback JWTs. Generated when empty.
    pub resource_id: String,
    /// `api-version` values accepted on `/calling/...`; anything else is a 400.
    pub api_versions: Vec<String>,
    /// When set, `Authorization: Bearer <this>` is accepted on `/calling/...` as well as HMAC.
    pub accept_bearer: Option<Secret>,
    /// When set, Graph requests must carry exactly this bearer token; otherwise any bearer
    /// token is accepted (but one is always required, as Graph does).
    pub graph_bearer: Option<Secret>,
    /// Agents, numbers and faults to start with.
    pub seed: Option<Seed>,
    /// Seed for every random choice (ids, fault dice, random latency). `None` = from entropy.
    pub random_seed: Option<u64>,
    /// Faults active from the start.
    pub faults: Faults,
    /// Simulated delays and timeouts.
    pub timing: Timing,
    /// How callbacks are retried on non-2xx or transport errors.
    pub callback_retry: RetryPolicy,
    /// How `IncomingCall` events are shaped and delivered.
    pub event_grid: EventGridConfig,
    /// Callback JWT settings.
    pub jwt: JwtConfig,
    /// Allowed difference between `x-ms-date` and the simulator's clock.
    pub max_clock_skew: Duration,
    /// How long `Repeatability-Request-ID`s are remembered; a `Repeatability-First-Sent` older
    /// than this is refused with 412, as ACS does. `None` = remember forever, never 412.
    pub repeatability_window: Option<Duration>,
    /// Page size of `GET .../participants` (`nextLink` beyond it).
    pub participants_page_size: usize,
    /// Upper bound of entries kept per call timeline and in the Event Grid outbox.
    pub max_history: usize,
    /// Finished calls kept for inspection (snapshots, timelines, per-call ledger); older
    /// finished calls are forgotten so a long-running simulator stays bounded. Live calls
    /// are never evicted.
    pub max_retained_calls: usize,
    /// The Microsoft Entra token endpoint and managed identity endpoints: which apps and
    /// identity header they accept.
    pub entra: crate::entra::EntraConfig,
    /// Requests kept in the request log (oldest dropped first).
    pub request_log_capacity: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            access_key: None,
            resource_id: String::new(),
            api_versions: DEFAULT_API_VERSIONS.iter().map(|s| s.to_string()).collect(),
            accept_bearer: None,
            graph_bearer: None,
            seed: None,
            random_seed: None,
            faults: Faults::default(),
            timing: Timing::default(),
            callback_retry: RetryPolicy::default(),
            event_grid: EventGridConfig::default(),
            jwt: JwtConfig::default(),
            max_clock_skew: Duration::from_secs(15 * 60),
            repeatability_window: Some(Duration::from_secs(5 * 60)),
            participants_page_size: 100,
            max_history: 10_000,
            max_retained_calls: 20_000,
            entra: crate::entra::EntraConfig::default(),
            // Requests kept; older ones are dropped so a long-running simulator stays bounded.
            request_log_capacity: 2_000,
        }
    }
}

/// Simulated durations. Each one is multiplied by `time_scale`, so `time_scale: 0.01` runs a
/// 30 s ringing window in 300 ms without touching anything else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Timing {
    /// Multiplier applied to every duration below and to agent behaviours and talk times.
    pub time_scale: f64,
    /// Answer/create accepted → `CallConnected`.
    #[serde(with = "ms", rename = "connectDelayMs")]
    pub connect_delay: Duration,
    /// How long an unanswered `IncomingCall` rings before its context expires.
    #[serde(with = "ms", rename = "ringingTimeoutMs")]
    pub ringing_timeout: Duration,
    /// Invitation timeout when an add participant request gives none.
    #[serde(with = "ms", rename = "defaultInvitationTimeoutMs")]
    pub default_invitation_timeout: Duration,
    /// Answer delay for targets that are not in the roster (ACS users, phone numbers).
    #[serde(with = "ms", rename = "defaultAcceptDelayMs")]
    pub default_accept_delay: Duration,
    /// Delay before a busy target's rejection.
    #[serde(with = "ms", rename = "busyDelayMs")]
    pub busy_delay: Duration,
    /// Delay of the async result of remove, cancel-add, mute, hold and recording operations.
    #[serde(with = "ms", rename = "operationDelayMs")]
    pub operation_delay: Duration,
    /// Duration of one play source.
    #[serde(with = "ms", rename = "playDurationMs")]
    pub play_duration: Duration,
    /// Time to recognise tones that are already there.
    #[serde(with = "ms", rename = "recognizeDelayMs")]
    pub recognize_delay: Duration,
    /// `initialSilenceTimeoutInSeconds` when the request gives none.
    #[serde(with = "ms", rename = "defaultInitialSilenceTimeoutMs")]
    pub default_initial_silence_timeout: Duration,
    /// `interToneTimeoutInSeconds` when the request gives none.
    #[serde(with = "ms", rename = "defaultInterToneTimeoutMs")]
    pub default_inter_tone_timeout: Duration,
    /// Emit `PlayStarted` before `PlayCompleted` (current API versions do).
    pub emit_play_started: bool,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            time_scale: 1.0,
            connect_delay: Duration::from_millis(20),
            ringing_timeout: Duration::from_secs(30),
            default_invitation_timeout: Duration::from_secs(60),
            default_accept_delay: Duration::from_millis(500),
            busy_delay: Duration::from_millis(100),
            operation_delay: Duration::from_millis(20),
            play_duration: Duration::from_millis(500),
            recognize_delay: Duration::from_millis(100),
            default_initial_silence_timeout: Duration::from_secs(5),
            default_inter_tone_timeout: Duration::from_secs(2),
            emit_play_started: true,
        }
    }
}

impl Timing {
    /// A duration after applying `time_scale` (negative or non-finite scales count as 1),
    /// capped at a year so no later `Instant` arithmetic can overflow.
    pub fn scaled(&self, d: Duration) -> Duration {
        const MAX: Duration = Duration::from_secs(365 * 24 * 3600);
        let scale = if self.time_scale.is_finite() && self.time_scale >= 0.0 {
            self.time_scale
        } else {
            1.0
        };
        Duration::try_from_secs_f64(d.as_secs_f64() * scale)
            .unwrap_or(MAX)
            .min(MAX)
    }
}

/// Retries with exponential backoff: `initial_backoff · 2^(attempt-1)`, capped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Total attempts including the first.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each later one (`initialBackoffMs`).
    #[serde(with = "ms", rename = "initialBackoffMs")]
    pub initial_backoff: Duration,
    /// Cap on any one wait (`maxBackoffMs`).
    #[serde(with = "ms", rename = "maxBackoffMs")]
    pub max_backoff: Duration,
    /// Per-attempt HTTP timeout.
    #[serde(with = "ms", rename = "requestTimeoutMs")]
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt` (2 = first retry).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(2).min(20);
        self.initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff)
    }
}

/// Which Event Grid schema `IncomingCall` is delivered in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventSchema {
    /// Event Grid schema (`eventType`, `dataVersion`, `topic`, …): the portal default.
    #[default]
    EventGrid,
    /// CloudEvents 1.0 (`type`, `specversion`, `source`, …).
    CloudEvents,
}

/// Event Grid subscription as the simulator plays it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventGridConfig {
    /// Schema of every `IncomingCall`, unless [`StartCall::schema`] overrides it for one call.
    pub schema: EventSchema,
    /// The `topic` (Event Grid schema) / `source` (CloudEvents) of the ACS resource.
    pub topic: String,
    /// `aeg-subscription-name`; Event Grid sends it upper-cased.
    pub subscription_name: String,
    /// Delivery retries when the sink fails.
    pub retry: RetryPolicy,
}

impl Default for EventGridConfig {
    fn default() -> Self {
        Self {
            schema: EventSchema::EventGrid,
            topic: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/switchboard-local/providers/Microsoft.Communication/communicationServices/switchboard-sim".into(),
            subscription_name: "SWITCHBOARD-INCOMING-CALLS".into(),
            retry: RetryPolicy::default(),
        }
    }
}

/// Callback token settings.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// `iss` of callback tokens and `issuer` of the OpenID configuration.
    pub issuer: String,
    /// `exp - iat`.
    pub token_lifetime: Duration,
    /// A token is reused for callbacks until it is this old (signing RSA per POST is costly).
    pub reuse_for: Duration,
    /// PKCS#1 or PKCS#8 PEM RSA key; a 2048-bit key is generated when `None`.
    pub signing_key_pem: Option<Secret>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: ACS_CALLBACK_ISSUER.into(),
            token_lifetime: Duration::from_secs(5 * 60),
            reuse_for: Duration::from_secs(60),
            signing_key_pem: None,
        }
    }
}

/// The seed file: who the agents are, which numbers exist, which faults start on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Seed {
    /// Added, or replacing the agent with the same id.
    pub agents: Vec<AgentSpec>,
    /// Added; phone numbers are stored in E.164. Calls to a number not listed are refused.
    pub numbers: Vec<NumberSpec>,
    /// Replace every active fault when given (checked before anything is applied).
    pub faults: Option<Faults>,
    /// Replace the timing when given.
    pub timing: Option<Timing>,
    /// The Teams tenant's interop settings (the policy table): Teams users it does not allow
    /// our resource to reach fail invitations and transfers (ADR 0010).
    pub tenant: Option<crate::tenant::TenantPolicy>,
}

impl Seed {
    /// Parse a seed file's JSON.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A simulated Teams user (an agent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSpec {
    /// Entra object id (OID): the `8:orgid:<id>` Teams identity and the Graph user id.
    pub id: String,
    /// Graph `displayName`; its first word and the rest are also served as `givenName` and
    /// `surname`, and `$search="displayName:…"` matches on it.
    pub display_name: String,
    /// Graph `userPrincipalName` (`adelev@contoso.com`); `GET /users/{upn}` finds the agent.
    pub user_principal_name: String,
    /// Graph `mail`; the UPN is served when `None`.
    #[serde(default)]
    pub mail: Option<String>,
    /// Graph `jobTitle`; served as `null` when `None`.
    #[serde(default)]
    pub job_title: Option<String>,
    /// Graph presence while not in a simulated call.
    #[serde(default)]
    pub presence: PresenceSpec,
    /// What the agent does when invited (add participant, transfer, create call).
    #[serde(default)]
    pub behaviour: Behaviour,
    /// The agent hangs up this long after joining; `None` = stays until removed.
    #[serde(default, with = "opt_ms", rename = "talkTimeMs")]
    pub talk_time: Option<Duration>,
    /// While already in a simulated call, further invitations are answered "busy" (486).
    #[serde(default = "yes")]
    pub busy_when_in_call: bool,
}

fn yes() -> bool {
    true
}

impl AgentSpec {
    /// An available agent that accepts after `accept_after`.
    pub fn new(
        id: impl Into<String>,
        display_name: impl Into<String>,
        upn: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            display_name: display_name.into(),
            user_principal_name: upn.into(),
            mail: None,
            job_title: None,
            presence: PresenceSpec::default(),
            behaviour: Behaviour::default(),
            talk_time: None,
            busy_when_in_call: true,
        }
    }

    /// Builder: set the behaviour.
    pub fn with_behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    /// Builder: set the presence.
    pub fn with_presence(mut self, availability: &str, activity: &str) -> Self {
        self.presence = PresenceSpec {
            availability: availability.into(),
            activity: activity.into(),
        };
        self
    }

    /// Builder: set the talk time.
    pub fn with_talk_time(mut self, talk_time: Duration) -> Self {
        self.talk_time = Some(talk_time);
        self
    }
}

/// Graph presence (`availability` / `activity`, Graph's spellings).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceSpec {
    /// `Available`, `Busy`, `Away`, …; served as given, not validated, so tests can send
    /// values Graph may add later.
    pub availability: String,
    /// `Available`, `InACall`, `Presenting`, …; served as given.
    pub activity: String,
}

impl Default for PresenceSpec {
    fn default() -> Self {
        Self {
            availability: "Available".into(),
            activity: "Available".into(),
        }
    }
}

/// How a simulated Teams user answers an invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Behaviour {
    /// Picks up after `afterMs`.
    #[serde(rename_all = "camelCase")]
    Accept {
        /// Ring time before answering (scaled like every [`Timing`] delay). When it is not
        /// shorter than the invitation timeout, the invitation times out instead (408).
        #[serde(with = "ms", rename = "afterMs")]
        after: Duration,
    },
    /// Declines after `afterMs` (603).
    #[serde(rename_all = "camelCase")]
    Decline {
        /// Ring time before declining; times out instead when not shorter than the
        /// invitation timeout, as for `Accept`.
        #[serde(with = "ms", rename = "afterMs")]
        after: Duration,
    },
    /// Lets it ring until the invitation times out (408).
    NoAnswer,
    /// Already on a call: rejected at once (486).
    Busy,
    /// Does not answer; voicemail picks up after `afterMs` — which ACS reports as a success.
    #[serde(rename_all = "camelCase")]
    Voicemail {
        /// Ring time before voicemail answers; times out instead when not shorter than the
        /// invitation timeout, as for `Accept`.
        #[serde(with = "ms", rename = "afterMs")]
        after: Duration,
    },
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour::Accept {
            after: Duration::from_millis(1000),
        }
    }
}

/// A number (or ACS identity) customers can call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberSpec {
    /// E.164 phone number (`+18005550100`) or a raw ACS id (`8:acs:…`).
    pub number: String,
    /// A label for the number (`Sales line`); only shown in call timelines.
    #[serde(default)]
    pub display_name: Option<String>,
}

impl NumberSpec {
    /// A number without a label. Phone numbers are normalised to E.164 when added; an
    /// unparseable one makes the seed or `add_number` fail.
    pub fn new(number: impl Into<String>) -> Self {
        Self {
            number: number.into(),
            display_name: None,
        }
    }
}

/// A customer call to start (`POST /__sim/calls`, [`crate::SimHandle::start_call`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StartCall {
    /// Caller: E.164 number (PSTN caller) or a raw id (`8:acs:…` ACS caller). Default: a PSTN
    /// caller with a generated number.
    pub from: Option<String>,
    /// A configured number (or raw id); default: the first configured number.
    pub to: Option<String>,
    /// `callerDisplayName` of the IncomingCall; empty when `None`.
    pub caller_display_name: Option<String>,
    /// `customContext.sipHeaders` of the IncomingCall event.
    pub sip_headers: BTreeMap<String, String>,
    /// `customContext.voipHeaders` of the IncomingCall event.
    pub voip_headers: BTreeMap<String, String>,
    /// Digits the caller presses, consumed by the first recognize operations (`0-9*#A-D`).
    pub dtmf: Option<String>,
    /// The caller hangs up this long after the call is answered (`hangUpAfterMs`).
    #[serde(with = "opt_ms", rename = "hangUpAfterMs")]
    pub hang_up_after: Option<Duration>,
    /// Override the Event Grid schema for this call's IncomingCall.
    pub schema: Option<EventSchema>,
    /// Deliver the IncomingCall twice (Event Grid is at-least-once).
    pub duplicate_delivery: bool,
}

/// Serde for `Duration` as integer milliseconds.
pub(crate) mod ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// Serde for `Option<Duration>` as integer milliseconds.
pub(crate) mod opt_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

/// The Azure AI services endpoint
/// [`SimInfo::cognitive_services_endpoint`](crate::SimInfo::cognitive_services_endpoint) hands
/// out. The simulator speaks no text itself, so any endpoint set at answer / create enables text and
/// SSML; this one has the shape of a real custom-subdomain endpoint.
pub const SIM_COGNITIVE_SERVICES_ENDPOINT: &str =
    "https://switchboard-sim.cognitiveservices.azure.com/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_round_trip_and_behaviours() {
        let text = r#"{
            "agents": [
              {"id": "a1", "displayName": "Alex", "userPrincipalName": "alex@contoso.com",
               "behaviour": {"type": "accept", "afterMs": 1500}, "talkTimeMs": 30000},
              {"id": "a2", "displayName": "Bea", "userPrincipalName": "bea@contoso.com",
               "presence": {"availability": "Busy", "activity": "InACall"},
               "behaviour": {"type": "noAnswer"}, "busyWhenInCall": false},
              {"id": "a3", "displayName": "Cy", "userPrincipalName": "cy@contoso.com",
               "behaviour": {"type": "voicemail", "afterMs": 20000}}
            ],
            "numbers": [{"number": "+18005550100", "displayName": "Support"}]
        }"#;
        let seed = Seed::from_json(text).unwrap();
        assert_eq!(seed.agents.len(), 3);
        assert_eq!(
            seed.agents[0].behaviour,
            Behaviour::Accept {
                after: Duration::from_millis(1500)
            }
        );
        assert_eq!(seed.agents[0].talk_time, Some(Duration::from_secs(30)));
        assert!(seed.agents[0].busy_when_in_call);
        assert!(!seed.agents[1].busy_when_in_call);
        assert_eq!(seed.agents[1].presence.availability, "Busy");
        let back = serde_json::to_string(&seed).unwrap();
        assert_eq!(Seed::from_json(&back).unwrap(), seed);
    }

    #[test]
    fn timing_fields_are_milliseconds_and_typos_are_errors() {
        let t: Timing =
            serde_json::from_str(r#"{"playDurationMs": 10, "timeScale": 0.5}"#).unwrap();
        assert_eq!(t.play_duration, Duration::from_millis(10));
        assert_eq!(t.time_scale, 0.5);
        let v = serde_json::to_value(Timing::default()).unwrap();
        assert_eq!(v["ringingTimeoutMs"], 30_000);
        assert!(serde_json::from_str::<Timing>(r#"{"playDuration": 10}"#).is_err());
        assert!(Seed::from_json(r#"{"agent": []}"#).is_err());
    }

    #[test]
    fn bad_seed_is_an_error_not_a_panic() {
        assert!(Seed::from_json("{\"agents\": [{\"id\": 1}]}").is_err());
        assert!(Seed::from_json("not json").is_err());
        assert!(Seed::from_json(r#"{"agents":[{"id":"a","displayName":"A","userPrincipalName":"a@x","behaviour":{"type":"dance"}}]}"#).is_err());
    }

    #[test]
    fn example_seed_file_parses() {
        let text = include_str!("../examples/seed.json");
        let seed = Seed::from_json(text).unwrap();
        assert!(!seed.agents.is_empty());
        assert!(!seed.numbers.is_empty());
    }

    #[test]
    fn backoff_and_scaling() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            request_timeout: Duration::from_secs(1),
        };
        assert_eq!(p.backoff(2), Duration::from_millis(100));
        assert_eq!(p.backoff(3), Duration::from_millis(200));
        assert_eq!(p.backoff(4), Duration::from_millis(350));
        assert_eq!(p.backoff(60), Duration::from_millis(350));
        let t = Timing {
            time_scale: 0.01,
            ..Timing::default()
        };
        assert_eq!(
            t.scaled(Duration::from_secs(30)),
            Duration::from_millis(300)
        );
        let bad = Timing {
            time_scale: f64::NAN,
            ..Timing::default()
        };
        assert_eq!(bad.scaled(Duration::from_secs(1)), Duration::from_secs(1));
        let huge = Timing {
            time_scale: 1e300,
            ..Timing::default()
        };
        assert_eq!(
            huge.scaled(Duration::from_secs(1)),
            Duration::from_secs(365 * 24 * 3600)
        );
        assert_eq!(
            Timing::default().scaled(Duration::MAX),
            Duration::from_secs(365 * 24 * 3600)
        );
    }
}
