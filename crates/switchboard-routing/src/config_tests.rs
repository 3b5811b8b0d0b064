//! Tests of configuration parsing and validation: every error names its key.

use std::time::Duration;

use super::*;
use crate::presence::Availability;
use crate::queue::{NoticeFallback, PlaySource, RecordingNotice, TransferTarget};

fn err(toml: &str) -> ConfigError {
    match RoutingConfig::from_toml_str(toml) {
        Ok(cfg) => panic!("expected an error, got {cfg:?}"),
        Err(e) => e,
    }
}

const OID_A: &str = "11111111-1111-1111-1111-111111111111";

#[test]
fn minimal_config_gets_an_implicit_default_queue() {
    let cfg = RoutingConfig::from_toml_str(&format!("[[agents]]\noid = \"{OID_A}\"\n")).unwrap();
    assert_eq!(cfg.default_queue, IMPLICIT_QUEUE.into());
    let q = cfg.queue(IMPLICIT_QUEUE).unwrap();
    assert_eq!(q.strategy, Strategy::LongestIdle);
    assert_eq!(q.max_attempts, 3);
    assert_eq!(q.overflow, OverflowTarget::Hangup);
    assert_eq!(cfg.agents[0].capacity, 1);
    assert_eq!(cfg.agents[0].agent, AgentRef::Oid(OID_A.into()));
    assert!(cfg.agents[0].enabled);
}

#[test]
fn empty_document_is_valid() {
    let cfg = RoutingConfig::from_toml_str("").unwrap();
    assert!(cfg.agents.is_empty());
    assert_eq!(cfg.queues.len(), 1);
}

#[test]
fn the_documented_example_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/routing.toml");
    let cfg = RoutingConfig::from_path(&path).unwrap();
    assert!(cfg.agents.len() >= 4);
    assert!(cfg.queues.len() >= 3);
    assert!(!cfg.rules.is_empty());
    // Every kind of agent reference is shown.
    assert!(cfg
        .agents
        .iter()
        .any(|a| matches!(a.agent, AgentRef::Oid(_))));
    assert!(cfg
        .agents
        .iter()
        .any(|a| matches!(a.agent, AgentRef::Upn(_))));
    assert!(cfg
        .agents
        .iter()
        .any(|a| matches!(a.agent, AgentRef::DisplayName(_))));
    // The callback policy is shown with every key.
    let cb = cfg.queue("support").unwrap().callback.as_ref().unwrap();
    assert_eq!(
        (
            cb.attempts,
            cb.retry_after,
            cb.agent_ring_timeout,
            cb.customer_ring_timeout
        ),
        (
            3,
            Duration::from_secs(120),
            Duration::from_secs(20),
            Duration::from_secs(30)
        )
    );
}

#[test]
fn agent_identity_errors_name_the_key() {
    assert_eq!(err("[[agents]]\nskills = { sales = 1 }\n").key, "agents[0]");
    assert_eq!(err("[[agents]]\noid = \"nope\"\n").key, "agents[0].oid");
    assert_eq!(err("[[agents]]\nupn = \"alice\"\n").key, "agents[0].upn");
    assert_eq!(err("[[agents]]\nname = \"  \"\n").key, "agents[0].name");
    let dup = err(&format!(
        "[[agents]]\noid = \"{OID_A}\"\n[[agents]]\noid = \"{}\"\n",
        OID_A.to_uppercase()
    ));
    assert_eq!(dup.key, "agents[1]");
    assert!(dup.message.contains("more than once"), "{dup}");
    assert_eq!(
        err("[[agents]]\nname = \"Al\"\ncapacity = 0\n").key,
        "agents[0].capacity"
    );
}

