//! One tracing setup for every binary. Default level `info`; `GCBRIDGE_LOG` (or `RUST_LOG`)
//! takes an env-filter expression; `GCBRIDGE_LOG_FORMAT=json` switches to JSON lines.
//! Nothing in gcbridge logs message texts unless `log_content` is on, and never secrets.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log targets whose `trace` events are dropped whatever the filter asks for: at that level the
/// WebSocket library prints every frame it receives (the agent's and the customer's texts) and
/// the stream's handshake request (its URL holds a token). Their other levels are kept.
pub const CONTENT_LOGGING_TARGETS: &[&str] = &["tungstenite", "tokio_tungstenite"];

/// Whether an event of `target` at `level` may print message content or credentials.
pub fn carries_content(target: &str, level: &tracing::Level) -> bool {
    *level == tracing::Level::TRACE
        && CONTENT_LOGGING_TARGETS.iter().any(|t| {
            target
                .strip_prefix(t)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// Installs the global subscriber (idempotent: a second call does nothing). Logs go to stderr.
pub fn init(default_filter: &str) {
    let filter = std::env::var("GCBRIDGE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    let json = std::env::var("GCBRIDGE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let no_content = filter_fn(|meta| !carries_content(meta.target(), meta.level()));
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .finish()
            .with(no_content)
            .try_init()
    } else {
        builder.compact().finish().with(no_content).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn only_trace_of_the_websocket_library_is_dropped() {
        assert!(carries_content("tungstenite::protocol", &Level::TRACE));
        assert!(carries_content("tokio_tungstenite", &Level::TRACE));
        assert!(!carries_content("tungstenite::protocol", &Level::DEBUG));
        assert!(!carries_content("tungstenite_extra", &Level::TRACE));
        assert!(!carries_content("gcbridge_app::turn", &Level::TRACE));
    }
}
