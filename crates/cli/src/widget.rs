//! `gcbridge widget print` / `push`: the Genesys Cloud interaction-widget integration
//! (`embedded-client-app-interaction-widget`) that shows the agent either gcbridge's own
//! transcript page (`/widget`, the customer's bot conversation and handoff context) or a
//! Copilot Studio web chat (the source document's setup: its iframe `src` as Application URL).
//!
//! `print` writes JSON on stdout and nothing else: the integration to create (`body`) and its
//! configuration (`config`, the `properties` of Admin > Integrations > Configuration). With the
//! gcbridge page the Application URL contains a widget key, so treat the output like the key.
//!
//! `push --region R` finds the integration by name through the Platform API (OAuth client
//! credentials from the environment), creates it when missing, writes the configuration when it
//! differs and enables it; `--dry-run` only reads and shows the differences.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use gcbridge_app::AppConfig;
use gcbridge_app::platform::interaction_widget::{self, DesiredWidget};
use gcbridge_app::platform::{ClientCredentials, ClientOptions, Endpoints, PlatformClient, Region};
use serde_json::{Value, json};

/// The Genesys integration type of an interaction widget.
pub use gcbridge_app::platform::interaction_widget::INTEGRATION_TYPE;

/// The iframe sandbox the page needs: its own scripts and same-origin `fetch` of the transcript.
const DEFAULT_SANDBOX: &str = "allow-scripts,allow-same-origin,allow-forms,allow-popups";

/// `gcbridge widget ...`
#[derive(Debug, Args)]
pub struct WidgetArgs {
    #[command(subcommand)]
    command: WidgetCommand,
}

#[derive(Debug, Subcommand)]
enum WidgetCommand {
    /// Print the interaction-widget integration (JSON) for gcbridge's transcript page
    /// (--base-url) or for a Copilot Studio web chat (--webchat-url).
    Print(PrintArgs),
    /// Create or update the interaction-widget integration in Genesys Cloud (found by --name)
    /// and enable it. Needs GCBRIDGE_GENESYS_CLIENT_ID and GCBRIDGE_GENESYS_CLIENT_SECRET (an
    /// OAuth client with integrations:integration:view, :add and :edit).
    Push(PushArgs),
}

#[derive(Debug, Args)]
struct PushArgs {
    /// Genesys Cloud region: AWS region (eu-west-1), environment (prod-euw1) or domain
    /// (mypurecloud.ie).
    #[arg(long, env = "GCBRIDGE_GENESYS_REGION", value_parser = Region::parse)]
    region: Region,
    /// Show what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    target: PrintArgs,
}

#[derive(Debug, Args)]
struct PrintArgs {
    /// Public HTTPS base URL of this gcbridge (the page is `<base>/widget`).
    #[arg(
        long,
        conflicts_with = "webchat_url",
        required_unless_present = "webchat_url"
    )]
    base_url: Option<String>,
    /// The Copilot Studio web chat iframe `src` URL (Channels > Web app / Custom website).
    #[arg(long)]
    webchat_url: Option<String>,
    /// Widget key for the page's URL (default: GCBRIDGE_WIDGET_KEY, then the first
    /// `[widget] keys` entry of the configuration).
    #[arg(long)]
    key: Option<String>,
    /// TOML configuration file (default: built-in defaults and environment).
    #[arg(long, env = "GCBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    /// Integration name shown in Genesys Cloud.
    #[arg(long, default_value = "Copilot Studio conversation")]
    name: String,
    /// Only show the widget on interactions of this queue id (repeatable).
    #[arg(long = "queue")]
    queues: Vec<String>,
    /// Only show the widget to members of this group id (repeatable).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Communication types the widget is shown for (comma-separated), e.g. `chat,message`.
    #[arg(long, default_value = "chat,message")]
    communication_types: String,
    /// The iframe sandbox attribute.
    #[arg(long, default_value = DEFAULT_SANDBOX)]
    sandbox: String,
}

