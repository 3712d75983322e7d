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
pub mod outgoing;
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
/// with the connection limits of the configuration. Wrap the signal in [`drain_then`] to make
/// `/readyz` fail first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.limits.clone();
    let grace = limits.shutdown_grace;
    let result = listen::serve(listener, server::router(state.clone()), limits, shutdown).await;
    // Asynchronous DBC turns outlive their requests: let them push what they have.
    let left = state.async_turns.drain(grace).await;
    if left > 0 {
        tracing::warn!(
            left,
            "shutdown grace period over with asynchronous turns still running"
        );
    }
    result
}

/// A shutdown future for [`serve`] that, once `signal` resolves, marks the state draining
/// (`/readyz` answers 503 at once) and keeps serving for the configured drain delay, so load
/// balancers stop sending turns before the listener closes; in-flight turns then get the
/// shutdown grace period.
pub async fn drain_then(
    state: Arc<AppState>,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
) {
    signal.await;
    let delay = state.config.limits.drain_delay;
    state
        .draining
        .store(true, std::sync::atomic::Ordering::Release);
    tracing::info!(
        drain_delay_ms = delay.as_millis() as u64,
        "shutting down: /readyz answers 503; still serving during the drain delay"
    );
    tokio::time::sleep(delay).await;
    tracing::info!("listener closed; waiting for in-flight requests");
}
