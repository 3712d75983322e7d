//! Transcripts and the agent-side widget through the real router against the emulator: what is
//! stored after a few turns and a handoff, redaction, the key check, and nothing stored when
//! transcripts are off.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{FAST_TIMINGS, Options, TestApp};

const CONVERSATION: &str = "00000000-0000-4000-a000-00000000c001";
const KEY: &str = "widget-key-2";

fn config(enabled: bool) -> String {
    format!(
        "[bot]\nhandoff_variables = [{{ name = \"OrderNumber\" }}, {{ name = \"CustomerIntent\" }}]\n{FAST_TIMINGS}\n[transcripts]\nenabled = {enabled}\nredact = [\"card_numbers\", \"emails\", \"Ada\"]\n\n[widget]\nkeys = [\"widget-key-1\", \"{KEY}\"]\n"
    )
}

async fn app(enabled: bool) -> TestApp {
    TestApp::with(Options {
        config: config(enabled),
        ..Options::default()
    })
    .await
}

async fn get(app: &TestApp, path_and_query: &str) -> (u16, String) {
    let r = app
        .http
        .get(format!("{}{path_and_query}", app.url))
        .send()
        .await
        .expect("send");
    (r.status().as_u16(), r.text().await.expect("body"))
}

fn api(key: &str) -> String {
    format!("/widget/api/transcript?conversationId={CONVERSATION}&key={key}")
}

