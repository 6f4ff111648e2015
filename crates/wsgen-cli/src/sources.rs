//! The sources of wsgen's library crates, `wsgen` and `wsgen-handler`, that projects
//! build with while the crates are not on crates.io.
//!
//! A project depends on them by version (`wsgen = "0.1.0"`), as it will once they are
//! published; its `.cargo/config.toml` points cargo at these sources
//! (`[patch.crates-io]`). wsgen extracts them from its binary once per build of wsgen,
//! into `<data dir>/sources/wsgen-<version>-<digest>/{wsgen,wsgen-handler}`, and never
//! changes or removes them: a project made by an older wsgen keeps building with the
//! sources it was made with. The data directory is `$WSGEN_DATA_DIR`, else the
//! platform's (`$XDG_DATA_HOME/wsgen` or `~/.local/share/wsgen` on Linux).

use crate::embedded;
use crate::files::{io, IoError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// This wsgen's version: the version of the library crates it carries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The crates a project builds from these sources.
pub const CRATES: [&str; 2] = ["wsgen", "wsgen-handler"];
/// Overrides the data directory.
pub const DATA_DIR_ENV: &str = "WSGEN_DATA_DIR";
/// A project's cargo configuration, relative to the project.
pub const CONFIG: &str = ".cargo/config.toml";

/// Where wsgen keeps its data (see the module's documentation).
pub fn data_dir() -> Option<PathBuf> {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => dirs::data_dir().map(|d| d.join("wsgen")),
    }
}

/// `wsgen-<version>-<first 12 hex digits of the sources' SHA-256>`: two builds of wsgen
/// with different library sources never share a directory. Computed once per process.
pub fn name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let mut hash = Sha256::new();
        for file in embedded::under("library/") {
            hash.update(file.path.as_bytes());
            hash.update([0]);
            hash.update((file.bytes.len() as u64).to_le_bytes());
            hash.update(file.bytes);
        }
        let digest = wsgen::digest::hex(&hash.finalize()[..6]);
        format!("wsgen-{VERSION}-{digest}")
    })
}

/// The directory holding this wsgen's library sources.
pub fn dir() -> Result<PathBuf, SourcesError> {
    Ok(data_dir()
        .ok_or(SourcesError::NoDataDir)?
        .join("sources")
        .join(name()))
}

/// Extracts this wsgen's library sources unless they are there; returns their directory.
/// Written whole: into a temporary directory beside it, then renamed into place.
pub fn extract() -> Result<PathBuf, SourcesError> {
    let dir = dir()?;
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = dir.parent().expect("under sources/");
    std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
    let staging = parent.join(format!(".{}-{}", name(), std::process::id()));
    let written = (|| {
        for file in embedded::under("library/") {
            let path = staging.join(file.path);
            let parent = path.parent().expect("a file in a crate");
            std::fs::create_dir_all(parent).map_err(io("cannot create", parent))?;
            std::fs::write(&path, file.bytes).map_err(io("cannot write", &path))?;
        }
        match std::fs::rename(&staging, &dir) {
            // Another wsgen extracted the same sources meanwhile.
            Err(_) if dir.is_dir() => Ok(()),
            other => other.map_err(io("cannot create", &dir)),
        }
    })();
    let _ = std::fs::remove_dir_all(&staging);
    written?;
    tracing::debug!(dir = %dir.display(), "extracted the library sources");
    Ok(dir)
}

/// The `[patch.crates-io]` a new project's `.cargo/config.toml` holds, pointing at
/// `dir` (the sources of this wsgen).
pub fn patch(dir: &Path) -> String {
    let mut out = String::from("[patch.crates-io]\n");
    for krate in CRATES {
        let path = dir.join(krate);
        out.push_str(&format!(
            "{krate} = {{ path = {} }}\n",
            toml_string(&path.to_string_lossy())
        ));
    }
    out
}

/// Makes sure the sources `project`'s `.cargo/config.toml` builds wsgen's crates from
/// are there: extracts this wsgen's when it names them (after the data directory was
/// cleaned, say); a directory of another wsgen (another version or machine) that is
/// gone is an error with the fix. A project without the patch (the crates come from a
/// registry) is left alone.
pub fn check_project(project: &Path) -> Result<(), SourcesError> {
    let config = project.join(CONFIG);
    // A file that is not there or not TOML: cargo's to report, if anything.
    let Some(table) = project_config(project) else {
        return Ok(());
    };
    for krate in CRATES {
        let Some(path) = patch_of(&table, krate)
            .and_then(|p| p.get("path"))
            .and_then(|p| p.as_str())
        else {
            continue;
        };
        let path = project.join(path);
        if path.join("Cargo.toml").is_file() {
            continue;
        }
        let ours = dir()?;
        if path == ours.join(krate) {
            extract()?;
            continue;
        }
        return Err(SourcesError::Missing {
            config,
            krate: krate.to_string(),
            path,
            ours: extract()?,
        });
    }
    Ok(())
}

/// `project`'s `.cargo/config.toml`, when it has one that is TOML.
pub fn project_config(project: &Path) -> Option<toml::Table> {
    std::fs::read_to_string(project.join(CONFIG))
        .ok()?
        .parse()
        .ok()
}

/// How a cargo configuration or manifest (`table`) patches crates.io's `krate`, if it
/// does (`{ path = "..." }`, `{ git = "..." }`).
pub fn patch_of<'a>(table: &'a toml::Table, krate: &str) -> Option<&'a toml::Value> {
    table.get("patch")?.get("crates-io")?.get(krate)
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What can go wrong providing the library sources.
#[derive(Debug, thiserror::Error)]
pub enum SourcesError {
    #[error("cannot tell where to keep wsgen's data: neither {DATA_DIR_ENV} nor a home directory is set")]
    NoDataDir,
    /// The project builds a crate from a directory that is gone, not this wsgen's.
    #[error("{} builds `{krate}` from {}, which is not there", .config.display(), .path.display())]
    Missing {
        config: PathBuf,
        krate: String,
        path: PathBuf,
        /// This wsgen's sources (extracted).
        ours: PathBuf,
    },
    #[error(transparent)]
    Io(#[from] IoError),
}

impl SourcesError {
    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            SourcesError::NoDataDir => format!("set {DATA_DIR_ENV} to a directory wsgen may write"),
            SourcesError::Missing { ours, .. } => format!(
                "another wsgen (another version, or on another machine) kept its library \
                 there; to build with this one's ({VERSION}), set the paths in the \
                 `[patch.crates-io]` of {CONFIG} to {} and {}, then run `cargo update -p wsgen \
                 -p wsgen-handler`; or install the wsgen that made the project",
                ours.join("wsgen").display(),
                ours.join("wsgen-handler").display()
            ),
            SourcesError::Io(_) => {
                "check that the data directory is writable (or set WSGEN_DATA_DIR)".into()
            }
        })
    }
}
