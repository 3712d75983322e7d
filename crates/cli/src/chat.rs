//! `gcbridge chat`: a terminal stand-in for Genesys. It sends Bot Connector v1 requests the way a
//! Genesys messaging flow does (one bot session, a request per customer message) and renders the
//! answers as a customer and a flow designer would want to read them.
//!
//! Interactive on a terminal (line editing, history); with piped input it reads one message per
//! line and prints plain text, which is how the end-to-end tests drive it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use gcbridge_genesys::{BotState, CardActionKind, ReplyContent, ReplyKind, TurnResponse};
use serde_json::{Value, json};

/// Flags of `gcbridge chat`.
#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    /// gcbridge base URL (e.g. http://127.0.0.1:8080) or the full utterance URL.
    #[arg(long, env = "GCBRIDGE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Shared secret sent in the credential header, as the Genesys integration would.
    #[arg(long, env = "GCBRIDGE_GENESYS_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Credential header name.
    #[arg(
        long,
        env = "GCBRIDGE_GENESYS_SECRET_HEADER",
        default_value = "Authorization"
    )]
    pub header: String,
    /// botId to send (as chosen in Architect).
    #[arg(long, default_value = "copilot")]
    pub bot_id: String,
    /// Genesys languageCode.
    #[arg(long, default_value = "en-us")]
    pub language: String,
    /// Input session variables, NAME=VALUE (repeatable).
    #[arg(long = "param", value_parser = parse_param)]
    pub params: Vec<(String, String)>,
    /// Do not send the opening empty turn that makes the agent greet.
    #[arg(long)]
    pub no_greeting: bool,
    /// Talk to the Digital Bot Connector endpoint (`/genesys/dbc/messages`, with a `messageId`
    /// per message) instead of the v1 utterance endpoint.
    #[arg(long)]
    pub dbc: bool,
    /// With `--dbc` and a bot whose replies are pushed asynchronously (`dbc_async`): the base
    /// URL of the local Genesys stand-in that receives them (`gcbridge demo --dbc` prints it).
    /// Pushed replies are shown as they arrive.
    #[arg(long, requires = "dbc")]
    pub pushes: Option<String>,
    /// Genesys conversation id of the first session (default: a random UUID); the agent-side
    /// widget shows a conversation by this id.
    #[arg(long)]
    pub conversation_id: Option<String>,
}

fn parse_param(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got {raw:?}"))
}

/// A click the user can make by typing its number.
#[derive(Debug, Clone, PartialEq)]
struct Choice {
    label: String,
    payload: String,
    kind: &'static str,
}

/// One Genesys bot session as the chat keeps it.
struct Session {
    bot_session_id: String,
    conversation_id: String,
    choices: Vec<Choice>,
    ended: bool,
    /// When the customer's latest message was sent.
    sent_at: Instant,
    /// Asynchronous replies shown since the latest message.
    pushed_since: usize,
    /// When the latest asynchronous reply was shown.
    last_push: Option<Instant>,
}

impl Session {
    fn new() -> Self {
        Self {
            bot_session_id: uuid::Uuid::new_v4().to_string(),
            conversation_id: uuid::Uuid::new_v4().to_string(),
            choices: Vec::new(),
            ended: false,
            sent_at: Instant::now(),
            pushed_since: 0,
            last_push: None,
        }
    }
}

type Shared = std::sync::Arc<std::sync::Mutex<Session>>;

fn lock(session: &Shared) -> std::sync::MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(|e| e.into_inner())
}

struct Client {
    http: reqwest::Client,
    url: String,
    args: ChatArgs,
    style: Style,
}

/// ANSI styling, on only for terminals.
#[derive(Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn bot(&self, t: &str) -> String {
        self.paint("36", t)
    }
    fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
    fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    fn alert(&self, t: &str) -> String {
        self.paint("33", t)
    }
    fn error(&self, t: &str) -> String {
        self.paint("31", t)
    }
}

