//! The app: direct messages, seed 002's protocol. `{"action":"whoAmI"}` answers with the
//! caller's bare connection id; `{"action":"sendMessage","connectionId":"...","message":
//! "Hi! :)"}` delivers the message to that connection (nothing comes back to the sender,
//! or an error for a connection that is gone). No table: the ids are the address book.

use direct_protocol::{SendTo, SEND_MESSAGE, WHO_AM_I};
use wsgen::prelude::*;

/// The app as stack `name`, with handler crate paths relative to `app`'s project
/// directory.
pub fn build(app: &App, name: &str) {
    let stack = app.stack(name);
    let whoami = stack.rust_function("WhoAmI", "lambdas/whoami");
    let sendto = stack.rust_function("SendMessage", "lambdas/sendto");
    let default = stack
        .rust_function("Default", "lambdas/default")
        .env("ACTIONS", format!("{WHO_AM_I},{SEND_MESSAGE}"));
    let api = stack.websocket_api("Api");
    for (key, f) in [(WHO_AM_I, &whoami), ("$default", &default)] {
        let _ = api.add_route(key).integration(f).two_way();
    }
    // API Gateway refuses a message without its recipient before it costs an invocation.
    let _ = api
        .add_route(SEND_MESSAGE)
        .integration(&sendto)
        .request::<SendTo>()
        .two_way();
    let live = api.stage("live");
    live.grant_manage_connections(&sendto);
    stack.output("WebSocketUrl", live.url());
}
