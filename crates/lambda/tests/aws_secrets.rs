//! The real Secrets Manager / Parameter Store source (`AwsSecrets`) against moto, the local AWS
//! server `scripts/backends.sh start` runs for the DynamoDB tests (it serves every AWS API on one
//! port): signed calls, SecureString decryption, the not-found mapping, and a whole cold-start
//! configuration resolved from references.
//!
//! Credentials and region come from the standard variables the backends' env file sets (dummy
//! keys, `us-east-1`). Without `GCBRIDGE_TEST_DYNAMODB_ENDPOINT` the tests are skipped with a
//! message, or fail when `CI` or `GCBRIDGE_REQUIRE_BACKENDS=1` is set.

#![cfg(feature = "aws-secrets")]

use std::collections::BTreeMap;

use gcbridge_lambda::secrets::{AwsSecrets, SecretError, SecretRef, SecretSource};
use gcbridge_lambda::startup::config_from_env;
use serde_json::{Value, json};

fn moto_endpoint() -> Option<String> {
    const VAR: &str = "GCBRIDGE_TEST_DYNAMODB_ENDPOINT";
    if let Some(value) = std::env::var(VAR).ok().filter(|v| !v.is_empty()) {
        return Some(value);
    }
    let flag = |name: &str| {
        std::env::var(name)
            .ok()
            .is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
    };
    assert!(
        !(flag("CI") || flag("GCBRIDGE_REQUIRE_BACKENDS")),
        "{VAR} is not set and CI or GCBRIDGE_REQUIRE_BACKENDS=1 forbids skipping: run \
         `scripts/backends.sh start` and source its env file"
    );
    eprintln!("SKIPPED: {VAR} is not set (run scripts/backends.sh start and source its env file)");
    None
}

/// A unique name per run, so reruns against the same server do not collide.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Test setup through the same JSON protocol (moto does not check signatures; it reads the
/// service from the credential scope).
async fn aws_call(endpoint: &str, service: &str, target: &str, body: Value) {
    let response = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=dummy/20260101/us-east-1/{service}/aws4_request, \
                 SignedHeaders=host, Signature=00"
            ),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("setup call");
    let status = response.status();
    assert!(
        status.is_success(),
        "{target}: HTTP {status}: {}",
        response.text().await.unwrap_or_default()
    );
}

async fn source(endpoint: &str) -> AwsSecrets {
    let endpoint = endpoint.to_owned();
    AwsSecrets::from_env(&move |name| (name == "AWS_ENDPOINT_URL").then(|| endpoint.clone()))
        .await
        .expect("AWS configuration")
}

#[tokio::test]
async fn secrets_manager_and_parameter_store_values_are_read() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let secret_name = unique("gcbridge/directline");
    let parameter_name = format!("/{}", unique("gcbridge/genesys"));
    aws_call(
        &endpoint,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        json!({"Name": secret_name, "SecretString": "dl-secret-from-secrets-manager"}),
    )
    .await;
    aws_call(
        &endpoint,
        "ssm",
        "AmazonSSM.PutParameter",
        json!({"Name": parameter_name, "Value": "old-value,new-value", "Type": "SecureString"}),
    )
    .await;

    let aws = source(&endpoint).await;
    assert_eq!(
        aws.fetch(&SecretRef::SecretsManager(secret_name.clone()))
            .await
            .expect("secret"),
        "dl-secret-from-secrets-manager"
    );
    assert_eq!(
        aws.fetch(&SecretRef::Parameter(parameter_name.clone()))
            .await
            .expect("parameter"),
        "old-value,new-value",
        "a SecureString comes back decrypted"
    );

    let missing = aws
        .fetch(&SecretRef::SecretsManager(unique("gcbridge/missing")))
        .await
        .expect_err("missing secret");
    assert!(matches!(missing, SecretError::NotFound(_)), "{missing:?}");
    let missing = aws
        .fetch(&SecretRef::Parameter(format!("/{}", unique("missing"))))
        .await
        .expect_err("missing parameter");
    assert!(matches!(missing, SecretError::NotFound(_)), "{missing:?}");
    assert!(missing.to_string().contains("does not exist"), "{missing}");
}

#[tokio::test]
async fn a_cold_start_configuration_is_resolved_from_references() {
    let Some(endpoint) = moto_endpoint() else {
        return;
    };
    let genesys = unique("gcbridge/genesys");
    let key = format!("/{}", unique("gcbridge/user-id-key"));
    aws_call(
        &endpoint,
        "secretsmanager",
        "secretsmanager.CreateSecret",
        json!({"Name": genesys, "SecretString": "genesys-from-secrets-manager"}),
    )
    .await;
    aws_call(
        &endpoint,
        "ssm",
        "AmazonSSM.PutParameter",
        json!({"Name": key, "Value": "user-id-key-from-ssm", "Type": "SecureString"}),
    )
    .await;
    let env: BTreeMap<String, String> = [
        (
            "GCBRIDGE_STORE",
            "dynamodb://gcbridge-sessions?region=us-east-1",
        ),
        ("GCBRIDGE_GENESYS_SECRET_ARN", genesys.as_str()),
        ("GCBRIDGE_USER_ID_KEY_SSM", key.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = config_from_env(env, &source(&endpoint).await)
        .await
        .expect("configuration");
    assert!(gcbridge_app::secret::matches_any(
        b"genesys-from-secrets-manager",
        &config.genesys_secrets
    ));
    assert_eq!(
        config.user_id_key.as_ref().map(|k| k.expose().to_owned()),
        Some("user-id-key-from-ssm".to_owned())
    );
}