#[test]
fn unknown_and_mistyped_keys_are_errors_at_that_key() {
    let e = err("[[agents]]\nname = \"Al\"\nskils = { a = 1 }\n");
    assert_eq!(e.key, "agents[0].skils");
    assert!(e.message.contains("unknown field"), "{e}");
    assert!(e.message.contains("line 3"), "{e}");

    let e = err("[[agents]]\nname = \"Al\"\ncapacity = \"two\"\n");
    assert_eq!(e.key, "agents[0].capacity");

    let e = err("[queues.sales]\nstrategy = \"fastest\"\n");
    assert_eq!(e.key, "queues.sales.strategy");
    assert!(e.message.contains("longest-idle"), "{e}");

    let e = err("[[agents]]\nname = \"Al\"\nskills = { sales = 300 }\n");
    assert_eq!(e.key, "agents[0].skills.sales");

    let e = err("bogus = 1\n");
    assert_eq!(e.key, "bogus");

    let e = err("[[agents]\n");
    assert_eq!(e.key, "<file>");
    assert!(e.message.contains("line 1"), "{e}");
}

#[test]
fn queue_references_must_exist() {
    let e = err("default_queue = \"nope\"\n[queues.a]\n[queues.b]\n");
    assert_eq!(e.key, "default_queue");
    assert!(e.message.contains("a, b"), "{e}");

    assert_eq!(
        err("[queues.a]\n[queues.b]\n").key,
        "default_queue",
        "two queues need a default"
    );
    assert_eq!(
        err("[queues.a]\n[[rules]]\nqueue = \"x\"\n").key,
        "rules[0].queue"
    );
    assert_eq!(
        err("[queues.a]\noverflow = { queue = \"x\" }\n").key,
        "queues.a.overflow.queue"
    );
    assert_eq!(
        err("[queues.a]\nivr = { prompt = { text = \"hi\" }, options = { \"1\" = \"x\" } }\n").key,
        "queues.a.ivr.options.1"
    );
    assert_eq!(
        err("[queues.a]\nivr = { prompt = { text = \"hi\" }, options = { \"1\" = \"a\" }, fallback = \"x\" }\n").key,
        "queues.a.ivr.fallback"
    );
}

#[test]
fn overflow_loops_and_self_overflow_are_rejected() {
    let e = err("default_queue = \"a\"\n[queues.a]\noverflow = { queue = \"b\" }\n[queues.b]\noverflow = { queue = \"c\" }\n[queues.c]\noverflow = { queue = \"a\" }\n");
    assert_eq!(e.key, "queues.a.overflow.queue");
    assert!(e.message.contains("a → b → c → a"), "{e}");
    assert_eq!(
        err("[queues.a]\noverflow = { queue = \"a\" }\n").key,
        "queues.a.overflow.queue"
    );
    // A chain that ends is fine.
    RoutingConfig::from_toml_str("default_queue = \"a\"\n[queues.a]\noverflow = { queue = \"b\" }\n[queues.b]\noverflow = { phone = \"+14255550199\" }\n").unwrap();
}

#[test]
fn overflow_targets_parse_and_validate() {
    let cfg = RoutingConfig::from_toml_str(
        r#"
        default_queue = "p"
        [queues.p]
        overflow = { phone = "+1 (425) 555-0199" }
        [queues.t]
        overflow = { teams_user = "22222222-2222-2222-2222-22222222222A" }
        [queues.v]
        overflow = { voicemail = { greeting = { text = "Leave a message" } } }
        [queues.a]
        overflow = { announcement = { url = "https://example.com/closed.wav" } }
        [queues.h]
        overflow = "hangup"
        "#,
    )
    .unwrap();
    assert_eq!(
        cfg.queue("p").unwrap().overflow,
        OverflowTarget::Phone {
            number: "+14255550199".into()
        }
    );
    assert_eq!(
        cfg.queue("t").unwrap().overflow,
        OverflowTarget::TeamsUser {
            oid: "22222222-2222-2222-2222-22222222222a".into()
        }
    );
    assert!(matches!(
        cfg.queue("v").unwrap().overflow,
        OverflowTarget::Voicemail { max_duration, .. } if max_duration == Duration::from_secs(120)
    ));
    assert!(matches!(
        cfg.queue("a").unwrap().overflow,
        OverflowTarget::Announcement {
            source: PlaySource::File { .. }
        }
    ));
    assert_eq!(cfg.queue("h").unwrap().overflow, OverflowTarget::Hangup);

    assert_eq!(
        err("[queues.a]\noverflow = { phone = \"call me\" }\n").key,
        "queues.a.overflow.phone"
    );
    assert_eq!(
        err("[queues.a]\noverflow = { teams_user = \"bob@contoso.com\" }\n").key,
        "queues.a.overflow.teams_user"
    );
    assert_eq!(
        err("[queues.a]\noverflow = { fax = \"1\" }\n").key,
        "queues.a.overflow"
    );
    assert_eq!(
        err("[queues.a]\noverflow = { announcement = { url = \"ftp://x/y.wav\" } }\n").key,
        "queues.a.overflow.announcement.url"
    );
}

