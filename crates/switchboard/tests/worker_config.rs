//! `switchboard worker --check`: a routing configuration with text/SSML prompts needs Azure AI
//! services on the call (`acs.cognitive_services_endpoint`), or it is refused with exit 64
//! naming the key, before any network I/O. Audio-file prompts need nothing.

use std::process::Command;

const BASE: &str = "[acs]\nconnection_string = \"endpoint=https://x.communication.azure.com/;accesskey=a2V5\"\ncallback_url = \"https://ingress.example.com/api/callbacks\"\n";

fn check(toml: &str, env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["worker", "--check", "-c"]).arg(&path);
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

const TEXT_MENU: &str = "[routing.queues.main]\nivr = { prompt = { text = \"Press 1 for sales.\", locale = \"en-US\" }, options = { \"1\" = \"main\" } }\n";

#[test]
fn text_prompts_without_ai_services_are_a_configuration_error() {
    let out = check(&format!("{BASE}{TEXT_MENU}"), &[]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("acs.cognitive_services_endpoint"), "{err}");
    assert!(err.contains("routing.queues.main.ivr.prompt"), "{err}");

    // An SSML overflow announcement too.
    let ssml = format!(
        "{BASE}[routing.queues.main]\noverflow = {{ announcement = {{ ssml = \"<speak>Closed</speak>\" }} }}\n"
    );
    let out = check(&ssml, &[]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("routing.queues.main.overflow.announcement")
    );
}

#[test]
fn the_endpoint_in_the_file_or_the_environment_allows_text_prompts() {
    let with = format!(
        "{}cognitive_services_endpoint = \"https://contoso-ai.cognitiveservices.azure.com/\"\n{TEXT_MENU}",
        BASE
    );
    let out = check(&with, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = check(
        &format!("{BASE}{TEXT_MENU}"),
        &[(
            "SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT",
            "https://contoso-ai.cognitiveservices.azure.com/",
        )],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // Not a URL: refused, naming the key.
    let bad = format!(
        "{}cognitive_services_endpoint = \"contoso-ai\"\n{TEXT_MENU}",
        BASE
    );
    let out = check(&bad, &[]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("acs.cognitive_services_endpoint"));
}

#[test]
fn audio_file_prompts_need_no_ai_services() {
    let files = format!(
        "{BASE}[routing.queues.main]\nivr = {{ prompt = {{ url = \"https://example.com/menu.wav\" }}, options = {{ \"1\" = \"main\" }} }}\nhold_music = {{ url = \"https://example.com/hold.wav\" }}\n"
    );
    let out = check(&files, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
