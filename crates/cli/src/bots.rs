//! `gcbridge bots print` and `gcbridge bots push`: the bot list Genesys needs, generated from
//! the configuration (`genesys-bot-connector.md` §6).
//!
//! `print` writes the exact JSON on stdout and nothing else, so it can be piped. `push` replaces
//! the v1 integration's whole list through the Platform API with an OAuth client whose id and
//! secret come from the environment only; `--dry-run` shows the difference instead of writing.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gcbridge_app::AppConfig;
use gcbridge_app::platform::bot_list::{self, IntegrationId, Operation, ReadBack, Verification};
use gcbridge_app::platform::{ClientCredentials, ClientOptions, Endpoints, PlatformClient, Region};
use gcbridge_genesys::BotList;

/// `gcbridge bots ...`
#[derive(Debug, Args)]
pub struct BotsArgs {
    #[command(subcommand)]
    command: BotsCommand,
}

#[derive(Debug, Subcommand)]
enum BotsCommand {
    /// Print the bot list generated from the configuration as JSON (v1 Platform API body, or
    /// with --dbc the Digital Bot Connector's `GET /bots` body), after checking Genesys' limits.
    Print {
        /// TOML configuration file (default: built-in defaults and environment).
        #[arg(long, env = "GCBRIDGE_CONFIG")]
        config: Option<PathBuf>,
        /// Print the Digital Bot Connector list instead of the v1 list.
        #[arg(long)]
        dbc: bool,
    },
    /// Replace the v1 integration's bot list in Genesys Cloud with the one from configuration.
    /// Needs GCBRIDGE_GENESYS_CLIENT_ID and GCBRIDGE_GENESYS_CLIENT_SECRET (an OAuth client
    /// with integration:botconnector:edit and :view).
    Push(PushArgs),
}

#[derive(Debug, Args)]
struct PushArgs {
    /// Genesys Cloud region: AWS region (eu-west-1), environment (prod-euw1) or domain
    /// (mypurecloud.ie).
    #[arg(long, env = "GCBRIDGE_GENESYS_REGION", value_parser = Region::parse)]
    region: Region,
    /// Id of the Genesys Bot Connector integration (Admin > Integrations).
    #[arg(long, env = "GCBRIDGE_GENESYS_INTEGRATION_ID", value_parser = IntegrationId::parse)]
    integration_id: IntegrationId,
    /// TOML configuration file (default: built-in defaults and environment).
    #[arg(long, env = "GCBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    /// Show how Genesys' current list differs from the configuration; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `gcbridge bots ...`.
pub async fn run(args: BotsArgs) -> anyhow::Result<()> {
    match args.command {
        BotsCommand::Print { config, dbc } => print(config, dbc),
        BotsCommand::Push(args) => push(args).await,
    }
}

fn print(config: Option<PathBuf>, dbc: bool) -> anyhow::Result<()> {
    let config = load(config)?;
    let profiles = config.bots.iter().map(|b| &b.profile);
    let json = if dbc {
        serde_json::to_string_pretty(&gcbridge_core::botlist::dbc_bot_list(profiles))
    } else {
        serde_json::to_string_pretty(&gcbridge_core::botlist::v1_bot_list(profiles))
    }
    .context("encoding the bot list")?;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
        // A reader that stops early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("writing the bot list"),
    }
}

/// Loads the configuration and checks its bot list against Genesys' limits.
fn load(config: Option<PathBuf>) -> anyhow::Result<AppConfig> {
    let config = AppConfig::load(config.as_deref())?;
    if let Err(problems) = gcbridge_core::botlist::validate(config.bots.iter().map(|b| &b.profile))
    {
        bail!(
            "the bot list breaks Genesys' limits:\n  - {}",
            problems.join("\n  - ")
        );
    }
    Ok(config)
}

async fn push(args: PushArgs) -> anyhow::Result<()> {
    gcbridge_app::telemetry::init("warn");
    let config = load(args.config)?;
    let list: BotList = gcbridge_core::botlist::v1_bot_list(config.bots.iter().map(|b| &b.profile));
    let credentials = ClientCredentials::from_env()?;
    let client = PlatformClient::new(
        Endpoints::for_region(&args.region),
        credentials,
        ClientOptions::default(),
    )
    .context("building the HTTP client")?;
    let id = &args.integration_id;
    let bots = list.chat_bots.len();

    if args.dry_run {
        let diff = bot_list::compare(&client, id, &list)
            .await
            .map_err(|e| anyhow::anyhow!(bot_list::explain(&e, Operation::Read, id)))?;
        if diff.is_empty() {
            println!(
                "Integration {id} in {} already has this bot list ({bots} bot(s)). Nothing to push.",
                args.region
            );
        } else {
            println!(
                "Integration {id} in {}: pushing would change its bot list as follows (+ added, - removed, ~ changed):",
                args.region
            );
            print!("{diff}");
            println!("Dry run: nothing was changed. The push replaces the whole list.");
        }
        return Ok(());
    }

    bot_list::put(&client, id, &list)
        .await
        .map_err(|e| anyhow::anyhow!(bot_list::explain(&e, Operation::Replace, id)))?;
    println!(
        "Pushed {bots} bot(s) to integration {id} in {}.",
        args.region
    );
    // Genesys propagates changes slowly: a mismatch after the last read is reported, not failed.
    match bot_list::verify(&client, id, &list, &ReadBack::default()).await {
        Verification::Matches { .. } => {
            println!("Read back: Genesys returns the pushed list.");
        }
        Verification::Differs { reads, diff } => {
            eprintln!(
                "warning: after {reads} reads Genesys still returns a different list (it can take minutes to propagate; check later with --dry-run):"
            );
            eprint!("{diff}");
        }
        Verification::Unreadable { error, .. } => {
            eprintln!(
                "warning: pushed, but could not read the list back: {}",
                bot_list::explain(&error, Operation::Read, id)
            );
        }
    }
    println!("Flows keep the bot list they were published with: update and re-publish them.");
    Ok(())
}
