//! The `messages` Lambda function (see lib.rs).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wsgen_handler::Error> {
    messages::router(messages::Messages::from_env(
        wsgen_handler::Context::from_env().await?,
    )?)
    .run()
    .await
}
