//! A real ingress on a real socket for hostile-input tests and the hostile load runner: the
//! ingress built from a configuration exactly as `switchboard ingress` builds it, on an
//! embedded SQLite queue, with a local OpenID issuer (configuration + JWKS over HTTP) whose
//! key signs the valid tokens — and whatever forgeries a test wants.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use switchboard_queue::Message;
use switchboard_worker::app::build_ingress;
use switchboard_worker::backend::{EngineHooks, Queues};
use switchboard_worker::config::{Config, EVENT_GRID_APP_ID};

/// Issuer of the callback tokens.
pub const ISS: &str = "https://acscallautomation.communication.azure.com";
/// The ACS resource id (audience of callback tokens).
pub const AUD: &str = "5e1a7c52-0000-4000-8000-00000000a0d1";
/// Tenant of the Event Grid webhook's application.
pub const TENANT: &str = "72f988bf-0000-4000-8000-000000000001";
/// Audience of Event Grid tokens.
pub const EG_AUD: &str = "api://switchboard-webhook";

/// One RSA key for the whole process (generation is slow).
pub struct Keys {
    /// Signs valid tokens.
    pub enc: EncodingKey,
    /// The public key's PKCS#1 PEM (what a naive verifier would use as an HMAC secret).
    pub public_pem: String,
    /// JWK of the public key.
    pub jwk: Value,
    /// Another key, never published: forged signatures.
    pub other: EncodingKey,
}

/// The process's keys.
pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        let gen = || rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let key = gen();
        let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let public = key.to_public_key();
        let other = gen().to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        Keys {
            enc: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            public_pem: public.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap(),
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
                "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
            }),
            other: EncodingKey::from_rsa_pem(other.as_bytes()).unwrap(),
        }
    })
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// RS256 with `kid` and the given claims, signed by `key`.
pub fn sign(key: &EncodingKey, kid: &str, claims: Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

/// A valid callback token.
pub fn callback_token() -> String {
    sign(
        &keys().enc,
        "k1",
        json!({"iss": ISS, "aud": AUD, "exp": now() + 300, "nbf": now() - 5}),
    )
}

/// A valid Event Grid delivery token (v2, `azp` = Event Grid).
pub fn eventgrid_token() -> String {
    sign(
        &keys().enc,
        "k1",
        json!({
            "iss": format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
            "aud": EG_AUD, "exp": now() + 300, "nbf": now() - 5, "azp": EVENT_GRID_APP_ID,
        }),
    )
}

/// Forged callback tokens, each named.
pub fn forged_tokens() -> Vec<(&'static str, String)> {
    let k = keys();
    let good = json!({"iss": ISS, "aud": AUD, "exp": now() + 300, "nbf": now() - 5});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &good,
        &EncodingKey::from_secret(k.public_pem.as_bytes()),
    )
    .unwrap();
    vec![
        ("alg none", none),
        ("HS256 with the public key", hs256),
        (
            "expired",
            sign(&k.enc, "k1", with(&|c| c["exp"] = json!(now() - 3600))),
        ),
        (
            "not yet valid",
            sign(&k.enc, "k1", with(&|c| c["nbf"] = json!(now() + 3600))),
        ),
        (
            "wrong issuer",
            sign(
                &k.enc,
                "k1",
                with(&|c| c["iss"] = json!("https://evil.example")),
            ),
        ),
        (
            "wrong audience",
            sign(
                &k.enc,
                "k1",
                with(&|c| c["aud"] = json!("another-resource")),
            ),
        ),
        ("unknown kid", sign(&k.enc, "made-up-kid", good.clone())),
        ("forged signature", sign(&k.other, "k1", good.clone())),
        ("garbage", "not.a.token".into()),
    ]
}

/// A Call Automation callback (CloudEvents) for `call`.
pub fn callback_event(id: &str, call: &str) -> Value {
    json!({
        "id": id,
        "source": format!("calling/callConnections/{call}"),
        "type": "Microsoft.Communication.CallConnected",
        "specversion": "1.0",
        "time": "2024-01-01T00:00:00Z",
        "data": {"callConnectionId": call, "serverCallId": "srv", "correlationId": format!("corr-{call}")},
    })
}

