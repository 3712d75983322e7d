//! Steps 5–6 of the text pipeline: splitting long texts and dropping empty ones (`mapping.md`
//! §4.2).
//!
//! Lengths are counted in characters (Unicode scalar values), the unit Genesys' channel limits
//! are published in. A text is cut at the coarsest boundary that makes every part fit:
//! paragraphs (blank lines), then lines, then sentences, then words, and only as a last resort
//! inside a word — never inside a character, and where possible not inside a combined character
//! sequence (accents, emoji with modifiers or joiners, flags).

/// The boundaries tried, coarsest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Paragraph,
    Line,
    Sentence,
    Word,
    Character,
}

impl Level {
    fn finer(self) -> Self {
        match self {
            Level::Paragraph => Level::Line,
            Level::Line => Level::Sentence,
            Level::Sentence => Level::Word,
            Level::Word | Level::Character => Level::Character,
        }
    }
}

/// Splits `text` into parts of at most `max_chars` characters each, trimmed, with empty parts
/// dropped (so a blank text gives no part at all). `max_chars == 0` means "no limit".
pub fn split_text(text: &str, max_chars: usize) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    if max_chars == 0 || char_len(text) <= max_chars {
        return vec![text.to_owned()];
    }
    let mut out = Vec::new();
    split_at_level(text, max_chars, Level::Paragraph, &mut out);
    out
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Packs the pieces of `text` at `level` greedily into parts; a piece too long on its own is
/// split at the next finer level.
fn split_at_level(text: &str, max: usize, level: Level, out: &mut Vec<String>) {
    if level == Level::Character {
        split_characters(text, max, out);
        return;
    }
    let mut current = String::new();
    let mut current_len = 0;
    for piece in pieces(text, level) {
        let piece = if current.is_empty() {
            piece.trim_start()
        } else {
            piece
        };
        if piece.trim().is_empty() {
            // Separator-only piece: keep it between pieces, it is trimmed if it ends a part.
            if !current.is_empty() {
                current.push_str(piece);
                current_len += char_len(piece);
            }
            continue;
        }
        // Trailing whitespace of the piece is trimmed if it ends the part, so it does not count.
        if current_len + char_len(piece.trim_end()) <= max {
            current.push_str(piece);
            current_len += char_len(piece);
            continue;
        }
        flush(&mut current, &mut current_len, out);
        let piece = piece.trim_start();
        if char_len(piece.trim_end()) <= max {
            current.push_str(piece);
            current_len = char_len(piece);
        } else {
            split_at_level(piece.trim_end(), max, level.finer(), out);
        }
    }
    flush(&mut current, &mut current_len, out);
}

fn flush(current: &mut String, current_len: &mut usize, out: &mut Vec<String>) {
    let part = current.trim();
    if !part.is_empty() {
        out.push(part.to_owned());
    }
    current.clear();
    *current_len = 0;
}

/// The pieces of `text` at `level`; concatenated, they are exactly `text`. Each piece carries
/// the separator that follows it.
fn pieces(text: &str, level: Level) -> Vec<&str> {
    let cuts = match level {
        Level::Paragraph => paragraph_cuts(text),
        Level::Line => text.match_indices('\n').map(|(i, _)| i + 1).collect(),
        Level::Sentence => sentence_cuts(text),
        Level::Word => word_cuts(text),
        Level::Character => Vec::new(),
    };
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        if cut > start && cut < text.len() {
            out.push(&text[start..cut]);
            start = cut;
        }
    }
    out.push(&text[start..]);
    out
}

/// Byte offsets where a new paragraph starts: the first non-blank line after a blank one.
fn paragraph_cuts(text: &str) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut offset = 0;
    let mut after_blank = false;
    for line in text.split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if !blank && after_blank {
            cuts.push(offset);
        }
        after_blank = blank;
        offset += line.len();
    }
    cuts
}

/// Byte offsets just after a sentence end and the whitespace following it. A sentence ends with
/// `.`, `!`, `?` or `…` (plus closing quotes or brackets) before whitespace, or with a
/// full-width `。！？`, which needs no space after it.
fn sentence_cuts(text: &str) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        let full_width = matches!(c, '。' | '！' | '？');
        if !(full_width || matches!(c, '.' | '!' | '?' | '…')) {
            continue;
        }
        while let Some(&(_, closer)) = chars.peek() {
            if matches!(
                closer,
                '"' | '\'' | ')' | ']' | '”' | '’' | '»' | '」' | '）'
            ) {
                chars.next();
            } else {
                break;
            }
        }
        let mut saw_space = false;
        while let Some(&(_, space)) = chars.peek() {
            if space.is_whitespace() {
                saw_space = true;
                chars.next();
            } else {
                break;
            }
        }
        if saw_space || full_width {
            let cut = chars.peek().map_or(text.len(), |&(i, _)| i);
            cuts.push(cut);
        }
    }
    cuts
}

/// Byte offsets just after each run of whitespace.
fn word_cuts(text: &str) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_space && !space {
            cuts.push(i);
        }
        in_space = space;
    }
    cuts
}

/// The last resort: fixed-size parts, moving each cut back (within the part) so that it does not
/// separate a character from the marks, joiners or modifiers that belong to it. A sequence longer
/// than `max` is still cut at `max`: the limit wins over the typography.
fn split_characters(text: &str, max: usize, out: &mut Vec<String>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let cuttable = cut_points(&chars);
    let mut start = 0;
    while start < chars.len() {
        let mut end = (start + max).min(chars.len());
        if end < chars.len()
            && let Some(cut) = (start + 1..=end).rev().find(|&i| cuttable[i])
        {
            end = cut;
        }
        let from = chars[start].0;
        let to = chars.get(end).map_or(text.len(), |&(i, _)| i);
        let part = text[from..to].trim();
        if !part.is_empty() {
            out.push(part.to_owned());
        }
        start = end;
    }
}

