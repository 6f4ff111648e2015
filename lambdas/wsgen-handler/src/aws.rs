//! Signed calls to AWS APIs, for the clients of this crate (`@connections`, DynamoDB).
//!
//! The SDK's credentials (the configuration's provider, cached until they expire), the
//! SDK's SigV4 signer (`aws-sigv4`) and its retry settings, over one pooled keep-alive
//! hyper client per process. The SDK's generic request pipeline cost about 200 µs of CPU
//! per `PostToConnection` in the deployable profile; the service crates (DynamoDB's is
//! the largest crate of a handler's build) are what a cold bundle waits for. What these
//! clients send is a handful of fixed operations, so they are written here (see
//! BENCHMARKS.md).

use crate::Error;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_types::service_config::ServiceConfigKey;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// Credentials this close to their expiry are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// The configuration's credentials, fetched once and kept until shortly before they
/// expire; shared by every client made from one [`crate::Context`].
#[derive(Clone, Debug, Default)]
pub struct CredentialsCache {
    provider: Option<SharedCredentialsProvider>,
    current: Arc<Mutex<Option<Credentials>>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
}

impl CredentialsCache {
    /// A cache of `config`'s credentials provider.
    pub fn new(config: &crate::SdkConfig) -> CredentialsCache {
        CredentialsCache {
            provider: config.credentials_provider(),
            ..CredentialsCache::default()
        }
    }

    fn fresh(&self) -> Option<Credentials> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|c| {
                c.expiry().is_none_or(|at| {
                    at.duration_since(SystemTime::now())
                        .is_ok_and(|left| left > REFRESH_BEFORE_EXPIRY)
                })
            })
            .cloned()
    }

    pub(crate) async fn get(&self) -> Result<Credentials, Error> {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let provider = self.provider.as_ref().ok_or(
            "no AWS credentials provider is configured: load the configuration with `wsgen_handler::aws_config()`",
        )?;
        // One fetch at a time; the others wait for it.
        let _one = self.refresh.lock().await;
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let c = provider.provide_credentials().await.map_err(|e| {
            format!(
                "no AWS credentials: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
        Ok(c)
    }
}

/// One AWS API at one endpoint, signed for one service, with the configuration's
/// retry and timeout settings.
#[derive(Debug)]
pub(crate) struct Api {
    /// The endpoint's base URL, without a trailing `/`.
    pub base: String,
    /// What requests are signed for.
    region: Option<String>,
    /// The SigV4 service name (`execute-api`, `dynamodb`).
    service: &'static str,
    credentials: CredentialsCache,
    /// Attempts per call, and the backoff between them (the configuration's).
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    attempt_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
}

/// A response, before the API's client makes sense of it.
pub(crate) struct Answer {
    pub status: http::StatusCode,
    /// The error's type: the `x-amzn-errortype` header or the JSON body's `__type`,
    /// without its namespace (`ConditionalCheckFailedException`).
    pub kind: Option<String>,
    pub body: Bytes,
}

impl Answer {
    /// The answer of `status` with `body`; its error type from `header` (the
    /// `x-amzn-errortype` header) or else from the body.
    fn new(status: http::StatusCode, header: Option<String>, body: Bytes) -> Answer {
        let kind = header.or_else(|| {
            if status.is_success() {
                return None;
            }
            // The JSON protocols' `__type`: `com.amazonaws.dynamodb.v20120810#Name`.
            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
            let kind = v.get("__type")?.as_str()?;
            Some(kind.rsplit('#').next().unwrap_or(kind).to_string())
        });
        Answer { status, kind, body }
    }

    /// The error this answer is, retried as the SDK's standard mode retries: throttling,
    /// transient and server errors.
    pub fn failure(&self) -> Failure {
        let message = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                ["message", "Message"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(|m| m.as_str()).map(str::to_string))
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_string());
        let status = self.status;
        let kind = self
            .kind
            .clone()
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string());
        let retry = status == http::StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
            || RETRIED.contains(&kind.as_str())
            || kind.contains("Throttl");
        Failure {
            message: format!("{kind} ({status}): {message}"),
            retry,
        }
    }
}

