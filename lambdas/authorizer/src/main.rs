//! The `authorizer` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    authorizer::main()
}
