//! The Direct Line WebSocket stream (`direct-line.md` §4.5): one socket per active conversation,
//! kept open between turns, closed when idle. The agent's activities arrive as they are sent
//! (typing included, which polling never returns), so a turn ends as soon as the collector
//! allows instead of at the next polling tick.
//!
//! The stream is an accelerator, never the only source of truth: a socket that closed, lagged or
//! could not be opened is simply not used, and the turn falls back to polling by watermark. Late
//! activities buffered between turns are drained at the start of the next turn; whatever a dead
//! socket missed is read back by the catch-up `GET` from the persisted watermark.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use gcbridge_directline::ActivitySet;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Open streams at most by default (`[server] max_streams`): about 16 KiB each; beyond it the
/// least recently used one is closed.
pub const MAX_OPEN_STREAMS: usize = 2_000;

/// How often idle and dead streams are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Frames buffered per conversation before the socket is considered lagging (and dropped).
const BUFFER_FRAMES: usize = 512;

/// One open stream.
#[derive(Debug)]
pub struct StreamConn {
    frames: tokio::sync::Mutex<mpsc::Receiver<ActivitySet>>,
    healthy: Arc<AtomicBool>,
    last_used: Mutex<Instant>,
    reader: tokio::task::AbortHandle,
}

impl StreamConn {
    /// False once the socket closed, failed or lagged: its frames can no longer be trusted to
    /// be complete.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Exclusive access to the frames for the duration of a turn.
    pub async fn frames(&self) -> tokio::sync::MutexGuard<'_, mpsc::Receiver<ActivitySet>> {
        *self.last_used.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.frames.lock().await
    }
}

impl Drop for StreamConn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the stream did not open in time")]
    Timeout,
    #[error("the stream could not be opened")]
    Connect,
}

/// The open streams of this process, by conversation id.
#[derive(Debug)]
pub struct StreamHub {
    conns: Mutex<HashMap<String, Arc<StreamConn>>>,
    idle: Duration,
    max_open: usize,
    /// When idle and dead streams were last swept out (a sweep visits every stream, so it runs
    /// at most once a second, not on every turn).
    swept: Mutex<Instant>,
}

impl StreamHub {
    /// A hub that closes streams unused for `idle` and keeps at most `max_open` open.
    pub fn new(idle: Duration, max_open: usize) -> Self {
        Self {
            conns: Mutex::new(HashMap::new()),
            idle,
            max_open: max_open.max(1),
            swept: Mutex::new(Instant::now()),
        }
    }

    /// Number of open streams.
    pub fn len(&self) -> usize {
        self.conns.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when no stream is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The healthy stream of a conversation, if one is open. Unhealthy and idle streams are
    /// closed on the way.
    pub fn get(&self, conversation_id: &str) -> Option<Arc<StreamConn>> {
        let mut map = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        self.sweep(&mut map);
        let conn = map.get(conversation_id)?;
        // The sweep is periodic: check this one's own state now.
        let last = *conn.last_used.lock().unwrap_or_else(|e| e.into_inner());
        if !conn.is_healthy() || last.elapsed() >= self.idle {
            map.remove(conversation_id);
            return None;
        }
        Some(conn.clone())
    }

    /// Closes a conversation's stream (session ended).
    pub fn close(&self, conversation_id: &str) {
        let mut map = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(conversation_id);
    }

    fn sweep(&self, map: &mut HashMap<String, Arc<StreamConn>>) {
        let now = Instant::now();
        {
            let mut swept = self.swept.lock().unwrap_or_else(|e| e.into_inner());
            if now.duration_since(*swept) < SWEEP_EVERY {
                return;
            }
            *swept = now;
        }
        map.retain(|_, c| {
            let last = *c.last_used.lock().unwrap_or_else(|e| e.into_inner());
            c.is_healthy() && now.duration_since(last) < self.idle
        });
    }

    /// Opens the stream at `stream_url` (which carries a token: never log it) and registers it
    /// for the conversation, replacing any older one.
    pub async fn connect(
        &self,
        conversation_id: &str,
        stream_url: &str,
        deadline: Instant,
    ) -> Result<Arc<StreamConn>, StreamError> {
        let started = Instant::now();
        let connect =
            tokio_tungstenite::connect_async_with_config(stream_url, Some(socket_config()), true);
        let (socket, _) = match tokio::time::timeout_at(deadline, connect).await {
            Err(_) => return Err(StreamError::Timeout),
            Ok(Err(_)) => {
                metrics::counter!("gcbridge_stream_connects_total", "result" => "error")
                    .increment(1);
                return Err(StreamError::Connect);
            }
            Ok(Ok(ok)) => ok,
        };
        metrics::counter!("gcbridge_stream_connects_total", "result" => "ok").increment(1);
        metrics::histogram!("gcbridge_directline_request_seconds", "op" => "open_stream")
            .record(started.elapsed().as_secs_f64());
        let (tx, rx) = mpsc::channel(BUFFER_FRAMES);
        let healthy = Arc::new(AtomicBool::new(true));
        let reader = tokio::spawn(read_frames(socket, tx, healthy.clone()));
        let conn = Arc::new(StreamConn {
            frames: tokio::sync::Mutex::new(rx),
            healthy,
            last_used: Mutex::new(Instant::now()),
            reader: reader.abort_handle(),
        });
        let mut map = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        self.sweep(&mut map);
        if map.len() >= self.max_open && !map.contains_key(conversation_id) {
            // Memory stays bounded however many sessions are open: the stream used longest ago
            // is closed (its session catches up over HTTP on its next turn).
            let oldest = map
                .iter()
                .min_by_key(|(_, c)| *c.last_used.lock().unwrap_or_else(|e| e.into_inner()))
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                map.remove(&id);
                metrics::counter!("gcbridge_streams_evicted_total").increment(1);
            }
        }
        map.insert(conversation_id.to_owned(), conn.clone());
        Ok(conn)
    }
}

/// Small buffers: a stream carries a few small frames per turn, and thousands may be open at
/// once. The library's defaults (an eagerly allocated 128 KiB read buffer, zeroed on every read,
/// and a 128 KiB write buffer) made each idle stream cost a quarter of a megabyte and a large
/// share of a turn's CPU. A frame above `MAX_FRAME` ends the socket (polling takes over).
fn socket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_FRAME))
        .max_frame_size(Some(MAX_FRAME))
}

/// Largest ActivitySet frame accepted on a stream.
const MAX_FRAME: usize = 4 << 20;

/// Reads the socket until it closes, forwarding every ActivitySet. Empty frames are keep-alives.
async fn read_frames(
    mut socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    tx: mpsc::Sender<ActivitySet>,
    healthy: Arc<AtomicBool>,
) {
    while let Some(message) = socket.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(bytes)) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text.into(),
                Err(_) => continue,
            },
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        if text.trim().is_empty() {
            continue;
        }
        let Ok(set) = serde_json::from_str::<ActivitySet>(&text) else {
            // An unreadable frame means something may be missing: stop trusting the socket.
            break;
        };
        if tx.try_send(set).is_err() {
            // Nobody drained the buffer (or the conversation was closed): lagging.
            break;
        }
    }
    healthy.store(false, Ordering::Release);
}
