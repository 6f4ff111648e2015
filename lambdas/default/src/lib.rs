//! `$default`: messages no route matched get a helpful reply (the route must be
//! two-way) naming the valid actions, from `ACTIONS` (comma-separated).

use wsgen_handler::{Context, Router, WsResponse};

/// The environment variable listing the API's actions, e.g. `sendmessage,whoAmI`.
pub const ACTIONS_ENV: &str = "ACTIONS";

pub fn router(ctx: Context) -> Router<Context> {
    let actions = std::env::var(ACTIONS_ENV).unwrap_or_default();
    router_with_actions(
        ctx,
        actions
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// The router with the list of valid actions given.
pub fn router_with_actions(ctx: Context, actions: Vec<String>) -> Router<Context> {
    Router::new(ctx).on_default(move |req, _| {
        let actions = actions.clone();
        async move {
            let action = req
                .json::<serde_json::Value>()
                .ok()
                .and_then(|v| v.get("action").and_then(|a| a.as_str()).map(str::to_string));
            let error = match action {
                Some(a) => format!("unknown action `{a}`"),
                None => "messages are JSON objects with an `action` field".to_string(),
            };
            let mut reply = serde_json::json!({ "error": error });
            if !actions.is_empty() {
                reply["validActions"] = serde_json::json!(actions);
                reply["example"] = serde_json::json!({ "action": actions[0] });
            }
            Ok(WsResponse::json(&reply))
        }
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
    async fn replies_with_the_valid_actions() {
        let aws = FakeAws::start().await;
        let router =
            super::router_with_actions(aws.context(), vec!["sendmessage".into(), "whoAmI".into()]);
        let out = router
            .handle(aws.event("$default", "c1", Some(r#"{"action":"dance"}"#)))
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "unknown action `dance`");
        assert_eq!(
            body["validActions"],
            serde_json::json!(["sendmessage", "whoAmI"])
        );
        assert_eq!(
            body["example"],
            serde_json::json!({"action": "sendmessage"})
        );
        let out = router
            .handle(aws.event("$default", "c1", Some("hello?")))
            .await
            .unwrap();
        assert!(out["body"]
            .as_str()
            .unwrap()
            .contains("messages are JSON objects with an `action` field"));
    }
}
