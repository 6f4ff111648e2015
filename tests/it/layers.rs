//! Imports run one way (ARCHITECTURE.md): each crate's top-level modules have a layer,
//! and a module may use only modules of lower layers (and its own submodules). The
//! check reads every `crate::...` path (and `super::...` in a top-level module) in the
//! sources; names the crate root re-exports count as the module they come from.

use crate::support::repo;
use std::collections::BTreeMap;
use std::path::Path;

/// The library, lowest first: the CloudFormation model and helpers, handler crates,
/// the cloud assembly, the DSL.
const LIBRARY: &[(&str, u32)] = &[
    ("cfn", 0),
    ("digest", 0),
    ("schedule", 0),
    ("fingerprint", 1),
    ("assembly", 2),
    ("constructs", 3),
    ("lib", 10),
];

/// The command, lowest first: files and what the binary embeds; the library sources
/// projects build with, the project, cargo and the AWS operations, each
/// with its own error type; stack selection and the AsyncAPI document of a template; the command's error, which wraps them;
/// the terminal; the verbs in pipeline order (a verb may run the steps before it:
/// deploy bundles, bundle synthesizes; `wsgen dev` writes the files `connect` and
/// `logs` read, `wsgen.out/dev/endpoints.json` and `logs.jsonl`, whose formats they
/// own); then the command line.
const CLI: &[(&str, u32)] = &[
    ("files", 0),
    ("embedded", 0),
    ("https", 0),
    ("sources", 1),
    ("project", 1),
    ("cargo", 1),
    ("cloud", 1),
    ("select", 2),
    ("asyncapi", 2),
    ("error", 3),
    ("ui", 4),
    ("synth", 5),
    ("new", 5),
    ("connect", 5),
    ("logs", 6),
    ("client", 6),
    ("bundle", 6),
    ("bootstrap", 6),
    ("deploy", 7),
    ("diff", 7),
    ("destroy", 7),
    ("dev", 7),
    ("args", 8),
    ("settings", 9),
    ("lib", 10),
    ("main", 10),
];

