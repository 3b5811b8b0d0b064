//! Verification of the `Authorization: Bearer` JWTs on the ingress: Call Automation's
//! callback tokens and the Microsoft Entra tokens Event Grid puts on protected webhook
//! deliveries.
//!
//! Standard OIDC: an OpenID configuration names a `jwks_uri`; tokens are RS256, signed by a
//! key from that set (`kid`). Call Automation: issuer
//! `https://acscallautomation.communication.azure.com`, audience = the ACS resource's immutable
//! id. Event Grid (<https://learn.microsoft.com/azure/event-grid/secure-webhook-delivery>):
//! issuer `https://login.microsoftonline.com/{tenant}/v2.0` (v2 tokens) or
//! `https://sts.windows.net/{tenant}/` (v1), audience = the webhook application's id URI or
//! client id, and the token issued to Event Grid's own application (`appid` in v1 tokens,
//! `azp` in v2 ones) — any other client of the tenant could otherwise get a token for the
//! webhook's audience.
//!
//! # Keys
//! The key set is cached and only ever replaced whole, so keys the issuer removed stop being
//! trusted at the next refresh. Refreshes happen (1) periodically ([`spawn_refresher`]) and
//! (2) when a token names an unknown `kid` (key rotation). The second is **single-flight**
//! (however many requests wait, one outbound fetch) and **rate-limited**: after one such
//! attempt, successful or not, no other happens for `min_refresh_interval`, so made-up key
//! ids cannot make the ingress hammer the issuer. Readiness reads the cache only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock as StdRwLock, Weak};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Why a token was refused. None of these is retryable by the sender with the same token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    Missing,
    /// `Authorization` without a `Bearer` token.
    #[error("Authorization is not a Bearer token")]
    NotBearer,
    /// Not a JWT (bad base64, JSON or header; `alg: none` included).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Signed with a key id the key set does not hold, even after a refresh.
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(Option<String>),
    /// Signature, algorithm, issuer, audience or lifetime check failed.
    #[error("token rejected: {0}")]
    Invalid(String),
    /// A valid token issued to another application than the one expected (`appid`/`azp`).
    #[error("token issued to application {0:?}, not the expected one")]
    WrongApplication(Option<String>),
    /// The key set could not be fetched: our problem, not the caller's (answer 503).
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl AuthError {
    /// A short label for metrics and logs (`reason`); the client never sees it.
    pub fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::NotBearer => "not_bearer",
            AuthError::Malformed(_) => "malformed",
            AuthError::UnknownKey(_) => "unknown_key",
            AuthError::Invalid(_) => "invalid",
            AuthError::WrongApplication(_) => "wrong_application",
            AuthError::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

/// What we keep from a verified token.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Issuer (checked against the expected ones).
    pub iss: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Subject, when the token has one.
    #[serde(default)]
    pub sub: Option<String>,
    /// Client application of a v1 Entra token.
    #[serde(default)]
    pub appid: Option<String>,
    /// Client application of a v2 Entra token.
    #[serde(default)]
    pub azp: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OpenIdConfig {
    jwks_uri: String,
    #[serde(default)]
    issuer: Option<String>,
}

/// What a token must say to be accepted.
#[derive(Debug, Clone)]
pub struct TokenRules {
    /// Accepted `iss` values.
    pub issuers: Vec<String>,
    /// Accepted `aud` values.
    pub audiences: Vec<String>,
    /// When set, `appid` or `azp` must be one of these (Event Grid's application).
    pub applications: Option<Vec<String>>,
    /// Tolerated clock difference for `exp` / `nbf`.
    pub leeway: Duration,
}

impl TokenRules {
    /// Microsoft Entra protected webhook delivery from Event Grid to an application of
    /// `tenant` known as any of `audiences`.
    pub fn event_grid(
        tenant: &str,
        audiences: Vec<String>,
        event_grid_app_id: &str,
        leeway: Duration,
    ) -> Self {
        Self {
            issuers: vec![
                format!("https://login.microsoftonline.com/{tenant}/v2.0"),
                format!("https://sts.windows.net/{tenant}/"),
            ],
            audiences,
            applications: Some(vec![event_grid_app_id.to_string()]),
            leeway,
        }
    }
}

/// The current key set; replaced whole, never merged.
type KeySet = Arc<HashMap<String, DecodingKey>>;

struct RefreshState {
    /// When the last unknown-`kid` fetch started (periodic refreshes do not count: a
    /// rotation right after one must still be picked up).
    last_attempt: Option<Instant>,
}

/// Verifies tokens against a JWKS discovered from an OpenID configuration.
pub struct JwtVerifier {
    http: reqwest::Client,
    openid_config_url: String,
    rules: TokenRules,
    min_refresh_interval: Duration,
    keys: StdRwLock<KeySet>,
    /// Bumped by every successful fetch: a waiter that finds it moved knows the set it
    /// wanted refreshed was refreshed while it waited.
    generation: std::sync::atomic::AtomicU64,
    /// Single flight: one fetch at a time; waiters queue here.
    refresh: Mutex<RefreshState>,
    fetches: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("openid_config_url", &self.openid_config_url)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier that fetches signing keys from `openid_config_url`'s `jwks_uri` and accepts
    /// tokens from `issuer` for `audience` (Call Automation callbacks).
    pub fn new(
        http: reqwest::Client,
        openid_config_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        leeway: Duration,
    ) -> Self {
        Self::with_rules(
            http,
            openid_config_url,
            TokenRules {
                issuers: vec![issuer.into()],
                audiences: vec![audience.into()],
                applications: None,
                leeway,
            },
        )
    }

    /// A verifier with explicit [`TokenRules`] (Event Grid).
    pub fn with_rules(
        http: reqwest::Client,
        openid_config_url: impl Into<String>,
        rules: TokenRules,
    ) -> Self {
        Self {
            http,
            openid_config_url: openid_config_url.into(),
            rules,
            min_refresh_interval: Duration::from_secs(30),
            keys: StdRwLock::new(Arc::new(HashMap::new())),
            generation: std::sync::atomic::AtomicU64::new(0),
            refresh: Mutex::new(RefreshState { last_attempt: None }),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Sets the least time between two unknown-`kid` fetches (default 30 s).
    pub fn with_min_refresh_interval(mut self, every: Duration) -> Self {
        self.min_refresh_interval = every;
        self
    }

    /// How many key fetches were started (tests, metrics).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn current(&self) -> KeySet {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Fetch the key set now and replace the cached one (the periodic refresh; startup).
    /// Waits for a fetch in flight instead of starting a second one at the same time.
    pub async fn refresh(&self) -> Result<usize, AuthError> {
        let _flight = self.refresh.lock().await;
        self.fetch_and_replace().await
    }

    /// The unknown-`kid` refresh: single-flight and rate-limited. `seen` is the generation
    /// the caller looked the key up in.
    async fn refresh_for_unknown_kid(&self, seen: u64) -> Result<(), AuthError> {
        let mut state = self.refresh.lock().await;
        if self.generation.load(std::sync::atomic::Ordering::Acquire) != seen {
            // Someone refreshed while we waited: look again, no fetch.
            return Ok(());
        }
        if state
            .last_attempt
            .is_some_and(|t| t.elapsed() < self.min_refresh_interval)
        {
            return Err(AuthError::UnknownKey(None));
        }
        state.last_attempt = Some(Instant::now());
        self.fetch_and_replace().await.map(drop)
    }

    async fn fetch_and_replace(&self) -> Result<usize, AuthError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let unavailable =
            |what: &str, e: reqwest::Error| AuthError::KeysUnavailable(format!("{what}: {e}"));
        let cfg: OpenIdConfig = self
            .http
            .get(&self.openid_config_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable("openid configuration", e))?
            .json()
            .await
            .map_err(|e| unavailable("openid configuration", e))?;
        if let Some(iss) = &cfg.issuer {
            if !self.rules.issuers.iter().any(|i| i == iss) {
                tracing::debug!(advertised = %iss, "OpenID issuer differs from the configured issuers");
            }
        }
        let set: JwkSet = self
            .http
            .get(&cfg.jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| unavailable("jwks", e))?
            .json()
            .await
            .map_err(|e| unavailable("jwks", e))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(k) => {
                    keys.insert(kid, k);
                }
                Err(e) => tracing::warn!(%kid, error = %e, "skipping unusable JWK"),
            }
        }
        let n = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        tracing::debug!(keys = n, url = %self.openid_config_url, "loaded signing keys");
        Ok(n)
    }

    /// True once a key set has been loaded (readiness: no fetch here).
    pub fn has_keys(&self) -> bool {
        !self.current().is_empty()
    }

    /// Verify the value of an `Authorization` header.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::NotBearer)?
            .trim();
        self.verify(token).await
    }

    /// Verify a compact JWT.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        // Only RS256: `none` does not parse, and HS256 "signed" with the public key is refused
        // here before any key is looked at.
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} not allowed",
                header.alg
            )));
        }
        let kid = header.kid.clone();
        let seen = self.generation.load(std::sync::atomic::Ordering::Acquire);
        if let Some(claims) = self.try_with_cached(token, kid.as_deref())? {
            return Ok(claims);
        }
        // Unknown kid: keys may have rotated.
        match self.refresh_for_unknown_kid(seen).await {
            Ok(()) => {}
            Err(AuthError::UnknownKey(_)) if self.has_keys() => {
                return Err(AuthError::UnknownKey(kid))
            }
            Err(AuthError::UnknownKey(_)) => {
                return Err(AuthError::KeysUnavailable(
                    "no signing keys loaded (refresh rate-limited)".into(),
                ))
            }
            Err(e @ AuthError::KeysUnavailable(_)) if !self.has_keys() => return Err(e),
            Err(_) => return Err(AuthError::UnknownKey(kid)),
        }
        match self.try_with_cached(token, kid.as_deref())? {
            Some(claims) => Ok(claims),
            None => Err(AuthError::UnknownKey(kid)),
        }
    }

    fn try_with_cached(&self, token: &str, kid: Option<&str>) -> Result<Option<Claims>, AuthError> {
        let keys = self.current();
        let key = match kid {
            Some(k) => keys.get(k),
            // No kid: only acceptable with exactly one key.
            None if keys.len() == 1 => keys.values().next(),
            None => None,
        };
        let Some(key) = key else {
            return Ok(None);
        };
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&self.rules.issuers);
        v.set_audience(&self.rules.audiences);
        v.leeway = self.rules.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        if let Some(apps) = &self.rules.applications {
            let client = claims.appid.as_ref().or(claims.azp.as_ref());
            if !client.is_some_and(|c| apps.iter().any(|a| a == c)) {
                return Err(AuthError::WrongApplication(client.cloned()));
            }
        }
        Ok(Some(claims))
    }
}

