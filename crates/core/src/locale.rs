//! Genesys `languageCode` → BCP 47 locale for Direct Line (`mapping.md` §3.4).

/// Normalises a language code to BCP 47 casing: language lower case, 4-letter script title case,
/// 2-letter region upper case (`en-us` → `en-US`, `zh-hant-tw` → `zh-Hant-TW`, `_` read as `-`).
/// Returns `None` when the code is not a plausible language tag.
pub fn normalize(code: &str) -> Option<String> {
    let code = code.trim();
    if code.is_empty() || code.len() > 35 {
        return None;
    }
    let mut out = Vec::new();
    for (i, part) in code.split(['-', '_']).enumerate() {
        if part.is_empty() || part.len() > 8 || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let is_alpha = part.chars().all(|c| c.is_ascii_alphabetic());
        let formatted = match (i, part.len()) {
            (0, 2..=3) if is_alpha => part.to_ascii_lowercase(),
            (0, _) => return None,
            (_, 4) if is_alpha => {
                let lower = part.to_ascii_lowercase();
                let mut chars = lower.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => return None,
                }
            }
            (_, 2) if is_alpha => part.to_ascii_uppercase(),
            _ => part.to_ascii_lowercase(),
        };
        out.push(formatted);
    }
    Some(out.join("-"))
}

/// The locale to put on posted activities: the normalised `languageCode`, else `default`.
pub fn locale_for(language_code: Option<&str>, default: &str) -> String {
    language_code
        .and_then(normalize)
        .unwrap_or_else(|| default.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        for (input, want) in [
            ("en-us", Some("en-US")),
            ("EN-US", Some("en-US")),
            ("en_gb", Some("en-GB")),
            ("zh-hant-tw", Some("zh-Hant-TW")),
            ("es", Some("es")),
            ("es-419", Some("es-419")),
            ("ja-jp", Some("ja-JP")),
            ("", None),
            ("e", None),
            ("english", None),
            ("en--us", None),
            ("en-us!", None),
            ("1234", None),
        ] {
            assert_eq!(normalize(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn default_when_missing_or_invalid() {
        assert_eq!(locale_for(None, "en-US"), "en-US");
        assert_eq!(locale_for(Some("??"), "fr-FR"), "fr-FR");
        assert_eq!(locale_for(Some("de-de"), "en-US"), "de-DE");
    }
}
