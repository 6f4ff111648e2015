//! The `whoami` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    whoami::main()
}
