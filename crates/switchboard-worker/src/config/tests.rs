//! The configuration's loading, overrides and checks, end to end.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::model::*;
use crate::backend::EngineHooks;

const CS: &str = "endpoint=http://127.0.0.1:8080/;accesskey=c2VjcmV0";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_need_acs_settings_for_a_worker() {
    let cfg = Config::default();
    let err = cfg.validate(Role::Worker).unwrap_err();
    assert_eq!(err.key, "acs.endpoint");
    assert!(cfg.validate(Role::QueueTool).is_ok());
}

#[test]
fn env_overrides_file_and_secrets_are_redacted() {
    let mut cfg = Config::from_toml_str(
        r#"
        [acs]
        connection_string = "endpoint=https://x.communication.azure.com/;accesskey=a2V5"
        callback_url = "https://ingress.example.com/api/callbacks"
        "#,
    )
    .unwrap();
    cfg.apply_env(&env(&[("SWITCHBOARD_ACS_CONNECTION_STRING", CS)]))
        .unwrap();
    assert_eq!(cfg.acs.connection_string.as_ref().unwrap().expose(), CS);
    cfg.validate(Role::Worker).unwrap();
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("c2VjcmV0"), "{dbg}");
    assert!(dbg.contains("<redacted>"));
}

#[test]
fn unknown_key_is_named() {
    let err = Config::from_toml_str("[worker]\nconcurency = 3\n").unwrap_err();
    assert!(err.key.starts_with("worker"), "{err:?}");
    assert!(err.message.contains("concurency"), "{err:?}");
}

#[test]
fn wrong_type_is_named() {
    let err = Config::from_toml_str("[worker]\nconcurrency = \"many\"\n").unwrap_err();
    assert_eq!(err.key, "worker.concurrency", "{err:?}");
}

#[test]
fn bad_env_values_are_named() {
    let mut cfg = Config::default();
    cfg.apply_env(&env(&[("SWITCHBOARD_QUEUE", "kafka")]))
        .unwrap();
    let err = EngineHooks::default()
        .validate(&cfg, Role::QueueTool)
        .unwrap_err();
    assert_eq!(err.key, "SWITCHBOARD_QUEUE");
    let mut cfg = Config::default();
    let err = cfg
        .apply_env(&env(&[("SWITCHBOARD_INGRESS_PORT", "99999")]))
        .unwrap_err();
    assert_eq!(err.key, "SWITCHBOARD_INGRESS_PORT");
}

#[test]
fn connection_string_is_checked_without_io() {
    let mut cfg = Config::default();
    cfg.acs.callback_url = Some("http://127.0.0.1:1/api/callbacks".into());
    cfg.acs.connection_string = Some(Secret::new("endpoint=nope;accesskey=a2V5"));
    assert_eq!(
        cfg.validate(Role::Worker).unwrap_err().key,
        "acs.connection_string"
    );
    cfg.acs.connection_string = Some(Secret::new("endpoint=https://x/;accesskey=!!"));
    let err = cfg.validate(Role::Worker).unwrap_err();
    assert!(err.message.contains("base64"), "{err}");
    assert!(!err.to_string().contains("!!"));
}

#[test]
fn wrong_type_in_a_backend_section_is_named() {
    let err = Config::from_toml_str("[queue]\nlock_duration_secs = \"long\"\n").unwrap_err();
    assert_eq!(err.key, "queue.lock_duration_secs", "{err:?}");
}

#[test]
fn backend_keys_are_checked_by_the_registered_backends() {
    let engines = EngineHooks::default();
    let cfg = Config::from_toml_str("[queue]\nkind = \"kafka\"\n").unwrap();
    let err = engines.validate(&cfg, Role::QueueTool).unwrap_err();
    assert_eq!(err.key, "queue.kind", "{err:?}");
    assert!(err.message.contains("sqlite"), "{err:?}");

    // A mistyped store key is refused even by a process that never opens the store, as
    // when the section denied unknown fields.
    let cfg = Config::from_toml_str("[store]\nsqlite_pth = \"x.db\"\n").unwrap();
    for role in [Role::QueueTool, Role::Worker] {
        let err = engines.validate(&cfg, role).unwrap_err();
        assert_eq!(err.key, "store.sqlite_pth", "{err:?}");
    }

    let cfg = Config::from_toml_str("[queue]\nsqlite_path = 5\n").unwrap();
    let err = engines.validate(&cfg, Role::QueueTool).unwrap_err();
    assert_eq!(err.key, "queue.sqlite_path", "{err:?}");
}

