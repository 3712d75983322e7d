//! Step 3 of the text pipeline: generative-answer citations (`mapping.md` §4.2).
//!
//! Copilot Studio ends a generative answer with markdown reference definitions
//! (`[1]: https://… "Title"`) and marks the cited sentences with `[1]`. Chat channels do not
//! render reference definitions, so they are turned into a readable "Sources:" list (or removed),
//! and reference-style links `[label][1]` become `label (url)`.

use crate::profile::CitationMode;

/// One reference definition from the end of a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// The label between the brackets, as written (`1`).
    pub label: String,
    /// The destination.
    pub url: String,
    /// The quoted title, when there is one.
    pub title: Option<String>,
}

/// Longest label searched for when looking for `[label]`: real citation labels are short, and a
/// bound keeps the scan linear on text full of brackets.
const MAX_LABEL_BYTES: usize = 200;

/// Applies step 3: when the text ends with reference definitions, removes them and either lists
/// them after the text (`list`) or drops the inline markers (`strip`). A text without trailing
/// definitions is returned unchanged, so `[1] Terms apply` stays as written.
pub fn apply_citations(text: &str, mode: CitationMode) -> String {
    let (body, definitions) = split_trailing_definitions(text);
    if definitions.is_empty() {
        return text.to_owned();
    }
    let body = replace_markers(body, &definitions, mode);
    let body = body.trim_end();
    match mode {
        CitationMode::Strip => body.to_owned(),
        CitationMode::List => {
            let sources = sources_list(&definitions);
            if body.is_empty() {
                sources
            } else {
                format!("{body}\n\n{sources}")
            }
        }
    }
}

/// The "Sources:" block: one `n. title – url` line per definition, in definition order.
pub fn sources_list(definitions: &[Definition]) -> String {
    let mut out = String::from("Sources:");
    for d in definitions {
        out.push('\n');
        out.push_str(&d.label);
        out.push_str(". ");
        match d.title.as_deref() {
            Some(title) if looks_like_web_address(&d.url) => {
                out.push_str(title);
                out.push_str(" – ");
                out.push_str(&d.url);
            }
            // Some agents cite with an internal scheme (`cite:1`) that means nothing to a
            // customer: the title alone is then the useful part.
            Some(title) => out.push_str(title),
            None => out.push_str(&d.url),
        }
    }
    out
}

fn looks_like_web_address(url: &str) -> bool {
    url.contains("://") || url.starts_with("mailto:") || url.starts_with("tel:")
}

/// Splits off the reference definitions at the end of `text` (blank lines between them allowed).
/// Returns the body before them and the definitions in order, first one of a label winning.
pub fn split_trailing_definitions(text: &str) -> (&str, Vec<Definition>) {
    let mut definitions = Vec::new();
    let mut body_end = text.len();
    let mut cursor = text.trim_end().len();
    loop {
        let line_start = text[..cursor].rfind('\n').map_or(0, |i| i + 1);
        let line = &text[line_start..cursor];
        if line.trim().is_empty() {
            if line_start == 0 {
                body_end = 0;
                break;
            }
            cursor = line_start - 1;
            continue;
        }
        match parse_definition(line) {
            Some(d) => {
                definitions.push(d);
                body_end = line_start;
                if line_start == 0 {
                    break;
                }
                cursor = line_start - 1;
            }
            None => break,
        }
    }
    if definitions.is_empty() {
        return (text, definitions);
    }
    definitions.reverse();
    let mut seen = Vec::<String>::new();
    definitions.retain(|d| {
        let key = normalise_label(&d.label);
        let fresh = !seen.contains(&key);
        seen.push(key);
        fresh
    });
    (&text[..body_end], definitions)
}

/// Parses `[label]: url "title"` (title also in `'…'` or `(…)`, url also in `<…>`), allowing up
/// to three spaces of indentation as CommonMark does.
pub fn parse_definition(line: &str) -> Option<Definition> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = line[indent..].strip_prefix('[')?;
    let close = rest.find(']')?;
    let label = &rest[..close];
    if label.trim().is_empty() || label.contains('[') {
        return None;
    }
    let rest = rest[close + 1..].strip_prefix(':')?.trim_start();
    let (url, rest) = if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        (&inner[..end], &inner[end + 1..])
    } else {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        (&rest[..end], &rest[end..])
    };
    if url.is_empty() {
        return None;
    }
    let rest = rest.trim();
    let title = if rest.is_empty() {
        None
    } else {
        Some(parse_title(rest)?)
    };
    Some(Definition {
        label: label.trim().to_owned(),
        url: url.to_owned(),
        title: title.filter(|t| !t.trim().is_empty()),
    })
}

/// A whole-string title in `"…"`, `'…'` or `(…)`.
fn parse_title(s: &str) -> Option<String> {
    let mut chars = s.chars();
    let open = chars.next()?;
    let close = match open {
        '"' => '"',
        '\'' => '\'',
        '(' => ')',
        _ => return None,
    };
    let inner = s.strip_prefix(open)?.strip_suffix(close)?;
    Some(inner.trim().to_owned())
}

/// Labels match case-insensitively with inner whitespace collapsed (CommonMark).
fn normalise_label(label: &str) -> String {
    label
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn find_definition<'d>(definitions: &'d [Definition], label: &str) -> Option<&'d Definition> {
    let key = normalise_label(label);
    definitions
        .iter()
        .find(|d| normalise_label(&d.label) == key)
}

