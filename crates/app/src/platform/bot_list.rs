//! The v1 bot list in Genesys Cloud (`genesys-bot-connector.md` §6.1): read it, replace it,
//! read it back until it shows what was pushed, and describe the difference between two lists.
//!
//! `PUT /api/v2/integrations/botconnector/{integrationId}/bots` replaces the integration's whole
//! list (permission `integration:botconnector:edit`, answer `204`); `GET` of the same path reads
//! it (`integration:botconnector:view`). Genesys may take minutes to propagate a change, so a
//! read right after a push can still show the old list.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use gcbridge_genesys::{BotList, BotListBot, BotListIntent, BotListVersion, SlotDecl};
use serde::{Deserialize, Deserializer};

use super::{PlatformClient, PlatformError};

/// The id of a Genesys Bot Connector integration (a UUID in practice). Checked to hold only
/// characters that are safe in a URL path, so it cannot change which API is called.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntegrationId(String);

/// An integration id with characters that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "integration id {0:?} is not valid: copy it from Genesys Cloud (Admin > Integrations > your Bot Connector integration; it is the last part of the page's address)"
)]
pub struct InvalidIntegrationId(pub String);

impl IntegrationId {
    /// Accepts 1 to 128 ASCII letters, digits, `-` and `_`, after trimming.
    pub fn parse(input: &str) -> Result<Self, InvalidIntegrationId> {
        let id = input.trim();
        let valid = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(id.to_owned()))
        } else {
            Err(InvalidIntegrationId(input.to_owned()))
        }
    }

    /// The id as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for IntegrationId {
    type Err = InvalidIntegrationId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for IntegrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `/api/v2/integrations/botconnector/{integrationId}/bots`.
pub fn bots_path(integration: &IntegrationId) -> String {
    format!("/api/v2/integrations/botconnector/{integration}/bots")
}

/// Reads the integration's list. Lenient: fields Genesys generates (`botCompositeTag`,
/// `selfUri`) are ignored, missing or `null` arrays are empty, and an integration that never
/// had a list (empty body or `{}`) has an empty one.
pub async fn get(
    client: &PlatformClient,
    integration: &IntegrationId,
) -> Result<BotList, PlatformError> {
    let path = bots_path(integration);
    let response = client.send(reqwest::Method::GET, &path, None).await?;
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(BotList {
            chat_bots: Vec::new(),
        });
    }
    let remote: RemoteList =
        serde_json::from_slice(&response.body).map_err(|e| PlatformError::Body {
            what: format!("GET {path}"),
            detail: e.to_string(),
        })?;
    Ok(remote.into_bot_list())
}

/// A dry run: reads the integration's list and compares it with `desired`. Writes nothing.
pub async fn compare(
    client: &PlatformClient,
    integration: &IntegrationId,
    desired: &BotList,
) -> Result<BotListDiff, PlatformError> {
    let current = get(client, integration).await?;
    Ok(diff(&current, desired))
}

/// Replaces the integration's whole list with `list` (Genesys answers `204`).
pub async fn put(
    client: &PlatformClient,
    integration: &IntegrationId,
    list: &BotList,
) -> Result<(), PlatformError> {
    client.put_json(&bots_path(integration), list).await?;
    Ok(())
}

/// How often and how patiently a pushed list is read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    /// Reads in total (at least one).
    pub attempts: u32,
    /// Wait before the second read; doubled before each further read.
    pub first_delay: Duration,
    /// Longest wait between two reads.
    pub max_delay: Duration,
}