#[test]
fn sqlite_path_env_sets_both_files_over_the_file() {
    let mut cfg =
        Config::from_toml_str("[queue]\nsqlite_path = \"q.db\"\n[store]\nsqlite_path = \"s.db\"\n")
            .unwrap();
    assert_eq!(cfg.store_sqlite_path(), PathBuf::from("s.db"));
    cfg.apply_env(&env(&[("SWITCHBOARD_SQLITE_PATH", "/data/x.db")]))
        .unwrap();
    assert_eq!(cfg.queue_sqlite_path(), PathBuf::from("/data/x.db"));
    assert_eq!(cfg.store_sqlite_path(), PathBuf::from("/data/x.db"));
    assert!(!format!("{cfg:?}").contains("/data/x.db"));
}

#[test]
fn ingress_needs_an_audience() {
    let cfg = Config::default();
    assert_eq!(
        cfg.validate(Role::Ingress).unwrap_err().key,
        "acs.resource_id"
    );
    let mut cfg = Config::default();
    cfg.ingress.auth = IngressAuth::None;
    cfg.ingress.bind = "127.0.0.1".into();
    cfg.validate(Role::Ingress).unwrap();
}

#[test]
fn unauthenticated_endpoints_only_on_loopback() {
    let mut cfg = Config::default();
    cfg.acs.resource_id = Some("r".into());
    // Callbacks without authentication, on every interface: refused, naming the key.
    cfg.ingress.auth = IngressAuth::None;
    assert_eq!(cfg.validate(Role::Ingress).unwrap_err().key, "ingress.auth");
    cfg.ingress.bind = "127.0.0.2".into();
    cfg.validate(Role::Ingress).unwrap();

    // The Event Grid webhook without authentication off loopback: refused.
    let mut cfg = Config::default();
    cfg.acs.resource_id = Some("r".into());
    cfg.ingress.eventgrid_webhook = true;
    cfg.ingress.eventgrid_auth = EventGridAuth::None;
    assert_eq!(
        cfg.validate(Role::Ingress).unwrap_err().key,
        "ingress.eventgrid_auth"
    );
    cfg.ingress.bind = "127.0.0.1".into();
    cfg.validate(Role::Ingress).unwrap();

    // Entra: the tenant and the audiences are required.
    cfg.ingress.bind = "0.0.0.0".into();
    cfg.ingress.eventgrid_auth = EventGridAuth::Entra;
    assert_eq!(
        cfg.validate(Role::Ingress).unwrap_err().key,
        "ingress.eventgrid_tenant_id"
    );
    cfg.ingress.eventgrid_tenant_id = Some("t".into());
    assert_eq!(
        cfg.validate(Role::Ingress).unwrap_err().key,
        "ingress.eventgrid_audiences"
    );
    cfg.ingress.eventgrid_audiences = vec!["api://switchboard".into()];
    cfg.validate(Role::Ingress).unwrap();
    assert_eq!(
        cfg.eventgrid_openid_config_url().as_deref(),
        Some("https://login.microsoftonline.com/t/v2.0/.well-known/openid-configuration")
    );
}

#[test]
fn example_config_parses_and_validates() {
    let text = include_str!("../../config/switchboard.example.toml");
    let cfg = Config::from_toml_str(text).unwrap();
    cfg.validate(Role::Worker).unwrap();
    cfg.validate(Role::Ingress).unwrap();
}

#[test]
fn the_incoming_lock_is_short_by_default_and_checked() {
    let c = Config::from_toml_str("").unwrap();
    assert_eq!(c.queue.incoming_lock_duration_secs, 5);
    assert_eq!(c.queue.lock_duration_secs, 30);
    let (plain, sessions) = crate::backend::queue_configs(&c);
    assert_eq!(plain.lock_duration, std::time::Duration::from_secs(5));
    assert_eq!(sessions.lock_duration, std::time::Duration::from_secs(30));
    let err = Config::from_toml_str("[queue]\nincoming_lock_duration_secs = 0\n")
        .and_then(|c| c.validate(Role::QueueTool).map(|_| c))
        .unwrap_err();
    assert_eq!(err.key, "queue.incoming_lock_duration_secs", "{err:?}");
}

#[test]
fn incoming_reserved_must_leave_a_slot_for_sessions() {
    let mut cfg = Config::from_toml_str(
        r#"
        [acs]
        connection_string = "endpoint=https://x.communication.azure.com/;accesskey=a2V5"
        callback_url = "https://ingress.example.com/api/callbacks"
        [worker]
        concurrency = 4
        incoming_reserved = 4
        "#,
    )
    .unwrap();
    let err = cfg.validate(Role::Worker).unwrap_err();
    assert_eq!(err.key, "worker.incoming_reserved", "{err:?}");
    cfg.worker.incoming_reserved = 3;
    cfg.validate(Role::Worker).unwrap();
}
