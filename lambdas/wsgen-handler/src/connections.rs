//! The `@connections` management API: send to, look up and close connections.
//!
//! A small client of its own instead of the AWS SDK's: the same credentials (the
//! configuration's provider, cached until they expire), the same SigV4 signer
//! (`aws-sigv4`), the same endpoint settings and retry settings, over one pooled,
//! keep-alive hyper client per process. The SDK's generic request pipeline cost about
//! 200 µs of CPU per `PostToConnection` in the deployable profile, the Lambda time a
//! broadcast pays for every delivery; this client costs a fraction of it (see
//! BENCHMARKS.md, `bench/post-cpu.sh`).

use crate::{Error, WsRequest};
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

/// Overrides the `@connections` endpoint (the local runtime sets it); read as the AWS
/// SDK reads it (the environment, or the profile's `apigatewaymanagementapi`
/// `endpoint_url`).
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI";

/// The SigV4 service name of the `@connections` API.
const SERVICE: &str = "execute-api";

/// Credentials this close to their expiry are fetched again.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// The outcome of a post or a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The connection is closed (410 GoneException): forget it.
    Gone,
}

/// What API Gateway knows about a connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionInfo {
    /// Epoch seconds.
    pub connected_at: Option<i64>,
    pub last_active_at: Option<i64>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The configuration's credentials, fetched once and kept until shortly before they
/// expire; shared by every [`Connections`] made from one [`crate::Context`].
#[derive(Clone, Debug, Default)]
pub struct CredentialsCache {
    provider: Option<SharedCredentialsProvider>,
    current: Arc<Mutex<Option<Credentials>>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
}

impl CredentialsCache {
    /// A cache of `config`'s credentials provider.
    pub fn new(config: &aws_config::SdkConfig) -> CredentialsCache {
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

    async fn get(&self) -> Result<Credentials, Error> {
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
        let c = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials for the @connections API: {e}"))?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(c.clone());
        Ok(c)
    }
}

/// A client of the `@connections` API of one stage.
#[derive(Clone, Debug)]
pub struct Connections {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `{endpoint}` of `{endpoint}/@connections/{id}`, without a trailing `/`.
    base: String,
    /// What requests are signed for: the configuration's region, else the AWS
    /// endpoint's (`{api}.execute-api.{region}.amazonaws.com`).
    region: Option<String>,
    credentials: CredentialsCache,
    /// Attempts per call, and the backoff between them (the configuration's).
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    attempt_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
}

impl Connections {
    /// A client for the stage whose AWS endpoint is `endpoint`
    /// (`https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`), reached as the
    /// SDK's endpoint configuration says, in this order:
    ///
    /// 1. `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` (or the profile's
    ///    `apigatewaymanagementapi` `endpoint_url`): used as it is (`wsgen dev` sets it);
    /// 2. `AWS_ENDPOINT_URL` (or an endpoint set on `config`): a local AWS engine, whose
    ///    execute-api lives under its own address at `/_aws/execute-api/{api-id}/{stage}`;
    /// 3. otherwise `endpoint` itself: on AWS nothing is configured and nothing changes.
    ///
    /// The client fetches `config`'s credentials on its first call and keeps them; use
    /// [`crate::Context::connections`] to share them between the clients of every event.
    pub fn new(config: &aws_config::SdkConfig, endpoint: &str) -> Connections {
        Connections::with_credentials(config, endpoint, CredentialsCache::new(config))
    }

