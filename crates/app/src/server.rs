//! The HTTP surface of `gcbridge serve`: thin handlers that extract, call one function and map
//! the result. Routes and their contracts are fixed by `design.md`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gcbridge_core::botlist;
use gcbridge_core::errors::ErrorCode;
use gcbridge_core::request::Turn;
use gcbridge_genesys::{TurnRequest, TurnResponse};
use http_body_util::{BodyExt, Limited};
use tokio::time::Instant;
use tower_http::catch_panic::CatchPanicLayer;

use crate::secret::matches_any;
use crate::state::AppState;
use crate::turn::{Endpoint, handle_turn, record_outcome};

/// The router of every gcbridge endpoint.
pub fn router(state: Arc<AppState>) -> Router {
    // Make sure the recorder exists before the first request records anything.
    let _ = crate::metrics::handle();
    Router::new()
        .route("/genesys/v1/utterance", post(utterance))
        .route("/genesys/dbc/bots", get(dbc_bots))
        .route("/genesys/dbc/bots/{bot_id}", get(dbc_bot))
        .route("/genesys/dbc/messages", post(dbc_messages))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::widget::routes())
        .merge(crate::webchat::routes(&state.config))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// A panic must still give Genesys a valid answer (and never its message).
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    genesys_json(ErrorCode::Internal.response())
}

fn genesys_json(body: TurnResponse) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

/// Outcome of the shared-secret check, done on the headers before the body is read.
fn verify_secret(state: &AppState, headers: &HeaderMap) -> Result<(), StatusCode> {
    let accepted = &state.config.genesys_secrets;
    if accepted.is_empty() {
        return Ok(());
    }
    let Some(value) = headers.get(state.config.genesys_secret_header.as_str()) else {
        metrics::counter!("gcbridge_auth_rejected_total", "reason" => "missing").increment(1);
        return Err(StatusCode::UNAUTHORIZED);
    };
    if matches_any(value.as_bytes(), accepted) {
        Ok(())
    } else {
        metrics::counter!("gcbridge_auth_rejected_total", "reason" => "mismatch").increment(1);
        Err(StatusCode::FORBIDDEN)
    }
}

/// Reads at most `limit` bytes of the body.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<bytes::Bytes, ErrorCode> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ErrorCode::RequestTooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ErrorCode::RequestTooLarge),
        Err(_) => Err(ErrorCode::InvalidRequest),
    }
}

/// `POST /genesys/v1/utterance`.
async fn utterance(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    turn_endpoint(Endpoint::V1, &state, &headers, body).await
}

/// `POST /genesys/dbc/messages`: the same turn logic; `messageId` is the idempotency key.
async fn dbc_messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    turn_endpoint(Endpoint::Dbc, &state, &headers, body).await
}

/// The credential check of the DBC list endpoints (`genesys-bot-connector.md` §2).
fn verify_list_secret(state: &AppState, headers: &HeaderMap) -> Result<(), StatusCode> {
    let present = headers.contains_key(state.config.genesys_secret_header.as_str());
    if present || state.config.require_secret_on_bot_list {
        verify_secret(state, headers)
    } else {
        Ok(())
    }
}

/// `GET /genesys/dbc/bots`.
async fn dbc_bots(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(status) = verify_list_secret(&state, &headers) {
        return status.into_response();
    }
    let list = botlist::dbc_bot_list(state.config.bots.iter().map(|b| &b.profile));
    Json(list).into_response()
}

/// `GET /genesys/dbc/bots/{botId}`: the bot, or 404.
async fn dbc_bot(
    State(state): State<Arc<AppState>>,
    Path(bot_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(status) = verify_list_secret(&state, &headers) {
        return status.into_response();
    }
    // Bot ids are case-sensitive.
    match state.config.bots.iter().find(|b| b.profile.id == bot_id) {
        Some(bot) => Json(botlist::dbc_bot(&bot.profile)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Shared by both turn endpoints: secret, body, parse, validate, run.
async fn turn_endpoint(
    endpoint: Endpoint,
    state: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    if let Err(status) = verify_secret(state, headers) {
        return status.into_response();
    }
    let rejected = |code: ErrorCode| {
        let response = code.response();
        record_outcome(endpoint, &response, started);
        genesys_json(response)
    };
    let bytes = match read_body(headers, body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(code) => return rejected(code),
    };
    let Ok(request) = serde_json::from_slice::<TurnRequest>(&bytes) else {
        return rejected(ErrorCode::InvalidRequest);
    };
    let turn = match Turn::from_request(request) {
        Ok(t) => t,
        Err(code) => return rejected(code),
    };
    if endpoint == Endpoint::Dbc && crate::turn::async_bot(state, &turn).is_some() {
        return genesys_json(crate::turn::spawn_async_turn(state, turn, started));
    }
    genesys_json(handle_turn(state, endpoint, turn, started).await)
}

/// `GET /healthz`: the process is alive.
async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: the store answers.
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "draining", "store": state.store.name()})),
        )
            .into_response();
    }
    match state.store.ping().await {
        Ok(()) => Json(serde_json::json!({"status": "ready", "store": state.store.name()}))
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "not ready", "store": state.store.name()})),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text format.
async fn metrics() -> Response {
    let body = crate::metrics::handle()
        .map(|h| h.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
