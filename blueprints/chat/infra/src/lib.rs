//! The app: a chat room (the AWS sample chat app's protocol). Connections are kept in a
//! DynamoDB table (expiring after two hours); `sendmessage` posts the message's `data`
//! to every other connection through the `@connections` API.
//!
//! This file is the one definition of the chat app: `wsgen new --blueprint chat` copies
//! it, and wsgen's own tests and benchmarks build the same app from it.

use chat_protocol::{SendMessage, SEND_MESSAGE};
use wsgen::prelude::*;

/// The app as stack `name`, with handler crate paths relative to `app`'s project
/// directory.
pub fn build(app: &App, name: &str) {
    let stack = app
        .stack(name)
        .description("A chat room on API Gateway WebSockets (wsgen chat blueprint)")
        .tag("app", "chat");
    let table = stack.connections_table("Connections").ttl("expiresAt");
    let function = |id: &str, path: &str| {
        stack
            .rust_function(id, path)
            .env("TABLE_NAME", table.name())
    };
    let connect = function("OnConnect", "lambdas/onconnect").env("CONNECTION_TTL_SECONDS", "7200");
    let disconnect = function("OnDisconnect", "lambdas/ondisconnect");
    // Posting to every connection is the busiest work; Lambda gives CPU with memory.
    let send = function("SendMessage", "lambdas/sendmessage").memory(256);
    let default = stack
        .rust_function("Default", "lambdas/default")
        .env("ACTIONS", SEND_MESSAGE);
    table.grant_write(&connect);
    table.grant_write(&disconnect);
    table.grant_read_write(&send);
    let api = stack
        .websocket_api("ChatApi")
        .on_connect(&connect)
        .on_disconnect(&disconnect);
    // API Gateway refuses a message that is not a `SendMessage` (say, without `data`)
    // before it costs an invocation.
    let _ = api
        .add_route(SEND_MESSAGE)
        .integration(&send)
        .request::<SendMessage>();
    let _ = api.add_route("$default").integration(&default).two_way();
    // Every message fans out to every connection: a rate limit bounds the bill.
    let live = api.stage("live").throttle(100.0, 50);
    live.grant_manage_connections(&send);
    stack
        .output("WebSocketUrl", live.url())
        .description("Where clients connect");
    stack
        .output("CallbackUrl", live.callback_url())
        .description("The @connections endpoint");
    stack.output("TableName", table.name());
}
