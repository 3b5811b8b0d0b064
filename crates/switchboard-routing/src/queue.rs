//! Queue configuration: who may take the queue's calls, how they are picked, how long a
//! caller waits and where the call goes when nobody takes it.
//!
//! These are the validated forms; [`crate::config`] builds them from TOML/JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_events::TeamsUserId;

use crate::model::{QueueName, SkillRequirement};
use crate::presence::PresencePolicy;
pub use crate::strategy::Strategy;

/// Something to play to the caller: the three Call Automation play sources.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PlaySource {
    /// Text-to-speech.
    Text {
        /// Plain text to speak; never empty when it comes from the configuration.
        text: String,
        /// Neural voice name, e.g. `en-US-JennyNeural`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
        /// BCP-47 locale, e.g. `en-US`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locale: Option<String>,
    },
    /// An audio file (WAV, 16 kHz mono) reachable by ACS.
    File {
        /// An http(s) URL the ACS service itself fetches (not the worker), so it must be
        /// reachable from Azure.
        url: String,
    },
    /// SSML for text-to-speech.
    Ssml {
        /// A whole `<speak>` document; ACS validates it, the configuration only checks that
        /// it is not empty.
        ssml: String,
    },
}

impl PlaySource {
    /// Text and SSML are spoken by Azure AI Speech, so they only play on a call answered (or
    /// created) with `callIntelligenceOptions.cognitiveServicesEndpoint`; audio files need
    /// nothing.
    pub fn needs_ai(&self) -> bool {
        matches!(self, Self::Text { .. } | Self::Ssml { .. })
    }
}

/// The notice played when recording or transcription starts, if no queue configures one.
pub const DEFAULT_RECORDING_NOTICE: &str =
    "This call is being recorded for quality and training purposes.";

/// What happens when the recording notice cannot be played (the play fails or is cancelled
/// `max_tries` times in a row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeFallback {
    /// Recording stays paused until the notice has played (it is never resumed without
    /// it); transcription, which cannot be paused, is stopped.
    #[default]
    Pause,
    /// Recording and transcription are stopped for the rest of the call.
    Stop,
    /// The call is ended.
    HangUp,
}

impl NoticeFallback {
    /// The configuration spelling (`pause`, `stop`, `hang_up`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Stop => "stop",
            Self::HangUp => "hang_up",
        }
    }
}

/// Telling participants that the call is recorded or transcribed (the application's duty):
/// played when recording starts and when transcription starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingNotice {
    /// Text (with locale and voice), SSML, or an audio file (which needs no AI services).
    pub source: PlaySource,
    /// When it cannot be played.
    pub fallback: NoticeFallback,
    /// Plays attempted (the first included) before the fallback applies.
    pub max_tries: u32,
}

impl Default for RecordingNotice {
    fn default() -> Self {
        Self {
            source: PlaySource::Text {
                text: DEFAULT_RECORDING_NOTICE.into(),
                voice: None,
                locale: None,
            },
            fallback: NoticeFallback::Pause,
            max_tries: 3,
        }
    }
}

/// Audio with an optional loop flag (hold music loops; announcements usually do not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// What to play.
    pub source: PlaySource,
    /// Repeat until the worker stops the media (hold music), instead of playing once.
    pub loop_playback: bool,
}

/// Where a call goes when its queue cannot serve it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum OverflowTarget {
    /// Transfer to a phone number (E.164).
    Phone {
        /// E.164 (`+14255550123`), normalised when the configuration loads.
        number: String,
    },
    /// Transfer to a Teams user.
    TeamsUser {
        /// The user's Entra object id.
        oid: TeamsUserId,
    },
    /// Transfer to a Teams voice application (call queue / auto attendant) through its
    /// resource account.
    TeamsApp {
        /// The resource account's object id (`28:orgid:<appId>` as a raw id).
        app_id: String,
    },
    /// Move the call into another queue (its own max wait and overflow then apply).
    Queue {
        /// Another configured queue; never the overflowing queue itself (the configuration
        /// rejects that).
        queue: QueueName,
    },
    /// Play a greeting and record a message, then hang up.
    Voicemail {
        /// Played before recording starts.
        greeting: PlaySource,
        /// Longest recording; the call is hung up when it is reached (default 120 s, at
        /// least 1 s).
        #[serde(with = "crate::model::duration_secs")]
        max_duration: Duration,
    },
    /// Play an announcement, then hang up.
    Announcement {
        /// Played once, then the call ends.
        source: PlaySource,
    },
    /// Hang up.
    Hangup,
}

