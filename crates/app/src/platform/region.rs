//! Genesys Cloud regions (`genesys-bot-connector.md` §7.1): a region is named by its AWS region,
//! its Genesys environment name or its domain, and everything gcbridge calls lives below that
//! domain (`login.` for tokens, `api.` for the Platform API, `apps.` for the agent UI).

use std::fmt;
use std::str::FromStr;

/// One Genesys Cloud region of the Platform SDKs' region tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownRegion {
    /// AWS region name, e.g. `us-east-1` (`eusc-de-east-1` for the EU sovereign cloud).
    pub aws: &'static str,
    /// Genesys environment name, e.g. `prod`, `prod-euw1`, `fedramp-use2-core`.
    pub environment: &'static str,
    /// Domain below which `login.`, `api.` and `apps.` live.
    pub domain: &'static str,
    /// Other accepted names: the short code of the environment name (`euw1`) and the
    /// aliases the SDKs accept.
    pub aliases: &'static [&'static str],
}

/// Every region of §7.1, in the spec's order.
pub const REGIONS: [KnownRegion; 18] = [
    known("us-east-1", "prod", "mypurecloud.com", &["use1"]),
    known(
        "us-east-2",
        "fedramp-use2-core",
        "use2.us-gov-pure.cloud",
        &["use2", "fedramp-use2"],
    ),
    known("us-west-2", "prod-usw2", "usw2.pure.cloud", &["usw2"]),
    known("ca-central-1", "prod-cac1", "cac1.pure.cloud", &["cac1"]),
    known("sa-east-1", "prod-sae1", "sae1.pure.cloud", &["sae1"]),
    known("mx-central-1", "prod-mxc1", "mxc1.pure.cloud", &["mxc1"]),
    known("eu-west-1", "prod-euw1", "mypurecloud.ie", &["euw1"]),
    known("eu-west-2", "prod-euw2", "euw2.pure.cloud", &["euw2"]),
    known("eu-central-1", "prod-euc1", "mypurecloud.de", &["euc1"]),
    known("eu-central-2", "prod-euc2", "euc2.pure.cloud", &["euc2"]),
    known("me-central-1", "prod-mec1", "mec1.pure.cloud", &["mec1"]),
    known("ap-south-1", "prod-aps1", "aps1.pure.cloud", &["aps1"]),
    known("ap-northeast-1", "prod-apne1", "mypurecloud.jp", &["apne1"]),
    known(
        "ap-northeast-2",
        "prod-apne2",
        "apne2.pure.cloud",
        &["apne2"],
    ),
    known(
        "ap-northeast-3",
        "prod-apne3",
        "apne3.pure.cloud",
        &["apne3"],
    ),
    known(
        "ap-southeast-1",
        "prod-apse1",
        "apse1.pure.cloud",
        &["apse1"],
    ),
    known(
        "ap-southeast-2",
        "prod-apse2",
        "mypurecloud.com.au",
        &["apse2"],
    ),
    // The spec only says "`eusc` family" for the environment; the JavaScript SDK's service
    // discovery names it `eusc-edee1-core`. Both spellings and the short code are accepted.
    known(
        "eusc-de-east-1",
        "eusc-edee1-core",
        "edee1.eusc-pure.cloud",
        &["edee1", "eusc"],
    ),
];

const fn known(
    aws: &'static str,
    environment: &'static str,
    domain: &'static str,
    aliases: &'static [&'static str],
) -> KnownRegion {
    KnownRegion {
        aws,
        environment,
        domain,
        aliases,
    }
}

/// A Genesys Cloud region, reduced to the domain every host name derives from. Build it with
/// [`Region::parse`] (or `str::parse`); the domain is always lower case and a valid host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    domain: String,
}

/// A region name that is neither a known region nor a usable domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown Genesys Cloud region {input:?}: give an AWS region (us-east-1, eu-west-1, ap-southeast-2, ...), an environment name (prod, prod-euw2, fedramp-use2-core, ...) or a domain (mypurecloud.com, mypurecloud.de, usw2.pure.cloud, ...); any full domain such as example.pure.cloud is accepted as is"
)]
pub struct RegionError {
    /// What was given, trimmed.
    pub input: String,
}

