//! `$disconnect`: removes the connection id from the connections table (`TABLE_NAME`).

use wsgen_handler::{Context, Router, WsResponse};

pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx).on_default(|req, ctx| async move {
        ctx.store()?.delete(&req.connection_id).await?;
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
    async fn removes_the_connection() {
        let aws = FakeAws::start().await;
        aws.store("conns", "c1");
        aws.store("conns", "c2");
        let out = super::router(aws.context())
            .handle(aws.event("$disconnect", "c1", None))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 200);
        assert_eq!(aws.stored("conns"), ["c2"]);
    }
}