impl OverflowTarget {
    /// Short description for logs: `phone +1425...`, `queue general`, `hangup`.
    pub fn describe(&self) -> String {
        match self {
            Self::Phone { number } => format!("phone {number}"),
            Self::TeamsUser { oid } => format!("teams user {oid}"),
            Self::TeamsApp { app_id } => format!("teams voice app {app_id}"),
            Self::Queue { queue } => format!("queue {queue}"),
            Self::Voicemail { .. } => "voicemail".into(),
            Self::Announcement { .. } => "announcement then hangup".into(),
            Self::Hangup => "hangup".into(),
        }
    }
}

/// Where a queue blind-transfers all its calls (a routing target that is not a roster
/// agent): a phone number, a Teams user or a Teams voice application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TransferTarget {
    /// A phone number (E.164).
    Phone {
        /// E.164.
        number: String,
    },
    /// A Teams user, 1:1.
    TeamsUser {
        /// The user's Entra object id.
        oid: TeamsUserId,
    },
    /// A Teams call queue or auto attendant (its resource account).
    TeamsApp {
        /// The resource account's object id.
        app_id: String,
    },
}

impl From<TransferTarget> for OverflowTarget {
    fn from(t: TransferTarget) -> Self {
        match t {
            TransferTarget::Phone { number } => Self::Phone { number },
            TransferTarget::TeamsUser { oid } => Self::TeamsUser { oid },
            TransferTarget::TeamsApp { app_id } => Self::TeamsApp { app_id },
        }
    }
}

/// A DTMF menu played when a call lands in the queue; the caller's choice reclassifies it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IvrMenu {
    /// The prompt ("Press 1 for sales, 2 for support").
    pub prompt: PlaySource,
    /// Choice (a digit or a short digit string) → queue.
    pub options: BTreeMap<String, QueueName>,
    /// Queue for no input / an unknown choice after `max_tries`. `None`: stay in this queue.
    pub fallback: Option<QueueName>,
    /// How long to wait for the caller's input.
    #[serde(with = "crate::model::duration_secs")]
    pub timeout: Duration,
    /// How many times the prompt is played before `fallback` applies.
    pub max_tries: u32,
}

/// One routing queue, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallQueueConfig {
    /// The queue's name.
    pub name: QueueName,
    /// Skills an agent must have (at the minimum level) to take this queue's calls.
    pub required_skills: Vec<SkillRequirement>,
    /// Skills that raise an agent's score under skills-best-match (not required).
    pub preferred_skills: Vec<SkillRequirement>,
    /// Higher is served first when one freed agent could take calls from several queues.
    pub priority: i32,
    /// Agent ordering.
    pub strategy: Strategy,
    /// Longest a caller waits before overflow.
    #[serde(with = "crate::model::duration_secs")]
    pub max_wait: Duration,
    /// Most offers (agents rung) before overflow.
    pub max_attempts: u32,
    /// How long an offer rings before it counts as ring-no-answer.
    #[serde(with = "crate::model::duration_secs")]
    pub ring_timeout: Duration,
    /// How soon to re-evaluate a waiting call when nothing else says when.
    #[serde(with = "crate::model::duration_secs")]
    pub wait_retry: Duration,
    /// Where calls go on max wait, max attempts, no eligible agent or everyone tried.
    pub overflow: OverflowTarget,
    /// Blind-transfer every call in this queue here instead of offering it to agents.
    pub transfer_to: Option<TransferTarget>,
    /// Played (looped) while the caller waits.
    pub hold_music: Option<Media>,
    /// Played once when the call enters the queue.
    pub announcement: Option<Media>,
    /// DTMF menu that reclassifies the call.
    pub ivr: Option<IvrMenu>,
    /// Record calls in this queue.
    pub recording: bool,
    /// Played when recording or transcription starts while the call is in this queue.
    pub recording_notice: RecordingNotice,
    /// True when the configuration sets `recording_notice` (the default one is text, so it
    /// only needs AI services when this queue records).
    pub recording_notice_configured: bool,
    /// Direct mode: redirect the incoming call to the agent instead of answering it. No IVR,
    /// hold music or recording is possible then (the call is never ours).
    pub direct: bool,
    /// Presence gate for this queue.
    pub presence: PresencePolicy,
    /// Position / estimated-wait announcements while the caller waits.
    #[serde(default)]
    pub announcements: Option<WaitAnnouncements>,
    /// Virtual hold: offer a callback when the estimated wait is long.
    #[serde(default)]
    pub callback: Option<CallbackOffer>,
}

