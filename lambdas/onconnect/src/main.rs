//! The `onconnect` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    onconnect::main()
}