/// Runs the chat until the user quits or input ends.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let url = if args.url.contains("/genesys/") {
        args.url.clone()
    } else if args.dbc {
        format!("{}/genesys/dbc/messages", args.url.trim_end_matches('/'))
    } else {
        format!("{}/genesys/v1/utterance", args.url.trim_end_matches('/'))
    };
    let interactive = std::io::stdin().is_terminal();
    let style = Style {
        color: std::io::stdout().is_terminal(),
    };
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(70))
            .build()
            .context("building the HTTP client")?,
        url,
        args,
        style,
    };
    if interactive {
        println!(
            "{}",
            style.dim(&format!(
                "Chatting with {} as Genesys would. Type a message; a number picks a button; /new starts a new session; /quit leaves.",
                client.url
            ))
        );
    }
    let mut first = Session::new();
    if let Some(id) = client
        .args
        .conversation_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
    {
        first.conversation_id = id.to_owned();
    }
    let session: Shared = std::sync::Arc::new(std::sync::Mutex::new(first));
    if let Some(pushes) = &client.args.pushes {
        tokio::spawn(follow_pushes(
            client.http.clone(),
            pushes.trim_end_matches('/').to_owned(),
            session.clone(),
            style,
        ));
    }
    if !client.args.no_greeting {
        client.turn(&session, Input::Greeting).await;
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<String>>(1);
    let (ack_tx, ack_rx) = std::sync::mpsc::channel::<()>();
    // Line editing is blocking: it runs on its own thread, one line per turn.
    std::thread::spawn(move || read_lines(interactive, tx, ack_rx));
    while let Some(line) = rx.recv().await {
        let Some(line) = line else { break };
        let text = line.trim();
        match text {
            "/quit" | "/exit" => break,
            "/new" => {
                *lock(&session) = Session::new();
                println!("{}", style.dim("— new bot session —"));
                if !client.args.no_greeting {
                    client.turn(&session, Input::Greeting).await;
                }
            }
            "/help" => println!(
                "{}",
                style.dim("Type a message; a number picks a button; /new starts a new session; /quit leaves.")
            ),
            _ => {
                let input = {
                    let mut current = lock(&session);
                    if current.ended {
                        *current = Session::new();
                        println!("{}", style.dim("— the previous bot session ended; new bot session —"));
                    }
                    match text.parse::<usize>().ok().and_then(|n| current.choices.get(n.wrapping_sub(1))) {
                        Some(choice) => Input::Button(choice.clone()),
                        None => Input::Text(text.to_owned()),
                    }
                };
                client.turn(&session, input).await;
            }
        }
        if ack_tx.send(()).is_err() {
            break;
        }
    }
    Ok(())
}

fn read_lines(
    interactive: bool,
    tx: tokio::sync::mpsc::Sender<Option<String>>,
    ack: std::sync::mpsc::Receiver<()>,
) {
    if interactive {
        let Ok(mut editor) = rustyline::DefaultEditor::new() else {
            let _ = tx.blocking_send(None);
            return;
        };
        loop {
            match editor.readline("you › ") {
                Ok(line) => {
                    let _ = editor.add_history_entry(line.as_str());
                    if tx.blocking_send(Some(line)).is_err() || ack.recv().is_err() {
                        return;
                    }
                }
                Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
            }
        }
    } else {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(None);
                    return;
                }
                Ok(_) => {
                    let text = line.trim_end_matches(['\n', '\r']).to_owned();
                    if text.trim().is_empty() {
                        continue;
                    }
                    println!("you › {text}");
                    if tx.blocking_send(Some(text)).is_err() || ack.recv().is_err() {
                        return;
                    }
                }
            }
        }
    }
}

enum Input {
    /// The opening turn of an auto-started messaging session: no customer text.
    Greeting,
    Text(String),
    Button(Choice),
}

impl Client {
    fn request_body(&self, session: &Session, input: &Input) -> Value {
        let input_message = match input {
            Input::Greeting => json!({"type": "Text", "text": ""}),
            Input::Text(t) => json!({"type": "Text", "text": t}),
            Input::Button(c) => json!({
                "type": "Structured",
                "text": c.label,
                "content": [{"contentType": "ButtonResponse",
                    "buttonResponse": {"type": c.kind, "text": c.label, "payload": c.payload}}]
            }),
        };
        let params: BTreeMap<&str, &str> = self
            .args
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut body = json!({
            "botId": self.args.bot_id,
            "botVersion": "1",
            "botSessionId": session.bot_session_id,
            "inputMessage": input_message,
            "languageCode": self.args.language,
            "botSessionTimeout": 4320,
            "genesysConversationId": session.conversation_id,
            "parameters": params,
        });
        if self.args.dbc {
            // The DBC identifies every inbound message; gcbridge uses it to answer retries.
            body["messageId"] = json!(uuid::Uuid::new_v4().to_string());
        }
        body
    }

