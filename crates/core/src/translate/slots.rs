//! Slots of the escalate intent, built from a handoff event's `value` (`mapping.md` §5.1).
//!
//! Three steps, each a small function:
//! 1. [`candidates`] reads `value` into slot-named candidates: custom variable `X` → `va_X`,
//!    `va_*` keys under their own names, `va_LastPhrases` → `va_LastPhrase`, `MSCallerId` never;
//!    an explicit `va_X` wins over `X`.
//! 2. [`handoff_slots`] chooses which candidates become slots, per the bot's `slot_filter`, in
//!    the order `va_AgentMessage`, declared handoff variables, declared system slots, then (for
//!    `auto` without declarations, and `all`) the rest in the order of `value`.
//! 3. [`format_slot_value`] writes each value in the format of its declared Genesys type;
//!    a value that does not fit a non-`String` type is dropped and reported, never sent.

use std::collections::{BTreeMap, HashMap};

use gcbridge_genesys::EntityValue;
use serde_json::{Map, Value};

use crate::profile::{BotProfile, SlotFilter};

/// The slot carrying the transfer node's private message to the human agent.
pub const AGENT_MESSAGE: &str = "va_AgentMessage";

/// The slot of the end intent carrying the `endOfConversation` code (`mapping.md` §5.2).
pub const END_CODE: &str = "va_EndCode";

/// Copilot Studio's system keys of a handoff `value` (`direct-line.md` §9.8). Any other key,
/// `va_`-prefixed or not, is one of the agent author's variables.
pub const SYSTEM_KEYS: [&str; 10] = [
    "va_Scope",
    "va_LastTopic",
    "va_Topics",
    "va_LastPhrase",
    "va_Phrases",
    "va_ConversationId",
    "va_AgentMessage",
    "va_BotId",
    "va_BotName",
    "va_Language",
];

/// The documentation's spelling of `va_LastPhrase`, read when the real key is absent.
const LAST_PHRASES: &str = "va_LastPhrases";
const LAST_PHRASE: &str = "va_LastPhrase";

/// A key of `value` that is never a slot (meaning undocumented).
const CALLER_ID: &str = "MSCallerId";

/// Genesys caps `String` slot values at 32 000 characters; longer values are cut rather than
/// failing the whole turn.
const MAX_STRING_CHARS: usize = 32_000;

/// A slot declared for the escalate intent: its name and Genesys type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredSlot {
    /// Slot name (`va_…`).
    pub name: String,
    /// Genesys slot type (`String`, `Integer`, `StringCollection`, …).
    pub kind: String,
}

/// The declared type of a system slot (`mapping.md` §2.3): the two list-valued keys are
/// `StringCollection`, everything else `String`.
pub fn system_slot_type(name: &str) -> &'static str {
    match name {
        "va_Topics" | "va_Phrases" => "StringCollection",
        _ => "String",
    }
}

/// The slots of the escalate intent, in emission order: `va_AgentMessage`, then one `va_{name}`
/// per handoff variable, then the system slots, each name once (the first declaration wins).
/// The bot list declares exactly these.
pub fn escalate_slots(profile: &BotProfile) -> Vec<DeclaredSlot> {
    let mut slots = vec![DeclaredSlot {
        name: AGENT_MESSAGE.to_owned(),
        kind: "String".to_owned(),
    }];
    let variables = profile.handoff_variables.iter().map(|v| DeclaredSlot {
        name: format!("va_{}", v.name),
        kind: v.kind.clone(),
    });
    let system = profile.system_slots.iter().map(|name| DeclaredSlot {
        name: name.clone(),
        kind: system_slot_type(name).to_owned(),
    });
    for slot in variables.chain(system) {
        if !slots.iter().any(|s| s.name == slot.name) {
            slots.push(slot);
        }
    }
    slots
}

/// One slot-named value read from a handoff `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'v> {
    /// Slot name (`va_…`).
    pub name: String,
    /// The value it will be formatted from.
    pub value: &'v Value,
    /// True for the author's variables, false for Copilot Studio's system keys
    /// ([`SYSTEM_KEYS`]); decided by the slot name, so `LastTopic` and `va_LastTopic` are both
    /// the system slot.
    pub custom: bool,
}

/// How strongly a key claims its slot name: an explicit `va_X` beats the docs alias, which beats
/// a bare `X`.
fn priority_of(key: &str) -> u8 {
    if key == LAST_PHRASES {
        1
    } else if key.starts_with("va_") {
        2
    } else {
        0
    }
}

