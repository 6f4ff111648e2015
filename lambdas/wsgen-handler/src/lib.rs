//! Helpers for Rust handlers of API Gateway WebSocket APIs on AWS Lambda.
//!
//! - [`WsRequest`] / [`WsResponse`]: the WebSocket event and the handler's answer;
//! - [`Router`]: dispatch by route key, so one binary can serve several routes;
//! - [`Connections`]: the `@connections` management API, with 410 Gone as a value;
//! - [`ConnectionStore`]: connection ids in DynamoDB, with optional TTL and groups;
//! - [`broadcast`]: post to many connections at once, dropping the gone ones;
//! - [`authorizer`]: Lambda REQUEST authorizers for `$connect`;
//! - [`stream`]: the changes of a table's stream, for functions subscribed to it.
//!
//! A function serves one invocation at a time, so its `main` runs on tokio's
//! current-thread runtime: no hand-offs between worker threads (about half the CPU per
//! invocation of the multi-thread runtime, BENCHMARKS.md) and no threads to start on a
//! cold start. Concurrent work inside an invocation ([`broadcast`]'s posts) still
//! overlaps its waits.
//!
//! ```no_run
//! use wsgen_handler::{aws_config, ConnectionStore, Router, WsResponse};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), wsgen_handler::Error> {
//!     let store = ConnectionStore::from_env(&aws_config().await)?;
//!     Router::new(store)
//!         .on_connect(|req, store| async move {
//!             store.put(&req.connection_id, None).await?;
//!             Ok(WsResponse::ok())
//!         })
//!         .run()
//!         .await
//! }
//! ```

pub mod authorizer;
mod aws;
mod broadcast;
mod config;
mod connections;
mod context;
mod dynamodb;
mod request;
mod response;
mod router;
mod store;
pub mod stream;
#[cfg(feature = "testing")]
pub mod testing;

pub use aws::CredentialsCache;
pub use broadcast::{broadcast, Report};
pub use config::aws_config;
pub use connections::{ConnectionInfo, Connections, Delivery, ENDPOINT_ENV};
pub use context::{Context, CALLBACK_URL_ENV};
pub use request::{Body, EventType, WsRequest};
pub use response::WsResponse;
pub use router::Router;
pub use store::{Connection, ConnectionStore, TABLE_ENV, TTL_ENV};

/// The AWS SDK's DynamoDB client, for handlers with tables of their own (the version
/// wsgen-handler is built with): feature `sdk`.
#[cfg(feature = "sdk")]
pub use aws_sdk_dynamodb;

/// The AWS SDK's shared configuration, which every client here is made from.
pub use aws_types::SdkConfig;

/// The error type of handlers: anything that can be boxed.
pub type Error = lambda_runtime::Error;

/// A boxed future, for what must be compiled once in this crate: the future of a
/// non-generic function is generated again in every crate that awaits it, so the
/// functions that drive the AWS clients and the Lambda Runtime API return theirs boxed,
/// and a handler crate (each of a multi-call binary's) only calls them. That was most
/// of the time of building each handler crate: 3 to 4.5 s each before, 0.4 to 0.6 s
/// after (BENCHMARKS.md).
pub(crate) type Boxed<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Error>> + Send + 'a>>;

/// The SDK's HTTPS client on rustls with ring (the SDK's default, aws-lc, is not built):
/// give it to an `SdkConfig` built by hand, `SdkConfig::builder().http_client(..)`.
/// [`aws_config`] sets it. Feature `sdk`.
#[cfg(feature = "sdk")]
pub fn https_client() -> aws_types::sdk_config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}
