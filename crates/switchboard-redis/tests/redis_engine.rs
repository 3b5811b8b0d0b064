//! Redis-specific behaviour the backend-independent conformance suite cannot see: token
//! authentication (and that tokens never leak into errors), outages, the key layout and
//! prefix isolation, and reclaiming a reservation whose holder died. Each test starts its own
//! `redis-server`; without the binary they skip locally and fail under CI.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use serde_json::json;

use switchboard_redis::testing::RedisServer;
use switchboard_redis::{
    AccessToken, RedisAuth, RedisOptions, RedisStore, TimeSource, TokenSource,
};
use switchboard_store::{
    AgentProfile, CasOutcome, ManualClock, ReservationState, Store, StoreError, TeamsUserId,
};

// ------------------------------------------------------------------------------ helpers

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn id(s: &str) -> TeamsUserId {
    TeamsUserId::new(s)
}

/// Options with short timeouts, so failures show within a few seconds.
fn options(url: &str, prefix: &str) -> RedisOptions {
    let mut o = RedisOptions::new(url, prefix);
    o.connect_timeout = Duration::from_secs(1);
    o.response_timeout = Duration::from_secs(1);
    o
}

/// Unwraps a store result, naming the operation on failure.
fn ok<T>(what: &str, r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{what} failed: {e} ({e:?})"))
}

/// Bounds a future so a hang fails the test instead of stalling the run.
async fn bounded<F: std::future::Future>(what: &str, limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
}

/// A raw client connection (not through the store), for inspecting the server.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("raw redis connection")
}

async fn keys(url: &str) -> Vec<String> {
    let mut c = raw(url).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut c)
        .await
        .expect("KEYS");
    keys.sort();
    keys
}

/// A token source for tests: counts requests; `switch` makes later tokens name `next_user`.
struct TestTokens {
    user: String,
    next_user: String,
    token: String,
    valid_for: Duration,
    switch: AtomicBool,
    calls: AtomicUsize,
}

impl TestTokens {
    fn new(user: &str, token: &str, valid_for: Duration) -> Arc<Self> {
        Arc::new(Self {
            user: user.to_owned(),
            next_user: user.to_owned(),
            token: token.to_owned(),
            valid_for,
            switch: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        })
    }

    /// Like [`new`](Self::new), but after `switch` is set tokens name `next_user`.
    fn switching(user: &str, next_user: &str, token: &str, valid_for: Duration) -> Arc<Self> {
        let mut t = Self::new(user, token, valid_for);
        Arc::get_mut(&mut t).expect("unshared").next_user = next_user.to_owned();
        t
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

// Deliberately without the token, like a real source must be: the store prints its options.
impl std::fmt::Debug for TestTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestTokens")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl TokenSource for TestTokens {
    fn token(&self) -> BoxFuture<'static, Result<AccessToken, String>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let username = if self.switch.load(Ordering::SeqCst) {
            self.next_user.clone()
        } else {
            self.user.clone()
        };
        let t = AccessToken {
            username,
            token: self.token.clone(),
            valid_for: self.valid_for,
        };
        Box::pin(async move { Ok(t) })
    }
}

/// A token source that always fails (an identity endpoint that is down).
#[derive(Debug)]
struct FailingTokens;

impl TokenSource for FailingTokens {
    fn token(&self) -> BoxFuture<'static, Result<AccessToken, String>> {
        Box::pin(async { Err("identity endpoint unreachable".to_owned()) })
    }
}

fn token_options(url: &str, prefix: &str, source: Arc<dyn TokenSource>) -> RedisOptions {
    let mut o = options(url, prefix);
    o.auth = RedisAuth::Token(source);
    o
}

