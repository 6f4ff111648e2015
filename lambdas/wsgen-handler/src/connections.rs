//! The `@connections` management API: send to, look up and close connections.
//!
//! A small client of its own instead of the AWS SDK's (the crate's `aws` module: the
//! SDK's credentials, SigV4 signer, endpoint and retry settings, one pooled keep-alive
//! hyper client per process). The SDK's generic request pipeline cost about 200 µs of
//! CPU per `PostToConnection` in the deployable profile, the Lambda time a broadcast
//! pays for every delivery; this client costs a fraction of it (see BENCHMARKS.md,
//! `bench/post-cpu.sh`).

use crate::aws::{Api, CredentialsCache};
use crate::{Error, WsRequest};
use bytes::Bytes;
use std::sync::Arc;

/// Overrides the `@connections` endpoint (the local runtime sets it); read as the AWS
/// SDK reads it (the environment, or the profile's `apigatewaymanagementapi`
/// `endpoint_url`).
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI";

/// The SigV4 service name of the `@connections` API.
const SERVICE: &str = "execute-api";

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

/// A client of the `@connections` API of one stage.
#[derive(Clone, Debug)]
pub struct Connections {
    /// `{endpoint}` of `{endpoint}/@connections/{id}`; requests signed for the
    /// configuration's region, else the AWS endpoint's
    /// (`{api}.execute-api.{region}.amazonaws.com`).
    api: Arc<Api>,
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
    pub fn new(config: &crate::SdkConfig, endpoint: &str) -> Connections {
        Connections::with_credentials(config, endpoint, CredentialsCache::new(config))
    }

    /// As [`Connections::new`], with credentials from `credentials`.
    pub fn with_credentials(
        config: &crate::SdkConfig,
        endpoint: &str,
        credentials: CredentialsCache,
    ) -> Connections {
        // The service's own setting; its loader falls back to the general setting, which
        // is not the service's.
        let service = crate::aws::service_endpoint(config, "ApiGatewayManagementApi")
            .filter(|url| Some(url.as_str()) != config.endpoint_url());
        let base = resolve_endpoint(endpoint, service.as_deref(), config.endpoint_url());
        let region = region_of(&base);
        Connections {
            api: Arc::new(Api::new(config, SERVICE, &base, region, credentials)),
        }
    }

    /// A client for the stage the event came from.
    pub fn for_request(config: &crate::SdkConfig, req: &WsRequest) -> Connections {
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
    fn call<'a>(
        &'a self,
        method: &'static str,
        id: &str,
        body: Bytes,
    ) -> crate::Boxed<'a, Option<Bytes>> {
        let url = format!(
            "{}/@connections/{}",
            self.api.base,
            percent_encoding::utf8_percent_encode(id, LABEL)
        );
        Box::pin(async move {
            self.api
                .call(method, &url, &[], body, |answer| {
                    if answer.status.is_success() {
                        Ok(Some(answer.body))
                    } else if answer.status == http::StatusCode::GONE {
                        Ok(None)
                    } else {
                        Err(answer.failure())
                    }
                })
                .await
                .map_err(|e| format!("{method} {url}: {e}").into())
        })
    }
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
        let _ = crate::aws::tls_client(None);
        #[cfg(feature = "sdk")]
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
