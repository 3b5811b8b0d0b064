//! What the side-by-side and start-up benchmarks share: the `switchboard sim` process they
//! drive over its control API, and the configuration our ingress and workers run with.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;
use switchboard_testkit::{DeploymentConfig, SimEndpoints};
use tokio::process::Command;

use super::procs::{free_port, Proc};

/// The line every benchmark call dials.
pub const LINE: &str = "+18005550101";
/// How long a child process may take to print its ready line.
pub const READY: Duration = Duration::from_secs(60);

/// Where a benchmark keeps its files: `data_dir` (created) when given, else a temporary
/// directory, returned too so it lives as long as the run.
pub fn run_dir(data_dir: Option<&Path>) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let temp = tempfile::tempdir().context("temporary directory")?;
    let dir = match data_dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("{}", d.display()))?;
            d.to_path_buf()
        }
        None => temp.path().to_path_buf(),
    };
    Ok((temp, dir))
}

/// The simulator and what every side needs from it.
pub struct Sim {
    _proc: Proc,
    control: String,
    pub endpoints: SimEndpoints,
    http: reqwest::Client,
}

impl Sim {
    pub async fn put(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let r = self
            .http
            .put(format!("{}{path}", self.control))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "PUT {path}: {}", r.status());
        Ok(())
    }
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.control))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "POST {path}: {}", r.status());
        Ok(r.json().await.unwrap_or(Value::Null))
    }
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let r = self
            .http
            .get(format!("{}{path}", self.control))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "GET {path}: {}", r.status());
        Ok(r.json().await?)
    }
}

/// The Entra object id of benchmark agent `i`.
pub fn agent_oid(i: usize) -> String {
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        0xbe4c_0000u32 + i as u32,
        i
    )
}

/// Starts `switchboard sim` on a free port.
pub async fn start_sim(me: &Path, dir: &Path) -> anyhow::Result<Sim> {
    let mut cmd = Command::new(me);
    cmd.args(["sim", "--port", "0", "--random-seed", "18"]);
    scrub(&mut cmd);
    let (proc, line) = Proc::start("sim", cmd, &dir.join("sim.log"), "{", READY).await?;
    let info: Value = serde_json::from_str(&line).context("the simulator's ready line")?;
    let s = |k: &str| info[k].as_str().unwrap_or_default().to_string();
    Ok(Sim {
        _proc: proc,
        control: s("controlUrl"),
        endpoints: SimEndpoints {
            connection_string: s("connectionString"),
            resource_id: s("resourceId"),
            openid_config_url: s("openidConfigurationUrl"),
            callback_issuer: s("callbackIssuer"),
            graph_base_url: s("graphBaseUrl"),
            cognitive_services_endpoint: s("cognitiveServicesEndpoint"),
        },
        http: reqwest::Client::new(),
    })
}

/// Keeps the developer's environment out of the children's configuration.
pub fn scrub(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") || k == "OTEL_EXPORTER_OTLP_ENDPOINT" || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
}

/// Runs our process with the environment the container image gives it.
/// - `MALLOC_ARENA_MAX` (`arenas`; 0 leaves glibc's default), for SQLite's allocations, which
///   go to glibc (Rust's go to mimalloc). glibc gives threads up to 8 malloc arenas per core,
///   and the worker's blocking-pool threads (SQLite) each end up with one: at 300 calls in
///   flight a worker held 19 MiB of anonymous memory with the default, 11 MiB with 2 arenas
///   (peak RSS 38-40 → 31-33 MiB; measured before mimalloc).
/// - `MIMALLOC_PURGE_DELAY=0`: mimalloc gives freed pages back at once instead of after a
///   second.
pub fn as_shipped(c: &mut Command, arenas: usize) {
    if arenas > 0 {
        c.env("MALLOC_ARENA_MAX", arenas.to_string());
    }
    c.env("MIMALLOC_PURGE_DELAY", "0");
}

/// Writes the configuration of our ingress and workers (callback JWTs checked, Graph presence
/// on, the Event Grid webhook on; the AMQP peer's connection string when given) into `dir`;
/// returns its path and the ingress port.
pub fn write_ours_config(
    sim: &Sim,
    dir: &Path,
    amqp: Option<&str>,
    oids: &[String],
    worker_concurrency: Option<usize>,
) -> anyhow::Result<(PathBuf, u16)> {
    let port = free_port()?;
    let mut routing: toml::Table =
        "default_queue = \"support\"\n\n[agent_defaults]\nwrap_up_secs = 0\n\n\
         [queues.support]\nrequired_skills = { support = 1 }\nstrategy = \"longest-idle\"\n\
         ring_timeout_secs = 10\nwait_retry_secs = 1\nmax_attempts = 5\nmax_wait_secs = 120\n\
         overflow = \"hangup\"\n\n[[rules]]\ndialed = [\"+18005550101\"]\nqueue = \"support\"\n"
            .parse()
            .context("routing table")?;
    for (i, oid) in oids.iter().enumerate() {
        switchboard_testkit::fixtures::add_agent(
            &mut routing,
            oid,
            &format!("Agent {i}"),
            "support",
            3,
        );
    }
    let mut d = DeploymentConfig::new(
        sim.endpoints.clone(),
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        dir.join("switchboard.db"),
    );
    d.numbers = vec![LINE.to_string()];
    d.concurrency = worker_concurrency
        .unwrap_or_else(|| switchboard_worker::config::WorkerConfig::default().concurrency);
    d.eventgrid_webhook = true;
    d.graph_token = Some("bench-graph-token".into());
    d.routing = routing;
    if let Some(conn) = amqp {
        d.queue_extra.insert("kind".into(), "servicebus".into());
        d.queue_extra
            .insert("servicebus_connection_string".into(), conn.into());
        d.store_path = Some(dir.join("store.db"));
    }
    let config = dir.join("switchboard.toml");
    d.write(&config).context("writing the configuration")?;
    Ok((config, port))
}
