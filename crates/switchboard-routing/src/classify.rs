//! Which queue does an incoming call belong to?
//!
//! [`classify`] walks the configured [`ClassificationRule`]s in order; the first rule whose
//! conditions all hold names the queue, and with no match the call goes to the default
//! queue. Conditions look at the dialed number (`to`), the caller (`from`), the call's
//! `customContext` headers (SIP `X-MS-Custom-*` and VoIP headers) and the caller's IVR
//! choice. After a choice is made, the chosen queue's own IVR menu (if the entry queue has
//! one) maps the choice to the final queue.
//!
//! Typical flow: the worker classifies on IncomingCall with `ivr_choice = None`, gets a
//! queue with an IVR menu, plays it, collects the tones and classifies again with
//! `Some(choice)`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use switchboard_events::CommunicationIdentifier;

use crate::config::RoutingConfig;
use crate::model::QueueName;

/// Prefix ACS puts on custom SIP headers; rules may name a header with or without it.
pub const CUSTOM_SIP_HEADER_PREFIX: &str = "X-MS-Custom-";

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
    Any,
    Exact(String),
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
    Any,
    Exact(String),
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
    pub name: String,
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

/// Classifies a call to a queue. See the [module docs](self).
///
/// With `ivr_choice`, after the rules pick a queue: if that queue has an IVR menu, the
/// choice is looked up in its options; an unknown choice goes to the menu's `fallback`, or
/// stays in the menu's queue when there is none (the worker then replays the menu, up to
/// `max_tries`).
pub fn classify(
    call: &IncomingCallInfo,
    ivr_choice: Option<&str>,
    cfg: &RoutingConfig,
) -> QueueName {
    let choice = ivr_choice.map(str::trim).filter(|c| !c.is_empty());
    let queue = cfg
        .rules
        .iter()
        .find(|r| r.matches(call, choice))
        .map(|r| r.queue.clone())
        .unwrap_or_else(|| cfg.default_queue.clone());
    let (Some(choice), Some(menu)) = (choice, cfg.queues.get(&queue).and_then(|q| q.ivr.as_ref()))
    else {
        return queue;
    };
    match menu.options.get(choice) {
        Some(target) => target.clone(),
        None => menu.fallback.clone().unwrap_or(queue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(from: &str, to: &str) -> IncomingCallInfo {
        IncomingCallInfo::new(
            CommunicationIdentifier::from_raw_id(from),
            CommunicationIdentifier::from_raw_id(to),
        )
    }

    fn cfg() -> RoutingConfig {
        RoutingConfig::from_toml_str(
            r#"
            default_queue = "general"

            [queues.general]
            [queues.sales]
            [queues.support]
            [queues.vip]
            priority = 10
            [queues.spanish]
            [queues.main]
            ivr = { prompt = { text = "Press 1 for sales, 2 for support" }, options = { "1" = "sales", "2" = "support" }, fallback = "general" }
            [queues.menu-no-fallback]
            ivr = { prompt = { text = "Press 1" }, options = { "1" = "sales" } }

            [[rules]]
            name = "vip callers"
            caller = ["+1425555*"]
            queue = "vip"

            [[rules]]
            name = "spanish line via IVR 9"
            dialed = ["+1 (800) 555-0100"]
            ivr = ["9"]
            queue = "spanish"

            [[rules]]
            dialed = ["+18005550100"]
            queue = "main"

            [[rules]]
            dialed = ["+18005550111"]
            queue = "menu-no-fallback"

            [[rules]]
            header = { name = "X-MS-Custom-Tier", value = "gold*" }
            queue = "vip"

            [[rules]]
            header = { name = "department", value = "sales" }
            queue = "sales"

            [[rules]]
            dialed = ["8:acs:*"]
            queue = "support"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn first_matching_rule_wins_and_default_otherwise() {
        let cfg = cfg();
        // caller prefix beats the dialed-number rule below it
        assert_eq!(
            classify(&call("4:+14255550123", "4:+18005550100"), None, &cfg),
            "vip".into()
        );
        assert_eq!(
            classify(&call("4:+33123456789", "4:+18005550100"), None, &cfg),
            "main".into()
        );
        assert_eq!(
            classify(&call("4:+33123456789", "4:+18005550199"), None, &cfg),
            "general".into()
        );
        // ACS user callee matched by raw-id prefix
        assert_eq!(
            classify(&call("4:+33123456789", "8:acs:res_user"), None, &cfg),
            "support".into()
        );
    }

    #[test]
    fn numbers_are_compared_in_e164() {
        let cfg = cfg();
        // "4:18005550100" (no plus, old SDKs) normalises to +18005550100
        assert_eq!(
            classify(&call("4:+33123456789", "4:18005550100"), None, &cfg),
            "main".into()
        );
    }

    #[test]
    fn ivr_choice_maps_through_rules_then_menu() {
        let cfg = cfg();
        let c = call("4:+33123456789", "4:+18005550100");
        assert_eq!(classify(&c, Some("1"), &cfg), "sales".into());
        assert_eq!(classify(&c, Some(" 2 "), &cfg), "support".into());
        // A rule with an ivr condition takes precedence when it matches.
        assert_eq!(classify(&c, Some("9"), &cfg), "spanish".into());
        // Unknown choice → menu fallback; empty choice = no choice.
        assert_eq!(classify(&c, Some("7"), &cfg), "general".into());
        assert_eq!(classify(&c, Some(""), &cfg), "main".into());
        // No fallback: stay in the menu's queue (the worker replays the menu).
        let c = call("4:+33123456789", "4:+18005550111");
        assert_eq!(classify(&c, Some("5"), &cfg), "menu-no-fallback".into());
        assert_eq!(classify(&c, Some("1"), &cfg), "sales".into());
    }

    #[test]
    fn headers_match_sip_with_or_without_prefix_and_voip() {
        let cfg = cfg();
        let mut c = call("4:+33123456789", "4:+18005550199");
        c.custom_context
            .sip_headers
            .insert("X-MS-Custom-Tier".into(), "GOLD-plus".into());
        assert_eq!(classify(&c, None, &cfg), "vip".into());

        let mut c = call("4:+33123456789", "4:+18005550199");
        c.custom_context
            .sip_headers
            .insert("X-MS-Custom-tier".into(), "silver".into());
        assert_eq!(classify(&c, None, &cfg), "general".into());

        let mut c = call("4:+33123456789", "4:+18005550199");
        c.custom_context
            .sip_headers
            .insert("X-MS-Custom-Department".into(), "Sales".into());
        assert_eq!(classify(&c, None, &cfg), "sales".into());

        let mut c = call("4:+33123456789", "4:+18005550199");
        c.custom_context
            .voip_headers
            .insert("department".into(), "sales".into());
        assert_eq!(classify(&c, None, &cfg), "sales".into());
    }

    #[test]
    fn header_lookup_and_value_patterns() {
        let mut c = call("4:+1", "4:+2");
        c.custom_context
            .sip_headers
            .insert("X-MS-Custom-myheader1".into(), "35567842".into());
        assert_eq!(c.header("myheader1"), Some("35567842"));
        assert_eq!(c.header("x-ms-custom-MYHEADER1"), Some("35567842"));
        assert_eq!(c.header("other"), None);
        assert!(ValuePattern::parse("*").matches(""));
        assert!(ValuePattern::parse("ab*").matches("ABc"));
        assert!(!ValuePattern::parse("ab*").matches("a"));
        assert!(ValuePattern::parse("é").matches("é"));
        assert!(!ValuePattern::parse("éa*").matches("é"));
    }

    #[test]
    fn lenient_headers_keep_scalars_and_drop_nulls() {
        let info: IncomingCallInfo = serde_json::from_value(serde_json::json!({
            "to": {"rawId": "4:+18005550100"},
            "from": {"rawId": "4:+14255550123"},
            "customContext": {
                "sipHeaders": {"X-MS-Custom-n": 5, "X-MS-Custom-b": true, "X-MS-Custom-x": null, "X-MS-Custom-o": {"a": 1}},
                "voipHeaders": null
            }
        }))
        .unwrap();
        assert_eq!(info.header("n"), Some("5"));
        assert_eq!(info.header("b"), Some("true"));
        assert_eq!(info.header("x"), None);
        assert_eq!(info.header("o"), None);
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