#[test]
fn play_sources_need_exactly_one_kind() {
    assert_eq!(
        err("[queues.a]\nhold_music = { text = \"a\", url = \"https://x/y.wav\" }\n").key,
        "queues.a.hold_music"
    );
    assert_eq!(
        err("[queues.a]\nhold_music = { loop = true }\n").key,
        "queues.a.hold_music"
    );
    assert_eq!(
        err("[queues.a]\nannouncement = { url = \"https://x/y.wav\", voice = \"en-US-JennyNeural\" }\n").key,
        "queues.a.announcement"
    );
    let cfg = RoutingConfig::from_toml_str(
        "[queues.a]\nhold_music = { url = \"https://x/y.wav\" }\nannouncement = { ssml = \"<speak>hi</speak>\" }\n",
    )
    .unwrap();
    let q = cfg.queue("a").unwrap();
    assert!(
        q.hold_music.as_ref().unwrap().loop_playback,
        "hold music loops by default"
    );
    assert!(!q.announcement.as_ref().unwrap().loop_playback);
}

#[test]
fn acs_limits_are_enforced() {
    assert_eq!(
        err("[queues.a]\nring_timeout_secs = 181\n").key,
        "queues.a.ring_timeout_secs"
    );
    assert_eq!(
        err("[queues.a]\nivr = { prompt = { text = \"x\" }, options = { \"1\" = \"a\" }, timeout_secs = 301 }\n").key,
        "queues.a.ivr.timeout_secs"
    );
    assert_eq!(
        err("[queues.a]\nivr = { prompt = { text = \"x\" }, options = { \"x1\" = \"a\" } }\n").key,
        "queues.a.ivr.options.x1"
    );
    assert_eq!(
        err("[queues.a]\nivr = { prompt = { text = \"x\" } }\n").key,
        "queues.a.ivr.options"
    );
    assert_eq!(
        err("[queues.a]\nmax_attempts = 0\n").key,
        "queues.a.max_attempts"
    );
    assert_eq!(
        err("[queues.a]\nmax_wait_secs = 0\n").key,
        "queues.a.max_wait_secs"
    );
    assert_eq!(err("[queues.\"bad name\"]\n").key, "queues.bad name");
}

#[test]
fn direct_mode_cannot_play_or_record() {
    assert_eq!(
        err("[queues.a]\ndirect = true\nrecording = true\n").key,
        "queues.a.recording"
    );
    assert_eq!(
        err("[queues.a]\ndirect = true\nhold_music = { url = \"https://x/y.wav\" }\n").key,
        "queues.a.hold_music"
    );
    let cfg = RoutingConfig::from_toml_str("[queues.a]\ndirect = true\n").unwrap();
    assert!(cfg.queue("a").unwrap().direct);
}

