//! The `messages` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    messages::main()
}
