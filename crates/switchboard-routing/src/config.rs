//! Routing configuration: roster, queues, classification rules and the presence policy,
//! loaded from TOML (preferred) or JSON and validated before anything else runs.
//!
//! Parsing happens in two steps. Serde reads the document into `Raw*` structs (unknown keys
//! are errors, so a typo never silently falls back to a default); then validation checks
//! what serde cannot (exactly one agent identity, E.164 numbers, references to queues that
//! exist, no overflow loops, ACS limits) and builds the typed [`RoutingConfig`]. Every error
//! is a [`ConfigError`] naming the offending key, e.g. `queues.sales.overflow.phone`.
//!
//! The document is either a routing file (keys at the top level, as in
//! `examples/routing.toml`) or a whole Switchboard configuration file whose `[routing]`
//! table holds the same keys ([`RoutingConfig::from_path`] accepts both); the worker hands
//! its `[routing]` table to [`RoutingConfig::from_toml_table`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use switchboard_events::{normalize_e164, TeamsUserId};

use crate::model::{QueueName, SkillRequirement, Skills};
use crate::play_config::{media, non_empty, play_source, RawPlay};
use crate::presence::{Availability, PresenceFallback, PresencePolicy};
use crate::queue::{
    CallQueueConfig, IvrMenu, NoticeFallback, OverflowTarget, RecordingNotice, Strategy,
    TransferTarget,
};
use crate::rule::{ClassificationRule, HeaderMatch, NumberPattern, ValuePattern};
use crate::wait_config::{announcements, callback, RawAnnouncements, RawCallback};

/// Name of the queue created when the configuration defines none.
pub const IMPLICIT_QUEUE: &str = "default";

/// ACS rings an invited participant for at most 180 s (`invitationTimeoutInSeconds`).
pub const MAX_RING_TIMEOUT_SECS: u64 = 180;

pub use crate::play_config::MAX_IVR_TIMEOUT_SECS;

/// A configuration error naming the offending key (dotted path such as `agents[2].oid`, or
/// `<file>` for the document); the workspace-wide type, so the worker passes it on as is.
pub use switchboard_core::ConfigError;

/// How the configuration names an agent. Only an OID is usable for routing; the others are
/// resolved to one through Microsoft Graph (see [`crate::roster`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(tag = "by", content = "value", rename_all = "kebab-case")]
pub enum AgentRef {
    /// Entra object id.
    Oid(TeamsUserId),
    /// User principal name (`alice@contoso.com`).
    Upn(String),
    /// Display name (`Alice Smith`), resolved with Graph `$search`.
    DisplayName(String),
}

impl AgentRef {
    /// Reads a free-form reference: a GUID is an OID, something with `@` a UPN, anything
    /// else a display name. Used by the CLI (`--agent`, `agents resolve NAME`).
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        if is_guid(s) {
            Self::Oid(TeamsUserId::from(s.to_ascii_lowercase()))
        } else if s.contains('@') {
            Self::Upn(s.to_owned())
        } else {
            Self::DisplayName(s.to_owned())
        }
    }
}

impl fmt::Display for AgentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Oid(o) => write!(f, "oid {o}"),
            Self::Upn(u) => write!(f, "upn {u}"),
            Self::DisplayName(n) => write!(f, "name {n:?}"),
        }
    }
}

/// True for a GUID in its 8-4-4-4-12 hex form (how Entra prints object ids).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One roster entry, validated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RosterEntry {
    /// How the entry names the agent.
    pub agent: AgentRef,
    /// Display name from the configuration (`name`), if given.
    pub display_name: Option<String>,
    /// UPN from the configuration (`upn`), if given.
    pub upn: Option<String>,
    /// Skills with levels (names lower case).
    pub skills: Skills,
    /// Concurrent calls (at least 1).
    pub capacity: u32,
    /// Pause after each call.
    #[serde(with = "crate::model::duration_secs")]
    pub wrap_up: Duration,
    /// False keeps the agent out of routing.
    pub enabled: bool,
}

impl RosterEntry {
    /// The OID if the configuration gives it.
    pub fn oid(&self) -> Option<&TeamsUserId> {
        match &self.agent {
            AgentRef::Oid(o) => Some(o),
            _ => None,
        }
    }
}

