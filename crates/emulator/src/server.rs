//! The HTTP surface: Direct Line 3.0 REST operations and the Copilot Studio token endpoint.
//!
//! Handlers are thin: authenticate, consume an injected fault if one is pending, then one call
//! into the state. Every failure is a Direct Line error body; nothing here panics on input.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use gcbridge_directline::{
    API_PREFIX, Activity, ActivitySet, ChannelAccount, Conversation, ResourceResponse,
};
use serde_json::{Value, json};

use crate::agent::{self, Trigger};
use crate::error::ApiError;
use crate::fault::Op;
use crate::state::{Caller, Shared, lock};
use crate::stream;

/// `referenceGrammarId` Copilot Studio adds to start responses; constant here, clients ignore it.
const REFERENCE_GRAMMAR_ID: &str = "00000000-0000-4000-a000-00000000e0e0";

type ApiResult = Result<Response, ApiError>;

/// Builds the router over shared state.
pub(crate) fn router(shared: Arc<Shared>, max_body_bytes: usize) -> Router {
    let dl = |path: &str| format!("{API_PREFIX}{path}");
    Router::new()
        .route(&dl("/conversations"), post(start_conversation))
        .route(&dl("/conversations/{id}"), get(get_conversation))
        .route(
            &dl("/conversations/{id}/activities"),
            post(post_activity).get(get_activities),
        )
        .route(&dl("/conversations/{id}/stream"), get(stream::open))
        .route(&dl("/tokens/generate"), post(generate_token))
        .route(&dl("/tokens/refresh"), post(refresh_token))
        .route(
            "/powervirtualagents/botsbyschema/{schema}/directline/token",
            get(token_endpoint),
        )
        .route(
            "/powervirtualagents/regionalchannelsettings",
            get(regional_channel_settings),
        )
        .route("/emulator/transcript", get(transcript))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // Like the real service, any web page may call it (Web Chat in a browser does).
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods(tower_http::cors::Any)
                .allow_headers(tower_http::cors::Any),
        )
        .with_state(shared)
}

async fn start_conversation(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let caller = shared.authenticate(&headers)?;
    shared.take_fault(Op::StartConversation)?;
    // DirectLineJS sends `{user, locale}`; the content does not matter, but it must be JSON.
    optional_json_object(body)?;
    let host = public_host(&headers, &shared);
    match caller {
        Caller::Secret => {
            let conv = shared.create_conversation(true);
            let ttl = shared.settings.token_ttl;
            let token = shared.issue_token(&conv.id, ttl);
            tracing::debug!(conversation = %conv.id, "conversation started");
            let body = conversation_body(&conv.id, token, ttl.as_secs(), &host, "-");
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Caller::Token {
            conversation_id,
            token,
            expires_in,
        } => {
            let conv = shared.conversation(&conversation_id)?;
            // A token starts exactly its own conversation; starting it again is not an error.
            let status = if shared.start_reserved(&conv) {
                tracing::debug!(conversation = %conv.id, "conversation started with a token");
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = conversation_body(&conv.id, token, expires_in, &host, "-");
            Ok((status, Json(body)).into_response())
        }
    }
}

async fn get_conversation(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let caller = shared.authenticate(&headers)?;
    shared.take_fault(Op::GetConversation)?;
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    caller.check_access(&id)?;
    let conv = shared.conversation(&id)?;
    let count = conv.state().activities.len();
    // The new stream replays what came after the given watermark, or only what comes after
    // this call when none is given.
    let watermark = parse_watermark(query.get("watermark"))?.unwrap_or(count);
    let ttl = shared.settings.token_ttl;
    let token = shared.issue_token(&id, ttl);
    let host = public_host(&headers, &shared);
    let body = conversation_body(&id, token, ttl.as_secs(), &host, &watermark.to_string());
    Ok(Json(body).into_response())
}

async fn post_activity(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let caller = shared.authenticate(&headers)?;
    shared.take_fault(Op::PostActivity)?;
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    caller.check_access(&id)?;
    let body = body.map_err(body_rejection)?;
    let mut activity: Activity = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("The activity is not valid JSON: {e}")))?;
    let conv = shared.conversation(&id)?;
    if !conv.state().started {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Conversation not started: POST /conversations with its token first.",
        ));
    }
    if activity.kind.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingProperty",
            "The activity needs a `type`.",
        ));
    }
    let Some(from) = activity.from.as_mut().filter(|f| f.id.is_some()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingProperty",
            "The activity needs `from.id`.",
        ));
    };
    if from.role.is_none() {
        from.role = Some(Value::String("user".to_owned()));
    }
    if activity.from.as_ref().is_some_and(ChannelAccount::is_bot) {
        return Err(ApiError::bad_request(
            "Clients cannot post activities with `from.role` = \"bot\".",
        ));
    }

    let trigger = agent::classify(&shared.script, &activity);
    if let Trigger::Rule(index) = trigger
        && let Some(fault) = shared
            .script
            .rules
            .get(index)
            .and_then(|r| r.fault.as_ref())
    {
        let mut state = conv.state();
        let used = state.rule_faults.entry(index).or_insert(0);
        if *used < fault.times {
            *used += 1;
            tracing::debug!(conversation = %id, status = fault.status, "scripted fault");
            return Err(ApiError::fault(fault.status, fault.retry_after_secs));
        }
    }

    let activity_id = conv.post_user_activity(activity, trigger);
    tracing::debug!(conversation = %id, activity = %activity_id, "activity posted");
    shared.take_fault(Op::PostActivityAfterAccept)?;
    Ok(Json(ResourceResponse { id: activity_id }).into_response())
}