/// The error types the SDK's standard retry mode retries whatever their status.
const RETRIED: &[&str] = &[
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionInProgressException",
    "BandwidthLimitExceeded",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "InternalError",
];

/// The endpoint setting of the service `service_id` (as the SDK names it: `DynamoDB`,
/// `ApiGatewayManagementApi`), which the SDK's clients read unless an endpoint was set
/// in code: `AWS_ENDPOINT_URL_<SERVICE>` (or the profile's), with the loader's fallback
/// to the general setting.
pub(crate) fn service_endpoint(config: &crate::SdkConfig, service_id: &str) -> Option<String> {
    if config.get_origin("endpoint_url").is_client_config() {
        return None;
    }
    config.service_config()?.load_config(
        ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("every field is set"),
    )
}

impl Api {
    /// The API at `base` for `service`, with `config`'s region (else `region`),
    /// retries and timeouts, and credentials from `credentials`.
    pub fn new(
        config: &crate::SdkConfig,
        service: &'static str,
        base: &str,
        region: Option<&str>,
        credentials: CredentialsCache,
    ) -> Api {
        let retry = config
            .retry_config()
            .cloned()
            .unwrap_or_else(aws_smithy_types::retry::RetryConfig::standard);
        let timeouts = config.timeout_config();
        Api {
            base: base.trim_end_matches('/').to_string(),
            region: config
                .region()
                .map(|r| r.as_ref())
                .or(region)
                .map(str::to_string),
            service,
            credentials,
            max_attempts: retry.max_attempts().max(1),
            initial_backoff: retry.initial_backoff(),
            max_backoff: retry.max_backoff(),
            attempt_timeout: timeouts.and_then(|t| t.operation_attempt_timeout()),
            connect_timeout: timeouts.and_then(|t| t.connect_timeout()),
        }
    }

