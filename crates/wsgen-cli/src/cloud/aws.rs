//! AWS access for bootstrap, deploy, destroy and diff: one options struct, the
//! standard credential chain, and one place that turns SDK errors into messages.

use super::CloudError;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::time::{Duration, SystemTime};

/// `--profile`, `--region` and `--endpoint-url`, as the AWS CLI takes them. Unset
/// fields come from the standard chain: the environment (`AWS_PROFILE`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, ...), then `~/.aws/config` and `~/.aws/credentials`, SSO, the
/// container and instance metadata.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    /// An AWS-compatible engine (moto, LocalStack) instead of AWS.
    pub endpoint_url: Option<String>,
}

/// How long to look for credentials before saying there are none (instance metadata
/// lookups off EC2 are what take time).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(20);
/// A TCP connect that takes longer than this is an unreachable endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per request (throttling and transient errors back off exponentially),
/// unless `AWS_MAX_ATTEMPTS` says otherwise.
const MAX_ATTEMPTS: u32 = 6;
/// Attempts of the first request (STS GetCallerIdentity), which checks the endpoint.
const CHECK_ATTEMPTS: u32 = 2;
/// Default pause between polls of a change set or of a stack's events.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The clients of one account and region.
#[derive(Clone, Debug)]
pub struct Aws {
    pub account: String,
    pub region: String,
    /// Where requests go: the endpoint URL, or `AWS` for the real thing.
    pub target: String,
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// `wsgen logs`.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// To count the items a change would lose.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Pause between polls of a change set or a stack's events.
    pub poll: Duration,
    /// The configuration the clients were made from (credentials, endpoint), for
    /// requests without an SDK client ([`super::account`]).
    pub config: SdkConfig,
}

impl Aws {
    /// Loads the configuration, checks that there is a region and credentials, and
    /// asks STS who they belong to. Each failure is one clear error, within seconds.
    pub async fn connect(opts: &AwsOptions) -> Result<Aws, CloudError> {
        let config = load(opts).await;
        if config.region().is_none() {
            return Err(CloudError::NoRegion);
        }
        check_credentials(&config).await?;
        let sts = aws_sdk_sts::Client::new(&config);
        let target = target_of(&config);
        // A refused connection or a wrong endpoint is not worth six attempts: say so
        // within a second or two.
        let identity = sts
            .get_caller_identity()
            .customize()
            .config_override(
                aws_sdk_sts::config::Config::builder()
                    .retry_config(RetryConfig::standard().with_max_attempts(CHECK_ATTEMPTS)),
            )
            .send()
            .await
            .map_err(|e| aws_error(&target, "ask STS who the credentials belong to", e))?;
        let account = identity.account().unwrap_or_default().to_string();
        Ok(Aws::new(&config, account))
    }

    /// Clients for `config` (its region must be set) in `account`.
    pub fn new(config: &SdkConfig, account: String) -> Aws {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            // AWS-compatible engines on loopback have no per-bucket host names.
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Aws {
            account,
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            target: target_of(config),
            cfn: aws_sdk_cloudformation::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3),
            lambda: aws_sdk_lambda::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            poll: POLL_INTERVAL,
            config: config.clone(),
        }
    }

    /// The asset bucket `wsgen bootstrap` creates and templates name.
    pub fn asset_bucket(&self) -> String {
        wsgen::asset_bucket_name(&self.account, &self.region)
    }

    /// Turns an SDK error of `action` into a [`CloudError`].
    pub fn error<E>(&self, action: &str, err: SdkError<E, HttpResponse>) -> CloudError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        aws_error(&self.target, action, err)
    }

    /// Where the account and region are, for messages: `account 1234 in eu-west-1`.
    pub fn place(&self) -> String {
        format!("account {} in {}", self.account, self.region)
    }
}

/// The SDK's HTTPS client: rustls with ring (the SDK's default client, on aws-lc, is not
/// built). Every `SdkConfig` of wsgen's, the tests' included, takes it.
pub fn https_client() -> aws_sdk_cloudformation::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The SDK's configuration for `opts`: the standard chain for credentials and region,
/// with wsgen's timeouts and retries.
async fn load(opts: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() {
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    }
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &opts.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &opts.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}

/// Credentials from the standard chain and the configured region (if any), to sign
/// requests of wsgen's own (`wsgen connect`'s handshake) without calling AWS first.
pub async fn signing_identity(
    opts: &AwsOptions,
) -> Result<(aws_credential_types::Credentials, Option<String>), CloudError> {
    let config = load(opts).await;
    let credentials = check_credentials(&config).await?;
    Ok((credentials, config.region().map(|r| r.to_string())))
}

/// Adds SigV4 headers for `service` in `region` to `request` (a request to `url`
/// without a body): for the few requests wsgen makes without an SDK client.
pub fn sign_request<B>(
    credentials: aws_credential_types::Credentials,
    region: &str,
    service: &str,
    url: &str,
    time: SystemTime,
    request: &mut hyper::Request<B>,
) -> Result<(), String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let method = request.method().as_str().to_string();
    let signed = SignableRequest::new(&method, url, std::iter::empty(), SignableBody::Bytes(&[]))
        .and_then(|r| sign(r, &params))
        .map_err(|e| e.to_string())?;
    signed.into_parts().0.apply_to_request_http1x(request);
    Ok(())
}

fn target_of(config: &SdkConfig) -> String {
    config
        .endpoint_url()
        .map(str::to_string)
        .unwrap_or_else(|| "AWS".into())
}

