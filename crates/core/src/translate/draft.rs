//! The reply messages of a turn as drafts, and their assembly into Genesys `replyMessages` with
//! the limits of `mapping.md` §4.7 applied last.
//!
//! The builders ([`super::content`], [`super::cards`], [`super::adaptive`], [`super::media`],
//! [`super::passthrough`]) describe what the agent said as [`Draft`]s: texts, files, cards and
//! quick-reply prompts whose buttons do not have payloads yet. [`assemble`] then, in the order
//! the spec gives:
//!
//! 1. payload uniqueness — guaranteed by construction: every button gcbridge offers gets a
//!    `gcb:` payload unique within the turn, and agent-written payloads are de-duplicated when
//!    their message is read;
//! 2. keeps at most `max_card_buttons` buttons per card (the others stay in the fallback text);
//! 3. splits carousels into messages of at most [`MAX_CAROUSEL_CARDS`] cards;
//! 4. keeps at most `max_quick_replies` quick replies (the others stay in the numbered list);
//! 5. splits texts longer than `max_text_chars`;
//! 6. merges everything beyond `max_messages` into the last message as text;
//! 7. and only then allocates payloads, so the session remembers exactly the buttons shown.
//!
//! Whatever the drafts hold, the result is a body Genesys accepts: every `Structured` message
//! has a non-empty `text`, every card a non-empty title, every button a label.

use gcbridge_genesys::{
    Card, CardAction, CardActionKind, Carousel, QuickReply, ReplyAttachment, ReplyContent,
    ReplyKind, ReplyMessage,
};

use crate::offers::{OfferBook, OfferedAction, PayloadKind};
use crate::profile::BotProfile;

use super::split::split_text;

/// Most cards in one carousel (Genesys help: "at most 10 cards").
pub const MAX_CAROUSEL_CARDS: usize = 10;

/// Longest card title made up from other text (an image's caption, the first line of a card's
/// text), in characters: a title is a heading, not a paragraph.
const MAX_DERIVED_TITLE_CHARS: usize = 80;

/// Where a button leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Opens an address: a card `Link` button. Quick replies cannot open addresses.
    Link(String),
    /// An agent action gcbridge offers: it gets a `gcb:` payload when the message is assembled,
    /// made from `slug_source`.
    Offer {
        /// What the payload's slug is made from: the action's value, or its label.
        slug_source: String,
        /// What a click posts.
        action: OfferedAction,
    },
    /// A payload the agent wrote itself (Genesys JSON in its text), passed through verbatim.
    Payload(String),
}

/// A button or quick reply before assembly.
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    /// The label shown (and, for a quick reply, what the customer appears to say).
    pub label: String,
    /// What it does.
    pub target: Target,
    /// Quick replies only: an icon.
    pub image: Option<String>,
}

impl Button {
    /// The button as a line of fallback text: a reply by its label (the customer can type it),
    /// a link as `label: url`.
    fn fallback_line(&self) -> String {
        match &self.target {
            Target::Link(url) if self.label != *url => format!("{}: {url}", self.label),
            Target::Link(url) => url.clone(),
            Target::Offer { .. } | Target::Payload(_) => self.label.clone(),
        }
    }
}

/// A card before assembly.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CardDraft {
    /// Title, never empty after assembly.
    pub title: String,
    /// Plain-text description.
    pub description: Option<String>,
    /// Image address.
    pub image: Option<String>,
    /// Video address.
    pub video: Option<String>,
    /// Address opened by a tap on the card.
    pub default_url: Option<String>,
    /// Every button, in order; only the first `max_card_buttons` become card buttons.
    pub buttons: Vec<Button>,
    /// Extra lines for the fallback text only: a `call` button's number, a media address.
    pub notes: Vec<String>,
}

impl CardDraft {
    /// The card's lines in the fallback text: title, description, buttons and notes; with
    /// `card_fallback_text` off, the title and the buttons that did not fit on the card.
    fn fallback(&self, full: bool, max_buttons: usize) -> String {
        let mut lines = vec![self.title.clone()];
        if full {
            lines.extend(self.description.clone());
            lines.extend(self.buttons.iter().map(Button::fallback_line));
            lines.extend(self.notes.iter().cloned());
        } else {
            lines.extend(
                self.buttons
                    .iter()
                    .skip(max_buttons)
                    .map(Button::fallback_line),
            );
        }
        join_non_empty(&lines, "\n")
    }
}

