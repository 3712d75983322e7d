//! `gcbridge store init` (its store line is the one `gcbridge check` prints).
//!
//! Serving never creates tables: the identity gcbridge serves with should only read and write
//! items. `store init` is the one-off step, run with an identity that may create the table
//! (DynamoDB: `CreateTable`, `DescribeTimeToLive`, `UpdateTimeToLive`), and is safe to repeat.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gcbridge_app::AppConfig;
use gcbridge_store::{Initialised, redact_url};

/// `gcbridge store ...`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Create the session store's table if it is missing (DynamoDB: with TTL on `ttl`; Azure
    /// Tables: the table), then check that the store answers. Safe to run again.
    Init {
        /// TOML configuration file, for its `store` setting.
        #[arg(long, env = "GCBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        /// Store URL to initialise instead of the configured one (GCBRIDGE_STORE).
        #[arg(long, value_name = "URL")]
        store: Option<String>,
    },
}

/// Runs a `store` subcommand.
pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    match args.command {
        StoreCommand::Init { config, store } => init(config, store).await,
    }
}

async fn init(config: Option<PathBuf>, store: Option<String>) -> anyhow::Result<()> {
    let url = match store {
        Some(url) => url,
        None => AppConfig::load(config.as_deref())?.store_url,
    };
    let shown = redact_url(&url);
    let store = gcbridge_store::open(&url)
        .await
        .with_context(|| format!("opening the store {shown}"))?;
    match store
        .init()
        .await
        .with_context(|| format!("initialising the store {shown}"))?
    {
        Initialised::Created(what) => println!("created  {what}"),
        Initialised::AlreadyPresent(what) => println!("exists   {what}"),
        Initialised::NothingNeeded => {
            println!("nothing to create for the {} store", store.name());
        }
    }
    // The store just opened is pinged, not a second one: the embedded file allows one opener.
    let ready = store.ping().await.map(|()| store.name());
    if !report(&shown, ready) {
        bail!("the store {shown} does not answer yet");
    }
    Ok(())
}

/// Prints the `ok`/`FAIL` line for a store, as `gcbridge check` does, and returns whether it is
/// ready.
fn report(shown: &str, outcome: Result<&'static str, gcbridge_store::StoreError>) -> bool {
    let verdict = gcbridge_app::check::store_verdict(shown, outcome);
    println!("{verdict}");
    verdict.level == gcbridge_app::check::Level::Ok
}