#[test]
fn presence_policy_merges_global_and_queue() {
    let cfg = RoutingConfig::from_toml_str(
        r#"
        default_queue = "a"
        [presence]
        routable = ["available", "AvailableIdle", "BusyIdle"]
        fallback = "wait"
        max_age_secs = 60
        [queues.a]
        [queues.b]
        presence = { fallback = "route" }
        "#,
    )
    .unwrap();
    let a = &cfg.queue("a").unwrap().presence;
    assert_eq!(a.fallback, PresenceFallback::Wait);
    assert_eq!(a.max_age, Duration::from_secs(60));
    assert!(a.routable.contains(&Availability::BusyIdle));
    let b = &cfg.queue("b").unwrap().presence;
    assert_eq!(b.fallback, PresenceFallback::Route);
    assert_eq!(b.max_age, Duration::from_secs(60), "inherited");
    assert!(b.routable.contains(&Availability::BusyIdle), "inherited");

    let e = err("[presence]\nroutable = [\"Available\", \"Availible\"]\n");
    assert_eq!(e.key, "presence.routable[1]");
    assert!(e.message.contains("AvailableIdle"), "{e}");
    assert_eq!(
        err("[queues.a]\npresence = { fallback = \"maybe\" }\n").key,
        "queues.a.presence.fallback"
    );
}

#[test]
fn rules_validate_patterns() {
    assert_eq!(
        err("[queues.a]\n[[rules]]\nqueue = \"a\"\ncaller = [\"+1-800-CALL-NOW\"]\n").key,
        "rules[0].caller[0]"
    );
    assert_eq!(
        err("[queues.a]\n[[rules]]\nqueue = \"a\"\nheader = { name = \"bad name\" }\n").key,
        "rules[0].header.name"
    );
    let cfg = RoutingConfig::from_toml_str(
        "[queues.a]\n[[rules]]\nqueue = \"a\"\ncaller = [\"*\", \"+44 20*\", \"8:acs:abc\"]\nheader = { name = \"X-MS-Custom-Tier\" }\n",
    )
    .unwrap();
    let r = &cfg.rules[0];
    assert_eq!(
        r.caller,
        vec![
            NumberPattern::Any,
            NumberPattern::Prefix("+4420".into()),
            NumberPattern::Exact("8:acs:abc".into())
        ]
    );
    assert_eq!(r.header.as_ref().unwrap().value, ValuePattern::Any);
}

#[test]
fn agent_defaults_apply() {
    let cfg = RoutingConfig::from_toml_str(
        "[agent_defaults]\ncapacity = 2\nwrap_up_secs = 15\n[[agents]]\nname = \"A\"\n[[agents]]\nname = \"B\"\ncapacity = 1\nwrap_up_secs = 0\nskills = { Sales = 3 }\n",
    )
    .unwrap();
    assert_eq!(cfg.agents[0].capacity, 2);
    assert_eq!(cfg.agents[0].wrap_up, Duration::from_secs(15));
    assert_eq!(cfg.agents[1].capacity, 1);
    assert_eq!(cfg.agents[1].wrap_up, Duration::ZERO);
    assert_eq!(cfg.agents[1].skills.get("sales"), Some(&3));
    assert_eq!(
        err("[[agents]]\nname = \"A\"\nskills = { Sales = 3, sales = 4 }\n").key,
        "agents[0].skills.sales"
    );
}

