//! Step 4 of the text pipeline: markdown per the bot's `markdown` setting (`mapping.md` §4.2).
//!
//! - `keep` returns the text unchanged.
//! - `basic` keeps what chat widgets commonly render (bold, italic, inline links, list markers)
//!   and flattens the structure they do not: headings become plain lines, tables become
//!   `column: value` lines, images become `alt: url`, code fences disappear around their content,
//!   and thematic breaks become blank lines. Anything the spec does not list (inline code,
//!   strikethrough, quotes) is left as written.
//! - `plain` additionally strips every inline mark: emphasis, strikethrough, inline code,
//!   autolink brackets and quote markers; links become `label (url)`; bullets become `- `.
//!
//! This is a line-based reading of CommonMark/GFM, not a full parser: it handles what agents
//! write, never fails, and stays linear in the input (bracket and code-span matching are
//! precomputed or bounded, nesting of link labels is capped).

use std::collections::HashMap;

use crate::profile::MarkdownMode;

/// Applies the markdown setting to a decoded text.
pub fn apply_markdown(text: &str, mode: MarkdownMode) -> String {
    match mode {
        MarkdownMode::Keep => text.to_owned(),
        MarkdownMode::Basic | MarkdownMode::Plain => flatten(text, mode),
    }
}

/// An open code fence: its character and length (a closing fence needs at least as many).
#[derive(Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
}

/// The block pass shared by `basic` and `plain`.
fn flatten(text: &str, mode: MarkdownMode) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut fence: Option<Fence> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(open) = fence {
            if closes_fence(line, open) {
                fence = None;
            } else {
                out.push(line.to_owned());
            }
            i += 1;
            continue;
        }
        if let Some(open) = opens_fence(line) {
            fence = Some(open);
            i += 1;
            continue;
        }
        if let Some(consumed) = table_at(&lines[i..]) {
            render_table(&lines[i..i + consumed], mode, &mut out);
            i += consumed;
            continue;
        }
        let previous_is_text = i > 0 && !lines[i - 1].trim().is_empty();
        if is_thematic_break(line) || (previous_is_text && is_setext_equals(line)) {
            // A rule, or the underline of a setext heading whose text is already out as a line.
            out.push(String::new());
            i += 1;
            continue;
        }
        out.push(match mode {
            MarkdownMode::Plain => plain_line(line),
            _ => basic_line(line),
        });
        i += 1;
    }
    tidy(&out)
}

/// Trailing spaces removed (they only mean a hard break), runs of blank lines collapsed to one,
/// no blank lines at either end.
fn tidy(lines: &[String]) -> String {
    let mut out = String::new();
    let mut pending_blank = false;
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() {
            pending_blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if pending_blank {
                out.push('\n');
            }
        }
        pending_blank = false;
        out.push_str(line);
    }
    out
}

fn basic_line(line: &str) -> String {
    match heading_text(line) {
        Some(text) => basic_inline(text),
        None => basic_inline(line),
    }
}

fn plain_line(line: &str) -> String {
    let line = strip_quote_markers(line);
    if let Some(text) = heading_text(line) {
        return plain_inline(text);
    }
    if let Some((indent, rest)) = bullet_item(line) {
        return format!("{indent}- {}", plain_inline(rest));
    }
    plain_inline(line)
}

/// `> > text` → `text`.
fn strip_quote_markers(mut line: &str) -> &str {
    loop {
        let trimmed = line.trim_start();
        match trimmed.strip_prefix('>') {
            Some(rest) => line = rest.strip_prefix(' ').unwrap_or(rest),
            None => return line,
        }
    }
}

/// The text of an ATX heading (`## Title ##` → `Title`).
fn heading_text(line: &str) -> Option<&str> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let hashes = trimmed.len() - trimmed.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &trimmed[hashes..];
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let rest = rest.trim();
    // An optional closing sequence of `#`s, only when separated by a space.
    let without_closing = rest.trim_end_matches('#');
    if without_closing.is_empty() {
        return Some("");
    }
    if without_closing.len() < rest.len() && without_closing.ends_with([' ', '\t']) {
        return Some(without_closing.trim_end());
    }
    Some(rest)
}