impl CallQueueConfig {
    /// Configuration keys (`queues.<name>.ivr.prompt`, …) of this queue's prompts that are
    /// text or SSML, i.e. that need Azure AI services on the call ([`PlaySource::needs_ai`]).
    pub fn ai_prompt_keys(&self) -> Vec<String> {
        let key = format!("queues.{}", self.name);
        let mut sources: Vec<(String, &PlaySource)> = Vec::new();
        if let Some(ivr) = &self.ivr {
            sources.push((format!("{key}.ivr.prompt"), &ivr.prompt));
        }
        if let Some(m) = &self.announcement {
            sources.push((format!("{key}.announcement"), &m.source));
        }
        if let Some(m) = &self.hold_music {
            sources.push((format!("{key}.hold_music"), &m.source));
        }
        if self.recording || self.recording_notice_configured {
            sources.push((
                format!("{key}.recording_notice"),
                &self.recording_notice.source,
            ));
        }
        match &self.overflow {
            OverflowTarget::Voicemail { greeting, .. } => {
                sources.push((format!("{key}.overflow.voicemail.greeting"), greeting));
            }
            OverflowTarget::Announcement { source } => {
                sources.push((format!("{key}.overflow.announcement"), source));
            }
            _ => {}
        }
        if let Some(c) = &self.callback {
            sources.push((format!("{key}.callback.prompt"), &c.prompt));
            sources.push((format!("{key}.callback.confirmation"), &c.confirmation));
        }
        let mut keys: Vec<String> = sources
            .into_iter()
            .filter(|(_, s)| s.needs_ai())
            .map(|(k, _)| k)
            .collect();
        if let Some(a) = &self.announcements {
            if matches!(a.speech, AnnouncementSpeech::Text { .. }) {
                keys.push(format!("{key}.announcements.text"));
            }
        }
        keys
    }

    /// A queue with the defaults the configuration uses: longest-idle, priority 0, 300 s
    /// max wait, 3 attempts, 20 s ring timeout, 5 s wait retry, hang up on overflow.
    pub fn new(name: impl Into<QueueName>) -> Self {
        Self {
            name: name.into(),
            required_skills: Vec::new(),
            preferred_skills: Vec::new(),
            priority: 0,
            strategy: Strategy::LongestIdle,
            max_wait: Duration::from_secs(300),
            max_attempts: 3,
            ring_timeout: Duration::from_secs(20),
            wait_retry: Duration::from_secs(5),
            overflow: OverflowTarget::Hangup,
            transfer_to: None,
            hold_music: None,
            announcement: None,
            ivr: None,
            recording: false,
            recording_notice: RecordingNotice::default(),
            recording_notice_configured: false,
            direct: false,
            presence: PresencePolicy::default(),
            announcements: None,
            callback: None,
        }
    }

    /// Average handle time used for estimated waits (announcements' setting, else 180 s).
    pub fn average_handle(&self) -> Duration {
        self.announcements
            .as_ref()
            .map_or(DEFAULT_AVERAGE_HANDLE, |a| a.average_handle)
    }

    /// How often a waiting call's position and estimated wait are read (announcements'
    /// period, else the callback offer's check period). `None`: neither is configured.
    pub fn wait_status_every(&self) -> Option<Duration> {
        match (&self.announcements, &self.callback) {
            (Some(a), _) => Some(a.every),
            (None, Some(c)) => Some(c.check_every),
            (None, None) => None,
        }
    }
}

/// Average handle time assumed for estimated waits when the queue does not set one.
pub const DEFAULT_AVERAGE_HANDLE: Duration = Duration::from_secs(180);