    /// One call, retried as the configuration's retry settings say (failed
    /// connections, and answers `answer` calls a failure to retry): what `answer`
    /// makes of the response, or the error. `headers` are sent and signed.
    pub async fn call<T>(
        &self,
        method: &str,
        url: &str,
        headers: &[(&'static str, &str)],
        body: Bytes,
        answer: impl Fn(Answer) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        let mut attempt = 1;
        loop {
            let sent = self.attempt(method, url, headers, &body);
            let outcome = match self.attempt_timeout {
                Some(limit) => tokio::time::timeout(limit, sent).await.unwrap_or_else(|_| {
                    Err(Failure::retry(format!(
                        "no answer within {limit:?} (the configuration's attempt timeout)"
                    )))
                }),
                None => sent.await,
            };
            match outcome.and_then(&answer) {
                Ok(value) => return Ok(value),
                Err(failure) if failure.retry && attempt < self.max_attempts => {
                    // Exponential backoff with full jitter, as the SDK's standard mode.
                    let ceiling = self
                        .initial_backoff
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(self.max_backoff);
                    tokio::time::sleep(ceiling.mul_f64(fastrand::f64())).await;
                    attempt += 1;
                }
                Err(failure) => {
                    let tries = if attempt > 1 {
                        format!(" (after {attempt} attempts)")
                    } else {
                        String::new()
                    };
                    return Err(format!("{}{tries}", failure.message).into());
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: &str,
        url: &str,
        headers: &[(&'static str, &str)],
        body: &Bytes,
    ) -> Result<Answer, Failure> {
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request
            .body(Full::new(body.clone()))
            .map_err(|e| Failure::fatal(format!("not a valid request: {e}")))?;
        let credentials = self
            .credentials
            .get()
            .await
            .map_err(|e| Failure::fatal(e.to_string()))?;
        let region = self.region.as_deref().ok_or_else(|| {
            Failure::fatal(
                "no AWS region to sign with: set AWS_REGION (Lambda sets it)".to_string(),
            )
        })?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(self.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::fatal(format!("cannot sign: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .and_then(|r| sign(r, &params))
        .map_err(|e| Failure::fatal(format!("cannot sign: {e}")))?;
        signable
            .into_parts()
            .0
            .apply_to_request_http1x(&mut request);

        let sent = if url.starts_with("https:") {
            tls_client(self.connect_timeout).request(request).await
        } else {
            plain_client(self.connect_timeout).request(request).await
        };
        let response =
            sent.map_err(|e| Failure::retry(format!("the request failed: {}", chain(&e))))?;
        let status = response.status();
        let header_kind = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(':').next().unwrap_or(v).to_string());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::retry(format!("the answer broke off: {e}")))?
            .to_bytes();
        Ok(Answer::new(status, header_kind, body))
    }
}

/// Why an attempt failed, and whether another may succeed.
pub(crate) struct Failure {
    pub message: String,
    pub retry: bool,
}

impl Failure {
    pub fn retry(message: String) -> Failure {
        Failure {
            message,
            retry: true,
        }
    }
    pub fn fatal(message: String) -> Failure {
        Failure {
            message,
            retry: false,
        }
    }
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

type Body = Full<Bytes>;

fn connector(connect_timeout: Option<Duration>) -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    // The SDK's default.
    http.set_connect_timeout(Some(connect_timeout.unwrap_or(Duration::from_millis(3100))));
    http
}

/// One pool per process, for every stage and every event (the first client's connect
/// timeout sets it).
fn plain_client(connect_timeout: Option<Duration>) -> &'static Client<HttpConnector, Body> {
    static CLIENT: OnceLock<Client<HttpConnector, Body>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector(connect_timeout))
    })
}

/// The TLS pool, made on the first `https` call only (loading the system's roots
/// costs milliseconds that local runs over `http` never pay).
pub(crate) fn tls_client(
    connect_timeout: Option<Duration>,
) -> &'static Client<hyper_rustls::HttpsConnector<HttpConnector>, Body> {
    static CLIENT: OnceLock<Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>> =
        OnceLock::new();
    CLIENT.get_or_init(|| {
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(crypto())
            .unwrap_or_else(|_| {
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(empty_roots())
            })
            .https_or_http()
            .enable_http1();
        // HTTP/2 where the endpoint offers it, with feature `http2` (see Cargo.toml).
        #[cfg(feature = "http2")]
        let tls = tls.enable_http2();
        let tls = tls.wrap_connector(connector(connect_timeout));
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(tls)
    })
}

/// A TLS configuration that trusts nothing, when the system has no roots: every `https`
/// call then fails with an error naming the certificate.
fn empty_roots() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(crypto())
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

/// rustls' cryptography: ring, named rather than taken from the process default, which
/// rustls cannot choose when a build also has another provider (aws-lc, through a
/// dependency of the user's).
fn crypto() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::Answer;
    use http::StatusCode;

    fn answer(status: u16, body: &str) -> Answer {
        Answer::new(
            StatusCode::from_u16(status).unwrap(),
            None,
            body.to_string().into(),
        )
    }

    #[test]
    fn errors_are_named_by_their_type_and_retried_as_the_sdk_retries() {
        let throttled = answer(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#,
        );
        assert_eq!(
            throttled.kind.as_deref(),
            Some("ProvisionedThroughputExceededException")
        );
        let failure = throttled.failure();
        assert!(failure.retry);
        assert_eq!(
            failure.message,
            "ProvisionedThroughputExceededException (400 Bad Request): slow down"
        );
        let conditional = answer(
            400,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"no"}"#,
        );
        assert!(!conditional.failure().retry);
        assert!(answer(500, "oops").failure().retry);
        assert!(answer(429, "").failure().retry);
        let plain = answer(403, "denied").failure();
        assert!(!plain.retry);
        assert_eq!(plain.message, "Forbidden (403 Forbidden): denied");
        assert_eq!(answer(200, r#"{"__type":"x#Y"}"#).kind, None);
    }
}