    /// As [`Connections::new`], with credentials from `credentials`.
    pub fn with_credentials(
        config: &aws_config::SdkConfig,
        endpoint: &str,
        credentials: CredentialsCache,
    ) -> Connections {
        // The service's own setting, which the SDK reads unless an endpoint was set in
        // code; its loader falls back to the general setting, which is not the service's.
        let service = config
            .service_config()
            .filter(|_| !config.get_origin("endpoint_url").is_client_config())
            .and_then(|c| {
                c.load_config(
                    ServiceConfigKey::builder()
                        .service_id("ApiGatewayManagementApi")
                        .env("AWS_ENDPOINT_URL")
                        .profile("endpoint_url")
                        .build()
                        .expect("every field is set"),
                )
            })
            .filter(|url| Some(url.as_str()) != config.endpoint_url());
        let base = resolve_endpoint(endpoint, service.as_deref(), config.endpoint_url());
        let retry = config
            .retry_config()
            .cloned()
            .unwrap_or_else(aws_smithy_types::retry::RetryConfig::standard);
        let timeouts = config.timeout_config();
        let region = config
            .region()
            .map(|r| r.as_ref())
            .or_else(|| region_of(&base))
            .map(str::to_string);
        Connections {
            inner: Arc::new(Inner {
                base: base.trim_end_matches('/').to_string(),
                region,
                credentials,
                max_attempts: retry.max_attempts().max(1),
                initial_backoff: retry.initial_backoff(),
                max_backoff: retry.max_backoff(),
                attempt_timeout: timeouts.and_then(|t| t.operation_attempt_timeout()),
                connect_timeout: timeouts.and_then(|t| t.connect_timeout()),
            }),
        }
    }

    /// A client for the stage the event came from.
    pub fn for_request(config: &aws_config::SdkConfig, req: &WsRequest) -> Connections {
        Connections::new(config, &req.callback_endpoint())
    }

    /// Sends `data` to connection `id` (a text frame when it is UTF-8, else binary).
    pub async fn post(&self, id: &str, data: impl Into<Vec<u8>>) -> Result<Delivery, Error> {
        self.post_bytes(id, Bytes::from(data.into())).await
    }

    /// [`Connections::post`] of shared bytes: many posts of one message copy nothing.
    pub async fn post_bytes(&self, id: &str, data: Bytes) -> Result<Delivery, Error> {
        let answer = self.call("POST", id, data).await?;
        Ok(answer.map_or(Delivery::Gone, |_| Delivery::Delivered))
    }

    /// What API Gateway knows about connection `id`; `None` when it is gone.
    pub async fn get(&self, id: &str) -> Result<Option<ConnectionInfo>, Error> {
        let Some(body) = self.call("GET", id, Bytes::new()).await? else {
            return Ok(None);
        };
        let info: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("GetConnection answered what is not JSON: {e}"))?;
        let identity = |key: &str| {
            info.pointer(&format!("/identity/{key}"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        Ok(Some(ConnectionInfo {
            connected_at: info.get("connectedAt").and_then(epoch_seconds),
            last_active_at: info.get("lastActiveAt").and_then(epoch_seconds),
            source_ip: identity("sourceIp"),
            user_agent: identity("userAgent"),
        }))
    }

    /// Closes connection `id` (its `$disconnect` runs).
    pub async fn delete(&self, id: &str) -> Result<Delivery, Error> {
        let answer = self.call("DELETE", id, Bytes::new()).await?;
        Ok(answer.map_or(Delivery::Gone, |_| Delivery::Delivered))
    }

    /// One call, retried as the configuration's retry settings say (throttling, server
    /// errors, failed connections): its answer's body, `None` when the connection is
    /// gone (410), or the error.
    async fn call(&self, method: &str, id: &str, body: Bytes) -> Result<Option<Bytes>, Error> {
        let inner = &self.inner;
        let url = format!(
            "{}/@connections/{}",
            inner.base,
            percent_encoding::utf8_percent_encode(id, LABEL)
        );
        let mut attempt = 1;
        loop {
            let outcome = match inner.attempt_timeout {
                Some(limit) => tokio::time::timeout(limit, self.attempt(method, &url, &body))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Failure::retry(format!(
                            "no answer within {limit:?} (the configuration's attempt timeout)"
                        )))
                    }),
                None => self.attempt(method, &url, &body).await,
            };
            match outcome {
                Ok(answer) => return Ok(answer),
                Err(failure) if failure.retry && attempt < inner.max_attempts => {
                    // Exponential backoff with full jitter, as the SDK's standard mode.
                    let ceiling = inner
                        .initial_backoff
                        .saturating_mul(1 << (attempt - 1).min(16))
                        .min(inner.max_backoff);
                    tokio::time::sleep(ceiling.mul_f64(fastrand::f64())).await;
                    attempt += 1;
                }
                Err(failure) => {
                    let tries = if attempt > 1 {
                        format!(" (after {attempt} attempts)")
                    } else {
                        String::new()
                    };
                    return Err(format!("{method} {url}: {}{tries}", failure.message).into());
                }
            }
        }
    }

