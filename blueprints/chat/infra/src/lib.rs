//! The app: a chat room (the AWS sample chat app's protocol). Connections are kept in a
//! DynamoDB table (expiring after two hours); `sendmessage` posts the message's `data`
//! to every other connection through the `@connections` API.

use wsgen::prelude::*;

/// The app, with handler crate paths relative to `app`'s project directory.
pub fn build(app: &App) {
    let stack = app.stack("{{Name}}");
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
        .env("ACTIONS", "sendmessage");
    table.grant_write(&connect);
    table.grant_write(&disconnect);
    table.grant_read_write(&send);
    let api = stack
        .websocket_api("ChatApi")
        .on_connect(&connect)
        .on_disconnect(&disconnect)
        .route("sendmessage", &send);
    let _ = api.add_route("$default").integration(&default).two_way();
    let live = api.stage("live");
    live.grant_manage_connections(&send);
    stack.output("WebSocketUrl", live.url());
}
