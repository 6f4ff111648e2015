//! The `ticker` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    ticker::main()
}
