//! Seed 002's `sendMessage`: `{"action":"sendMessage","connectionId":"...","message":"Hi! :)"}`
//! delivers `message` to that connection. As in the seed, the sender gets nothing back
//! when it is delivered; on a two-way route it gets an error when the message is not
//! one (400) or the connection is gone (410, also removed from the connections table
//! when there is one).

use direct_protocol::SendTo;
use wsgen_handler::{Context, Delivery, Router, WsResponse};

pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx).on_default(|req, ctx| async move {
        let Ok(send) = req.json::<SendTo>() else {
            return Ok(WsResponse::error(400, r#"send {"action":"sendMessage","connectionId":"<id from whoAmI>","message":"Hi! :)"}"#));
        };
        let message = send.text();
        match ctx.connections(&req).post(&send.connection_id, message).await? {
            Delivery::Delivered => Ok(WsResponse::ok()),
            Delivery::Gone => {
                if let Some(store) = &ctx.store {
                    store.delete(&send.connection_id).await?;
                }
                Ok(WsResponse::error(410, format!("connection `{}` is gone", send.connection_id)))
            }
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
    async fn delivers_to_one_connection_and_reports_gone_ones() {
        let aws = FakeAws::start().await;
        aws.connect("t1");
        aws.store("conns", "t2");
        let router = super::router(aws.context());
        let msg = r#"{"action":"sendMessage","connectionId":"t1","message":"Hi! :)"}"#;
        let out = router
            .handle(aws.event("sendMessage", "t2", Some(msg)))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 200);
        assert!(out["body"].is_null(), "{out}");
        assert_eq!(aws.received("t1"), ["Hi! :)"]);

        aws.close("t1");
        aws.store("conns", "t1");
        let out = router
            .handle(aws.event("sendMessage", "t2", Some(msg)))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 410);
        assert_eq!(out["body"], r#"{"error":"connection `t1` is gone"}"#);
        assert_eq!(aws.stored("conns"), ["t2"]);

        let out = router
            .handle(aws.event("sendMessage", "t2", Some(r#"{"action":"sendMessage"}"#)))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 400);
    }
}
