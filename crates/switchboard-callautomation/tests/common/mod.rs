//! Call Automation for tests: the ACS simulator in-process on 127.0.0.1:0. It verifies every
//! request's HMAC signature (or bearer token) and content hash, routes by the spec's
//! operation table, validates bodies against the spec schema and answers from its simulated
//! world; its request log records all of that. Deliberately broken answers are its faults.
//!
//! Also included by the CLI tests (`#[path]`), so it uses only the simulator and the client.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use switchboard_callautomation::{
    AnswerCallRequest, CallAutomationClient, CallIntelligenceOptions, ClientOptions, Credential,
    RequestOptions, RetryOptions,
};
use switchboard_events::CallConnectionId;
use switchboard_sim::{
    AgentSpec, Behaviour, CannedResponse, ConnState, FaultKind, FaultRule, NumberSpec,
    RecordedRequest, Secret, SimConfig, SimHandle, Simulator, StartCall, Timing,
};
use url::Url;

/// The access key the simulator and the clients share (base64 of "switchboard-test-key-bytes").
pub const KEY_B64: &str = "c3dpdGNoYm9hcmQtdGVzdC1rZXktYnl0ZXM=";
/// The number customers dial.
pub const NUMBER: &str = "+18005550100";
/// The customer's number.
pub const CALLER: &str = "+14255550123";
/// A Teams agent who lets invitations ring (so they stay pending).
pub const AGENT: &str = "a1b2c3d4-0000-4000-8000-000000000001";
/// Where the simulator posts callbacks: a closed port, as no test here reads them.
pub const CALLBACK: &str = "http://127.0.0.1:9/callback";

/// A running simulator for Call Automation client tests.
pub struct Acs {
    pub sim: SimHandle,
}

/// A call the simulator has connected, answered through the API.
#[derive(Clone, Debug)]
pub struct Connected {
    pub id: CallConnectionId,
    pub server_call_id: String,
}

impl Acs {
    /// HMAC auth only.
    pub async fn hmac() -> Self {
        Self::start(None).await
    }

    /// HMAC, and also `Authorization: Bearer <token>`.
    pub async fn bearer(token: &str) -> Self {
        Self::start(Some(token)).await
    }

    /// Start with `cfg` (key, seed and timing filled in) and the test world: one number, one
    /// agent who does not answer.
    pub async fn start_with(cfg: SimConfig) -> Self {
        let sim = Simulator::start(SimConfig {
            access_key: Some(Secret::new(KEY_B64)),
            random_seed: Some(7),
            timing: Timing {
                connect_delay: Duration::from_millis(5),
                operation_delay: Duration::from_millis(5),
                ..Timing::default()
            },
            // Tests send fixed `Repeatability-First-Sent` dates from the past.
            repeatability_window: None,
            ..cfg
        })
        .await
        .expect("start the simulator");
        sim.add_number(NumberSpec::new(NUMBER)).unwrap();
        sim.seed_agents(vec![AgentSpec::new(AGENT, "Ada Agent", "ada@contoso.com")
            .with_behaviour(Behaviour::NoAnswer)])
            .unwrap();
        Self { sim }
    }

    async fn start(bearer: Option<&str>) -> Self {
        Self::start_with(SimConfig {
            accept_bearer: bearer.map(Secret::new),
            ..SimConfig::default()
        })
        .await
    }

    pub fn endpoint(&self) -> Url {
        Url::parse(self.sim.endpoint()).unwrap()
    }

    pub fn connection_string(&self) -> String {
        format!("endpoint={};accesskey={KEY_B64}", self.sim.endpoint())
    }

    /// A client with fast, deterministic retries (no jitter, 1 ms initial delay).
    pub fn client(&self) -> CallAutomationClient {
        CallAutomationClient::from_connection_string(&self.connection_string(), fast_options())
            .unwrap()
    }

    pub fn client_with(
        &self,
        credential: Credential,
        options: ClientOptions,
    ) -> CallAutomationClient {
        CallAutomationClient::new(self.endpoint(), credential, options).unwrap()
    }

