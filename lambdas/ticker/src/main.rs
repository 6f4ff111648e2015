//! The `ticker` Lambda function (see lib.rs).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wsgen_handler::Error> {
    ticker::router(wsgen_handler::Context::from_env().await?)
        .run()
        .await
}