/// The whole routing configuration, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Where calls go when no rule matches.
    pub default_queue: QueueName,
    /// The global presence policy (queues may override parts of it; the merged result is in
    /// each [`CallQueueConfig::presence`]).
    pub presence: PresencePolicy,
    /// The roster, in configuration order.
    pub agents: Vec<RosterEntry>,
    /// Queues by name.
    pub queues: BTreeMap<QueueName, CallQueueConfig>,
    /// Classification rules, in order.
    pub rules: Vec<ClassificationRule>,
}

impl RoutingConfig {
    /// Parses a TOML routing document (keys at the top level).
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, ".", &e))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            toml_error(text, &path, e.inner())
        })?;
        validate(raw)
    }

    /// Parses the `[routing]` table of a larger configuration (what the worker holds).
    /// Keys in errors are relative to the table; use [`ConfigError::prefixed`] to qualify.
    pub fn from_toml_table(table: toml::Table) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_path_to_error::deserialize(table).map_err(|e| {
            let path = e.path().to_string();
            path_error(&path, e.inner().message())
        })?;
        validate(raw)
    }

    /// Parses a JSON routing document.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = format!("{inner}");
            path_error(&path, &msg)
        })?;
        validate(raw)
    }

    /// Loads a file: JSON if the name ends in `.json`, TOML otherwise. A TOML file whose
    /// only routing content is a `[routing]` table (a whole Switchboard configuration) is
    /// read from that table, and its error keys start with `routing.`.
    pub fn from_path(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("<file>", format!("{}: {e}", path.display())))?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            return Self::from_json_str(&text);
        }
        let table: toml::Table = toml::from_str(&text).map_err(|e| toml_error(&text, ".", &e))?;
        let routing_keys = ["default_queue", "presence", "agents", "queues", "rules"];
        let has_own_keys = routing_keys.iter().any(|k| table.contains_key(*k));
        match table.get("routing") {
            Some(toml::Value::Table(routing)) if !has_own_keys => {
                Self::from_toml_table(routing.clone()).map_err(|e| e.prefixed("routing"))
            }
            _ => Self::from_toml_str(&text),
        }
    }

    /// A queue by name.
    pub fn queue(&self, name: &str) -> Option<&CallQueueConfig> {
        self.queues.get(name)
    }
}

fn toml_error(text: &str, path: &str, e: &toml::de::Error) -> ConfigError {
    let mut err = path_error(path, e.message());
    if let Some(span) = e.span() {
        let line = text
            .get(..span.start)
            .map_or(0, |head| head.matches('\n').count())
            + 1;
        err.message = format!("{} (line {line})", err.message);
    }
    err
}

/// Builds an error from a serde path and message. For an unknown field, serde reports the
/// path of the containing table; the key named in the message is appended so the error
/// points at the typo itself.
fn path_error(path: &str, message: &str) -> ConfigError {
    let mut key = if path.is_empty() || path == "." {
        String::new()
    } else {
        path.to_owned()
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // Some deserializers (toml) already include the unknown key in the path.
        if let Some(field) = rest.split('`').next() {
            if key.rsplit('.').next() != Some(field) {
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(field);
            }
        }
    }
    if key.is_empty() {
        key = "<file>".to_owned();
    }
    ConfigError::new(key, message.trim())
}