/// One reply message before limits and payloads.
#[derive(Debug, Clone, PartialEq)]
pub enum Draft {
    /// Text, split later if too long.
    Text(String),
    /// A file sent as a Genesys `Attachment` (only with `attachments = true`), with its caption.
    File {
        /// The caption; the file name is shown when there is none (a `Text` message needs text).
        caption: Option<String>,
        /// The attachment.
        attachment: ReplyAttachment,
    },
    /// One card, or two or more as a carousel.
    Cards {
        /// The cards, in order.
        cards: Vec<CardDraft>,
        /// The agent's own fallback text (Genesys JSON); generated from the cards when `None`.
        text: Option<String>,
    },
    /// A prompt with quick replies, shown last.
    Choices {
        /// The prompt above the options (may be empty).
        prompt: String,
        /// Every option, in order; all are listed in the text, the first `max_quick_replies`
        /// become quick replies.
        options: Vec<Button>,
        /// `title: url` lines of actions that cannot be quick replies (`openUrl`, `call`).
        links: Vec<String>,
        /// The agent's own text (Genesys JSON), used verbatim instead of prompt and list.
        text: Option<String>,
    },
}

/// A reply message after the limits, before payloads.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    File {
        text: String,
        /// What the message reads as when it has to become plain text (`max_messages`).
        fallback: String,
        attachment: ReplyAttachment,
    },
    Cards {
        text: String,
        cards: Vec<CardDraft>,
    },
    Choices {
        text: String,
        options: Vec<Button>,
    },
}

impl Piece {
    /// The message as plain text.
    fn fallback(&self) -> &str {
        match self {
            Piece::Text(text) | Piece::Cards { text, .. } | Piece::Choices { text, .. } => text,
            Piece::File { fallback, .. } => fallback,
        }
    }
}

/// Applies the limits to the drafts of one turn, in order, allocates the payloads of the
/// buttons that are shown from `book`, and returns the reply messages.
pub fn assemble(
    profile: &BotProfile,
    drafts: Vec<Draft>,
    book: &mut OfferBook,
) -> Vec<ReplyMessage> {
    let mut pieces = Vec::new();
    for draft in drafts.into_iter().flat_map(split_carousel) {
        pieces.extend(pieces_of(profile, draft));
    }
    merge_beyond(&mut pieces, profile.max_messages, profile.max_text_chars);
    pieces
        .into_iter()
        .map(|piece| message_of(profile, piece, book))
        .collect()
}

/// Step 3: a draft with more than [`MAX_CAROUSEL_CARDS`] cards becomes several. The agent's
/// own fallback text describes all of them and stays with the first.
fn split_carousel(draft: Draft) -> Vec<Draft> {
    match draft {
        Draft::Cards { cards, text } if cards.len() > MAX_CAROUSEL_CARDS => {
            let mut text = text;
            let mut out = Vec::new();
            let mut rest = cards;
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(MAX_CAROUSEL_CARDS));
                out.push(Draft::Cards {
                    cards: rest,
                    text: text.take(),
                });
                rest = tail;
            }
            out
        }
        other => vec![other],
    }
}

