//! Checks shared by the translation tests: a body Genesys would accept, whatever the input.

use std::collections::HashSet;

use gcbridge_core::profile::BotProfile;
use gcbridge_genesys::{CardActionKind, ReplyContent, ReplyKind, TurnResponse};

/// Panics unless `response` keeps the reply contract (`genesys-bot-connector.md` §4.3) and the
/// bot's limits (`mapping.md` §4.7): every message has text, structured messages have content
/// and no attachment, attachments only when the bot allows them, no empty title or label,
/// `text` + `payload` unique in a message, gcbridge payloads unique in the answer, at most
/// `max_messages` messages, `max_card_buttons` buttons, 10 cards and `max_quick_replies`
/// quick replies.
pub fn assert_valid_body(profile: &BotProfile, response: &TurnResponse) {
    let messages = &response.reply_messages;
    if profile.max_messages > 0 {
        assert!(
            messages.len() <= profile.max_messages,
            "{} messages",
            messages.len()
        );
    }
    let mut turn_payloads = HashSet::new();
    for message in messages {
        let text = message.text.as_deref().unwrap_or_default();
        assert!(!text.trim().is_empty(), "message without text: {message:?}");
        let mut pairs = HashSet::new();
        let mut check_pair = |label: &str, payload: &str| {
            assert!(!label.trim().is_empty(), "empty label in {message:?}");
            assert!(!payload.is_empty(), "empty payload in {message:?}");
            assert!(
                pairs.insert((label.to_owned(), payload.to_owned())),
                "duplicate {label}/{payload}"
            );
            if payload.starts_with("gcb:") {
                assert!(
                    turn_payloads.insert(payload.to_owned()),
                    "payload {payload} offered twice"
                );
            }
        };
        match message.kind {
            ReplyKind::Text => {
                for content in &message.content {
                    let ReplyContent::Attachment(a) = content else {
                        panic!("Text message with {content:?}");
                    };
                    assert!(
                        profile.attachments,
                        "attachment sent to a bot without attachments"
                    );
                    assert!(a.url.starts_with("http"), "{a:?}");
                    assert!(!a.id.is_empty() && !a.filename.is_empty(), "{a:?}");
                }
            }
            ReplyKind::Structured => {
                assert!(!message.content.is_empty(), "Structured without content");
                let mut quick_replies = 0;
                for content in &message.content {
                    let cards = match content {
                        ReplyContent::QuickReply(q) => {
                            quick_replies += 1;
                            check_pair(&q.text, &q.payload);
                            continue;
                        }
                        ReplyContent::Card(card) => std::slice::from_ref(card),
                        ReplyContent::Carousel(carousel) => {
                            assert!(
                                (1..=10).contains(&carousel.cards.len()),
                                "carousel of {}",
                                carousel.cards.len()
                            );
                            carousel.cards.as_slice()
                        }
                        ReplyContent::Attachment(_) => panic!("attachment in a Structured message"),
                    };
                    for card in cards {
                        assert!(!card.title.trim().is_empty(), "card without title");
                        assert!(card.actions.len() <= profile.max_card_buttons, "{card:?}");
                        for action in &card.actions {
                            let label = action.text.as_deref().unwrap_or_default();
                            match action.kind {
                                CardActionKind::Link => {
                                    assert!(!label.trim().is_empty(), "{card:?}");
                                    assert!(action.url.is_some() && action.payload.is_none());
                                }
                                CardActionKind::Postback => {
                                    check_pair(
                                        label,
                                        action.payload.as_deref().unwrap_or_default(),
                                    );
                                }
                            }
                        }
                    }
                }
                assert!(
                    quick_replies <= profile.max_quick_replies,
                    "{quick_replies} quick replies"
                );
            }
        }
    }
    // The body survives a round trip through the wire types.
    let json = serde_json::to_value(response).expect("serialise");
    let back: TurnResponse = serde_json::from_value(json).expect("parse back");
    assert_eq!(&back, response);
}
