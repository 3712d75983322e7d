//! The WebSocket stream of a conversation (`streamUrl`).
//!
//! Each frame is an ActivitySet text `{activities, watermark}` holding what was appended since the
//! previous frame, typing included (only the stream delivers typing). On connect, activities after
//! the URL's `watermark` are replayed (`-` or absent: from the start). Client frames are ignored,
//! as Direct Line does with DirectLineJS's empty liveness frames.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use gcbridge_directline::ActivitySet;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::fault::Op;
use crate::server::parse_watermark;
use crate::state::{Conv, Shared, stopped};

/// `GET <streamUrl>`: authenticates with the `t` query parameter (or an `Authorization` header)
/// and upgrades to a WebSocket.
pub(crate) async fn open(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let caller = match query.get("t") {
        Some(token) => shared.authenticate_token(token)?,
        None => shared.authenticate(&headers)?,
    };
    shared.take_fault(Op::OpenStream)?;
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    caller.check_access(&id)?;
    let conv = shared.conversation(&id)?;
    let after = parse_watermark(query.get("watermark"))?.unwrap_or(0);
    let upgrade = upgrade.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let shutdown = shared.shutdown.subscribe();
    tracing::debug!(conversation = %id, "stream opened");
    // The stream only writes; clients send nothing but pings. The library's default 128 KiB
    // read buffer was zeroed on every poll (5 % of the bench process's CPU).
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| run(socket, conv, after, shutdown)))
}

async fn run(
    mut socket: WebSocket,
    conv: Arc<Conv>,
    mut cursor: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut changes = conv.subscribe();
    let epoch = conv.state().stream_epoch;
    loop {
        // Mark the current version as seen *before* reading, so an append that happens after
        // the read wakes the `changed()` below.
        changes.borrow_and_update();
        let frame = {
            let state = conv.state();
            if state.expired || state.stream_epoch != epoch {
                None
            } else {
                let count = state.activities.len();
                let new = state.activities.get(cursor..).map(<[_]>::to_vec);
                cursor = cursor.max(count);
                Some(new.filter(|n| !n.is_empty()).map(|activities| ActivitySet {
                    activities,
                    watermark: Some(count.to_string()),
                    ..ActivitySet::default()
                }))
            }
        };
        let Some(frame) = frame else {
            // Expired or disconnected by a test: close as the service does.
            let _ = socket.send(Message::Close(None)).await;
            return;
        };
        if let Some(set) = frame {
            let Ok(text) = serde_json::to_string(&set) else {
                return;
            };
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
