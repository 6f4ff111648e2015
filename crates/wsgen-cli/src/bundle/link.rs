//! The multi-call binary: the handler crates of an app that name a library entry point
//! (`[package.metadata.wsgen] entry = "main"`) are linked into one binary, which runs
//! the handler its function's `Handler` names (Lambda passes it as `_HANDLER`). One
//! build and one link instead of one per crate (BENCHMARKS.md: 0.73x the cold build of
//! the chat blueprint's four handlers), one zip for all their functions.
//!
//! `wsgen bundle` generates the crate that does the dispatch in
//! `wsgen.out/link/<arch>-<hash of the crates' paths>/`, a workspace of its own:
//!
//! - its dependencies are the handler crates, by path, each under an alias (`h0`,
//!   `h1`, ...), so the code never depends on their library names;
//! - it copies the project's `Cargo.lock`, so it builds with the versions the project
//!   locked, and the project's `[profile]`, `[patch]` and `[replace]` tables, so it
//!   builds as the project's own crates do; cargo runs in the project directory, which
//!   applies the project's `.cargo/config.toml` (a new project's patches `wsgen`, which
//!   the crate then depends on without building it, so that the patch is used);
//! - it builds into the project's target directory: the dependencies compiled for the
//!   project's other builds are reused.
//!
//! The directory is named by the crates' paths, not their contents: an edit rebuilds
//! the same package, so the target directory does not collect a binary per edit.

use crate::cargo::BuildError;
use crate::CliError;
use std::path::{Path, PathBuf};
use wsgen::assembly::{LinkedHandler, LINKED_PACKAGE};

/// The binary's name in the crate generated in `dir`: `bootstrap-<hash of the
/// directory>`. Cargo copies a binary to `<target>/<profile>/<name>`, where another
/// project building into the same target directory (a shared `CARGO_TARGET_DIR`) would
/// overwrite a common name between cargo's build and wsgen's read of it.
pub fn bin(dir: &Path) -> String {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let hash = wsgen::digest::sha256_hex(dir.to_string_lossy().as_bytes());
    format!("bootstrap-{}", &hash[..12])
}

/// Where the crate linking `handlers` (of the project in `project`) for `arch` is
/// generated.
pub fn dir(project: &Path, out: &Path, arch: &str, handlers: &[LinkedHandler]) -> PathBuf {
    let mut key = arch.to_string();
    for path in crates(project, handlers) {
        key.push('\0');
        key.push_str(&path);
    }
    let hash = wsgen::digest::sha256_hex(key.as_bytes());
    out.join("link").join(format!("{arch}-{}", &hash[..12]))
}

/// The crates' directories relative to the project, however the app spelled them
/// (`lambdas/a/`, `./lambdas/a`), sorted.
fn crates(project: &Path, handlers: &[LinkedHandler]) -> Vec<String> {
    let root = project.canonicalize().ok();
    let mut paths: Vec<String> = handlers
        .iter()
        .map(|h| {
            let dir = project.join(&h.crate_path).canonicalize().ok();
            match (dir, &root) {
                (Some(dir), Some(root)) => dir
                    .strip_prefix(root)
                    .unwrap_or(&dir)
                    .to_string_lossy()
                    .into_owned(),
                _ => h.crate_path.trim_end_matches('/').to_string(),
            }
        })
        .collect();
    paths.sort();
    paths
}

/// Whether two plans link the same crates (by directory, package and entry point).
pub fn same_crates(project: &Path, a: &[LinkedHandler], b: &[LinkedHandler]) -> bool {
    let key = |handlers: &[LinkedHandler]| {
        let mut named: Vec<(String, String)> = handlers
            .iter()
            .map(|h| (h.package.clone(), h.entry.clone()))
            .collect();
        named.sort();
        (crates(project, handlers), named)
    };
    key(a) == key(b)
}

