//! The `fanout` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    fanout::main()
}