#[test]
fn json_and_embedded_routing_table_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("routing.json");
    std::fs::write(
        &json,
        format!(r#"{{"agents":[{{"oid":"{OID_A}","skills":{{"sales":2}}}}],"queues":{{"sales":{{"required_skills":{{"sales":1}}}}}}}}"#),
    )
    .unwrap();
    let cfg = RoutingConfig::from_path(&json).unwrap();
    assert_eq!(cfg.default_queue, "sales".into());

    std::fs::write(&json, r#"{"agents":[{"oid":"x"}]}"#).unwrap();
    assert_eq!(
        RoutingConfig::from_path(&json).unwrap_err().key,
        "agents[0].oid"
    );
    std::fs::write(&json, r#"{"agents":[{"nme":"x"}]}"#).unwrap();
    assert_eq!(
        RoutingConfig::from_path(&json).unwrap_err().key,
        "agents[0].nme"
    );

    // A whole Switchboard configuration with a [routing] table.
    let whole = dir.path().join("switchboard.toml");
    std::fs::write(
        &whole,
        format!(
            "[acs]\nendpoint = \"https://x\"\n\n[routing]\n[[routing.agents]]\noid = \"{OID_A}\"\n"
        ),
    )
    .unwrap();
    let cfg = RoutingConfig::from_path(&whole).unwrap();
    assert_eq!(cfg.agents.len(), 1);
    std::fs::write(
        &whole,
        "[acs]\n[routing]\n[[routing.agents]]\noid = \"x\"\n",
    )
    .unwrap();
    assert_eq!(
        RoutingConfig::from_path(&whole).unwrap_err().key,
        "routing.agents[0].oid"
    );

    let missing = RoutingConfig::from_path(&dir.path().join("nope.toml")).unwrap_err();
    assert_eq!(missing.key, "<file>");
}

#[test]
fn agent_ref_parse_recognises_oid_upn_and_name() {
    assert_eq!(
        AgentRef::parse(" 11111111-1111-1111-1111-11111111111F "),
        AgentRef::Oid("11111111-1111-1111-1111-11111111111f".into())
    );
    assert_eq!(
        AgentRef::parse("alice@contoso.com"),
        AgentRef::Upn("alice@contoso.com".into())
    );
    assert_eq!(
        AgentRef::parse("Alice Smith"),
        AgentRef::DisplayName("Alice Smith".into())
    );
    assert!(!is_guid("11111111-1111-1111-1111-11111111111"));
    assert!(!is_guid("g1111111-1111-1111-1111-111111111111"));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn guid() -> impl proptest::strategy::Strategy<Value = String> {
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    }

    proptest! {
        /// Any text gives a configuration or an error naming a key; never a panic.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            if let Err(e) = RoutingConfig::from_toml_str(&text) {
                prop_assert!(!e.key.is_empty());
            }
            if let Err(e) = RoutingConfig::from_json_str(&text) {
                prop_assert!(!e.key.is_empty());
            }
        }

        /// Structured but random agent entries: valid ones load with their OID lower-cased,
        /// invalid ones fail at a key under `agents[i]`.
        #[test]
        fn random_agent_entries_load_or_name_their_key(
            entries in proptest::collection::vec(
                (proptest::option::of(prop_oneof![guid(), "[a-z0-9-]{0,12}"]),
                 proptest::option::of("[a-z]{1,6}@?[a-z]{0,6}"),
                 proptest::option::of("[A-Za-z ]{0,10}"),
                 proptest::option::of(0u32..4)),
                0..6),
        ) {
            let mut toml = String::new();
            for (oid, upn, name, capacity) in &entries {
                toml.push_str("[[agents]]\n");
                if let Some(o) = oid { toml.push_str(&format!("oid = \"{o}\"\n")); }
                if let Some(u) = upn { toml.push_str(&format!("upn = \"{u}\"\n")); }
                if let Some(n) = name { toml.push_str(&format!("name = \"{n}\"\n")); }
                if let Some(c) = capacity { toml.push_str(&format!("capacity = {c}\n")); }
            }
            match RoutingConfig::from_toml_str(&toml) {
                Ok(cfg) => {
                    prop_assert_eq!(cfg.agents.len(), entries.len());
                    for a in &cfg.agents {
                        prop_assert!(a.capacity >= 1);
                        if let AgentRef::Oid(o) = &a.agent {
                            prop_assert!(is_guid(o.as_str()));
                            prop_assert_eq!(o.as_str(), o.as_str().to_ascii_lowercase());
                        }
                    }
                }
                Err(e) => prop_assert!(e.key.starts_with("agents["), "{}", e),
            }
        }

        /// `AgentRef::parse` classifies without panicking: GUIDs are OIDs (lower-cased).
        #[test]
        fn agent_ref_parse(g in guid(), other in "\\PC{0,40}") {
            prop_assert_eq!(AgentRef::parse(&g), AgentRef::Oid(g.to_ascii_lowercase().into()));
            match AgentRef::parse(&other) {
                AgentRef::Oid(o) => prop_assert!(is_guid(o.as_str())),
                AgentRef::Upn(u) => prop_assert!(u.contains('@')),
                AgentRef::DisplayName(n) => prop_assert!(!n.contains('@')),
            }
        }

        /// A caller prefix rule matches exactly the numbers that start with the prefix.
        #[test]
        fn caller_prefix_rules_match_by_e164_prefix(
            prefix in "\\+[1-9][0-9]{0,5}",
            rest in "[0-9]{0,8}",
            other in "\\+[1-9][0-9]{1,13}",
        ) {
            let cfg = RoutingConfig::from_toml_str(&format!(
                "default_queue = \"a\"\n[queues.a]\n[queues.b]\n[[rules]]\ncaller = [\"{prefix}*\"]\nqueue = \"b\"\n"
            )).unwrap();
            let to = switchboard_events::CommunicationIdentifier::phone("+18005550100");
            let number = format!("{prefix}{rest}");
            if number.len() <= 16 {
                let call = crate::IncomingCallInfo::new(
                    switchboard_events::CommunicationIdentifier::phone(number.as_str()), to.clone());
                prop_assert_eq!(crate::classify(&call, None, &cfg), "b".into());
            }
            let call = crate::IncomingCallInfo::new(
                switchboard_events::CommunicationIdentifier::phone(other.as_str()), to);
            let expected = if other.starts_with(&prefix) { "b" } else { "a" };
            prop_assert_eq!(crate::classify(&call, None, &cfg), expected.into());
        }
    }
}

