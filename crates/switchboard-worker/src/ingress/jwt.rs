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
//!
//! # Verified tokens
//! A token is not bound to a request: Call Automation and Entra hand out one token and send it
//! on every delivery until it nears expiry. An RSA signature check costs more than the rest of
//! a callback's handling in the ingress, so a token that passed every check is remembered —
//! by its whole compact form, signature included, so a token differing in any byte is checked
//! afresh — and a later request bearing the very same string only has its time claims (`exp`,
//! `nbf`, with the leeway) checked again. The memory is bounded ([`VERIFIED_CAPACITY`]),
//! holds successes only (a refused token costs a full check every time, as before), and is
//! emptied whenever the key set is replaced, so a withdrawn key stops being trusted at the
//! same moment as without it.

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

/// Most verified tokens remembered at once (see the module docs): a handful are live at a
/// time (one per issuer and audience, two around a renewal).
pub const VERIFIED_CAPACITY: usize = 64;

/// Tokens that passed every check under the key set of `generation`.
#[derive(Default)]
struct VerifiedTokens {
    generation: u64,
    tokens: HashMap<String, VerifiedToken>,
}

#[derive(Clone)]
struct VerifiedToken {
    claims: Claims,
    nbf: Option<u64>,
}

/// The claims a signature check decodes: ours plus `nbf`, kept to re-check a remembered token.
#[derive(Deserialize)]
struct DecodedClaims {
    #[serde(flatten)]
    claims: Claims,
    #[serde(default)]
    nbf: Option<u64>,
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
    verified: std::sync::Mutex<VerifiedTokens>,
    signature_checks: std::sync::atomic::AtomicU64,
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
            verified: std::sync::Mutex::new(VerifiedTokens::default()),
            signature_checks: std::sync::atomic::AtomicU64::new(0),
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

    /// How many tokens had their signature checked (tests: a remembered token skips it).
    pub fn signature_check_count(&self) -> u64 {
        self.signature_checks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token verified before under the current key set, if its time claims still hold.
    fn remembered(&self, token: &str) -> Option<Claims> {
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.generation != generation {
            return None;
        }
        let hit = verified.tokens.get(token)?;
        let now = jsonwebtoken::get_current_timestamp();
        let leeway = self.rules.leeway.as_secs();
        let live = hit.claims.exp.saturating_add(leeway) > now
            && hit.nbf.is_none_or(|nbf| nbf <= now.saturating_add(leeway));
        live.then(|| hit.claims.clone())
    }

    /// Remember `token`, verified under the key set of `generation`.
    fn remember(&self, token: &str, generation: u64, verified_token: VerifiedToken) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.generation != generation {
            if generation < verified.generation {
                // Checked under a set replaced meanwhile: not worth keeping.
                return;
            }
            verified.generation = generation;
            verified.tokens.clear();
        }
        if verified.tokens.len() >= VERIFIED_CAPACITY {
            let now = jsonwebtoken::get_current_timestamp();
            verified.tokens.retain(|_, t| t.claims.exp > now);
            if verified.tokens.len() >= VERIFIED_CAPACITY {
                verified.tokens.clear();
            }
        }
        verified.tokens.insert(token.to_string(), verified_token);
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
        if let Some(claims) = self.remembered(token) {
            return Ok(claims);
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
        // Read before the keys: a set replaced after this read makes the result older than
        // the cache, and `remember` then drops it.
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
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
        self.signature_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let decoded = jsonwebtoken::decode::<DecodedClaims>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let claims = decoded.claims;
        if let Some(apps) = &self.rules.applications {
            let client = claims.appid.as_ref().or(claims.azp.as_ref());
            if !client.is_some_and(|c| apps.iter().any(|a| a == c)) {
                return Err(AuthError::WrongApplication(client.cloned()));
            }
        }
        self.remember(
            token,
            generation,
            VerifiedToken {
                claims: claims.clone(),
                nbf: decoded.nbf,
            },
        );
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
#[path = "jwt_tests.rs"]
mod tests;
