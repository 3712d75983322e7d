//! `gcbridge`: the one command-line entry point (serve, demo, chat, emulator, bench, faults, bots,
//! store, check, healthcheck, widget).
//!
//! Thin shell: each subcommand parses its flags and calls into `gcbridge-app` (the server),
//! `gcbridge-emulator` (the Direct Line emulator) or the small modules here (chat, demo, bench).

/// mimalloc instead of the system allocator: a turn makes many small, short-lived allocations
/// on several worker threads, and glibc's arena locks and consolidation took about a fifth of
/// gcbridge's CPU under `gcbridge bench` (README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_mix;
mod bots;
mod chat;
mod check;
mod demo;
mod faults;
mod healthcheck;
mod local;
mod store_cmd;
mod widget;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use gcbridge_app::{AppConfig, AppState, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "gcbridge",
    version,
    about = "Genesys Cloud Bot Connector ⇄ Microsoft Copilot Studio (Direct Line 3.0)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (Genesys Bot Connector endpoint, health, metrics).
    Serve {
        /// TOML configuration file (defaults: config/gcbridge.toml in the repository).
        #[arg(long, env = "GCBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        /// Accept Genesys requests without a shared secret (local testing only).
        #[arg(long)]
        insecure: bool,
    },
    /// Try everything on one machine: server + emulated Copilot Studio agent + terminal chat.
    Demo(demo::DemoArgs),
    /// Talk to a gcbridge as Genesys would, in the terminal.
    Chat(chat::ChatArgs),
    /// Run the scriptable Direct Line 3.0 emulator of a Copilot Studio agent.
    Emulator {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 3978)]
        port: u16,
        /// Agent script (TOML); default: the built-in demo agent.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Accepted Direct Line secret (default: the emulator's documented test secret).
        #[arg(long, env = "GCBRIDGE_EMULATOR_SECRET")]
        secret: Option<String>,
    },
    /// Measure the time gcbridge adds to each turn (server + emulator on loopback).
    Bench(bench::BenchArgs),
    /// The reliability report: run the fault matrix against the emulator and count, per fault,
    /// the messages delivered, duplicated, lost and failed.
    Faults(faults::FaultsArgs),
    /// Print the bot list generated from configuration, or push it to Genesys Cloud.
    Bots(bots::BotsArgs),
    /// Create the session store's table (DynamoDB, Azure Tables) if it is missing.
    Store(store_cmd::StoreArgs),
    /// Validate the configuration, secrets, each bot's Direct Line agent and the session store.
    Check {
        #[arg(long, env = "GCBRIDGE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Probe a running gcbridge's /healthz (the container health check; exit code 0 when alive).
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Print the Genesys interaction-widget integration (gcbridge's transcript page or a
    /// Copilot Studio web chat) for the agent's side.
    Widget(widget::WidgetArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, insecure } => {
            telemetry::init("info");
            serve(config, insecure).await
        }
        Command::Demo(args) => demo::run(args).await,
        Command::Chat(args) => chat::run(args).await,
        Command::Emulator {
            port,
            script,
            secret,
        } => {
            telemetry::init("info");
            emulator(port, script, secret).await
        }
        Command::Bench(args) => bench::run(args).await,
        Command::Faults(args) => faults::run(args).await,
        Command::Bots(args) => bots::run(args).await,
        Command::Store(args) => store_cmd::run(args).await,
        Command::Check { config } => check::run(config).await,
        Command::Healthcheck(args) => healthcheck::run(args).await,
        Command::Widget(args) => widget::run(args).await,
    }
}

async fn serve(config: Option<PathBuf>, insecure: bool) -> anyhow::Result<()> {
    let config = AppConfig::load(config.as_deref())?;
    if config.genesys_secrets.is_empty() && !insecure {
        bail!(
            "no Genesys secret configured: set GCBRIDGE_GENESYS_SECRET (the value of the credential header Genesys sends), or pass --insecure for local testing"
        );
    }
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let listen = config.listen.clone();
    let state = Arc::new(AppState::new(config).await?);
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        store = %gcbridge_store::redact_url(&state.config.store_url),
        bots = state.config.bots.len(),
        "gcbridge serving"
    );
    let shutdown = gcbridge_app::drain_then(state.clone(), shutdown_signal());
    gcbridge_app::serve(listener, state, shutdown).await?;
    tracing::info!("gcbridge stopped");
    Ok(())
}

async fn emulator(
    port: u16,
    script: Option<PathBuf>,
    secret: Option<String>,
) -> anyhow::Result<()> {
    let script = match script {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            gcbridge_emulator::Script::from_toml_str(&text)
                .with_context(|| format!("in {}", path.display()))?
        }
        None => gcbridge_emulator::Script::demo(),
    };
    let mut config = gcbridge_emulator::EmulatorConfig::new(script);
    if let Some(secret) = secret {
        config.secrets = vec![secret];
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let emulator = gcbridge_emulator::start(listener, config).await;
    println!("Direct Line emulator listening on {}", emulator.base_url());
    shutdown_signal().await;
    emulator.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
