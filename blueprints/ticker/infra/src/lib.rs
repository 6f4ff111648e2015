//! The app: server push. Clients send `{"action":"subscribe","symbol":"AMZN"}` (or
//! `unsubscribe`); every minute the ticker function posts
//! `{"type":"price","symbol":"AMZN","price":...}` to each symbol's subscribers. The
//! connections table holds each connection's subscriptions.

use ticker_protocol::{Price, Subscribed, Subscription, Unsubscribed, SUBSCRIBE, UNSUBSCRIBE};
use wsgen::prelude::*;

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
    let ticker = function("Ticker", "lambdas/ticker")
        .env("SYMBOLS", "AMZN,GOOG,MSFT")
        .schedule(Schedule::rate(Duration::from_secs(60)));
    let default = stack
        .rust_function("Default", "lambdas/default")
        .env("ACTIONS", format!("{SUBSCRIBE},{UNSUBSCRIBE}"));
    table.grant_write(&connect);
    table.grant_write(&disconnect);
    table.grant_read_write(&ticker);
    // What the ticker posts to subscribers: documented (AsyncAPI), and a typed handler
    // (`onPrice`) in the clients `wsgen client` writes.
    let api = stack
        .websocket_api("TickerApi")
        .on_connect(&connect)
        .on_disconnect(&disconnect)
        .pushes::<Price>();
    // API Gateway refuses a subscription without a valid symbol before it costs an
    // invocation; the replies' types are documented (AsyncAPI, `wsgen client`).
    let _ = api
        .add_route(SUBSCRIBE)
        .integration(&ticker)
        .request::<Subscription>()
        .response::<Subscribed>();
    let _ = api
        .add_route(UNSUBSCRIBE)
        .integration(&ticker)
        .request::<Subscription>()
        .response::<Unsubscribed>();
    let _ = api.add_route("$default").integration(&default).two_way();
    let live = api.stage("live");
    live.grant_manage_connections(&ticker);
    let _ = ticker.env("CALLBACK_URL", live.callback_url());
    stack.output("WebSocketUrl", live.url());
}
