fn main() {
    std::process::exit(wsgen_cli::run())
}
