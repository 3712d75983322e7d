//! Store URLs: choosing and opening a backend, and printing a URL safely.

use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{SessionStore, StoreError};
use crate::embedded::EmbeddedStore;
use crate::memory::MemoryStore;

/// The URL schemes of the server backends, with the cargo feature that compiles each in.
const SERVER_BACKENDS: &[(&str, &str)] = &[
    ("redis", "redis"),
    ("rediss", "redis"),
    ("dynamodb", "dynamodb"),
    ("azuretables", "azure"),
];

/// The store URLs this build accepts, listed in every URL error so the fix is in the message.
fn accepted() -> String {
    let mut forms = vec![
        "`embedded:PATH` (a file path, relative or absolute, e.g. `embedded:./data/gcbridge.db`)",
        "`memory:`",
    ];
    if cfg!(feature = "redis") {
        forms.push("`redis://[:PASSWORD@]HOST[:PORT][/DB]` (or `rediss://` for TLS)");
    }
    if cfg!(feature = "dynamodb") {
        forms.push("`dynamodb://TABLE?region=REGION[&endpoint=URL]`");
    }
    if cfg!(feature = "azure") {
        forms.push("`azuretables://ACCOUNT/TABLE[?endpoint=URL]`");
    }
    format!("accepted store URLs in this build: {}", forms.join(", "))
}

/// A parsed store URL.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Memory,
    Embedded(PathBuf),
    #[cfg(feature = "redis")]
    Redis(String),
    #[cfg(feature = "dynamodb")]
    DynamoDb(crate::dynamodb_backend::DynamoDbOptions),
    #[cfg(feature = "azure")]
    Azure(crate::azure_tables::AzureTablesUrl),
}

/// Opens the session store a URL names.
///
/// Always accepted: `memory:` ([`MemoryStore`]) and `embedded:PATH` ([`EmbeddedStore`];
/// `PATH` is relative to the working directory or absolute; missing directories are created).
/// With the matching cargo feature: `redis://` and `rediss://` (feature `redis`),
/// `dynamodb://TABLE?region=R[&endpoint=URL]` (feature `dynamodb`) and
/// `azuretables://ACCOUNT/TABLE[?endpoint=URL]` (feature `azure`); a build without the feature
/// names it in its [`StoreError::Invalid`]. The scheme is case-insensitive and surrounding
/// whitespace is ignored. Error messages show the URL through [`redact_url`]. Cloud
/// credentials come from each cloud's standard environment, never from the URL.
///
/// Opening a server backend does not contact the server (a server that is down at start-up
/// must not stop gcbridge from starting and recovering later); use [`SessionStore::ping`] to
/// check it. Opening is `async` because the embedded file is checked and the AWS configuration
/// is resolved here.
pub async fn open(url: &str) -> Result<Arc<dyn SessionStore>, StoreError> {
    match parse(url)? {
        Target::Memory => Ok(Arc::new(MemoryStore::new())),
        Target::Embedded(path) => Ok(Arc::new(EmbeddedStore::open(path).await?)),
        #[cfg(feature = "redis")]
        Target::Redis(url) => Ok(Arc::new(crate::RedisStore::open(&url)?)),
        #[cfg(feature = "dynamodb")]
        Target::DynamoDb(options) => Ok(Arc::new(crate::DynamoDbStore::open(options).await?)),
        #[cfg(feature = "azure")]
        Target::Azure(url) => Ok(Arc::new(crate::AzureTableStore::open_url(url)?)),
    }
}

fn parse(url: &str) -> Result<Target, StoreError> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(StoreError::Invalid(format!(
            "`{}` is not a store URL (it has no scheme); {}",
            redact_url(url),
            accepted()
        )));
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "memory" if rest.is_empty() => Ok(Target::Memory),
        "memory" => Err(StoreError::Invalid(format!(
            "`{}`: the memory store takes nothing after `memory:`; {}",
            redact_url(url),
            accepted()
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
        #[cfg(feature = "redis")]
        "redis" | "rediss" => Ok(Target::Redis(url.to_owned())),
        #[cfg(feature = "dynamodb")]
        "dynamodb" => crate::dynamodb_backend::parse_url(url).map(Target::DynamoDb),
        #[cfg(feature = "azure")]
        "azuretables" => crate::azure_tables::parse_url(url).map(Target::Azure),
        other => match SERVER_BACKENDS.iter().find(|(s, _)| *s == other) {
            Some((_, feature)) => Err(StoreError::Invalid(format!(
                "the `{other}` session store backend is not compiled into this build of \
                 gcbridge (build it with the cargo feature `{feature}` of gcbridge-store; the \
                 released `gcbridge` binary has every backend); {}",
                accepted()
            ))),
            None => Err(StoreError::Invalid(format!(
                "`{}` has an unknown store scheme `{scheme}`; {}",
                redact_url(url),
                accepted()
            ))),
        },
    }
}

/// Splits `a=1&b=2` into decoded `(name, value)` pairs (`%XX` and `+` decoded), for the query
/// strings of store URLs.
#[cfg(any(feature = "dynamodb", feature = "azure"))]
pub(crate) fn query_pairs(query: &str) -> Result<Vec<(String, String)>, StoreError> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

#[cfg(any(feature = "dynamodb", feature = "azure"))]
fn percent_decode(text: &str) -> Result<String, StoreError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = hex else {
                    return Err(StoreError::Invalid(
                        "a store URL has a `%` that is not followed by two hex digits".to_owned(),
                    ));
                };
                out.push(byte);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| StoreError::Invalid("a store URL decodes to invalid UTF-8".to_owned()))
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
        let compiled_out = [
            (
                "redis://u:hunter2@localhost:6379/0",
                cfg!(feature = "redis"),
            ),
            (
                "dynamodb://sessions?region=eu-west-1",
                cfg!(feature = "dynamodb"),
            ),
            ("azuretables://acct/sessions", cfg!(feature = "azure")),
        ];
        for (url, _) in compiled_out.iter().filter(|(_, compiled)| !compiled) {
            let msg = invalid_message(url);
            assert!(msg.contains("not compiled into this build"), "{msg}");
            assert!(msg.contains("cargo feature"), "{msg}");
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