/// Reads `value` into candidates, in the order their names first appear. See the module docs
/// for the naming rules.
pub fn candidates(value: &Map<String, Value>) -> Vec<Candidate<'_>> {
    let mut out: Vec<Candidate<'_>> = Vec::new();
    let mut priority: Vec<u8> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (key, v) in value {
        let Some(name) = slot_name(key) else {
            continue;
        };
        let p = priority_of(key);
        match index.get(&name) {
            Some(&at) => {
                if p > priority[at] {
                    out[at].value = v;
                    priority[at] = p;
                }
            }
            None => {
                index.insert(name.clone(), out.len());
                out.push(Candidate {
                    custom: !SYSTEM_KEYS.contains(&name.as_str()),
                    name,
                    value: v,
                });
                priority.push(p);
            }
        }
    }
    out
}

/// The slot name of a `value` key, or `None` for keys that are never slots.
fn slot_name(key: &str) -> Option<String> {
    if key == CALLER_ID || key.trim().is_empty() || key == "va_" {
        return None;
    }
    if key == LAST_PHRASES {
        return Some(LAST_PHRASE.to_owned());
    }
    if key.starts_with("va_") {
        Some(key.to_owned())
    } else {
        Some(format!("va_{key}"))
    }
}

/// Why a slot present in `value` was not sent. Names (never values) may be logged or counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not declared, and the slot filter only sends declared slots.
    NotDeclared,
    /// The value cannot be written in the declared type.
    Unconvertible,
}

/// A slot left out of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedSlot {
    /// Slot name (`va_…`); never the value.
    pub name: String,
    /// Why it was not sent.
    pub reason: DropReason,
}

/// The slots of one answer: `entities` and the `parameters` mirroring them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slots {
    /// `entities` of the answer, in emission order.
    pub entities: Vec<EntityValue>,
    /// `parameters` of the answer: each entity's value as one string (lists as JSON text).
    pub parameters: BTreeMap<String, String>,
    /// Values present but not sent.
    pub dropped: Vec<DroppedSlot>,
}

impl Slots {
    /// Formats `value` for a slot of type `kind` and adds it, or records why it was dropped.
    /// Absent, `null` and blank values add nothing and are not reported: an empty slot is the
    /// same as an unset one for a flow.
    pub fn push(&mut self, name: &str, kind: &str, value: &Value) {
        match format_slot_value(value, kind) {
            Formatted::Empty => {}
            Formatted::Invalid => self.dropped.push(DroppedSlot {
                name: name.to_owned(),
                reason: DropReason::Unconvertible,
            }),
            Formatted::One(text) => {
                self.parameters.insert(name.to_owned(), text.clone());
                self.entities.push(EntityValue {
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    value: Some(text),
                    values: None,
                });
            }
            Formatted::Many(items) => {
                self.parameters
                    .insert(name.to_owned(), Value::from(items.clone()).to_string());
                self.entities.push(EntityValue {
                    name: name.to_owned(),
                    kind: kind.to_owned(),
                    value: None,
                    values: Some(items),
                });
            }
        }
    }
}

/// Builds the escalate slots from a handoff event's `value`.
///
/// A string `value` (custom *Send event* nodes) is the agent message unless it is one of the
/// bot's `handoff_placeholders` (`"Handover"`); any other non-object `value` carries no slot.
pub fn handoff_slots(profile: &BotProfile, value: Option<&Value>) -> Slots {
    let empty = Map::new();
    let (object, message) = match value {
        Some(Value::Object(object)) => (object, None),
        Some(v @ Value::String(s)) if !is_placeholder(profile, s) => (&empty, Some(v)),
        _ => (&empty, None),
    };
    let found = candidates(object);
    let lookup = |name: &str| found.iter().find(|c| c.name == name).map(|c| c.value);

    let declared = escalate_slots(profile);
    let mut slots = Slots::default();
    for slot in &declared {
        let value = match slot.name.as_str() {
            AGENT_MESSAGE => message.or_else(|| lookup(AGENT_MESSAGE)),
            name => lookup(name),
        };
        if let Some(value) = value {
            slots.push(&slot.name, &slot.kind, value);
        }
    }

    let undeclared = match profile.slot_filter {
        SlotFilter::All => Undeclared::Every,
        SlotFilter::Auto if !profile.declares_slots() => Undeclared::CustomOnly,
        SlotFilter::Auto | SlotFilter::Declared => Undeclared::None,
    };
    for candidate in &found {
        if declared.iter().any(|d| d.name == candidate.name) {
            continue;
        }
        let keep = match undeclared {
            Undeclared::Every => true,
            Undeclared::CustomOnly => candidate.custom,
            Undeclared::None => false,
        };
        if keep {
            slots.push(
                &candidate.name,
                inferred_type(candidate.value),
                candidate.value,
            );
        } else {
            slots.dropped.push(DroppedSlot {
                name: candidate.name.clone(),
                reason: DropReason::NotDeclared,
            });
        }
    }
    slots
}

