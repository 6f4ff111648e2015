//! The `@connections` management API: send to, look up and close connections.

use crate::{Error, WsRequest};
use aws_sdk_apigatewaymanagement as mgmt;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_types::Blob;

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
    /// A client for the stage at `endpoint` (`https://{domain}/{stage}`), unless
    /// `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` names another endpoint.
    pub fn new(config: &aws_config::SdkConfig, endpoint: &str) -> Connections {
        let mut builder = mgmt::config::Builder::from(config);
        if std::env::var_os(ENDPOINT_ENV).is_none() {
            builder = builder.endpoint_url(endpoint);
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
