//! Embeds in the binary what `wsgen new` renders and what a new project builds with, so
//! that nothing at run time reads the source the binary was built from:
//!
//! - `blueprints/**` (the starter projects),
//! - `lambdas/<crate>/**` (the stock handler crates, `wsgen-handler` among them),
//! - `library/wsgen/**` and `library/wsgen-handler/**`: the sources of the two library
//!   crates a project depends on, with manifests that stand alone (the workspace's
//!   inherited fields filled in, no dev-dependencies or benches), as `cargo package`
//!   would write them,
//! - `Cargo.lock` (the versions wsgen's tests build with: a new project builds offline).
//!
//! From the workspace (`../../`) when it is there; else from `embed/`, the same files
//! by the same paths that the published crate carries (with each `Cargo.toml` stored as
//! `Cargo.toml.in`, as cargo leaves out directories holding a `Cargo.toml`), written by
//! `cargo run -p wsgen-cli --example embed -- crates/wsgen-cli/embed`.
//!
//! Writes `$OUT_DIR/embedded.rs`: `FILES`, sorted by path, each with its bytes and its
//! modification time (seconds since the epoch).

use std::path::{Path, PathBuf};

/// Directories never embedded: build output, synthesized assemblies, npm's.
const SKIP: &[&str] = &["target", "wsgen.out", "node_modules"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let workspace = manifest_dir.join("../..");
    let packaged = manifest_dir.join("embed");
    let files = if workspace.join("blueprints").is_dir() && workspace.join("lambdas").is_dir() {
        from_workspace(&workspace, &out_dir)
    } else if packaged.is_dir() {
        println!("cargo:rerun-if-changed={}", packaged.display());
        walk(&packaged)
            .into_iter()
            .map(|(rel, path)| {
                let rel = match rel.strip_suffix("Cargo.toml.in") {
                    Some(dir) => format!("{dir}Cargo.toml"),
                    None => rel,
                };
                (rel, path)
            })
            .collect()
    } else {
        panic!(
            "wsgen-cli embeds the blueprints and handler crates of its workspace \
             ({}/blueprints) or of {}: neither is there",
            workspace.display(),
            packaged.display()
        );
    };
    let mut code = String::from("pub static FILES: &[(&str, &[u8], u64)] = &[\n");
    for (rel, path) in &files {
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let path = path.canonicalize().unwrap();
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?}), {modified}),\n",
            path.to_str().expect("a UTF-8 path")
        ));
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("embedded.rs"), code).unwrap();
}

/// The embedded files by logical path, from the workspace.
fn from_workspace(workspace: &Path, out_dir: &Path) -> Vec<(String, PathBuf)> {
    for watched in [
        "blueprints",
        "lambdas",
        "crates/wsgen",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    let mut files = Vec::new();
    for (rel, path) in walk(&workspace.join("blueprints")) {
        files.push((format!("blueprints/{rel}"), path));
    }
    for (rel, path) in walk(&workspace.join("lambdas")) {
        files.push((format!("lambdas/{rel}"), path));
    }
    let package = workspace_package(&workspace.join("Cargo.toml"));
    for (name, dir) in [
        ("wsgen", workspace.join("crates/wsgen")),
        ("wsgen-handler", workspace.join("lambdas/wsgen-handler")),
    ] {
        for (rel, path) in walk(&dir.join("src")) {
            files.push((format!("library/{name}/src/{rel}"), path));
        }
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let standalone = out_dir.join(format!("{name}.Cargo.toml"));
        std::fs::write(&standalone, standalone_manifest(&text, &package)).unwrap();
        files.push((format!("library/{name}/Cargo.toml"), standalone));
    }
    files.push(("Cargo.lock".into(), workspace.join("Cargo.lock")));
    files.sort();
    files
}

/// Every file under `dir` by relative path (`/`-separated), sorted.
fn walk(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !SKIP.contains(&name.as_str()) {
                    stack.push(path);
                }
            } else {
                let rel = path.strip_prefix(dir).unwrap();
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push((rel.join("/"), path));
            }
        }
    }
    out.sort();
    out
}

/// The `key = value` lines of the workspace's `[workspace.package]`.
fn workspace_package(manifest: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[workspace.package]";
        } else if inside {
            if let Some((key, value)) = line.split_once('=') {
                if !key.trim().starts_with('#') {
                    out.push((key.trim().to_string(), value.trim().to_string()));
                }
            }
        }
    }
    out
}

/// A library crate's manifest as it stands outside the workspace: `key.workspace =
/// true` replaced by the workspace's value, and the sections only the workspace's own
/// builds use (dev-dependencies, benches, tests, examples) left out.
fn standalone_manifest(text: &str, package: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut keep = true;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            keep = !matches!(
                trimmed,
                "[dev-dependencies]" | "[[bench]]" | "[[test]]" | "[[example]]"
            );
        }
        if !keep {
            continue;
        }
        if let Some(key) = trimmed.strip_suffix(".workspace = true") {
            let value = package
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("[workspace.package] has no `{key}`"));
            out.push_str(&format!("{key} = {value}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