/// Which undeclared candidates a slot filter sends.
enum Undeclared {
    Every,
    CustomOnly,
    None,
}

fn is_placeholder(profile: &BotProfile, text: &str) -> bool {
    let text = text.trim();
    profile
        .handoff_placeholders
        .iter()
        .any(|p| p.trim() == text)
}

/// The type an undeclared slot is sent with: lists as `StringCollection`, anything else `String`.
fn inferred_type(value: &Value) -> &'static str {
    if value.is_array() {
        "StringCollection"
    } else {
        "String"
    }
}

/// A value written for a slot type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Formatted {
    /// Nothing to send (`null`, blank text, empty list).
    Empty,
    /// The value does not fit the declared type.
    Invalid,
    /// `value` of a simple type.
    One(String),
    /// `values` of a `…Collection` type.
    Many(Vec<String>),
}

/// Writes a JSON value in the string format of a Genesys slot type
/// (`genesys-bot-connector.md` §4.2).
///
/// `String` (and any type name gcbridge does not know) takes anything: text as is, numbers and
/// booleans as text, arrays and objects as compact JSON. Typed slots only take values that fit;
/// a `…Collection` type takes a list (or one value) and keeps the elements that fit.
pub fn format_slot_value(value: &Value, kind: &str) -> Formatted {
    if let Some(base) = kind.strip_suffix("Collection") {
        return format_collection(value, base);
    }
    match format_scalar(value, kind) {
        Some(text) if text.trim().is_empty() => Formatted::Empty,
        Some(text) => Formatted::One(text),
        None if is_blank(value) => Formatted::Empty,
        None => Formatted::Invalid,
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn format_collection(value: &Value, base: &str) -> Formatted {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let non_blank: Vec<&Value> = items.into_iter().filter(|v| !is_blank(v)).collect();
    if non_blank.is_empty() {
        return Formatted::Empty;
    }
    let formatted: Vec<String> = non_blank
        .iter()
        .filter_map(|item| format_scalar(item, base))
        .filter(|text| !text.trim().is_empty())
        .collect();
    if formatted.is_empty() {
        Formatted::Invalid
    } else {
        Formatted::Many(formatted)
    }
}

/// One value in the format of a simple type; `None` when it does not fit.
fn format_scalar(value: &Value, kind: &str) -> Option<String> {
    match kind {
        "Integer" => format_integer(value),
        "Decimal" => format_decimal(value),
        "Boolean" => format_boolean(value),
        "Datetime" => value
            .as_str()
            .map(str::trim)
            .filter(|s| is_datetime(s))
            .map(str::to_owned),
        "Duration" => value
            .as_str()
            .map(str::trim)
            .filter(|s| is_duration(s))
            .map(str::to_owned),
        "Currency" => format_currency(value),
        _ => format_string(value),
    }
}

/// Text as is (cut to the `String` limit), `null` as nothing, anything else as compact JSON.
fn format_string(value: &Value) -> Option<String> {
    let text = match value {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match text.char_indices().nth(MAX_STRING_CHARS) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    })
}

/// The largest magnitude Genesys accepts for `Integer`.
const MAX_INTEGER: i128 = 999_999_999_999_999;

fn format_integer(value: &Value) -> Option<String> {
    let n: i128 = match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i128::from(i)
            } else if let Some(u) = n.as_u64() {
                i128::from(u)
            } else {
                let f = n.as_f64()?;
                // Agents often hold whole numbers as floats (`42.0`).
                if f.fract() != 0.0 || f.abs() > MAX_INTEGER as f64 {
                    return None;
                }
                f as i128
            }
        }
        Value::String(s) => parse_integer(s.trim())?,
        _ => return None,
    };
    (n.abs() <= MAX_INTEGER).then(|| n.to_string())
}

/// `[+-]digits`, at most 18 digits so the value fits comfortably before the range check.
fn parse_integer(s: &str) -> Option<i128> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.trim_start_matches('+').parse().ok()
}