// ---------------------------------------------------------------------------------------
// Raw (serde) forms. Field names are the configuration keys.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    default_queue: Option<String>,
    #[serde(default)]
    presence: RawPresence,
    #[serde(default)]
    agent_defaults: RawAgentDefaults,
    #[serde(default)]
    agents: Vec<RawAgent>,
    #[serde(default)]
    queues: BTreeMap<String, RawQueue>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPresence {
    routable: Option<Vec<String>>,
    fallback: Option<PresenceFallback>,
    max_age_secs: Option<u64>,
    ignore_while_on_our_call: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgentDefaults {
    capacity: Option<u32>,
    wrap_up_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    oid: Option<String>,
    upn: Option<String>,
    name: Option<String>,
    #[serde(default)]
    skills: BTreeMap<String, u8>,
    capacity: Option<u32>,
    wrap_up_secs: Option<u64>,
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    priority: Option<i32>,
    strategy: Option<Strategy>,
    #[serde(default)]
    required_skills: BTreeMap<String, u8>,
    #[serde(default)]
    preferred_skills: BTreeMap<String, u8>,
    max_wait_secs: Option<u64>,
    max_attempts: Option<u32>,
    ring_timeout_secs: Option<u64>,
    wait_retry_secs: Option<u64>,
    overflow: Option<RawOverflow>,
    transfer_to: Option<RawTransfer>,
    hold_music: Option<RawPlay>,
    announcement: Option<RawPlay>,
    ivr: Option<RawIvr>,
    #[serde(default)]
    recording: bool,
    recording_notice: Option<RawNotice>,
    #[serde(default)]
    direct: bool,
    presence: Option<RawPresence>,
    announcements: Option<RawAnnouncements>,
    callback: Option<RawCallback>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawOverflow {
    Phone(String),
    TeamsUser(String),
    TeamsApp(String),
    Queue(String),
    Voicemail(RawVoicemail),
    Announcement(RawPlay),
    Hangup,
}

/// `transfer_to`: where a queue blind-transfers its calls.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum RawTransfer {
    Phone(String),
    TeamsUser(String),
    TeamsApp(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVoicemail {
    greeting: RawPlay,
    max_duration_secs: Option<u64>,
}

/// `recording_notice`: a play source plus what to do when it cannot be played.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotice {
    text: Option<String>,
    voice: Option<String>,
    locale: Option<String>,
    url: Option<String>,
    ssml: Option<String>,
    fallback: Option<NoticeFallback>,
    max_tries: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIvr {
    prompt: RawPlay,
    #[serde(default)]
    options: BTreeMap<String, String>,
    fallback: Option<String>,
    timeout_secs: Option<u64>,
    max_tries: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    queue: String,
    #[serde(default)]
    dialed: Vec<String>,
    #[serde(default)]
    caller: Vec<String>,
    header: Option<RawHeader>,
    #[serde(default)]
    ivr: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    value: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Validation.

type Result<T, E = ConfigError> = std::result::Result<T, E>;

fn validate(raw: RawConfig) -> Result<RoutingConfig> {
    let presence = presence_policy("presence", &raw.presence, &PresencePolicy::default())?;
    let agents = validate_agents(&raw.agents, &raw.agent_defaults)?;

    let mut raw_queues = raw.queues;
    if raw_queues.is_empty() {
        raw_queues.insert(IMPLICIT_QUEUE.to_owned(), RawQueue::default());
    }
    let names: BTreeSet<&str> = raw_queues.keys().map(String::as_str).collect();
    for name in &names {
        if !is_queue_name(name) {
            return Err(ConfigError::new(
                format!("queues.{name}"),
                "queue names are 1–64 characters: letters, digits, `-`, `_`, `.`, starting with a letter or digit",
            ));
        }
    }
    let queue_ref = |key: &str, name: &str| -> Result<QueueName> {
        if names.contains(name) {
            Ok(QueueName::from(name))
        } else {
            Err(ConfigError::new(
                key,
                format!(
                    "no queue named {name:?}; configured queues: {}",
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ))
        }
    };

    let mut queues = BTreeMap::new();
    for (name, q) in &raw_queues {
        let queue = validate_queue(name, q, &presence, &queue_ref)?;
        queues.insert(queue.name.clone(), queue);
    }
    check_overflow_loops(&queues)?;

    let default_queue = match raw.default_queue.as_deref() {
        Some(name) => queue_ref("default_queue", name)?,
        None if queues.len() == 1 => queues
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| IMPLICIT_QUEUE.into()),
        None => {
            return Err(ConfigError::new(
                "default_queue",
                "required when more than one queue is configured",
            ))
        }
    };

    let rules = raw
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| validate_rule(&format!("rules[{i}]"), r, &queue_ref))
        .collect::<Result<Vec<_>>>()?;

    Ok(RoutingConfig {
        default_queue,
        presence,
        agents,
        queues,
        rules,
    })
}

fn is_queue_name(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn presence_policy(key: &str, raw: &RawPresence, base: &PresencePolicy) -> Result<PresencePolicy> {
    let mut p = base.clone();
    if let Some(list) = &raw.routable {
        let mut set = BTreeSet::new();
        for (i, s) in list.iter().enumerate() {
            match Availability::parse(s) {
                Availability::Other(_) => {
                    return Err(ConfigError::new(
                        format!("{key}.routable[{i}]"),
                        format!(
                            "unknown availability {s:?}; expected one of {}",
                            Availability::KNOWN.join(", ")
                        ),
                    ))
                }
                a => {
                    set.insert(a);
                }
            }
        }
        p.routable = set;
    }
    if let Some(f) = raw.fallback {
        p.fallback = f;
    }
    if let Some(secs) = raw.max_age_secs {
        if secs == 0 {
            return Err(ConfigError::new(
                format!("{key}.max_age_secs"),
                "must be at least 1",
            ));
        }
        p.max_age = Duration::from_secs(secs);
    }
    if let Some(b) = raw.ignore_while_on_our_call {
        p.ignore_while_on_our_call = b;
    }
    Ok(p)
}

fn validate_skills(key: &str, raw: &BTreeMap<String, u8>) -> Result<Skills> {
    let mut skills = Skills::new();
    for (name, level) in raw {
        let lower = name.trim().to_lowercase();
        if lower.is_empty() || lower.chars().any(char::is_whitespace) {
            return Err(ConfigError::new(
                format!("{key}.{name}"),
                "skill names are single words (no spaces)",
            ));
        }
        if skills.insert(lower, *level).is_some() {
            return Err(ConfigError::new(
                format!("{key}.{name}"),
                "skill given twice (names are case-insensitive)",
            ));
        }
    }
    Ok(skills)
}

fn requirements(key: &str, raw: &BTreeMap<String, u8>) -> Result<Vec<SkillRequirement>> {
    Ok(validate_skills(key, raw)?
        .into_iter()
        .map(|(skill, min_level)| SkillRequirement { skill, min_level })
        .collect())
}

fn validate_agents(raw: &[RawAgent], defaults: &RawAgentDefaults) -> Result<Vec<RosterEntry>> {
    let default_capacity = defaults.capacity.unwrap_or(1);
    if default_capacity == 0 {
        return Err(ConfigError::new(
            "agent_defaults.capacity",
            "must be at least 1",
        ));
    }
    let default_wrap_up = defaults.wrap_up_secs.unwrap_or(0);
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, a) in raw.iter().enumerate() {
        let key = format!("agents[{i}]");
        let name = non_empty(&format!("{key}.name"), &a.name)?;
        let upn = non_empty(&format!("{key}.upn"), &a.upn)?;
        let oid = non_empty(&format!("{key}.oid"), &a.oid)?;
        if let Some(u) = &upn {
            if !u.contains('@') || u.chars().any(char::is_whitespace) {
                return Err(ConfigError::new(
                    format!("{key}.upn"),
                    format!("{u:?} is not a user principal name (user@domain)"),
                ));
            }
        }
        let agent = match (&oid, &upn, &name) {
            (Some(o), _, _) => {
                if !is_guid(o) {
                    return Err(ConfigError::new(
                        format!("{key}.oid"),
                        format!("{o:?} is not an Entra object id (a GUID like 00000000-0000-0000-0000-000000000000)"),
                    ));
                }
                AgentRef::Oid(TeamsUserId::from(o.to_ascii_lowercase()))
            }
            (None, Some(u), _) => AgentRef::Upn(u.clone()),
            (None, None, Some(n)) => AgentRef::DisplayName(n.clone()),
            (None, None, None) => {
                return Err(ConfigError::new(
                    key,
                    "an agent needs `oid`, `upn` or `name` (resolved through Microsoft Graph)",
                ))
            }
        };
        // The identity must be unique, or one person would get two offers for one call.
        let identity = match &agent {
            AgentRef::Oid(o) => format!("oid:{o}"),
            AgentRef::Upn(u) => format!("upn:{}", u.to_lowercase()),
            AgentRef::DisplayName(n) => format!("name:{}", n.to_lowercase()),
        };
        if !seen.insert(identity) {
            return Err(ConfigError::new(
                key,
                format!("{agent} is listed more than once"),
            ));
        }
        let capacity = a.capacity.unwrap_or(default_capacity);
        if capacity == 0 {
            return Err(ConfigError::new(
                format!("{key}.capacity"),
                "must be at least 1 (use `enabled = false` to take an agent out of routing)",
            ));
        }
        out.push(RosterEntry {
            agent,
            display_name: name,
            upn,
            skills: validate_skills(&format!("{key}.skills"), &a.skills)?,
            capacity,
            wrap_up: Duration::from_secs(a.wrap_up_secs.unwrap_or(default_wrap_up)),
            enabled: a.enabled.unwrap_or(true),
        });
    }
    Ok(out)
}

fn e164(key: &str, s: &str) -> Result<String> {
    normalize_e164(s).ok_or_else(|| {
        ConfigError::new(
            key,
            format!("{s:?} is not an E.164 phone number (+ and up to 15 digits)"),
        )
    })
}

fn number_pattern(key: &str, s: &str) -> Result<NumberPattern> {
    let s = s.trim();
    if s == "*" {
        return Ok(NumberPattern::Any);
    }
    let (head, prefix) = match s.strip_suffix('*') {
        Some(h) => (h, true),
        None => (s, false),
    };
    if head.is_empty() {
        return Err(ConfigError::new(key, "empty pattern"));
    }
    // Phone numbers are compared in E.164; anything else (`8:acs:...`) by raw id.
    let looks_like_phone = !head.contains(':')
        && (head.starts_with('+') || head.starts_with(|c: char| c.is_ascii_digit()));
    let value = if looks_like_phone {
        e164(key, head)?
    } else {
        head.to_owned()
    };
    Ok(if prefix {
        NumberPattern::Prefix(value)
    } else {
        NumberPattern::Exact(value)
    })
}

fn validate_queue(
    name: &str,
    q: &RawQueue,
    global_presence: &PresencePolicy,
    queue_ref: &dyn Fn(&str, &str) -> Result<QueueName>,
) -> Result<CallQueueConfig> {
    let key = format!("queues.{name}");
    let mut out = CallQueueConfig::new(name);
    out.required_skills = requirements(&format!("{key}.required_skills"), &q.required_skills)?;
    out.preferred_skills = requirements(&format!("{key}.preferred_skills"), &q.preferred_skills)?;
    out.priority = q.priority.unwrap_or(0);
    out.strategy = q.strategy.unwrap_or_default();
    if let Some(s) = q.max_wait_secs {
        if s == 0 {
            return Err(ConfigError::new(
                format!("{key}.max_wait_secs"),
                "must be at least 1",
            ));
        }
        out.max_wait = Duration::from_secs(s);
    }
    if let Some(n) = q.max_attempts {
        if n == 0 {
            return Err(ConfigError::new(
                format!("{key}.max_attempts"),
                "must be at least 1",
            ));
        }
        out.max_attempts = n;
    }
    if let Some(s) = q.ring_timeout_secs {
        if !(1..=MAX_RING_TIMEOUT_SECS).contains(&s) {
            return Err(ConfigError::new(
                format!("{key}.ring_timeout_secs"),
                format!("must be 1–{MAX_RING_TIMEOUT_SECS} (ACS rings an invitee for at most {MAX_RING_TIMEOUT_SECS} s)"),
            ));
        }
        out.ring_timeout = Duration::from_secs(s);
    }
    if let Some(s) = q.wait_retry_secs {
        if s == 0 {
            return Err(ConfigError::new(
                format!("{key}.wait_retry_secs"),
                "must be at least 1",
            ));
        }
        out.wait_retry = Duration::from_secs(s);
    }
    if let Some(o) = &q.overflow {
        let k = format!("{key}.overflow");
        out.overflow = match o {
            RawOverflow::Phone(n) => transfer_target(&k, &RawTransfer::Phone(n.clone()))?.into(),
            RawOverflow::TeamsUser(o) => {
                transfer_target(&k, &RawTransfer::TeamsUser(o.clone()))?.into()
            }
            RawOverflow::TeamsApp(a) => {
                transfer_target(&k, &RawTransfer::TeamsApp(a.clone()))?.into()
            }
            RawOverflow::Queue(target) => {
                let target = queue_ref(&format!("{k}.queue"), target)?;
                if target.as_str() == name {
                    return Err(ConfigError::new(
                        format!("{k}.queue"),
                        "a queue cannot overflow into itself",
                    ));
                }
                OverflowTarget::Queue { queue: target }
            }
            RawOverflow::Voicemail(v) => OverflowTarget::Voicemail {
                greeting: play_source(&format!("{k}.voicemail.greeting"), &v.greeting)?,
                max_duration: Duration::from_secs(match v.max_duration_secs {
                    Some(0) => {
                        return Err(ConfigError::new(
                            format!("{k}.voicemail.max_duration_secs"),
                            "must be at least 1",
                        ))
                    }
                    Some(s) => s,
                    None => 120,
                }),
            },
            RawOverflow::Announcement(p) => OverflowTarget::Announcement {
                source: play_source(&format!("{k}.announcement"), p)?,
            },
            RawOverflow::Hangup => OverflowTarget::Hangup,
        };
    }
    out.transfer_to = q
        .transfer_to
        .as_ref()
        .map(|t| transfer_target(&format!("{key}.transfer_to"), t))
        .transpose()?;
    out.hold_music = q
        .hold_music
        .as_ref()
        .map(|p| media(&format!("{key}.hold_music"), p, true))
        .transpose()?;
    out.announcement = q
        .announcement
        .as_ref()
        .map(|p| media(&format!("{key}.announcement"), p, false))
        .transpose()?;
    if let Some(ivr) = &q.ivr {
        let k = format!("{key}.ivr");
        let mut options = BTreeMap::new();
        for (choice, target) in &ivr.options {
            let valid = !choice.is_empty()
                && choice.len() <= 8
                && choice
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'));
            if !valid {
                return Err(ConfigError::new(
                    format!("{k}.options.{choice}"),
                    "choices are 1–8 DTMF tones (0-9, *, #, A-D)",
                ));
            }
            options.insert(
                choice.clone(),
                queue_ref(&format!("{k}.options.{choice}"), target)?,
            );
        }
        if options.is_empty() {
            return Err(ConfigError::new(
                format!("{k}.options"),
                "an IVR menu needs at least one option",
            ));
        }
        let timeout = ivr.timeout_secs.unwrap_or(10);
        if !(1..=MAX_IVR_TIMEOUT_SECS).contains(&timeout) {
            return Err(ConfigError::new(
                format!("{k}.timeout_secs"),
                format!("must be 1–{MAX_IVR_TIMEOUT_SECS} (ACS's limit for the first tone)"),
            ));
        }
        let max_tries = ivr.max_tries.unwrap_or(2);
        if max_tries == 0 {
            return Err(ConfigError::new(
                format!("{k}.max_tries"),
                "must be at least 1",
            ));
        }
        out.ivr = Some(IvrMenu {
            prompt: play_source(&format!("{k}.prompt"), &ivr.prompt)?,
            options,
            fallback: ivr
                .fallback
                .as_deref()
                .map(|f| queue_ref(&format!("{k}.fallback"), f))
                .transpose()?,
            timeout: Duration::from_secs(timeout),
            max_tries,
        });
    }
    out.recording = q.recording;
    if let Some(n) = &q.recording_notice {
        let k = format!("{key}.recording_notice");
        let play = RawPlay {
            text: n.text.clone(),
            voice: n.voice.clone(),
            locale: n.locale.clone(),
            url: n.url.clone(),
            ssml: n.ssml.clone(),
            loop_playback: None,
        };
        let max_tries = n.max_tries.unwrap_or(3);
        if max_tries == 0 {
            return Err(ConfigError::new(
                format!("{k}.max_tries"),
                "must be at least 1",
            ));
        }
        out.recording_notice = RecordingNotice {
            source: play_source(&k, &play)?,
            fallback: n.fallback.unwrap_or_default(),
            max_tries,
        };
        out.recording_notice_configured = true;
    }
    out.announcements = q
        .announcements
        .as_ref()
        .map(|a| announcements(&format!("{key}.announcements"), a))
        .transpose()?;
    out.callback = q
        .callback
        .as_ref()
        .map(|c| callback(&format!("{key}.callback"), c))
        .transpose()?;
    out.direct = q.direct;
    if out.direct {
        // A redirected call is never answered by us, so nothing can be played or recorded.
        let conflicts = [
            ("ivr", out.ivr.is_some()),
            ("hold_music", out.hold_music.is_some()),
            ("announcement", out.announcement.is_some()),
            ("recording", out.recording),
            ("transfer_to", out.transfer_to.is_some()),
            ("announcements", out.announcements.is_some()),
            ("callback", out.callback.is_some()),
        ];
        if let Some((what, _)) = conflicts.iter().find(|(_, set)| *set) {
            return Err(ConfigError::new(
                format!("{key}.{what}"),
                "not possible with `direct = true`: a redirected call is never answered, so nothing can be played or recorded",
            ));
        }
    }
    out.presence = match &q.presence {
        Some(p) => presence_policy(&format!("{key}.presence"), p, global_presence)?,
        None => global_presence.clone(),
    };
    Ok(out)
}

/// A blind-transfer target under `key` (`….overflow`, `….transfer_to`).
fn transfer_target(key: &str, raw: &RawTransfer) -> Result<TransferTarget> {
    let object_id = |field: &str, id: &str, what: &str| -> Result<String> {
        let id = id.trim();
        if is_guid(id) {
            Ok(id.to_ascii_lowercase())
        } else {
            Err(ConfigError::new(
                format!("{key}.{field}"),
                format!("{id:?} is not an Entra object id; {what}"),
            ))
        }
    };
    Ok(match raw {
        RawTransfer::Phone(n) => TransferTarget::Phone {
            number: e164(&format!("{key}.phone"), n)?,
        },
        RawTransfer::TeamsUser(oid) => TransferTarget::TeamsUser {
            oid: TeamsUserId::from(object_id(
                "teams_user",
                oid,
                "find it with `switchboard agents resolve NAME`",
            )?),
        },
        RawTransfer::TeamsApp(app) => TransferTarget::TeamsApp {
            app_id: object_id(
                "teams_app",
                app,
                "use the object id of the call queue's or auto attendant's resource account (Get-CsOnlineApplicationInstance)",
            )?,
        },
    })
}

/// Overflow into another queue must end somewhere: `a → b → a` would bounce a caller
/// forever.
fn check_overflow_loops(queues: &BTreeMap<QueueName, CallQueueConfig>) -> Result<()> {
    for start in queues.keys() {
        let mut path = vec![start.clone()];
        let mut current = start;
        while let Some(OverflowTarget::Queue { queue: next }) =
            queues.get(current).map(|q| &q.overflow)
        {
            if path.contains(next) {
                path.push(next.clone());
                let chain: Vec<&str> = path.iter().map(QueueName::as_str).collect();
                return Err(ConfigError::new(
                    format!("queues.{start}.overflow.queue"),
                    format!("overflow loop: {}", chain.join(" → ")),
                ));
            }
            path.push(next.clone());
            current = next;
        }
    }
    Ok(())
}

fn validate_rule(
    key: &str,
    r: &RawRule,
    queue_ref: &dyn Fn(&str, &str) -> Result<QueueName>,
) -> Result<ClassificationRule> {
    let patterns = |field: &str, list: &[String]| -> Result<Vec<NumberPattern>> {
        list.iter()
            .enumerate()
            .map(|(i, s)| number_pattern(&format!("{key}.{field}[{i}]"), s))
            .collect()
    };
    let header = match &r.header {
        None => None,
        Some(h) => {
            let name = h.name.trim();
            let token = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !token {
                return Err(ConfigError::new(
                    format!("{key}.header.name"),
                    format!("{name:?} is not a header name"),
                ));
            }
            Some(HeaderMatch {
                name: name.to_owned(),
                value: ValuePattern::parse(h.value.as_deref().unwrap_or("*")),
            })
        }
    };
    for (i, choice) in r.ivr.iter().enumerate() {
        if choice.trim().is_empty() {
            return Err(ConfigError::new(
                format!("{key}.ivr[{i}]"),
                "must not be empty",
            ));
        }
    }
    Ok(ClassificationRule {
        name: r.name.clone(),
        queue: queue_ref(&format!("{key}.queue"), &r.queue)?,
        dialed: patterns("dialed", &r.dialed)?,
        caller: patterns("caller", &r.caller)?,
        header,
        ivr: r.ivr.iter().map(|c| c.trim().to_owned()).collect(),
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
