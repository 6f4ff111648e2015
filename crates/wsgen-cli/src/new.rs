//! `wsgen new`: a starter project from a blueprint (`blueprints/<name>`, embedded in
//! the binary): the workspace, the infra crate, the handler crates of wsgen's
//! `lambdas/` (the tested ones), a README, a `.gitignore`, the lockfile (wsgen's,
//! completed for the project's crates from the cargo cache when it has them, so that
//! the project builds without a network), and `.cargo/config.toml`, which points cargo
//! at the sources of wsgen's library crates (see `sources`) until they are on crates.io.
//!
//! Nothing is half-written: the project is rendered into a temporary directory beside
//! DIR and moved into place at the end. With `--force` into a directory that has
//! files, only the files it does not have are added: the user's files are never
//! overwritten or deleted.

use super::{CliError, Ui};
use crate::embedded;
pub use crate::error::NewError;
use crate::sources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The blueprint `wsgen new` uses unless told otherwise.
pub const DEFAULT_BLUEPRINT: &str = "chat";

#[derive(Debug, Clone)]
pub struct NewOptions {
    pub dir: PathBuf,
    /// Default: [`DEFAULT_BLUEPRINT`].
    pub blueprint: String,
    /// The project's name. Default: DIR's last component.
    pub name: Option<String>,
    /// Add to a directory that has files (never overwriting them).
    pub force: bool,
}

#[derive(Debug, serde::Serialize)]
pub struct NewResult {
    pub dir: PathBuf,
    pub name: String,
    pub blueprint: String,
    /// The files written, relative to DIR, sorted.
    pub written: Vec<String>,
    /// Files DIR already had that the blueprint also has (kept as they were).
    pub kept: Vec<String>,
}

/// A blueprint: its name and one-line description.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Blueprint {
    pub name: String,
    pub description: String,
    /// Crates of `lambdas/` the project gets.
    pub handlers: Vec<String>,
    /// The crate of `lambdas/` with the app's message types, shared by the infra crate
    /// (which depends on it with its `schema` feature) and the handlers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<String>,
    /// The app's route keys, which the project's infra test expects.
    pub routes: Vec<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BlueprintToml {
    description: String,
    handlers: Vec<String>,
    #[serde(default)]
    messages: Option<String>,
    routes: Vec<String>,
}

