//! `platform::interaction_widget::push` against a local stand-in of Genesys' login host and
//! Integrations API (axum on 127.0.0.1) that keeps integrations and their configurations like
//! Genesys does and records every request, so the tests check the exact calls: paging through
//! the integration list, creating, the configuration `PUT` with the version read before, enabling,
//! nothing written when up to date or in a dry run, and refusals.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gcbridge_app::platform::interaction_widget::{
    DesiredWidget, INTEGRATION_TYPE, PushError, explain, push,
};
use gcbridge_app::platform::{ClientCredentials, ClientOptions, Endpoints, PlatformClient};
use gcbridge_app::secret::Secret;
use serde_json::{Map, Value, json};

const NAME: &str = "Copilot Studio conversation";
/// `base64("widget-client:widget-secret")`, computed independently of the code under test.
const BASIC: &str = "Basic d2lkZ2V0LWNsaWVudDp3aWRnZXQtc2VjcmV0";

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    authorization: String,
    body: Value,
}

#[derive(Debug, Default)]
struct Org {
    /// (id, name, type, intendedState, config)
    integrations: Vec<(String, String, String, String, Value)>,
    requests: Vec<Recorded>,
    /// Answer every write with this status instead.
    refuse_writes: Option<u16>,
}

type Shared = Arc<Mutex<Org>>;

fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(org): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let uri = request.uri().clone();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes: Bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .expect("body");
    let body: Value = if bytes.is_empty() || uri.path() == "/oauth/token" {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON request body")
    };
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let mut org = org.lock().expect("lock");
    org.requests.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        authorization: authorization.clone(),
        body: body.clone(),
    });
    if uri.path() == "/oauth/token" {
        if authorization != BASIC || &bytes[..] != b"grant_type=client_credentials" {
            return json_response(401, json!({"error": "invalid_client"}));
        }
        return json_response(
            200,
            json!({"access_token": "api-token", "token_type": "bearer", "expires_in": 86400}),
        );
    }
    if authorization != "Bearer api-token" {
        return json_response(401, json!({"message": "no token"}));
    }
    if method != "GET"
        && let Some(status) = org.refuse_writes
    {
        return json_response(
            status,
            json!({"message": "Missing permission", "code": "missing.any.permissions"}),
        );
    }
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["api", "v2", "integrations"]) => {
            let query = uri.query().unwrap_or_default();
            let number: usize = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("pageNumber="))
                .and_then(|n| n.parse().ok())
                .expect("pageNumber");
            assert!(query.contains("pageSize=100"), "{query}");
            let all = &org.integrations;
            let page_count = all.len().div_ceil(100).max(1);
            let entities: Vec<Value> = all
                .iter()
                .skip((number - 1) * 100)
                .take(100)
                .map(|(id, name, kind, state, _)| {
                    json!({"id": id, "name": name, "integrationType": {"id": kind}, "intendedState": state})
                })
                .collect();
            json_response(
                200,
                json!({"entities": entities, "pageSize": 100, "pageNumber": number, "total": all.len(), "pageCount": page_count}),
            )
        }
        ("POST", ["api", "v2", "integrations"]) => {
            let id = format!("00000000-0000-4000-8000-{:012}", org.integrations.len());
            let name = body["name"].as_str().expect("name").to_owned();
            let kind = body["integrationType"]["id"]
                .as_str()
                .expect("type")
                .to_owned();
            let config = json!({"name": name, "version": 1, "properties": {}, "advanced": {}, "notes": "", "credentials": {}});
            org.integrations.push((
                id.clone(),
                name.clone(),
                kind.clone(),
                "DISABLED".into(),
                config,
            ));
            json_response(
                200,
                json!({"id": id, "name": name, "integrationType": {"id": kind}, "intendedState": "DISABLED"}),
            )
        }
        ("GET", ["api", "v2", "integrations", id, "config", "current"]) => {
            match org.integrations.iter().find(|i| i.0 == *id) {
                Some(i) => json_response(200, i.4.clone()),
                None => json_response(404, json!({"message": "not found"})),
            }
        }
        ("PUT", ["api", "v2", "integrations", id, "config", "current"]) => {
            let Some(i) = org.integrations.iter_mut().find(|i| i.0 == *id) else {
                return json_response(404, json!({"message": "not found"}));
            };
            if body["version"] != i.4["version"] {
                return json_response(409, json!({"message": "version mismatch"}));
            }
            let mut config = body.clone();
            config["version"] = json!(i.4["version"].as_i64().expect("version") + 1);
            i.4 = config.clone();
            json_response(200, config)
        }
        ("PATCH", ["api", "v2", "integrations", id]) => {
            let Some(i) = org.integrations.iter_mut().find(|i| i.0 == *id) else {
                return json_response(404, json!({"message": "not found"}));
            };
            i.3 = body["intendedState"].as_str().expect("state").to_owned();
            json_response(200, json!({"id": i.0, "name": i.1, "intendedState": i.3}))
        }
        _ => json_response(404, json!({"message": format!("no route {method} {path}")})),
    }
}

