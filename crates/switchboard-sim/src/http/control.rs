//! The control API under `/__sim` (documented in the crate README). JSON in, JSON out;
//! errors are `{"error":{"code","message"}}` with 400 (bad input) or 404 (unknown call or
//! agent). It mirrors the typed methods of [`crate::SimHandle`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::config::{AgentSpec, Behaviour, NumberSpec, PresenceSpec, Seed, StartCall, Timing};
use crate::faults::Faults;
use crate::SimError;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/info", get(info))
        .route("/seed", post(seed))
        .route("/agents", get(list_agents).post(add_agents))
        .route(
            "/agents/{id}",
            get(get_agent).put(put_agent).delete(delete_agent),
        )
        .route("/agents/{id}/behaviour", put(put_behaviour))
        .route("/agents/{id}/presence", put(put_presence))
        .route("/agents/{id}/talk-time", put(put_talk_time))
        .route("/numbers", get(list_numbers).post(add_numbers))
        .route("/calls", get(list_calls).post(start_call))
        .route("/calls/live", get(live_calls))
        .route("/calls/{id}", get(get_call))
        .route("/calls/{id}/dtmf", post(dtmf))
        .route("/calls/{id}/hangup", post(hangup))
        .route("/calls/{id}/timeline", get(timeline))
        .route("/ledger", get(ledger))
        .route("/ledger/{id}", get(ledger_call))
        .route("/faults", get(get_faults).put(put_faults))
        .route("/timing", get(get_timing).put(put_timing))
        .route("/eventgrid/messages", get(outbox))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/eventgrid/sink", put(put_sink))
        .route("/reset", post(reset))
}

/// A control API error response.
struct ControlError(StatusCode, String, String);

impl From<SimError> for ControlError {
    fn from(e: SimError) -> Self {
        let (status, code) = match &e {
            SimError::UnknownCall(_) | SimError::UnknownAgent(_) => {
                (StatusCode::NOT_FOUND, "NotFound")
            }
            SimError::ShutDown => (StatusCode::SERVICE_UNAVAILABLE, "ShutDown"),
            _ => (StatusCode::BAD_REQUEST, "BadRequest"),
        };
        ControlError(status, code.into(), e.to_string())
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

/// JSON body extractor whose rejection is a control error, not axum's plain text.
struct Body<T>(T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ControlError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                ControlError(StatusCode::BAD_REQUEST, "BadRequest".into(), e.to_string())
            })?;
        if bytes.is_empty() {
            return serde_json::from_slice(b"{}").map(Body).map_err(|e| {
                ControlError(
                    StatusCode::BAD_REQUEST,
                    "BadRequest".into(),
                    format!("a JSON body is required: {e}"),
                )
            });
        }
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ControlError(
                StatusCode::BAD_REQUEST,
                "BadRequest".into(),
                format!("invalid JSON body: {e}"),
            )
        })
    }
}

type R<T> = Result<T, ControlError>;

async fn info(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::to_value(&*app.info).unwrap_or_default())
}

async fn seed(State(app): State<AppState>, Body(seed): Body<Seed>) -> R<StatusCode> {
    crate::engine::control::apply_seed(&app.engine, seed)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_agents(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.engine.agents())
}

/// One agent or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::Many(v) => v,
            OneOrMany::One(t) => vec![t],
        }
    }
}