/// Writes the crate into `dir` (each file only when its content changed, so that cargo
/// finds an unchanged crate fresh) and returns its manifest.
pub fn write_crate(
    project: &Path,
    dir: &Path,
    handlers: &[LinkedHandler],
) -> Result<PathBuf, CliError> {
    let project = std::path::absolute(project).unwrap_or_else(|_| project.to_path_buf());
    let workspace = read_manifest(&project.join("Cargo.toml"))?;
    // A patch of `wsgen` (a new project's, in `.cargo/config.toml`) that the generated
    // crate uses, so that cargo does not warn of it.
    let patched_wsgen = crate::sources::patch_of(&workspace, "wsgen").is_some()
        || crate::sources::project_config(&project)
            .is_some_and(|config| crate::sources::patch_of(&config, "wsgen").is_some());
    let files = [
        (
            "Cargo.toml",
            manifest(&project, &workspace, handlers, &bin(dir), patched_wsgen),
        ),
        ("main.rs", main_rs(handlers)),
    ];
    for (name, text) in files {
        let file = dir.join(name);
        if std::fs::read(&file).ok().as_deref() != Some(text.as_bytes()) {
            crate::files::write_atomically(&file, text.as_bytes(), None)?;
        }
    }
    // The project's lockfile, as the project has it now, with this crate in it.
    let lock = project.join("Cargo.lock");
    if lock.is_file() {
        let bytes = std::fs::read(&lock).map_err(CliError::io("cannot read", &lock))?;
        let bytes = with_this_crate(&bytes, handlers, patched_wsgen).unwrap_or(bytes);
        crate::files::write_atomically(&dir.join("Cargo.lock"), &bytes, None)?;
    }
    Ok(dir.join("Cargo.toml"))
}

/// The project's lockfile `lock` with this crate's entry added: its dependencies, the
/// handler crates and, with `unbuilt_wsgen`, `wsgen`, by the names the lockfile knows
/// them by. Every edge is then locked, so cargo does not look `wsgen = "*"` up in the
/// registry's index, which it would do on every build (a request, and an error on a
/// machine without a network that is not told to build offline). None when `lock`
/// is not a lockfile this can add to (cargo then resolves the crate itself).
fn with_this_crate(
    lock: &[u8],
    handlers: &[LinkedHandler],
    unbuilt_wsgen: bool,
) -> Option<Vec<u8>> {
    use toml::Value;
    let mut doc: toml::Table = std::str::from_utf8(lock).ok()?.parse().ok()?;
    let packages = doc.get_mut("package")?.as_array_mut()?;
    let field = |p: &Value, key: &str| p.get(key).and_then(Value::as_str).map(str::to_string);
    // As cargo writes a dependency: `name` when the lockfile has one package of that
    // name, `name version` when one of them is local (a path, no `source`).
    let spec = |name: &str| -> Option<String> {
        let named: Vec<&Value> = packages
            .iter()
            .filter(|p| field(p, "name").as_deref() == Some(name))
            .collect();
        match named.as_slice() {
            [_] => Some(name.to_string()),
            many => match many
                .iter()
                .filter(|p| p.get("source").is_none())
                .collect::<Vec<_>>()[..]
            {
                [local] => Some(format!("{name} {}", field(local, "version")?)),
                _ => None,
            },
        }
    };
    let mut dependencies = handlers
        .iter()
        .map(|h| spec(&h.package))
        .chain(unbuilt_wsgen.then(|| spec("wsgen")))
        .collect::<Option<Vec<String>>>()?;
    dependencies.sort();
    dependencies.dedup();
    let mut entry = toml::Table::new();
    entry.insert("name".into(), Value::String(LINKED_PACKAGE.into()));
    entry.insert("version".into(), Value::String("0.0.0".into()));
    entry.insert(
        "dependencies".into(),
        Value::Array(dependencies.into_iter().map(Value::String).collect()),
    );
    packages.retain(|p| field(p, "name").as_deref() != Some(LINKED_PACKAGE));
    packages.push(Value::Table(entry));
    toml::to_string(&doc).ok().map(String::into_bytes)
}