struct StandIn {
    org: Shared,
    client: PlatformClient,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    /// An org with `others` unrelated integrations (so the list has several pages) and an
    /// integration of another type that has the widget's name.
    async fn start(others: usize) -> Self {
        let mut org = Org::default();
        for n in 0..others {
            org.integrations.push((
                format!("other-{n}"),
                format!("Other {n}"),
                "purecloud-data-actions".into(),
                "ENABLED".into(),
                json!({}),
            ));
        }
        org.integrations.push((
            "bot-connector".into(),
            NAME.into(),
            "genesys-bot-connector".into(),
            "ENABLED".into(),
            json!({}),
        ));
        let org = Arc::new(Mutex::new(org));
        let router = axum::Router::new().fallback(handle).with_state(org.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("stand-in");
        });
        let client = PlatformClient::new(
            Endpoints::custom(&url, &url),
            ClientCredentials::new(Secret::new("widget-client"), Secret::new("widget-secret")),
            ClientOptions::default(),
        )
        .expect("client");
        Self { org, client, task }
    }

    /// Requests since the last call, as `METHOD path`, with their bodies.
    fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.org.lock().expect("lock").requests)
    }

    fn widget(&self) -> (String, Value) {
        let org = self.org.lock().expect("lock");
        let w = org
            .integrations
            .iter()
            .find(|i| i.2 == INTEGRATION_TYPE)
            .expect("widget exists");
        (w.3.clone(), w.4.clone())
    }
}

