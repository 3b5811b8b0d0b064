//! Starts and stops the processes of one deployment and talks to them.
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_redis::testing::RedisServer;
use switchboard_redis::{RedisOptions, RedisStore};
use switchboard_servicebus::peer::TestPeer;
use switchboard_store::sqlite::SqliteStore;
use switchboard_store::Store;
use switchboard_testkit::{fixtures, DeploymentConfig, SimEndpoints};

pub const LINE: &str = "+18005550101";

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

pub struct WorldOptions {
    pub workers: usize,
    /// One entry per simulated Teams agent: how it answers (the simulator's `behaviour`
    /// JSON), its skill and level (higher is offered first).
    pub agents: Vec<(Value, &'static str, u32)>,
    /// The `[routing]` table without agents (a fixture).
    pub routing: &'static str,
    /// Numbers we serve.
    pub lines: Vec<&'static str>,
    /// How long an agent talks before hanging up.
    pub talk_time: Duration,
    /// Queues and store: one SQLite file, or the Service Bus AMQP test peer (on this
    /// loopback address, port 5672) and a real `redis-server`.
    pub engines: Engines,
    /// Messages one worker process handles at once.
    pub worker_concurrency: usize,
    /// Message and session lock duration: how soon a killed worker's work comes back.
    pub lock_duration_secs: u64,
    /// More TOML appended to the configuration file (a table of its own, e.g. `[stats]`).
    pub extra_toml: &'static str,
}

/// Which engines the deployment runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engines {
    Sqlite,
    /// SQLite queues, Redis store.
    SqliteAndRedis,
    ServiceBusAndRedis(std::net::Ipv4Addr),
}

/// The Redis key prefix of a distributed world.
const REDIS_PREFIX: &str = "e2e";

/// An agent that picks up after 200 ms.
pub fn accepts() -> Value {
    json!({"type": "accept", "afterMs": 200})
}

impl Default for WorldOptions {
    fn default() -> Self {
        Self {
            workers: 2,
            agents: vec![(accepts(), "support", 3); 4],
            routing: fixtures::E2E_SUPPORT,
            lines: vec![LINE],
            talk_time: Duration::from_millis(1500),
            engines: Engines::Sqlite,
            worker_concurrency: 8,
            lock_duration_secs: 4,
            extra_toml: "",
        }
    }
}

/// A child process that is killed when dropped, with its stdout lines on a channel.
struct Proc {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(name: &str, cmd: Command) -> Self {
        Self::spawn_logged(name, cmd, None)
    }