/// Genesys accepts up to 40 digits.
const MAX_DECIMAL_DIGITS: usize = 40;

fn format_decimal(value: &Value) -> Option<String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    is_plain_decimal(&text).then_some(text)
}

/// `[+-]digits[.digits]` with at most 40 digits (no exponent, which Genesys does not read).
fn is_plain_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && all_digits(whole)
        && all_digits(fraction)
        && !(unsigned.contains('.') && fraction.is_empty())
        && whole.len() + fraction.len() <= MAX_DECIMAL_DIGITS
}

fn format_boolean(value: &Value) -> Option<String> {
    match value {
        Value::Bool(b) => Some(b.to_string()),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some("true".to_owned()),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some("false".to_owned()),
        _ => None,
    }
}

/// A date-time starting `YYYY-MM-DD`, optionally followed by a time (`T…`); the time itself is
/// left for Genesys to judge.
fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| b[range].iter().all(u8::is_ascii_digit);
    b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b.len() == 10 || matches!(b[10], b'T' | b't' | b' '))
}

/// An ISO-8601 duration without years or months: `[-]P[nD][T[nH][nM][n[.n]S]]`, `nW` also
/// accepted, at least one component.
fn is_duration(s: &str) -> bool {
    let Some(body) = s.strip_prefix('-').unwrap_or(s).strip_prefix('P') else {
        return false;
    };
    let (date, time) = match body.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (body, None),
    };
    let date_ok = components(date, &['W', 'D'], false);
    let time_ok = time.is_none_or(|t| !t.is_empty() && components(t, &['H', 'M', 'S'], true));
    let has_component = !date.is_empty() || time.is_some_and(|t| !t.is_empty());
    date_ok && time_ok && has_component
}

/// `n<unit>` components with units in this order, each at most once; only the last unit may
/// have a fraction when `fraction_last` (seconds).
fn components(s: &str, units: &[char], fraction_last: bool) -> bool {
    let mut rest = s;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let Some(end) = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')) else {
            return false;
        };
        let (number, tail) = rest.split_at(end);
        let Some(unit) = tail.chars().next() else {
            return false;
        };
        let Some(position) = units[next_unit..].iter().position(|&u| u == unit) else {
            return false;
        };
        let position = position + next_unit;
        let is_last = position == units.len() - 1;
        let fraction_ok = !number.contains('.') || (fraction_last && is_last);
        let number_ok = !number.is_empty()
            && !number.starts_with('.')
            && !number.ends_with('.')
            && number.matches('.').count() <= 1;
        if !(number_ok && fraction_ok) {
            return false;
        }
        next_unit = position + 1;
        rest = &tail[unit.len_utf8()..];
    }
    true
}

