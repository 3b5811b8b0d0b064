//! [`RedisStore`]: validation, the clock reading, one script call, decoding.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RetryMethod, ScriptInvocation};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use switchboard_store::clock::{from_unix_ms, to_unix_ms};
use switchboard_store::model::{
    decode_member, duration_ms, encode_doc, validate_candidates, validate_key, validate_member,
    AgentProfile, AgentRecord, AgentStatus, ArchivedCall, CasOutcome, PresenceSnapshot,
    Reservation, ReservationState, ReservationToken, SweepReport, TeamsUserId, Versioned,
};
use switchboard_store::{Clock, Store, StoreError, SystemClock};

use crate::auth::{RedisAuth, TokenCredentials};
use crate::scripts::Scripts;

/// Where and how to connect.
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS. May hold a password,
    /// so it is never printed whole.
    pub url: String,
    /// Namespace for every key (`{prefix}:…`); one per deployment.
    pub key_prefix: String,
    /// Extra authentication (Entra tokens); [`RedisAuth::Url`] by default.
    pub auth: RedisAuth,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for one operation's reply; past it the operation fails as retryable.
    pub response_timeout: Duration,
    /// Whose clock decides expiry: the server's ([`TimeSource::Server`], always in
    /// production) or the store's [`Clock`] (deterministic tests).
    pub time: TimeSource,
}

/// Whose clock the scripts judge expiry, reclaim and wrap-up by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeSource {
    /// Redis's `TIME`, read inside each script: one clock for every replica.
    #[default]
    Server,
    /// The [`Clock`] the store was opened with, passed to each script. Only for tests that
    /// drive time by hand (the conformance suite); replicas with skewed clocks would disagree
    /// about expiry.
    Caller,
}

impl RedisOptions {
    /// Options with the defaults: 5 s to connect, 5 s per reply, auth from the URL.
    pub fn new(url: impl Into<String>, key_prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: key_prefix.into(),
            auth: RedisAuth::Url,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            time: TimeSource::Server,
        }
    }

    /// The URL with any password replaced, for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &self.redacted_url())
            .field("key_prefix", &self.key_prefix)
            .field("auth", &self.auth)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("time", &self.time)
            .finish()
    }
}

/// `scheme://user:secret@host` → `scheme://user:<redacted>@host`; anything unparsable is
/// hidden entirely rather than risk printing a secret.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable redis url>".to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:<redacted>@{host}")
        }
        None => url.to_owned(),
    }
}

/// The store on one Redis deployment. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: ConnectionManager,
    /// `{prefix}`: the hash tag every key starts with.
    tag: String,
    seq_key: String,
    clock: Arc<dyn Clock>,
    scripts: Scripts,
    options: RedisOptions,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("options", &self.inner.options)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

/// Checks a key prefix: it becomes the hash tag `{prefix}`, so no braces or whitespace.
pub fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() || prefix.len() > 128 {
        return Err(StoreError::invalid(
            "open",
            "key prefix must be 1..=128 bytes",
        ));
    }
    if prefix.contains(['{', '}']) || prefix.chars().any(char::is_whitespace) {
        return Err(StoreError::invalid(
            "open",
            format!("key prefix {prefix:?} must not contain braces or whitespace (it becomes the hash tag {{prefix}})"),
        ));
    }
    Ok(())
}

fn redis_error(op: &'static str) -> impl Fn(redis::RedisError) -> StoreError {
    move |e| {
        let auth = matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
            || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"));
        let retryable = !auth
            && (e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_connection_refusal()
                || !matches!(e.retry_method(), RetryMethod::NoRetry));
        if retryable {
            StoreError::Unavailable {
                op,
                source: Box::new(e),
            }
        } else {
            StoreError::Backend {
                op,
                source: Box::new(e),
            }
        }
    }
}

impl RedisStore {
    /// Connects with the system clock.
    pub async fn connect(options: RedisOptions) -> Result<Self, StoreError> {
        Self::connect_with(options, Arc::new(SystemClock)).await
    }

