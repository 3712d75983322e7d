//! gcbridge served inside this process, for the commands that run one beside their own
//! emulator (`demo`, `bench --in-process` and `--mix`, `faults`): the real router on a loopback
//! listener until [`LocalServer::stop`].

use std::sync::Arc;

use gcbridge_app::{AppConfig, AppState};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running in-process gcbridge.
pub(crate) struct LocalServer {
    /// `http://127.0.0.1:PORT`, without a path.
    pub base: String,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

impl LocalServer {
    /// Builds the state from `config` and serves it on `listener`.
    pub(crate) async fn start(
        config: AppConfig,
        listener: tokio::net::TcpListener,
    ) -> anyhow::Result<Self> {
        let state = Arc::new(AppState::new(config).await?);
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(gcbridge_app::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Ok(Self { base, stop, server })
    }

    /// Stops serving and waits for in-flight requests to finish.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}
