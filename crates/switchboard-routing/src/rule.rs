//! What a classification rule is and how one matches a call: the facts of an incoming call
//! ([`IncomingCallInfo`]), number and header-value patterns, and [`ClassificationRule`].
//!
//! Kept apart from [`classify`](crate::classify) because the configuration builds these
//! rules while classification reads the configuration: with both in one module, that module
//! and `config` would depend on each other. Public through `crate::classify`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use switchboard_events::CommunicationIdentifier;

use crate::model::QueueName;

/// Prefix ACS puts on custom SIP headers; rules may name a header with or without it.
pub(crate) const CUSTOM_SIP_HEADER_PREFIX: &str = "X-MS-Custom-";

/// The facts of an incoming call that classification reads. Deserializes straight from the
/// `data` object of a `Microsoft.Communication.IncomingCall` event (unknown fields ignored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingCallInfo {
    /// The dialed number / ACS user.
    pub to: CommunicationIdentifier,
    /// The caller.
    pub from: CommunicationIdentifier,
    /// Caller display name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_display_name: Option<String>,
    /// Custom headers.
    #[serde(default)]
    pub custom_context: CustomHeaders,
}

impl IncomingCallInfo {
    /// A call from `from` to `to` with no custom headers.
    pub fn new(from: CommunicationIdentifier, to: CommunicationIdentifier) -> Self {
        Self {
            to,
            from,
            caller_display_name: None,
            custom_context: CustomHeaders::default(),
        }
    }

    /// Value of a custom header by name, case-insensitively: SIP headers first (matched with
    /// or without the `X-MS-Custom-` prefix), then VoIP headers.
    pub fn header(&self, name: &str) -> Option<&str> {
        let bare = strip_custom_prefix(name);
        self.custom_context
            .sip_headers
            .iter()
            .find(|(k, _)| {
                k.eq_ignore_ascii_case(name) || strip_custom_prefix(k).eq_ignore_ascii_case(bare)
            })
            .or_else(|| {
                self.custom_context
                    .voip_headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.as_str())
    }
}

impl From<&switchboard_events::IncomingCall> for IncomingCallInfo {
    /// The classification facts of a typed IncomingCall event.
    fn from(call: &switchboard_events::IncomingCall) -> Self {
        let custom = call.custom_context.as_ref();
        Self {
            to: call.to.clone(),
            from: call.from.clone(),
            caller_display_name: call.caller_display_name.clone(),
            custom_context: CustomHeaders {
                sip_headers: custom.map(|c| c.sip_headers.clone()).unwrap_or_default(),
                voip_headers: custom.map(|c| c.voip_headers.clone()).unwrap_or_default(),
            },
        }
    }
}

fn strip_custom_prefix(name: &str) -> &str {
    match name.get(..CUSTOM_SIP_HEADER_PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(CUSTOM_SIP_HEADER_PREFIX) => {
            &name[CUSTOM_SIP_HEADER_PREFIX.len()..]
        }
        _ => name,
    }
}

/// `customContext` of an IncomingCall: SIP and VoIP headers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomHeaders {
    /// SIP headers (`X-MS-Custom-*`, `userToUser`).
    #[serde(default, deserialize_with = "lenient_headers")]
    pub sip_headers: BTreeMap<String, String>,
    /// VoIP headers.
    #[serde(default, deserialize_with = "lenient_headers")]
    pub voip_headers: BTreeMap<String, String>,
}

/// Header maps come from callers we do not control: `null` maps and values are empty,
/// numbers and booleans are kept as their JSON text, nested values are dropped. A strange
/// header must never make a call unroutable.
fn lenient_headers<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw: Option<BTreeMap<String, serde_json::Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect())
}

/// A pattern for a dialed number or caller: exact, prefix (`+1425555*`) or anything (`*`).
/// Phone patterns are compared with the E.164 form of the number; other patterns with the
/// identifier's raw id (`8:acs:...`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum NumberPattern {
    /// `*`: every caller or number, including anonymous callers.
    Any,
    /// The whole E.164 number or raw id, compared byte for byte. The configuration
    /// normalises phone numbers to E.164 when it loads; a pattern built in code must already
    /// be in that form.
    Exact(String),
    /// The number or raw id starts with this text (the pattern without its trailing `*`).
    Prefix(String),
}

