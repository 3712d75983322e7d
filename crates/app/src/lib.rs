//! gcbridge's I/O orchestration: the HTTP router, the Direct Line client, turn collection,
//! configuration, metrics and tracing. This is the only crate that performs I/O for a turn;
//! decisions are delegated to `gcbridge-core`, persistence to `gcbridge-store`.
//!
//! Shells (`gcbridge serve`, the Lambda binary) build an [`AppState`] from an [`AppConfig`] and
//! serve [`server::router`]. It must not depend on the emulator or the CLI.

pub mod check;
pub mod config;
pub mod dl;
pub mod listen;
pub mod locks;
pub mod metrics;
pub mod platform;
pub mod secret;
pub mod server;
pub mod state;
pub mod stream;
pub mod telemetry;
pub mod transcript;
pub mod turn;
pub mod webchat;
pub mod widget;

use std::sync::Arc;

pub use config::AppConfig;
pub use state::AppState;

/// Serves the router on `listener` until `shutdown` resolves, then drains in-flight requests,
/// with the connection limits of the configuration.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.limits.clone();
    listen::serve(listener, server::router(state), limits, shutdown).await
}