fn read_manifest(path: &Path) -> Result<toml::Table, CliError> {
    let text = std::fs::read_to_string(path).map_err(CliError::io("cannot read", path))?;
    text.parse().map_err(|e: toml::de::Error| {
        BuildError::Bundle(format!(
            "{} is not valid TOML: {} (`cargo check` shows where)",
            path.display(),
            e.message()
        ))
        .into()
    })
}

/// The generated crate's manifest.
fn manifest(
    project: &Path,
    workspace: &toml::Table,
    handlers: &[LinkedHandler],
    bin_name: &str,
    unbuilt_wsgen: bool,
) -> String {
    use toml::{Table, Value};
    let text = |s: &str| Value::String(s.to_string());
    let mut package = Table::new();
    package.insert("name".into(), text(LINKED_PACKAGE));
    package.insert("version".into(), text("0.0.0"));
    package.insert("edition".into(), text("2021"));
    package.insert("publish".into(), Value::Boolean(false));
    let mut bin = Table::new();
    bin.insert("name".into(), text(bin_name));
    bin.insert("path".into(), text("main.rs"));
    let mut dependencies = Table::new();
    for (i, h) in handlers.iter().enumerate() {
        let mut dep = Table::new();
        dep.insert("package".into(), text(&h.package));
        dep.insert(
            "path".into(),
            text(&project.join(&h.crate_path).to_string_lossy()),
        );
        dependencies.insert(format!("h{i}"), Value::Table(dep));
    }
    let mut ws = Table::new();
    let resolver = workspace
        .get("workspace")
        .and_then(|w| w.get("resolver"))
        .cloned()
        .unwrap_or_else(|| text("2"));
    ws.insert("resolver".into(), resolver);

    let mut doc = Table::new();
    doc.insert("package".into(), Value::Table(package));
    doc.insert("bin".into(), Value::Array(vec![Value::Table(bin)]));
    doc.insert("dependencies".into(), Value::Table(dependencies));
    if unbuilt_wsgen {
        // `wsgen` in the crate graph, never built (no target matches `cfg(any())`): the
        // project patches it for its infra crate, and cargo warns of a patch the graph
        // does not use. The project's lockfile has it already.
        let mut never = Table::new();
        never.insert("wsgen".into(), text("*"));
        let mut unbuilt = Table::new();
        unbuilt.insert("dependencies".into(), Value::Table(never));
        let mut target = Table::new();
        target.insert("cfg(any())".into(), Value::Table(unbuilt));
        doc.insert("target".into(), Value::Table(target));
    }
    doc.insert("workspace".into(), Value::Table(ws));
    if let Some(profile) = workspace.get("profile") {
        doc.insert("profile".into(), profile.clone());
    }
    for key in ["patch", "replace"] {
        if let Some(value) = workspace.get(key) {
            doc.insert(key.into(), rebased(value, project));
        }
    }
    let body = toml::to_string(&doc).unwrap_or_default();
    format!(
        "# Generated by `wsgen bundle` from the project's handler crates and Cargo.toml: the\n\
         # crates linked into one binary (see wsgen's bundle/link.rs). Do not edit.\n\n{body}"
    )
}