impl Default for ReadBack {
    /// Four reads over about 14 s: right away, then after 2, 4 and 8 s.
    fn default() -> Self {
        Self {
            attempts: 4,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// What reading back a pushed list showed.
#[derive(Debug)]
pub enum Verification {
    /// Genesys returns the pushed list.
    Matches {
        /// Reads it took.
        reads: u32,
    },
    /// After every read Genesys still returned something else (often just slow propagation).
    Differs {
        /// Reads made.
        reads: u32,
        /// Genesys' latest list compared with the pushed one.
        diff: BotListDiff,
    },
    /// The list could not be read (e.g. the role lacks `integration:botconnector:view`).
    Unreadable {
        /// Reads attempted.
        reads: u32,
        /// The last failure.
        error: PlatformError,
    },
}

/// Reads the list back until it matches `expected`, at most `policy.attempts` times. A failure
/// that cannot pass by itself (`403`, `404`...) stops at once; a retryable one is read again.
pub async fn verify(
    client: &PlatformClient,
    integration: &IntegrationId,
    expected: &BotList,
    policy: &ReadBack,
) -> Verification {
    let attempts = policy.attempts.max(1);
    let mut delay = policy.first_delay;
    let mut reads = 0;
    loop {
        reads += 1;
        let last = reads >= attempts;
        match get(client, integration).await {
            Ok(current) => {
                let diff = diff(&current, expected);
                if diff.is_empty() {
                    return Verification::Matches { reads };
                }
                if last {
                    return Verification::Differs { reads, diff };
                }
            }
            Err(error) => {
                if last || !error.is_retryable() {
                    return Verification::Unreadable { reads, error };
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(policy.max_delay);
    }
}

/// Which bot-list call failed, for [`explain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `GET` (needs `integration:botconnector:view`).
    Read,
    /// `PUT` (needs `integration:botconnector:edit`).
    Replace,
}

/// A failed bot-list call as a sentence that says what to do about it.
pub fn explain(error: &PlatformError, operation: Operation, integration: &IntegrationId) -> String {
    let (doing, permission) = match operation {
        Operation::Read => ("reading", "integration:botconnector:view"),
        Operation::Replace => ("replacing", "integration:botconnector:edit"),
    };
    let status = match error {
        PlatformError::Status(status) => status,
        PlatformError::Credentials { .. } => return error.to_string(),
        PlatformError::Transport { .. } => {
            return format!("could not reach Genesys Cloud while {doing} the bot list: {error}");
        }
        PlatformError::Body { .. } => {
            return format!(
                "Genesys answered {doing} the bot list with something unexpected: {error}"
            );
        }
    };
    let advice = match status.status {
        401 => "Genesys refused the access token even after renewing it: check that the OAuth client is active and belongs to this region's org".to_owned(),
        403 => format!(
            "the OAuth client's role lacks a permission: {doing} the bot list needs {permission} (bots push needs integration:botconnector:edit and integration:botconnector:view); grant them under Admin > Roles / Permissions"
        ),
        404 => format!(
            "integration {integration} was not found in this org: check --integration-id (Admin > Integrations > your Bot Connector integration, last part of the page's address) and --region"
        ),
        400 | 422 => "Genesys refused the bot list; its message above says which field".to_owned(),
        429 => match status.retry_after {
            Some(wait) => format!("Genesys is rate limiting this OAuth client; try again in {} s", wait.as_secs()),
            None => "Genesys is rate limiting this OAuth client; try again in a minute".to_owned(),
        },
        500.. => format!(
            "Genesys had a server error; {} try again in a few minutes",
            match operation {
                Operation::Read => "",
                Operation::Replace => "the list may or may not have changed (read it with --dry-run);",
            }
        ),
        _ => "unexpected answer from Genesys".to_owned(),
    };
    format!("{doing} the bot list failed ({status}): {advice}")
}

// ---------------------------------------------------------------------------------------------
// Lenient reading of what Genesys returns
// ---------------------------------------------------------------------------------------------

/// Deserialises `null` as the type's default.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RemoteList {
    #[serde(deserialize_with = "nullable")]
    chat_bots: Vec<RemoteBot>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoteBot {
    #[serde(deserialize_with = "nullable")]
    id: String,
    #[serde(deserialize_with = "nullable")]
    name: String,
    description: Option<String>,
    #[serde(deserialize_with = "nullable")]
    versions: Vec<RemoteVersion>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RemoteVersion {
    #[serde(deserialize_with = "nullable")]
    version: String,
    #[serde(deserialize_with = "nullable")]
    supported_languages: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    intents: Vec<RemoteIntent>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoteIntent {
    #[serde(deserialize_with = "nullable")]
    name: String,
    slots: Option<BTreeMap<String, RemoteSlot>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RemoteSlot {
    name: Option<String>,
    #[serde(rename = "type", deserialize_with = "nullable")]
    kind: String,
}

impl RemoteList {
    fn into_bot_list(self) -> BotList {
        BotList {
            chat_bots: self
                .chat_bots
                .into_iter()
                .map(|bot| BotListBot {
                    id: bot.id,
                    name: bot.name,
                    description: bot.description.filter(|d| !d.is_empty()),
                    versions: bot
                        .versions
                        .into_iter()
                        .map(|v| BotListVersion {
                            version: v.version,
                            supported_languages: v.supported_languages,
                            intents: v
                                .intents
                                .into_iter()
                                .map(|i| BotListIntent {
                                    name: i.name,
                                    slots: i.slots.filter(|s| !s.is_empty()).map(|slots| {
                                        slots
                                            .into_iter()
                                            .map(|(key, slot)| {
                                                let decl = SlotDecl {
                                                    name: slot.name.unwrap_or_else(|| key.clone()),
                                                    kind: slot.kind,
                                                };
                                                (key, decl)
                                            })
                                            .collect()
                                    }),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Differences
// ---------------------------------------------------------------------------------------------

/// How a line of a [`BotListDiff`] differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Only in the new list.
    Added,
    /// Only in the current list.
    Removed,
    /// In both, with another value.
    Changed,
    /// Unchanged; shown to say where the lines below it belong.
    Context,
}

/// One line of a [`BotListDiff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffLine {
    /// How it differs.
    pub mark: Mark,
    /// Nesting: 0 bot, 1 version, 2 intent, 3 slot.
    pub depth: usize,
    /// What it is, e.g. `intent "Escalate"`.
    pub text: String,
}

/// The difference between the list Genesys has and the one gcbridge would push, as an indented
/// tree: `+` added, `-` removed, `~` changed, blank for the bots, versions and intents that
/// only hold changes. Bots are matched by id, versions by version, intents and slots by name;
/// language order and the ids of slot map keys do not count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotListDiff {
    /// The lines in display order.
    pub lines: Vec<DiffLine>,
}

impl BotListDiff {
    /// True when the two lists are the same for Genesys.
    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.mark == Mark::Context)
    }

    /// How many lines carry `mark`.
    pub fn count(&self, mark: Mark) -> usize {
        self.lines.iter().filter(|l| l.mark == mark).count()
    }

    fn push(&mut self, mark: Mark, depth: usize, text: String) {
        self.lines.push(DiffLine { mark, depth, text });
    }
}

impl fmt::Display for BotListDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            let mark = match line.mark {
                Mark::Added => '+',
                Mark::Removed => '-',
                Mark::Changed => '~',
                Mark::Context => ' ',
            };
            writeln!(f, "{mark} {}{}", "  ".repeat(line.depth), line.text)?;
        }
        Ok(())
    }
}

/// What changes when `current` (Genesys' list) is replaced by `desired`.
pub fn diff(current: &BotList, desired: &BotList) -> BotListDiff {
    let mut out = BotListDiff::default();
    for bot in &desired.chat_bots {
        match current.chat_bots.iter().find(|b| b.id == bot.id) {
            None => whole_bot(&mut out, Mark::Added, bot),
            Some(old) => {
                let mut inner = BotListDiff::default();
                bot_changes(&mut inner, old, bot);
                if !inner.is_empty() {
                    out.push(Mark::Context, 0, format!("bot {:?}", bot.id));
                    out.lines.extend(inner.lines);
                }
            }
        }
    }
    for old in &current.chat_bots {
        if !desired.chat_bots.iter().any(|b| b.id == old.id) {
            whole_bot(&mut out, Mark::Removed, old);
        }
    }
    out
}

fn whole_bot(out: &mut BotListDiff, mark: Mark, bot: &BotListBot) {
    out.push(mark, 0, format!("bot {:?} ({:?})", bot.id, bot.name));
    for version in &bot.versions {
        whole_version(out, mark, version);
    }
}

fn whole_version(out: &mut BotListDiff, mark: Mark, version: &BotListVersion) {
    out.push(
        mark,
        1,
        format!(
            "version {:?}, languages {}",
            version.version,
            version.supported_languages.join(", ")
        ),
    );
    for intent in &version.intents {
        whole_intent(out, mark, intent);
    }
}

fn whole_intent(out: &mut BotListDiff, mark: Mark, intent: &BotListIntent) {
    out.push(mark, 2, format!("intent {:?}", intent.name));
    for slot in slots(intent) {
        out.push(mark, 3, slot_text(slot));
    }
}

fn slot_text(slot: &SlotDecl) -> String {
    format!("slot {:?}: {}", slot.name, slot.kind)
}

fn slots(intent: &BotListIntent) -> impl Iterator<Item = &SlotDecl> {
    intent.slots.iter().flat_map(|map| map.values())
}

fn bot_changes(out: &mut BotListDiff, old: &BotListBot, new: &BotListBot) {
    if old.name != new.name {
        out.push(
            Mark::Changed,
            1,
            format!("name {:?} → {:?}", old.name, new.name),
        );
    }
    if old.description != new.description {
        out.push(
            Mark::Changed,
            1,
            format!(
                "description {:?} → {:?}",
                old.description.as_deref().unwrap_or_default(),
                new.description.as_deref().unwrap_or_default()
            ),
        );
    }
    for version in &new.versions {
        match old.versions.iter().find(|v| v.version == version.version) {
            None => whole_version(out, Mark::Added, version),
            Some(old_version) => {
                let mut inner = BotListDiff::default();
                version_changes(&mut inner, old_version, version);
                if !inner.is_empty() {
                    out.push(Mark::Context, 1, format!("version {:?}", version.version));
                    out.lines.extend(inner.lines);
                }
            }
        }
    }
    for version in &old.versions {
        if !new.versions.iter().any(|v| v.version == version.version) {
            whole_version(out, Mark::Removed, version);
        }
    }
}

fn version_changes(out: &mut BotListDiff, old: &BotListVersion, new: &BotListVersion) {
    let languages = |v: &BotListVersion| {
        let mut l: Vec<String> = v
            .supported_languages
            .iter()
            .map(|s| s.to_ascii_lowercase())
            .collect();
        l.sort();
        l
    };
    if languages(old) != languages(new) {
        out.push(
            Mark::Changed,
            2,
            format!(
                "languages {} → {}",
                old.supported_languages.join(", "),
                new.supported_languages.join(", ")
            ),
        );
    }
    for intent in &new.intents {
        match old.intents.iter().find(|i| i.name == intent.name) {
            None => whole_intent(out, Mark::Added, intent),
            Some(old_intent) => {
                let mut inner = BotListDiff::default();
                intent_changes(&mut inner, old_intent, intent);
                if !inner.is_empty() {
                    out.push(Mark::Context, 2, format!("intent {:?}", intent.name));
                    out.lines.extend(inner.lines);
                }
            }
        }
    }
    for intent in &old.intents {
        if !new.intents.iter().any(|i| i.name == intent.name) {
            whole_intent(out, Mark::Removed, intent);
        }
    }
}

fn intent_changes(out: &mut BotListDiff, old: &BotListIntent, new: &BotListIntent) {
    for slot in slots(new) {
        match slots(old).find(|s| s.name == slot.name) {
            None => out.push(Mark::Added, 3, slot_text(slot)),
            Some(old_slot) if old_slot.kind != slot.kind => out.push(
                Mark::Changed,
                3,
                format!("slot {:?}: {} → {}", slot.name, old_slot.kind, slot.kind),
            ),
            Some(_) => {}
        }
    }
    for slot in slots(old) {
        if !slots(new).any(|s| s.name == slot.name) {
            out.push(Mark::Removed, 3, slot_text(slot));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(value: serde_json::Value) -> BotList {
        serde_json::from_value(value).expect("bot list")
    }

    fn contoso() -> BotList {
        list(json!({"chatBots": [{
            "id": "contoso-support", "name": "Contoso Support",
            "description": "Copilot Studio agent served by gcbridge",
            "versions": [{"version": "1", "supportedLanguages": ["en-us", "fr-fr"], "intents": [
                {"name": "Escalate", "slots": {
                    "va_AgentMessage": {"name": "va_AgentMessage", "type": "String"},
                    "va_OrderNumber": {"name": "va_OrderNumber", "type": "String"}}},
                {"name": "EndConversation"}]}]}]}))
    }

    #[test]
    fn integration_ids_are_path_safe() {
        let id = IntegrationId::parse(" 5f7a7c2e-1b2c-4d3e-8f90-0123456789ab ").expect("uuid");
        assert_eq!(
            bots_path(&id),
            "/api/v2/integrations/botconnector/5f7a7c2e-1b2c-4d3e-8f90-0123456789ab/bots"
        );
        for bad in ["", "a/b", "../x", "a b", "id?x=1", "é"] {
            let e = IntegrationId::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("Admin > Integrations"), "{e}");
        }
    }

    #[test]
    fn same_lists_have_no_difference() {
        let mut reordered = contoso();
        reordered.chat_bots[0].versions[0]
            .supported_languages
            .reverse();
        let d = diff(&contoso(), &reordered);
        assert!(d.is_empty(), "{d}");
        assert_eq!(d.to_string(), "");
    }

    #[test]
    fn a_new_integration_gets_everything_added() {
        let d = diff(&BotList { chat_bots: vec![] }, &contoso());
        assert_eq!(
            d.to_string(),
            concat!(
                "+ bot \"contoso-support\" (\"Contoso Support\")\n",
                "+   version \"1\", languages en-us, fr-fr\n",
                "+     intent \"Escalate\"\n",
                "+       slot \"va_AgentMessage\": String\n",
                "+       slot \"va_OrderNumber\": String\n",
                "+     intent \"EndConversation\"\n",
            )
        );
        assert_eq!(d.count(Mark::Added), 6);
    }

    #[test]
    fn every_kind_of_change_is_shown_where_it_belongs() {
        let current = list(json!({"chatBots": [
            {"id": "contoso-support", "name": "Contoso", "versions": [
                {"version": "1", "supportedLanguages": ["en-us"], "intents": [
                    {"name": "Escalate", "slots": {
                        "va_AgentMessage": {"name": "va_AgentMessage", "type": "String"},
                        "va_OrderNumber": {"name": "va_OrderNumber", "type": "Integer"},
                        "va_Old": {"name": "va_Old", "type": "String"}}},
                    {"name": "EndConversation"},
                    {"name": "Legacy"}]},
                {"version": "0", "supportedLanguages": ["en-us"], "intents": [{"name": "Escalate"}]}]},
            {"id": "old-bot", "name": "Old", "versions": [
                {"version": "1", "supportedLanguages": ["en-us"], "intents": [{"name": "Escalate"}]}]}
        ]}));
        let d = diff(&current, &contoso());
        assert_eq!(
            d.to_string(),
            concat!(
                "  bot \"contoso-support\"\n",
                "~   name \"Contoso\" → \"Contoso Support\"\n",
                "~   description \"\" → \"Copilot Studio agent served by gcbridge\"\n",
                "    version \"1\"\n",
                "~     languages en-us → en-us, fr-fr\n",
                "      intent \"Escalate\"\n",
                "~       slot \"va_OrderNumber\": Integer → String\n",
                "-       slot \"va_Old\": String\n",
                "-     intent \"Legacy\"\n",
                "-   version \"0\", languages en-us\n",
                "-     intent \"Escalate\"\n",
                "- bot \"old-bot\" (\"Old\")\n",
                "-   version \"1\", languages en-us\n",
                "-     intent \"Escalate\"\n",
            )
        );
        assert_eq!(
            (
                d.count(Mark::Added),
                d.count(Mark::Removed),
                d.count(Mark::Changed)
            ),
            (0, 7, 4)
        );
    }

    #[test]
    fn what_genesys_returns_is_read_leniently() {
        let remote: RemoteList = serde_json::from_value(json!({"chatBots": [{
            "id": "contoso-support", "name": "Contoso Support", "description": null,
            "botCompositeTag": "x", "selfUri": "/api/v2/...",
            "versions": [{"version": "1", "supportedLanguages": null, "intents": [
                {"name": "Escalate", "slots": {"va_X": {"type": "String"}}},
                {"name": "EndConversation", "slots": {}}]},
                {"version": "2"}]}]}))
        .expect("lenient");
        let list = remote.into_bot_list();
        let bot = &list.chat_bots[0];
        assert_eq!(bot.description, None);
        assert_eq!(bot.versions[0].supported_languages, Vec::<String>::new());
        let slots = bot.versions[0].intents[0].slots.as_ref().expect("slots");
        assert_eq!(slots["va_X"].name, "va_X");
        assert_eq!(bot.versions[0].intents[1].slots, None);
        assert!(bot.versions[1].intents.is_empty());
        let empty: RemoteList = serde_json::from_str("{}").expect("empty");
        assert!(empty.into_bot_list().chat_bots.is_empty());
    }
}