    /// Connects, reading "now" from `clock`. Fails (retryable) if the server cannot be
    /// reached within the connect timeout, so a misconfigured replica stops at startup.
    pub async fn connect_with(
        options: RedisOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        validate_prefix(&options.key_prefix)?;
        let client = redis::Client::open(options.url.as_str()).map_err(|e| {
            StoreError::invalid(
                "open",
                format!("redis url {}: {e}", redact_url(&options.url)),
            )
        })?;
        let mut config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.response_timeout))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        if let RedisAuth::Token(source) = &options.auth {
            config = config.set_credentials_provider(TokenCredentials(Arc::clone(source)));
        }
        let connect = ConnectionManager::new_with_config(client, config);
        let conn = match tokio::time::timeout(options.connect_timeout * 2, connect).await {
            Ok(r) => r.map_err(redis_error("open"))?,
            Err(_) => {
                return Err(StoreError::Unavailable {
                    op: "open",
                    source: format!("no connection to {} in time", redact_url(&options.url)).into(),
                })
            }
        };
        let tag = format!("{{{}}}", options.key_prefix);
        let store = Self {
            inner: Arc::new(Inner {
                conn,
                seq_key: format!("{tag}:seq"),
                tag,
                clock,
                scripts: Scripts::new(),
                options,
            }),
        };
        store.ping().await?;
        Ok(store)
    }

    /// The options this store was opened with.
    pub fn options(&self) -> &RedisOptions {
        &self.inner.options
    }

    /// An invocation of `script` with the common arguments (`KEYS[1]`, prefix, now).
    fn invocation<'a>(&self, script: &'a redis::Script) -> ScriptInvocation<'a> {
        self.invocation_at(script, self.inner.clock.now_ms())
    }

    fn invocation_at<'a>(&self, script: &'a redis::Script, now: i64) -> ScriptInvocation<'a> {
        let mut inv = script.key(&self.inner.seq_key);
        inv.arg(&self.inner.tag);
        match self.inner.options.time {
            TimeSource::Server => inv.arg(""),
            TimeSource::Caller => inv.arg(now),
        };
        inv
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        op: &'static str,
        inv: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.inner.conn.clone();
        inv.invoke_async(&mut conn).await.map_err(redis_error(op))
    }
}

// ------------------------------------------------------------------------------ decoding

fn decode<T: DeserializeOwned>(op: &'static str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::corrupt(op, format!("unexpected script result {json:?}: {e}")))
}

fn instant(op: &'static str, ms: i64) -> Result<OffsetDateTime, StoreError> {
    from_unix_ms(ms).ok_or_else(|| StoreError::corrupt(op, format!("instant {ms} out of range")))
}

fn count<T: TryFrom<i64>>(op: &'static str, what: &str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::corrupt(op, format!("{what} {v} out of range")))
}

fn version(op: &'static str, v: &str) -> Result<u64, StoreError> {
    v.parse()
        .map_err(|_| StoreError::corrupt(op, format!("version {v:?} is not a number")))
}

#[derive(Deserialize)]
struct AgentJson {
    id: String,
    name: Option<String>,
    cap: i64,
    status: String,
    lres: Option<i64>,
    lrel: Option<i64>,
    wrap: Option<i64>,
    presence: Option<String>,
    reserved: i64,
    on_call: i64,
    /// The script's `NOW`: the instant the record was read at.
    now: Option<i64>,
}

impl AgentJson {
    fn into_record(self, op: &'static str, now: i64) -> Result<AgentRecord, StoreError> {
        let status = AgentStatus::parse(&self.status).ok_or_else(|| {
            StoreError::corrupt(
                op,
                format!("agent {} has unknown status {:?}", self.id, self.status),
            )
        })?;
        let presence = self
            .presence
            .map(|p| serde_json::from_str::<PresenceSnapshot>(&p))
            .transpose()
            .map_err(|e| StoreError::corrupt(op, format!("agent {} presence: {e}", self.id)))?;
        let opt = |ms: Option<i64>| ms.map(|ms| instant(op, ms)).transpose();
        Ok(AgentRecord {
            capacity: count(op, "capacity", self.cap)?,
            status,
            reserved: count(op, "reservation count", self.reserved)?,
            on_call: count(op, "on-call count", self.on_call)?,
            last_reserved_at: opt(self.lres)?,
            last_released_at: opt(self.lrel)?,
            wrap_up_until: opt(self.wrap)?,
            presence,
            as_of: instant(op, self.now.unwrap_or(now))?,
            id: TeamsUserId::new(self.id),
            display_name: self.name,
        })
    }
}

#[derive(Deserialize)]
struct ResJson {
    token: i64,
    agent: String,
    call: String,
    state: String,
    created: i64,
    expires: i64,
}

