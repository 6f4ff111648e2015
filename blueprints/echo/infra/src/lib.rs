//! The app: one WebSocket API whose `$default` route sends every message back.

use wsgen::prelude::*;

/// The app, with handler crate paths relative to `app`'s project directory.
pub fn build(app: &App) {
    let stack = app.stack("{{Name}}");
    let echo = stack.rust_function("Echo", "lambdas/echo");
    let api = stack.websocket_api("Api");
    let _ = api.add_route("$default").integration(&echo).two_way();
    let live = api.stage("live");
    stack.output("WebSocketUrl", live.url());
}