#[test]
fn recording_notice_per_queue_text_or_audio_with_a_fallback() {
    let cfg = RoutingConfig::from_toml_str(
        r#"
        default_queue = "fr"
        [queues.fr]
        recording = true
        recording_notice = { text = "Cet appel est enregistré.", locale = "fr-FR", voice = "fr-FR-DeniseNeural", fallback = "hang_up", max_tries = 2 }
        [queues.de]
        recording = true
        recording_notice = { url = "https://example.com/hinweis.wav" }
        [queues.plain]
        recording = true
        "#,
    )
    .unwrap();
    let fr = cfg.queue("fr").unwrap();
    assert_eq!(
        fr.recording_notice.source,
        PlaySource::Text {
            text: "Cet appel est enregistré.".into(),
            voice: Some("fr-FR-DeniseNeural".into()),
            locale: Some("fr-FR".into()),
        }
    );
    assert_eq!(fr.recording_notice.fallback, NoticeFallback::HangUp);
    assert_eq!(fr.recording_notice.max_tries, 2);
    assert_eq!(fr.ai_prompt_keys(), ["queues.fr.recording_notice"]);
    let de = cfg.queue("de").unwrap();
    assert_eq!(
        de.recording_notice.source,
        PlaySource::File {
            url: "https://example.com/hinweis.wav".into()
        }
    );
    assert_eq!(de.recording_notice.fallback, NoticeFallback::Pause);
    assert!(
        de.ai_prompt_keys().is_empty(),
        "an audio notice needs no AI"
    );
    // Recording with no notice configured: the default English text (which needs AI).
    let plain = cfg.queue("plain").unwrap();
    assert_eq!(plain.recording_notice, RecordingNotice::default());
    assert_eq!(plain.ai_prompt_keys(), ["queues.plain.recording_notice"]);

    let e = err("[queues.q.recording_notice]\ntext = \"x\"\nfallback = \"ignore\"\n");
    assert_eq!(e.key, "queues.q.recording_notice.fallback", "{e}");
    let e = err("[queues.q.recording_notice]\nurl = \"https://x/a.wav\"\nmax_tries = 0\n");
    assert_eq!(e.key, "queues.q.recording_notice.max_tries");
    let e = err("[queues.q.recording_notice]\nurl = \"https://x/a.wav\"\nlocale = \"de-DE\"\n");
    assert_eq!(e.key, "queues.q.recording_notice");
}