    async fn turn(&self, session: &Shared, input: Input) {
        let style = self.style;
        let body = {
            let mut current = lock(session);
            current.sent_at = Instant::now();
            current.pushed_since = 0;
            current.last_push = None;
            self.request_body(&current, &input)
        };
        let mut request = self.http.post(&self.url).json(&body);
        if let Some(secret) = &self.args.secret {
            request = request.header(self.args.header.as_str(), secret.as_str());
        }
        let started = Instant::now();
        let waiting = (std::io::stdout().is_terminal()).then(|| {
            tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                print!("\x1b[2m  … the agent is typing\x1b[0m\r");
                use std::io::Write;
                let _ = std::io::stdout().flush();
            })
        });
        let result = request.send().await;
        if let Some(w) = waiting {
            w.abort();
            print!("\x1b[2K");
        }
        let elapsed = started.elapsed();
        let response = match result {
            Err(e) => {
                println!(
                    "{}",
                    style.error(&format!("  ! could not reach gcbridge: {e}"))
                );
                return;
            }
            Ok(r) if r.status() != reqwest::StatusCode::OK => {
                println!(
                    "{}",
                    style.error(&format!(
                        "  ! gcbridge answered HTTP {} (a wrong or missing secret gives 401/403)",
                        r.status()
                    ))
                );
                return;
            }
            Ok(r) => match r.json::<TurnResponse>().await {
                Ok(t) => t,
                Err(e) => {
                    println!(
                        "{}",
                        style.error(&format!("  ! not a Bot Connector answer: {e}"))
                    );
                    return;
                }
            },
        };
        if self.args.pushes.is_some()
            && response.bot_state == BotState::MoreData
            && response.reply_messages.is_empty()
        {
            // Acknowledged: the replies come through the stand-in.
            println!(
                "{}",
                style.dim(&format!(
                    "  (acknowledged in {} ms; replies are pushed as the agent sends them)",
                    elapsed.as_millis()
                ))
            );
            if !std::io::stdin().is_terminal() {
                settle(session).await;
            }
            return;
        }
        let rendered = render(&response, &style);
        for line in &rendered.lines {
            println!("{line}");
        }
        println!(
            "{}",
            style.dim(&format!(
                "  ({} · {} ms)",
                response.bot_state,
                elapsed.as_millis()
            ))
        );
        let mut current = lock(session);
        current.choices = rendered.choices;
        current.ended = response.bot_state != BotState::MoreData;
    }
}

/// Piped input: waits for the pushed replies of the latest message before reading the next
/// line (a reply, then a second of silence; at most 15 s), so the transcript reads in order.
async fn settle(session: &Shared) {
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (ended, last) = {
            let current = lock(session);
            (current.ended, current.last_push)
        };
        let quiet = last.is_some_and(|at| at.elapsed() >= Duration::from_secs(1));
        if ended || quiet || started.elapsed() >= Duration::from_secs(15) {
            return;
        }
    }
}

