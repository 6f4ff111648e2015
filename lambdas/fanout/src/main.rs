//! The `fanout` Lambda function (see lib.rs).

#[tokio::main]
async fn main() -> Result<(), wsgen_handler::Error> {
    fanout::router(wsgen_handler::Context::from_env().await?)
        .run()
        .await
}