/// Steps 2, 4 and 5 for one draft: buttons and quick replies cut to their limits (what is cut
/// stays in the text), texts split.
fn pieces_of(profile: &BotProfile, draft: Draft) -> Vec<Piece> {
    let max_text = profile.max_text_chars;
    match draft {
        Draft::Text(text) => split_text(&text, max_text)
            .into_iter()
            .map(Piece::Text)
            .collect(),
        Draft::File {
            caption,
            attachment,
        } => {
            let link = format!("{}: {}", attachment.filename, attachment.url);
            let mut parts = split_text(caption.as_deref().unwrap_or_default(), max_text);
            let text = parts.pop().unwrap_or_else(|| attachment.filename.clone());
            let fallback = if caption.as_deref().is_some_and(|c| !c.trim().is_empty()) {
                format!("{text}\n{link}")
            } else {
                link
            };
            let mut out: Vec<Piece> = parts.into_iter().map(Piece::Text).collect();
            out.push(Piece::File {
                text,
                fallback,
                attachment,
            });
            out
        }
        Draft::Cards { mut cards, text } => {
            let max_buttons = profile.max_card_buttons;
            let generated = join_non_empty(
                &cards
                    .iter()
                    .map(|c| c.fallback(profile.card_fallback_text, max_buttons))
                    .collect::<Vec<_>>(),
                "\n\n",
            );
            let text = text.filter(|t| !t.trim().is_empty()).unwrap_or(generated);
            for card in &mut cards {
                card.buttons.truncate(max_buttons);
            }
            // The cards carry the content; a fallback too long for one message is cut rather
            // than repeated as text messages the card channels would show twice.
            vec![Piece::Cards {
                text: truncate_text(&text, max_text),
                cards,
            }]
        }
        Draft::Choices {
            prompt,
            mut options,
            links,
            text,
        } => {
            let (head, list) = match text.filter(|t| !t.trim().is_empty()) {
                Some(verbatim) => (verbatim, String::new()),
                None => {
                    let mut lines: Vec<String> = options
                        .iter()
                        .enumerate()
                        .map(|(n, o)| format!("{}. {}", n + 1, o.label))
                        .collect();
                    lines.extend(links);
                    (prompt, lines.join("\n"))
                }
            };
            options.truncate(profile.max_quick_replies);
            let (before, text) = fit_structured(&head, &list, max_text);
            let mut out: Vec<Piece> = before.into_iter().map(Piece::Text).collect();
            if !text.is_empty() {
                out.push(Piece::Choices { text, options });
            }
            out
        }
    }
}

/// The text of a structured message made of a splittable `head` (a prompt) and a `tail` that
/// must stay with the buttons (their numbered list), within `max` characters: the head's
/// leading parts become text messages before it, and a tail too long on its own is cut.
fn fit_structured(head: &str, tail: &str, max: usize) -> (Vec<String>, String) {
    let head = head.trim();
    let tail = tail.trim();
    let whole = join_non_empty(&[head.to_owned(), tail.to_owned()], "\n");
    if max == 0 || whole.chars().count() <= max {
        return (Vec::new(), whole);
    }
    let mut parts = split_text(head, max);
    if tail.is_empty() {
        let last = parts.pop().unwrap_or_default();
        return (parts, last);
    }
    if let Some(last) = parts.pop() {
        let joined = format!("{last}\n{tail}");
        if joined.chars().count() <= max {
            return (parts, joined);
        }
        parts.push(last);
    }
    (parts, truncate_text(tail, max))
}

/// The first part of `text` within `max` characters, cut at the coarsest boundary that fits.
fn truncate_text(text: &str, max: usize) -> String {
    split_text(text, max)
        .into_iter()
        .next()
        .unwrap_or_else(|| text.trim().to_owned())
}

/// Step 6: beyond `max` messages (`0` = no limit), the remaining ones are merged into one last
/// text message, structured ones reduced to their fallback text.
///
/// The merged message keeps the text limit too (found by the parser property tests: thousands
/// of replies, or one huge one split into hundreds, made a message of millions of characters):
/// what does not fit is cut, ending with `…`.
fn merge_beyond(pieces: &mut Vec<Piece>, max: usize, max_text: usize) {
    if max == 0 || pieces.len() <= max {
        return;
    }
    let rest = pieces.split_off(max - 1);
    let texts: Vec<String> = rest.iter().map(|p| p.fallback().to_owned()).collect();
    let mut merged = join_non_empty(&texts, "\n\n");
    if max_text > 0 && merged.chars().count() > max_text {
        merged = merged.chars().take(max_text.saturating_sub(1)).collect();
        merged.push('…');
    }
    if !merged.is_empty() {
        pieces.push(Piece::Text(merged));
    }
}