/// What the widget shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// gcbridge's transcript page at this base URL, opened with this widget key.
    Gcbridge { base_url: String, key: String },
    /// A Copilot Studio web chat iframe URL, used as is.
    WebChat { url: String },
}

/// Filters and iframe options of the integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub name: String,
    pub queues: Vec<String>,
    pub groups: Vec<String>,
    pub communication_types: Vec<String>,
    pub sandbox: String,
}

/// Runs `gcbridge widget ...`.
pub async fn run(args: WidgetArgs) -> anyhow::Result<()> {
    match args.command {
        WidgetCommand::Print(args) => print(args),
        WidgetCommand::Push(args) => push(args).await,
    }
}

fn print(args: PrintArgs) -> anyhow::Result<()> {
    let integration = from_args(args)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &integration).context("writing the JSON")?;
    writeln!(out).context("writing the JSON")?;
    Ok(())
}

async fn push(args: PushArgs) -> anyhow::Result<()> {
    gcbridge_app::telemetry::init("warn");
    let integration = from_args(args.target)?;
    let config = &integration["config"];
    let desired = DesiredWidget {
        name: config["name"].as_str().unwrap_or_default().to_owned(),
        notes: config["notes"].as_str().unwrap_or_default().to_owned(),
        properties: config["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let credentials = ClientCredentials::from_env()?;
    let client = PlatformClient::new(
        Endpoints::for_region(&args.region),
        credentials,
        ClientOptions::default(),
    )
    .context("building the HTTP client")?;
    let report = interaction_widget::push(&client, &desired, args.dry_run)
        .await
        .map_err(|e| anyhow::anyhow!(interaction_widget::explain(&e)))?;
    let name = &desired.name;
    let region = &args.region;
    let verb = |done: &'static str, would: &'static str| if args.dry_run { would } else { done };
    match (&report.id, report.created) {
        (_, true) => println!(
            "{} interaction widget {name:?} in {region}{}.",
            verb("Created", "Would create"),
            report
                .id
                .as_deref()
                .map(|id| format!(" (id {id})"))
                .unwrap_or_default()
        ),
        (Some(id), false) => println!("Interaction widget {name:?} in {region}: id {id}."),
        (None, false) => {}
    }
    for change in &report.changes {
        // The Application URL carries the widget key: print the key's place, not the key.
        let shown = if change.starts_with("url = ") {
            "url changes (it holds the widget key; see widget print)".to_owned()
        } else {
            change.clone()
        };
        println!("  {} {shown}", verb("set", "would set"));
    }
    if report.configured && report.changes.is_empty() {
        println!("  {} name and notes", verb("updated", "would update"));
    }
    if !report.configured {
        println!("  configuration already up to date");
    }
    if report.enabled {
        println!("  {}", verb("enabled", "would enable"));
    }
    if args.dry_run {
        println!("Dry run: nothing was changed.");
    } else {
        println!(
            "Agents see it on interactions matching its filters; Genesys may take a few minutes to show changes."
        );
    }
    Ok(())
}

/// The integration (`body` + `config`) from the command line and configuration.
fn from_args(args: PrintArgs) -> anyhow::Result<Value> {
    let target = match (args.base_url, args.webchat_url) {
        (Some(base_url), _) => {
            let key = match args.key {
                Some(key) => key,
                None => {
                    let config = AppConfig::load(args.config.as_deref())?;
                    match config.widget_keys.first() {
                        Some(key) => key.expose().to_owned(),
                        None => bail!(
                            "no widget key: pass --key, set GCBRIDGE_WIDGET_KEY or [widget] keys (and give gcbridge the same key)"
                        ),
                    }
                }
            };
            Target::Gcbridge { base_url, key }
        }
        (None, Some(url)) => Target::WebChat { url },
        (None, None) => bail!("pass --base-url (gcbridge's page) or --webchat-url"),
    };
    let options = Options {
        name: args.name,
        queues: args.queues,
        groups: args.groups,
        communication_types: args
            .communication_types
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        sandbox: args.sandbox,
    };
    integration(&target, &options)
}

/// The widget's Application URL. Genesys replaces `{{gcConversationId}}` and `{{gcLangTag}}`
/// when it opens the widget for an interaction.
pub fn application_url(target: &Target) -> anyhow::Result<String> {
    match target {
        Target::Gcbridge { base_url, key } => {
            let base = base_url.trim().trim_end_matches('/');
            if !(base.starts_with("https://") || base.starts_with("http://")) {
                bail!("--base-url must be an https:// URL (http:// only for local tests)");
            }
            if key.trim().is_empty() {
                bail!("the widget key is empty");
            }
            Ok(format!(
                "{base}/widget?conversationId={{{{gcConversationId}}}}&lang={{{{gcLangTag}}}}&key={}",
                percent_encode(key.trim())
            ))
        }
        Target::WebChat { url } => {
            let url = url.trim();
            if !url.starts_with("https://") {
                bail!("--webchat-url must be an https:// URL");
            }
            Ok(url.to_owned())
        }
    }
}

/// The integration to create and its configuration.
pub fn integration(target: &Target, options: &Options) -> anyhow::Result<Value> {
    let url = application_url(target)?;
    let notes = match target {
        Target::Gcbridge { .. } => {
            "The customer's conversation with the Copilot Studio agent, served by gcbridge."
        }
        Target::WebChat { .. } => "Copilot Studio web chat.",
    };
    Ok(json!({
        "body": {
            "name": options.name,
            "integrationType": {"id": INTEGRATION_TYPE},
            "notes": notes,
        },
        "config": {
            "name": options.name,
            "notes": notes,
            "properties": {
                "url": url,
                "sandbox": options.sandbox,
                "permissions": "",
                "queueIdFilterList": options.queues,
                "groups": options.groups,
                "communicationTypeFilter": options.communication_types.join(","),
            },
            "advanced": {},
        },
    }))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            name: "Bot conversation".into(),
            queues: vec!["q-1".into()],
            groups: vec![],
            communication_types: vec!["chat".into(), "message".into()],
            sandbox: DEFAULT_SANDBOX.into(),
        }
    }

    #[test]
    fn gcbridge_page_with_placeholders_and_encoded_key() {
        let target = Target::Gcbridge {
            base_url: "https://gcbridge.example.com/".into(),
            key: "k+y/=".into(),
        };
        let v = integration(&target, &options()).expect("integration");
        assert_eq!(v["body"]["integrationType"]["id"], INTEGRATION_TYPE);
        assert_eq!(
            v["config"]["properties"]["url"],
            "https://gcbridge.example.com/widget?conversationId={{gcConversationId}}&lang={{gcLangTag}}&key=k%2By%2F%3D"
        );
        assert_eq!(
            v["config"]["properties"]["queueIdFilterList"],
            json!(["q-1"])
        );
        assert_eq!(v["config"]["properties"]["groups"], json!([]));
        assert_eq!(
            v["config"]["properties"]["communicationTypeFilter"],
            "chat,message"
        );
        assert_eq!(v["config"]["properties"]["sandbox"], DEFAULT_SANDBOX);
    }

    #[test]
    fn webchat_url_is_used_as_is_and_must_be_https() {
        let url = "https://copilotstudio.microsoft.com/environments/e/bots/b/webchat?__version__=2";
        let v = integration(&Target::WebChat { url: url.into() }, &options()).expect("ok");
        assert_eq!(v["config"]["properties"]["url"], url);
        assert!(
            integration(
                &Target::WebChat {
                    url: "http://x".into()
                },
                &options()
            )
            .is_err()
        );
        assert!(
            integration(
                &Target::Gcbridge {
                    base_url: "gcbridge.example.com".into(),
                    key: "k".into()
                },
                &options()
            )
            .is_err()
        );
    }
}