/// Every blueprint, by name (the ones this binary carries).
pub fn blueprints() -> Result<Vec<Blueprint>, CliError> {
    let mut list = Vec::new();
    for file in embedded::under("blueprints/") {
        let Some(name) = file.path.strip_suffix("/blueprint.toml") else {
            continue;
        };
        if name.starts_with('_') || name.contains('/') {
            continue;
        }
        let b: BlueprintToml = std::str::from_utf8(file.bytes)
            .map_err(|e| e.to_string())
            .and_then(|text| toml::from_str(text).map_err(|e| e.to_string()))
            .map_err(|message| NewError::Blueprint {
                manifest: format!("blueprints/{}", file.path),
                message,
            })?;
        list.push(Blueprint {
            name: name.to_string(),
            description: b.description,
            handlers: b.handlers,
            messages: b.messages,
            routes: b.routes,
        });
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

/// Why `name` is not a valid crate name (cargo's rules), if it is not.
pub fn name_problem(name: &str) -> Option<String> {
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
        "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
        "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait",
        "true", "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do",
        "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
        "gen",
    ];
    const RESERVED: &[&str] = &["test", "core", "std", "alloc", "proc_macro", "proc-macro"];
    let first = name.chars().next();
    if name.is_empty() {
        Some("the name is empty".into())
    } else if name.len() > 64 {
        Some(format!("`{name}` is longer than 64 characters"))
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Some(format!(
            "`{name}` has characters other than ASCII letters, digits, `-` and `_`"
        ))
    } else if !first.is_some_and(|c| c.is_ascii_alphabetic()) {
        Some(format!("`{name}` does not start with a letter"))
    } else if KEYWORDS.contains(&name) || RESERVED.contains(&name) {
        Some(format!(
            "`{name}` is a Rust keyword or a reserved crate name"
        ))
    } else {
        None
    }
}

/// `my-chat` -> `MyChat`: the stack's name.
fn camel(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A file of the new project.
struct File {
    bytes: Vec<u8>,
    /// A copy keeps its source's modification time (as `cp -p`): a target directory
    /// that already built the same crate finds it up to date.
    modified: Option<std::time::SystemTime>,
}

/// What the blueprints' files hold besides the project's name: the common text about
/// wsgen's library in the project's README.
const LIBRARY_TEXT: &str = "_common/library.md";

/// The files of the project, by relative path; `sources` is where this wsgen's library
/// sources are (the project's `.cargo/config.toml` points there).
fn render(
    blueprint: &Blueprint,
    name: &str,
    sources: &Path,
) -> Result<BTreeMap<String, File>, CliError> {
    // The route keys as a Rust array, sorted as the test sorts what it finds.
    let mut routes: Vec<&str> = blueprint.routes.iter().map(String::as_str).collect();
    routes.sort();
    let routes = format!("{routes:?}");
    let patch = sources::patch(sources);
    let library = embedded::get(&format!("blueprints/{LIBRARY_TEXT}"))
        .map(|f| String::from_utf8_lossy(f.bytes).into_owned())
        .unwrap_or_default();
    // The infra crate's dependency on the message types, with their schemas.
    let infra_dependencies = blueprint.messages.as_ref().map_or(String::new(), |m| {
        format!("{m} = {{ path = \"../lambdas/{m}\", features = [\"schema\"] }}\n")
    });
    let substitute = |text: &str| {
        text.replace("{{library}}", library.trim_end())
            .replace("{{infra_dependencies}}\n", &infra_dependencies)
            .replace("{{patch}}", patch.trim_end())
            .replace("{{name}}", name)
            .replace("{{Name}}", &camel(name))
            .replace("{{version}}", sources::VERSION)
            .replace("{{routes}}", &routes)
    };
    let mut files = BTreeMap::new();
    for layer in ["_common/".to_string(), format!("{}/", blueprint.name)] {
        for file in embedded::under(&format!("blueprints/{layer}")) {
            if file.path == "blueprint.toml" || format!("{layer}{}", file.path) == LIBRARY_TEXT {
                continue;
            }
            let bytes = match std::str::from_utf8(file.bytes) {
                Ok(text) => substitute(text).into_bytes(),
                Err(_) => file.bytes.to_vec(),
            };
            files.insert(
                file.path.to_string(),
                File {
                    bytes,
                    modified: None,
                },
            );
        }
    }
    for handler in blueprint.handlers.iter().chain(&blueprint.messages) {
        let mut found = false;
        for file in embedded::under(&format!("lambdas/{handler}/")) {
            found = true;
            let bytes = if file.path == "Cargo.toml" {
                // In wsgen's workspace the handler crates use wsgen-handler by path; a
                // project uses the version this wsgen carries.
                String::from_utf8_lossy(file.bytes)
                    .replace(
                        "path = \"../wsgen-handler\"",
                        &format!("version = \"{}\"", sources::VERSION),
                    )
                    .into_bytes()
            } else {
                file.bytes.to_vec()
            };
            let modified = Some(file.modified);
            files.insert(
                format!("lambdas/{handler}/{}", file.path),
                File { bytes, modified },
            );
        }
        if !found {
            return Err(NewError::MissingHandler {
                blueprint: blueprint.name.clone(),
                handler: handler.clone(),
            }
            .into());
        }
    }
    // The versions wsgen's own tests build with, so the project builds offline (`new`
    // then completes it for the project's crates).
    if let Some(lock) = embedded::get("Cargo.lock") {
        let (bytes, modified) = (lock.bytes.to_vec(), None);
        files.insert("Cargo.lock".into(), File { bytes, modified });
    }
    Ok(files)
}

fn keep_time(path: &Path, file: &File) -> Result<(), CliError> {
    if let Some(t) = file.modified {
        std::fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(t))
            .map_err(CliError::io("cannot set the time of", path))?;
    }
    Ok(())
}

pub fn new(opts: &NewOptions, ui: &Ui) -> Result<NewResult, CliError> {
    let all = blueprints()?;
    let Some(blueprint) = all.iter().find(|b| b.name == opts.blueprint) else {
        let names: Vec<&str> = all.iter().map(|b| b.name.as_str()).collect();
        return Err(NewError::UnknownBlueprint {
            name: opts.blueprint.clone(),
            known: names.join(", "),
        }
        .into());
    };
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => opts
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if let Some(problem) = name_problem(&name) {
        return Err(NewError::Name(problem).into());
    }
    let existing = match std::fs::read_dir(&opts.dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(CliError::io("cannot read", &opts.dir)(e)),
    };
    if existing && !opts.force {
        return Err(NewError::NotEmpty(opts.dir.clone()).into());
    }
    let sources = sources::extract()?;
    let files = render(blueprint, &name, &sources)?;

    let mut written = Vec::new();
    let mut kept = Vec::new();
    if existing {
        // Add what is missing, each file written whole (temporary file, then rename).
        for (rel, file) in &files {
            let path = opts.dir.join(rel);
            if path.exists() {
                kept.push(rel.clone());
                continue;
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(CliError::io("cannot create", parent))?;
            }
            super::files::write_atomically(&path, &file.bytes, None)?;
            keep_time(&path, file)?;
            written.push(rel.clone());
        }
        if written.iter().any(|rel| rel == "Cargo.lock") {
            super::cargo::complete_lockfile(&opts.dir);
        }
    } else {
        // Render beside DIR, then move it into place in one rename.
        let parent = match opts.dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(CliError::io("cannot create", &parent))?;
        let staging = parent.join(format!(".wsgen-new-{}-{}", std::process::id(), name));
        let result = (|| {
            for (rel, file) in &files {
                let path = staging.join(rel);
                if let Some(p) = path.parent() {
                    std::fs::create_dir_all(p).map_err(CliError::io("cannot create", p))?;
                }
                std::fs::write(&path, &file.bytes).map_err(CliError::io("cannot write", &path))?;
                keep_time(&path, file)?;
            }
            super::cargo::complete_lockfile(&staging);
            // An empty DIR that exists is replaced by the rendered one.
            if opts.dir.exists() {
                std::fs::remove_dir(&opts.dir)
                    .map_err(CliError::io("cannot replace", &opts.dir))?;
            }
            std::fs::rename(&staging, &opts.dir).map_err(CliError::io("cannot create", &opts.dir))
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        written = files.keys().cloned().collect();
    }
    ui.done(&format!(
        "created {} ({} blueprint, {} files){}",
        opts.dir.display(),
        blueprint.name,
        written.len(),
        if kept.is_empty() {
            String::new()
        } else {
            format!("; kept {} file(s) it already had", kept.len())
        }
    ));
    Ok(NewResult {
        dir: opts.dir.clone(),
        name,
        blueprint: blueprint.name.clone(),
        written,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names() {
        for ok in ["my-chat", "chat", "a_b", "x1"] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        for bad in [
            "", "1chat", "-chat", "my chat", "chät", "fn", "test", "self",
        ] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
        assert!(name_problem(&"a".repeat(65)).is_some());
        assert_eq!(camel("my-chat_app"), "MyChatApp");
    }
}