/// Step 7: the Genesys message, with payloads allocated for the buttons shown. A quick-reply
/// message left without any quick reply (the turn's offers exhausted) is sent as text.
fn message_of(profile: &BotProfile, piece: Piece, book: &mut OfferBook) -> ReplyMessage {
    match piece {
        Piece::Text(text) => ReplyMessage::text(text),
        Piece::File {
            text, attachment, ..
        } => ReplyMessage {
            kind: ReplyKind::Text,
            text: Some(text),
            content: vec![ReplyContent::Attachment(attachment)],
        },
        Piece::Cards { text, cards } => {
            let mut cards: Vec<Card> = cards
                .into_iter()
                .map(|c| card_of(profile, c, book))
                .collect();
            let content = if cards.len() == 1 {
                ReplyContent::Card(cards.remove(0))
            } else {
                ReplyContent::Carousel(Carousel { cards })
            };
            ReplyMessage::structured(text, vec![content])
        }
        Piece::Choices { text, options } => {
            let replies: Vec<ReplyContent> = options
                .into_iter()
                .filter(|o| !o.label.trim().is_empty())
                .filter_map(|o| {
                    let payload = payload_of(&o.target, PayloadKind::QuickReply, book)?;
                    Some(ReplyContent::QuickReply(QuickReply {
                        text: o.label,
                        payload,
                        image: o.image,
                    }))
                })
                .collect();
            if replies.is_empty() {
                ReplyMessage::text(text)
            } else {
                ReplyMessage::structured(text, replies)
            }
        }
    }
}

fn card_of(profile: &BotProfile, card: CardDraft, book: &mut OfferBook) -> Card {
    let title = if card.title.trim().is_empty() {
        profile.name.clone()
    } else {
        card.title
    };
    let actions = card
        .buttons
        .into_iter()
        .filter(|b| !b.label.trim().is_empty())
        .filter_map(|b| match &b.target {
            Target::Link(url) => Some(CardAction {
                kind: CardActionKind::Link,
                text: Some(b.label.clone()),
                payload: None,
                url: Some(url.clone()),
            }),
            target => Some(CardAction {
                kind: CardActionKind::Postback,
                payload: Some(payload_of(target, PayloadKind::CardButton, book)?),
                text: Some(b.label.clone()),
                url: None,
            }),
        })
        .collect();
    Card {
        title,
        description: card.description.filter(|d| !d.trim().is_empty()),
        image: card.image,
        video: card.video,
        default_action: card.default_url.map(|url| CardAction {
            kind: CardActionKind::Link,
            text: None,
            payload: None,
            url: Some(url),
        }),
        actions,
    }
}

/// The payload of a reply button: allocated for an offer, verbatim for an agent payload.
fn payload_of(target: &Target, kind: PayloadKind, book: &mut OfferBook) -> Option<String> {
    match target {
        Target::Offer {
            slug_source,
            action,
        } => book.offer(kind, slug_source, action.clone()),
        Target::Payload(payload) => Some(payload.clone()),
        Target::Link(_) => None,
    }
}

/// Non-empty (after trimming) strings, trimmed and joined.
pub fn join_non_empty(parts: &[String], separator: &str) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(separator)
}

/// A card title made from longer text: its first non-empty line, folded, at most
/// 80 characters (cut at a word, with `…`).
pub fn derived_title(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let folded = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= MAX_DERIVED_TITLE_CHARS {
        return folded;
    }
    let mut cut = split_text(&folded, MAX_DERIVED_TITLE_CHARS - 1)
        .into_iter()
        .next()
        .unwrap_or_default();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_structured_table() {
        for (head, tail, max, want_before, want_text) in [
            ("Q?", "1. A", 0, vec![], "Q?\n1. A"),
            ("Q?", "1. A", 10, vec![], "Q?\n1. A"),
            ("", "1. A", 10, vec![], "1. A"),
            // The prompt's last part stays with the list when both fit.
            (
                "First sentence. Two.",
                "1. A",
                12,
                vec!["First", "sentence."],
                "Two.\n1. A",
            ),
            (
                "One. Two.",
                "1. A\n2. B",
                9,
                vec!["One. Two."],
                "1. A\n2. B",
            ),
            // A list too long on its own is cut at a line.
            ("Q", "1. Apple\n2. Banana", 10, vec!["Q"], "1. Apple"),
            ("Long prompt here", "", 8, vec!["Long", "prompt"], "here"),
        ] {
            let (before, text) = fit_structured(head, tail, max);
            assert_eq!(before, want_before, "{head:?} {tail:?} {max}");
            assert_eq!(text, want_text, "{head:?} {tail:?} {max}");
        }
    }

    #[test]
    fn derived_titles() {
        assert_eq!(derived_title("\n  Size   chart \nsecond"), "Size chart");
        let long = "word ".repeat(40);
        let title = derived_title(&long);
        assert!(title.chars().count() <= MAX_DERIVED_TITLE_CHARS, "{title}");
        assert!(title.ends_with("word…"), "{title}");
        assert_eq!(derived_title(""), "");
    }
}
