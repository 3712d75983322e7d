//! Images, video, audio and files → drafts (`mapping.md` §4.6).
//!
//! With `attachments = true` (the DBC integration has *Enable File Attachments* on) a file is a
//! Genesys `Attachment` in a `Text` message. Otherwise Genesys must not receive one — it fails
//! the turn — so images and videos become cards and other files `name: url` text.

use gcbridge_directline::Attachment;
use gcbridge_genesys::ReplyAttachment;
use sha2::{Digest, Sha256};

use crate::profile::BotProfile;

use super::cards::web_url;
use super::draft::{CardDraft, Draft, derived_title};
use super::text::plain_label;

/// Shown instead of a file whose address the customer cannot open: a `data:` or `blob:` URI, or
/// a private Direct Line upload link that needs the conversation's token.
pub const FILE_NOT_DISPLAYABLE: &str = "A file was sent but cannot be displayed here.";

/// Hex characters of the URL digest used as an attachment id: short, stable for one URL.
const ID_HEX_CHARS: usize = 16;

/// The Genesys media type of a MIME type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// `image/*`.
    Image,
    /// `video/*`.
    Video,
    /// `audio/*`.
    Audio,
    /// Anything else.
    File,
}

impl MediaKind {
    /// Reads a MIME type (case-insensitive).
    pub fn of_mime(mime: &str) -> Self {
        let mime = mime.trim().to_ascii_lowercase();
        if mime.starts_with("image/") {
            MediaKind::Image
        } else if mime.starts_with("video/") {
            MediaKind::Video
        } else if mime.starts_with("audio/") {
            MediaKind::Audio
        } else {
            MediaKind::File
        }
    }

    /// The `mediaType` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "Image",
            MediaKind::Video => "Video",
            MediaKind::Audio => "Audio",
            MediaKind::File => "File",
        }
    }
}

/// A media or file attachment of the agent. `caption` is the activity's processed text: the
/// title of an image or video card without a name. `None` when there is no `contentUrl` (inline
/// JSON such as a handoff transcript is not for the customer).
pub fn media_draft(profile: &BotProfile, attachment: &Attachment, caption: &str) -> Option<Draft> {
    let url = attachment.content_url.as_deref()?.trim();
    if url.is_empty() {
        return None;
    }
    let Some(url) = displayable_url(url) else {
        return Some(Draft::Text(FILE_NOT_DISPLAYABLE.to_owned()));
    };
    let kind = MediaKind::of_mime(&attachment.content_type);
    let name = attachment
        .name
        .as_deref()
        .map(plain_label)
        .filter(|n| !n.is_empty());
    if profile.attachments {
        let mime = attachment.content_type.trim();
        return Some(Draft::File {
            caption: None,
            attachment: reply_attachment(kind, &url, name.as_deref(), Some(mime)),
        });
    }
    let card_title = |default: &str| {
        name.clone()
            .or_else(|| Some(derived_title(caption)).filter(|t| !t.is_empty()))
            .unwrap_or_else(|| default.to_owned())
    };
    match kind {
        MediaKind::Image => Some(Draft::Cards {
            cards: vec![CardDraft {
                title: card_title("Image"),
                image: Some(url.clone()),
                notes: vec![url],
                ..CardDraft::default()
            }],
            text: None,
        }),
        MediaKind::Video => Some(Draft::Cards {
            cards: vec![CardDraft {
                title: card_title("Video"),
                video: Some(url.clone()),
                notes: vec![url],
                ..CardDraft::default()
            }],
            text: None,
        }),
        MediaKind::Audio | MediaKind::File => {
            let name = name.or_else(|| last_path_segment(&url).map(str::to_owned));
            Some(Draft::Text(match name {
                Some(name) => format!("{name}: {url}"),
                None => url,
            }))
        }
    }
}

/// The Genesys attachment for a file at `url`: id = short hash of the URL, file name = `name`
/// or the URL's last path segment (or `file`).
pub fn reply_attachment(
    kind: MediaKind,
    url: &str,
    name: Option<&str>,
    mime: Option<&str>,
) -> ReplyAttachment {
    let filename = name
        .map(str::to_owned)
        .or_else(|| last_path_segment(url).map(str::to_owned))
        .unwrap_or_else(|| "file".to_owned());
    ReplyAttachment {
        id: attachment_id(url),
        media_type: kind.as_str().to_owned(),
        url: url.to_owned(),
        filename,
        mime: mime.filter(|m| !m.is_empty()).map(str::to_owned),
        sha256: None,
        content_size_bytes: None,
    }
}

/// A short, stable id for a URL: the first hex characters of its SHA-256.
pub fn attachment_id(url: &str) -> String {
    let mut id = hex::encode(Sha256::digest(url.as_bytes()));
    id.truncate(ID_HEX_CHARS);
    id
}

/// The address when a customer can open it: a web address that is not a private Direct Line
/// upload link (those need the conversation's token, which never leaves gcbridge).
pub fn displayable_url(url: &str) -> Option<String> {
    let url = web_url(url)?;
    let lower = url.to_ascii_lowercase();
    let private =
        lower.contains("/v3/directline/") || lower.contains("directline.botframework.com");
    (!private).then_some(url)
}

