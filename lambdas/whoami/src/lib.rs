//! Seed 002's `whoAmI`: `{"action":"whoAmI"}` gets `{"connectionId":"..."}` back (the
//! route must be two-way), with `"authorizer"` (what the `$connect` authorizer said
//! about the caller) when the API has one.

use wsgen_handler::{Context, Router, WsResponse};

pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx).on_default(|req, _| async move {
        let mut body = serde_json::json!({ "connectionId": req.connection_id });
        if !req.authorizer.is_null() {
            body["authorizer"] = req.authorizer;
        }
        Ok(WsResponse::json(&body))
    })
}

#[cfg(test)]
mod tests {
    use wsgen_handler::testing::FakeAws;

    #[tokio::test]
    async fn replies_with_the_connection_id() {
        let aws = FakeAws::start().await;
        let out = super::router(aws.context())
            .handle(aws.event("whoAmI", "btvXRd6dliACF-A=", Some(r#"{"action":"whoAmI"}"#)))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 200);
        assert_eq!(out["body"], r#"{"connectionId":"btvXRd6dliACF-A="}"#);
    }
}
