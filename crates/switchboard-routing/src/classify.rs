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

pub use crate::rule::{
    ClassificationRule, CustomHeaders, HeaderMatch, IncomingCallInfo, NumberPattern, ValuePattern,
};

use crate::config::RoutingConfig;
use crate::model::QueueName;

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
    use switchboard_events::CommunicationIdentifier;

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
