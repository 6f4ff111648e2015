//! The `sendmessage` Lambda function (see lib.rs).

fn main() -> Result<(), wsgen_handler::Error> {
    sendmessage::main()
}
