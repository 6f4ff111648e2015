//! The app: the chat room, for users with a token. `$connect` has a Lambda REQUEST
//! authorizer that checks `?token=...` against SHA-256 digests (the template holds no
//! secret); `sendmessage` is throttled on the stage.
//!
//! Make a token and its digest, then put `name=digest` pairs in `TOKENS`:
//! `t=$(openssl rand -hex 32); echo "$t"; printf %s "$t" | sha256sum`.

use chat_protocol::{SendMessage, SEND_MESSAGE};
use wsgen::prelude::*;

/// `user=sha256(token)` pairs, comma-separated. This one is for the token `demo-token`:
/// replace it before deploying.
const TOKENS: &str = "demo=7c43ef5ae21d43ce2743f770c68e24def1a43ee2f416d2438410c8af7af2ff2c";

/// The app as stack `name`, with handler crate paths relative to `app`'s project
/// directory.
pub fn build(app: &App, name: &str) {
    let stack = app.stack(name);
    let table = stack.connections_table("Connections").ttl("expiresAt");
    let function = |id: &str, path: &str| {
        stack
            .rust_function(id, path)
            .env("TABLE_NAME", table.name())
    };
    let connect = function("OnConnect", "lambdas/onconnect").env("CONNECTION_TTL_SECONDS", "7200");
    let disconnect = function("OnDisconnect", "lambdas/ondisconnect");
    let send = function("SendMessage", "lambdas/sendmessage");
    let default = stack
        .rust_function("Default", "lambdas/default")
        .env("ACTIONS", SEND_MESSAGE);
    let auth = stack
        .rust_function("Authorizer", "lambdas/authorizer")
        .env("TOKEN_SHA256", TOKENS);
    table.grant_write(&connect);
    table.grant_write(&disconnect);
    table.grant_read_write(&send);
    let api = stack
        .websocket_api("ChatApi")
        .on_disconnect(&disconnect);
    // API Gateway refuses a message that is not a `SendMessage` (say, without `data`)
    // before it costs an invocation.
    let _ = api
        .add_route(SEND_MESSAGE)
        .integration(&send)
        .request::<SendMessage>();
    let authorizer = api
        .lambda_authorizer("TokenAuth", &auth)
        .identity_source(IdentitySource::query("token"));
    let _ = api
        .add_route("$connect")
        .integration(&connect)
        .authorizer(&authorizer);
    let _ = api.add_route("$default").integration(&default).two_way();
    let live = api
        .stage("live")
        .throttle(100.0, 50)
        .route_throttle("sendmessage", 10.0, 5);
    live.grant_manage_connections(&send);
    stack.output("WebSocketUrl", live.url());
}