    /// The next requests, whatever their operation, get these answers, one each, in order;
    /// then the simulator answers for itself again.
    pub fn script(&self, replies: impl IntoIterator<Item = CannedResponse>) {
        let mut faults = self.sim.faults();
        faults.global.rules.extend(
            replies
                .into_iter()
                .map(|r| FaultRule::times(FaultKind::Respond(r), 1)),
        );
        self.sim.set_faults(faults).unwrap();
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sim.requests()
    }

    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        self.sim.take_requests()
    }

    /// A customer calls [`NUMBER`] from `from`; the call is answered through the API and
    /// connected. The setup's requests are left out of the request log.
    pub async fn connected_call_from(&self, from: &str) -> Connected {
        let mut timeline = self.sim.subscribe();
        let incoming = self
            .sim
            .start_call(StartCall {
                from: Some(from.to_owned()),
                to: Some(NUMBER.to_owned()),
                ..StartCall::default()
            })
            .unwrap();
        let answered = CallAutomationClient::from_connection_string(
            &self.connection_string(),
            ClientOptions::default(),
        )
        .unwrap()
        .answer_call(
            &{
                // Text prompts need Azure AI services on the call (simulator ADR 0009).
                let mut answer = AnswerCallRequest::new(incoming.incoming_call_context, CALLBACK);
                answer.call_intelligence_options = Some(CallIntelligenceOptions {
                    cognitive_services_endpoint: Some(
                        self.sim.cognitive_services_endpoint().to_owned(),
                    ),
                });
                answer
            },
            RequestOptions::default(),
        )
        .await
        .expect("answer");
        let id = answered.call_connection_id.expect("a call connection id");
        // Wait on the simulator's own timeline, not on the clock.
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let state = self.sim.call(id.as_str()).and_then(|c| c.state);
                if state == Some(ConnState::Connected) {
                    break;
                }
                let _ = timeline.recv().await;
            }
        })
        .await
        .expect("the call connects");
        self.sim.clear_requests();
        Connected {
            id,
            server_call_id: incoming.server_call_id,
        }
    }

    /// [`Self::connected_call_from`] the default caller.
    pub async fn connected_call(&self) -> Connected {
        self.connected_call_from(CALLER).await
    }

    /// An incoming call's context (not answered).
    pub fn incoming_context(&self) -> String {
        self.sim
            .start_call(StartCall {
                from: Some(CALLER.to_owned()),
                to: Some(NUMBER.to_owned()),
                ..StartCall::default()
            })
            .unwrap()
            .incoming_call_context
    }
}

pub fn fast_options() -> ClientOptions {
    ClientOptions {
        retry: RetryOptions {
            max_attempts: 3,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            jitter: false,
            jitter_seed: None,
            total_deadline: Some(Duration::from_secs(30)),
            max_retry_after: Duration::from_secs(60),
        },
        ..ClientOptions::default()
    }
}

/// A canned answer: `status`, empty body.
pub fn status(status: u16) -> CannedResponse {
    CannedResponse::status(status)
}

/// A canned answer in the Call Automation error shape.
pub fn error(status: u16, code: &str, message: &str) -> CannedResponse {
    CannedResponse::acs_error(status, code, message)
}

/// A canned JSON answer.
pub fn json(status: u16, body: Value) -> CannedResponse {
    CannedResponse::json(status, body)
}

/// The spec example's success response of `operation_id`, as the service documents it.
pub fn example_response(operation_id: &str) -> CannedResponse {
    let op = switchboard_contract::operation(operation_id).unwrap();
    let status = op.responses[0].status;
    let body = op.examples.iter().find_map(|name| {
        switchboard_contract::spec()
            .example(name)?
            .get("responses")?
            .get(status.to_string())?
            .get("body")
            .cloned()
    });
    match (op.response_definition(status), body) {
        (Some(_), Some(body)) => json(status, body),
        (Some(_), None) => json(status, serde_json::json!({})),
        (None, _) => CannedResponse::status(status),
    }
}

/// Compares a body we sent with a spec example's body: every non-null example field must be
/// present and equal; the only extra field allowed is `rawId` on an identifier (the example
/// omits it, our identifiers always carry it), and an example `null` means "absent".
pub fn assert_matches_example(ours: &Value, example: &Value, path: &str) {
    match (ours, example) {
        (Value::Object(o), Value::Object(e)) => {
            for (k, ev) in e {
                if ev.is_null() {
                    assert!(
                        o.get(k).is_none_or(Value::is_null),
                        "{path}/{k}: example null, ours {:?}",
                        o.get(k)
                    );
                    continue;
                }
                let ov = o
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}/{k}: missing in ours"));
                assert_matches_example(ov, ev, &format!("{path}/{k}"));
            }
            for k in o.keys() {
                if !e.contains_key(k) {
                    assert!(
                        k == "rawId" && o.contains_key("kind"),
                        "{path}/{k}: extra field in ours"
                    );
                }
            }
        }
        (Value::Array(o), Value::Array(e)) => {
            assert_eq!(o.len(), e.len(), "{path}: array length");
            for (i, (ov, ev)) in o.iter().zip(e).enumerate() {
                assert_matches_example(ov, ev, &format!("{path}/{i}"));
            }
        }
        _ => assert_eq!(ours, example, "{path}"),
    }
}

/// The request body of a spec example.
pub fn example_body(example: &str, parameter: &str) -> Value {
    switchboard_contract::spec()
        .example(example)
        .unwrap_or_else(|| panic!("no example {example}"))["parameters"][parameter]
        .clone()
}