fn lines(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn desired(url: &str) -> DesiredWidget {
    let properties: Map<String, Value> = json!({
        "url": url,
        "sandbox": "allow-scripts,allow-same-origin,allow-forms,allow-popups",
        "permissions": "",
        "groups": [],
        "queueIdFilterList": ["q-1"],
        "communicationTypeFilter": "chat,message",
    })
    .as_object()
    .expect("object")
    .clone();
    DesiredWidget {
        name: NAME.into(),
        notes: "The customer's conversation with the Copilot Studio agent, served by gcbridge."
            .into(),
        properties,
    }
}

const URL_1: &str = "https://gcbridge.example.com/widget?conversationId={{gcConversationId}}&lang={{gcLangTag}}&key=k1";
const URL_2: &str = "https://gcbridge.example.com/widget?conversationId={{gcConversationId}}&lang={{gcLangTag}}&key=k2";

#[tokio::test]
async fn creates_configures_and_enables_then_changes_only_what_differs() {
    let s = StandIn::start(150).await;
    let report = push(&s.client, &desired(URL_1), false).await.expect("push");
    assert!(
        report.created && report.configured && report.enabled,
        "{report:?}"
    );
    let id = report.id.clone().expect("id");
    let requests = s.take();
    assert_eq!(
        lines(&requests),
        [
            "POST /oauth/token".to_owned(),
            "GET /api/v2/integrations?pageSize=100&pageNumber=1".to_owned(),
            "GET /api/v2/integrations?pageSize=100&pageNumber=2".to_owned(),
            "POST /api/v2/integrations".to_owned(),
            format!("GET /api/v2/integrations/{id}/config/current"),
            format!("PUT /api/v2/integrations/{id}/config/current"),
            format!("PATCH /api/v2/integrations/{id}"),
        ]
    );
    assert!(
        requests[1..]
            .iter()
            .all(|r| r.authorization == "Bearer api-token")
    );
    assert_eq!(
        requests[3].body,
        json!({"name": NAME, "integrationType": {"id": "embedded-client-app-interaction-widget"}})
    );
    assert_eq!(
        requests[5].body,
        json!({
            "name": NAME,
            "version": 1,
            "properties": {
                "url": URL_1,
                "sandbox": "allow-scripts,allow-same-origin,allow-forms,allow-popups",
                "permissions": "",
                "groups": [],
                "queueIdFilterList": ["q-1"],
                "communicationTypeFilter": "chat,message",
            },
            "advanced": {},
            "notes": "The customer's conversation with the Copilot Studio agent, served by gcbridge.",
            "credentials": {},
        })
    );
    assert_eq!(requests[6].body, json!({"intendedState": "ENABLED"}));
    let (state, config) = s.widget();
    assert_eq!(state, "ENABLED");
    assert_eq!(config["version"], 2);

    // Up to date: only reads.
    let report = push(&s.client, &desired(URL_1), false)
        .await
        .expect("again");
    assert!(
        !report.created && !report.configured && !report.enabled,
        "{report:?}"
    );
    assert!(report.changes.is_empty());
    assert!(s.take().iter().all(|r| r.method == "GET"));

    // A property set by hand in the admin UI survives; a changed key is written with the
    // version just read.
    s.org
        .lock()
        .expect("lock")
        .integrations
        .iter_mut()
        .find(|i| i.2 == INTEGRATION_TYPE)
        .expect("widget")
        .4["properties"]["iconUrl"] = json!("https://gcbridge.example.com/icon.svg");
    let report = push(&s.client, &desired(URL_2), false)
        .await
        .expect("change");
    assert_eq!(report.changes.len(), 1, "{report:?}");
    assert!(
        report.changes[0].starts_with("url = "),
        "{:?}",
        report.changes
    );
    let requests = s.take();
    let put = requests.iter().find(|r| r.method == "PUT").expect("PUT");
    assert_eq!(put.body["version"], 2);
    assert_eq!(put.body["properties"]["url"], URL_2);
    assert_eq!(
        put.body["properties"]["iconUrl"],
        "https://gcbridge.example.com/icon.svg"
    );
    assert!(
        requests
            .iter()
            .all(|r| r.method != "PATCH" && r.method != "POST")
    );
    assert_eq!(s.widget().1["version"], 3);
}

#[tokio::test]
async fn a_dry_run_only_reads() {
    let s = StandIn::start(3).await;
    let report = push(&s.client, &desired(URL_1), true)
        .await
        .expect("dry run");
    assert!(report.created && report.id.is_none());
    assert_eq!(report.changes.len(), 6, "{report:?}");
    assert!(
        s.take()
            .iter()
            .all(|r| r.method == "GET" || r.path == "/oauth/token")
    );
    push(&s.client, &desired(URL_1), false).await.expect("push");
    s.take();
    let report = push(&s.client, &desired(URL_2), true)
        .await
        .expect("dry run");
    assert!(report.configured && !report.created);
    assert!(s.take().iter().all(|r| r.method == "GET"));
    assert_eq!(s.widget().1["properties"]["url"], URL_1, "nothing written");
}

#[tokio::test]
async fn two_widgets_with_the_name_or_a_missing_permission_write_nothing() {
    let s = StandIn::start(0).await;
    for n in 0..2 {
        s.org.lock().expect("lock").integrations.push((
            format!("w-{n}"),
            NAME.into(),
            INTEGRATION_TYPE.into(),
            "ENABLED".into(),
            json!({"version": 1, "properties": {}}),
        ));
    }
    let e = push(&s.client, &desired(URL_1), false)
        .await
        .expect_err("ambiguous");
    assert!(matches!(e, PushError::Ambiguous(2, _)), "{e}");
    assert!(
        s.take()
            .iter()
            .all(|r| r.method == "GET" || r.path == "/oauth/token")
    );

    let s = StandIn::start(0).await;
    s.org.lock().expect("lock").refuse_writes = Some(403);
    let e = push(&s.client, &desired(URL_1), false)
        .await
        .expect_err("forbidden");
    let text = explain(&e);
    assert!(
        text.contains("HTTP 403") && text.contains("integrations:integration:add"),
        "{text}"
    );
}
