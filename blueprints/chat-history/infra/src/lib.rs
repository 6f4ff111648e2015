//! The app: a chat room that keeps its messages (the common serverless design: write to a
//! table, fan out from its stream). `sendmessage` stores the message in the messages
//! table; the table's stream runs `Fanout`, which posts it to every other connection;
//! `history` answers with the room's last messages, so a client that connects late
//! catches up. Messages expire after a week, connections after two hours.

use chat_protocol::{History, SendMessage, HISTORY, SEND_MESSAGE};
use wsgen::prelude::*;

/// The app as stack `name`, with handler crate paths relative to `app`'s project
/// directory.
pub fn build(app: &App, name: &str) {
    let stack = app.stack(name);
    let connections = stack.connections_table("Connections").ttl("expiresAt");
    let messages = stack
        .table("Messages")
        .partition_key("room", AttributeType::String)
        .sort_key("sk", AttributeType::String)
        .ttl("expiresAt")
        .stream(StreamView::NewImage);
    let connect = stack
        .rust_function("OnConnect", "lambdas/onconnect")
        .env("TABLE_NAME", connections.name())
        .env("CONNECTION_TTL_SECONDS", "7200");
    let disconnect = stack
        .rust_function("OnDisconnect", "lambdas/ondisconnect")
        .env("TABLE_NAME", connections.name());
    let chat = stack
        .rust_function("Chat", "lambdas/messages")
        .env("MESSAGES_TABLE", messages.name());
    let fanout = stack
        .rust_function("Fanout", "lambdas/fanout")
        .env("TABLE_NAME", connections.name());
    let default = stack
        .rust_function("Default", "lambdas/default")
        .env("ACTIONS", format!("{SEND_MESSAGE},{HISTORY}"));
    connections.grant_write(&connect);
    connections.grant_write(&disconnect);
    connections.grant_read_write(&fanout);
    messages.grant_read_write(&chat);
    // A batch the fan-out fails (it cannot read the connections) is retried twice, then
    // skipped, rather than holding back the room's later messages.
    let _ = messages.on_change(&fanout).retry_attempts(2);
    let api = stack
        .websocket_api("ChatApi")
        .on_connect(&connect)
        .on_disconnect(&disconnect);
    // API Gateway refuses a message without `data` before it costs an invocation; the
    // history's reply type is documented (AsyncAPI, `wsgen client`).
    let _ = api
        .add_route(SEND_MESSAGE)
        .integration(&chat)
        .request::<SendMessage>();
    let _ = api
        .add_route(HISTORY)
        .integration(&chat)
        .response::<History>();
    let _ = api.add_route("$default").integration(&default).two_way();
    let live = api.stage("live");
    live.grant_manage_connections(&fanout);
    let _ = fanout.env("CALLBACK_URL", live.callback_url());
    stack.output("WebSocketUrl", live.url());
}
