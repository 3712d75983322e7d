//! The agent-side widget: `GET /widget` (an HTML page for a Genesys interaction widget) and
//! `GET /widget/api/transcript` (the JSON it polls), plus their static assets, all served by
//! gcbridge itself (no CDN).
//!
//! Access (`[widget] auth`):
//! - `key` (default): a widget key in the Application URL (`key=`), compared in constant time
//!   against the configured keys (several, for rotation). Without a valid key the page and the
//!   data answer `401` with an empty body; without configured keys the widget is closed.
//! - `genesys`: the data needs the agent's Genesys Cloud access token (`Authorization: Bearer`),
//!   verified against the region's Platform API ([`verify`]). The page is then a data-free shell
//!   that signs the agent in (OAuth implicit grant) and sends the token.
//! - `key_and_genesys`: both.
//!
//! A conversation id alone never grants access.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::secret::matches_any;
use crate::state::AppState;

mod verify;

pub use verify::{TOKENS_ME_PATH, TokenVerifier, Verdict};

const PAGE_HTML: &str = include_str!("../assets/widget/index.html");
const WIDGET_JS: &str = include_str!("../assets/widget/widget.js");
const WIDGET_CSS: &str = include_str!("../assets/widget/widget.css");

/// Longest accepted conversation id (Genesys ids are 36-character UUIDs).
const MAX_CONVERSATION_ID: usize = 128;

/// The widget's routes, merged into the main router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/widget", get(page))
        .route("/widget/api/transcript", get(transcript))
        .route("/widget/assets/widget.js", get(script))
        .route("/widget/assets/widget.css", get(style))
}

/// Query parameters of the page and its data endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WidgetQuery {
    conversation_id: Option<String>,
    key: Option<String>,
}

/// A conversation id as it may appear in a store key: 1–128 characters of `[A-Za-z0-9_-]`.
fn valid_conversation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CONVERSATION_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The key check: a configured key must match, in constant time. Passes when the configured
/// mode does not use keys.
fn authorised(state: &AppState, key: Option<&str>) -> bool {
    if !state.config.widget_auth.needs_key() {
        return true;
    }
    let accepted = &state.config.widget_keys;
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return false;
    };
    !accepted.is_empty() && matches_any(key.as_bytes(), accepted)
}

fn unauthorised() -> Response {
    metrics::counter!("gcbridge_widget_rejected_total").increment(1);
    no_store(StatusCode::UNAUTHORIZED.into_response())
}

/// The agent's token check of the data endpoint, when the mode asks for one: `None` to go on,
/// or the answer to give (`401`, or `503` when Genesys cannot be asked).
async fn genesys_check(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    if !state.config.widget_auth.needs_genesys() {
        return None;
    }
    let Some(verifier) = &state.widget_verifier else {
        // The configuration guarantees a verifier; never open the data without one.
        return Some(unauthorised());
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let verdict = match token {
        Some(token) => verifier.verify(token).await,
        None => Verdict::Invalid,
    };
    match verdict {
        Verdict::Valid => None,
        Verdict::Invalid => {
            let mut response = unauthorised();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gcbridge widget\""),
            );
            Some(response)
        }
        Verdict::Unavailable => Some(no_store(StatusCode::SERVICE_UNAVAILABLE.into_response())),
    }
}

/// The page, with how to sign in when the data needs the agent's Genesys token.
fn page_html(state: &AppState) -> String {
    let meta = match (
        &state.widget_verifier,
        state.config.widget_auth.needs_genesys(),
    ) {
        (Some(verifier), true) => {
            let g = verifier.config();
            format!(
                "<meta name=\"gcbridge-auth\" content=\"genesys\" data-login=\"{}\" data-client-id=\"{}\">",
                html_attr(&g.login_base),
                html_attr(&g.client_id)
            )
        }
        _ => String::new(),
    };
    PAGE_HTML.replace("<!--gcbridge-auth-->", &meta)
}

/// Escapes a value for a double-quoted HTML attribute.
fn html_attr(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Pages and data are per conversation and carry a key in their URL: never cached, never sent
/// on as a referrer, and only scripts and styles from gcbridge itself.
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
        ),
    );
    response
}

/// `GET /widget?conversationId=...&lang=...&key=...`: the page (its data comes from the API).
async fn page(State(state): State<Arc<AppState>>, Query(q): Query<WidgetQuery>) -> Response {
    if !authorised(&state, q.key.as_deref()) {
        return unauthorised();
    }
    let valid = match q.conversation_id.as_deref() {
        Some(id) => valid_conversation_id(id),
        // The return from the Genesys sign-in: the redirect URI is the bare page (it must match
        // the OAuth client's registered URI); the script restores its query itself.
        None => state.config.widget_auth.needs_genesys(),
    };
    if !valid {
        return no_store(StatusCode::BAD_REQUEST.into_response());
    }
    no_store(
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page_html(&state),
        )
            .into_response(),
    )
}

/// `GET /widget/api/transcript?conversationId=...&key=...`: the stored transcript, with
/// `found` and `live` (still with the bot: keep polling).
async fn transcript(
    State(state): State<Arc<AppState>>,
    Query(q): Query<WidgetQuery>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&state, q.key.as_deref()) {
        return unauthorised();
    }
    if let Some(refused) = genesys_check(&state, &headers).await {
        return refused;
    }
    let Some(id) = q
        .conversation_id
        .as_deref()
        .filter(|id| valid_conversation_id(id))
    else {
        return no_store(StatusCode::BAD_REQUEST.into_response());
    };
    let body = match crate::transcript::load(state.store.as_ref(), id).await {
        Ok(Some(record)) => {
            let live = record.state == gcbridge_core::transcript::TranscriptState::WithBot;
            serde_json::json!({"found": true, "live": live, "transcript": record})
        }
        // Not (yet) stored: the conversation may still be on its first turn.
        Ok(None) => serde_json::json!({"found": false, "live": true}),
        Err(e) => {
            tracing::warn!(error = %e, "widget: transcript store unavailable");
            return no_store(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    no_store(axum::Json(body).into_response())
}

/// `GET /widget/assets/widget.js` (no data in it).
async fn script() -> Response {
    asset("text/javascript; charset=utf-8", WIDGET_JS)
}

/// `GET /widget/assets/widget.css` (no data in it).
async fn style() -> Response {
    asset("text/css; charset=utf-8", WIDGET_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids() {
        assert!(valid_conversation_id(
            "00000000-0000-4000-a000-00000000c001"
        ));
        for bad in ["", "a b", "x/y", "é", &"a".repeat(129)] {
            assert!(!valid_conversation_id(bad), "{bad:?}");
        }
    }
}
