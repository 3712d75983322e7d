//! `gcbridge check`: loads the configuration as `serve` would and prints one verdict per item
//! (environment, secrets, each bot's Direct Line agent, the session store); exits non-zero when
//! any item fails. The probes live in `gcbridge_app::check`, shared with `gcbridge-lambda check`.

use std::path::PathBuf;

use anyhow::bail;
use gcbridge_app::AppConfig;
use gcbridge_app::check::{Level, Platform};
use gcbridge_app::dl::DirectLineClient;

/// Runs every check and prints its verdicts; fails when the configuration or any item fails.
pub async fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = match AppConfig::load(config.as_deref()) {
        Ok(c) => {
            println!("ok    configuration ({} bot(s))", c.bots.len());
            c
        }
        Err(e) => {
            println!("FAIL  {e}");
            bail!("configuration is invalid");
        }
    };
    let platform = Platform::detect(&|name| std::env::var(name).ok());
    let dl = DirectLineClient::new()?;
    let mut failed = false;
    for verdict in gcbridge_app::check::run(&config, platform, &dl).await {
        failed |= verdict.level == Level::Fail;
        println!("{verdict}");
    }
    if failed {
        bail!("some checks failed");
    }
    Ok(())
}