fn reservation(op: &'static str, json: &str) -> Result<Reservation, StoreError> {
    let r: ResJson = decode(op, json)?;
    let state = ReservationState::parse(&r.state).ok_or_else(|| {
        StoreError::corrupt(
            op,
            format!("reservation {} has unknown state {:?}", r.token, r.state),
        )
    })?;
    Ok(Reservation {
        token: ReservationToken::new(r.token.to_string()),
        agent: TeamsUserId::new(r.agent),
        call_key: r.call,
        state,
        created_at: instant(op, r.created)?,
        expires_at: instant(op, r.expires)?,
    })
}

#[derive(Deserialize)]
struct DocJson {
    call_key: String,
    doc: String,
    archived_at: i64,
    expires_at: i64,
}

fn archived(op: &'static str, json: &str) -> Result<ArchivedCall, StoreError> {
    let r: DocJson = decode(op, json)?;
    let doc = serde_json::from_str(&r.doc).map_err(|e| {
        StoreError::corrupt(
            op,
            format!("archived call {:?} is not JSON: {e}", r.call_key),
        )
    })?;
    Ok(ArchivedCall {
        call_key: r.call_key,
        doc,
        archived_at: instant(op, r.archived_at)?,
        expires_at: instant(op, r.expires_at)?,
    })
}

