fn main() {
    std::process::exit(wsgen::cli::run())
}
