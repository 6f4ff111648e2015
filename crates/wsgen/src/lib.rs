//! wsgen: infrastructure as code for AWS API Gateway WebSocket APIs.
//!
//! An infra program describes the app with the DSL and calls [`App::synth`]:
//!
//! ```no_run
//! use wsgen::prelude::*;
//!
//! let app = App::new();
//! let stack = app.stack("Chat");
//! let table = stack.connections_table("Connections").ttl("expiresAt");
//! let connect = stack.rust_function("OnConnect", "lambdas/onconnect").env("TABLE_NAME", table.name());
//! let disconnect = stack.rust_function("OnDisconnect", "lambdas/ondisconnect").env("TABLE_NAME", table.name());
//! let send = stack.rust_function("SendMessage", "lambdas/sendmessage").env("TABLE_NAME", table.name());
//! table.grant_read_write(&connect);
//! table.grant_read_write(&disconnect);
//! table.grant_read_write(&send);
//! let api = stack
//!     .websocket_api("ChatApi")
//!     .on_connect(&connect)
//!     .on_disconnect(&disconnect)
//!     .route("sendmessage", &send);
//! let prod = api.stage("prod").throttle(100.0, 50);
//! prod.grant_manage_connections(&send);
//! stack.output("WebSocketUrl", prod.url());
//! app.synth();
//! ```
//!
//! The library has no features and no heavy dependencies, so an infra crate builds in
//! seconds; the `wsgen` command is the `wsgen-cli` crate.

pub mod assembly;
pub mod cfn;
pub mod constructs;
pub mod digest;
pub mod fingerprint;
pub mod schedule;

pub use constructs::*;
/// The JSON Schema derive a route's message type uses ([`Route::request`]): with
/// wsgen's copy, `#[derive(JsonSchema)] #[schemars(crate = "wsgen::schemars")]`.
pub use schemars;

/// Everything an infra program needs.
pub mod prelude {
    pub use crate::cfn::{Expr, Pseudo};
    pub use crate::constructs::*;
    pub use schemars::JsonSchema;
    pub use std::time::Duration;
}
