//! `gcbridge healthcheck`: a liveness probe for images without curl (the container's
//! `HEALTHCHECK`). One GET with a short timeout; exit code 0 when the answer is 2xx, 1 otherwise.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

/// `gcbridge healthcheck [--url URL]`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// URL to probe. Default: `/healthz` on the address of GCBRIDGE_LISTEN (a wildcard address
    /// is probed on loopback), or http://127.0.0.1:8080/healthz.
    #[arg(long)]
    url: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
}

/// Probes the URL; an error (and so exit code 1) unless it answers 2xx in time.
pub async fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let url = match args.url {
        Some(url) => url,
        None => default_url(std::env::var("GCBRIDGE_LISTEN").ok().as_deref()),
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_secs.max(1)))
        // A loopback probe must never go through a proxy set for outbound traffic.
        .no_proxy()
        .build()
        .context("building the HTTP client")?;
    let response = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("{url} did not answer"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("{url} answered HTTP {}", status.as_u16());
    }
    println!("ok    {url} answered HTTP {}", status.as_u16());
    Ok(())
}

/// `http://ADDR/healthz` for a listen address, with wildcard addresses replaced by loopback.
fn default_url(listen: Option<&str>) -> String {
    let listen = listen
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("127.0.0.1:8080");
    let addr = match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() && addr.is_ipv4() => {
            format!("127.0.0.1:{}", addr.port())
        }
        Ok(addr) if addr.ip().is_unspecified() => format!("[::1]:{}", addr.port()),
        Ok(addr) => addr.to_string(),
        Err(_) => listen.to_owned(),
    };
    format!("http://{addr}/healthz")
}

#[cfg(test)]
mod tests {
    use super::default_url;

    #[test]
    fn wildcard_listen_addresses_are_probed_on_loopback() {
        assert_eq!(default_url(None), "http://127.0.0.1:8080/healthz");
        assert_eq!(
            default_url(Some("0.0.0.0:9000")),
            "http://127.0.0.1:9000/healthz"
        );
        assert_eq!(default_url(Some("[::]:9000")), "http://[::1]:9000/healthz");
        assert_eq!(
            default_url(Some("10.1.2.3:80")),
            "http://10.1.2.3:80/healthz"
        );
    }
}