/// `{"amount": number, "code": "USD"}` (from an object or its JSON text) as compact JSON text.
fn format_currency(value: &Value) -> Option<String> {
    let parsed;
    let object = match value {
        Value::Object(o) => o,
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            parsed.as_object()?
        }
        _ => return None,
    };
    let amount = match object.get("amount")? {
        Value::Number(n) => Value::Number(n.clone()),
        Value::String(s) if is_plain_decimal(s.trim()) => {
            Value::Number(s.trim().parse::<serde_json::Number>().ok()?)
        }
        _ => return None,
    };
    let code = object.get("code")?.as_str()?.trim();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let mut out = Map::new();
    out.insert("amount".to_owned(), amount);
    out.insert("code".to_owned(), Value::String(code.to_ascii_uppercase()));
    Some(Value::Object(out).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn type_formatting_table() {
        use Formatted::*;
        let one = |s: &str| One(s.to_owned());
        let many = |v: &[&str]| Many(v.iter().map(|s| (*s).to_owned()).collect());
        for (value, kind, want) in [
            (json!("text"), "String", one("text")),
            (json!(" padded "), "String", one(" padded ")),
            (json!(42), "String", one("42")),
            (json!(4.5), "String", one("4.5")),
            (json!(true), "String", one("true")),
            (json!(["a", 1]), "String", one(r#"["a",1]"#)),
            (
                json!({"k": [1, {"x": null}]}),
                "String",
                one(r#"{"k":[1,{"x":null}]}"#),
            ),
            (json!(null), "String", Empty),
            (json!(""), "String", Empty),
            (json!("  "), "String", Empty),
            (json!("x"), "SomeFutureType", one("x")),
            (json!(42), "Integer", one("42")),
            (json!(-7), "Integer", one("-7")),
            (json!(42.0), "Integer", one("42")),
            (json!(" +42 "), "Integer", one("42")),
            (json!("-0042"), "Integer", one("-42")),
            (json!(42.5), "Integer", Invalid),
            (json!("42.5"), "Integer", Invalid),
            (json!("forty"), "Integer", Invalid),
            (json!(1_000_000_000_000_000u64), "Integer", Invalid),
            (json!(u64::MAX), "Integer", Invalid),
            (json!("9999999999999999999999"), "Integer", Invalid),
            (json!(true), "Integer", Invalid),
            (json!(null), "Integer", Empty),
            (json!(""), "Integer", Empty),
            (json!(42.5), "Decimal", one("42.5")),
            (json!(" -0.25 "), "Decimal", one("-0.25")),
            (json!("1e5"), "Decimal", Invalid),
            (json!(1e300), "Decimal", Invalid),
            (json!("12."), "Decimal", Invalid),
            (json!(true), "Boolean", one("true")),
            (json!("FALSE"), "Boolean", one("false")),
            (json!("yes"), "Boolean", Invalid),
            (json!(1), "Boolean", Invalid),
            (
                json!("2024-03-15T23:59:59.000Z"),
                "Datetime",
                one("2024-03-15T23:59:59.000Z"),
            ),
            (json!("2024-03-15"), "Datetime", one("2024-03-15")),
            (json!("March 15"), "Datetime", Invalid),
            (json!(1710547199), "Datetime", Invalid),
            (json!("PT1H30M"), "Duration", one("PT1H30M")),
            (json!("-P2DT0.5S"), "Duration", one("-P2DT0.5S")),
            (json!("P1W"), "Duration", one("P1W")),
            (json!("P"), "Duration", Invalid),
            (json!("PT"), "Duration", Invalid),
            (json!("P1M"), "Duration", Invalid),
            (json!("PT1M1H"), "Duration", Invalid),
            (json!("PT1.5H"), "Duration", Invalid),
            (json!("90 minutes"), "Duration", Invalid),
            (
                json!({"amount": 10.5, "code": "usd"}),
                "Currency",
                one(r#"{"amount":10.5,"code":"USD"}"#),
            ),
            (
                json!(r#"{"amount":"10.50","code":"EUR"}"#),
                "Currency",
                one(r#"{"amount":10.5,"code":"EUR"}"#),
            ),
            (json!({"amount": 10.5}), "Currency", Invalid),
            (json!("10 USD"), "Currency", Invalid),
            (
                json!(["flour", "sugar"]),
                "StringCollection",
                many(&["flour", "sugar"]),
            ),
            (
                json!(["a", 1, true, null, ""]),
                "StringCollection",
                many(&["a", "1", "true"]),
            ),
            (json!("single"), "StringCollection", many(&["single"])),
            (json!([]), "StringCollection", Empty),
            (json!([null]), "StringCollection", Empty),
            (json!([1, "x", 2]), "IntegerCollection", many(&["1", "2"])),
            (json!(["x"]), "IntegerCollection", Invalid),
        ] {
            assert_eq!(format_slot_value(&value, kind), want, "{value} as {kind}");
        }
    }

    #[test]
    fn long_strings_are_cut_to_the_limit() {
        let long = "é".repeat(MAX_STRING_CHARS + 10);
        let Formatted::One(text) = format_slot_value(&json!(long), "String") else {
            panic!("expected a value");
        };
        assert_eq!(text.chars().count(), MAX_STRING_CHARS);
    }

    #[test]
    fn candidate_naming() {
        let value = json!({
            "OrderNumber": "from custom",
            "va_OrderNumber": "explicit",
            "va_LastPhrases": "alias",
            "MSCallerId": "never",
            "": "empty key",
            "va_": "bare prefix",
            "va_LastTopic": "Topic",
            "va_MyFlag": true,
            "Tier": "gold"
        });
        let found = candidates(value.as_object().expect("object"));
        let summary: Vec<(&str, &Value, bool)> = found
            .iter()
            .map(|c| (c.name.as_str(), c.value, c.custom))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("va_OrderNumber", &json!("explicit"), true),
                ("va_LastPhrase", &json!("alias"), false),
                ("va_LastTopic", &json!("Topic"), false),
                ("va_MyFlag", &json!(true), true),
                ("va_Tier", &json!("gold"), true),
            ]
        );
        let real = json!({"va_LastPhrase": "real", "va_LastPhrases": "alias"});
        let found = candidates(real.as_object().expect("object"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value, &json!("real"));
    }
}
