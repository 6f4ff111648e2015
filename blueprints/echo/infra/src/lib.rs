//! The app: one WebSocket API whose `$default` route sends every message back.

use wsgen::prelude::*;

/// The app as stack `name`, with handler crate paths relative to `app`'s project
/// directory.
pub fn build(app: &App, name: &str) {
    let stack = app.stack(name);
    let echo = stack.rust_function("Echo", "lambdas/echo");
    let api = stack.websocket_api("Api");
    let _ = api.add_route("$default").integration(&echo).two_way();
    let live = api.stage("live");
    stack.output("WebSocketUrl", live.url());
}
