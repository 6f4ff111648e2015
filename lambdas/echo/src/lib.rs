//! `$default` echo: a text message comes back to its sender as the two-way route's
//! response; a binary one gets `binary message of N bytes`.

use wsgen_handler::{Body, Context, Router, WsResponse};

pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx).on_default(|req, _| async move {
        Ok(match &req.body {
            Some(Body::Text(t)) => WsResponse::text(t.clone()),
            Some(Body::Binary(b)) => {
                WsResponse::text(format!("binary message of {} bytes", b.len()))
            }
            None => WsResponse::ok(),
        })
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
    async fn messages_come_back() {
        let aws = FakeAws::start().await;
        let out = super::router(aws.context())
            .handle(aws.event("$default", "abc=", Some("hello there")))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 200);
        assert_eq!(out["body"], "hello there");
    }
}
