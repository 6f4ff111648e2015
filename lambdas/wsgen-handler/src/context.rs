//! What handlers share: the AWS configuration, the connections table, and
//! `@connections` clients.

use crate::{
    aws_config, ConnectionStore, Connections, CredentialsCache, Error, WsRequest, TABLE_ENV,
};

/// The environment variable with a stage's `@connections` endpoint, for handlers that
/// run without a WebSocket event (scheduled ones): `stage.callback_url()`.
pub const CALLBACK_URL_ENV: &str = "CALLBACK_URL";

/// The AWS configuration and, when `TABLE_NAME` is set, the connections table.
#[derive(Clone, Debug)]
pub struct Context {
    pub config: crate::SdkConfig,
    pub store: Option<ConnectionStore>,
    /// The `@connections` endpoint of `CALLBACK_URL`, for scheduled handlers.
    pub callback_url: Option<String>,
    /// `config`'s credentials, fetched once for every `@connections` client made here.
    credentials: CredentialsCache,
}

impl Context {
    /// From the Lambda environment.
    pub async fn from_env() -> Result<Context, Error> {
        let config = aws_config().await;
        let store = match std::env::var_os(TABLE_ENV) {
            Some(_) => Some(ConnectionStore::from_env(&config)?),
            None => None,
        };
        Ok(Context {
            credentials: CredentialsCache::new(&config),
            config,
            store,
            callback_url: std::env::var(CALLBACK_URL_ENV).ok(),
        })
    }

    pub fn new(config: crate::SdkConfig, store: Option<ConnectionStore>) -> Context {
        Context {
            credentials: CredentialsCache::new(&config),
            config,
            store,
            callback_url: None,
        }
    }

    /// With this `@connections` endpoint for scheduled handlers.
    pub fn with_callback_url(mut self, url: impl Into<String>) -> Context {
        self.callback_url = Some(url.into());
        self
    }

    /// The connections table, or an error naming the missing setting.
    pub fn store(&self) -> Result<&ConnectionStore, Error> {
        self.store.as_ref().ok_or_else(|| {
            format!(
                "{TABLE_ENV} is not set: give the function `.env(\"{TABLE_ENV}\", table.name())`"
            )
            .into()
        })
    }

    /// A `@connections` client for the stage `req` came from.
    pub fn connections(&self, req: &WsRequest) -> Connections {
        Connections::with_credentials(
            &self.config,
            &req.callback_endpoint(),
            self.credentials.clone(),
        )
    }

    /// A `@connections` client for the stage named by `CALLBACK_URL`.
    pub fn callback_connections(&self) -> Result<Connections, Error> {
        let url = self
            .callback_url
            .as_deref()
            .ok_or_else(|| format!("{CALLBACK_URL_ENV} is not set: give the function `.env(\"{CALLBACK_URL_ENV}\", stage.callback_url())`"))?;
        Ok(Connections::with_credentials(
            &self.config,
            url,
            self.credentials.clone(),
        ))
    }
}
