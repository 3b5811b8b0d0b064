//! No drift between the Azure infrastructure and the binary: every container's args in
//! `infra/modules/apps.bicep` are a subcommand of this binary, every environment variable the
//! Bicep sets is one the configuration reads (`ENV_VARS`), and each app's configuration — the
//! Bicep's environment plus the mounted `infra/config/switchboard.toml` — passes the binary's
//! own `--check` (validation without network I/O), engines included.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use switchboard_worker::config::{Config, Role, ENV_VARS};

// The binary's backend registry, compiled here too: the backends' keys and variables are
// known only to it.
#[allow(dead_code)]
#[path = "../src/engines.rs"]
mod engines;

/// Variables `apps.bicep` sets that the binary does not read, each with its reason (mirrored
/// in `infra/validate.py`, `ENV_NOT_READ_BY_BINARY`).
const NOT_READ_BY_BINARY: &[(&str, &str)] = &[
    // The configuration's hash: changing it is what rolls a new revision.
    ("SWITCHBOARD_CONFIG_REVISION", "revision trigger"),
];

fn not_read(name: &str) -> bool {
    NOT_READ_BY_BINARY.iter().any(|(n, _)| *n == name)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One container of the Bicep: its args and its env (name → literal value, if literal).
#[derive(Debug, Default)]
struct Container {
    args: Vec<String>,
    env: BTreeMap<String, Option<String>>,
}

fn quoted(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches(',');
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.to_string())
}

/// A small reader for the shapes `apps.bicep` uses (`args: [ 'x' ]`, `env: [ { name: 'X'
/// value: … } ]`). It fails loudly on anything it does not understand rather than guessing.
fn containers(bicep: &str) -> Vec<Container> {
    let mut out: Vec<Container> = Vec::new();
    let lines: Vec<&str> = bicep.lines().map(str::trim).collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.starts_with("args: [") {
            let mut c = Container::default();
            i += 1;
            while lines[i] != "]" {
                c.args
                    .push(quoted(lines[i]).unwrap_or_else(|| panic!("arg {:?}", lines[i])));
                i += 1;
            }
            out.push(c);
        } else if l.starts_with("env: [") {
            let c = out.last_mut().expect("env after args");
            i += 1;
            let mut depth = 0;
            let mut name: Option<String> = None;
            while !(depth == 0 && lines[i] == "]") {
                let t = lines[i];
                if t == "{" {
                    depth += 1;
                } else if t == "}" {
                    depth -= 1;
                    name = None;
                } else if let Some(n) = t.strip_prefix("name: ") {
                    let n = quoted(n).unwrap_or_else(|| panic!("env name {t:?}"));
                    c.env.insert(n.clone(), None);
                    name = Some(n);
                } else if let Some(v) = t.strip_prefix("value: ") {
                    let n = name.clone().expect("value after name");
                    c.env.insert(n, quoted(v));
                }
                i += 1;
            }
        }
        i += 1;
    }
    out
}

/// A plausible value for a deployment-time parameter (what Bicep would fill in).
fn placeholder(name: &str) -> &'static str {
    match name {
        "SWITCHBOARD_SERVICEBUS_NAMESPACE" => "sb-switchboard.servicebus.windows.net",
        "SWITCHBOARD_SERVICEBUS_QUEUE" => "call-events",
        "SWITCHBOARD_REDIS_URL" => "rediss://switchboard.westeurope.redis.azure.net:10000",
        "SWITCHBOARD_ACS_ENDPOINT" => "https://acs-switchboard.communication.azure.com",
        "SWITCHBOARD_ACS_RESOURCE_ID" => "3f2b8a1e-5c4d-4e6f-9a8b-7c6d5e4f3a2b",
        "SWITCHBOARD_CALLBACK_URL" => "https://ingress.example.azurecontainerapps.io/api/callbacks",
        "SWITCHBOARD_GRAPH_TENANT_ID" => "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "AZURE_CLIENT_ID" => "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "APPLICATIONINSIGHTS_CONNECTION_STRING" => {
            "InstrumentationKey=00000000-0000-0000-0000-000000000000"
        }
        "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://localhost:4318",
        "SWITCHBOARD_METRICS_PORT" => "9090",
        "SWITCHBOARD_INGRESS_PORT" => "8080",
        "SWITCHBOARD_COGNITIVE_SERVICES_ENDPOINT" => {
            "https://ais-switchboard.cognitiveservices.azure.com/"
        }
        "SWITCHBOARD_CONFIG_REVISION" => "k3x7q2w9m4z1a",
        other => panic!("no placeholder for {other}: add one (and check the binary reads it)"),
    }
}