async fn get_activities(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let caller = shared.authenticate(&headers)?;
    shared.take_fault(Op::GetActivities)?;
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    caller.check_access(&id)?;
    let conv = shared.conversation(&id)?;
    let after = parse_watermark(query.get("watermark"))?.unwrap_or(0);
    let state = conv.state();
    let count = state.activities.len();
    // Polling never returns typing: only the stream does (Direct Line documentation).
    let activities = state
        .activities
        .iter()
        .skip(after)
        .filter(|a| a.kind != Activity::TYPING)
        .cloned()
        .collect();
    drop(state);
    Ok(Json(ActivitySet {
        activities,
        watermark: Some(count.to_string()),
        ..ActivitySet::default()
    })
    .into_response())
}

/// `GET /emulator/transcript` (not Direct Line; secret only): every conversation with all its
/// activities but typing, oldest first, so a test driving the emulator as a separate process can
/// count what was posted to the agent (`{"conversations": [{"id", "activities"}]}`).
async fn transcript(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    if shared.authenticate(&headers)? != Caller::Secret {
        return Err(ApiError::forbidden(
            "The transcript needs the Direct Line secret",
        ));
    }
    let conversations: Vec<Value> = shared
        .conversation_ids()
        .into_iter()
        .filter_map(|id| {
            let conv = shared.find(&id)?;
            let activities: Vec<Activity> = conv
                .state()
                .activities
                .iter()
                .filter(|a| a.kind != Activity::TYPING)
                .cloned()
                .collect();
            Some(json!({"id": id, "activities": activities}))
        })
        .collect();
    Ok(Json(json!({ "conversations": conversations })).into_response())
}

async fn generate_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let caller = shared.authenticate(&headers)?;
    shared.take_fault(Op::GenerateToken)?;
    if caller != Caller::Secret {
        return Err(ApiError::forbidden("Generating a token needs a secret"));
    }
    optional_json_object(body)?;
    let conv = shared.create_conversation(false);
    let ttl = shared.settings.token_ttl;
    let token = shared.issue_token(&conv.id, ttl);
    Ok(Json(token_body(&conv.id, token, ttl.as_secs())).into_response())
}

