//! `$connect`: stores the connection id in the connections table (`TABLE_NAME`), in the
//! room named by the `room` query parameter if there is one, expiring after
//! `CONNECTION_TTL_SECONDS` if set.

use wsgen_handler::{Context, Router, WsResponse};

pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx).on_default(|req, ctx| async move {
        ctx.store()?
            .put(
                &req.connection_id,
                req.query.get("room").map(String::as_str),
            )
            .await?;
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
    async fn stores_the_connection_and_its_room() {
        let aws = FakeAws::start().await;
        let router = super::router(aws.context());
        let out = router
            .handle(aws.event("$connect", "c1", None))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 200);
        let mut event = aws.event("$connect", "c2", None);
        event["queryStringParameters"] = serde_json::json!({"room": "lobby"});
        router.handle(event).await.unwrap();
        assert_eq!(aws.stored("conns"), ["c1", "c2"]);
        assert_eq!(aws.item("conns", "c2").unwrap()["group"]["S"], "lobby");
    }

    #[tokio::test]
    async fn without_a_table_it_says_what_is_missing() {
        let aws = FakeAws::start().await;
        let ctx = wsgen_handler::Context::new(aws.sdk_config(), None);
        let e = super::router(ctx)
            .handle(aws.event("$connect", "c1", None))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("TABLE_NAME is not set"), "{e}");
    }
}