#[test]
fn teams_transfer_targets_for_routing_and_overflow() {
    let cfg = RoutingConfig::from_toml_str(
        r#"
        default_queue = "billing"
        [queues.billing]
        transfer_to = { teams_app = "8A3D1F0E-5B7C-4E2A-9C6D-1F0E2D3C4B5A" }
        [queues.vip]
        transfer_to = { teams_user = "11111111-1111-1111-1111-111111111111" }
        [queues.sales]
        overflow = { teams_app = "8a3d1f0e-5b7c-4e2a-9c6d-1f0e2d3c4b5a" }
        "#,
    )
    .unwrap();
    assert_eq!(
        cfg.queue("billing").unwrap().transfer_to,
        Some(TransferTarget::TeamsApp {
            app_id: "8a3d1f0e-5b7c-4e2a-9c6d-1f0e2d3c4b5a".into()
        })
    );
    assert_eq!(
        cfg.queue("vip").unwrap().transfer_to,
        Some(TransferTarget::TeamsUser { oid: OID_A.into() })
    );
    assert_eq!(
        cfg.queue("sales").unwrap().overflow,
        OverflowTarget::TeamsApp {
            app_id: "8a3d1f0e-5b7c-4e2a-9c6d-1f0e2d3c4b5a".into()
        }
    );
    let e = err("[queues.q]\ntransfer_to = { teams_app = \"cq@contoso.com\" }\n");
    assert_eq!(e.key, "queues.q.transfer_to.teams_app", "{e}");
    let e = err("[queues.q]\noverflow = { teams_app = \"x\" }\n");
    assert_eq!(e.key, "queues.q.overflow.teams_app", "{e}");
    let e = err("[queues.q]\ndirect = true\ntransfer_to = { phone = \"+14255550100\" }\n");
    assert_eq!(e.key, "queues.q.transfer_to", "{e}");
}

#[test]
fn announcements_and_callback_parse_with_defaults_and_recorded_urls() {
    let cfg = RoutingConfig::from_toml_str(
        r#"
default_queue = "support"
[queues.support.announcements]
every_secs = 45
average_handle_secs = 120
[queues.support.callback]
offer_after_secs = 200
[queues.sales.announcements]
urls = ["https://cdn.example/pos-{position}.wav", "https://cdn.example/wait-{minutes}.wav"]
max_number = 10
"#,
    )
    .unwrap();
    let support = cfg.queue("support").unwrap();
    let a = support.announcements.as_ref().unwrap();
    assert_eq!(a.every, Duration::from_secs(45));
    assert_eq!(a.first_after, Duration::from_secs(45));
    assert_eq!(support.average_handle(), Duration::from_secs(120));
    assert_eq!(
        a.sources(3, Duration::from_secs(61)),
        vec![PlaySource::Text {
            text: "You are number 3 in the queue. Your estimated wait is about 2 minutes.".into(),
            voice: None,
            locale: None,
        }]
    );
    let c = support.callback.as_ref().unwrap();
    assert_eq!(c.offer_after, Duration::from_secs(200));
    assert_eq!(c.digit, "1");
    assert_eq!(c.attempts, 3);
    assert_eq!(c.retry_after, Duration::from_secs(60));
    assert_eq!(c.agent_ring_timeout, Duration::from_secs(20));
    assert_eq!(c.customer_ring_timeout, Duration::from_secs(30));
    assert_eq!(support.wait_status_every(), Some(Duration::from_secs(45)));
    // Text prompts need AI services: the worker's check names these keys.
    assert_eq!(
        support.ai_prompt_keys(),
        vec![
            "queues.support.callback.prompt",
            "queues.support.callback.confirmation",
            "queues.support.announcements.text",
        ]
    );
    let sales = cfg.queue("sales").unwrap();
    // Numbers above the recordings there are are said as the highest one.
    assert_eq!(
        sales
            .announcements
            .as_ref()
            .unwrap()
            .sources(14, Duration::from_secs(300)),
        vec![
            PlaySource::File {
                url: "https://cdn.example/pos-10.wav".into()
            },
            PlaySource::File {
                url: "https://cdn.example/wait-5.wav".into()
            },
        ]
    );
    assert!(sales.ai_prompt_keys().is_empty());
    assert_eq!(sales.callback, None);
}

