//! The text pipeline every bot text goes through (`mapping.md` §4.2).
//!
//! 1. HTML entities are decoded ([`unescape_html`]);
//! 2. backslash escapes before markdown punctuation are removed ([`remove_markdown_escapes`]);
//! 3. citations are listed or stripped ([`super::citations::apply_citations`]);
//! 4. markdown is kept, reduced or stripped ([`super::markdown::apply_markdown`]);
//! 5. long texts are split ([`super::split::split_text`]);
//! 6. empty results are dropped.
//!
//! Steps 1–4 are [`format_text`]; [`render_text`] adds steps 5–6. Every function here is total:
//! any `&str` gives a result, nothing panics, and the work is linear in the input length.

use crate::profile::{BotProfile, CitationMode, MarkdownMode};

use super::citations::apply_citations;
use super::markdown::apply_markdown;
use super::split::split_text;

/// Steps 1–6: the texts of the `Text` messages one bot text becomes (possibly none).
pub fn render_text(profile: &BotProfile, raw: &str) -> Vec<String> {
    split_text(
        &format_text(raw, profile.markdown, profile.citations),
        profile.max_text_chars,
    )
}

/// Steps 1–4: one bot text, decoded and with its markdown handled, not yet split.
///
/// Line endings are normalised to `\n` first so that every later step only has one kind of
/// line break to reason about.
pub fn format_text(raw: &str, markdown: MarkdownMode, citations: CitationMode) -> String {
    let cited = apply_citations(&decode_text(raw), citations);
    apply_markdown(&cited, markdown)
}

/// Steps 1–2 only: line endings normalised, entities decoded, markdown escapes removed. This is
/// the text the Genesys-JSON convention (`mapping.md` §4.8) looks at.
pub fn decode_text(raw: &str) -> String {
    remove_markdown_escapes(&decode_entities(raw))
}

/// Step 1 only (with line endings normalised): an agent that writes Genesys JSON may escape a
/// quote inside a JSON string (`\"`), which step 2 would turn into a bare quote.
pub fn decode_entities(raw: &str) -> String {
    unescape_html(&normalise_newlines(raw))
}

/// A short plain label (button title, card title): decoded, unescaped, markdown stripped and
/// folded onto one line, because a label cannot hold line breaks.
pub fn plain_label(raw: &str) -> String {
    let formatted = format_text(raw, MarkdownMode::Plain, CitationMode::Strip);
    formatted.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `\r\n` and lone `\r` become `\n`.
fn normalise_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Longest entity we decode, `&#x10FFFF;` or `&#1114111;`, is 10 bytes; anything longer after an
/// `&` cannot be one of ours and is left alone without scanning further.
const MAX_ENTITY_LEN: usize = 10;

/// Step 1: decodes `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&apos;`, `&nbsp;` and numeric references
/// (`&#39;`, `&#x27;`) in one pass, so `&amp;lt;` becomes `&lt;` and not `<`.
///
/// Unknown names, references without the closing `;`, and numbers that are not a valid
/// character (zero, surrogates, out of range, C0 controls other than tab and newlines) are kept
/// verbatim: showing the raw text is better than guessing.
pub fn unescape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let window = &after.as_bytes()[..after.len().min(MAX_ENTITY_LEN)];
        let decoded = window
            .iter()
            .position(|&b| b == b';')
            .and_then(|semi| decode_entity(&after[..semi]).map(|c| (c, semi)));
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &after[semi + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character of one entity body (between `&` and `;`), if it is one we decode.
fn decode_entity(body: &str) -> Option<char> {
    match body {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => {
            let number = body.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => parse_digits(hex, 16)?,
                None => parse_digits(number, 10)?,
            };
            let c = char::from_u32(code)?;
            let allowed_control = matches!(c, '\t' | '\n' | '\r');
            (code != 0 && (!c.is_control() || allowed_control)).then_some(c)
        }
    }
}

/// Parses a short, non-empty run of digits in `radix`; `None` on anything else or overflow.
fn parse_digits(digits: &str, radix: u32) -> Option<u32> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// Step 2: removes the backslash of every escape before ASCII punctuation (`\[` → `[`,
/// `\*` → `*`, `\\` → `\`), the CommonMark escape set. A backslash before anything else (a letter,
/// a space, the end of the text) is an ordinary character and stays.
pub fn remove_markdown_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && next.is_ascii_punctuation()
        {
            out.push(next);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_table() {
        for (input, want) in [
            ("Tom &amp; Jerry", "Tom & Jerry"),
            ("&lt;b&gt;", "<b>"),
            ("&quot;hi&quot; &#39;there&#39;", "\"hi\" 'there'"),
            ("&apos;", "'"),
            ("&#x27;&#X27;&#233;", "''é"),
            ("&#128512;", "😀"),
            ("&amp;lt;", "&lt;"),
            ("a & b", "a & b"),
            ("&unknown;", "&unknown;"),
            ("&amp", "&amp"),
            ("&#;", "&#;"),
            ("&#x;", "&#x;"),
            ("&#0;", "&#0;"),
            ("&#xD800;", "&#xD800;"),
            ("&#x110000;", "&#x110000;"),
            ("&#99999999999;", "&#99999999999;"),
            ("&#7;", "&#7;"),
            ("&#10;", "\n"),
            ("&", "&"),
            ("&&amp;", "&&"),
            ("é&amp;é", "é&é"),
            ("", ""),
        ] {
            assert_eq!(unescape_html(input), want, "{input:?}");
        }
    }

    #[test]
    fn escapes_table() {
        for (input, want) in [
            (r"\[1\]", "[1]"),
            (r"\*not bold\*", "*not bold*"),
            (r"\_ \# \- \. \!", "_ # - . !"),
            (r"a\\b", r"a\b"),
            (r"C:\Users", r"C:\Users"),
            (r"end\", r"end\"),
            (r"\é", r"\é"),
            ("", ""),
        ] {
            assert_eq!(remove_markdown_escapes(input), want, "{input:?}");
        }
    }

    #[test]
    fn newlines_are_normalised() {
        assert_eq!(
            format_text("a\r\nb\rc", MarkdownMode::Keep, CitationMode::List),
            "a\nb\nc"
        );
    }

    #[test]
    fn label_is_one_plain_line() {
        assert_eq!(plain_label("**Buy**\n now &amp; save"), "Buy now & save");
    }
}
