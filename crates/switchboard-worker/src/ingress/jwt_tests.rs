//! Tests of [`super`]: token checks against a real OpenID issuer on a socket, key rotation,
//! single-flight and rate-limited refreshes.

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
                async move {
                    Json(
                        serde_json::json!({"issuer": ISS, "jwks_uri": format!("{b}/calling/keys")}),
                    )
                }
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

#[tokio::test]
async fn a_token_seen_before_skips_the_signature_check_until_keys_change() {
    let k1 = keypair("k1");
    let forger = keypair("k1");
    let jwks = Arc::new(std::sync::Mutex::new(
        serde_json::json!({"keys": [k1.jwk.clone()]}),
    ));
    let url = oidc_server(jwks.clone(), Arc::new(AtomicUsize::new(0))).await;
    let v = JwtVerifier::new(
        reqwest::Client::new(),
        url,
        ISS,
        AUD,
        Duration::from_secs(0),
    )
    .with_min_refresh_interval(Duration::from_secs(3600));
    v.refresh().await.unwrap();
    let good = token(&k1, "k1", ISS, AUD, 300);
    let first = v.verify(&good).await.unwrap();
    assert_eq!(v.verify(&good).await.unwrap(), first);
    assert_eq!(v.signature_check_count(), 1, "the same token checked twice");

    // Same header and claims, another signature: checked afresh, and refused.
    let forged = token(&forger, "k1", ISS, AUD, 300);
    assert!(matches!(
        v.verify(&forged).await.unwrap_err(),
        AuthError::Invalid(_)
    ));
    // A refused token is not remembered: it is checked (and refused) every time.
    assert!(v.verify(&forged).await.is_err());
    assert_eq!(v.signature_check_count(), 3);

    // A remembered token is only good while its time claims hold.
    let generation = v.generation.load(std::sync::atomic::Ordering::Acquire);
    let now = jsonwebtoken::get_current_timestamp();
    let remembered = |exp: u64, nbf: Option<u64>| {
        v.remember(
            "header.claims.signature",
            generation,
            VerifiedToken {
                claims: Claims {
                    iss: ISS.into(),
                    exp,
                    sub: None,
                    appid: None,
                    azp: None,
                },
                nbf,
            },
        );
        v.remembered("header.claims.signature")
    };
    assert!(remembered(now + 60, Some(now - 5)).is_some());
    assert!(remembered(now - 1, None).is_none(), "expired");
    assert!(
        remembered(now + 60, Some(now + 30)).is_none(),
        "not yet valid"
    );

    // The issuer withdraws k1: after the refresh the remembered token is not trusted.
    *jwks.lock().unwrap() = serde_json::json!({"keys": []});
    v.refresh().await.unwrap();
    assert!(
        v.verify(&good).await.is_err(),
        "a withdrawn key's token passed"
    );
}