/// The server binary, as `testing` finds it.
fn server_binary() -> PathBuf {
    std::env::var_os("SWITCHBOARD_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

/// A `redis-server` on a given port (to bring a killed server back on the same address).
struct Restarted {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Restarted {
    fn start(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(server_binary())
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let deadline = Instant::now() + secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("restarted redis-server on port {port} exited: {status}");
            }
            assert!(Instant::now() < deadline, "restarted redis-server not up");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, _dir: dir }
    }
}

impl Drop for Restarted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------------------------ a. auth

/// ACL users: `worker`/`worker2` (password `tok-1`), `admin` (password `adminpw`) for the
/// test's own inspection; the default user is off, so nothing works unauthenticated.
fn acl_server() -> RedisServer {
    RedisServer::start_with(&[
        "--user", "worker", "on", ">tok-1", "~*", "&*", "+@all", //
        "--user", "worker2", "on", ">tok-1", "~*", "&*", "+@all", //
        "--user", "admin", "on", ">adminpw", "~*", "&*", "+@all", //
        "--user", "default", "off",
    ])
    .expect("redis-server with ACL users")
}

fn admin_url(server: &RedisServer) -> String {
    format!("redis://admin:adminpw@127.0.0.1:{}", server.port())
}

/// The users the server's clients (other than `admin`) are authenticated as.
async fn client_users(server: &RedisServer) -> Vec<String> {
    let mut c = raw(&admin_url(server)).await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut c)
        .await
        .expect("CLIENT LIST");
    list.lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("user=")))
        .filter(|u| *u != "admin")
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_connects_and_renews_on_the_live_connection() {
    if !RedisServer::required_or_skip() {
        return;
    }
    let server = acl_server();

    // Without credentials the server refuses (so the token below is what lets us in).
    let err = bounded(
        "unauthenticated connect",
        secs(10),
        RedisStore::connect(options(&server.url(), "auth")),
    )
    .await
    .expect_err("the default user is off; connecting without auth must fail");
    assert!(
        !err.is_retryable(),
        "missing auth is not retryable: {err:?}"
    );

    // Tokens valid for 2 s: renewed every 1.6 s on the live connection.
    let tokens = TestTokens::switching("worker", "worker2", "tok-1", secs(2));
    let source: Arc<dyn TokenSource> = tokens.clone();
    let store = bounded(
        "token connect",
        secs(10),
        RedisStore::connect(token_options(&server.url(), "auth", source)),
    )
    .await
    .expect("token auth connects");
    assert!(tokens.calls() >= 1, "the token source was asked");
    assert!(
        !format!("{store:?}").contains("tok-1"),
        "store Debug shows no token"
    );

    ok(
        "upsert_agent",
        store
            .upsert_agent(&AgentProfile::new(id("oid-a")).with_capacity(2))
            .await,
    );
    let r = ok(
        "reserve",
        store.reserve(&id("oid-a"), "call-1", secs(30)).await,
    )
    .expect("agent reservable");
    assert_eq!(
        ok("get_agent", store.get_agent(&id("oid-a")).await)
            .expect("agent exists")
            .reserved,
        1
    );
    assert!(client_users(&server).await.iter().all(|u| u == "worker"));

    // From now on the source names `worker2`: once the store has re-authenticated its live
    // connection (no reconnect), the server lists that connection under the new user.
    tokens.switch.store(true, Ordering::SeqCst);
    let before = tokens.calls();
    let deadline = Instant::now() + secs(8);
    loop {
        let users = client_users(&server).await;
        if !users.is_empty() && users.iter().all(|u| u == "worker2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the connection was not re-authenticated with the renewed token: users {users:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tokens.calls() > before, "renewal asked the source again");

    // Still working after the renewal, on the same data.
    let renewed = ok("renew", store.renew(&r, secs(30)).await).expect("still held");
    assert_eq!(renewed.token, r.token);
    assert!(ok("release", store.release(&r, Duration::ZERO).await));

    // Renewal is paced by the token lifetime, not a busy loop: over ~3 s with 2 s tokens a
    // connection asks a handful of times at most.
    let start = tokens.calls();
    tokio::time::sleep(secs(3)).await;
    let asked = tokens.calls() - start;
    assert!(
        (1..=6).contains(&asked),
        "{asked} token requests in 3 s for 2 s tokens"
    );
    ok("ping", store.ping().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_fails_connect_without_leaking_it() {
    if !RedisServer::required_or_skip() {
        return;
    }
    let server = acl_server();
    const SECRET: &str = "tok-wrong-0123456789";

    let tokens = TestTokens::new("worker", SECRET, secs(3600));
    let source: Arc<dyn TokenSource> = tokens.clone();
    let started = Instant::now();
    let err = bounded(
        "connect with a wrong token",
        secs(15),
        RedisStore::connect(token_options(&server.url(), "auth", source)),
    )
    .await
    .expect_err("a wrong token must not connect");
    assert!(
        started.elapsed() < secs(10),
        "a rejected token fails promptly"
    );
    assert!(tokens.calls() >= 1);
    assert!(
        !err.is_retryable(),
        "a rejected credential is not retryable: {err:?}"
    );
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains(SECRET), "error shows the token: {shown}");
    assert!(
        shown.to_ascii_lowercase().contains("auth") || shown.contains("WRONGPASS"),
        "error says authentication failed: {shown}"
    );

    // The same for a password in the URL.
    let url = format!("redis://worker:{SECRET}@127.0.0.1:{}", server.port());
    let err = bounded(
        "connect with a wrong password",
        secs(15),
        RedisStore::connect(options(&url, "auth")),
    )
    .await
    .expect_err("a wrong password must not connect");
    assert!(!err.is_retryable(), "{err:?}");
    let shown = format!("{err} / {err:?}");
    assert!(!shown.contains(SECRET), "error shows the password: {shown}");

    // And the right password in the URL works.
    let url = format!("redis://worker:tok-1@127.0.0.1:{}", server.port());
    let store = bounded(
        "connect with the URL password",
        secs(10),
        RedisStore::connect(options(&url, "auth")),
    )
    .await
    .expect("URL password connects");
    assert!(!format!("{store:?}").contains("tok-1"));
    ok("ping", store.ping().await);

    // A source that cannot produce a token (identity endpoint down) fails the connect with
    // its reason, retryable: it is an outage, not a rejected credential.
    let err = bounded(
        "connect with a failing token source",
        secs(15),
        RedisStore::connect(token_options(
            &server.url(),
            "auth",
            Arc::new(FailingTokens),
        )),
    )
    .await
    .expect_err("no token, no connection");
    assert!(err.is_retryable(), "{err} ({err:?})");
    let shown = format!("{err} / {err:?}");
    assert!(
        shown.contains("access token request failed"),
        "error names the token request: {shown}"
    );
}

#[test]
fn access_token_debug_hides_the_token() {
    let t = AccessToken {
        username: "00000000-aaaa-bbbb-cccc-000000000000".into(),
        token: "eyJ0eXAiOiJKV1QiLCJhbGciOi.secret-part".into(),
        valid_for: secs(3600),
    };
    let shown = format!("{t:?} {t:#?}");
    assert!(!shown.contains("secret-part"), "{shown}");
    assert!(!shown.contains("eyJ0eXAi"), "{shown}");
    assert!(shown.contains("00000000-aaaa-bbbb-cccc-000000000000"));
    let auth = RedisAuth::Token(TestTokens::new("u", "tok-hidden", secs(1)));
    let mut o = RedisOptions::new("redis://u:pw-hidden@127.0.0.1:1", "p");
    o.auth = auth;
    let shown = format!("{o:?}");
    assert!(
        !shown.contains("tok-hidden") && !shown.contains("pw-hidden"),
        "{shown}"
    );
}

// ------------------------------------------------------------------------------ b. outages

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_fails_retryable_and_recovers() {
    if !RedisServer::required_or_skip() {
        return;
    }
    let mut server = RedisServer::start().expect("redis-server");
    let port = server.port();
    let store = bounded(
        "connect",
        secs(10),
        RedisStore::connect(options(&server.url(), "outage")),
    )
    .await
    .expect("connect");
    ok(
        "upsert_agent",
        store.upsert_agent(&AgentProfile::new(id("oid-a"))).await,
    );

    server.kill();

    // Every operation now fails, promptly and retryable, whether it is the first after the
    // drop or one issued while the manager is reconnecting.
    for op in ["get_agent", "reserve", "put_call_if", "mark_once", "ping"] {
        let started = Instant::now();
        let r = bounded(op, secs(10), async {
            match op {
                "get_agent" => store.get_agent(&id("oid-a")).await.map(|_| ()),
                "reserve" => store
                    .reserve(&id("oid-a"), "call-1", secs(30))
                    .await
                    .map(|_| ()),
                "put_call_if" => store
                    .put_call_if("call-1", None, &json!({"s": 1}), secs(60))
                    .await
                    .map(|_| ()),
                "mark_once" => store.mark_once("m-1", secs(60)).await.map(|_| ()),
                _ => store.ping().await,
            }
        })
        .await;
        let err = r.expect_err("the server is gone; the operation must fail");
        assert!(
            err.is_retryable(),
            "{op} during an outage must be retryable: {err} ({err:?})"
        );
        assert!(
            started.elapsed() < secs(6),
            "{op} took {:?} to fail",
            started.elapsed()
        );
    }

    // Redis comes back on the same address (empty: persistence is off): the same store
    // handle works again without being reopened.
    let _back = Restarted::start(port);
    let deadline = Instant::now() + secs(20);
    loop {
        match bounded("ping after restart", secs(10), store.ping()).await {
            Ok(()) => break,
            Err(e) => {
                assert!(e.is_retryable(), "{e:?}");
                assert!(
                    Instant::now() < deadline,
                    "store did not reconnect after the server came back: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    ok(
        "upsert_agent",
        store.upsert_agent(&AgentProfile::new(id("oid-a"))).await,
    );
    assert!(
        ok(
            "reserve",
            store.reserve(&id("oid-a"), "call-1", secs(30)).await
        )
        .is_some(),
        "scripts are loaded again on the new server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_connect_retryable() {
    if !RedisServer::required_or_skip() {
        return;
    }
    // Nothing listens: refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let started = Instant::now();
    let err = bounded(
        "connect to a closed port",
        secs(15),
        RedisStore::connect(options(&format!("redis://127.0.0.1:{port}"), "dead")),
    )
    .await
    .expect_err("no server, no store");
    assert!(err.is_retryable(), "{err} ({err:?})");
    assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());

    // Something accepts but never answers (a hung server, a black-holing proxy): the connect
    // timeout still applies.
    let silent = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("addr").port();
    let started = Instant::now();
    let err = bounded(
        "connect to a silent port",
        secs(15),
        RedisStore::connect(options(&format!("redis://127.0.0.1:{port}"), "dead")),
    )
    .await
    .expect_err("a silent server is no store");
    assert!(err.is_retryable(), "{err} ({err:?})");
    assert!(started.elapsed() < secs(10), "took {:?}", started.elapsed());
    drop(silent);
}

// ------------------------------------------------------------------------------ c. keys

/// Writes every kind of entry the store has (outcomes are checked elsewhere).
async fn exercise(store: &RedisStore) {
    ok(
        "upsert_agent",
        store
            .upsert_agent(&AgentProfile::new(id("oid-a")).with_capacity(2))
            .await,
    );
    ok(
        "upsert_agent",
        store.upsert_agent(&AgentProfile::new(id("oid-b"))).await,
    );
    let r = ok(
        "reserve",
        store.reserve(&id("oid-a"), "call-1", secs(30)).await,
    )
    .expect("reservable");
    ok("confirm", store.confirm(&r, secs(60)).await).expect("confirmable");
    let r2 = ok(
        "reserve_first_of",
        store
            .reserve_first_of(&[id("oid-b"), id("oid-a")], "call-2", secs(30))
            .await,
    )
    .expect("reservable");
    assert!(ok("release", store.release(&r2, secs(5)).await));
    ok(
        "put_call_if",
        store
            .put_call_if("call-1", None, &json!({"leg": "a"}), secs(300))
            .await,
    );
    ok(
        "put_call_if",
        store
            .put_call_if("call-3", None, &json!({"leg": "c"}), secs(300))
            .await,
    );
    ok(
        "archive_call",
        store
            .archive_call("call-3", &json!({"done": true}), secs(3600))
            .await,
    );
    ok("mark_once", store.mark_once("evt-1", secs(600)).await);
    ok("sweep_expired", store.sweep_expired().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_carry_the_prefix_hash_tag_and_prefixes_are_isolated() {
    if !RedisServer::required_or_skip() {
        return;
    }
    let server = RedisServer::start().expect("redis-server");
    let url = server.url();
    let a = bounded(
        "connect a",
        secs(10),
        RedisStore::connect(options(&url, "iso-a")),
    )
    .await
    .expect("connect a");
    exercise(&a).await;

    let all = keys(&url).await;
    assert!(!all.is_empty());
    for k in &all {
        assert!(
            k.starts_with("{iso-a}:"),
            "key {k:?} lacks the {{iso-a}} hash tag"
        );
    }
    // Every kind of entry was written (so the check above covered them all).
    for kind in [
        ":a:", ":agents", ":ares:", ":r:", ":cr:", ":c:", ":x:", ":m:", ":seq",
    ] {
        assert!(
            all.iter().any(|k| k.contains(kind)),
            "no {kind} key among {all:?}"
        );
    }
    // Entries with a lifetime also expire on their own, even if no sweep ever runs.
    let mut c = raw(&url).await;
    for k in all.iter().filter(|k| {
        [":r:", ":cr:", ":c:", ":x:", ":m:"]
            .iter()
            .any(|kind| k.contains(kind))
    }) {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(k)
            .query_async(&mut c)
            .await
            .expect("PTTL");
        assert!(ttl > 0, "{k:?} has no expiry (PTTL {ttl})");
    }

    // A second deployment on the same server sees nothing of the first.
    let b = bounded(
        "connect b",
        secs(10),
        RedisStore::connect(options(&url, "iso-b")),
    )
    .await
    .expect("connect b");
    assert!(ok("list_agents", b.list_agents().await).is_empty());
    assert!(ok("get_agent", b.get_agent(&id("oid-a")).await).is_none());
    assert!(ok("reserve", b.reserve(&id("oid-a"), "call-9", secs(30)).await).is_none());
    assert!(ok(
        "reservations_for_call",
        b.reservations_for_call("call-1").await
    )
    .is_empty());
    assert!(ok(
        "reservations_for_agent",
        b.reservations_for_agent(&id("oid-a")).await
    )
    .is_empty());
    assert!(ok("get_call", b.get_call("call-1").await).is_none());
    assert!(ok("get_archived_call", b.get_archived_call("call-3").await).is_none());
    assert!(ok("list_archived_calls", b.list_archived_calls(10).await).is_empty());
    assert!(!ok("check_mark", b.check_mark("evt-1").await));
    assert!(
        ok("mark_once", b.mark_once("evt-1", secs(600)).await),
        "b's marker is its own"
    );
    assert!(matches!(
        ok(
            "put_call_if",
            b.put_call_if("call-1", None, &json!({"leg": "b"}), secs(300))
                .await
        ),
        CasOutcome::Written { .. }
    ));
    assert_eq!(ok("sweep_expired", b.sweep_expired().await).total(), 0);
    exercise(&b).await;

    // And b's writes did not touch a.
    let a_call = ok("get_call", a.get_call("call-1").await).expect("a's call");
    assert_eq!(a_call.value, json!({"leg": "a"}));
    let a_agent = ok("get_agent", a.get_agent(&id("oid-a")).await).expect("a's agent");
    assert_eq!((a_agent.capacity, a_agent.on_call), (2, 1));
    assert_eq!(
        ok("list_archived_calls", a.list_archived_calls(10).await).len(),
        1
    );

    for k in keys(&url).await {
        assert!(
            k.starts_with("{iso-a}:") || k.starts_with("{iso-b}:"),
            "key {k:?} outside both prefixes"
        );
    }
}

// ------------------------------------------------------------------------------ d. reclaim

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservation_of_a_dead_holder_is_reclaimed() {
    if !RedisServer::required_or_skip() {
        return;
    }
    let server = RedisServer::start().expect("redis-server");
    let clock = ManualClock::at_fixed_instant();
    // Time driven by hand: the scripts take this clock instead of the server's.
    let opts = RedisOptions {
        time: TimeSource::Caller,
        ..options(&server.url(), "reclaim")
    };
    let open = || RedisStore::connect_with(opts.clone(), Arc::new(clock.clone()));

    // Replica A reserves the agent for call X, then dies without releasing.
    let a = bounded("connect a", secs(10), open())
        .await
        .expect("connect a");
    ok(
        "upsert_agent",
        a.upsert_agent(&AgentProfile::new(id("oid-a"))).await,
    );
    let stale =
        ok("reserve", a.reserve(&id("oid-a"), "call-x", secs(30)).await).expect("agent reservable");
    drop(a);

    // Replica B cannot take it while A's reservation lasts.
    let b = bounded("connect b", secs(10), open())
        .await
        .expect("connect b");
    assert!(ok("reserve", b.reserve(&id("oid-a"), "call-y", secs(30)).await).is_none());
    clock.advance(secs(29));
    assert!(
        ok(
            "reserve_first_of",
            b.reserve_first_of(&[id("oid-a")], "call-y", secs(30)).await
        )
        .is_none(),
        "still held 1 s before expiry"
    );

    // At expiry (expires_at <= now) the slot is free again, without any sweep.
    clock.advance(secs(1));
    let fresh = ok("reserve", b.reserve(&id("oid-a"), "call-y", secs(30)).await)
        .expect("expired reservation reclaimed");
    assert_eq!(fresh.call_key, "call-y");
    assert_ne!(fresh.token, stale.token, "tokens are never reused");

    // A's stale handle (presented by any replica) touches nothing.
    assert!(ok("renew", b.renew(&stale, secs(30)).await).is_none());
    assert!(ok("confirm", b.confirm(&stale, secs(30)).await).is_none());
    assert!(!ok("release", b.release(&stale, secs(10)).await));
    let c = bounded("connect c", secs(10), open())
        .await
        .expect("connect c");
    assert!(!ok("release", c.release(&stale, Duration::ZERO).await));
    assert!(ok("reserve", c.reserve(&id("oid-a"), "call-x", secs(30)).await).is_none());

    let held = ok(
        "reservations_for_agent",
        b.reservations_for_agent(&id("oid-a")).await,
    );
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].token, fresh.token);
    assert_eq!(held[0].call_key, "call-y");
    assert_eq!(held[0].state, ReservationState::Reserved);
    assert!(ok(
        "reservations_for_call",
        b.reservations_for_call("call-x").await
    )
    .is_empty());
    let agent = ok("get_agent", b.get_agent(&id("oid-a")).await).expect("agent");
    assert_eq!((agent.reserved, agent.on_call), (1, 0));
    assert!(
        agent.wrap_up_until.is_none(),
        "the stale release started no wrap-up"
    );

    // The new holder still owns it.
    assert!(ok("renew", b.renew(&fresh, secs(30)).await).is_some());
    assert!(ok("release", b.release(&fresh, Duration::ZERO).await));
}

// ------------------------------------------------------------------------ e. whose clock

/// A replica clock `skew` away from the true time.
fn skewed(skew_secs: i64) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        time::OffsetDateTime::now_utc() + time::Duration::seconds(skew_secs),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_skewed_clocks_never_double_book() {
    if !RedisServer::required_or_skip() {
        return;
    }
    let server = RedisServer::start().expect("redis-server");
    let open = |prefix: &'static str, time: TimeSource, clock: Arc<ManualClock>| {
        let opts = RedisOptions {
            time,
            ..options(&server.url(), prefix)
        };
        async move { RedisStore::connect_with(opts, clock).await }
    };
    for (prefix, time) in [
        ("skew-server", TimeSource::Server),
        ("skew-caller", TimeSource::Caller),
    ] {
        // Replica A runs 5 minutes slow, replica B 5 minutes fast.
        let a = bounded("connect a", secs(10), open(prefix, time, skewed(-300)))
            .await
            .expect("connect a");
        let b = bounded("connect b", secs(10), open(prefix, time, skewed(300)))
            .await
            .expect("connect b");
        ok(
            "upsert_agent",
            a.upsert_agent(&AgentProfile::new(id("oid-a"))).await,
        );
        let held = ok("reserve", a.reserve(&id("oid-a"), "call-x", secs(60)).await)
            .expect("agent reservable");
        let stolen = ok(
            "reserve_first_of",
            b.reserve_first_of(&[id("oid-a")], "call-y", secs(60)).await,
        );
        match time {
            // One clock (the server's) judges A's reservation: it is live, B gets nothing,
            // and A can still confirm it.
            TimeSource::Server => {
                assert!(stolen.is_none(), "double-booked: {stolen:?}");
                assert!(ok("confirm", a.confirm(&held, secs(60)).await).is_some());
                let agent = ok("get_agent", b.get_agent(&id("oid-a")).await).unwrap();
                let lag = (agent.as_of - time::OffsetDateTime::now_utc()).abs();
                assert!(
                    lag < time::Duration::seconds(30),
                    "as_of is the server's time: {lag}"
                );
            }
            // What judging by the caller's clock did: the fast replica saw A's reservation
            // as expired and took the agent (the test would catch a regression to it).
            TimeSource::Caller => {
                assert!(
                    stolen.is_some(),
                    "caller clocks are expected to disagree here"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_time_expires_reservations_without_any_client_clock() {
    if !RedisServer::required_or_skip() {
        return;
    }
    let server = RedisServer::start().expect("redis-server");
    // A frozen client clock: if the scripts read it, the reservation would never expire.
    let frozen = Arc::new(ManualClock::at_fixed_instant());
    let store = bounded(
        "connect",
        secs(10),
        RedisStore::connect_with(options(&server.url(), "server-time"), frozen),
    )
    .await
    .expect("connect");
    ok(
        "upsert_agent",
        store.upsert_agent(&AgentProfile::new(id("oid-a"))).await,
    );
    let started = Instant::now();
    ok(
        "reserve",
        store.reserve(&id("oid-a"), "call-x", secs(1)).await,
    )
    .expect("reservable");
    assert!(ok(
        "reserve",
        store.reserve(&id("oid-a"), "call-y", secs(1)).await
    )
    .is_none());
    // Poll (bounded) until the server's clock passes the expiry.
    let fresh = loop {
        if let Some(r) = ok(
            "reserve",
            store.reserve(&id("oid-a"), "call-y", secs(1)).await,
        ) {
            break r;
        }
        assert!(started.elapsed() < secs(10), "never expired by server time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fresh.call_key, "call-y");
}
