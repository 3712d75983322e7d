//! One tracing setup for every binary. Default level `info`; `GCBRIDGE_LOG` (or `RUST_LOG`)
//! takes an env-filter expression; `GCBRIDGE_LOG_FORMAT=json` switches to JSON lines.
//! Nothing in gcbridge logs message texts unless `log_content` is on, and never secrets.

use tracing_subscriber::EnvFilter;

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
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}
