//! The path gcbridge routes on, whatever API Gateway put in front of it.
//!
//! `lambda_http` prefixes the request path with the API Gateway stage (`/prod/genesys/...`)
//! unless the stage is `$default`, so the same function would answer 404 behind a REST API's
//! `prod` stage. gcbridge's routes are fixed, so the shell routes on the path as the client
//! addressed it relative to the stage: the event's own `path` for REST (v1) events, which never
//! holds the stage, and `rawPath` without a leading `/{stage}` for HTTP API (v2) events on a
//! named stage. Function URL events (v2, stage `$default`) are unchanged.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// Rewrites the request's URI path to the stage-relative path (query string kept).
pub fn stage_relative(mut request: Request) -> Request {
    let Some(path) = stage_relative_path(&request) else {
        return request;
    };
    if path == request.uri().path() {
        return request;
    }
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = request.uri().clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        // A path the URI grammar rejects stays as lambda_http built it.
        Err(_) => return request,
    }
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
    }
    request
}

fn stage_relative_path(request: &Request) -> Option<String> {
    let raw = request.raw_http_path();
    if raw.is_empty() {
        return None;
    }
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV1(_) => Some(raw.to_owned()),
        RequestContext::ApiGatewayV2(context) => {
            let stage = context.stage.as_deref().unwrap_or("$default");
            let prefix = format!("/{stage}");
            match raw.strip_prefix(&prefix) {
                Some(rest) if stage != "$default" && rest.starts_with('/') => Some(rest.to_owned()),
                Some("") if stage != "$default" => Some("/".to_owned()),
                _ => Some(raw.to_owned()),
            }
        }
        _ => None,
    }
}
