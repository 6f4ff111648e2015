//! The `@connections` management API: send to, look up and close connections.

use crate::{Error, WsRequest};
use aws_sdk_apigatewaymanagement as mgmt;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_types::Blob;
use aws_types::service_config::ServiceConfigKey;

/// Overrides the `@connections` endpoint (the local runtime sets it); read by the AWS
/// SDK itself.
pub const ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI";

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
    client: mgmt::Client,
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
    pub fn new(config: &aws_config::SdkConfig, endpoint: &str) -> Connections {
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
        let mut builder = mgmt::config::Builder::from(config);
        if let Some(url) = resolve_endpoint(endpoint, service.as_deref(), config.endpoint_url()) {
            builder = builder.endpoint_url(url);
        }
        Connections {
            client: mgmt::Client::from_conf(builder.build()),
        }
    }

    /// A client for the stage the event came from.
    pub fn for_request(config: &aws_config::SdkConfig, req: &WsRequest) -> Connections {
        Connections::new(config, &req.callback_endpoint())
    }

    /// Sends `data` to connection `id` (a text frame when it is UTF-8, else binary).
    pub async fn post(&self, id: &str, data: impl Into<Vec<u8>>) -> Result<Delivery, Error> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(id)
            .data(Blob::new(data.into()))
            .send()
            .await;
        Ok(unless_gone(sent)?.map_or(Delivery::Gone, |_| Delivery::Delivered))
    }

    /// What API Gateway knows about connection `id`; `None` when it is gone.
    pub async fn get(&self, id: &str) -> Result<Option<ConnectionInfo>, Error> {
        let out = unless_gone(self.client.get_connection().connection_id(id).send().await)?;
        Ok(out.map(|out| ConnectionInfo {
            connected_at: out.connected_at().map(|t| t.secs()),
            last_active_at: out.last_active_at().map(|t| t.secs()),
            source_ip: out
                .identity()
                .and_then(|i| i.source_ip())
                .map(str::to_string),
            user_agent: out
                .identity()
                .and_then(|i| i.user_agent())
                .map(str::to_string),
        }))
    }

    /// Closes connection `id` (its `$disconnect` runs).
    pub async fn delete(&self, id: &str) -> Result<Delivery, Error> {
        let deleted = unless_gone(
            self.client
                .delete_connection()
                .connection_id(id)
                .send()
                .await,
        )?;
        Ok(deleted.map_or(Delivery::Gone, |_| Delivery::Delivered))
    }
}

/// A call's output, `None` when the connection is gone (410 GoneException), or its
/// error.
fn unless_gone<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<Option<T>, Error>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e)
            if e.as_service_error().and_then(ProvideErrorMetadata::code)
                == Some("GoneException") =>
        {
            Ok(None)
        }
        Err(e) => Err(DisplayErrorContext(&e).to_string().into()),
    }
}

/// The endpoint to give the `@connections` client for the stage at `aws_endpoint`, or
/// `None` to leave the SDK's own (the service's endpoint setting, `service`). `general`
/// is the SDK's endpoint for every service (`AWS_ENDPOINT_URL`): a local engine, which
/// serves a stage's API at `{general}/_aws/execute-api/{api-id}/{stage}`.
fn resolve_endpoint(
    aws_endpoint: &str,
    service: Option<&str>,
    general: Option<&str>,
) -> Option<String> {
    if service.is_some() {
        return None;
    }
    let local = general.and_then(|base| {
        let (api, stage) = api_and_stage(aws_endpoint)?;
        Some(format!(
            "{}/_aws/execute-api/{api}/{stage}",
            base.trim_end_matches('/')
        ))
    });
    Some(local.unwrap_or_else(|| aws_endpoint.to_string()))
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
    use super::resolve_endpoint;

    const AWS: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod";

    #[test]
    fn the_service_endpoint_setting_wins() {
        assert_eq!(
            resolve_endpoint(
                AWS,
                Some("http://127.0.0.1:9000"),
                Some("http://127.0.0.1:4566")
            ),
            None,
            "the SDK applies AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI itself"
        );
    }

    #[test]
    fn a_general_endpoint_is_a_local_engine_with_the_path_form() {
        assert_eq!(
            resolve_endpoint(AWS, None, Some("http://127.0.0.1:4566")).as_deref(),
            Some("http://127.0.0.1:4566/_aws/execute-api/abc123/prod")
        );
        assert_eq!(
            resolve_endpoint(AWS, None, Some("http://127.0.0.1:4566/")).as_deref(),
            Some("http://127.0.0.1:4566/_aws/execute-api/abc123/prod")
        );
        // A local engine's own execute-api domain (no port: not reachable as such).
        assert_eq!(
            resolve_endpoint(
                "https://abc123.execute-api.localhost/dev",
                None,
                Some("http://localhost:4566")
            )
            .as_deref(),
            Some("http://localhost:4566/_aws/execute-api/abc123/dev")
        );
    }

    #[test]
    fn without_endpoint_settings_the_aws_endpoint_is_used() {
        assert_eq!(resolve_endpoint(AWS, None, None).as_deref(), Some(AWS));
        // A loopback runtime's own address (what `wsgen dev`'s events name).
        let dev = "http://127.0.0.1:3000/live";
        assert_eq!(resolve_endpoint(dev, None, None).as_deref(), Some(dev));
        // Neither an API id nor a stage to put in the path form: left as it is.
        assert_eq!(
            resolve_endpoint(
                "https://ws.example.com/chat",
                None,
                Some("http://127.0.0.1:1")
            )
            .as_deref(),
            Some("https://ws.example.com/chat")
        );
        assert_eq!(
            resolve_endpoint(
                "https://abc123.execute-api.eu-west-1.amazonaws.com",
                None,
                Some("http://127.0.0.1:1")
            )
            .as_deref(),
            Some("https://abc123.execute-api.eu-west-1.amazonaws.com")
        );
    }
}