/// Position and estimated-wait announcements (`queues.<name>.announcements`): every
/// `every`, the waiting caller hears their place in the queue and the estimated wait; hold
/// music resumes after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitAnnouncements {
    /// Time between two announcements.
    #[serde(with = "crate::model::duration_secs")]
    pub every: Duration,
    /// Time from the start of the wait to the first announcement.
    #[serde(with = "crate::model::duration_secs")]
    pub first_after: Duration,
    /// What is played.
    pub speech: AnnouncementSpeech,
    /// Average handle time per call, for the estimate (position ÷ staffed agents × this).
    #[serde(with = "crate::model::duration_secs")]
    pub average_handle: Duration,
}

/// How an announcement is spoken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum AnnouncementSpeech {
    /// Text-to-speech of a template with `{position}` and `{minutes}` (needs AI services).
    Text {
        /// The template.
        template: String,
        /// Neural voice name.
        voice: Option<String>,
        /// BCP-47 locale.
        locale: Option<String>,
    },
    /// Recorded audio: each URL template (`…/position-{position}.wav`) is played in order.
    #[serde(rename_all = "camelCase")]
    Recorded {
        /// URL templates, played in order.
        urls: Vec<String>,
        /// Numbers above this are said as this (there is a recording up to it only).
        max_number: u32,
    },
}

impl WaitAnnouncements {
    /// The prompts for a caller at `position` (1 = next) with `estimated_wait` to go.
    pub fn sources(&self, position: u32, estimated_wait: Duration) -> Vec<PlaySource> {
        let minutes = estimated_wait.as_secs().div_ceil(60).max(1);
        match &self.speech {
            AnnouncementSpeech::Text {
                template,
                voice,
                locale,
            } => vec![PlaySource::Text {
                text: fill(template, u64::from(position), minutes),
                voice: voice.clone(),
                locale: locale.clone(),
            }],
            AnnouncementSpeech::Recorded { urls, max_number } => {
                let cap = u64::from(*max_number);
                urls.iter()
                    .map(|u| PlaySource::File {
                        url: fill(u, u64::from(position).min(cap), minutes.min(cap)),
                    })
                    .collect()
            }
        }
    }
}

/// Estimated wait of the caller at `position` (1 = next) when `staffed` agents take the
/// queue's calls: callers are served `staffed` at a time, each round taking
/// `average_handle`, so `ceil(position / staffed) × average_handle`. Nobody staffed counts
/// as one agent, so the estimate stays finite (an empty queue overflows by `max_wait`).
pub fn estimated_wait(position: u32, staffed: u32, average_handle: Duration) -> Duration {
    let rounds = position.max(1).div_ceil(staffed.max(1));
    average_handle.saturating_mul(rounds)
}

/// Replaces `{position}` and `{minutes}` in a template.
fn fill(template: &str, position: u64, minutes: u64) -> String {
    template
        .replace("{position}", &position.to_string())
        .replace("{minutes}", &minutes.to_string())
}

/// The virtual-hold callback offer (`queues.<name>.callback`): once the estimated wait
/// reaches `offer_after`, a caller on a phone number hears `prompt` and may press `digit`
/// to keep their place and be called back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackOffer {
    /// Estimated wait from which the callback is offered.
    #[serde(with = "crate::model::duration_secs")]
    pub offer_after: Duration,
    /// How often the estimate is checked when the queue has no announcements.
    #[serde(with = "crate::model::duration_secs")]
    pub check_every: Duration,
    /// "Press 1 to be called back" (played with DTMF recognize).
    pub prompt: PlaySource,
    /// Played once the caller accepted, before the call ends.
    pub confirmation: PlaySource,
    /// The DTMF tone that accepts.
    pub digit: String,
    /// How long to wait for the tone.
    #[serde(with = "crate::model::duration_secs")]
    pub timeout: Duration,
    /// How long a callback request is kept before it is dropped as expired.
    #[serde(with = "crate::model::duration_secs")]
    pub expire_after: Duration,
    /// Calls to the customer (each after an agent answered) before the callback is
    /// reported failed; an agent who does not answer is replaced by the next one instead.
    pub attempts: u32,
    /// Pause between two calls to the customer.
    #[serde(with = "crate::model::duration_secs")]
    pub retry_after: Duration,
    /// How long the agent's leg rings before the next agent is tried.
    #[serde(with = "crate::model::duration_secs")]
    pub agent_ring_timeout: Duration,
    /// How long the customer's phone rings before the attempt counts as unanswered.
    #[serde(with = "crate::model::duration_secs")]
    pub customer_ring_timeout: Duration,
}