    async fn attempt(
        &self,
        method: &str,
        url: &str,
        body: &Bytes,
    ) -> Result<Option<Bytes>, Failure> {
        let inner = &self.inner;
        let mut request = http::Request::builder()
            .method(method)
            .uri(url)
            .body(Full::new(body.clone()))
            .map_err(|e| Failure::fatal(format!("not a valid request: {e}")))?;
        let credentials = inner
            .credentials
            .get()
            .await
            .map_err(|e| Failure::fatal(e.to_string()))?;
        let region = inner.region.as_deref().ok_or_else(|| {
            Failure::fatal(
                "no AWS region to sign with: set AWS_REGION (Lambda sets it)".to_string(),
            )
        })?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Failure::fatal(format!("cannot sign: {e}")))?
            .into();
        let signable =
            SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(body))
                .and_then(|r| sign(r, &params))
                .map_err(|e| Failure::fatal(format!("cannot sign: {e}")))?;
        signable
            .into_parts()
            .0
            .apply_to_request_http1x(&mut request);

        let sent = if url.starts_with("https:") {
            tls_client(inner.connect_timeout).request(request).await
        } else {
            plain_client(inner.connect_timeout).request(request).await
        };
        let response =
            sent.map_err(|e| Failure::retry(format!("the request failed: {}", chain(&e))))?;
        let status = response.status();
        let kind = response
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
        if status.is_success() {
            return Ok(Some(body));
        }
        if status == http::StatusCode::GONE {
            return Ok(None);
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                ["message", "Message"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(|m| m.as_str()).map(str::to_string))
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        let kind = kind.unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string());
        let failure = format!("{kind} ({status}): {message}");
        // As the SDK's standard retries: throttling and server errors.
        let retry = status == http::StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
            || kind.contains("Throttl")
            || kind == "LimitExceededException";
        Err(Failure {
            message: failure,
            retry,
        })
    }
}

/// Why an attempt failed, and whether another may succeed.
struct Failure {
    message: String,
    retry: bool,
}

impl Failure {
    fn retry(message: String) -> Failure {
        Failure {
            message,
            retry: true,
        }
    }
    fn fatal(message: String) -> Failure {
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

/// What a connection id's path segment escapes: everything but RFC 3986's unreserved
/// characters, as the SDK escapes a label.
const LABEL: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A timestamp of GetConnection's answer (ISO 8601, or epoch seconds) in epoch seconds.
fn epoch_seconds(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64().map(|s| s.floor() as i64),
        serde_json::Value::String(s) => {
            aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime)
                .ok()
                .map(|t| t.secs())
        }
        _ => None,
    }
}