/// `* item` / `+ item` / `- item`: the indentation and the item text.
fn bullet_item(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let mut chars = trimmed.chars();
    let marker = chars.next()?;
    if !matches!(marker, '*' | '+' | '-') {
        return None;
    }
    let rest = chars.as_str();
    rest.strip_prefix([' ', '\t']).map(|text| (indent, text))
}

/// `---`, `***`, `___` (spaces allowed between, three or more marks, nothing else).
fn is_thematic_break(line: &str) -> bool {
    let trimmed = line.trim();
    let Some(first) = trimmed.chars().next() else {
        return false;
    };
    if !matches!(first, '-' | '*' | '_') {
        return false;
    }
    let mut count = 0;
    for c in trimmed.chars() {
        if c == first {
            count += 1;
        } else if c != ' ' && c != '\t' {
            return false;
        }
    }
    count >= 3
}

fn is_setext_equals(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= 3 && trimmed.chars().all(|c| c == '=')
}

fn opens_fence(line: &str) -> Option<Fence> {
    let trimmed = line.trim_start();
    let ch = trimmed.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let len = trimmed.len() - trimmed.trim_start_matches(ch).len();
    if len < 3 {
        return None;
    }
    // A backtick fence's info string cannot contain a backtick (that would be inline code).
    if ch == '`' && trimmed[len..].contains('`') {
        return None;
    }
    Some(Fence { ch, len })
}

