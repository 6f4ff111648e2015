//! The chat protocol of the AWS sample chat app: a client sends
//! `{"action":"sendmessage","data":"hello"}` (`chat_protocol::SendMessage`, which API
//! Gateway validates before this runs) and every other connection in the connections
//! table (`TABLE_NAME`) receives `hello` (non-string `data` is sent as JSON).
//! Connections that are gone are removed from the table.

use chat_protocol::SendMessage;
use wsgen_handler::{broadcast, Context, Router, WsResponse};

/// How many posts are in flight at once.
pub const CONCURRENCY: usize = 32;

pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx).on_default(|req, ctx| async move {
        // Only reached unchecked where the route has no model (an app of your own).
        let Ok(message) = req.json::<SendMessage>() else {
            return Ok(WsResponse::error(
                400,
                r#"send {"action":"sendmessage","data":"your message"}"#,
            ));
        };
        let data = message.text();
        let store = ctx.store()?;
        let others = store
            .list()
            .await?
            .into_iter()
            .map(|c| c.id)
            .filter(|id| *id != req.connection_id);
        let report = broadcast(
            &ctx.connections(&req),
            Some(store),
            others,
            data.as_bytes(),
            CONCURRENCY,
        )
        .await;
        eprintln!("sendmessage from {}: {report}", req.connection_id);
        Ok(WsResponse::ok())
    })
}

/// Runs the function, as its binary's `main` does; `wsgen bundle` links it with the
/// app's other handlers into one binary (`[package.metadata.wsgen] entry` in
/// Cargo.toml).
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), wsgen_handler::Error> {
    router(wsgen_handler::Context::from_env().await?)
        .run()
        .await
}

#[cfg(test)]
mod tests {
    use wsgen_handler::testing::FakeAws;

    #[tokio::test]
    async fn every_other_connection_receives_the_data() {
        let aws = FakeAws::start().await;
        for id in ["alice", "bob", "carol", "dave"] {
            aws.store("conns", id);
            aws.connect(id);
        }
        aws.close("dave");
        let router = super::router(aws.context());
        let out = router
            .handle(aws.event(
                "sendmessage",
                "alice",
                Some(r#"{"action":"sendmessage","data":"hello"}"#),
            ))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 200);
        assert_eq!(aws.received("bob"), ["hello"]);
        assert_eq!(aws.received("carol"), ["hello"]);
        assert!(aws.received("alice").is_empty(), "not to the sender");
        assert_eq!(
            aws.stored("conns"),
            ["alice", "bob", "carol"],
            "dave was gone and is forgotten"
        );
        router
            .handle(aws.event(
                "sendmessage",
                "bob",
                Some(r#"{"action":"sendmessage","data":{"n":1}}"#),
            ))
            .await
            .unwrap();
        assert_eq!(aws.received("alice"), [r#"{"n":1}"#]);
        let bad = router
            .handle(aws.event("sendmessage", "bob", Some("not json")))
            .await
            .unwrap();
        assert_eq!(bad["statusCode"], 400);
        assert!(bad["body"]
            .as_str()
            .unwrap()
            .contains(r#"\"action\":\"sendmessage\""#));
    }
}