/// `value` with every relative `path = "..."` made absolute against `base`.
fn rebased(value: &toml::Value, base: &Path) -> toml::Value {
    match value {
        toml::Value::Table(t) => toml::Value::Table(
            t.iter()
                .map(|(k, v)| {
                    let v = match v {
                        toml::Value::String(p) if k == "path" && Path::new(p).is_relative() => {
                            toml::Value::String(base.join(p).to_string_lossy().into_owned())
                        }
                        v => rebased(v, base),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        v => v.clone(),
    }
}

/// The generated crate's `main`: the handler `_HANDLER` names, run as its crate's
/// entry point runs it (its result reported as a `main`'s would be).
fn main_rs(handlers: &[LinkedHandler]) -> String {
    let names: Vec<String> = handlers
        .iter()
        .map(|h| format!("`{}`", h.package))
        .collect();
    let mut arms = String::new();
    for (i, h) in handlers.iter().enumerate() {
        arms.push_str(&format!(
            "        {:?} => h{i}::{}().report(),\n",
            h.package, h.entry
        ));
    }
    format!(
        r#"//! Generated by `wsgen bundle`: one binary with the handlers
//! {names}.
//! A function runs the one its `Handler` names, which Lambda passes as `_HANDLER`.
//! Do not edit.

use std::process::{{ExitCode, Termination}};

fn main() -> ExitCode {{
    let handler = std::env::var("_HANDLER").unwrap_or_default();
    match handler.as_str() {{
{arms}        other => {{
            eprintln!(
                "wsgen: this binary runs the handlers {names}, not `{{other}}` (the function's Handler, _HANDLER): synthesize, bundle and deploy the app again"
            );
            ExitCode::FAILURE
        }}
    }}
}}
"#,
        names = names.join(", ")
    )
}

/// What a failed build of the generated crate most likely means, besides cargo's own
/// messages.
pub fn build_failed(handlers: &[LinkedHandler]) -> BuildError {
    let entries: Vec<String> = handlers
        .iter()
        .map(|h| format!("`{}::{}`", h.package.replace('-', "_"), h.entry))
        .collect();
    BuildError::Bundle(format!(
        "cargo could not build the handler crates linked into one binary (its messages are above); the previous zips are kept. Each crate's `[package.metadata.wsgen] entry` must name a public function of its library that takes no arguments and returns what a `main` may return, such as `Result<(), wsgen_handler::Error>` ({}); remove the key from a crate to build its own binary instead",
        entries.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handlers() -> Vec<LinkedHandler> {
        vec![
            LinkedHandler {
                package: "onconnect".into(),
                crate_path: "lambdas/onconnect".into(),
                entry: "main".into(),
            },
            LinkedHandler {
                package: "send-message".into(),
                crate_path: "lambdas/send".into(),
                entry: "app::run".into(),
            },
        ]
    }

    #[test]
    fn the_crate_dispatches_on_the_handler_and_keeps_the_projects_settings() {
        let workspace: toml::Table = r#"
[workspace]
members = ["infra", "lambdas/*"]
resolver = "3"

[profile.dev.package]
tokio = { opt-level = 2 }

[patch.crates-io]
wsgen-handler = { path = "vendor/wsgen-handler" }
serde = { git = "https://example.com/serde" }
"#
        .parse()
        .unwrap();
        let text = manifest(
            Path::new("/p"),
            &workspace,
            &handlers(),
            "bootstrap-x",
            true,
        );
        let doc: toml::Table = text.parse().unwrap();
        assert_eq!(doc["package"]["name"].as_str(), Some(LINKED_PACKAGE));
        assert_eq!(doc["bin"][0]["name"].as_str(), Some("bootstrap-x"));
        assert_eq!(
            doc["dependencies"]["h1"]["package"].as_str(),
            Some("send-message")
        );
        assert_eq!(
            doc["dependencies"]["h0"]["path"].as_str(),
            Some("/p/lambdas/onconnect")
        );
        assert_eq!(doc["workspace"]["resolver"].as_str(), Some("3"));
        assert_eq!(
            doc["target"]["cfg(any())"]["dependencies"]["wsgen"].as_str(),
            Some("*"),
            "the project's patch of wsgen is used, and wsgen never built"
        );
        assert_eq!(
            doc["profile"]["dev"]["package"]["tokio"]["opt-level"].as_integer(),
            Some(2)
        );
        assert_eq!(
            doc["patch"]["crates-io"]["wsgen-handler"]["path"].as_str(),
            Some("/p/vendor/wsgen-handler")
        );
        assert_eq!(
            doc["patch"]["crates-io"]["serde"]["git"].as_str(),
            Some("https://example.com/serde")
        );

        let unpatched = manifest(
            Path::new("/p"),
            &workspace,
            &handlers(),
            "bootstrap-x",
            false,
        );
        assert!(!unpatched.contains("cfg(any())"), "{unpatched}");

        let main = main_rs(&handlers());
        assert!(
            main.contains(r#""onconnect" => h0::main().report(),"#),
            "{main}"
        );
        assert!(
            main.contains(r#""send-message" => h1::app::run().report(),"#),
            "{main}"
        );
        assert!(main.contains("`onconnect`, `send-message`"), "{main}");
    }

    #[test]
    fn the_lockfile_locks_this_crates_dependencies() {
        let lock = r#"version = 4

[[package]]
name = "onconnect"
version = "0.1.0"

[[package]]
name = "send-message"
version = "0.1.0"
dependencies = ["send-message 2.0.0"]

[[package]]
name = "send-message"
version = "2.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "wsgen"
version = "0.1.0"
"#;
        let added = with_this_crate(lock.as_bytes(), &handlers(), true).unwrap();
        let doc: toml::Table = std::str::from_utf8(&added).unwrap().parse().unwrap();
        let packages = doc["package"].as_array().unwrap();
        assert_eq!(packages.len(), 5);
        let this = packages.last().unwrap();
        assert_eq!(this["name"].as_str(), Some(LINKED_PACKAGE));
        assert_eq!(
            this["dependencies"],
            toml::Value::Array(
                ["onconnect", "send-message 0.1.0", "wsgen"]
                    .map(|d| toml::Value::String(d.into()))
                    .to_vec()
            ),
            "by the names cargo writes: the local send-message with its version"
        );
        // Without the patch of wsgen, no wsgen.
        let added = with_this_crate(lock.as_bytes(), &handlers(), false).unwrap();
        let doc: toml::Table = std::str::from_utf8(&added).unwrap().parse().unwrap();
        assert_eq!(
            doc["package"].as_array().unwrap()[4]["dependencies"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        // A lockfile without wsgen, or not TOML: left to cargo.
        assert!(with_this_crate(b"version = 4\n", &handlers(), true).is_none());
        assert!(with_this_crate(b"[[package", &handlers(), true).is_none());
    }

    #[test]
    fn the_crates_place_depends_on_their_paths_only() {
        let project = tempfile::tempdir().unwrap();
        let project = project.path();
        for h in handlers() {
            std::fs::create_dir_all(project.join(&h.crate_path)).unwrap();
        }
        let out = project.join("wsgen.out");
        let a = dir(project, &out, "x86_64", &handlers());
        assert!(a.starts_with(out.join("link")), "{}", a.display());
        let mut edited = handlers();
        edited[1].entry = "main".into();
        assert_eq!(dir(project, &out, "x86_64", &edited), a);
        assert!(!same_crates(project, &edited, &handlers()));
        // Spelled otherwise, the same directories.
        let mut spelled = handlers();
        spelled[0].crate_path = "./lambdas/onconnect/".into();
        spelled.reverse();
        assert_eq!(dir(project, &out, "x86_64", &spelled), a);
        assert!(same_crates(project, &spelled, &handlers()));
        assert_ne!(dir(project, &out, "arm64", &handlers()), a);
        assert_ne!(dir(project, &out, "x86_64", &handlers()[..1]), a);
        // The binary's name is the directory's: two projects never share it.
        assert!(bin(&a).starts_with("bootstrap-"));
        assert_ne!(
            bin(&a),
            bin(Path::new("/elsewhere/wsgen.out/link/x86_64-1"))
        );
        assert_eq!(bin(&a), bin(&a));
    }
}