fn apps() -> Vec<Container> {
    let text = std::fs::read_to_string(repo().join("infra/modules/apps.bicep")).unwrap();
    let c = containers(&text);
    assert_eq!(c.len(), 2, "worker and ingress containers: {c:?}");
    c
}

#[test]
fn bicep_env_names_are_ones_the_binary_reads() {
    for c in apps() {
        for name in c.env.keys() {
            assert!(
                ENV_VARS.contains(&name.as_str()) || not_read(name),
                "apps.bicep sets {name} for `{}`, which the binary does not read (ENV_VARS)",
                c.args.join(" ")
            );
        }
    }
}

#[test]
fn mounted_config_file_parses_and_validates_for_the_worker_with_the_bicep_env() {
    let text = std::fs::read_to_string(repo().join("infra/config/switchboard.toml")).unwrap();
    let mut cfg = Config::from_toml_str(&text).expect("infra/config/switchboard.toml parses");
    let worker = apps()
        .into_iter()
        .find(|c| c.args == ["worker"])
        .expect("a worker container");
    let env: BTreeMap<String, String> = worker
        .env
        .iter()
        .filter(|(k, _)| k.as_str() != "SWITCHBOARD_CONFIG" && !not_read(k))
        .map(|(k, v)| {
            (
                k.clone(),
                v.clone().unwrap_or_else(|| placeholder(k).into()),
            )
        })
        .collect();
    cfg.apply_env(&env).expect("the Bicep env applies");
    cfg.validate(Role::Worker).expect("worker config validates");
    engines::hooks()
        .validate(&cfg, Role::Worker)
        .expect("the backends' keys validate");
}

#[test]
fn every_backend_variable_is_listed_in_env_vars() {
    for name in engines::hooks().env_vars() {
        assert!(
            ENV_VARS.contains(&name),
            "a backend reads {name}, missing from ENV_VARS"
        );
    }
}

/// Each container, run as Bicep runs it (its args, its env, the mounted config file for
/// `SWITCHBOARD_CONFIG`), passes `--check`.
#[test]
fn each_container_passes_the_binarys_own_check() {
    for c in apps() {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(&c.args).arg("--check");
        for k in ENV_VARS {
            cmd.env_remove(k);
        }
        for (k, v) in &c.env {
            let v = if k == "SWITCHBOARD_CONFIG" {
                repo()
                    .join("infra/config/switchboard.toml")
                    .display()
                    .to_string()
            } else {
                v.clone().unwrap_or_else(|| placeholder(k).into())
            };
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run switchboard");
        assert!(
            out.status.success(),
            "`switchboard {} --check` with the Bicep env failed: {}{}",
            c.args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_reader_understands_the_shapes_it_is_given() {
    let c = containers(
        "args: [\n'worker'\n]\nenv: [\n{\nname: 'A_B'\nvalue: 'x'\n}\n{\nname: 'C'\nsecretRef: s\n}\n]\n",
    );
    assert_eq!(c[0].args, ["worker"]);
    assert_eq!(c[0].env["A_B"], Some("x".to_string()));
    assert_eq!(c[0].env["C"], None);
}
