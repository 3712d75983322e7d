//! Runs the Direct Line emulator for manual tries and for the DirectLineJS test.
//!
//! ```text
//! cargo run -p gcbridge-emulator --example serve -- --port 0 --script config/demo-agent.toml
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` once it accepts connections (the readiness signal
//! scripts wait for), then serves until Ctrl-C or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use gcbridge_emulator::{DEFAULT_SECRET, EmulatorConfig, Script, start};

/// Direct Line 3.0 emulator of a Copilot Studio agent.
#[derive(Debug, Parser)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Agent script (TOML); the built-in demo agent when absent.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Accepted Direct Line secret (repeat for several).
    #[arg(long = "secret", default_value = DEFAULT_SECRET)]
    secrets: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let script = match &args.script {
        Some(path) => Script::from_file(path)?,
        None => Script::demo(),
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let mut config = EmulatorConfig::new(script);
    config.secrets = args.secrets;
    let emulator = start(listener, config).await;
    println!("listening on {}", emulator.base_url());
    println!("direct line: {}", emulator.directline_url());
    println!("token endpoint: {}", emulator.token_endpoint_url());

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    emulator.shutdown().await;
    Ok(())
}