    /// Like `spawn`, with stderr (the logs) appended to `log`.
    fn spawn_logged(name: &str, mut cmd: Command, log: Option<&Path>) -> Self {
        let stderr = match log {
            Some(p) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map(Stdio::from)
                .unwrap_or_else(|e| panic!("log file {}: {e}", p.display())),
            None => Stdio::null(),
        };
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            name: name.to_string(),
            child,
            lines,
        }
    }

    /// The first stdout line that `pick` accepts, within `timeout`.
    fn wait_line<T>(&mut self, timeout: Duration, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(v) = pick(&line) {
                        return v;
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!(
                        "{}: expected startup line not seen (exit: {status:?})",
                        self.name
                    )
                }
            }
        }
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }

    /// SIGTERM, then wait for a clean exit (SIGKILL after `grace`).
    fn stop(mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        self.signal("-TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub control: String,
    http: reqwest::Client,
    sim: Option<Proc>,
    ingress: Option<Proc>,
    workers: Vec<Option<Proc>>,
    /// Each worker's status listener (`http://127.0.0.1:port`), in start order.
    pub status_urls: Vec<String>,
    peer: Option<TestPeer>,
    redis: Option<RedisServer>,
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn agent_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", 0x5eed_0000 + i, i)
}

impl World {
    pub async fn start(opts: WorldOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ingress_port = free_port();
        let ingress_url = format!("http://127.0.0.1:{ingress_port}");

        let mut cmd = Command::new(bin());
        cmd.args([
            "sim",
            "--port",
            "0",
            "--random-seed",
            "11",
            "--sink-url",
            &format!("{ingress_url}/api/incoming-calls"),
        ]);
        let mut sim = Proc::spawn("sim", cmd);
        let info: Value = sim.wait_line(Duration::from_secs(30), |l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v.get("controlUrl").is_some())
        });
        let s = |k: &str| info[k].as_str().unwrap_or_default().to_string();
        let control = s("controlUrl");

        let endpoints = SimEndpoints {
            connection_string: s("connectionString"),
            resource_id: s("resourceId"),
            openid_config_url: s("openidConfigurationUrl"),
            callback_issuer: s("callbackIssuer"),
            graph_base_url: s("graphBaseUrl"),
            cognitive_services_endpoint: s("cognitiveServicesEndpoint"),
        };

        // The roster: the routing table names the agents the simulator plays.
        let mut routing = fixtures::routing_table(opts.routing);
        let mut agents = Vec::new();
        for (i, (behaviour, skill, level)) in opts.agents.iter().enumerate() {
            let id = agent_id(i);
            fixtures::add_agent(&mut routing, &id, &format!("Agent {i}"), skill, *level);
            agents.push(json!({
                "id": id,
                "displayName": format!("Agent {i}"),
                "userPrincipalName": format!("agent{i}@contoso.example"),
                "presence": {"availability": "Available", "activity": "Available"},
                "behaviour": behaviour,
                "talkTimeMs": opts.talk_time.as_millis() as u64,
            }));
        }
        let db = dir.path().join("switchboard.db");
        let config = dir.path().join("switchboard.toml");
        let mut deployment = DeploymentConfig::new(
            endpoints,
            SocketAddr::from(([127, 0, 0, 1], ingress_port)),
            db,
        );
        deployment.numbers = opts.lines.iter().map(|l| l.to_string()).collect();
        deployment.lock_duration_secs = opts.lock_duration_secs;
        deployment.concurrency = opts.worker_concurrency;
        deployment.command_deadline_ms = 8000;
        deployment.grace_period_secs = Some(3);
        deployment.metrics_port = Some(0);
        deployment.eventgrid_webhook = true;
        deployment.graph_token = Some("e2e-graph-token".into());
        deployment.routing = routing;
        let (mut peer, mut redis) = (None, None);
        let mut use_redis = |deployment: &mut DeploymentConfig| {
            let r = RedisServer::start().expect("start redis-server");
            let store = &mut deployment.store_extra;
            store.insert("kind".into(), "redis".into());
            store.insert("redis_url".into(), r.url().to_string().into());
            store.insert("key_prefix".into(), REDIS_PREFIX.into());
            redis = Some(r);
        };
        if opts.engines == Engines::SqliteAndRedis {
            use_redis(&mut deployment);
        }
        if let Engines::ServiceBusAndRedis(ip) = opts.engines {
            let mut cfg = switchboard_worker::config::Config::default();
            cfg.queue.lock_duration_secs = opts.lock_duration_secs;
            let (plain, sessions) = switchboard_worker::backend::queue_configs(&cfg);
            let p = TestPeer::start_near(
                ip,
                &[
                    (cfg.queue.incoming_queue.as_str(), plain),
                    (cfg.queue.events_queue.as_str(), sessions),
                    (
                        cfg.queue.rejects_queue.as_str(),
                        switchboard_worker::backend::rejects_queue_config(&cfg),
                    ),
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("Service Bus test peer on {ip}: {e}"));
            let queue = &mut deployment.queue_extra;
            queue.insert("kind".into(), "servicebus".into());
            queue.insert(
                "servicebus_connection_string".into(),
                format!("{};UseDevelopmentEmulator=true", p.connection_string()).into(),
            );
            peer = Some(p);
            use_redis(&mut deployment);
        }
        deployment.write(&config).expect("write config");
        if !opts.extra_toml.is_empty() {
            let mut text = std::fs::read_to_string(&config).expect("read config");
            text.push('\n');
            text.push_str(opts.extra_toml);
            std::fs::write(&config, text).expect("write config");
        }

        let http = reqwest::Client::new();
        let ok = |r: reqwest::Response| {
            assert!(r.status().is_success(), "control API: {}", r.status());
        };
        ok(http
            .post(format!("{control}/agents"))
            .json(&agents)
            .send()
            .await
            .expect("seed agents"));
        ok(http
            .post(format!("{control}/numbers"))
            .json(
                &opts
                    .lines
                    .iter()
                    .map(|n| json!({"number": n}))
                    .collect::<Vec<_>>(),
            )
            .send()
            .await
            .expect("seed numbers"));

        let mut ingress = Proc::spawn_logged(
            "ingress",
            {
                let mut c = Command::new(bin());
                c.args(["ingress", "-c"]).arg(&config);
                scrub(&mut c);
                c
            },
            Some(&dir.path().join("ingress.log")),
        );
        ingress.wait_line(Duration::from_secs(30), |l| {
            l.starts_with("switchboard ingress listening").then_some(())
        });
        let mut world = Self {
            dir,
            config,
            control,
            http,
            sim: Some(sim),
            ingress: Some(ingress),
            workers: Vec::new(),
            status_urls: Vec::new(),
            peer,
            redis,
        };
        for _ in 0..opts.workers {
            world.add_worker();
        }
        world
    }

    pub fn add_worker(&mut self) {
        let mut c = Command::new(bin());
        c.args(["worker", "-c"]).arg(&self.config);
        scrub(&mut c);
        c.env("RUST_LOG", "info,switchboard_worker=debug");
        let log = self
            .dir
            .path()
            .join(format!("worker-{}.log", self.workers.len()));
        let mut w = Proc::spawn_logged(&format!("worker {}", self.workers.len()), c, Some(&log));
        // `… metrics on http://0.0.0.0:PORT/metrics`, printed before `ready`.
        let port = w.wait_line(Duration::from_secs(30), |l| {
            l.strip_prefix("switchboard worker metrics on http://")
                .and_then(|rest| rest.split_once("/metrics"))
                .and_then(|(addr, _)| addr.rsplit_once(':'))
                .map(|(_, port)| port.to_string())
        });
        self.status_urls.push(format!("http://127.0.0.1:{port}"));
        w.wait_line(Duration::from_secs(30), |l| {
            l.starts_with("switchboard worker ready").then_some(())
        });
        self.workers.push(Some(w));
    }

    /// SIGKILL worker `i`: no drain, no settlement, exactly like a crashed replica.
    pub fn kill_worker(&mut self, i: usize) {
        if let Some(mut w) = self.workers[i].take() {
            let _ = w.child.kill();
            let _ = w.child.wait();
        }
    }

    /// A customer dials the line; returns the correlation id. `duplicate`: Event Grid
    /// delivers the IncomingCall twice.
    pub async fn place_call(&self, from: &str, duplicate: bool) -> String {
        self.dial(json!({"from": from, "to": LINE, "duplicateDelivery": duplicate}))
            .await
    }

    /// [`World::place_call`] with an owned caller number (for many calls at once).
    pub async fn place_call_to_line(&self, from: String, duplicate: bool) -> String {
        self.place_call(&from, duplicate).await
    }

    /// Starts a call with the simulator's `StartCall` JSON; returns the correlation id.
    pub async fn dial(&self, call: Value) -> String {
        let r = self
            .http
            .post(format!("{}/calls", self.control))
            .json(&call)
            .send()
            .await
            .expect("start call");
        assert!(r.status().is_success(), "start call: {}", r.status());
        let v: Value = r.json().await.expect("call handle");
        v["correlationId"]
            .as_str()
            .expect("correlationId")
            .to_string()
    }

    /// The caller hangs up (`POST /calls/{id}/hangup`).
    pub async fn hang_up_caller(&self, call: &str) {
        let r = self
            .http
            .post(format!("{}/calls/{call}/hangup", self.control))
            .send()
            .await
            .expect("hang up");
        assert!(r.status().is_success(), "hang up {call}: {}", r.status());
    }

    /// How long agent `i` talks before hanging up (`PUT /agents/{id}/talk-time`).
    pub async fn set_talk_time(&self, i: usize, talk: Duration) {
        let r = self
            .http
            .put(format!("{}/agents/{}/talk-time", self.control, agent_id(i)))
            .json(&json!({"talkTimeMs": talk.as_millis() as u64}))
            .send()
            .await
            .expect("talk time");
        assert!(r.status().is_success(), "talk time: {}", r.status());
    }

    /// A GET on worker `i`'s status listener: (status, body).
    pub async fn worker_get(&self, i: usize, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.status_urls[i]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} on worker {i}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// Sets the simulator's fault injection (`PUT /faults`).
    pub async fn faults(&self, faults: Value) {
        let r = self
            .http
            .put(format!("{}/faults", self.control))
            .json(&faults)
            .send()
            .await
            .expect("faults");
        assert!(r.status().is_success(), "faults: {}", r.status());
    }

    /// Every worker log line that mentions `needle` (a call id), prefixed with the worker.
    pub fn worker_logs_mentioning(&self, needle: &str) -> String {
        let mut out = String::new();
        for i in 0..self.workers.len() {
            let path = self.dir.path().join(format!("worker-{i}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains(needle)) {
                out.push_str(&format!("[worker {i}] {line}\n"));
            }
        }
        out
    }

    /// The simulator's timeline of one call (requests, events, participants), for diagnosis.
    pub async fn timeline(&self, call: &str) -> Value {
        match self
            .http
            .get(format!("{}/calls/{call}/timeline", self.control))
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => json!(format!("timeline: {e}")),
        }
    }

    pub async fn ledger(&self) -> Value {
        self.http
            .get(format!("{}/ledger", self.control))
            .send()
            .await
            .expect("ledger")
            .json()
            .await
            .expect("ledger JSON")
    }

    /// Waits until the workers archived each call's state (the call is over and cleaned up).
    pub async fn wait_archived(
        &self,
        calls: &[String],
        timeout: Duration,
    ) -> BTreeMap<String, Value> {
        let store = self.store().await;
        let deadline = Instant::now() + timeout;
        let mut ended = BTreeMap::new();
        while ended.len() < calls.len() && Instant::now() < deadline {
            for c in calls {
                if ended.contains_key(c) {
                    continue;
                }
                if let Ok(Some(a)) = store.get_archived_call(c).await {
                    ended.insert(c.clone(), a.doc);
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ended
    }

    /// The deployment's store, as a replica opens it.
    pub async fn store(&self) -> Box<dyn Store> {
        match &self.redis {
            Some(r) => Box::new(
                RedisStore::connect(RedisOptions::new(r.url(), REDIS_PREFIX))
                    .await
                    .expect("open the redis store"),
            ),
            None => Box::new(
                SqliteStore::open(self.dir.path().join("switchboard.db"))
                    .await
                    .expect("open the store"),
            ),
        }
    }

    /// Runs the CLI against this deployment's configuration.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut c = Command::new(bin());
        c.args(args);
        scrub(&mut c);
        c.env("SWITCHBOARD_CONFIG", &self.config);
        c.output().expect("run switchboard")
    }

    /// Waits until both queues are drained, then returns the dead letters (`dlq list --json`);
    /// gives up at `timeout` with what is there.
    pub async fn wait_dead_letters(&self, expected: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.cli(&["dlq", "list", "--json"]);
            let got: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
            if (got.len() >= expected && self.queues_idle()) || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn queues_idle(&self) -> bool {
        if let Some(peer) = &self.peer {
            // What the broker holds, read from its backing queues.
            let rt = tokio::runtime::Handle::current();
            let cfg = switchboard_worker::config::Config::default();
            return tokio::task::block_in_place(|| {
                rt.block_on(async {
                    for name in [&cfg.queue.incoming_queue, &cfg.queue.events_queue] {
                        let Some(q) = peer.backing_queue(name) else {
                            return false;
                        };
                        match q.receiver.runtime_properties().await {
                            Ok(p) if p.active_message_count == 0 => {}
                            _ => return false,
                        }
                    }
                    true
                })
            });
        }
        // The worker's queue gauges are not needed: peek through the CLI-independent port.
        let db = self.dir.path().join("switchboard.db");
        let rt = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| {
            rt.block_on(async {
                let ns = match switchboard_queue::sqlite::SqliteNamespace::open(&db).await {
                    Ok(ns) => ns,
                    Err(_) => return false,
                };
                let cfg = switchboard_worker::config::Config::default();
                let (plain, sessions) = switchboard_worker::backend::queue_configs(&cfg);
                for (name, qc) in [
                    (cfg.queue.incoming_queue.clone(), plain),
                    (cfg.queue.events_queue.clone(), sessions),
                ] {
                    let Ok(q) = ns.ensure_queue(&name, qc).await else {
                        return false;
                    };
                    match q.handle().receiver.runtime_properties().await {
                        Ok(p) if p.active_message_count == 0 => {}
                        _ => return false,
                    }
                }
                true
            })
        })
    }

    /// Stops everything; workers and ingress get SIGTERM and must exit cleanly.
    pub async fn shutdown(mut self) {
        for w in self.workers.drain(..).flatten() {
            let name = w.name.clone();
            let status = w.stop(Duration::from_secs(15));
            assert!(
                status.is_some_and(|s| s.success()),
                "{name} did not exit cleanly on SIGTERM: {status:?}"
            );
        }
        if let Some(i) = self.ingress.take() {
            let status = i.stop(Duration::from_secs(10));
            assert!(status.is_some_and(|s| s.success()), "ingress: {status:?}");
        }
        if let Some(s) = self.sim.take() {
            let _ = s.stop(Duration::from_secs(5));
        }
        if let Some(p) = self.peer.take() {
            p.shutdown().await;
        }
    }
}

/// With `E2E_KEEP_LOGS=<dir>`, the processes' logs are copied there when the world ends (passed
/// or failed), for reading a run after the fact.
impl Drop for World {
    fn drop(&mut self) {
        let Some(keep) = std::env::var_os("E2E_KEEP_LOGS") else {
            return;
        };
        let keep = PathBuf::from(keep);
        let _ = std::fs::create_dir_all(&keep);
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    let _ = std::fs::copy(e.path(), keep.join(e.file_name()));
                }
            }
        }
    }
}

/// Keeps the developer's environment out of the children's configuration.
fn scrub(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("SWITCHBOARD_") || k == "OTEL_EXPORTER_OTLP_ENDPOINT" || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
}