/// Polls the data endpoint (bounded) until the transcript holds `entries` entries: transcripts
/// are written in the background after the answer.
async fn transcript_with(app: &TestApp, entries: usize) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = get(app, &api(KEY)).await;
        assert_eq!(status, 200, "{body}");
        let json: Value = serde_json::from_str(&body).expect("json");
        let have = json["transcript"]["entries"].as_array().map_or(0, Vec::len);
        if have >= entries {
            return json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "transcript never reached {entries} entries: {json}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn turns_and_handoff_are_stored_redacted_and_served_with_a_key() {
    let app = app(true).await;
    app.say("w-1", "").await;
    let live = transcript_with(&app, 1).await;
    assert_eq!(live["live"], true);
    assert_eq!(live["transcript"]["state"], "withBot");

    app.say("w-1", "card 4111 1111 1111 1111, mail ada@example.com")
        .await;
    app.say("w-1", "choose").await;
    let handoff = app.say("w-1", "agent").await;
    assert_eq!(handoff["botState"], "Complete");

    // greeting; customer + echo; customer + quick replies; customer + transfer message.
    let json = transcript_with(&app, 7).await;
    assert_eq!(json["found"], true);
    assert_eq!(json["live"], false, "{json}");
    let t = &json["transcript"];
    assert_eq!(t["state"], "completed");
    assert_eq!(t["genesys_conversation_id"], CONVERSATION);
    assert_eq!(t["language"], "fr-fr");
    let entries = t["entries"].as_array().expect("entries");
    let froms: Vec<&str> = entries.iter().filter_map(|e| e["from"].as_str()).collect();
    assert_eq!(
        froms,
        [
            "bot", "customer", "bot", "customer", "bot", "customer", "bot"
        ]
    );
    assert_eq!(entries[0]["message"]["text"], "Hello [redacted]!");
    assert_eq!(entries[1]["text"], "card [card number], mail [email]");
    assert_eq!(
        entries[2]["message"]["text"],
        "echo: card [card number], mail [email]"
    );
    // The quick replies exactly as Genesys received them.
    let quick: Vec<&str> = entries[4]["message"]["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|c| c["quickReply"]["text"].as_str())
        .collect();
    assert_eq!(quick, ["Red", "Blue"]);
    assert_eq!(
        entries[6]["message"]["text"],
        "I'm transferring you to one of our agents now."
    );

    let h = &t["handoff"];
    assert_eq!(h["intent"], handoff["intent"]);
    assert_eq!(
        h["agent_message"],
        "Customer wants to change the delivery address of order 12345."
    );
    // The topic is the agent's `va_LastTopic` from its handoff context, even when it is not
    // passed on to Genesys as a slot.
    assert!(handoff["parameters"].get("va_LastTopic").is_none());
    assert_eq!(h["topic"], "Change address");
    // Every output variable Genesys got is there.
    let params = handoff["parameters"].as_object().expect("parameters");
    assert!(!params.is_empty());
    for (name, value) in params {
        let value = value.as_str().expect("string").replace("Ada", "[redacted]");
        assert_eq!(h["variables"][name], value, "{name}");
    }
    assert_eq!(h["variables"]["va_OrderNumber"], "12345");

    let stored = json.to_string();
    assert!(!stored.contains("4111"), "{stored}");
    assert!(!stored.contains("ada@"), "{stored}");

    // The page needs the key too; assets carry no data and are public.
    let (status, html) = get(
        &app,
        &format!("/widget?conversationId={CONVERSATION}&lang=fr-FR&key={KEY}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("/widget/assets/widget.js"));
    assert!(!html.contains("transferring"));
    let (status, js) = get(&app, "/widget/assets/widget.js").await;
    assert_eq!(status, 200);
    assert!(js.contains("/widget/api/transcript"));
    let (status, _) = get(&app, "/widget/assets/widget.css").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn without_a_valid_key_nothing_is_served() {
    let app = app(true).await;
    app.say("w-2", "hello").await;
    transcript_with(&app, 2).await;

    for path in [
        format!("/widget/api/transcript?conversationId={CONVERSATION}"),
        api(""),
        api("widget-key"),
        api("widget-key-22"),
        format!("/widget?conversationId={CONVERSATION}"),
        format!("/widget?conversationId={CONVERSATION}&key=nope"),
    ] {
        let (status, body) = get(&app, &path).await;
        assert_eq!(status, 401, "{path}");
        assert!(body.is_empty(), "{path}: {body}");
    }
    // Key mode: the page needs a conversation id.
    assert_eq!(get(&app, &format!("/widget?key={KEY}")).await.0, 400);
    // The old key of a rotation still works.
    assert_eq!(get(&app, &api("widget-key-1")).await.0, 200);
    // A malformed conversation id is refused even with a key.
    let (status, _) = get(
        &app,
        &format!("/widget/api/transcript?conversationId=a%2Fb&key={KEY}"),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn without_configured_keys_the_widget_is_closed() {
    let app = TestApp::with(Options {
        config: format!("{FAST_TIMINGS}\n[transcripts]\nenabled = true\n"),
        ..Options::default()
    })
    .await;
    app.say("w-3", "hello").await;
    assert_eq!(get(&app, &api("")).await.0, 401);
    assert_eq!(get(&app, &api("anything")).await.0, 401);
}

#[tokio::test]
async fn nothing_is_stored_when_transcripts_are_off() {
    let app = app(false).await;
    app.say("w-4", "").await;
    app.say("w-4", "agent").await;
    let key = gcbridge_app::transcript::transcript_key(CONVERSATION);
    assert!(app.state.store.load(&key).await.expect("load").is_none());
    let (status, body) = get(&app, &api(KEY)).await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["found"], false);
}

#[tokio::test]
async fn a_configured_ttl_shortens_the_transcript_life() {
    let app = TestApp::with(Options {
        config: format!(
            "{FAST_TIMINGS}\n[transcripts]\nenabled = true\nttl_secs = 5\n\n[widget]\nkeys = [\"{KEY}\"]\n"
        ),
        ..Options::default()
    })
    .await;
    app.say("w-5", "hello").await;
    transcript_with(&app, 2).await;
    let now = gcbridge_app::turn::unix_ms();
    let key = gcbridge_app::transcript::transcript_key(CONVERSATION);
    let stored = app
        .state
        .store
        .load(&key)
        .await
        .expect("load")
        .expect("stored");
    assert!(
        stored.expires_at_ms <= now + 5_000,
        "{}",
        stored.expires_at_ms
    );
    assert!(stored.expires_at_ms + 10_000 > now);
    // The session itself lives for its botSessionTimeout (60 minutes).
    let session = app
        .state
        .store
        .load(&gcbridge_app::turn::session_key("w-5"))
        .await
        .expect("load")
        .expect("session");
    assert!(session.expires_at_ms > now + 50 * 60_000);
}

// ---------------------------------------------------------------------------------------------
// Genesys token verification against a local stand-in of the region's Platform API
// ---------------------------------------------------------------------------------------------

const ORG: &str = "9a1b2c3d-0000-4000-8000-00000000a0a0";
const AGENT_TOKEN: &str = "agent-token-of-our-org";

/// A stand-in for `GET /api/v2/tokens/me` of the region's Platform API that counts its calls.
struct PlatformStandIn {
    url: String,
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PlatformStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn platform_stand_in() -> PlatformStandIn {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::atomic::Ordering;
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let router = axum::Router::new().route(
        gcbridge_app::widget::TOKENS_ME_PATH,
        axum::routing::get(move |headers: HeaderMap| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let org = |id: &str| {
                    serde_json::json!({
                        "organization": {"id": id, "name": "Org"},
                        "homeOrganization": {"id": id},
                        "OAuthClient": {"id": "implicit-client", "name": "widget"}
                    })
                    .to_string()
                };
                match auth.as_str() {
                    a if a == format!("Bearer {AGENT_TOKEN}") => (StatusCode::OK, org(ORG)),
                    "Bearer token-of-another-org" => {
                        (StatusCode::OK, org("11111111-2222-4333-8444-555555555555"))
                    }
                    "Bearer while-genesys-is-down" => {
                        (StatusCode::SERVICE_UNAVAILABLE, String::new())
                    }
                    _ => (
                        StatusCode::UNAUTHORIZED,
                        r#"{"message":"bad credentials","code":"bad.credentials","status":401}"#
                            .to_owned(),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("stand-in");
    });
    PlatformStandIn { url, calls, task }
}

async fn genesys_app(auth: &str, cache_secs: u64, platform: &PlatformStandIn) -> TestApp {
    TestApp::with(Options {
        config: format!(
            "{FAST_TIMINGS}\n[transcripts]\nenabled = true\n\n[widget]\nkeys = [\"{KEY}\"]\nauth = \"{auth}\"\n\n[widget.genesys]\norg_id = \"{ORG}\"\nclient_id = \"implicit-client\"\ncache_secs = {cache_secs}\napi_url = \"{0}\"\nlogin_url = \"{0}/\"\n",
            platform.url
        ),
        ..Options::default()
    })
    .await
}

async fn get_bearer(app: &TestApp, path_and_query: &str, token: &str) -> (u16, String) {
    let r = app
        .http
        .get(format!("{}{path_and_query}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("send");
    (r.status().as_u16(), r.text().await.expect("body"))
}

fn calls(platform: &PlatformStandIn) -> usize {
    platform.calls.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test]
async fn genesys_mode_serves_data_only_to_verified_agents_of_the_org() {
    let platform = platform_stand_in().await;
    let app = genesys_app("genesys", 60, &platform).await;
    app.say("g-1", "hello").await;
    let data = format!("/widget/api/transcript?conversationId={CONVERSATION}");

    // The page is a data-free shell telling the script where to sign the agent in.
    let (status, html) = get(&app, &format!("/widget?conversationId={CONVERSATION}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!(
            r#"<meta name="gcbridge-auth" content="genesys" data-login="{}" data-client-id="implicit-client">"#,
            platform.url
        )),
        "{html}"
    );
    assert!(!html.contains("hello"));
    // The sign-in returns to the bare page (the OAuth client's registered redirect URI).
    assert_eq!(get(&app, "/widget").await.0, 200);

    // No token, an unknown token, another org's token, a key instead of a token: 401, no data.
    let r = app
        .http
        .get(format!("{}{data}", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    assert!(r.text().await.expect("body").is_empty());
    for token in ["made-up", "token-of-another-org"] {
        let (status, body) = get_bearer(&app, &data, token).await;
        assert_eq!(status, 401, "{token}");
        assert!(body.is_empty(), "{token}: {body}");
    }
    assert_eq!(get(&app, &format!("{data}&key={KEY}")).await.0, 401);
    let asked = calls(&platform);
    assert_eq!(asked, 2, "each presented token was checked with Genesys");

    // Genesys down: no data, and not a 401 that would make the page sign in again.
    let (status, body) = get_bearer(&app, &data, "while-genesys-is-down").await;
    assert_eq!(status, 503);
    assert!(body.is_empty());

    // The agent's token: data; the second call is answered from the cache.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let json = loop {
        let (status, body) = get_bearer(&app, &data, AGENT_TOKEN).await;
        assert_eq!(status, 200, "{body}");
        let json: Value = serde_json::from_str(&body).expect("json");
        if json["transcript"]["entries"].as_array().map_or(0, Vec::len) >= 2 {
            break json;
        }
        assert!(tokio::time::Instant::now() < deadline, "{json}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(json["transcript"]["entries"][0]["text"], "hello");
    assert_eq!(
        calls(&platform),
        asked + 2,
        "one Genesys call for the outage, one for the agent's token, then the cache"
    );
    let (status, _) = get_bearer(&app, &data, AGENT_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(calls(&platform), asked + 2);
}

#[tokio::test]
async fn key_and_genesys_needs_both_and_a_zero_cache_asks_every_time() {
    let platform = platform_stand_in().await;
    let app = genesys_app("key_and_genesys", 0, &platform).await;
    app.say("g-2", "hello").await;
    let data = format!("/widget/api/transcript?conversationId={CONVERSATION}");

    assert_eq!(
        get(&app, &format!("/widget?conversationId={CONVERSATION}"))
            .await
            .0,
        401,
        "the page needs the key"
    );
    assert_eq!(get(&app, "/widget").await.0, 401);
    let (status, html) = get(
        &app,
        &format!("/widget?conversationId={CONVERSATION}&key={KEY}"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("gcbridge-auth"));
    assert_eq!(
        get_bearer(&app, &data, AGENT_TOKEN).await.0,
        401,
        "token without key"
    );
    assert_eq!(
        get(&app, &format!("{data}&key={KEY}")).await.0,
        401,
        "key without token"
    );
    let before = calls(&platform);
    for _ in 0..2 {
        let (status, body) = get_bearer(&app, &format!("{data}&key={KEY}"), AGENT_TOKEN).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        calls(&platform),
        before + 2,
        "cache_secs = 0 remembers nothing"
    );
}

#[test]
fn genesys_mode_without_its_settings_is_a_configuration_error() {
    let e = gcbridge_app::AppConfig::from_parts(
        Some("[widget]\nauth = \"genesys\"\n[widget.genesys]\nregion = \"eu-west-1\"\n"),
        &|_| None,
    )
    .expect_err("org and client missing");
    let text = e.to_string();
    assert!(
        text.contains("org_id") && text.contains("client_id"),
        "{text}"
    );
    let c = gcbridge_app::AppConfig::from_parts(Some("[widget]\nauth = \"genesys\"\n"), &|name| {
        match name {
            "GCBRIDGE_WIDGET_GENESYS_REGION" => Some("eu-west-1".to_owned()),
            "GCBRIDGE_WIDGET_GENESYS_ORG_ID" => Some(ORG.to_owned()),
            "GCBRIDGE_WIDGET_GENESYS_CLIENT_ID" => Some("c".to_owned()),
            _ => None,
        }
    })
    .expect("config from env");
    let g = c.widget_genesys.expect("verification");
    assert_eq!(g.api_base, "https://api.mypurecloud.ie");
    assert_eq!(g.login_base, "https://login.mypurecloud.ie");
    assert_eq!(g.cache, Duration::from_secs(60));
}