fn closes_fence(line: &str, open: Fence) -> bool {
    let trimmed = line.trim();
    trimmed.len() >= open.len && trimmed.chars().all(|c| c == open.ch)
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// When a GFM table starts at `lines[0]` (a row with `|` followed by a delimiter row), how many
/// lines it spans.
fn table_at(lines: &[&str]) -> Option<usize> {
    let header = lines.first()?;
    let delimiter = lines.get(1)?;
    if !header.contains('|') || !is_delimiter_row(delimiter) {
        return None;
    }
    let body = lines[2..]
        .iter()
        .take_while(|l| l.contains('|') && !l.trim().is_empty())
        .count();
    Some(2 + body)
}

/// `| --- | :---: |`: only pipes, dashes, colons and spaces, at least one pipe and one dash per cell.
fn is_delimiter_row(line: &str) -> bool {
    line.contains('|')
        && line.contains('-')
        && split_row(line).iter().all(|cell| {
            let cell = cell.trim();
            let inner = cell.strip_prefix(':').unwrap_or(cell);
            let inner = inner.strip_suffix(':').unwrap_or(inner);
            !inner.is_empty() && inner.chars().all(|c| c == '-')
        })
}

/// The cells of a row, without the optional outer pipes.
fn split_row(line: &str) -> Vec<&str> {
    let trimmed = line.trim();
    let trimmed = trimmed.strip_prefix('|').unwrap_or(trimmed);
    let trimmed = trimmed.strip_suffix('|').unwrap_or(trimmed);
    trimmed.split('|').map(str::trim).collect()
}

/// Each body row becomes `header: value` lines (empty cells skipped), rows separated by a blank
/// line; a table with no body row becomes one line of its headers.
fn render_table(lines: &[&str], mode: MarkdownMode, out: &mut Vec<String>) {
    let inline = |cell: &str| match mode {
        MarkdownMode::Plain => plain_inline(cell),
        _ => basic_inline(cell),
    };
    let headers: Vec<String> = split_row(lines[0]).into_iter().map(inline).collect();
    let rows = &lines[2..];
    if rows.is_empty() {
        let names: Vec<&str> = headers
            .iter()
            .map(String::as_str)
            .filter(|h| !h.is_empty())
            .collect();
        out.push(names.join(", "));
        return;
    }
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            out.push(String::new());
        }
        for (column, cell) in split_row(row).into_iter().enumerate() {
            let value = inline(cell);
            if value.is_empty() {
                continue;
            }
            match headers.get(column).filter(|h| !h.is_empty()) {
                Some(header) => out.push(format!("{header}: {value}")),
                None => out.push(value),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inline
// ---------------------------------------------------------------------------------------------

/// Link labels are processed recursively; beyond this depth they are kept as written, so a text
/// of nested brackets cannot exhaust the stack or take quadratic time.
const MAX_LABEL_DEPTH: usize = 4;

/// A line as characters, with the precomputed partners of every `[` and `(`.
struct Line {
    chars: Vec<char>,
    closing: Vec<Option<usize>>,
}

impl Line {
    fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut closing = vec![None; chars.len()];
        let mut brackets = Vec::new();
        let mut parens = Vec::new();
        for (i, &c) in chars.iter().enumerate() {
            match c {
                '[' => brackets.push(i),
                '(' => parens.push(i),
                ']' => {
                    if let Some(open) = brackets.pop() {
                        closing[open] = Some(i);
                    }
                }
                ')' => {
                    if let Some(open) = parens.pop() {
                        closing[open] = Some(i);
                    }
                }
                _ => {}
            }
        }
        Self { chars, closing }
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars[from..to].iter().collect()
    }

    fn run_len(&self, from: usize, ch: char) -> usize {
        self.chars[from..].iter().take_while(|&&c| c == ch).count()
    }

    /// `[label](destination "title")` starting at `open`: label, destination, index after `)`.
    fn link(&self, open: usize) -> Option<(String, String, usize)> {
        let close = self.closing[open]?;
        if self.chars.get(close + 1) != Some(&'(') {
            return None;
        }
        let paren_close = self.closing[close + 1]?;
        let inside = self.text(close + 2, paren_close);
        let inside = inside.trim();
        let destination = match inside.strip_prefix('<') {
            Some(rest) => rest.split('>').next().unwrap_or_default(),
            None => inside.split_whitespace().next().unwrap_or_default(),
        };
        Some((
            self.text(open + 1, close),
            destination.to_owned(),
            paren_close + 1,
        ))
    }
}

/// The maximal backtick runs of a line, indexed by length, so the run closing a code span is
/// found by a binary search instead of a scan: linear time even for runs of many lengths.
struct CodeSpans {
    runs_by_len: HashMap<usize, Vec<usize>>,
}

impl CodeSpans {
    fn new(line: &Line) -> Self {
        let mut runs_by_len: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut i = 0;
        while i < line.chars.len() {
            if line.chars[i] == '`' {
                let len = line.run_len(i, '`');
                runs_by_len.entry(len).or_default().push(i);
                i += len;
            } else {
                i += 1;
            }
        }
        Self { runs_by_len }
    }

    /// At a backtick run starting at `i`: the span content and the index after it, or `None`
    /// when no later run of the same length closes it (then the caller copies the run as text).
    fn at(&self, line: &Line, i: usize) -> (Option<String>, usize) {
        let len = line.run_len(i, '`');
        let closer = self.runs_by_len.get(&len).and_then(|starts| {
            let next = starts.partition_point(|&start| start <= i);
            starts.get(next).copied()
        });
        match closer {
            Some(end) => (Some(line.text(i + len, end)), end + len),
            None => (None, i + len),
        }
    }
}

/// `alt: url`, or whichever of the two is present.
fn image_text(alt: &str, url: &str) -> String {
    match (alt.trim().is_empty(), url.is_empty()) {
        (_, true) => alt.trim().to_owned(),
        (true, false) => url.to_owned(),
        (false, false) => format!("{}: {url}", alt.trim()),
    }
}

/// `label (url)`, or just one of them when the other is missing or they say the same thing.
fn link_text(label: &str, url: &str) -> String {
    let label = label.trim();
    let bare = url
        .strip_prefix("mailto:")
        .or_else(|| url.split_once("://").map(|(_, rest)| rest))
        .unwrap_or(url);
    if url.is_empty() {
        label.to_owned()
    } else if label.is_empty() || label == url || label == bare {
        url.to_owned()
    } else {
        format!("{label} ({url})")
    }
}

/// `basic` inline pass: only images change; code spans are copied as written so that an image
/// shown as code stays code.
pub(crate) fn basic_inline(text: &str) -> String {
    let line = Line::new(text);
    let spans = CodeSpans::new(&line);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < line.chars.len() {
        let c = line.chars[i];
        if c == '`' {
            let (_, next) = spans.at(&line, i);
            out.push_str(&line.text(i, next));
            i = next;
            continue;
        }
        if c == '!'
            && line.chars.get(i + 1) == Some(&'[')
            && let Some((alt, url, next)) = line.link(i + 1)
        {
            out.push_str(&image_text(&alt, &url));
            i = next;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `plain` inline pass.
pub(crate) fn plain_inline(text: &str) -> String {
    plain_inline_at(text, 0)
}

/// One inline token before emphasis is resolved.
enum Token {
    Text(String),
    /// A run of `*`, `_` or `~`; `count` shrinks as marks are matched and removed.
    Delimiter {
        ch: char,
        count: usize,
        can_open: bool,
        can_close: bool,
    },
}

fn plain_inline_at(text: &str, depth: usize) -> String {
    let line = Line::new(text);
    let chars = &line.chars;
    let spans = CodeSpans::new(&line);
    let mut tokens: Vec<Token> = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = i.checked_sub(1).map(|p| chars[p]);
        match c {
            '`' => {
                let (content, next) = spans.at(&line, i);
                match content {
                    Some(code) => literal.push_str(strip_one_space(&code)),
                    None => literal.push_str(&line.text(i, next)),
                }
                i = next;
            }
            '!' if chars.get(i + 1) == Some(&'[') && depth < MAX_LABEL_DEPTH => {
                match line.link(i + 1) {
                    Some((alt, url, next)) => {
                        literal.push_str(&image_text(&plain_inline_at(&alt, depth + 1), &url));
                        i = next;
                    }
                    None => {
                        literal.push(c);
                        i += 1;
                    }
                }
            }
            '[' if depth < MAX_LABEL_DEPTH => match line.link(i) {
                Some((label, url, next)) => {
                    literal.push_str(&link_text(&plain_inline_at(&label, depth + 1), &url));
                    i = next;
                }
                None => {
                    literal.push(c);
                    i += 1;
                }
            },
            '<' => match autolink(&line, i) {
                Some((target, next)) => {
                    literal.push_str(&target);
                    i = next;
                }
                None => {
                    literal.push(c);
                    i += 1;
                }
            },
            '*' | '_' | '~' => {
                let count = line.run_len(i, c);
                if c == '~' && count < 2 {
                    literal.push(c);
                    i += 1;
                    continue;
                }
                let next = chars.get(i + count).copied();
                let (can_open, can_close) = flanking(c, prev, next);
                if !literal.is_empty() {
                    tokens.push(Token::Text(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Delimiter {
                    ch: c,
                    count,
                    can_open,
                    can_close,
                });
                i += count;
            }
            _ if starts_bare_url(chars, i) => {
                // Copied whole so that `_` or `*` inside an address are never read as emphasis.
                while i < chars.len() && !chars[i].is_whitespace() {
                    literal.push(chars[i]);
                    i += 1;
                }
            }
            _ => {
                literal.push(c);
                i += 1;
            }
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Text(literal));
    }
    resolve_emphasis(tokens)
}

/// CommonMark trims one space on each side of code span content when both are present.
fn strip_one_space(code: &str) -> &str {
    match code.strip_prefix(' ').and_then(|c| c.strip_suffix(' ')) {
        Some(inner) if !inner.trim().is_empty() => inner,
        _ => code,
    }
}

/// `<https://…>` or `<name@host>` at `open`: the target and the index after `>`.
fn autolink(line: &Line, open: usize) -> Option<(String, usize)> {
    let rest = &line.chars[open + 1..];
    // Stops at the first character an autolink cannot contain, so `<<<<` stays linear.
    let close = rest
        .iter()
        .position(|&c| c == '>' || c == '<' || c.is_whitespace())?;
    if rest[close] != '>' || close == 0 {
        return None;
    }
    let target: String = rest[..close].iter().collect();
    let is_uri = target.split_once(':').is_some_and(|(scheme, _)| {
        scheme.len() >= 2
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
    });
    let is_email = !is_uri && target.contains('@') && !target.starts_with('@');
    (is_uri || is_email).then_some((target, open + 1 + close + 1))
}

fn starts_bare_url(chars: &[char], i: usize) -> bool {
    let at_word_start = i == 0 || !chars[i - 1].is_alphanumeric();
    if !at_word_start {
        return false;
    }
    ["https://", "http://", "www."].iter().any(|prefix| {
        let len = prefix.chars().count();
        chars.len() >= i + len && prefix.chars().zip(&chars[i..i + len]).all(|(a, &b)| a == b)
    })
}

/// Unicode-ish punctuation for flanking rules: ASCII punctuation and any other non-alphanumeric,
/// non-space symbol.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace())
}

/// Whether a delimiter run can open and/or close emphasis (CommonMark left/right flanking, with
/// the stricter intraword rule for `_`). The text's start and end count as whitespace.
fn flanking(ch: char, prev: Option<char>, next: Option<char>) -> (bool, bool) {
    let prev_space = prev.is_none_or(char::is_whitespace);
    let next_space = next.is_none_or(char::is_whitespace);
    let prev_punct = prev.is_some_and(is_punctuation);
    let next_punct = next.is_some_and(is_punctuation);
    let left = !next_space && (!next_punct || prev_space || prev_punct);
    let right = !prev_space && (!prev_punct || next_space || next_punct);
    if ch == '_' {
        (
            left && (!right || prev_punct),
            right && (!left || next_punct),
        )
    } else {
        (left, right)
    }
}

/// Matches closers with the nearest opener of the same mark and removes the matched marks;
/// unmatched marks stay as literal text. One stack per mark keeps this linear.
fn resolve_emphasis(mut tokens: Vec<Token>) -> String {
    let mut stacks: [Vec<usize>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let slot = |ch: char| match ch {
        '*' => 0,
        '_' => 1,
        _ => 2,
    };
    for idx in 0..tokens.len() {
        let Token::Delimiter {
            ch,
            can_open,
            can_close,
            ..
        } = tokens[idx]
        else {
            continue;
        };
        let stack = &mut stacks[slot(ch)];
        if can_close {
            while let Some(&opener) = stack.last() {
                let (open_count, close_count) = (count(&tokens[opener]), count(&tokens[idx]));
                // Strikethrough only pairs runs of the same length.
                if close_count == 0 || (ch == '~' && open_count != close_count) {
                    break;
                }
                let matched = open_count.min(close_count);
                set_count(&mut tokens[opener], open_count - matched);
                set_count(&mut tokens[idx], close_count - matched);
                if open_count == matched {
                    stack.pop();
                }
            }
        }
        if can_open && count(&tokens[idx]) > 0 {
            stack.push(idx);
        }
    }
    let mut out = String::new();
    for token in tokens {
        match token {
            Token::Text(text) => out.push_str(&text),
            Token::Delimiter { ch, count, .. } => out.extend(std::iter::repeat_n(ch, count)),
        }
    }
    out
}

fn count(token: &Token) -> usize {
    match token {
        Token::Delimiter { count, .. } => *count,
        Token::Text(_) => 0,
    }
}

fn set_count(token: &mut Token, value: usize) {
    if let Token::Delimiter { count, .. } = token {
        *count = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> String {
        apply_markdown(s, MarkdownMode::Basic)
    }

    fn plain(s: &str) -> String {
        apply_markdown(s, MarkdownMode::Plain)
    }

    #[test]
    fn keep_is_identity() {
        let s = "# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n```\nx\n```";
        assert_eq!(apply_markdown(s, MarkdownMode::Keep), s);
    }

    #[test]
    fn basic_table() {
        for (input, want) in [
            (
                "Hello, I'm the **Contoso** virtual assistant.",
                "Hello, I'm the **Contoso** virtual assistant.",
            ),
            (
                "_italic_ and [link](https://a.example)",
                "_italic_ and [link](https://a.example)",
            ),
            ("- one\n- two\n1. first", "- one\n- two\n1. first"),
            ("# Title\ntext", "Title\ntext"),
            ("### **Bold** heading ###", "**Bold** heading"),
            ("#hashtag", "#hashtag"),
            ("Title\n===\nbody", "Title\n\nbody"),
            ("a\n\n---\n\nb", "a\n\nb"),
            (
                "![Size chart](https://a.example/s.png)",
                "Size chart: https://a.example/s.png",
            ),
            ("![](https://a.example/s.png)", "https://a.example/s.png"),
            ("`![x](y)`", "`![x](y)`"),
            ("```json\n{\"a\": 1}\n```", "{\"a\": 1}"),
            ("~~~\n# not a heading\n~~~", "# not a heading"),
            ("```\nunclosed\n# kept", "unclosed\n# kept"),
            (
                "| Plan | Price |\n|:---|---:|\n| Basic | 9.99 |\n| **Plus** | 19.99 |",
                "Plan: Basic\nPrice: 9.99\n\nPlan: **Plus**\nPrice: 19.99",
            ),
            ("Plan | Price\n--- | ---\nBasic |", "Plan: Basic"),
            ("| a | b |\n|---|---|", "a, b"),
            ("a | b\nnot a table", "a | b\nnot a table"),
            ("line  \nnext", "line\nnext"),
            ("a\n\n\n\nb", "a\n\nb"),
            ("`code` ~~gone~~ > quote", "`code` ~~gone~~ > quote"),
            ("", ""),
        ] {
            assert_eq!(basic(input), want, "{input:?}");
        }
    }

    #[test]
    fn plain_table() {
        for (input, want) in [
            (
                "Hello, I'm the **Contoso** assistant.",
                "Hello, I'm the Contoso assistant.",
            ),
            (
                "***both*** and __strong__ and *em*",
                "both and strong and em",
            ),
            ("_a_ b_c_d snake_case", "a b_c_d snake_case"),
            ("2 * 3 * 4", "2 * 3 * 4"),
            ("**unclosed", "**unclosed"),
            ("~~old~~ new ~5 min", "old new ~5 min"),
            ("`a*b*c`", "a*b*c"),
            ("`` a ` b ``", "a ` b"),
            ("``unclosed", "``unclosed"),
            (
                "[Contoso](https://contoso.example)",
                "Contoso (https://contoso.example)",
            ),
            (
                "[**bold** label](https://a.example \"title\")",
                "bold label (https://a.example)",
            ),
            (
                "[https://a.example](https://a.example)",
                "https://a.example",
            ),
            ("[a.example](https://a.example)", "https://a.example"),
            ("[](https://a.example)", "https://a.example"),
            (
                "[wiki](https://w.example/Foo_(bar))",
                "wiki (https://w.example/Foo_(bar))",
            ),
            ("[1] Terms apply", "[1] Terms apply"),
            (
                "![alt](https://a.example/i.png)",
                "alt: https://a.example/i.png",
            ),
            ("<https://a.example/x_y_>", "https://a.example/x_y_"),
            ("<me@a.example>", "me@a.example"),
            ("a < b > c", "a < b > c"),
            (
                "see https://a.example/_x_/y*z* now",
                "see https://a.example/_x_/y*z* now",
            ),
            (
                "* one\n+ two\n  - three\n1. four",
                "- one\n- two\n  - three\n1. four",
            ),
            ("> quoted **text**\n> > deeper", "quoted text\ndeeper"),
            ("## Heading", "Heading"),
            ("| A | B |\n|---|---|\n| *x* | [l](u) |", "A: x\nB: l (u)"),
            ("***", ""),
        ] {
            assert_eq!(plain(input), want, "{input:?}");
        }
    }

    #[test]
    fn pathological_inputs_finish() {
        let nested = format!("{}x{}", "[".repeat(5_000), "](u)".repeat(5_000));
        let _ = plain(&nested);
        let _ = plain(&"*_~~`".repeat(20_000));
        let ticks: String = (1..300).map(|n| format!("{} ", "`".repeat(n))).collect();
        let _ = plain(&ticks);
        let _ = basic(&"![".repeat(20_000));
        let _ = plain(&"<".repeat(20_000));
    }
}
