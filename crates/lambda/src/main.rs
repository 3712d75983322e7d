//! `gcbridge-lambda`: the AWS Lambda bootstrap (runtime `provided.al2023`).
//!
//! Without arguments it is the function: one cold start (secrets resolved, configuration
//! checked, store and Direct Line clients built), then `lambda_http` serves events until the
//! sandbox is recycled. `gcbridge-lambda check` runs the same cold start in a shell with the
//! function's environment and prints `gcbridge check`'s verdicts.

use std::collections::BTreeMap;
use std::process::ExitCode;

use gcbridge_app::check::{Level, Platform};
use gcbridge_app::dl::DirectLineClient;
use gcbridge_app::telemetry;
use gcbridge_lambda::secrets::{self, SecretSource, StaticSecrets};
use gcbridge_lambda::startup::{self, StartupError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gcbridge-lambda: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match args.first().map(String::as_str) {
        None => match runtime.block_on(serve()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // Logged where Lambda collects it (the init error in CloudWatch).
                tracing::error!("{e}");
                eprintln!("gcbridge-lambda: {e}");
                ExitCode::FAILURE
            }
        },
        Some("check") if args.len() == 1 => runtime.block_on(check()),
        Some("--version" | "-V") => {
            println!("gcbridge-lambda {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(_) => {
            eprintln!(
                "usage: gcbridge-lambda          (the Lambda function; needs the Lambda runtime environment)\n       gcbridge-lambda check    (check the configuration, secrets, Direct Line and the store)"
            );
            ExitCode::from(2)
        }
    }
}

/// The function: cold start, then events until the sandbox goes away.
async fn serve() -> Result<(), lambda_http::Error> {
    telemetry::init("info");
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let source = secret_source(&env).await;
    let state = startup::state_from_env(env, source.as_ref()).await?;
    tracing::info!(
        store = %gcbridge_store::redact_url(&state.config.store_url),
        bots = state.config.bots.len(),
        "gcbridge-lambda ready"
    );
    lambda_http::run(gcbridge_lambda::service(state)).await
}

/// The real AWS source when the environment holds references (loading the AWS configuration
/// costs cold-start time, so only then), a source that explains itself otherwise.
async fn secret_source(env: &BTreeMap<String, String>) -> Box<dyn SecretSource> {
    let has_references = secrets::references(env).map_or(true, |r| !r.is_empty());
    if !has_references {
        return Box::new(StaticSecrets::default());
    }
    #[cfg(feature = "aws-secrets")]
    {
        let lookup = |name: &str| env.get(name).cloned();
        match secrets::AwsSecrets::from_env(&lookup).await {
            Ok(source) => Box::new(source),
            Err(e) => Box::new(StaticSecrets::unavailable(e.to_string())),
        }
    }
    #[cfg(not(feature = "aws-secrets"))]
    {
        Box::new(StaticSecrets::unavailable(
            "this build of gcbridge-lambda cannot read AWS secrets (cargo feature `aws-secrets`)",
        ))
    }
}

/// `gcbridge-lambda check`: the cold start's verdicts, then `gcbridge check`'s.
async fn check() -> ExitCode {
    telemetry::init("warn");
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let source = secret_source(&env).await;
    let config = match startup::config_from_env(env, source.as_ref()).await {
        Ok(config) => {
            println!(
                "ok    configuration for Lambda ({} bot(s), secrets resolved)",
                config.bots.len()
            );
            config
        }
        Err(StartupError::NotForLambda(problems)) => {
            for problem in problems {
                println!("FAIL  {problem}");
            }
            return ExitCode::FAILURE;
        }
        Err(e) => {
            println!("FAIL  {e}");
            return ExitCode::FAILURE;
        }
    };
    let dl = match DirectLineClient::new() {
        Ok(dl) => dl,
        Err(e) => {
            println!("FAIL  HTTP client: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for verdict in gcbridge_app::check::run(&config, Platform::Lambda, &dl).await {
        failed |= verdict.level == Level::Fail;
        println!("{verdict}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
