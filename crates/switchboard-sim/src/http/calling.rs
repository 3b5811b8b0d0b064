//! The Call Automation surface. A request is parsed into a [`Route`] first, then runs the
//! pipeline the service applies: faults (they hit before anything else, like a gateway
//! would) → authentication → `api-version` → repeatability → body validation against the
//! embedded spec → the operation. Unknown routes are 404.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{fault_answer, lose_answer, record, roll_faults, AppState, Surface};
use crate::auth::{self, SignedRequest};
use crate::engine::guard::Reply;
use crate::error::ApiError;
use crate::faults::RequestFault;
use crate::ledger::TimelineKind;
use crate::net::ConnMeta;
use crate::repeatability::{Check, StoredResponse, RESULT_HEADER};
use crate::request_log::{AuthCheck, SchemaCheck};
use crate::requests::{self, *};

/// Every Call Automation operation of the 2026-03-12 spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    CreateCall,
    AnswerCall,
    RedirectCall,
    RejectCall,
    Connect,
    GetCall(String),
    HangupCall(String),
    TerminateCall(String),
    Transfer(String),
    Play(String),
    StartTranscription(String),
    StopTranscription(String),
    UpdateTranscription(String),
    CancelAllMedia(String),
    Recognize(String),
    StartContinuousDtmf(String),
    StopContinuousDtmf(String),
    SendDtmfTones(String),
    Hold(String),
    Unhold(String),
    StartMediaStreaming(String),
    StopMediaStreaming(String),
    GetParticipants(String),
    AddParticipant(String),
    RemoveParticipant(String),
    Mute(String),
    CancelAddParticipant(String),
    MoveParticipants(String),
    GetParticipant(String, String),
    StartRecording,
    GetRecording(String),
    StopRecording(String),
    PauseRecording(String),
    ResumeRecording(String),
}

