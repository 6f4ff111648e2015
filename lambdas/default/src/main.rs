//! The `default` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    default::main()
}