#[test]
fn announcement_and_callback_errors_name_their_key() {
    let cases = [
        (
            "[queues.q.announcements]\nevery_secs = 5\n",
            "queues.q.announcements.every_secs",
        ),
        (
            "[queues.q.announcements]\ntext = \"You are {place}\"\n",
            "queues.q.announcements.text",
        ),
        (
            "[queues.q.announcements]\nurls = [\"ftp://x/{position}.wav\"]\n",
            "queues.q.announcements.urls[0]",
        ),
        (
            "[queues.q.announcements]\nurls = [\"https://x/a.wav\"]\ntext = \"hi\"\n",
            "queues.q.announcements",
        ),
        (
            "[queues.q.announcements]\nmax_number = 3\n",
            "queues.q.announcements.max_number",
        ),
        (
            "[queues.q.callback]\ndigit = \"12\"\n",
            "queues.q.callback.digit",
        ),
        (
            "[queues.q.callback]\noffer_after_secs = 0\n",
            "queues.q.callback.offer_after_secs",
        ),
        (
            "[queues.q.callback]\nattempts = 0\n",
            "queues.q.callback.attempts",
        ),
        (
            "[queues.q.callback]\nretry_after_secs = 0\n",
            "queues.q.callback.retry_after_secs",
        ),
        (
            "[queues.q.callback]\nagent_ring_timeout_secs = 0\n",
            "queues.q.callback.agent_ring_timeout_secs",
        ),
        (
            "[queues.q.callback]\ncustomer_ring_timeout_secs = 181\n",
            "queues.q.callback.customer_ring_timeout_secs",
        ),
        (
            "[queues.q.callback]\ntimeout_secs = 301\n",
            "queues.q.callback.timeout_secs",
        ),
        (
            "[queues.q.callback]\nprompt = { url = \"nope\" }\n",
            "queues.q.callback.prompt.url",
        ),
        (
            "[queues.q]\ndirect = true\n[queues.q.callback]\n",
            "queues.q.callback",
        ),
    ];
    for (toml, key) in cases {
        assert_eq!(err(toml).key, key, "{toml}");
    }
}

#[test]
fn estimated_wait_serves_callers_staffed_at_a_time() {
    use crate::queue::estimated_wait;
    let aht = Duration::from_secs(120);
    assert_eq!(estimated_wait(1, 1, aht), aht);
    assert_eq!(estimated_wait(3, 1, aht), aht * 3);
    assert_eq!(estimated_wait(3, 2, aht), aht * 2);
    assert_eq!(estimated_wait(4, 2, aht), aht * 2);
    assert_eq!(
        estimated_wait(5, 0, aht),
        aht * 5,
        "nobody staffed counts as one"
    );
    assert_eq!(estimated_wait(0, 3, aht), aht, "position 0 reads as next");
    assert_eq!(estimated_wait(u32::MAX, 1, Duration::MAX), Duration::MAX);
}