/// Refresh `verifier`'s keys now and then every `every`, replacing the set, until the verifier
/// is dropped. A failed refresh keeps the previous set (and is retried at the next tick).
pub fn spawn_refresher(
    verifier: &Arc<JwtVerifier>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    let weak: Weak<JwtVerifier> = Arc::downgrade(verifier);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(v) = weak.upgrade() else { return };
            if let Err(e) = v.refresh().await {
                tracing::warn!(error = %e, url = %v.openid_config_url, "signing key refresh failed; keeping the previous keys");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Json;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use jsonwebtoken::{EncodingKey, Header};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const ISS: &str = "https://acscallautomation.communication.azure.com";
    const AUD: &str = "11111111-2222-3333-4444-555555555555";

    struct Keys {
        enc: EncodingKey,
        jwk: serde_json::Value,
    }

    fn keypair(kid: &str) -> Keys {
        let mut rng = rand_core_rng();
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let pubk = key.to_public_key();
        Keys {
            enc: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk: serde_json::json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(pubk.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(pubk.e().to_bytes_be()),
            }),
        }
    }

    fn rand_core_rng() -> rsa::rand_core::OsRng {
        rsa::rand_core::OsRng
    }

    fn token(keys: &Keys, kid: &str, iss: &str, aud: &str, exp_offset: i64) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(kid.into());
        let claims =
            serde_json::json!({"iss": iss, "aud": aud, "exp": now + exp_offset, "nbf": now - 5});
        jsonwebtoken::encode(&h, &claims, &keys.enc).unwrap()
    }

    /// An OpenID configuration + JWKS server whose key set can be swapped (rotation).
    async fn oidc_server(
        jwks: Arc<std::sync::Mutex<serde_json::Value>>,
        hits: Arc<AtomicUsize>,
    ) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let b2 = base.clone();
        let app = axum::Router::new()
            .route(
                "/calling/.well-known/acsopenidconfiguration",
                get(move || {
                    let b = b2.clone();
                    async move { Json(serde_json::json!({"issuer": ISS, "jwks_uri": format!("{b}/calling/keys")})) }
                }),
            )
            .route(
                "/calling/keys",
                get(move || {
                    let j = jwks.clone();
                    let h = hits.clone();
                    async move {
                        h.fetch_add(1, Ordering::SeqCst);
                        let v = j.lock().unwrap().clone();
                        Json(v)
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("{base}/calling/.well-known/acsopenidconfiguration")
    }

    #[tokio::test]
    async fn verifies_good_tokens_and_rejects_bad_ones() {
        let k1 = keypair("k1");
        let other = keypair("k1"); // same kid, different key: forged signature
        let jwks = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [k1.jwk]})));
        let hits = Arc::new(AtomicUsize::new(0));
        let url = oidc_server(jwks.clone(), hits.clone()).await;
        let v = JwtVerifier::new(
            reqwest::Client::new(),
            url,
            ISS,
            AUD,
            Duration::from_secs(30),
        );
        assert_eq!(v.refresh().await.unwrap(), 1);

        let good = token(&k1, "k1", ISS, AUD, 300);
        let claims = v
            .verify_header(Some(&format!("Bearer {good}")))
            .await
            .unwrap();
        assert_eq!(claims.iss, ISS);

        assert_eq!(v.verify_header(None).await.unwrap_err(), AuthError::Missing);
        assert_eq!(
            v.verify_header(Some("Basic abc")).await.unwrap_err(),
            AuthError::NotBearer
        );
        assert!(matches!(
            v.verify("nonsense").await.unwrap_err(),
            AuthError::Malformed(_)
        ));
        for bad in [
            token(&k1, "k1", "https://evil.example", AUD, 300),
            token(&k1, "k1", ISS, "another-resource", 300),
            token(&k1, "k1", ISS, AUD, -600),
            token(&other, "k1", ISS, AUD, 300),
        ] {
            assert!(
                matches!(v.verify(&bad).await.unwrap_err(), AuthError::Invalid(_)),
                "accepted a bad token"
            );
        }
        // Expired but inside the clock-skew leeway is accepted.
        let v2 = JwtVerifier::new(
            reqwest::Client::new(),
            v.openid_config_url.clone(),
            ISS,
            AUD,
            Duration::from_secs(120),
        );
        v2.verify(&token(&k1, "k1", ISS, AUD, -60)).await.unwrap();
    }

    #[tokio::test]
    async fn key_rotation_refreshes_once() {
        let k1 = keypair("k1");
        let k2 = keypair("k2");
        let jwks = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [k1.jwk]})));
        let hits = Arc::new(AtomicUsize::new(0));
        let url = oidc_server(jwks.clone(), hits.clone()).await;
        let mut v = JwtVerifier::new(
            reqwest::Client::new(),
            url,
            ISS,
            AUD,
            Duration::from_secs(30),
        );
        v.min_refresh_interval = Duration::ZERO;
        v.refresh().await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // The service rotates to k2.
        *jwks.lock().unwrap() = serde_json::json!({"keys": [k2.jwk.clone()]});
        v.verify(&token(&k2, "k2", ISS, AUD, 300)).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        // Known key: no refetch.
        v.verify(&token(&k2, "k2", ISS, AUD, 300)).await.unwrap();
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        // Unknown kid after refresh → UnknownKey.
        let k3 = keypair("k3");
        assert_eq!(
            v.verify(&token(&k3, "k3", ISS, AUD, 300))
                .await
                .unwrap_err(),
            AuthError::UnknownKey(Some("k3".into()))
        );
    }

    #[tokio::test]
    async fn unreachable_keys_are_reported_as_unavailable() {
        let v = JwtVerifier::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9/nothing",
            ISS,
            AUD,
            Duration::from_secs(30),
        );
        assert!(matches!(
            v.refresh().await.unwrap_err(),
            AuthError::KeysUnavailable(_)
        ));
    }

    #[tokio::test]
    async fn unknown_kids_cost_one_fetch_however_many_ask() {
        let k1 = keypair("k1");
        let jwks = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [k1.jwk]})));
        let hits = Arc::new(AtomicUsize::new(0));
        let url = oidc_server(jwks.clone(), hits.clone()).await;
        let v = Arc::new(
            JwtVerifier::new(
                reqwest::Client::new(),
                url,
                ISS,
                AUD,
                Duration::from_secs(30),
            )
            .with_min_refresh_interval(Duration::from_secs(3600)),
        );
        v.refresh().await.unwrap();
        // The service rotated to k2: fifty requests with it at once, one fetch.
        let k2 = keypair("k2");
        *jwks.lock().unwrap() = serde_json::json!({"keys": [k2.jwk.clone()]});
        let good = token(&k2, "k2", ISS, AUD, 300);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (v, t) = (v.clone(), good.clone());
                tokio::spawn(async move { v.verify(&t).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        // Made-up kids inside the interval: no fetch at all.
        for i in 0..20 {
            let kid = format!("made-up-{i}");
            assert_eq!(
                v.verify(&token(&k2, &kid, ISS, AUD, 300))
                    .await
                    .unwrap_err(),
                AuthError::UnknownKey(Some(kid))
            );
        }
        assert_eq!(hits.load(Ordering::SeqCst), 2);
        assert_eq!(v.fetch_count(), 2);
    }

    #[tokio::test]
    async fn failed_refreshes_are_rate_limited_too() {
        let v = JwtVerifier::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9/nothing",
            ISS,
            AUD,
            Duration::from_secs(30),
        )
        .with_min_refresh_interval(Duration::from_secs(3600));
        let k = keypair("k1");
        for _ in 0..10 {
            assert!(matches!(
                v.verify(&token(&k, "k1", ISS, AUD, 300)).await.unwrap_err(),
                AuthError::KeysUnavailable(_)
            ));
        }
        assert_eq!(v.fetch_count(), 1);
    }

    #[tokio::test]
    async fn a_refresh_replaces_the_set_and_removed_keys_stop_working() {
        let k1 = keypair("k1");
        let k2 = keypair("k2");
        let jwks = Arc::new(std::sync::Mutex::new(
            serde_json::json!({"keys": [k1.jwk.clone(), k2.jwk.clone()]}),
        ));
        let hits = Arc::new(AtomicUsize::new(0));
        let url = oidc_server(jwks.clone(), hits.clone()).await;
        let v = JwtVerifier::new(
            reqwest::Client::new(),
            url,
            ISS,
            AUD,
            Duration::from_secs(30),
        )
        .with_min_refresh_interval(Duration::from_secs(3600));
        v.refresh().await.unwrap();
        v.verify(&token(&k1, "k1", ISS, AUD, 300)).await.unwrap();
        // The issuer withdraws k1 (compromised): the next periodic refresh drops it.
        *jwks.lock().unwrap() = serde_json::json!({"keys": [k2.jwk.clone()]});
        assert_eq!(v.refresh().await.unwrap(), 1);
        assert_eq!(
            v.verify(&token(&k1, "k1", ISS, AUD, 300))
                .await
                .unwrap_err(),
            AuthError::UnknownKey(Some("k1".into()))
        );
        v.verify(&token(&k2, "k2", ISS, AUD, 300)).await.unwrap();
    }

    #[tokio::test]
    async fn event_grid_tokens_must_come_from_the_event_grid_application() {
        let k1 = keypair("k1");
        let jwks = Arc::new(std::sync::Mutex::new(serde_json::json!({"keys": [k1.jwk]})));
        let url = oidc_server(jwks, Arc::new(AtomicUsize::new(0))).await;
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let aud = "api://switchboard-webhook";
        let app = crate::config::EVENT_GRID_APP_ID;
        let v = JwtVerifier::with_rules(
            reqwest::Client::new(),
            url,
            TokenRules::event_grid(tenant, vec![aud.into()], app, Duration::from_secs(30)),
        );
        v.refresh().await.unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let sign = |claims: serde_json::Value| {
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some("k1".into());
            jsonwebtoken::encode(&h, &claims, &k1.enc).unwrap()
        };
        let v1_iss = format!("https://sts.windows.net/{tenant}/");
        let v2_iss = format!("https://login.microsoftonline.com/{tenant}/v2.0");
        v.verify(&sign(
            serde_json::json!({"iss": v1_iss, "aud": aud, "exp": now + 300, "appid": app}),
        ))
        .await
        .unwrap();
        v.verify(&sign(
            serde_json::json!({"iss": v2_iss, "aud": aud, "exp": now + 300, "azp": app}),
        ))
        .await
        .unwrap();
        let other = "00000000-1111-2222-3333-444444444444";
        assert_eq!(
            v.verify(&sign(
                serde_json::json!({"iss": v2_iss, "aud": aud, "exp": now + 300, "azp": other})
            ))
            .await
            .unwrap_err(),
            AuthError::WrongApplication(Some(other.into()))
        );
        assert_eq!(
            v.verify(&sign(
                serde_json::json!({"iss": v2_iss, "aud": aud, "exp": now + 300})
            ))
            .await
            .unwrap_err(),
            AuthError::WrongApplication(None)
        );
        let other_tenant = "https://login.microsoftonline.com/someone-else/v2.0";
        assert!(matches!(
            v.verify(&sign(
                serde_json::json!({"iss": other_tenant, "aud": aud, "exp": now + 300, "azp": app})
            ))
            .await
            .unwrap_err(),
            AuthError::Invalid(_)
        ));
    }
}