/// The region of an AWS execute-api URL (`https://{api}.execute-api.{region}.amazonaws.com/...`).
fn region_of(url: &str) -> Option<&str> {
    let host = url.split_once("://")?.1.split(['/', ':']).next()?;
    let rest = host.split_once(".execute-api.")?.1;
    rest.split('.').next().filter(|r| !r.is_empty())
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
fn tls_client(
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
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector(connect_timeout));
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

/// The base URL of the `@connections` API for the stage at `aws_endpoint`: `service`
/// (the service's endpoint setting) as it is; else, with `general`, the SDK's endpoint
/// for every service (`AWS_ENDPOINT_URL`), a local engine, which serves a stage's API
/// at `{general}/_aws/execute-api/{api-id}/{stage}`; else `aws_endpoint` itself.
fn resolve_endpoint(aws_endpoint: &str, service: Option<&str>, general: Option<&str>) -> String {
    if let Some(service) = service {
        return service.to_string();
    }
    let local = general.and_then(|base| {
        let (api, stage) = api_and_stage(aws_endpoint)?;
        Some(format!(
            "{}/_aws/execute-api/{api}/{stage}",
            base.trim_end_matches('/')
        ))
    });
    local.unwrap_or_else(|| aws_endpoint.to_string())
}

/// The API id and stage of an execute-api URL (`https://{api-id}.execute-api.../{stage}`).
fn api_and_stage(url: &str) -> Option<(&str, &str)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (host, path) = rest.split_once('/')?;
    let (api, _) = host.split_once(".execute-api.")?;
    let stage = path.split('/').next().filter(|s| !s.is_empty())?;
    (!api.is_empty()).then_some((api, stage))
}

#[cfg(test)]
mod tests {
    use super::{region_of, resolve_endpoint};

    const AWS: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod";

    /// Both TLS clients build on ring, named rather than taken from rustls' process
    /// default, which they leave uninstalled: with a user's dependency that brings
    /// aws-lc too, rustls could not choose one, and a client relying on it would panic.
    #[test]
    fn the_tls_clients_are_built_with_ring() {
        let _ = super::tls_client(None);
        let _ = crate::https_client();
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    }

    #[test]
    fn the_service_endpoint_setting_wins() {
        assert_eq!(
            resolve_endpoint(
                AWS,
                Some("http://127.0.0.1:9000"),
                Some("http://127.0.0.1:4566")
            ),
            "http://127.0.0.1:9000",
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI is used as it is"
        );
    }

    #[test]
    fn a_general_endpoint_is_a_local_engine_with_the_path_form() {
        assert_eq!(
            resolve_endpoint(AWS, None, Some("http://127.0.0.1:4566")).as_str(),
            "http://127.0.0.1:4566/_aws/execute-api/abc123/prod"
        );
        assert_eq!(
            resolve_endpoint(AWS, None, Some("http://127.0.0.1:4566/")).as_str(),
            "http://127.0.0.1:4566/_aws/execute-api/abc123/prod"
        );
        // A local engine's own execute-api domain (no port: not reachable as such).
        assert_eq!(
            resolve_endpoint(
                "https://abc123.execute-api.localhost/dev",
                None,
                Some("http://localhost:4566")
            )
            .as_str(),
            "http://localhost:4566/_aws/execute-api/abc123/dev"
        );
    }

    #[test]
    fn without_endpoint_settings_the_aws_endpoint_is_used() {
        assert_eq!(resolve_endpoint(AWS, None, None).as_str(), AWS);
        // A loopback runtime's own address (what `wsgen dev`'s events name).
        let dev = "http://127.0.0.1:3000/live";
        assert_eq!(resolve_endpoint(dev, None, None).as_str(), dev);
        // Neither an API id nor a stage to put in the path form: left as it is.
        assert_eq!(
            resolve_endpoint(
                "https://ws.example.com/chat",
                None,
                Some("http://127.0.0.1:1")
            )
            .as_str(),
            "https://ws.example.com/chat"
        );
        assert_eq!(
            resolve_endpoint(
                "https://abc123.execute-api.eu-west-1.amazonaws.com",
                None,
                Some("http://127.0.0.1:1")
            )
            .as_str(),
            "https://abc123.execute-api.eu-west-1.amazonaws.com"
        );
    }

    #[test]
    fn the_region_of_an_aws_endpoint() {
        assert_eq!(region_of(AWS), Some("eu-west-1"));
        assert_eq!(region_of("http://127.0.0.1:3000/live"), None);
        assert_eq!(region_of("https://ws.example.com/chat"), None);
    }
}