/// Most entries of each kind one sweep removes, so a backlog never blocks Redis for long;
/// the next sweep continues.
const SWEEP_BATCH: usize = 10_000;

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.inner.conn.clone();
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(redis_error("ping"))?;
        if pong != "PONG" {
            return Err(StoreError::corrupt(
                "ping",
                format!("PING answered {pong:?}"),
            ));
        }
        Ok(())
    }

    async fn upsert_agent(&self, agent: &AgentProfile) -> Result<(), StoreError> {
        let op = "upsert_agent";
        agent.validate(op)?;
        let mut inv = self.invocation(&self.inner.scripts.upsert_agent);
        inv.arg(agent.id.as_str()).arg(agent.capacity);
        match &agent.display_name {
            Some(name) => inv.arg("1").arg(name),
            None => inv.arg("0").arg(""),
        };
        self.run::<i64>(op, &inv).await.map(|_| ())
    }

    async fn set_agent_status(
        &self,
        agent: &TeamsUserId,
        status: AgentStatus,
    ) -> Result<bool, StoreError> {
        let op = "set_agent_status";
        validate_key(op, "agent id", agent.as_str())?;
        let mut inv = self.invocation(&self.inner.scripts.set_agent_field);
        inv.arg(agent.as_str())
            .arg("status")
            .arg("1")
            .arg(status.as_str());
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn set_agent_presence(
        &self,
        agent: &TeamsUserId,
        presence: Option<&PresenceSnapshot>,
    ) -> Result<bool, StoreError> {
        let op = "set_agent_presence";
        validate_key(op, "agent id", agent.as_str())?;
        let presence = presence
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::invalid(op, format!("presence does not serialize: {e}")))?;
        let mut inv = self.invocation(&self.inner.scripts.set_agent_field);
        inv.arg(agent.as_str()).arg("presence");
        match &presence {
            Some(p) => inv.arg("1").arg(p),
            None => inv.arg("0").arg(""),
        };
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn remove_agent(&self, agent: &TeamsUserId) -> Result<bool, StoreError> {
        let op = "remove_agent";
        validate_key(op, "agent id", agent.as_str())?;
        let mut inv = self.invocation(&self.inner.scripts.remove_agent);
        inv.arg(agent.as_str());
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn get_agent(&self, agent: &TeamsUserId) -> Result<Option<AgentRecord>, StoreError> {
        let op = "get_agent";
        validate_key(op, "agent id", agent.as_str())?;
        // The record's `as_of` is the instant the script evaluated against.
        let now = self.inner.clock.now_ms();
        let mut inv = self.invocation_at(&self.inner.scripts.get_agent, now);
        inv.arg(agent.as_str());
        let json: Option<String> = self.run(op, &inv).await?;
        json.map(|j| decode::<AgentJson>(op, &j)?.into_record(op, now))
            .transpose()
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let op = "list_agents";
        let now = self.inner.clock.now_ms();
        let inv = self.invocation_at(&self.inner.scripts.list_agents, now);
        let rows: Vec<String> = self.run(op, &inv).await?;
        rows.iter()
            .map(|j| decode::<AgentJson>(op, j)?.into_record(op, now))
            .collect()
    }

    async fn reserve(
        &self,
        agent: &TeamsUserId,
        call_key: &str,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        let op = "reserve";
        validate_key(op, "agent id", agent.as_str())?;
        self.reserve_in(op, std::slice::from_ref(agent), call_key, ttl)
            .await
    }

    async fn reserve_first_of(
        &self,
        candidates: &[TeamsUserId],
        call_key: &str,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        let op = "reserve_first_of";
        validate_candidates(op, candidates)?;
        self.reserve_in(op, candidates, call_key, ttl).await
    }

    async fn renew(
        &self,
        reservation: &Reservation,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        let ttl_ms = duration_ms("renew", "ttl", ttl, false)?;
        self.renew_in("renew", reservation, ttl_ms, false).await
    }

    async fn confirm(
        &self,
        reservation: &Reservation,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        let ttl_ms = duration_ms("confirm", "ttl", ttl, false)?;
        self.renew_in("confirm", reservation, ttl_ms, true).await
    }

    async fn release(
        &self,
        reservation: &Reservation,
        wrap_up: Duration,
    ) -> Result<bool, StoreError> {
        let op = "release";
        let wrap_ms = duration_ms(op, "wrap-up", wrap_up, true)?;
        if !plausible_handle(reservation) {
            return Ok(false);
        }
        let mut inv = self.invocation(&self.inner.scripts.release);
        inv.arg(reservation.token.as_str())
            .arg(reservation.agent.as_str())
            .arg(&reservation.call_key)
            .arg(wrap_ms);
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn reservations_for_call(&self, call_key: &str) -> Result<Vec<Reservation>, StoreError> {
        let op = "reservations_for_call";
        validate_key(op, "call key", call_key)?;
        let mut inv = self.invocation(&self.inner.scripts.reservations_for_call);
        inv.arg(call_key);
        let rows: Vec<String> = self.run(op, &inv).await?;
        rows.iter().map(|j| reservation(op, j)).collect()
    }

    async fn reservations_for_agent(
        &self,
        agent: &TeamsUserId,
    ) -> Result<Vec<Reservation>, StoreError> {
        let op = "reservations_for_agent";
        validate_key(op, "agent id", agent.as_str())?;
        let mut inv = self.invocation(&self.inner.scripts.reservations_for_agent);
        inv.arg(agent.as_str());
        let rows: Vec<String> = self.run(op, &inv).await?;
        rows.iter().map(|j| reservation(op, j)).collect()
    }

    async fn sweep_expired(&self) -> Result<SweepReport, StoreError> {
        let op = "sweep_expired";
        let mut inv = self.invocation(&self.inner.scripts.sweep);
        inv.arg(SWEEP_BATCH);
        let json: String = self.run(op, &inv).await?;
        let report: SweepReport = decode(op, &json)?;
        if report.total() > 0 {
            tracing::debug!(?report, "store sweep removed expired entries");
        }
        Ok(report)
    }

    async fn get_call(&self, call_key: &str) -> Result<Option<Versioned<Value>>, StoreError> {
        #[derive(Deserialize)]
        struct CallJson {
            version: String,
            doc: String,
            updated_at: i64,
            expires_at: i64,
        }
        let op = "get_call";
        validate_key(op, "call key", call_key)?;
        let mut inv = self.invocation(&self.inner.scripts.get_call);
        inv.arg(call_key);
        let Some(json) = self.run::<Option<String>>(op, &inv).await? else {
            return Ok(None);
        };
        let c: CallJson = decode(op, &json)?;
        let value = serde_json::from_str(&c.doc).map_err(|e| {
            StoreError::corrupt(op, format!("call state for {call_key:?} is not JSON: {e}"))
        })?;
        Ok(Some(Versioned {
            version: version(op, &c.version)?,
            value,
            updated_at: instant(op, c.updated_at)?,
            expires_at: instant(op, c.expires_at)?,
        }))
    }

    async fn put_call_if(
        &self,
        call_key: &str,
        expected: Option<u64>,
        doc: &Value,
        ttl: Duration,
    ) -> Result<CasOutcome, StoreError> {
        #[derive(Deserialize)]
        struct PutJson {
            #[serde(default)]
            conflict: bool,
            current: Option<String>,
            version: Option<String>,
        }
        let op = "put_call_if";
        validate_key(op, "call key", call_key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let doc = encode_doc(op, doc)?;
        let mut inv = self.invocation(&self.inner.scripts.put_call_if);
        inv.arg(call_key)
            .arg(expected.map(|v| v.to_string()).unwrap_or_default())
            .arg(doc)
            .arg(ttl_ms);
        let json: String = self.run(op, &inv).await?;
        let out: PutJson = decode(op, &json)?;
        if out.conflict {
            let current = out.current.map(|v| version(op, &v)).transpose()?;
            return Ok(CasOutcome::Conflict { current });
        }
        let v = out
            .version
            .ok_or_else(|| StoreError::corrupt(op, format!("no version in {json:?}")))?;
        Ok(CasOutcome::Written {
            version: version(op, &v)?,
        })
    }

    async fn delete_call(&self, call_key: &str) -> Result<bool, StoreError> {
        let op = "delete_call";
        validate_key(op, "call key", call_key)?;
        let mut inv = self.invocation(&self.inner.scripts.delete_call);
        inv.arg(call_key);
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn archive_call(
        &self,
        call_key: &str,
        doc: &Value,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let op = "archive_call";
        validate_key(op, "call key", call_key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let doc = encode_doc(op, doc)?;
        let mut inv = self.invocation(&self.inner.scripts.archive_call);
        inv.arg(call_key).arg(doc).arg(ttl_ms);
        self.run::<i64>(op, &inv).await.map(|_| ())
    }

    async fn get_archived_call(&self, call_key: &str) -> Result<Option<ArchivedCall>, StoreError> {
        let op = "get_archived_call";
        validate_key(op, "call key", call_key)?;
        let mut inv = self.invocation(&self.inner.scripts.get_archived_call);
        inv.arg(call_key);
        let json: Option<String> = self.run(op, &inv).await?;
        json.map(|j| archived(op, &j)).transpose()
    }

    async fn list_archived_calls(&self, limit: usize) -> Result<Vec<ArchivedCall>, StoreError> {
        let op = "list_archived_calls";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut inv = self.invocation(&self.inner.scripts.list_archived_calls);
        inv.arg(limit.min(i64::MAX as usize)).arg("-inf");
        let rows: Vec<String> = self.run(op, &inv).await?;
        rows.iter().map(|j| archived(op, j)).collect()
    }

    async fn list_archived_since(
        &self,
        since: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<ArchivedCall>, StoreError> {
        let op = "list_archived_since";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut inv = self.invocation(&self.inner.scripts.list_archived_calls);
        inv.arg(limit.min(i64::MAX as usize))
            .arg(to_unix_ms(since).to_string());
        let rows: Vec<String> = self.run(op, &inv).await?;
        rows.iter().map(|j| archived(op, j)).collect()
    }

    async fn list_calls(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, Versioned<Value>)>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            call_key: String,
            version: String,
            doc: String,
            updated_at: i64,
            expires_at: i64,
        }
        let op = "list_calls";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut inv = self.invocation(&self.inner.scripts.list_calls);
        inv.arg(limit.min(i64::MAX as usize));
        let rows: Vec<String> = self.run(op, &inv).await?;
        rows.iter()
            .map(|j| {
                let r: Row = decode(op, j)?;
                let value = serde_json::from_str(&r.doc).map_err(|e| {
                    StoreError::corrupt(
                        op,
                        format!("call state for {:?} is not JSON: {e}", r.call_key),
                    )
                })?;
                let v = Versioned {
                    version: version(op, &r.version)?,
                    value,
                    updated_at: instant(op, r.updated_at)?,
                    expires_at: instant(op, r.expires_at)?,
                };
                Ok((r.call_key, v))
            })
            .collect()
    }

    async fn mark_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let op = "mark_once";
        validate_key(op, "marker key", key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let mut inv = self.invocation(&self.inner.scripts.mark_once);
        inv.arg(key).arg(ttl_ms);
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn check_mark(&self, key: &str) -> Result<bool, StoreError> {
        let op = "check_mark";
        validate_key(op, "marker key", key)?;
        let mut inv = self.invocation(&self.inner.scripts.check_mark);
        inv.arg(key).arg("0");
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn clear_mark(&self, key: &str) -> Result<bool, StoreError> {
        let op = "clear_mark";
        validate_key(op, "marker key", key)?;
        let mut inv = self.invocation(&self.inner.scripts.check_mark);
        inv.arg(key).arg("1");
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn put_member(
        &self,
        set: &str,
        member: &str,
        value: &Value,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let op = "put_member";
        validate_member(op, set, member)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        let json = encode_doc(op, value)?;
        let mut inv = self.invocation(&self.inner.scripts.put_member);
        inv.arg(set).arg(member).arg(json).arg(ttl_ms);
        self.run::<i64>(op, &inv).await?;
        Ok(())
    }

    async fn remove_member(&self, set: &str, member: &str) -> Result<bool, StoreError> {
        let op = "remove_member";
        validate_member(op, set, member)?;
        let mut inv = self.invocation(&self.inner.scripts.remove_member);
        inv.arg(set).arg(member);
        Ok(self.run::<i64>(op, &inv).await? == 1)
    }

    async fn list_members(&self, set: &str) -> Result<Vec<(String, Value)>, StoreError> {
        let op = "list_members";
        validate_key(op, "set key", set)?;
        let mut inv = self.invocation(&self.inner.scripts.list_members);
        inv.arg(set);
        let flat: Vec<String> = self.run(op, &inv).await?;
        flat.chunks_exact(2)
            .map(|pair| decode_member(op, set, pair[0].clone(), &pair[1]))
            .collect()
    }
}

/// A handle this backend could have issued: a decimal token and keys within limits. Anything
/// else (a token from another backend, a forged handle) is simply not held.
fn plausible_handle(r: &Reservation) -> bool {
    let t = r.token.as_str();
    !t.is_empty()
        && t.len() <= 20
        && t.bytes().all(|b| b.is_ascii_digit())
        && !t.starts_with('0')
        && validate_key("renew", "agent id", r.agent.as_str()).is_ok()
        && validate_key("renew", "call key", &r.call_key).is_ok()
}

impl RedisStore {
    async fn reserve_in(
        &self,
        op: &'static str,
        candidates: &[TeamsUserId],
        call_key: &str,
        ttl: Duration,
    ) -> Result<Option<Reservation>, StoreError> {
        validate_key(op, "call key", call_key)?;
        let ttl_ms = duration_ms(op, "ttl", ttl, false)?;
        if candidates.is_empty() {
            return Ok(None);
        }
        let mut inv = self.invocation(&self.inner.scripts.reserve_first_of);
        inv.arg(call_key).arg(ttl_ms);
        for c in candidates {
            inv.arg(c.as_str());
        }
        let json: Option<String> = self.run(op, &inv).await?;
        json.map(|j| reservation(op, &j)).transpose()
    }

    async fn renew_in(
        &self,
        op: &'static str,
        r: &Reservation,
        ttl_ms: i64,
        confirm: bool,
    ) -> Result<Option<Reservation>, StoreError> {
        if !plausible_handle(r) {
            return Ok(None);
        }
        let mut inv = self.invocation(&self.inner.scripts.renew);
        inv.arg(r.token.as_str())
            .arg(r.agent.as_str())
            .arg(&r.call_key)
            .arg(ttl_ms)
            .arg(if confirm { "1" } else { "0" });
        let json: Option<String> = self.run(op, &inv).await?;
        json.map(|j| reservation(op, &j)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("rediss://default:s3cret@cache.example:10000"),
            "rediss://default:<redacted>@cache.example:10000"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:<redacted>@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("s3cret"), "<unparsable redis url>");
        let opts = RedisOptions::new("redis://u:topsecret@h:1", "sb");
        assert!(!format!("{opts:?}").contains("topsecret"));
    }

    #[test]
    fn prefixes_must_make_a_hash_tag() {
        assert!(validate_prefix("switchboard-prod").is_ok());
        for bad in ["", "a{b", "a}b", "a b", &"x".repeat(129)] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_decimal_tokens_are_plausible() {
        let t = time::macros::datetime!(2026-03-12 09:00:00 UTC);
        let mut r = Reservation {
            token: ReservationToken::new("42"),
            agent: TeamsUserId::new("oid"),
            call_key: "call".into(),
            state: ReservationState::Reserved,
            created_at: t,
            expires_at: t,
        };
        assert!(plausible_handle(&r));
        for bad in ["", "042", "4a", "-1", "1.5", "99999999999999999999999"] {
            r.token = ReservationToken::new(bad);
            assert!(!plausible_handle(&r), "{bad:?}");
        }
    }
}
