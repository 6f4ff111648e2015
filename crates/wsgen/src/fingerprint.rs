//! Handler crates: finding their binary target and fingerprinting their sources.
//!
//! An asset's fingerprint is the SHA-256 of everything that decides the bytes of its
//! `bootstrap`: the target architecture and binary name, the crate's files, the files of
//! every local (path) dependency, and the workspace's `Cargo.toml` and `Cargo.lock`.
//! Paths are hashed relative to the project directory, so the fingerprint is the same on
//! every machine; `target/` and hidden entries are skipped.

use crate::digest::hex;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A handler crate's package name and the binary to deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerCrate {
    pub package: String,
    pub bin: String,
    /// The function of the crate's library that runs the handler as its binary's `main`
    /// does, from `[package.metadata.wsgen] entry = "main"`: a crate that names one can
    /// be linked with the app's other handlers into one multi-call binary
    /// ([`crate::assembly::LinkedHandler`]).
    pub entry: Option<String>,
}

/// Where a handler crate names its library entry point.
pub const ENTRY_KEY: &str = "package.metadata.wsgen.entry";

/// Why a handler crate cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrateProblem {
    pub rule: &'static str,
    pub message: String,
    pub fix: String,
}

/// Reads `crate_path/Cargo.toml` (relative to `project`) and picks the binary to deploy.
pub fn inspect_crate(
    project: &Path,
    crate_path: &str,
    bin: Option<&str>,
) -> Result<HandlerCrate, CrateProblem> {
    let dir = project.join(crate_path);
    let manifest = dir.join("Cargo.toml");
    let text = fs::read_to_string(&manifest).map_err(|e| CrateProblem {
        rule: "handler-crate-missing",
        message: if dir.is_dir() {
            format!("handler crate `{crate_path}` has no readable Cargo.toml ({e})")
        } else {
            format!("handler crate `{crate_path}` does not exist (looked in {})", dir.display())
        },
        fix: "create the crate (e.g. `cargo new --bin` there) or fix the path given to `rust_function`; paths are relative to the project directory".into(),
    })?;
    let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| CrateProblem {
        rule: "handler-crate-invalid",
        message: format!("{crate_path}/Cargo.toml is not valid TOML: {}", e.message()),
        fix: "fix the manifest (`cargo check` there shows the error)".into(),
    })?;
    let package = doc
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .ok_or_else(|| CrateProblem {
            rule: "handler-crate-invalid",
            message: format!("{crate_path}/Cargo.toml has no [package] name"),
            fix: "point `rust_function` at a package, not a workspace".into(),
        })?
        .to_string();
    let entry = match doc
        .get("package")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("wsgen"))
        .and_then(|w| w.get("entry"))
    {
        None => None,
        Some(toml::Value::String(path)) if is_rust_path(path) => Some(path.clone()),
        Some(other) => {
            let other = match other {
                toml::Value::String(s) => format!("{s:?}"),
                v => format!("a {}", v.type_str()),
            };
            return Err(CrateProblem {
                rule: "handler-entry-invalid",
                message: format!(
                    "{crate_path}/Cargo.toml's `{ENTRY_KEY}` is {other}, not the path of a function in the crate's library"
                ),
                fix: "name a public function of the library that runs the handler, e.g. `entry = \"main\"` for `pub fn main()` in src/lib.rs, or remove the key".into(),
            });
        }
    };
    let bins = binaries(&dir, &doc, &package);
    let chosen = match bin {
        Some(b) if bins.contains(b) => b.to_string(),
        Some(b) => {
            return Err(CrateProblem {
                rule: "handler-bin-missing",
                message: format!(
                    "handler crate `{crate_path}` has no binary `{b}` (it has: {})",
                    list(&bins)
                ),
                fix: "fix the name given to `.bin(..)`".into(),
            })
        }
        None if bins.len() == 1 => bins.iter().next().cloned().expect("one binary"),
        None if bins.is_empty() => {
            return Err(CrateProblem {
                rule: "handler-bin-missing",
                message: format!("handler crate `{crate_path}` has no binary target"),
                fix: "add src/main.rs with a `lambda_runtime` handler".into(),
            })
        }
        None => {
            return Err(CrateProblem {
                rule: "handler-bin-ambiguous",
                message: format!(
                    "handler crate `{crate_path}` has several binaries: {}",
                    list(&bins)
                ),
                fix: "choose one with `.bin(\"name\")`".into(),
            })
        }
    };
    Ok(HandlerCrate {
        package,
        bin: chosen,
        entry,
    })
}

/// `name` or `module::name`: Rust identifiers joined by `::`.
fn is_rust_path(path: &str) -> bool {
    path.split("::").all(|part| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && part != "_"
    })
}