impl Route {
    /// Map method + path to a route; `None` for anything the service does not serve.
    pub fn parse(method: &Method, path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/calling/")?;
        let segs: Vec<&str> = rest.split('/').collect();
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .ok()
        };
        use Route::*;
        let r = match (method.as_str(), segs.as_slice()) {
            ("POST", ["callConnections"]) => CreateCall,
            ("POST", ["callConnections:answer"]) => AnswerCall,
            ("POST", ["callConnections:redirect"]) => RedirectCall,
            ("POST", ["callConnections:reject"]) => RejectCall,
            ("POST", ["callConnections:connect"]) => Connect,
            (m, ["callConnections", seg]) => {
                let (id, action) = match seg.split_once(':') {
                    Some((id, a)) => (dec(id)?, Some(a)),
                    None => (dec(seg)?, None),
                };
                if id.is_empty() {
                    return None;
                }
                match (m, action) {
                    ("GET", None) => GetCall(id),
                    ("DELETE", None) => HangupCall(id),
                    ("POST", Some("terminate")) => TerminateCall(id),
                    ("POST", Some("transferToParticipant")) => Transfer(id),
                    ("POST", Some("play")) => Play(id),
                    ("POST", Some("startTranscription")) => StartTranscription(id),
                    ("POST", Some("stopTranscription")) => StopTranscription(id),
                    ("POST", Some("updateTranscription")) => UpdateTranscription(id),
                    ("POST", Some("cancelAllMediaOperations")) => CancelAllMedia(id),
                    ("POST", Some("recognize")) => Recognize(id),
                    ("POST", Some("startContinuousDtmfRecognition")) => StartContinuousDtmf(id),
                    ("POST", Some("stopContinuousDtmfRecognition")) => StopContinuousDtmf(id),
                    ("POST", Some("sendDtmfTones")) => SendDtmfTones(id),
                    ("POST", Some("hold")) => Hold(id),
                    ("POST", Some("unhold")) => Unhold(id),
                    ("POST", Some("startMediaStreaming")) => StartMediaStreaming(id),
                    ("POST", Some("stopMediaStreaming")) => StopMediaStreaming(id),
                    _ => return None,
                }
            }
            (m, ["callConnections", id, seg]) => {
                let id = dec(id)?;
                match (m, *seg) {
                    ("GET", "participants") => GetParticipants(id),
                    ("POST", "participants:add") => AddParticipant(id),
                    ("POST", "participants:remove") => RemoveParticipant(id),
                    ("POST", "participants:mute") => Mute(id),
                    ("POST", "participants:cancelAddParticipant") => CancelAddParticipant(id),
                    ("POST", "participants:moveHere") => MoveParticipants(id),
                    _ => return None,
                }
            }
            ("GET", ["callConnections", id, "participants", raw]) => {
                GetParticipant(dec(id)?, dec(raw)?)
            }
            ("POST", ["recordings"]) => StartRecording,
            (m, ["recordings", seg]) => {
                let (id, action) = match seg.split_once(':') {
                    Some((id, a)) => (dec(id)?, Some(a)),
                    None => (dec(seg)?, None),
                };
                match (m, action) {
                    ("GET", None) => GetRecording(id),
                    ("DELETE", None) => StopRecording(id),
                    ("POST", Some("pause")) => PauseRecording(id),
                    ("POST", Some("resume")) => ResumeRecording(id),
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(r)
    }

    /// The spec's `operationId`: what faults, validation and the timeline key on.
    pub fn operation_id(&self) -> &'static str {
        use Route::*;
        match self {
            CreateCall => "CreateCall",
            AnswerCall => "AnswerCall",
            RedirectCall => "RedirectCall",
            RejectCall => "RejectCall",
            Connect => "Connect",
            GetCall(_) => "CallConnection_GetCall",
            HangupCall(_) => "CallConnection_HangupCall",
            TerminateCall(_) => "CallConnection_TerminateCall",
            Transfer(_) => "CallConnection_TransferToParticipant",
            Play(_) => "CallMedia_Play",
            StartTranscription(_) => "CallMedia_StartTranscription",
            StopTranscription(_) => "CallMedia_StopTranscription",
            UpdateTranscription(_) => "CallMedia_UpdateTranscription",
            CancelAllMedia(_) => "CallMedia_CancelAllMediaOperations",
            Recognize(_) => "CallMedia_Recognize",
            StartContinuousDtmf(_) => "CallMedia_StartContinuousDtmfRecognition",
            StopContinuousDtmf(_) => "CallMedia_StopContinuousDtmfRecognition",
            SendDtmfTones(_) => "CallMedia_SendDtmfTones",
            Hold(_) => "CallMedia_Hold",
            Unhold(_) => "CallMedia_Unhold",
            StartMediaStreaming(_) => "CallMedia_StartMediaStreaming",
            StopMediaStreaming(_) => "CallMedia_StopMediaStreaming",
            GetParticipants(_) => "CallConnection_GetParticipants",
            AddParticipant(_) => "CallConnection_AddParticipant",
            RemoveParticipant(_) => "CallConnection_RemoveParticipant",
            Mute(_) => "CallConnection_Mute",
            CancelAddParticipant(_) => "CallConnection_CancelAddParticipant",
            MoveParticipants(_) => "CallConnection_MoveParticipants",
            GetParticipant(..) => "CallConnection_GetParticipant",
            StartRecording => "CallRecording_StartRecording",
            GetRecording(_) => "CallRecording_GetRecordingProperties",
            StopRecording(_) => "CallRecording_StopRecording",
            PauseRecording(_) => "CallRecording_PauseRecording",
            ResumeRecording(_) => "CallRecording_ResumeRecording",
        }
    }

    /// The call connection this request is about, if any.
    fn connection_id(&self) -> Option<&str> {
        use Route::*;
        match self {
            GetCall(id)
            | HangupCall(id)
            | TerminateCall(id)
            | Transfer(id)
            | Play(id)
            | StartTranscription(id)
            | StopTranscription(id)
            | UpdateTranscription(id)
            | CancelAllMedia(id)
            | Recognize(id)
            | StartContinuousDtmf(id)
            | StopContinuousDtmf(id)
            | SendDtmfTones(id)
            | Hold(id)
            | Unhold(id)
            | StartMediaStreaming(id)
            | StopMediaStreaming(id)
            | GetParticipants(id)
            | AddParticipant(id)
            | RemoveParticipant(id)
            | Mute(id)
            | CancelAddParticipant(id)
            | MoveParticipants(id)
            | GetParticipant(id, _) => Some(id),
            _ => None,
        }
    }
}

/// Operations that take `Repeatability-Request-ID` / `-First-Sent`, from the embedded spec's
/// operation table.
fn repeatable(operation_id: &str) -> bool {
    crate::validate::is_repeatable(operation_id)
}

/// `/calling/{*rest}`.
pub(crate) async fn handle(
    State(app): State<AppState>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(route) = Route::parse(&method, uri.path()) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("No operation at {method} {}.", uri.path()),
        )
        .into_response();
    };
    let op = route.operation_id();
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // A lost answer is applied after the request is handled; any other fault answers instead.
    let (faulted, lost) = match roll_faults(&app, op, &conn).await {
        Some(RequestFault::Lost(lost)) => (None, Some(lost)),
        Some(other) => (Some(fault_answer(other, Surface::Acs, &conn).await), None),
        None => (None, None),
    };
    let now = OffsetDateTime::now_utc();
    let signed = SignedRequest {
        method: method.as_str(),
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(uri.path()),
        host: h(header::HOST.as_str()),
        date: h("x-ms-date"),
        content_hash: h("x-ms-content-sha256"),
        authorization: h(header::AUTHORIZATION.as_str()),
        body: &body,
    };
    let verdict = auth::verify(&signed, &app.key, app.bearer.as_ref(), now, app.max_skew);
    record::note(|r| r.auth = record_auth(&verdict));
    if let Some(resp) = faulted {
        // The service never looked at this request; the log still says whether the client
        // signed it and sent a valid body, which is what a retry test asks of every attempt.
        if record::recording() {
            let schema = record_schema(op, &body);
            record::note(|r| r.schema = schema);
        }
        return resp;
    }
    if let Err(failure) = verdict {
        tracing::debug!(operation = op, %failure, "refused request");
        return ApiError::unauthorized(&failure.to_string()).into_response();
    }
    if body.is_empty() {
        let schema = record_schema(op, &body);
        record::note(|r| r.schema = schema);
    }
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let version = match query.iter().find(|(k, _)| k == "api-version") {
        None => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
            .into_response()
        }
        Some((_, v)) if !app.engine.cfg.api_versions.iter().any(|s| s == v) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnsupportedApiVersion",
                format!(
                    "The HTTP resource does not support api-version '{v}'. Supported versions: {}.",
                    app.engine.cfg.api_versions.join(", ")
                ),
            )
            .into_response()
        }
        Some((_, v)) => v.clone(),
    };
    let ticket = if repeatable(op) {
        match app.engine.repeat.check(
            h("repeatability-request-id"),
            h("repeatability-first-sent"),
            method.as_str(),
            uri.path(),
            &body,
            now,
        ) {
            Check::NotRepeatable => None,
            Check::Proceed(t) => Some(t),
            Check::Replay(stored) => {
                app.engine.ledger_mut().replayed_requests += 1;
                note_request(&app, &route, op, stored.status, true);
                return stored_response(&stored, true);
            }
            Check::Reject(e) => return e.into_response(),
        }
    } else {
        None
    };
    let skip = query
        .iter()
        .find(|(k, _)| k == "skip")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let result = execute(&app, &route, op, &version, &body, skip);
    let stored = match result {
        Ok(Reply { status, body }) => StoredResponse {
            status: status.as_u16(),
            content_type: body
                .as_ref()
                .map(|_| "application/json; charset=utf-8".to_owned()),
            body: body
                .map(|b| serde_json::to_vec(&b).unwrap_or_default())
                .unwrap_or_default(),
        },
        Err(e) => StoredResponse {
            status: e.status.as_u16(),
            content_type: Some("application/json; charset=utf-8".to_owned()),
            body: serde_json::to_vec(&e.body()).unwrap_or_default(),
        },
    };
    note_request(&app, &route, op, stored.status, false);
    let has_ticket = ticket.is_some();
    if let Some(t) = ticket {
        t.complete(stored.clone());
    }
    if let Some(lost) = lost {
        // The effect happened (and a repeat replays `stored`); the client never learns it.
        app.engine.ledger_mut().lost_answers += 1;
        return lose_answer(lost, Surface::Acs, &conn).await;
    }
    stored_response(&stored, has_ticket)
}