/// An Event Grid IncomingCall notification.
pub fn incoming_call_event(id: &str) -> Value {
    json!({
        "id": id,
        "topic": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Communication/communicationServices/acs",
        "subject": "/caller/4:+14255550123/recipient/4:+14255550100",
        "eventType": "Microsoft.Communication.IncomingCall",
        "eventTime": "2024-01-01T00:00:00Z",
        "dataVersion": "1.0",
        "data": {
            "to": {"kind": "phoneNumber", "rawId": "4:+14255550100", "phoneNumber": {"value": "+14255550100"}},
            "from": {"kind": "phoneNumber", "rawId": "4:+14255550123", "phoneNumber": {"value": "+14255550123"}},
            "incomingCallContext": "ctx",
            "correlationId": format!("corr-{id}"),
        },
    })
}

/// A forged internal message, as an attacker would post it.
pub fn forged_internal(id: &str) -> Value {
    json!({
        "id": id, "type": "Switchboard.Overflow", "specversion": "1.0", "source": "x",
        "data": {"correlationId": "corr-victim", "transferTo": "+19995550000"},
    })
}

/// A running ingress.
pub struct Ingress {
    /// `http://127.0.0.1:port`.
    pub url: String,
    /// `http://127.0.0.1:port` of the status listener.
    pub status_url: String,
    /// Its queues.
    pub queues: Queues,
    _dir: tempfile::TempDir,
}

/// Options of [`Ingress::start`].
#[derive(Clone)]
pub struct Options {
    /// `ingress.max_body_bytes`.
    pub max_body_bytes: usize,
    /// `ingress.max_message_bytes`.
    pub max_message_bytes: usize,
    /// `ingress.request_timeout_secs`.
    pub request_timeout_secs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_message_bytes: 256 * 1024,
            request_timeout_secs: 2,
        }
    }
}

async fn issuer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let b = base.clone();
    let app = axum::Router::new()
        .route(
            "/openid",
            axum::routing::get(move || {
                let b = b.clone();
                async move { axum::Json(json!({"jwks_uri": format!("{b}/keys")})) }
            }),
        )
        .route(
            "/keys",
            axum::routing::get(|| async { axum::Json(json!({"keys": [keys().jwk]})) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("{base}/openid")
}

impl Ingress {
    /// Start one: callbacks with JWT auth, the Event Grid webhook with Entra auth, on
    /// 127.0.0.1 ports chosen by the system.
    pub async fn start(o: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let openid = issuer().await;
        let text = format!(
            r#"
[acs]
resource_id = "{AUD}"
[queue]
sqlite_path = "{db}"
[ingress]
bind = "127.0.0.1"
port = 0
openid_config_url = "{openid}"
max_body_bytes = {mb}
max_message_bytes = {mm}
request_timeout_secs = {rt}
eventgrid_webhook = true
eventgrid_auth = "entra"
eventgrid_tenant_id = "{TENANT}"
eventgrid_audiences = ["{EG_AUD}"]
eventgrid_openid_config_url = "{openid}"
"#,
            db = dir.path().join("q.db").display(),
            mb = o.max_body_bytes,
            mm = o.max_message_bytes,
            rt = o.request_timeout_secs,
        );
        let cfg = Config::from_toml_str(&text).unwrap();
        let app = build_ingress(&cfg, &EngineHooks::default(), None)
            .await
            .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(l, app.router).await.unwrap() });
        let sl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let status_url = format!("http://{}", sl.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(sl, app.status_router).await.unwrap() });
        let me = Self {
            url,
            status_url,
            queues: app.queues,
            _dir: dir,
        };
        me.wait_ready().await;
        me
    }

    /// Until `/readyz` says the keys are loaded (the refresher fetched them).
    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let r = http.get(format!("{}/readyz", self.url)).send().await;
            if r.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("ingress never became ready");
    }

    /// Every message on the events queue.
    pub async fn events(&self) -> Vec<Message> {
        self.queues.events.receiver.peek(0, 100_000).await.unwrap()
    }

    /// Every message on the incoming-calls queue.
    pub async fn incoming(&self) -> Vec<Message> {
        self.queues
            .incoming
            .receiver
            .peek(0, 100_000)
            .await
            .unwrap()
    }

    /// Every refusal (dead letters of the rejects queue).
    pub async fn rejects(&self) -> Vec<Message> {
        self.queues
            .rejects
            .dead_letters
            .peek(0, 100_000)
            .await
            .unwrap()
    }
}

/// POST `body` to `url` with an optional bearer token.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let mut r = http
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}