#[test]
fn imports_run_one_way() {
    let mut broken = Vec::new();
    for (dir, layers) in [("crates/wsgen/src", LIBRARY), ("crates/wsgen-cli/src", CLI)] {
        let src = repo().join(dir);
        let layers: BTreeMap<&str, u32> = layers.iter().copied().collect();
        let reexports = reexports(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
        for file in rust_files(&src) {
            let rel = file.strip_prefix(&src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_str()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string();
            let Some(&layer) = layers.get(top.as_str()) else {
                broken.push(format!(
                    "{dir}/{}: module `{top}` has no layer",
                    rel.display()
                ));
                continue;
            };
            let text = std::fs::read_to_string(&file).unwrap();
            let top_level = rel.components().count() == 1;
            for name in used_modules(&text, top_level) {
                let module = reexports.get(&name).cloned().unwrap_or(name);
                if module == top {
                    continue;
                }
                match layers.get(module.as_str()) {
                    Some(&used) if used < layer => {}
                    Some(&used) => broken.push(format!(
                        "{dir}/{}: `{top}` (layer {layer}) uses `{module}` (layer {used})",
                        rel.display()
                    )),
                    None => {}
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports that run back up:\n{}",
        broken.join("\n")
    );
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The first segment of every `crate::` path (and `super::` path when the file is a
/// top-level module, whose parent is the crate root), groups included.
fn used_modules(text: &str, top_level: bool) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut prefixes = vec!["crate::"];
    if top_level {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        for (i, _) in code.match_indices(prefix) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let mut depth = 1;
                let end = group
                    .char_indices()
                    .find(|&(_, c)| {
                        depth += match c {
                            '{' => 1,
                            '}' => -1,
                            _ => 0,
                        };
                        depth == 0
                    })
                    .map_or(group.len(), |(j, _)| j);
                let mut depth = 0;
                let mut item = String::new();
                for c in group[..end].chars().chain([',']) {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.push(first_segment(item.trim()));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
            } else {
                out.push(first_segment(rest));
            }
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

fn first_segment(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The names `lib.rs` re-exports (`pub use module::...::{A, B}`), with their module.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = first_segment(path);
        let names = match path.find('{') {
            Some(open) => path[open + 1..].trim_end_matches('}').to_string(),
            None => path.rsplit("::").next().unwrap_or("").to_string(),
        };
        for name in names.split(',') {
            let name = name.trim().rsplit("::").next().unwrap_or("").trim();
            if !name.is_empty() && name != "*" {
                out.insert(name.to_string(), module.clone());
            }
        }
    }
    out
}

#[test]
fn the_import_reader_sees_groups_and_reexports() {
    let used = used_modules(
        "use super::{cargo, CliError, Ui};\nuse crate::cloud::{aws::Aws, stacks};\n// use crate::args;\nfn f() { crate::files::write(); }\n",
        true,
    );
    assert_eq!(used, ["cloud", "files", "cargo", "CliError", "Ui"]);
    let re = reexports("pub use error::CliError;\npub use cloud::stacks::{Approval, Outcome};\npub use constructs::*;\n");
    assert_eq!(re["CliError"], "error");
    assert_eq!(re["Outcome"], "cloud");
    assert!(!re.contains_key("*"));
}

/// An infra crate depends on the library with no feature flags and compiles none of the
/// command's dependencies: the library has no features and only these dependencies
/// (schemars: a route's message type gives its model in the infra program, where the
/// type lives).
#[test]
fn the_library_stays_light() {
    let manifest: toml::Table = std::fs::read_to_string(repo().join("crates/wsgen/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        manifest.get("features").is_none(),
        "the library has features"
    );
    let dependencies: Vec<&str> = manifest["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        dependencies,
        [
            "schemars",
            "serde",
            "serde_json",
            "sha2",
            "thiserror",
            "toml"
        ],
        "a new dependency of the library is compiled by every infra crate: keep it in wsgen-cli"
    );
}

/// One minimum Rust version for every crate (the workspace's, written out by the
/// handler crates that projects copy); what is published has a description and a
/// licence; the licence and the changelog are there.
#[test]
fn one_msrv_and_what_publishing_needs() {
    let read = |p: &Path| -> toml::Table { std::fs::read_to_string(p).unwrap().parse().unwrap() };
    let root = read(&repo().join("Cargo.toml"));
    let msrv = root["workspace"]["package"]["rust-version"]
        .as_str()
        .unwrap();
    let mut manifests = Vec::new();
    for dir in ["crates", "lambdas", "tests/handlers"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let manifest = entry.unwrap().path().join("Cargo.toml");
            if manifest.is_file() {
                manifests.push(manifest);
            }
        }
    }
    assert!(manifests.len() > 10, "{manifests:?}");
    for manifest in manifests {
        let package = read(&manifest)["package"].as_table().unwrap().clone();
        let field = |name: &str| -> Option<String> {
            match package.get(name)? {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Table(t)
                    if t.get("workspace").and_then(|w| w.as_bool()) == Some(true) =>
                {
                    root["workspace"]["package"]
                        .get(name)?
                        .as_str()
                        .map(str::to_string)
                }
                _ => None,
            }
        };
        let name = manifest.display();
        assert_eq!(field("rust-version").as_deref(), Some(msrv), "{name}");
        assert!(
            field("license").is_some() && field("description").is_some(),
            "{name}"
        );
    }
    assert!(std::fs::read_to_string(repo().join("LICENSE"))
        .unwrap()
        .contains("Apache License"));
    let version = root["workspace"]["package"]["version"].as_str().unwrap();
    assert!(std::fs::read_to_string(repo().join("CHANGELOG.md"))
        .unwrap()
        .contains(&format!("## [{version}]")));
}

/// The binary is self-contained: what `wsgen new` renders is embedded at build time
/// (build.rs), so no code of the command names the directory it was built from.
#[test]
fn nothing_at_run_time_reads_the_source_checkout() {
    let src = repo().join("crates/wsgen-cli/src");
    let mut found = Vec::new();
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        for needle in ["CARGO_MANIFEST_DIR", "CARGO_WORKSPACE_DIR", "file!()"] {
            if text.contains(needle) {
                found.push(format!("{}: {needle}", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