fn stored_response(s: &StoredResponse, repeatable: bool) -> Response {
    let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, s.body.clone()).into_response();
    let h = resp.headers_mut();
    if let Some(ct) = s
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert(header::CONTENT_TYPE, ct);
    }
    if repeatable {
        h.insert(RESULT_HEADER, HeaderValue::from_static("accepted"));
    }
    resp
}

fn note_request(app: &AppState, route: &Route, op: &str, status: u16, replayed: bool) {
    let Some(ccid) = route.connection_id() else {
        return;
    };
    let Some(corr) = app.engine.resolve(ccid) else {
        return;
    };
    app.engine.note(
        &corr,
        Some(ccid),
        TimelineKind::Request,
        op,
        json!({"status": status, "replayed": replayed}),
    );
}

/// Parse and validate the JSON body of `op`.
fn json_body(op: &str, body: &[u8]) -> Result<Value, ApiError> {
    let checked = serde_json::from_slice::<Value>(body)
        .map_err(|e| ApiError::invalid(format!("Invalid request, the body is not valid JSON: {e}")))
        .and_then(|value| crate::validate::validate_body(op, &value).map(|()| value));
    record::note(|r| {
        r.schema = match &checked {
            Ok(_) => SchemaCheck::Valid,
            Err(e) => SchemaCheck::Invalid {
                errors: e.message.clone(),
            },
        }
    });
    checked
}

