//! Store URLs: choosing and opening a backend, and printing a URL safely.

use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{SessionStore, StoreError};
use crate::embedded::EmbeddedStore;
use crate::memory::MemoryStore;

/// Listed in every URL error so the fix is in the message.
const ACCEPTED: &str = "accepted store URLs in this build: `embedded:PATH` (a file path, \
                        relative or absolute, e.g. `embedded:./data/gcbridge.db`) and `memory:`";

/// Backends named in the design that this build does not contain yet.
const PLANNED: &[&str] = &["redis", "rediss", "dynamodb", "azuretables"];

/// A parsed store URL.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Memory,
    Embedded(PathBuf),
}

/// Opens the session store a URL names.
///
/// Accepted: `memory:` ([`MemoryStore`]) and `embedded:PATH` ([`EmbeddedStore`]; `PATH` is
/// relative to the working directory or absolute; missing directories are created). The scheme
/// is case-insensitive and surrounding whitespace is ignored. `redis://`, `rediss://`,
/// `dynamodb://` and `azuretables://` are recognised but not available in this build and give
/// [`StoreError::Invalid`], as does anything else. Error messages show the URL through
/// [`redact_url`].
///
/// This is `async` because opening a store may do I/O (the embedded file's integrity check
/// today; connecting to a server for the cloud backends).
pub async fn open(url: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    match parse(url)? {
        Target::Memory => Ok(Arc::new(MemoryStore::new())),
        Target::Embedded(path) => Ok(Arc::new(EmbeddedStore::open(path).await?)),
    }
}

fn parse(url: &str) -> Result<Target, StoreError> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(StoreError::Invalid(format!(
            "`{}` is not a store URL (it has no scheme); {ACCEPTED}",
            redact_url(url)
        )));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "memory" if rest.is_empty() => Ok(Target::Memory),
        "memory" => Err(StoreError::Invalid(format!(
            "`{}`: the memory store takes nothing after `memory:`; {ACCEPTED}",
            redact_url(url)
        ))),
        "embedded" if rest.is_empty() => Err(StoreError::Invalid(
            "`embedded:` needs a file path, e.g. `embedded:./data/gcbridge.db`".to_owned(),
        )),
        // `embedded://x` would silently mean the path `//x`; ask for the intended form instead.
        "embedded" if rest.starts_with("//") => Err(StoreError::Invalid(format!(
            "`{}`: write the path straight after `embedded:`, e.g. \
             `embedded:/var/lib/gcbridge/gcbridge.db` or `embedded:./data/gcbridge.db`",
            redact_url(url)
        ))),
        "embedded" => Ok(Target::Embedded(PathBuf::from(rest))),
        planned if PLANNED.contains(&planned) => Err(StoreError::Invalid(format!(
            "the `{planned}` session store backend is not compiled into this build of gcbridge \
             (not yet supported); {ACCEPTED}"
        ))),
        _ => Err(StoreError::Invalid(format!(
            "`{}` has an unknown store scheme `{scheme}`; {ACCEPTED}",
            redact_url(url)
        ))),
    }
}

/// Returns `url` with any credential hidden, for logs and error messages.
///
/// In `scheme://user:password@host/...` the password becomes `***`; a user part without a
/// password (`scheme://token@host`) is hidden entirely, since some services put a token there.
/// Query parameters whose name suggests a secret (containing `pass`, `secret`, `token`, `key`,
/// `sig`, `credential` or `auth`, in any case) have their value replaced by `***`. Everything
/// else is kept so the URL stays useful for diagnosis.
pub fn redact_url(url: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (url, None),
    };
    let mut out = redact_userinfo(main);
    if let Some(query) = query {
        out.push('?');
        let params: Vec<String> = query.split('&').map(redact_param).collect();
        out.push_str(&params.join("&"));
    }
    out
}

fn redact_userinfo(main: &str) -> String {
    let Some(start) = main.find("://").map(|i| i + 3) else {
        return main.to_owned();
    };
    let rest = &main[start..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return main.to_owned();
    };
    let shown = match authority[..at].split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{}{shown}{}", &main[..start], &rest[at..])
}

fn redact_param(param: &str) -> String {
    const SECRET_WORDS: &[&str] = &[
        "pass",
        "secret",
        "token",
        "key",
        "sig",
        "credential",
        "auth",
    ];
    match param.split_once('=') {
        Some((name, _value)) => {
            let lower = name.to_ascii_lowercase();
            if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
                format!("{name}=***")
            } else {
                param.to_owned()
            }
        }
        None => param.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid_message(url: &str) -> String {
        match parse(url) {
            Err(StoreError::Invalid(msg)) => msg,
            other => panic!("{url}: expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn parses_accepted_forms() {
        let table = [
            ("memory:", Target::Memory),
            ("  MEMORY:\n", Target::Memory),
            (
                "embedded:./data/gcbridge.db",
                Target::Embedded("./data/gcbridge.db".into()),
            ),
            (
                "embedded:/var/lib/g.db",
                Target::Embedded("/var/lib/g.db".into()),
            ),
            ("Embedded:rel.db", Target::Embedded("rel.db".into())),
            (
                "embedded:C:\\data\\g.db",
                Target::Embedded("C:\\data\\g.db".into()),
            ),
        ];
        for (url, want) in table {
            assert_eq!(parse(url).unwrap(), want, "{url}");
        }
    }

    #[test]
    fn rejects_other_forms_with_a_helpful_message() {
        for url in [
            "redis://u:hunter2@localhost:6379/0",
            "dynamodb://sessions?region=eu-west-1",
            "azuretables://acct/sessions",
        ] {
            let msg = invalid_message(url);
            assert!(msg.contains("not compiled into this build"), "{msg}");
            assert!(msg.contains("embedded:PATH"), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        for url in [
            "postgres://u:hunter2@db/x",
            "./data/g.db",
            "",
            "memory:x",
            "embedded:",
            "embedded://data/g.db",
        ] {
            let msg = invalid_message(url);
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(msg.contains("embedded:"), "{url}: {msg}");
        }
    }

    #[test]
    fn redacts_credentials_only() {
        let table = [
            (
                "redis://user:hunter2@cache:6379/0",
                "redis://user:***@cache:6379/0",
            ),
            ("rediss://:hunter2@cache:6380", "rediss://:***@cache:6380"),
            ("https://tok3n@host/path", "https://***@host/path"),
            (
                "azuretables://acct/t?endpoint=http://127.0.0.1:1&SharedKey=abc&sig=x",
                "azuretables://acct/t?endpoint=http://127.0.0.1:1&SharedKey=***&sig=***",
            ),
            (
                "dynamodb://sessions?region=eu-west-1",
                "dynamodb://sessions?region=eu-west-1",
            ),
            ("embedded:./data/g.db", "embedded:./data/g.db"),
            ("memory:", "memory:"),
            ("redis://cache:6379/p@th", "redis://cache:6379/p@th"),
        ];
        for (url, want) in table {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }
}