impl NumberPattern {
    /// True if the identifier matches.
    pub fn matches(&self, id: &CommunicationIdentifier) -> bool {
        let subject = id.e164().unwrap_or_else(|| id.raw_id());
        match self {
            Self::Any => true,
            Self::Exact(s) => subject == *s,
            Self::Prefix(p) => subject.starts_with(p.as_str()),
        }
    }
}

/// A pattern for a header value: anything (`*`), exact or prefix (`gold*`); compared
/// case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum ValuePattern {
    /// `*`: the header only has to be present, with any value (even empty).
    Any,
    /// The whole value, ignoring ASCII case.
    Exact(String),
    /// The value starts with this text (the pattern without its `*`), ignoring ASCII case.
    Prefix(String),
}

impl ValuePattern {
    /// Parses `*`, `text*` or `text`.
    pub fn parse(s: &str) -> Self {
        if s == "*" {
            Self::Any
        } else if let Some(p) = s.strip_suffix('*') {
            Self::Prefix(p.to_owned())
        } else {
            Self::Exact(s.to_owned())
        }
    }

    /// True if the value matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(s) => value.eq_ignore_ascii_case(s),
            Self::Prefix(p) => value
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p)),
        }
    }
}

/// "Header `name` is present with a value matching `value`".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderMatch {
    /// Header name, matched case-insensitively; a SIP header may be named with or without
    /// the `X-MS-Custom-` prefix (see [`IncomingCallInfo::header`]).
    pub name: String,
    /// What the header's value must look like.
    pub value: ValuePattern,
}

/// One classification rule. Every condition given must hold; an empty list or `None` means
/// "no condition". A rule without conditions matches every call (a catch-all).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassificationRule {
    /// For logs.
    pub name: Option<String>,
    /// Where matching calls go.
    pub queue: QueueName,
    /// The dialed number matches one of these.
    pub dialed: Vec<NumberPattern>,
    /// The caller matches one of these.
    pub caller: Vec<NumberPattern>,
    /// A custom header matches.
    pub header: Option<HeaderMatch>,
    /// The caller's IVR choice is one of these (never matches before a choice is made).
    pub ivr: Vec<String>,
}

impl ClassificationRule {
    /// True if every condition of the rule holds for this call and choice.
    pub fn matches(&self, call: &IncomingCallInfo, ivr_choice: Option<&str>) -> bool {
        (self.dialed.is_empty() || self.dialed.iter().any(|p| p.matches(&call.to)))
            && (self.caller.is_empty() || self.caller.iter().any(|p| p.matches(&call.from)))
            && self.header.as_ref().is_none_or(|h| {
                call.header(&h.name)
                    .is_some_and(|value| h.value.matches(value))
            })
            && (self.ivr.is_empty() || ivr_choice.is_some_and(|c| self.ivr.iter().any(|i| i == c)))
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `p*` matches exactly the values starting with `p` (ASCII case-insensitively), `*`
        /// matches everything, and matching never panics on any UTF-8.
        #[test]
        fn value_patterns(p in "\\PC{0,8}", s in "\\PC{0,8}", v in "\\PC{0,16}") {
            let prefix = ValuePattern::parse(&format!("{p}*"));
            let joined = format!("{p}{s}");
            prop_assert!(prefix.matches(&joined));
            prop_assert!(ValuePattern::parse("*").matches(&v));
            let _ = prefix.matches(&v);
            let exact = ValuePattern::parse(&p);
            if !p.ends_with('*') && p != "*" {
                prop_assert!(exact.matches(&p));
                prop_assert_eq!(exact.matches(&v), v.eq_ignore_ascii_case(&p));
            }
        }

        /// Header lookup finds a SIP header by its name with or without `X-MS-Custom-`.
        #[test]
        fn header_lookup_with_or_without_prefix(name in "[A-Za-z][A-Za-z0-9-]{0,12}", value in "\\PC{0,10}") {
            let mut c = IncomingCallInfo::new(
                CommunicationIdentifier::phone("+1"), CommunicationIdentifier::phone("+2"));
            c.custom_context.sip_headers.insert(format!("X-MS-Custom-{name}"), value.clone());
            prop_assert_eq!(c.header(&name), Some(value.as_str()));
            prop_assert_eq!(c.header(&format!("x-ms-custom-{}", name.to_uppercase())), Some(value.as_str()));
        }
    }
}
