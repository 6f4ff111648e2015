//! The AWS configuration a function finds in its environment.
//!
//! Lambda hands a function everything the SDK needs in environment variables: the region
//! (`AWS_REGION`) and the execution role's credentials (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); `wsgen dev` and local AWS engines add
//! endpoints (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`). Reading them here rather
//! than through aws-config's provider chain (profiles, SSO, STS, the instance metadata
//! service) keeps aws-config and the STS client out of every handler binary, which a cold
//! bundle would otherwise compile and link (BENCHMARKS.md). The settings read are the ones
//! aws-config reads from the environment, with the same names and precedence.
//!
//! A handler that needs the whole chain (a profile, SSO) builds its configuration with
//! aws-config and passes it on: every API of this crate takes an [`SdkConfig`].

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::origin::Origin;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use aws_types::SdkConfig;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// aws-config's default connect timeout, kept so that a handler behaves as before.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The AWS configuration from the environment (with feature `sdk`, and
/// [`crate::https_client`] for the SDK's clients):
///
/// - region: `AWS_REGION`, else `AWS_DEFAULT_REGION`;
/// - credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and the optional
///   `AWS_SESSION_TOKEN` and `AWS_ACCOUNT_ID`, read when a request first needs them (a
///   missing key is an error of that request, naming the variables);
/// - endpoints: `AWS_ENDPOINT_URL_<SERVICE>` (`AWS_ENDPOINT_URL_DYNAMODB`, ...), else
///   `AWS_ENDPOINT_URL`, both ignored when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`;
/// - retries: the standard mode with `AWS_MAX_ATTEMPTS` attempts (default 3), or
///   `AWS_RETRY_MODE=adaptive`; a connect timeout of 3.1 s;
/// - `AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`.
///
/// Values that do not parse (`AWS_MAX_ATTEMPTS=many`) keep the default.
pub async fn aws_config() -> SdkConfig {
    load(Vars::process())
}

/// Where settings are read: the process's environment, or a fixed set (tests).
#[derive(Clone, Debug)]
struct Vars(Option<Arc<BTreeMap<String, String>>>);

impl Vars {
    fn process() -> Vars {
        Vars(None)
    }

    /// The variable's value, `None` when unset or blank.
    fn get(&self, name: &str) -> Option<String> {
        let value = match &self.0 {
            None => std::env::var(name).ok(),
            Some(vars) => vars.get(name).cloned(),
        };
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, name: &str) -> Option<bool> {
        self.get(name)
            .and_then(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })
    }
}

fn load(vars: Vars) -> SdkConfig {
    let ignore_endpoints = vars
        .flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .unwrap_or(false);
    let region = vars
        .get("AWS_REGION")
        .or_else(|| vars.get("AWS_DEFAULT_REGION"))
        .map(Region::new);
    let attempts = vars
        .get("AWS_MAX_ATTEMPTS")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n > 0);
    let mut retry = match vars.get("AWS_RETRY_MODE").as_deref() {
        Some("adaptive") => RetryConfig::adaptive(),
        _ => RetryConfig::standard(),
    };
    if let Some(attempts) = attempts {
        retry = retry.with_max_attempts(attempts);
    }
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(EnvCredentials(vars.clone())))
        .retry_config(retry)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        );
    builder.set_region(region);
    #[cfg(feature = "sdk")]
    builder.set_http_client(Some(crate::https_client()));
    builder.set_use_fips(vars.flag("AWS_USE_FIPS_ENDPOINT"));
    builder.set_use_dual_stack(vars.flag("AWS_USE_DUALSTACK_ENDPOINT"));
    if !ignore_endpoints {
        if let Some(url) = vars.get("AWS_ENDPOINT_URL") {
            builder.insert_origin("endpoint_url", Origin::shared_environment_variable());
            builder.set_endpoint_url(Some(url));
        }
        builder = builder.service_config(EnvServiceConfig(vars));
    }
    builder.build()
}

/// A service's own settings, as the SDK's clients ask for them
/// (`AWS_ENDPOINT_URL` for `DynamoDB` is `AWS_ENDPOINT_URL_DYNAMODB`), falling back to the
/// setting for every service, as aws-config's does.
#[derive(Debug)]
struct EnvServiceConfig(Vars);

