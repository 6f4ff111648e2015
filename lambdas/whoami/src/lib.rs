//! Seed 002's `whoAmI`: `{"action":"whoAmI"}` gets the caller's connection id back, bare
//! (`btvXRd6dliACF-A=`), as the seed's websocat session shows (the route must be
//! two-way).

use wsgen_handler::{Context, Router, WsResponse};

pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx).on_default(|req, _| async move { Ok(WsResponse::text(req.connection_id)) })
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
    async fn replies_with_the_bare_connection_id() {
        let aws = FakeAws::start().await;
        let out = super::router(aws.context())
            .handle(aws.event("whoAmI", "btvXRd6dliACF-A=", Some(r#"{"action":"whoAmI"}"#)))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 200);
        assert_eq!(out["body"], "btvXRd6dliACF-A=");
    }
}
