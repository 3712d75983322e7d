//! The Genesys Cloud interaction-widget integration (`embedded-client-app-interaction-widget`)
//! that shows the agent gcbridge's `/widget` page or a Copilot Studio web chat: find it by name,
//! create it when missing, bring its configuration to the desired one, and enable it.
//!
//! Calls (Integrations API; permissions `integrations:integration:view`, `:add` and `:edit`):
//! - `GET /api/v2/integrations?pageSize=100&pageNumber=N` — every integration, filtered here by
//!   `integrationType.id` and exact `name` (paged until `pageCount`, at most [`MAX_PAGES`]);
//! - `POST /api/v2/integrations` `{"name", "integrationType": {"id"}}` — create;
//! - `GET /api/v2/integrations/{id}/config/current` — the configuration and its `version`;
//! - `PUT /api/v2/integrations/{id}/config/current` `{"name", "version", "properties",
//!   "advanced", "notes", "credentials"}` — replace the configuration (the `version` read
//!   before, so a concurrent edit fails with `409` instead of being overwritten);
//! - `PATCH /api/v2/integrations/{id}` `{"intendedState": "ENABLED"}` — enable.
//!
//! These shapes follow the Platform API SDK models and published installers that create this
//! integration type; they are not in gcbridge's protocol spec (see the README).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{PlatformClient, PlatformError};

/// The integration type of an interaction widget.
pub const INTEGRATION_TYPE: &str = "embedded-client-app-interaction-widget";

/// Integration list pages read at most (100 integrations each).
pub const MAX_PAGES: u32 = 20;

/// The configuration the widget should have.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredWidget {
    /// Integration name (also the configuration name), the key it is found by.
    pub name: String,
    pub notes: String,
    /// `url`, `sandbox`, `permissions`, `groups`, `queueIdFilterList`,
    /// `communicationTypeFilter`.
    pub properties: Map<String, Value>,
}

/// What a push did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The integration's id (`None`: a dry run that would create it).
    pub id: Option<String>,
    pub created: bool,
    /// Properties whose value changes (`name = old -> new`), sorted; empty when up to date.
    pub changes: Vec<String>,
    /// Whether the configuration was (or would be) written.
    pub configured: bool,
    /// Whether the integration was (or would be) enabled.
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    entities: Vec<Integration>,
    #[serde(default)]
    page_count: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Integration {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    integration_type: Option<TypeRef>,
    #[serde(default)]
    intended_state: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct TypeRef {
    id: String,
}

#[derive(Debug, Default, Deserialize)]
struct CurrentConfig {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<i64>,
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    advanced: Map<String, Value>,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    credentials: Map<String, Value>,
}

/// The interaction widgets named `name`.
async fn find(client: &PlatformClient, name: &str) -> Result<Vec<Integration>, PlatformError> {
    let mut found = Vec::new();
    for page_number in 1..=MAX_PAGES {
        let page: Page = client
            .get_json(&format!(
                "/api/v2/integrations?pageSize=100&pageNumber={page_number}"
            ))
            .await?;
        let last =
            page.entities.is_empty() || page.page_count.is_none_or(|count| page_number >= count);
        found.extend(page.entities.into_iter().filter(|i| {
            i.name == name
                && i.integration_type
                    .as_ref()
                    .is_some_and(|t| t.id == INTEGRATION_TYPE)
        }));
        if last {
            break;
        }
    }
    Ok(found)
}

/// Why a push stopped before writing anything.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(
        "{0} interaction widgets are named {1:?}: rename or delete the extra ones in Admin > Integrations, or push under another --name"
    )]
    Ambiguous(usize, String),
    #[error("Genesys created the integration but its answer has no id")]
    NoId,
}

/// Compares the desired properties with the current ones.
fn changes(current: &Map<String, Value>, desired: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| {
            let old = current
                .get(k)
                .map_or("(unset)".to_owned(), Value::to_string);
            format!("{k} = {old} -> {v}")
        })
        .collect();
    out.sort();
    out
}

/// Finds, creates, configures and enables the widget; `dry_run` only reads.
pub async fn push(
    client: &PlatformClient,
    desired: &DesiredWidget,
    dry_run: bool,
) -> Result<PushReport, PushError> {
    let mut existing = find(client, &desired.name).await?;
    if existing.len() > 1 {
        return Err(PushError::Ambiguous(existing.len(), desired.name.clone()));
    }
    let (integration, created) = match existing.pop() {
        Some(i) => (Some(i), false),
        None if dry_run => (None, true),
        None => {
            let response = client
                .post_json(
                    "/api/v2/integrations",
                    &json!({"name": desired.name, "integrationType": {"id": INTEGRATION_TYPE}}),
                )
                .await?;
            let created: Integration =
                serde_json::from_slice(&response.body).map_err(|_| PushError::NoId)?;
            if created.id.is_empty() {
                return Err(PushError::NoId);
            }
            (Some(created), true)
        }
    };
    let Some(integration) = integration else {
        // Dry run of a creation: everything would be set.
        return Ok(PushReport {
            id: None,
            created: true,
            changes: changes(&Map::new(), &desired.properties),
            configured: true,
            enabled: true,
        });
    };
    let id = &integration.id;
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(PushError::NoId);
    }
    let config_path = format!("/api/v2/integrations/{id}/config/current");
    let current: CurrentConfig = client.get_json(&config_path).await?;
    let diff = changes(&current.properties, &desired.properties);
    let renamed = current.name.as_deref() != Some(desired.name.as_str())
        || current.notes.as_deref() != Some(desired.notes.as_str());
    let configure = !diff.is_empty() || renamed;
    let enable = created || integration.intended_state.as_deref() != Some("ENABLED");
    if !dry_run && configure {
        // Properties gcbridge does not manage (set in the admin UI) are kept.
        let mut properties = current.properties.clone();
        properties.extend(desired.properties.clone());
        client
            .put_json(
                &config_path,
                &json!({
                    "name": desired.name,
                    "version": current.version.unwrap_or(1),
                    "properties": properties,
                    "advanced": current.advanced,
                    "notes": desired.notes,
                    "credentials": current.credentials,
                }),
            )
            .await?;
    }
    if !dry_run && enable {
        client
            .patch_json(
                &format!("/api/v2/integrations/{id}"),
                &json!({"intendedState": "ENABLED"}),
            )
            .await?;
    }
    Ok(PushReport {
        id: Some(id.clone()),
        created,
        changes: diff,
        configured: configure,
        enabled: enable,
    })
}

/// A sentence for a failed push, with what to do about it.
pub fn explain(error: &PushError) -> String {
    let PushError::Platform(e) = error else {
        return error.to_string();
    };
    let advice = match e.status() {
        Some(403) => {
            " — the OAuth client's role needs integrations:integration:view, integrations:integration:add and integrations:integration:edit (Admin > Roles / Permissions)"
        }
        Some(409) => " — someone changed the widget meanwhile; run the push again",
        Some(400 | 422) => " — Genesys refused a property; its message says which",
        _ => "",
    };
    format!("pushing the interaction widget failed: {e}{advice}")
}