impl LoadServiceConfig for EnvServiceConfig {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.0
            .get(&format!("{}_{service}", key.env()))
            .or_else(|| self.0.get(key.env()))
    }
}

/// The credentials in the environment, read on each request for them (the SDK and
/// [`crate::CredentialsCache`] keep them).
#[derive(Debug)]
struct EnvCredentials(Vars);

impl EnvCredentials {
    fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let missing = |name: &str| {
            CredentialsError::not_loaded(format!(
                "{name} is not set: a function gets its role's credentials from Lambda in \
                 AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN; elsewhere set \
                 them, or build the configuration with aws-config"
            ))
        };
        let access = self
            .0
            .get("AWS_ACCESS_KEY_ID")
            .ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?;
        let secret = self
            .0
            .get("AWS_SECRET_ACCESS_KEY")
            .or_else(|| self.0.get("SECRET_ACCESS_KEY"))
            .ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?;
        let mut builder = Credentials::builder()
            .access_key_id(access)
            .secret_access_key(secret)
            .provider_name("Environment");
        builder.set_session_token(self.0.get("AWS_SESSION_TOKEN"));
        builder.set_account_id(self.0.get("AWS_ACCOUNT_ID").map(Into::into));
        Ok(builder.build())
    }
}

impl ProvideCredentials for EnvCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(self.credentials())
    }
}

#[cfg(test)]
mod tests {
    use super::{load, Vars};
    use aws_credential_types::provider::ProvideCredentials;
    use aws_types::service_config::ServiceConfigKey;
    use std::sync::Arc;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars(Some(Arc::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )))
    }

    fn endpoint_of(config: &aws_types::SdkConfig, service: &str) -> Option<String> {
        config.service_config()?.load_config(
            ServiceConfigKey::builder()
                .service_id(service)
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .unwrap(),
        )
    }

    #[tokio::test]
    async fn lambda_s_environment_gives_region_and_credentials() {
        let config = load(vars(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "AKIA1"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]));
        assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
        let creds = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap();
        assert_eq!(creds.access_key_id(), "AKIA1");
        assert_eq!(creds.secret_access_key(), "secret");
        assert_eq!(creds.session_token(), Some("token"));
        assert_eq!(config.endpoint_url(), None);
        assert_eq!(config.retry_config().unwrap().max_attempts(), 3);
        assert_eq!(config.http_client().is_some(), cfg!(feature = "sdk"));
        assert_eq!(
            load(vars(&[("AWS_DEFAULT_REGION", "us-east-1")]))
                .region()
                .unwrap()
                .as_ref(),
            "us-east-1"
        );
    }

    #[tokio::test]
    async fn missing_credentials_fail_the_request_naming_the_variable() {
        let config = load(vars(&[("AWS_ACCESS_KEY_ID", "AKIA1")]));
        let err = config
            .credentials_provider()
            .unwrap()
            .provide_credentials()
            .await
            .unwrap_err();
        let text = format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(&err)
        );
        assert!(text.contains("AWS_SECRET_ACCESS_KEY is not set"), "{text}");
    }

    #[test]
    fn a_service_s_endpoint_wins_over_the_general_one() {
        let config = load(vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
        ]));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(!config.get_origin("endpoint_url").is_client_config());
        assert_eq!(
            endpoint_of(&config, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            endpoint_of(&config, "ApiGatewayManagementApi").as_deref(),
            Some("http://127.0.0.1:4566")
        );
        let ignored = load(vars(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ]));
        assert_eq!(ignored.endpoint_url(), None);
        assert_eq!(endpoint_of(&ignored, "DynamoDB"), None);
    }

    #[test]
    fn retries_and_flags_follow_the_environment_and_bad_values_keep_defaults() {
        let config = load(vars(&[
            ("AWS_MAX_ATTEMPTS", "5"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
        ]));
        assert_eq!(config.retry_config().unwrap().max_attempts(), 5);
        assert_eq!(config.use_fips(), Some(true));
        assert_eq!(config.use_dual_stack(), None);
        let config = load(vars(&[
            ("AWS_MAX_ATTEMPTS", "many"),
            ("AWS_USE_FIPS_ENDPOINT", "yes"),
        ]));
        assert_eq!(config.retry_config().unwrap().max_attempts(), 3);
        assert_eq!(config.use_fips(), None);
    }
}