impl Region {
    /// Accepts, case-insensitively: an AWS region name (`eu-west-1`, also with underscores as in
    /// the SDKs' `eu_west_1`), an environment name (`prod-euw1`), a short code (`euw1`), a known
    /// domain (`mypurecloud.ie`), or any full domain, also written as a host or URL
    /// (`https://login.mypurecloud.ie/` gives `mypurecloud.ie`).
    pub fn parse(input: &str) -> Result<Self, RegionError> {
        let error = || RegionError {
            input: input.trim().to_owned(),
        };
        let lower = input.trim().to_ascii_lowercase();
        let name = lower.replace('_', "-");
        if let Some(region) = REGIONS.iter().find(|r| {
            r.aws == name
                || r.environment == name
                || r.domain == name
                || r.aliases.contains(&&*name)
        }) {
            return Ok(Self::known(region));
        }
        // Not a name: perhaps a domain, a host below it, or a URL of such a host.
        let host = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"))
            .unwrap_or(&lower);
        let host = host.split('/').next().unwrap_or_default();
        let host = host.strip_suffix('.').unwrap_or(host);
        let domain = ["login.", "api.", "apps."]
            .iter()
            .find_map(|prefix| host.strip_prefix(prefix))
            .filter(|rest| rest.contains('.'))
            .unwrap_or(host);
        if is_domain(domain) {
            Ok(Self {
                domain: domain.to_owned(),
            })
        } else {
            Err(error())
        }
    }

    /// The region of a table row.
    pub fn known(region: &KnownRegion) -> Self {
        Self {
            domain: region.domain.to_owned(),
        }
    }

    /// The domain, e.g. `mypurecloud.ie`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The table row of this domain, if it is one of §7.1.
    pub fn known_region(&self) -> Option<&'static KnownRegion> {
        REGIONS.iter().find(|r| r.domain == self.domain)
    }

    /// `https://login.<domain>`: where tokens are issued.
    pub fn login_url(&self) -> String {
        format!("https://login.{}", self.domain)
    }

    /// `https://api.<domain>`: the Platform API.
    pub fn api_url(&self) -> String {
        format!("https://api.{}", self.domain)
    }

    /// `https://apps.<domain>`: the Genesys Cloud user interface.
    pub fn apps_url(&self) -> String {
        format!("https://apps.{}", self.domain)
    }
}

impl FromStr for Region {
    type Err = RegionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known_region() {
            Some(r) => write!(f, "{} ({})", self.domain, r.aws),
            None => f.write_str(&self.domain),
        }
    }
}