/// `https://host/a/b/report.pdf?x=1` → `report.pdf`; `None` when the path is empty.
pub fn last_path_segment(url: &str) -> Option<&str> {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    let after_scheme = without_query
        .split_once("://")
        .map_or(without_query, |(_, rest)| rest);
    let (_, path) = after_scheme.split_once('/')?;
    path.rsplit('/').next().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn attachment(v: Value) -> Attachment {
        serde_json::from_value(v).expect("attachment")
    }

    #[test]
    fn without_attachments_table() {
        let profile = BotProfile::default();
        let card = |title: &str, image: Option<&str>, video: Option<&str>, url: &str| {
            Some(Draft::Cards {
                cards: vec![CardDraft {
                    title: title.into(),
                    image: image.map(str::to_owned),
                    video: video.map(str::to_owned),
                    notes: vec![url.into()],
                    ..CardDraft::default()
                }],
                text: None,
            })
        };
        for (input, caption, want) in [
            (
                json!({"contentType":"image/png","contentUrl":"https://a.example/s.png","name":"size-chart.png"}),
                "Here it is.",
                card(
                    "size-chart.png",
                    Some("https://a.example/s.png"),
                    None,
                    "https://a.example/s.png",
                ),
            ),
            (
                json!({"contentType":"image/png","contentUrl":"https://a.example/s.png"}),
                "Here is the size chart.\nMore.",
                card(
                    "Here is the size chart.",
                    Some("https://a.example/s.png"),
                    None,
                    "https://a.example/s.png",
                ),
            ),
            (
                json!({"contentType":"IMAGE/JPEG","contentUrl":"https://a.example/s"}),
                "",
                card(
                    "Image",
                    Some("https://a.example/s"),
                    None,
                    "https://a.example/s",
                ),
            ),
            (
                json!({"contentType":"video/mp4","contentUrl":"https://a.example/v.mp4"}),
                "",
                card(
                    "Video",
                    None,
                    Some("https://a.example/v.mp4"),
                    "https://a.example/v.mp4",
                ),
            ),
            (
                json!({"contentType":"application/pdf","contentUrl":"https://a.example/d/report.pdf?sig=1"}),
                "",
                Some(Draft::Text(
                    "report.pdf: https://a.example/d/report.pdf?sig=1".into(),
                )),
            ),
            (
                json!({"contentType":"audio/mpeg","contentUrl":"https://a.example"}),
                "",
                Some(Draft::Text("https://a.example".into())),
            ),
            (
                json!({"contentType":"image/png","contentUrl":"data:image/png;base64,AAAA"}),
                "",
                Some(Draft::Text(FILE_NOT_DISPLAYABLE.into())),
            ),
            (
                json!({"contentType":"image/png","contentUrl":"blob:xyz"}),
                "",
                Some(Draft::Text(FILE_NOT_DISPLAYABLE.into())),
            ),
            (
                json!({"contentType":"image/png","contentUrl":"https://europe.directline.botframework.com/v3/directline/conversations/c/attachments/a"}),
                "",
                Some(Draft::Text(FILE_NOT_DISPLAYABLE.into())),
            ),
            (
                json!({"contentType":"image/png","contentUrl":"  "}),
                "",
                None,
            ),
            (json!({"contentType":"image/png"}), "", None),
        ] {
            assert_eq!(
                media_draft(&profile, &attachment(input.clone()), caption),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn with_attachments_every_kind_is_an_attachment() {
        let profile = BotProfile {
            attachments: true,
            ..BotProfile::default()
        };
        for (mime, kind, name, filename) in [
            ("image/png", "Image", Some("chart.png"), "chart.png"),
            ("video/mp4", "Video", None, "f.bin"),
            ("audio/ogg", "Audio", None, "f.bin"),
            ("application/pdf", "File", None, "f.bin"),
            ("", "File", None, "f.bin"),
        ] {
            let input = json!({"contentType": mime, "contentUrl": "https://a.example/x/f.bin", "name": name});
            let Some(Draft::File {
                caption,
                attachment,
            }) = media_draft(&profile, &attachment(input), "caption")
            else {
                panic!("{mime}: not a file");
            };
            assert_eq!(caption, None);
            assert_eq!(attachment.media_type, kind, "{mime}");
            assert_eq!(attachment.filename, filename, "{mime}");
            assert_eq!(attachment.url, "https://a.example/x/f.bin");
            assert_eq!(attachment.id, attachment_id("https://a.example/x/f.bin"));
            assert_eq!(attachment.id.len(), ID_HEX_CHARS);
            assert_eq!(
                attachment.mime.as_deref(),
                Some(mime).filter(|m| !m.is_empty())
            );
        }
        let data = json!({"contentType": "image/png", "contentUrl": "data:image/png;base64,AAAA"});
        assert_eq!(
            media_draft(&profile, &attachment(data), ""),
            Some(Draft::Text(FILE_NOT_DISPLAYABLE.into()))
        );
    }

    #[test]
    fn path_segments() {
        assert_eq!(last_path_segment("https://h/a/b.txt#x"), Some("b.txt"));
        assert_eq!(last_path_segment("https://h/"), None);
        assert_eq!(last_path_segment("https://h"), None);
        assert_eq!(last_path_segment("https://h/dir/"), None);
    }
}