/// `cuttable[i]`: whether a part may start at character `i` (index `len` is always allowed).
/// Not before an extending character, not after a zero-width joiner, and not between the two
/// regional indicators of one flag (they pair up from the start of their run).
fn cut_points(chars: &[(usize, char)]) -> Vec<bool> {
    let mut cuttable = vec![true; chars.len() + 1];
    let mut indicators_in_run = 0usize;
    for i in 1..chars.len() {
        let (before, at) = (chars[i - 1].1, chars[i].1);
        indicators_in_run = if is_regional_indicator(before) {
            indicators_in_run + 1
        } else {
            0
        };
        let inside_flag = is_regional_indicator(at) && indicators_in_run % 2 == 1;
        cuttable[i] = !(is_extending(at) || before == '\u{200d}' || inside_flag);
    }
    cuttable
}

/// Combining marks, joiners, variation selectors, emoji modifiers and tag characters: code points
/// that never start a user-perceived character.
fn is_extending(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036f}'
        | '\u{1ab0}'..='\u{1aff}'
        | '\u{1dc0}'..='\u{1dff}'
        | '\u{20d0}'..='\u{20ff}'
        | '\u{fe20}'..='\u{fe2f}'
        | '\u{200c}'..='\u{200d}'
        | '\u{fe00}'..='\u{fe0f}'
        | '\u{1f3fb}'..='\u{1f3ff}'
        | '\u{e0020}'..='\u{e007f}'
        | '\u{e0100}'..='\u{e01ef}')
}

fn is_regional_indicator(c: char) -> bool {
    ('\u{1f1e6}'..='\u{1f1ff}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(parts: &[String]) -> Vec<usize> {
        parts.iter().map(|p| char_len(p)).collect()
    }

    #[test]
    fn table() {
        for (input, max, want) in [
            ("short", 10, vec!["short"]),
            ("  padded  ", 10, vec!["padded"]),
            ("", 10, vec![]),
            (" \n\n ", 10, vec![]),
            ("anything at all", 0, vec!["anything at all"]),
            // Paragraphs packed while they fit.
            ("aaa\n\nbbb\n\nccc", 8, vec!["aaa\n\nbbb", "ccc"]),
            ("aaa\n \nbbb", 4, vec!["aaa", "bbb"]),
            // Lines before sentences.
            ("- one\n- two\n- three", 12, vec!["- one\n- two", "- three"]),
            // Sentences.
            (
                "One. Two! Three? Four.",
                10,
                vec!["One. Two!", "Three?", "Four."],
            ),
            (
                "He said \"Stop.\" Then left.",
                16,
                vec!["He said \"Stop.\"", "Then left."],
            ),
            ("v1.2 is out. Great", 13, vec!["v1.2 is out.", "Great"]),
            ("第一句。第二句。", 4, vec!["第一句。", "第二句。"]),
            // Words.
            (
                "alpha beta gamma delta",
                11,
                vec!["alpha beta", "gamma delta"],
            ),
            // No boundary at all.
            ("abcdefghij", 4, vec!["abcd", "efgh", "ij"]),
            ("éééééé", 4, vec!["éééé", "éé"]),
        ] {
            assert_eq!(split_text(input, max), want, "{input:?} / {max}");
        }
    }

    #[test]
    fn never_exceeds_the_limit_and_loses_no_words() {
        let text = "Lorem ipsum dolor sit amet. ".repeat(400) + "\n\n" + &"x".repeat(9_000);
        for max in [1, 2, 7, 100, 4_000] {
            let parts = split_text(&text, max);
            assert!(lens(&parts).iter().all(|&n| n <= max && n > 0), "{max}");
            let rejoined: String = parts.concat();
            let original: String = text.split_whitespace().collect();
            let split: String = rejoined.split_whitespace().collect();
            assert_eq!(split, original, "{max}");
        }
    }

    #[test]
    fn combined_characters_are_kept_together() {
        // e + combining acute accent, repeated: a cut never lands before the accent.
        let text = "e\u{301}".repeat(5);
        let parts = split_text(&text, 3);
        assert!(parts.iter().all(|p| !p.starts_with('\u{301}')), "{parts:?}");
        // Family emoji joined with ZWJ: parts never start with the joiner or after it.
        let family = "👩\u{200d}👩\u{200d}👧".repeat(3);
        let parts = split_text(&family, 6);
        assert!(
            parts
                .iter()
                .all(|p| !p.starts_with('\u{200d}') && !p.ends_with('\u{200d}')),
            "{parts:?}"
        );
        assert_eq!(parts.concat(), family);
        // Flags are pairs of regional indicators.
        let flags = "🇫🇷🇩🇪🇮🇹";
        assert_eq!(split_text(flags, 3), vec!["🇫🇷", "🇩🇪", "🇮🇹"]);
    }

    #[test]
    fn a_grapheme_longer_than_the_limit_is_still_cut() {
        let text = format!("a{}", "\u{301}".repeat(10));
        let parts = split_text(&text, 4);
        assert!(lens(&parts).iter().all(|&n| n <= 4));
        assert_eq!(parts.concat(), text);
    }
}
