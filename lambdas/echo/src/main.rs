//! The `echo` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    echo::main()
}