/// The log's auth verdict.
fn record_auth(verdict: &Result<auth::AuthMethod, auth::AuthFailure>) -> AuthCheck {
    match verdict {
        Ok(auth::AuthMethod::Hmac) => AuthCheck::Hmac,
        Ok(auth::AuthMethod::Bearer) => AuthCheck::Bearer,
        Err(e) => AuthCheck::Failed {
            reason: e.to_string(),
        },
    }
}

/// The log's schema verdict for a body the pipeline will not validate itself: an empty body
/// is valid unless the operation requires one.
fn record_schema(op: &str, body: &[u8]) -> SchemaCheck {
    if body.is_empty() {
        let required = switchboard_contract::operation(op)
            .and_then(|o| o.body.as_ref())
            .is_some_and(|b| b.required);
        return if required {
            SchemaCheck::Invalid {
                errors: "a request body is required".into(),
            }
        } else {
            SchemaCheck::Valid
        };
    }
    match json_body(op, body) {
        Ok(_) => SchemaCheck::Valid,
        Err(e) => SchemaCheck::Invalid { errors: e.message },
    }
}

fn typed<T: serde::de::DeserializeOwned>(op: &str, body: &[u8]) -> Result<T, ApiError> {
    let v = json_body(op, body)?;
    requests::from_value(v)
}

