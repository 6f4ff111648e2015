//! The `sendto` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    sendto::main()
}