fn list(bins: &BTreeSet<String>) -> String {
    if bins.is_empty() {
        "none".into()
    } else {
        bins.iter()
            .map(|b| format!("`{b}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The crate's binary targets, as cargo finds them.
fn binaries(dir: &Path, doc: &toml::Table, package: &str) -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    let autobins = doc
        .get("package")
        .and_then(|p| p.get("autobins"))
        .and_then(|v| v.as_bool())
        != Some(false);
    if autobins {
        if dir.join("src/main.rs").is_file() {
            bins.insert(package.to_string());
        }
        if let Ok(entries) = fs::read_dir(dir.join("src/bin")) {
            for e in entries.flatten() {
                let p = e.path();
                let name = p.file_stem().and_then(|s| s.to_str()).map(str::to_string);
                if p.extension().is_some_and(|x| x == "rs") || p.join("main.rs").is_file() {
                    bins.extend(name);
                }
            }
        }
    }
    if let Some(list) = doc.get("bin").and_then(|b| b.as_array()) {
        for b in list {
            if let Some(n) = b.get("name").and_then(|n| n.as_str()) {
                bins.insert(n.to_string());
            }
        }
    }
    bins
}

/// The fingerprint of the asset built from `crate_path` (relative to `project`).
pub fn fingerprint(project: &Path, crate_path: &str, bin: &str, arch: &str) -> io::Result<String> {
    let project = project.canonicalize()?;
    let crate_dir = project.join(crate_path).canonicalize()?;
    let mut h = Sha256::new();
    h.update(b"wsgen-asset-v1\0");
    h.update(arch.as_bytes());
    h.update(b"\0");
    h.update(bin.as_bytes());
    h.update(b"\0");

    // The workspace root: the nearest directory at or above the crate, inside the
    // project, that holds Cargo.lock.
    let mut root = None;
    let mut dir = Some(crate_dir.as_path());
    while let Some(d) = dir {
        if d.join("Cargo.lock").is_file() {
            root = Some(d.to_path_buf());
            break;
        }
        if d == project {
            break;
        }
        dir = d.parent();
    }
    let mut dirs: Vec<PathBuf> = vec![crate_dir.clone()];
    if let Some(root) = &root {
        for f in ["Cargo.lock", "Cargo.toml"] {
            hash_file(&mut h, &project, &root.join(f))?;
        }
        dirs.extend(path_dependencies(root, &root.join("Cargo.toml")));
    }
    let mut seen = BTreeSet::new();
    while let Some(d) = dirs.pop() {
        let Ok(d) = d.canonicalize() else { continue };
        if !seen.insert(d.clone()) {
            continue;
        }
        if d.is_file() {
            hash_file(&mut h, &project, &d)?;
            continue;
        }
        dirs.extend(path_dependencies(&d, &d.join("Cargo.toml")));
        let mut files = Vec::new();
        walk(&d, &mut files)?;
        files.sort();
        for f in files {
            hash_file(&mut h, &project, &f)?;
        }
    }
    Ok(hex(&h.finalize()))
}

/// The fingerprint of a multi-call binary linking `handlers` for `arch`: each as its
/// package name, library entry point and own asset's fingerprint (which covers its
/// sources, path dependencies and the lockfile). The generated dispatcher's version is
/// part of it: a wsgen that generates another one builds a new asset.
pub fn linked_fingerprint(arch: &str, handlers: &[(String, String, String)]) -> String {
    let mut handlers: Vec<&(String, String, String)> = handlers.iter().collect();
    handlers.sort();
    let mut h = Sha256::new();
    h.update(b"wsgen-linked-v1\0");
    h.update(arch.as_bytes());
    h.update(b"\0");
    for (package, entry, fingerprint) in handlers {
        for part in [package, entry, fingerprint] {
            h.update(part.as_bytes());
            h.update(b"\0");
        }
    }
    hex(&h.finalize())
}

fn hash_file(h: &mut Sha256, project: &Path, file: &Path) -> io::Result<()> {
    if !file.is_file() {
        return Ok(());
    }
    let rel = file.strip_prefix(project).unwrap_or(file);
    let rel: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let data = fs::read(file)?;
    h.update(rel.join("/").as_bytes());
    h.update(b"\0");
    h.update((data.len() as u64).to_le_bytes());
    h.update(&data);
    Ok(())
}

/// The files of a package: everything under `dir` but hidden entries, build output
/// (`target/`, `wsgen.out/`), `node_modules/`, and nested packages (directories with a
/// Cargo.toml of their own, which cargo leaves out of the package too; a nested package
/// that is a dependency is followed as one).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || matches!(name.as_ref(), "target" | "wsgen.out" | "node_modules")
        {
            continue;
        }
        let ty = entry.file_type()?;
        if ty.is_dir() {
            if entry.path().join("Cargo.toml").is_file() {
                continue;
            }
            walk(&entry.path(), out)?;
        } else if ty.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

/// Directories named by `path = "..."` anywhere in a manifest (dependencies of every
/// kind, workspace dependencies, patches), resolved against `base`. Over-inclusion only
/// makes a fingerprint change more often; it never hides a change.
fn path_dependencies(base: &Path, manifest: &Path) -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string(manifest) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    fn visit(v: &toml::Value, key: Option<&str>, base: &Path, out: &mut Vec<PathBuf>) {
        match v {
            toml::Value::Table(t) => {
                // `[[bin]] path`, `[lib] path` and the like name files of the crate
                // itself, which are hashed already; only dependency tables matter.
                for (k, v) in t {
                    if k == "path"
                        && key.is_some_and(|k| {
                            !matches!(k, "lib" | "bin" | "test" | "bench" | "example" | "package")
                        })
                    {
                        if let Some(p) = v.as_str() {
                            out.push(base.join(p));
                        }
                    } else {
                        visit(v, Some(k), base, out);
                    }
                }
            }
            toml::Value::Array(a) => a.iter().for_each(|v| visit(v, key, base, out)),
            _ => {}
        }
    }
    visit(&toml::Value::Table(doc), None, base, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    #[test]
    fn follows_path_dependencies_and_ignores_target() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(
            root,
            "Cargo.toml",
            "[workspace]\nmembers = [\"h\", \"lib\"]\n",
        );
        write(root, "Cargo.lock", "# lock\n");
        write(
            root,
            "h/Cargo.toml",
            "[package]\nname = \"h\"\n[dependencies]\nshared = { path = \"../lib\" }\n",
        );
        write(root, "h/src/main.rs", "fn main() {}\n");
        write(root, "lib/Cargo.toml", "[package]\nname = \"shared\"\n");
        write(root, "lib/src/lib.rs", "pub fn a() {}\n");
        let fp = || fingerprint(root, "h", "h", "x86_64").unwrap();
        let first = fp();
        assert_eq!(first.len(), 64);
        assert_eq!(first, fp());
        write(root, "h/target/debug/junk", "x");
        write(root, "h/.hidden", "x");
        write(root, "h/web/node_modules/x.js", "x");
        write(
            root,
            "h/nested/Cargo.toml",
            "[package]\nname = \"nested\"\n",
        );
        write(root, "h/nested/src/main.rs", "fn main() {}\n");
        assert_eq!(
            first,
            fp(),
            "target/, hidden files, node_modules and nested packages do not count"
        );
        write(root, "h/web/index.html", "<p>");
        let with_page = fp();
        assert_ne!(first, with_page, "other files of the crate count");
        fs::remove_file(root.join("h/web/index.html")).unwrap();
        assert_eq!(first, fp());
        write(root, "lib/src/lib.rs", "pub fn b() {}\n");
        let second = fp();
        assert_ne!(
            first, second,
            "a change in a path dependency changes the fingerprint"
        );
        write(root, "Cargo.lock", "# lock 2\n");
        assert_ne!(second, fp(), "a lockfile change changes the fingerprint");
        assert_ne!(fp(), fingerprint(root, "h", "h", "arm64").unwrap());
    }

    #[test]
    fn picks_the_binary() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        write(root, "one/Cargo.toml", "[package]\nname = \"one\"\n");
        write(root, "one/src/main.rs", "fn main() {}\n");
        assert_eq!(inspect_crate(root, "one", None).unwrap().bin, "one");
        write(root, "one/src/bin/extra.rs", "fn main() {}\n");
        let e = inspect_crate(root, "one", None).unwrap_err();
        assert_eq!(e.rule, "handler-bin-ambiguous");
        assert!(e.message.contains("`extra`, `one`"), "{}", e.message);
        assert_eq!(
            inspect_crate(root, "one", Some("extra")).unwrap().bin,
            "extra"
        );
        assert_eq!(
            inspect_crate(root, "one", Some("nope")).unwrap_err().rule,
            "handler-bin-missing"
        );
        assert_eq!(
            inspect_crate(root, "absent", None).unwrap_err().rule,
            "handler-crate-missing"
        );
        write(root, "lib/Cargo.toml", "[package]\nname = \"lib\"\n");
        assert_eq!(
            inspect_crate(root, "lib", None).unwrap_err().rule,
            "handler-bin-missing"
        );
    }

    #[test]
    fn reads_the_library_entry_point() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let with = |entry: &str| {
            write(
                root,
                "h/Cargo.toml",
                &format!("[package]\nname = \"h\"\n\n[package.metadata.wsgen]\nentry = {entry}\n"),
            );
            inspect_crate(root, "h", None)
        };
        write(root, "h/src/main.rs", "fn main() {}\n");
        assert_eq!(with("\"main\"").unwrap().entry.as_deref(), Some("main"));
        assert_eq!(
            with("\"app::run\"").unwrap().entry.as_deref(),
            Some("app::run")
        );
        for bad in ["\"\"", "\"main()\"", "\"a::\"", "\"1up\"", "\"_\"", "true"] {
            let e = with(bad).unwrap_err();
            assert_eq!(e.rule, "handler-entry-invalid", "{bad}");
            assert!(e.message.contains(ENTRY_KEY), "{}", e.message);
        }
        write(root, "h/Cargo.toml", "[package]\nname = \"h\"\n");
        assert_eq!(inspect_crate(root, "h", None).unwrap().entry, None);
    }
}
