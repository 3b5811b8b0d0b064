//! Callback tokens: every callback POST carries `Authorization: Bearer <JWT>`, RS256-signed
//! with the simulator's RSA key, `kid` in the header, `iss` =
//! `https://acscallautomation.communication.azure.com` and `aud` = the ACS resource's
//! immutable id, like the real service. The key set and an OpenID configuration pointing at
//! it are served at `/calling/keys` and `/calling/.well-known/acsopenidconfiguration`, so a
//! standard OIDC verifier (the ingress) works unchanged against the simulator.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::JwtConfig;
use crate::error::SimError;

/// Path of the OpenID configuration on the simulator.
pub const OPENID_CONFIG_PATH: &str = "/calling/.well-known/acsopenidconfiguration";
/// Path of the JWKS on the simulator.
pub const JWKS_PATH: &str = "/calling/keys";

/// Signs callback tokens and describes its public key.
pub struct CallbackSigner {
    encoding: EncodingKey,
    kid: String,
    jwk: Value,
    issuer: String,
    audience: String,
    lifetime: Duration,
    reuse_for: Duration,
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for CallbackSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackSigner")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl CallbackSigner {
    /// Load the configured key or generate a 2048-bit one. Key generation is CPU-heavy:
    /// call this from a blocking context.
    pub fn new(cfg: &JwtConfig, audience: String) -> Result<Self, SimError> {
        let key = match &cfg.signing_key_pem {
            Some(pem) => RsaPrivateKey::from_pkcs1_pem(pem.expose())
                .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem.expose()))
                .map_err(|_| {
                    SimError::Config("signing key is not an RSA PEM (PKCS#1 or PKCS#8)".into())
                })?,
            None => RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|e| SimError::Config(format!("cannot generate an RSA key: {e}")))?,
        };
        let der = key
            .to_pkcs1_der()
            .map_err(|e| SimError::Config(format!("cannot encode the RSA key: {e}")))?;
        let encoding = EncodingKey::from_rsa_der(der.as_bytes());
        let public = key.to_public_key();
        let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
        // RFC 7638 thumbprint as the key id: stable for a given key.
        let thumb_input = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(thumb_input.as_bytes()));
        let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
        Ok(Self {
            encoding,
            kid,
            jwk,
            issuer: cfg.issuer.clone(),
            audience,
            lifetime: cfg.token_lifetime,
            reuse_for: cfg.reuse_for,
            cached: Mutex::new(None),
        })
    }

    /// The key id in every token header.
    #[cfg(test)]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `{"keys":[…]}`.
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }

    /// The OpenID configuration document for a simulator at `base_url`.
    pub fn openid_configuration(&self, base_url: &str) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{base_url}{JWKS_PATH}"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        })
    }

    /// A token for a callback. Tokens are not bound to a request, so one is reused for
    /// `reuse_for` (RSA signing on every POST would dominate the simulator's CPU time).
    pub fn token(&self) -> String {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((tok, at)) = cached.as_ref() {
            if at.elapsed() < self.reuse_for {
                return tok.clone();
            }
        }
        let tok = self.sign_now();
        *cached = Some((tok.clone(), Instant::now()));
        tok
    }

    fn sign_now(&self) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let exp = now + i64::try_from(self.lifetime.as_secs()).unwrap_or(300);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        let claims = json!({
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": exp,
        });
        // Signing with a key we built ourselves cannot fail short of a bug in the backend;
        // an empty token then fails verification at the receiver, which is the safe outcome.
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn tokens_verify_with_the_served_jwks() {
        let cfg = JwtConfig::default();
        let s = CallbackSigner::new(&cfg, "resource-1".into()).unwrap();
        let tok = s.token();
        assert_eq!(tok, s.token(), "reused within the window");
        let header = jsonwebtoken::decode_header(&tok).unwrap();
        assert_eq!(header.kid.as_deref(), Some(s.kid()));
        assert_eq!(header.alg, Algorithm::RS256);
        let set: JwkSet = serde_json::from_value(s.jwks()).unwrap();
        let jwk = set.find(s.kid()).unwrap();
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[crate::config::ACS_CALLBACK_ISSUER]);
        v.set_audience(&["resource-1"]);
        let data = jsonwebtoken::decode::<Value>(&tok, &key, &v).unwrap();
        assert_eq!(data.claims["aud"], "resource-1");
        // Another audience is refused.
        v.set_audience(&["other"]);
        assert!(jsonwebtoken::decode::<Value>(&tok, &key, &v).is_err());
        let oidc = s.openid_configuration("http://127.0.0.1:1");
        assert_eq!(oidc["jwks_uri"], "http://127.0.0.1:1/calling/keys");
        assert!(!format!("{s:?}").contains("PRIVATE"));
    }

    #[test]
    fn bad_pem_is_a_config_error() {
        let cfg = JwtConfig {
            signing_key_pem: Some("-----BEGIN NOTHING-----".into()),
            ..JwtConfig::default()
        };
        assert!(matches!(
            CallbackSigner::new(&cfg, "r".into()),
            Err(SimError::Config(_))
        ));
    }
}