/// What went wrong in the credential chain, in one line (the SDK's own text lists every
/// provider it tried and a debug dump).
fn credentials_problem(e: &aws_credential_types::provider::error::CredentialsError) -> String {
    use aws_credential_types::provider::error::CredentialsError as E;
    let cause = || {
        std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string())
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    match e {
        E::CredentialsNotLoaded(_) => "none were found in the environment, the profile files, web identity, the container or instance metadata".into(),
        E::ProviderTimedOut(_) => "the credential provider timed out".into(),
        E::InvalidConfiguration(_) => format!("invalid configuration: {}", cause()),
        _ => cause(),
    }
}

async fn check_credentials(
    config: &SdkConfig,
) -> Result<aws_credential_types::Credentials, CloudError> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = config.credentials_provider() else {
        return Err(CloudError::NoCredentials(
            "no credential provider is configured".into(),
        ));
    };
    let found = tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials()).await;
    let creds = match found {
        Err(_) => {
            return Err(CloudError::NoCredentials(format!(
                "none found within {}s",
                CREDENTIALS_TIMEOUT.as_secs()
            )))
        }
        Ok(Err(e)) => return Err(CloudError::NoCredentials(credentials_problem(&e))),
        Ok(Ok(c)) => c,
    };
    if let Some(expiry) = creds.expiry() {
        if expiry <= SystemTime::now() {
            return Err(CloudError::CredentialsRejected {
                code: "ExpiredToken".into(),
                message: "the credentials have expired".into(),
            });
        }
    }
    Ok(creds)
}

/// Error codes that mean the credentials are wrong or out of date.
const CREDENTIAL_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "InvalidToken",
];

/// Turns an SDK error into a [`CloudError`]: unreachable endpoints, rejected credentials
/// and service errors (with AWS's code and message) each read differently.
pub fn aws_error<E>(target: &str, action: &str, err: SdkError<E, HttpResponse>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &err {
        SdkError::DispatchFailure(_) => CloudError::Unreachable {
            target: target.to_string(),
            detail: root_cause(&err),
        },
        SdkError::TimeoutError(_) => CloudError::Unreachable {
            target: target.to_string(),
            detail: "no answer in time".into(),
        },
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            let Some(code) = err.code().map(str::to_string) else {
                // Not an AWS error: something else answers at the endpoint.
                return CloudError::Aws {
                    action: action.to_string(),
                    code: format!("HTTP {status}"),
                    message: format!(
                        "{target} answered without an AWS error code: is it an AWS endpoint (or an AWS-compatible engine)?"
                    ),
                };
            };
            let message = err.message().unwrap_or_default().to_string();
            if CREDENTIAL_CODES.contains(&code.as_str()) {
                CloudError::CredentialsRejected { code, message }
            } else {
                CloudError::Aws {
                    action: action.to_string(),
                    code,
                    message,
                }
            }
        }
        _ => CloudError::Aws {
            action: action.to_string(),
            code: "Error".into(),
            message: DisplayErrorContext(&err).to_string(),
        },
    }
}

/// The innermost cause of an error, which is the one that says what went wrong
/// (`Connection refused (os error 111)`, `dns error: ...`), without the layers above it.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The error code of a service error, if the error is one.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(_) => err.code(),
        _ => None,
    }
}

/// What Ctrl-C does now: a message to print, and what to undo first.
struct OnInterrupt {
    message: Option<String>,
    /// Run before exiting (deleting a change set that has not run, say).
    undo: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

/// What Ctrl-C should do now (set while a stack operation is prepared or watched).
static ON_INTERRUPT: std::sync::Mutex<OnInterrupt> = std::sync::Mutex::new(OnInterrupt {
    message: None,
    undo: None,
});

/// How long Ctrl-C waits for an undo before exiting anyway.
const UNDO_TIMEOUT: Duration = Duration::from_secs(20);

/// Sets what Ctrl-C prints before wsgen exits (`None`: a plain "interrupted").
pub fn on_interrupt(message: Option<String>) {
    *ON_INTERRUPT.lock().unwrap_or_else(|e| e.into_inner()) = OnInterrupt {
        message,
        undo: None,
    };
}

/// Sets what Ctrl-C undoes (`undo` runs to its end first), then prints `message`.
pub fn on_interrupt_undo(
    message: String,
    undo: impl std::future::Future<Output = ()> + Send + 'static,
) {
    *ON_INTERRUPT.lock().unwrap_or_else(|e| e.into_inner()) = OnInterrupt {
        message: Some(message),
        undo: Some(Box::pin(undo)),
    };
}

/// Runs `future` on a new multi-threaded tokio runtime (the CLI is synchronous at the
/// top; the AWS verbs are async inside). Ctrl-C exits with 130 at any point, first
/// undoing what must not be left half-done, and saying what goes on without wsgen (a
/// stack operation continues in CloudFormation).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            let now = std::mem::replace(
                &mut *ON_INTERRUPT.lock().unwrap_or_else(|e| e.into_inner()),
                OnInterrupt {
                    message: None,
                    undo: None,
                },
            );
            eprintln!();
            if let Some(undo) = now.undo {
                eprintln!("interrupted: cleaning up (Ctrl-C again to leave it as it is)");
                let finished = tokio::select! {
                    done = tokio::time::timeout(UNDO_TIMEOUT, undo) => done.is_ok(),
                    _ = tokio::signal::ctrl_c() => false,
                };
                if !finished {
                    eprintln!("interrupted: the clean-up did not finish: check the stack in the CloudFormation console");
                    std::process::exit(130);
                }
            }
            match now.message {
                Some(m) => eprintln!("interrupted: {m}"),
                None => eprintln!("interrupted"),
            }
            std::process::exit(130);
        }
    });
    runtime.block_on(future)
}