async fn add_agents(
    State(app): State<AppState>,
    Body(agents): Body<OneOrMany<AgentSpec>>,
) -> R<StatusCode> {
    app.engine.upsert_agents(agents.into_vec())?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_agent(State(app): State<AppState>, Path(id): Path<String>) -> R<impl IntoResponse> {
    app.engine
        .agent(&id)
        .map(Json)
        .ok_or_else(|| SimError::UnknownAgent(id).into())
}

async fn put_agent(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(mut spec): Body<AgentSpec>,
) -> R<StatusCode> {
    if spec.id != id {
        if spec.id.is_empty() {
            spec.id = id;
        } else {
            return Err(ControlError(
                StatusCode::BAD_REQUEST,
                "BadRequest".into(),
                "the agent id in the body differs from the path".into(),
            ));
        }
    }
    app.engine.upsert_agents(vec![spec])?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_agent(State(app): State<AppState>, Path(id): Path<String>) -> R<StatusCode> {
    app.engine.remove_agent(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_behaviour(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(b): Body<Behaviour>,
) -> R<StatusCode> {
    app.engine.set_behaviour(&id, b)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn put_presence(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(p): Body<PresenceSpec>,
) -> R<StatusCode> {
    app.engine.set_presence(&id, p)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TalkTime {
    talk_time_ms: Option<u64>,
}

async fn put_talk_time(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(t): Body<TalkTime>,
) -> R<StatusCode> {
    app.engine
        .set_talk_time(&id, t.talk_time_ms.map(std::time::Duration::from_millis))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_numbers(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.engine.numbers())
}

async fn add_numbers(
    State(app): State<AppState>,
    Body(n): Body<OneOrMany<NumberSpec>>,
) -> R<StatusCode> {
    app.engine.add_numbers(n.into_vec())?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_calls(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.engine.calls())
}

async fn live_calls(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.engine.live_calls())
}

async fn start_call(
    State(app): State<AppState>,
    Body(req): Body<StartCall>,
) -> R<impl IntoResponse> {
    let handle = app.engine.start_call(req)?;
    Ok((StatusCode::CREATED, Json(handle)))
}

async fn get_call(State(app): State<AppState>, Path(id): Path<String>) -> R<impl IntoResponse> {
    app.engine
        .call_snapshot(&id)
        .map(Json)
        .ok_or_else(|| SimError::UnknownCall(id).into())
}

#[derive(Deserialize)]
struct Digits {
    digits: String,
}

async fn dtmf(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(d): Body<Digits>,
) -> R<StatusCode> {
    app.engine.press_digits(&id, &d.digits)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn hangup(State(app): State<AppState>, Path(id): Path<String>) -> R<StatusCode> {
    app.engine.hang_up_caller(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn timeline(State(app): State<AppState>, Path(id): Path<String>) -> R<impl IntoResponse> {
    let corr = app.engine.resolve(&id).ok_or(SimError::UnknownCall(id))?;
    Ok(Json(app.engine.timeline(&corr)))
}

async fn ledger(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.engine.ledger())
}

async fn ledger_call(State(app): State<AppState>, Path(id): Path<String>) -> R<impl IntoResponse> {
    let ledger = app.engine.ledger();
    let corr = app.engine.resolve(&id).unwrap_or(id.clone());
    ledger
        .call(&corr)
        .cloned()
        .map(Json)
        .ok_or_else(|| SimError::UnknownCall(id).into())
}

async fn get_faults(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.engine.faults.get())
}

async fn put_faults(State(app): State<AppState>, Body(f): Body<Faults>) -> R<StatusCode> {
    crate::faults::check_faults(&f)?;
    app.engine.faults.set(f);
    Ok(StatusCode::NO_CONTENT)
}

async fn get_timing(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.engine.timing())
}

async fn put_timing(State(app): State<AppState>, Body(t): Body<Timing>) -> R<StatusCode> {
    app.engine.set_timing(t);
    Ok(StatusCode::NO_CONTENT)
}

async fn outbox(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.engine.publisher.outbox())
}

/// Where IncomingCall events go from now on.
#[derive(Deserialize)]
struct SinkTarget {
    /// An Event Grid webhook URL; `None` keeps events in the outbox only.
    url: Option<String>,
}

/// Re-points the Event Grid subscription, so one simulator can serve several apps in turn
/// (the side-by-side benchmark runs each routing side against the same simulator).
async fn put_sink(State(app): State<AppState>, Body(t): Body<SinkTarget>) -> R<StatusCode> {
    let sink = match t.url {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(
            crate::eventgrid::HttpSink::new(url, crate::eventgrid::HttpSinkMode::Webhook)
                as std::sync::Arc<dyn crate::eventgrid::EventGridSink>,
        ),
        Some(url) => {
            return Err(ControlError(
                StatusCode::BAD_REQUEST,
                "BadRequest".into(),
                format!("{url:?} is not an http(s) URL"),
            ))
        }
        None => None,
    };
    app.engine.publisher.set_sink(sink);
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(State(app): State<AppState>) -> StatusCode {
    app.engine.reset();
    app.requests.clear();
    StatusCode::NO_CONTENT
}

/// `GET /__sim/requests`: the request log, secrets redacted.
async fn requests(State(app): State<AppState>) -> impl IntoResponse {
    Json(app.requests.all())
}

async fn clear_requests(State(app): State<AppState>) -> StatusCode {
    app.requests.clear();
    StatusCode::NO_CONTENT
}
