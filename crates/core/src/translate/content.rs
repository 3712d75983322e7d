//! One bot `message` activity → its reply-message drafts, in the order of `mapping.md` §4.1.
//!
//! Without suggested actions: the text first, then the attachments in order. With suggested
//! actions: the attachments first, then one quick-reply prompt whose text is the activity's
//! text — the buttons belong under the question and must be the last thing the customer sees.
//! Consecutive hero, thumbnail and Adaptive cards of one activity are one card or carousel;
//! receipt, sign-in, OAuth and media cards are text; files follow the bot's `attachments`
//! setting.

use gcbridge_directline::{Activity, Attachment};

use crate::profile::BotProfile;

use super::adaptive::{AdaptiveDraft, adaptive_draft};
use super::cards::{hero_card, suggested_actions};
use super::degrade::card_text;
use super::draft::{CardDraft, Draft};
use super::media::media_draft;
use super::passthrough;
use super::text::format_text;

const CARD_PREFIX: &str = "application/vnd.microsoft.card.";
const HERO: &str = "application/vnd.microsoft.card.hero";
const THUMBNAIL: &str = "application/vnd.microsoft.card.thumbnail";
const ADAPTIVE: &str = "application/vnd.microsoft.card.adaptive";

/// The drafts of one bot message. A message with only `value`, `speak` or `channelData` gives
/// none.
pub fn message_drafts(profile: &BotProfile, activity: &Activity) -> Vec<Draft> {
    let raw = activity.text.as_deref().unwrap_or_default();
    let native = if profile.genesys_json_in_text {
        passthrough::parse(profile, raw)
    } else {
        None
    };
    let text = if native.is_some() {
        String::new()
    } else {
        format_text(raw, profile.markdown, profile.citations)
    };
    let attachments = activity
        .attachments
        .as_deref()
        .map(|a| attachment_drafts(profile, a, &text))
        .unwrap_or_default();
    let choices = activity
        .suggested_actions
        .as_ref()
        .and_then(|s| suggested_actions(&text, &s.actions));

    let mut out = Vec::new();
    match choices {
        Some(choices) => {
            out.extend(attachments);
            out.extend(native.unwrap_or_default());
            out.push(choices);
        }
        None => {
            let mut attachments = attachments;
            match native {
                Some(native) => out.extend(native),
                // A file right after the text takes the text as its caption: Genesys shows the
                // text of an attachment message as the caption.
                None => match attachments.first_mut() {
                    Some(Draft::File { caption, .. }) if caption.is_none() => {
                        *caption = Some(text).filter(|t| !t.trim().is_empty());
                    }
                    _ => out.push(Draft::Text(text)),
                },
            }
            out.extend(attachments);
        }
    }
    out.retain(|d| !matches!(d, Draft::Text(t) if t.trim().is_empty()));
    out
}

/// The attachments of one message, in order. `caption` is the activity's processed text, the
/// title of an image or video card without a name.
fn attachment_drafts(
    profile: &BotProfile,
    attachments: &[Attachment],
    caption: &str,
) -> Vec<Draft> {
    let mut out = Vec::new();
    let mut cards: Vec<CardDraft> = Vec::new();
    let flush = |cards: &mut Vec<CardDraft>, out: &mut Vec<Draft>| {
        if !cards.is_empty() {
            out.push(Draft::Cards {
                cards: std::mem::take(cards),
                text: None,
            });
        }
    };
    for attachment in attachments {
        let kind = attachment.content_type.trim().to_ascii_lowercase();
        let content = attachment
            .content
            .as_ref()
            .unwrap_or(&serde_json::Value::Null);
        if kind == HERO || kind == THUMBNAIL {
            cards.extend(hero_card(profile, content));
            continue;
        }
        if kind == ADAPTIVE {
            match adaptive_draft(profile, content) {
                AdaptiveDraft::Card(card) => cards.push(card),
                AdaptiveDraft::Other(draft) => {
                    flush(&mut cards, &mut out);
                    out.push(draft);
                }
            }
            continue;
        }
        flush(&mut cards, &mut out);
        if kind.starts_with(CARD_PREFIX) {
            // Receipt, sign-in, OAuth, animation, audio and video cards: their text, facts and
            // media addresses (`mapping.md` §4.4).
            out.extend(card_text(profile, content).map(Draft::Text));
        } else {
            out.extend(media_draft(profile, attachment, caption));
        }
    }
    flush(&mut cards, &mut out);
    out
}