async fn refresh_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult {
    let caller = shared.authenticate(&headers)?;
    shared.take_fault(Op::RefreshToken)?;
    let Caller::Token {
        conversation_id, ..
    } = caller
    else {
        return Err(ApiError::forbidden(
            "Refreshing needs a token, not a secret",
        ));
    };
    shared.conversation(&conversation_id)?;
    let ttl = shared.settings.token_ttl;
    let token = shared.issue_token(&conversation_id, ttl);
    Ok(Json(token_body(&conversation_id, token, ttl.as_secs())).into_response())
}

async fn token_endpoint(
    State(shared): State<Arc<Shared>>,
    schema: Result<Path<String>, PathRejection>,
) -> ApiResult {
    shared.take_fault(Op::TokenEndpoint)?;
    let Path(schema) = schema.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(want) = &shared.script.agent.schema_name
        && *want != schema
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ObjectNotFound",
            "No agent with this schema name.",
        ));
    }
    let conv = shared.create_conversation(false);
    let ttl = shared.settings.endpoint_token_ttl;
    let token = shared.issue_token(&conv.id, ttl);
    Ok(Json(token_body(&conv.id, token, ttl.as_secs())).into_response())
}

async fn regional_channel_settings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Response {
    let base = format!("http://{}/", public_host(&headers, &shared));
    Json(json!({ "channelUrlsById": { "directline": base, "webchat": base } })).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "Unknown path.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "BadArgument",
        "Method not allowed on this path.",
    )
}

/// The answer of start, reconnect and stream-URL-bearing calls.
fn conversation_body(
    id: &str,
    token: String,
    expires_in: u64,
    host: &str,
    watermark: &str,
) -> Conversation {
    Conversation {
        conversation_id: Some(id.to_owned()),
        stream_url: Some(format!(
            "ws://{host}{API_PREFIX}/conversations/{id}/stream?watermark={watermark}&t={token}"
        )),
        token: Some(token),
        expires_in: Some(expires_in),
        reference_grammar_id: Some(REFERENCE_GRAMMAR_ID.to_owned()),
        ..Conversation::default()
    }
}

/// The answer of the token operations (no stream URL: the conversation is not started).
fn token_body(id: &str, token: String, expires_in: u64) -> Conversation {
    Conversation {
        conversation_id: Some(id.to_owned()),
        token: Some(token),
        expires_in: Some(expires_in),
        ..Conversation::default()
    }
}

/// Parses a watermark query value: absent or empty means "from the start" (`None`), `-` too
/// (the start response's stream URL uses it), otherwise a count of activities.
pub(crate) fn parse_watermark(raw: Option<&String>) -> Result<Option<usize>, ApiError> {
    match raw.map(|s| s.trim()) {
        None | Some("" | "-") => Ok(None),
        Some(w) => w.parse::<usize>().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid watermark {w:?}: use a watermark returned by this service"
            ))
        }),
    }
}

/// Checks an optional JSON-object body (start conversation, token generate).
fn optional_json_object(body: Result<Bytes, BytesRejection>) -> Result<(), ApiError> {
    let body = body.map_err(body_rejection)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err(ApiError::bad_request("The body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!(
            "The body is not valid JSON: {e}"
        ))),
    }
}

/// A body that could not be read: too large (413) or broken.
fn body_rejection(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "MessageSizeTooBig",
            "The request content length exceeded the limit.",
        )
    } else {
        ApiError::new(status, "BadArgument", rejection.body_text())
    }
}

/// The host clients reached us by, for stream URLs; the bound address when the `Host` header is
/// absent or does not look like a host.
pub(crate) fn public_host(headers: &HeaderMap, shared: &Shared) -> String {
    let from_header = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c))
        });
    match from_header {
        Some(h) => h.to_owned(),
        None => lock(&shared.service_url)
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
    }
}
