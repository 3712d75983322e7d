//! `gcbridge demo`: zero configuration. Starts the Direct Line emulator with the demo agent and
//! a gcbridge server pointed at it (both on loopback, embedded store in a local data folder),
//! prints where everything is, then opens the terminal chat against the server.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use gcbridge_app::AppConfig;

use crate::chat::{self, ChatArgs};

/// Flags of `gcbridge demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Folder for the demo's embedded session store.
    #[arg(long, default_value = "./data/demo")]
    pub data_dir: PathBuf,
    /// Port of the gcbridge server on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Do not open the chat: keep the server and emulator running until Ctrl-C.
    #[arg(long)]
    pub no_chat: bool,
    /// Chat over the Digital Bot Connector with asynchronous replies: gcbridge acknowledges each
    /// message at once and pushes the agent's replies, as they come, to a local stand-in for
    /// the Genesys Platform API, which the chat follows.
    #[arg(long)]
    pub dbc: bool,
}

/// The settings that point gcbridge's asynchronous DBC replies at a local Genesys stand-in
/// (its login and API base URL, and the OAuth client it accepts).
pub(crate) fn standin_env(
    standin: &gcbridge_emulator::GenesysStandIn,
) -> [(&'static str, String); 4] {
    [
        ("GCBRIDGE_GENESYS_LOGIN_URL", standin.base_url().to_owned()),
        ("GCBRIDGE_GENESYS_API_URL", standin.base_url().to_owned()),
        (
            "GCBRIDGE_GENESYS_CLIENT_ID",
            standin.config().client_id.clone(),
        ),
        (
            "GCBRIDGE_GENESYS_CLIENT_SECRET",
            standin.config().client_secret.clone(),
        ),
    ]
}

/// Runs the demo until the chat ends (or Ctrl-C with `--no-chat`).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // Quiet logs: the chat is the show. GCBRIDGE_LOG=info shows the server's turn lines.
    gcbridge_app::telemetry::init("warn");

    let emulator_listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding the emulator on 127.0.0.1")?;
    let emulator_config = gcbridge_emulator::EmulatorConfig::new(gcbridge_emulator::Script::demo());
    let emulator_secret = emulator_config.secrets.first().cloned().unwrap_or_default();
    let emulator = gcbridge_emulator::start(emulator_listener, emulator_config).await;

    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let store = format!("embedded:{}", args.data_dir.join("gcbridge.db").display());
    let genesys_secret = gcbridge_app::state::random_hex(16);
    let standin = if args.dbc {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the Genesys stand-in on 127.0.0.1")?;
        let config = gcbridge_emulator::StandInConfig {
            client_id: gcbridge_app::state::random_hex(8),
            client_secret: gcbridge_app::state::random_hex(16),
            ..Default::default()
        };
        Some(gcbridge_emulator::start_genesys(listener, config).await)
    } else {
        None
    };
    let widget_key = gcbridge_app::state::random_hex(16);
    let mut env: HashMap<&str, String> = HashMap::from([
        // The agent-side widget shows the demo conversation: transcripts on, a fresh key.
        ("GCBRIDGE_TRANSCRIPTS", "true".to_owned()),
        ("GCBRIDGE_WIDGET_KEY", widget_key.clone()),
        ("GCBRIDGE_LISTEN", format!("127.0.0.1:{}", args.port)),
        ("GCBRIDGE_STORE", store.clone()),
        ("GCBRIDGE_DIRECTLINE_URL", emulator.base_url().to_owned()),
        ("GCBRIDGE_DIRECTLINE_SECRET", emulator_secret),
        ("GCBRIDGE_GENESYS_SECRET", genesys_secret.clone()),
    ]);
    // Web pages allowed to take Web Chat tokens (e.g. a local test page), from the environment.
    if let Ok(origins) = std::env::var("GCBRIDGE_WEBCHAT_ORIGINS") {
        env.insert("GCBRIDGE_WEBCHAT_ORIGINS", origins);
    }
    let mut config_text = "[webchat]\nenabled = true\n".to_owned();
    if let Some(standin) = &standin {
        env.extend(crate::demo::standin_env(standin));
        config_text.push_str("\n[bot]\ndbc_async = true\n");
    }
    let config = AppConfig::from_parts(Some(&config_text), &|name| env.get(name).cloned())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", args.port))?;
    let server = crate::local::LocalServer::start(config, listener).await?;
    let base = server.base.clone();

    println!("gcbridge demo — a Copilot Studio agent (emulated) behind gcbridge, on this machine");
    println!();
    println!("  Genesys Bot Connector URL  {base}/genesys/v1/utterance");
    println!("  Digital Bot Connector URI  {base}/genesys/dbc");
    if let Some(standin) = &standin {
        println!(
            "  Genesys stand-in           {}  (receives the asynchronous replies)",
            standin.base_url()
        );
    }
    println!("  credential header          Authorization: {genesys_secret}");
    println!("  health / readiness         {base}/healthz   {base}/readyz");
    println!("  metrics                    {base}/metrics");
    println!(
        "  Direct Line emulator       {}/v3/directline",
        emulator.base_url()
    );
    println!("  session store              {store}");
    println!("  Web Chat token server      {base}/webchat/token");
    println!();
    // The Genesys conversation id of the demo chat, so its widget page can be opened now.
    let conversation_id = uuid::Uuid::new_v4().to_string();
    println!("  Agent widget of this chat (open in a browser; it fills in as you chat):");
    println!("    {base}/widget?conversationId={conversation_id}&lang=en-US&key={widget_key}");
    println!();

    if args.no_chat {
        println!("Serving until Ctrl-C. Chat from another terminal with:");
        let dbc = match &standin {
            Some(standin) => format!(" --dbc --pushes {}", standin.base_url()),
            None => String::new(),
        };
        println!(
            "  gcbridge chat --url {base} --secret {genesys_secret} --bot-id contoso-support --conversation-id {conversation_id}{dbc}"
        );
        crate::shutdown_signal().await;
    } else {
        println!(
            "Try: opening hours · track my order · backpack · plans · size chart · slow · very slow · agent · bye"
        );
        println!();
        chat::run(ChatArgs {
            url: base,
            secret: Some(genesys_secret),
            header: "Authorization".to_owned(),
            bot_id: "contoso-support".to_owned(),
            language: "en-us".to_owned(),
            params: vec![("CustomerName".to_owned(), "Ada".to_owned())],
            no_greeting: false,
            dbc: args.dbc,
            pushes: standin.as_ref().map(|s| s.base_url().to_owned()),
            conversation_id: Some(conversation_id),
        })
        .await?;
    }
    server.stop().await;
    emulator.shutdown().await;
    if let Some(standin) = standin {
        standin.shutdown().await;
    }
    Ok(())
}
