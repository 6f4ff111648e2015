//! The `echo` Lambda function (see lib.rs).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wsgen_handler::Error> {
    echo::router(wsgen_handler::Context::from_env().await?)
        .run()
        .await
}
