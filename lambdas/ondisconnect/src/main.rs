//! The `ondisconnect` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    ondisconnect::main()
}
