//! Text templates: `{Name}` placeholders filled from the conversation's variables.
//!
//! Syntax: `{Name}` is replaced by the value of `Name`; `{Name|fallback}` uses `fallback` when
//! `Name` is unknown or empty; `{{` and `}}` are a literal brace. A name is made of ASCII letters,
//! digits, `_` and `.`. Templates are parsed when the script is loaded, so a typo such as an
//! unclosed brace is a script error with a location, not a surprise in the middle of a demo.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// A parsed template string from the script.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable {
        name: String,
        fallback: Option<String>,
    },
}

impl Template {
    /// Parses a template, explaining what is wrong when it is not valid.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(format!(
                        "unmatched `}}` at byte {at} in template {source:?} (write `}}}}` for a literal brace)"
                    ));
                }
                '{' => {
                    let mut inner = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        inner.push(c);
                    }
                    if !closed {
                        return Err(format!(
                            "unclosed `{{` at byte {at} in template {source:?} (write `{{{{` for a literal brace)"
                        ));
                    }
                    let (name, fallback) = match inner.split_once('|') {
                        Some((name, fallback)) => (name.trim(), Some(fallback.to_owned())),
                        None => (inner.trim(), None),
                    };
                    if !is_variable_name(name) {
                        return Err(format!(
                            "invalid variable name {name:?} in template {source:?} (letters, digits, `_` and `.` only)"
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Variable {
                        name: name.to_owned(),
                        fallback,
                    });
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as written in the script.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Names of the variables the template reads, in order of appearance.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable { name, .. } => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Fills the placeholders. `lookup` returns a variable's text, or `None` when it is unknown;
    /// an unknown or empty variable without an inline fallback becomes the empty string.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Variable { name, fallback } => match lookup(name).filter(|v| !v.is_empty()) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(fallback.as_deref().unwrap_or_default()),
                },
            }
        }
        out
    }
}

impl TryFrom<String> for Template {
    type Error = String;

    fn try_from(source: String) -> Result<Self, Self::Error> {
        Self::parse(&source)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// True for names usable in `{Name}`.
pub(crate) fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Checks every string inside a JSON value (event values, handoff variables) as a template.
pub(crate) fn check_value(value: &Value) -> Result<(), String> {
    match value {
        Value::String(s) => Template::parse(s).map(|_| ()),
        Value::Array(items) => items.iter().try_for_each(check_value),
        Value::Object(map) => map.values().try_for_each(check_value),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Renders every string inside a JSON value as a template. Strings that are not valid templates
/// (only possible for scripts built in code, bypassing the parser) are kept verbatim.
pub(crate) fn render_value(value: &Value, lookup: &dyn Fn(&str) -> Option<String>) -> Value {
    match value {
        Value::String(s) => Value::String(match Template::parse(s) {
            Ok(t) => t.render(lookup),
            Err(_) => s.clone(),
        }),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| render_value(v, lookup)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_value(v, lookup)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The text a JSON variable value contributes to a template.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "CustomerName" => Some("Ada".to_owned()),
            "Empty" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn fills_variables_and_fallbacks() {
        let cases = [
            ("Hello {CustomerName}!", "Hello Ada!"),
            ("Hello {Missing}!", "Hello !"),
            ("Hello {Missing|there}!", "Hello there!"),
            ("Hello {Empty|there}!", "Hello there!"),
            ("{{literal}} {CustomerName}", "{literal} Ada"),
            ("no placeholders", "no placeholders"),
            ("", ""),
        ];
        for (source, want) in cases {
            let t = Template::parse(source).expect(source);
            assert_eq!(t.render(&lookup), want, "{source}");
        }
    }

    #[test]
    fn rejects_broken_templates_with_a_reason() {
        for (source, needle) in [
            ("Hello {CustomerName", "unclosed"),
            ("Hello }", "unmatched"),
            ("Hello {}", "invalid variable name"),
            ("Hello {Customer Name}", "invalid variable name"),
        ] {
            let err = Template::parse(source).expect_err(source);
            assert!(err.contains(needle), "{source}: {err}");
        }
    }

    #[test]
    fn renders_nested_values() {
        let v = serde_json::json!({"a": "{CustomerName}", "b": [1, "x{Missing|y}"]});
        assert_eq!(
            render_value(&v, &lookup),
            serde_json::json!({"a": "Ada", "b": [1, "xy"]})
        );
        assert!(check_value(&serde_json::json!({"a": ["{oops"]})).is_err());
    }
}
