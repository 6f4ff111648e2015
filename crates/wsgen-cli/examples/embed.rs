//! Writes the files the `wsgen` binary embeds into DIR as the published `wsgen-cli`
//! crate carries them (`crates/wsgen-cli/embed/`, which `build.rs` reads when the
//! workspace is not there). Run before `cargo package -p wsgen-cli`:
//!
//! ```sh
//! cargo run -p wsgen-cli --example embed -- crates/wsgen-cli/embed
//! ```

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: embed DIR");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    if dir.exists() {
        eprintln!("{} exists: remove it first", dir.display());
        std::process::exit(2);
    }
    match wsgen_cli::embedded::write_all(&dir) {
        Ok(n) => println!("wrote {n} files to {}", dir.display()),
        Err(e) => {
            eprintln!("cannot write {}: {e}", dir.display());
            std::process::exit(1);
        }
    }
}
