//! The `authorizer` Lambda function (see lib.rs).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wsgen_handler::Error> {
    let tokens =
        authorizer::parse_tokens(&std::env::var(authorizer::TOKENS_ENV).unwrap_or_default());
    let tokens = &tokens;
    wsgen_handler::authorizer::run(move |req| async move { Ok(authorizer::decide(tokens, &req)) })
        .await
}