/// The `[label]` starting at byte `open` (which holds `[`): the label and the byte just after
/// `]`. No nested `[` and no line break, so each byte is looked at by at most one search.
fn bracketed(body: &str, open: usize) -> Option<(&str, usize)> {
    let after = &body[open + 1..];
    let window = &after.as_bytes()[..after.len().min(MAX_LABEL_BYTES)];
    let close = window
        .iter()
        .position(|&b| matches!(b, b']' | b'[' | b'\n'))?;
    (window[close] == b']').then(|| (&after[..close], open + 1 + close + 1))
}

/// Rewrites the markers of the body: reference links become `label (url)`, inline markers are
/// kept (`list`) or removed with the space before them (`strip`).
fn replace_markers(body: &str, definitions: &[Definition], mode: CitationMode) -> String {
    let mut out = String::with_capacity(body.len());
    let mut i = 0;
    while let Some(offset) = body[i..].find('[') {
        let open = i + offset;
        out.push_str(&body[i..open]);
        let Some((label, after)) = bracketed(body, open) else {
            out.push('[');
            i = open + 1;
            continue;
        };
        let next = body[after..].chars().next();
        if next == Some('(') {
            // An inline link `[1](url)`: not a citation marker.
            out.push('[');
            i = open + 1;
            continue;
        }
        if find_definition(definitions, label).is_some() {
            match mode {
                CitationMode::List => out.push_str(&body[open..after]),
                CitationMode::Strip => {
                    if !next.is_some_and(char::is_alphanumeric) {
                        let kept = out.trim_end_matches([' ', '\t']).len();
                        out.truncate(kept);
                    }
                }
            }
            i = after;
            continue;
        }
        if next == Some('[')
            && let Some((reference, end)) = bracketed(body, after)
            && let Some(d) = find_definition(definitions, reference)
        {
            out.push_str(label);
            out.push_str(" (");
            out.push_str(&d.url);
            out.push(')');
            i = end;
            continue;
        }
        out.push('[');
        i = open + 1;
    }
    out.push_str(&body[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "Returns are free within 30 days [1]. Refunds take 5 days [2][1].\n\n[1]: https://contoso.example/returns \"Returns policy\"\n[2]: https://contoso.example/refunds";

    #[test]
    fn list_mode_keeps_markers_and_appends_sources() {
        assert_eq!(
            apply_citations(ANSWER, CitationMode::List),
            "Returns are free within 30 days [1]. Refunds take 5 days [2][1].\n\nSources:\n1. Returns policy – https://contoso.example/returns\n2. https://contoso.example/refunds"
        );
    }

    #[test]
    fn strip_mode_removes_markers_and_definitions() {
        assert_eq!(
            apply_citations(ANSWER, CitationMode::Strip),
            "Returns are free within 30 days. Refunds take 5 days."
        );
    }

    #[test]
    fn table() {
        for (input, mode, want) in [
            // No trailing definitions: untouched, whatever the brackets.
            ("[1] Terms apply", CitationMode::Strip, "[1] Terms apply"),
            ("a [1] b", CitationMode::List, "a [1] b"),
            // Reference-style link.
            (
                "See [our policy][1].\n[1]: https://x.example/p 'Policy'",
                CitationMode::Strip,
                "See our policy (https://x.example/p).",
            ),
            (
                "See [our policy][1].\n[1]: <https://x.example/p> (Policy)",
                CitationMode::List,
                "See our policy (https://x.example/p).\n\nSources:\n1. Policy – https://x.example/p",
            ),
            // An inline link with a numeric label is not a marker.
            (
                "[1](https://a.example) x [1]\n[1]: https://b.example",
                CitationMode::Strip,
                "[1](https://a.example) x",
            ),
            // A marker before a word keeps the space after it.
            (
                "free [1]and more\n[1]: https://b.example",
                CitationMode::Strip,
                "free and more",
            ),
            // Unknown markers stay.
            (
                "a [3] b [1]\n[1]: https://b.example",
                CitationMode::Strip,
                "a [3] b",
            ),
            // Only definitions.
            (
                "[1]: https://b.example \"B\"",
                CitationMode::List,
                "Sources:\n1. B – https://b.example",
            ),
            ("[1]: https://b.example \"B\"", CitationMode::Strip, ""),
            // Internal citation scheme: title only.
            (
                "x [1]\n[1]: cite:1 \"Handbook\"",
                CitationMode::List,
                "x [1]\n\nSources:\n1. Handbook",
            ),
            // Duplicate labels: the first wins.
            (
                "x [1]\n[1]: https://a.example\n[1]: https://b.example",
                CitationMode::List,
                "x [1]\n\nSources:\n1. https://a.example",
            ),
            // A definition followed by prose is not trailing.
            (
                "[1]: https://a.example\nmore text",
                CitationMode::Strip,
                "[1]: https://a.example\nmore text",
            ),
            ("", CitationMode::List, ""),
            ("[[[[", CitationMode::Strip, "[[[["),
        ] {
            assert_eq!(apply_citations(input, mode), want, "{input:?} {mode:?}");
        }
    }

    #[test]
    fn definition_parsing() {
        assert_eq!(
            parse_definition("   [ 12 ]: https://a.example  \"T\"  "),
            Some(Definition {
                label: "12".into(),
                url: "https://a.example".into(),
                title: Some("T".into()),
            })
        );
        for bad in [
            "    [1]: https://a.example",
            "[1] https://a.example",
            "[]: https://a.example",
            "[1]:",
            "[1]: https://a.example trailing words",
            "[1]: https://a.example \"unclosed",
        ] {
            assert_eq!(parse_definition(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn many_brackets_are_linear_and_safe() {
        let text = format!("{}\n[1]: https://a.example", "[".repeat(100_000));
        let out = apply_citations(&text, CitationMode::Strip);
        assert_eq!(out.len(), 100_000);
    }
}
