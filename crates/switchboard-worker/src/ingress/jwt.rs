//! Verification of the `Authorization: Bearer` JWT that Call Automation puts on every callback.
//!
//! Standard OIDC: the OpenID configuration (`…/calling/.well-known/acsopenidconfiguration`) names
//! a `jwks_uri`; tokens are RS256, signed by a key from that set (`kid`), issued by
//! `https://acscallautomation.communication.azure.com`, with audience = the ACS resource's
//! immutable id, and live 5 minutes. Keys are cached; a token with an unknown `kid` triggers one
//! refresh (key rotation), rate-limited so a flood of bad tokens cannot hammer the JWKS endpoint.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

/// Why a token was refused. None of these is retryable by the sender with the same token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing Authorization header")]
    Missing,
    /// `Authorization` without a `Bearer` token.
    #[error("Authorization is not a Bearer token")]
    NotBearer,
    /// Not a JWT (bad base64, JSON or header).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// Signed with a key id the key set does not hold, even after a refresh.
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(Option<String>),
    /// Signature, issuer, audience or lifetime check failed.
    #[error("token rejected: {0}")]
    Invalid(String),
    /// The key set could not be fetched: our problem, not the caller's (answer 503).
    #[error("signing keys unavailable: {0}")]
    KeysUnavailable(String),
}

/// What we keep from a verified token.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Issuer (checked against the expected one).
    pub iss: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Subject, when the token has one.
    #[serde(default)]
    pub sub: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OpenIdConfig {
    jwks_uri: String,
    #[serde(default)]
    issuer: Option<String>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies ACS callback tokens against a JWKS discovered from an OpenID configuration.
pub struct JwtVerifier {
    http: reqwest::Client,
    openid_config_url: String,
    issuer: String,
    audience: String,
    leeway: Duration,
    min_refresh_interval: Duration,
    cache: RwLock<Cache>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("openid_config_url", &self.openid_config_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtVerifier {
    /// A verifier that fetches signing keys from `openid_config_url`'s `jwks_uri` and accepts
    /// tokens from `issuer` for `audience`.
    pub fn new(
        http: reqwest::Client,
        openid_config_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        leeway: Duration,
    ) -> Self {
        Self {
            http,
            openid_config_url: openid_config_url.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            leeway,
            min_refresh_interval: Duration::from_secs(10),
            cache: RwLock::new(Cache::default()),
        }
    }

    /// Fetch the key set now (readiness: the ingress is ready once keys are loaded).
    pub(crate) async fn refresh(&self) -> Result<usize, AuthError> {
        let cfg: OpenIdConfig = self
            .http
            .get(&self.openid_config_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::KeysUnavailable(format!("openid configuration: {e}")))?
            .json()
            .await
            .map_err(|e| AuthError::KeysUnavailable(format!("openid configuration: {e}")))?;
        if let Some(iss) = &cfg.issuer {
            if iss != &self.issuer {
                tracing::warn!(configured = %self.issuer, advertised = %iss, "OpenID issuer differs from the configured issuer");
            }
        }
        let set: JwkSet = self
            .http
            .get(&cfg.jwks_uri)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| AuthError::KeysUnavailable(format!("jwks: {e}")))?
            .json()
            .await
            .map_err(|e| AuthError::KeysUnavailable(format!("jwks: {e}")))?;
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
        let mut cache = self.cache.write().await;
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        tracing::debug!(keys = n, "loaded callback signing keys");
        Ok(n)
    }

    /// True once a key set has been loaded.
    pub(crate) async fn has_keys(&self) -> bool {
        !self.cache.read().await.keys.is_empty()
    }

    /// Verify the value of an `Authorization` header.
    pub(crate) async fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
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
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} not allowed",
                header.alg
            )));
        }
        let kid = header.kid.clone();
        if let Some(claims) = self.try_with_cached(token, kid.as_deref()).await? {
            return Ok(claims);
        }
        // Unknown kid: keys may have rotated. Refresh at most once per interval.
        let stale = {
            let cache = self.cache.read().await;
            cache
                .fetched_at
                .is_none_or(|t| t.elapsed() >= self.min_refresh_interval)
        };
        if stale {
            self.refresh().await?;
            if let Some(claims) = self.try_with_cached(token, kid.as_deref()).await? {
                return Ok(claims);
            }
        }
        Err(AuthError::UnknownKey(kid))
    }

    async fn try_with_cached(
        &self,
        token: &str,
        kid: Option<&str>,
    ) -> Result<Option<Claims>, AuthError> {
        let cache = self.cache.read().await;
        let key = match kid {
            Some(k) => cache.keys.get(k),
            // No kid: only acceptable with exactly one key.
            None if cache.keys.len() == 1 => cache.keys.values().next(),
            None => None,
        };
        let Some(key) = key else {
            return Ok(None);
        };
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.leeway = self.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        jsonwebtoken::decode::<Claims>(token, key, &v)
            .map(|d| Some(d.claims))
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }
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
}