/// Follows the stand-in's `GET /standin/outgoing` (long polling) and shows the replies pushed
/// for the current bot session as they arrive.
async fn follow_pushes(http: reqwest::Client, base: String, session: Shared, style: Style) {
    let mut after = 0u64;
    loop {
        let url = format!("{base}/standin/outgoing?after={after}&wait_ms=20000");
        let page: Value = match http.get(&url).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(e) => {
                println!(
                    "{}",
                    style.error(&format!("  ! cannot follow pushed replies at {base}: {e}"))
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        for item in page["messages"].as_array().into_iter().flatten() {
            after = after.max(item["seq"].as_u64().unwrap_or(after));
            let Ok(response) = serde_json::from_value::<TurnResponse>(item["message"].clone())
            else {
                continue;
            };
            let mut current = lock(&session);
            if item["message"]["botSessionId"].as_str() != Some(current.bot_session_id.as_str()) {
                continue;
            }
            let rendered = render(&response, &style);
            if rendered.lines.is_empty() && response.bot_state == BotState::MoreData {
                continue;
            }
            for line in &rendered.lines {
                println!("{line}");
            }
            current.pushed_since += 1;
            current.last_push = Some(Instant::now());
            println!(
                "{}",
                style.dim(&format!(
                    "  (pushed · {} · +{} ms)",
                    response.bot_state,
                    current.sent_at.elapsed().as_millis()
                ))
            );
            if !rendered.choices.is_empty() {
                current.choices = rendered.choices;
            }
            if response.bot_state != BotState::MoreData {
                current.ended = true;
            }
        }
    }
}

/// What the screen shows for one answer, and the buttons that can be picked by number.
struct Rendered {
    lines: Vec<String>,
    choices: Vec<Choice>,
}

fn render(response: &TurnResponse, style: &Style) -> Rendered {
    let mut lines = Vec::new();
    let mut choices = Vec::new();
    for message in &response.reply_messages {
        let text = message.text.as_deref().unwrap_or_default();
        let structured = message.kind == ReplyKind::Structured && !message.content.is_empty();
        // A structured message's text is its fallback for channels without buttons. Genesys
        // shows the prompt above quick replies, so print the text without the numbered option
        // list gcbridge appends; cards and carousels are drawn from their content instead.
        let prompt = if structured {
            match &message.content[0] {
                ReplyContent::QuickReply(_) => prompt_without_options(text, &message.content),
                _ => String::new(),
            }
        } else {
            text.to_owned()
        };
        for (i, line) in prompt.lines().enumerate() {
            let lead = if i == 0 { "bot › " } else { "      " };
            lines.push(format!("{}{}", style.bot(lead), line));
        }
        for content in &message.content {
            render_content(content, style, &mut lines, &mut choices);
        }
    }
    if response.reply_messages.is_empty() && response.bot_state == BotState::MoreData {
        lines.push(style.dim("  (no reply yet — it will arrive with your next message)"));
    }
    match response.bot_state {
        BotState::MoreData => {}
        BotState::Complete => {
            lines.push(style.alert(&format!(
                "── Complete · intent {} ──",
                response.intent.as_deref().unwrap_or("(none)")
            )));
            for entity in &response.entities {
                let value = match (&entity.value, &entity.values) {
                    (Some(v), _) => format!("{v:?}"),
                    (None, Some(vs)) => format!("{vs:?}"),
                    (None, None) => "(empty)".to_owned(),
                };
                lines.push(format!(
                    "   slot {} ({}) = {}",
                    style.bold(&entity.name),
                    entity.kind,
                    value
                ));
            }
            if !response.parameters.is_empty() {
                let names: Vec<&str> = response.parameters.keys().map(String::as_str).collect();
                lines.push(style.dim(&format!("   output parameters: {}", names.join(", "))));
            }
        }
        BotState::Failed => {
            let (code, message) = response
                .error_info
                .as_ref()
                .map(|e| (e.error_code.as_str(), e.error_message.as_str()))
                .unwrap_or(("(no errorInfo)", ""));
            lines.push(style.error(&format!("── Failed · {code}: {message}")));
        }
    }
    Rendered { lines, choices }
}

/// The quick-reply prompt without the trailing "1. Label" lines that repeat the buttons.
fn prompt_without_options(text: &str, content: &[ReplyContent]) -> String {
    let labels: Vec<&str> = content
        .iter()
        .filter_map(|c| match c {
            ReplyContent::QuickReply(q) => Some(q.text.as_str()),
            _ => None,
        })
        .collect();
    let mut lines: Vec<&str> = text.lines().collect();
    let is_option = |line: &str| {
        line.split_once(". ")
            .is_some_and(|(n, label)| n.parse::<usize>().is_ok() && labels.contains(&label))
    };
    while lines.last().is_some_and(|l| is_option(l)) {
        lines.pop();
    }
    lines.join("\n").trim_end().to_owned()
}

fn render_content(
    content: &ReplyContent,
    style: &Style,
    lines: &mut Vec<String>,
    choices: &mut Vec<Choice>,
) {
    match content {
        ReplyContent::QuickReply(q) => {
            choices.push(Choice {
                label: q.text.clone(),
                payload: q.payload.clone(),
                kind: "QuickReply",
            });
            lines.push(format!("      [{}] {}", choices.len(), q.text));
        }
        ReplyContent::Card(card) => render_card(card, style, lines, choices),
        ReplyContent::Carousel(carousel) => {
            for card in &carousel.cards {
                render_card(card, style, lines, choices);
            }
        }
        ReplyContent::Attachment(a) => {
            lines.push(format!(
                "      📎 {} ({}) {}",
                a.filename, a.media_type, a.url
            ));
        }
    }
}

fn render_card(
    card: &gcbridge_genesys::Card,
    style: &Style,
    lines: &mut Vec<String>,
    choices: &mut Vec<Choice>,
) {
    lines.push(format!("      ┌ {}", style.bold(&card.title)));
    if let Some(d) = &card.description {
        for l in d.lines() {
            lines.push(format!("      │ {l}"));
        }
    }
    if let Some(image) = &card.image {
        lines.push(format!("      │ image: {image}"));
    }
    for action in &card.actions {
        let label = action.text.clone().unwrap_or_default();
        match action.kind {
            CardActionKind::Link => {
                lines.push(format!(
                    "      │ ↗ {label}: {}",
                    action.url.as_deref().unwrap_or("")
                ));
            }
            CardActionKind::Postback => {
                choices.push(Choice {
                    label: label.clone(),
                    payload: action.payload.clone().unwrap_or_default(),
                    kind: "Button",
                });
                lines.push(format!("      │ [{}] {label}", choices.len()));
            }
        }
    }
    lines.push("      └".to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> TurnResponse {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("response")
    }

    #[test]
    fn renders_escalation_with_every_slot() {
        let r = render(
            &fixture("genesys-response-escalate.json"),
            &Style { color: false },
        );
        let text = r.lines.join("\n");
        assert!(text.contains("bot › I'm transferring you"), "{text}");
        assert!(text.contains("── Complete · intent Escalate ──"), "{text}");
        assert!(text.contains("slot va_AgentMessage (String) = \"Customer wants to change the delivery address of order 12345.\""), "{text}");
        assert!(
            text.contains("slot va_OrderNumber (String) = \"12345\""),
            "{text}"
        );
        assert!(text.contains("slot va_LastTopic"), "{text}");
    }

    #[test]
    fn quick_replies_and_cards_become_numbered_choices() {
        let r = render(
            &fixture("genesys-response-first-turn.json"),
            &Style { color: false },
        );
        let text = r.lines.join("\n");
        assert!(text.contains("┌ Contoso Travel Backpack"), "{text}");
        assert!(text.contains("[1] Buy now"), "{text}");
        assert!(text.contains("[2] Home delivery"), "{text}");
        assert_eq!(r.choices.len(), 3);
        assert_eq!(r.choices[1].payload, "gcb:qr:1:home-delivery");
        assert_eq!(r.choices[1].kind, "QuickReply");
    }

    #[test]
    fn quick_reply_prompt_keeps_every_line_but_the_option_list() {
        let r = render(
            &fixture("genesys-response-quick-replies.json"),
            &Style { color: false },
        );
        assert_eq!(r.lines[0], "bot › How would you like to receive it?");
        assert_eq!(r.lines[1], "      [1] Home delivery");
        let multi = prompt_without_options(
            "Our stores are open:\n\n- Mon: 9-19\n1. Track my order",
            &[ReplyContent::QuickReply(gcbridge_genesys::QuickReply {
                text: "Track my order".into(),
                payload: "p".into(),
                image: None,
            })],
        );
        assert_eq!(multi, "Our stores are open:\n\n- Mon: 9-19");
    }

    #[test]
    fn failed_shows_code_and_sentence() {
        let r = render(
            &fixture("genesys-response-failed.json"),
            &Style { color: false },
        );
        assert_eq!(
            r.lines.last().map(String::as_str),
            Some("── Failed · AgentUnavailable: The virtual agent could not be reached.")
        );
    }

    #[test]
    fn params_parse() {
        assert_eq!(parse_param("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(parse_param("novalue").is_err());
    }
}