fn execute(
    app: &AppState,
    route: &Route,
    op: &str,
    version: &str,
    body: &[u8],
    skip: usize,
) -> Result<Reply, ApiError> {
    let e = &app.engine;
    use Route::*;
    match route {
        CreateCall => e.create_call(version, typed::<CreateCallRequest>(op, body)?),
        AnswerCall => e.answer(version, typed::<AnswerCallRequest>(op, body)?),
        RedirectCall => e.redirect(typed::<RedirectCallRequest>(op, body)?),
        RejectCall => e.reject(typed::<RejectCallRequest>(op, body)?),
        GetCall(id) => e.get_call(id),
        HangupCall(id) => e.hangup(id),
        TerminateCall(id) => e.terminate(id),
        Transfer(id) => e.transfer(id, typed::<TransferToParticipantRequest>(op, body)?),
        Play(id) => e.play(id, typed::<PlayRequest>(op, body)?),
        CancelAllMedia(id) => e.cancel_all_media(id),
        Recognize(id) => e.recognize(id, typed::<RecognizeRequest>(op, body)?),
        Hold(id) => e.hold(id, typed::<HoldRequest>(op, body)?),
        Unhold(id) => e.unhold(id, typed::<UnholdRequest>(op, body)?),
        GetParticipants(id) => e.get_participants(id, version, skip),
        AddParticipant(id) => e.add_participant(id, typed::<AddParticipantRequest>(op, body)?),
        RemoveParticipant(id) => {
            e.remove_participant(id, typed::<RemoveParticipantRequest>(op, body)?)
        }
        Mute(id) => e.mute(id, typed::<MuteParticipantsRequest>(op, body)?),
        CancelAddParticipant(id) => {
            e.cancel_add(id, typed::<CancelAddParticipantRequest>(op, body)?)
        }
        GetParticipant(id, raw) => e.get_participant(id, raw),
        StartRecording => e.start_recording(typed::<StartCallRecordingRequest>(op, body)?),
        GetRecording(id) => e.get_recording(id),
        StopRecording(id) => e.stop_recording(id),
        PauseRecording(id) => e.pause_recording(id),
        ResumeRecording(id) => e.resume_recording(id),
        Connect
        | StartTranscription(_)
        | StopTranscription(_)
        | UpdateTranscription(_)
        | StartContinuousDtmf(_)
        | StopContinuousDtmf(_)
        | SendDtmfTones(_)
        | StartMediaStreaming(_)
        | StopMediaStreaming(_)
        | MoveParticipants(_) => {
            // Still validated, so a client bug shows up as a 400 rather than a 405.
            if !body.is_empty() {
                json_body(op, body)?;
            }
            if let Some(id) = route.connection_id() {
                e.get_call(id)?;
            }
            Err(ApiError::not_supported(format!(
                "{op} is not supported by the Switchboard simulator."
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every operation of the embedded spec routes to the route with its operationId, for
    /// ids containing the characters raw ids and recording ids carry.
    #[test]
    fn every_spec_operation_is_routed() {
        for op in switchboard_contract::operations() {
            let params: Vec<(&str, &str)> = op
                .path_params
                .iter()
                .map(|p| {
                    let v = if p == "participantRawId" {
                        "4:+14255550123"
                    } else {
                        "abc-123_XYZ"
                    };
                    (p.as_str(), v)
                })
                .collect();
            let path = op.render_path(&params).expect("renders");
            let method = Method::from_bytes(op.method.as_bytes()).unwrap();
            let route = Route::parse(&method, &path)
                .unwrap_or_else(|| panic!("{} {path} is routed", op.method));
            assert_eq!(route.operation_id(), op.operation_id, "{path}");
            if let Route::GetParticipant(_, raw) = &route {
                assert_eq!(raw, "4:+14255550123");
            }
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(method in "(GET|POST|DELETE|PUT|PATCH)", path in "/calling/[a-zA-Z0-9:/%+._-]{0,80}") {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let _ = Route::parse(&m, &path);
        }

        #[test]
        fn ids_round_trip_through_encoding(id in "[a-zA-Z0-9:+._~-]{1,40}") {
            let enc = percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC).to_string();
            let r = Route::parse(&Method::GET, &format!("/calling/callConnections/c1/participants/{enc}"));
            prop_assert_eq!(r, Some(Route::GetParticipant("c1".into(), id)));
        }
    }

    #[test]
    fn routes() {
        let p = |m: Method, path: &str| Route::parse(&m, path);
        assert_eq!(
            p(Method::POST, "/calling/callConnections"),
            Some(Route::CreateCall)
        );
        assert_eq!(
            p(Method::POST, "/calling/callConnections:answer"),
            Some(Route::AnswerCall)
        );
        assert_eq!(
            p(Method::GET, "/calling/callConnections/abc"),
            Some(Route::GetCall("abc".into()))
        );
        assert_eq!(
            p(Method::DELETE, "/calling/callConnections/abc"),
            Some(Route::HangupCall("abc".into()))
        );
        assert_eq!(
            p(Method::POST, "/calling/callConnections/abc:terminate"),
            Some(Route::TerminateCall("abc".into()))
        );
        assert_eq!(
            p(
                Method::POST,
                "/calling/callConnections/abc/participants:add"
            ),
            Some(Route::AddParticipant("abc".into()))
        );
        assert_eq!(
            p(
                Method::GET,
                "/calling/callConnections/abc/participants/4%3A%2B14255550100"
            ),
            Some(Route::GetParticipant("abc".into(), "4:+14255550100".into()))
        );
        assert_eq!(
            p(Method::POST, "/calling/recordings/r1:pause"),
            Some(Route::PauseRecording("r1".into()))
        );
        assert_eq!(
            p(Method::DELETE, "/calling/recordings/r1"),
            Some(Route::StopRecording("r1".into()))
        );
        assert_eq!(p(Method::GET, "/calling/callConnections/abc:play"), None);
        assert_eq!(
            p(Method::POST, "/calling/callConnections/abc:explode"),
            None
        );
        assert_eq!(p(Method::POST, "/calling/nothing"), None);
        assert_eq!(p(Method::GET, "/other"), None);
        assert_eq!(p(Method::GET, "/calling/callConnections/"), None);
    }
}