/// A lower-case DNS name of at least two labels whose last label has a letter (so neither a
/// bare word nor an IP address).
fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && s.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && labels
            .last()
            .is_some_and(|l| l.bytes().any(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §7.1, copied row by row: AWS region, environment name, domain, token URL.
    const TABLE: [(&str, &str, &str, &str); 18] = [
        (
            "us-east-1",
            "prod",
            "mypurecloud.com",
            "https://login.mypurecloud.com/oauth/token",
        ),
        (
            "us-east-2",
            "fedramp-use2-core",
            "use2.us-gov-pure.cloud",
            "https://login.use2.us-gov-pure.cloud/oauth/token",
        ),
        (
            "us-west-2",
            "prod-usw2",
            "usw2.pure.cloud",
            "https://login.usw2.pure.cloud/oauth/token",
        ),
        (
            "ca-central-1",
            "prod-cac1",
            "cac1.pure.cloud",
            "https://login.cac1.pure.cloud/oauth/token",
        ),
        (
            "sa-east-1",
            "prod-sae1",
            "sae1.pure.cloud",
            "https://login.sae1.pure.cloud/oauth/token",
        ),
        (
            "mx-central-1",
            "prod-mxc1",
            "mxc1.pure.cloud",
            "https://login.mxc1.pure.cloud/oauth/token",
        ),
        (
            "eu-west-1",
            "prod-euw1",
            "mypurecloud.ie",
            "https://login.mypurecloud.ie/oauth/token",
        ),
        (
            "eu-west-2",
            "prod-euw2",
            "euw2.pure.cloud",
            "https://login.euw2.pure.cloud/oauth/token",
        ),
        (
            "eu-central-1",
            "prod-euc1",
            "mypurecloud.de",
            "https://login.mypurecloud.de/oauth/token",
        ),
        (
            "eu-central-2",
            "prod-euc2",
            "euc2.pure.cloud",
            "https://login.euc2.pure.cloud/oauth/token",
        ),
        (
            "me-central-1",
            "prod-mec1",
            "mec1.pure.cloud",
            "https://login.mec1.pure.cloud/oauth/token",
        ),
        (
            "ap-south-1",
            "prod-aps1",
            "aps1.pure.cloud",
            "https://login.aps1.pure.cloud/oauth/token",
        ),
        (
            "ap-northeast-1",
            "prod-apne1",
            "mypurecloud.jp",
            "https://login.mypurecloud.jp/oauth/token",
        ),
        (
            "ap-northeast-2",
            "prod-apne2",
            "apne2.pure.cloud",
            "https://login.apne2.pure.cloud/oauth/token",
        ),
        (
            "ap-northeast-3",
            "prod-apne3",
            "apne3.pure.cloud",
            "https://login.apne3.pure.cloud/oauth/token",
        ),
        (
            "ap-southeast-1",
            "prod-apse1",
            "apse1.pure.cloud",
            "https://login.apse1.pure.cloud/oauth/token",
        ),
        (
            "ap-southeast-2",
            "prod-apse2",
            "mypurecloud.com.au",
            "https://login.mypurecloud.com.au/oauth/token",
        ),
        (
            "eusc_de_east_1",
            "eusc-edee1-core",
            "edee1.eusc-pure.cloud",
            "https://login.edee1.eusc-pure.cloud/oauth/token",
        ),
    ];

    #[test]
    fn every_region_by_every_name() {
        for (aws, environment, domain, token_url) in TABLE {
            let upper_domain = domain.to_ascii_uppercase();
            let names = [
                aws.to_owned(),
                aws.to_ascii_uppercase(),
                aws.replace('-', "_"),
                environment.to_owned(),
                environment.to_ascii_uppercase(),
                domain.to_owned(),
                format!("  {upper_domain} "),
                format!("login.{domain}"),
                format!("https://api.{domain}/"),
                format!("https://apps.{upper_domain}/directory/"),
            ];
            for name in names {
                let region = Region::parse(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(region.domain(), domain, "{name}");
                assert_eq!(format!("{}/oauth/token", region.login_url()), token_url);
                assert_eq!(region.api_url(), format!("https://api.{domain}"));
                assert_eq!(region.apps_url(), format!("https://apps.{domain}"));
                assert_eq!(
                    region.known_region().map(|r| r.domain),
                    Some(domain),
                    "{name}"
                );
            }
        }
        assert_eq!(TABLE.len(), REGIONS.len());
    }

    #[test]
    fn names_are_unambiguous() {
        let mut seen = std::collections::HashSet::new();
        for r in &REGIONS {
            for name in [r.aws, r.environment, r.domain]
                .into_iter()
                .chain(r.aliases.iter().copied())
            {
                assert!(seen.insert(name), "{name} names two regions");
            }
        }
    }

    #[test]
    fn short_codes_and_aliases() {
        for (name, domain) in [
            ("euw1", "mypurecloud.ie"),
            ("USE1", "mypurecloud.com"),
            ("apse2", "mypurecloud.com.au"),
            ("fedramp-use2", "use2.us-gov-pure.cloud"),
            ("eusc", "edee1.eusc-pure.cloud"),
            ("eusc-de-east-1", "edee1.eusc-pure.cloud"),
        ] {
            assert_eq!(Region::parse(name).expect(name).domain(), domain);
        }
    }

    #[test]
    fn any_full_domain_is_accepted() {
        let region = Region::parse("Login.Example.Pure.Cloud").expect("domain");
        assert_eq!(region.domain(), "example.pure.cloud");
        assert_eq!(region.known_region(), None);
        assert_eq!(region.login_url(), "https://login.example.pure.cloud");
        assert_eq!(region.to_string(), "example.pure.cloud");
        assert_eq!(
            Region::parse("euw1").expect("known").to_string(),
            "mypurecloud.ie (eu-west-1)"
        );
        // A bare `api.` prefix of a two-label name is the domain itself, not a prefix.
        assert_eq!(Region::parse("api.cloud").expect("d").domain(), "api.cloud");
    }

    #[test]
    fn unknown_names_are_explained() {
        for bad in [
            "",
            "  ",
            "europe",
            "eu-west-9",
            "prod-xyz1",
            "127.0.0.1",
            "my purecloud.com",
            "-bad.pure.cloud",
            "mypurecloud.com:8443",
            "under_score.pure.cloud",
        ] {
            let e = Region::parse(bad).expect_err(bad);
            let text = e.to_string();
            assert!(text.contains("unknown Genesys Cloud region"), "{text}");
            assert!(text.contains("us-east-1"), "{text}");
            assert!(text.contains("prod-euw2"), "{text}");
            assert!(text.contains("mypurecloud.de"), "{text}");
            assert_eq!(e.input, bad.trim());
        }
    }
}
