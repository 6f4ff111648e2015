//! The project: a directory with `wsgen.toml`.
//!
//! ```toml
//! # The infra crate: the Rust program that describes the app with the wsgen DSL.
//! infra = "infra"        # default
//! # Where `wsgen synth` writes the cloud assembly.
//! out = "wsgen.out"      # default
//! ```

use super::CliError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The project file's name.
pub const PROJECT_FILE: &str = "wsgen.toml";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    infra: Option<String>,
    out: Option<String>,
}

/// A wsgen project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// The directory holding wsgen.toml (absolute).
    pub dir: PathBuf,
    /// The infra crate's directory (absolute).
    pub infra: PathBuf,
    /// The cloud assembly directory (absolute).
    pub out: PathBuf,
}

impl Project {
    /// The project at `dir`, or the nearest one at or above the current directory.
    pub fn discover(dir: Option<&Path>) -> Result<Project, CliError> {
        let cwd = std::env::current_dir()
            .map_err(CliError::io("cannot read the current directory", "."))?;
        let dir = match dir {
            Some(d) => {
                let d = cwd.join(d);
                if !d.join(PROJECT_FILE).is_file() {
                    return Err(CliError::NoProject(d));
                }
                d
            }
            None => cwd
                .ancestors()
                .find(|d| d.join(PROJECT_FILE).is_file())
                .map(Path::to_path_buf)
                .ok_or(CliError::NoProject(cwd.clone()))?,
        };
        let dir = dir
            .canonicalize()
            .map_err(CliError::io("cannot open", &dir))?;
        let path = dir.join(PROJECT_FILE);
        let text = std::fs::read_to_string(&path).map_err(CliError::io("cannot read", &path))?;
        let file: ProjectFile = toml::from_str(&text).map_err(|e| CliError::ProjectFile {
            path: path.clone(),
            message: e.message().to_string(),
        })?;
        let infra = dir.join(file.infra.as_deref().unwrap_or("infra"));
        if !infra.join("Cargo.toml").is_file() {
            return Err(CliError::ProjectFile {
                path,
                message: format!("the infra crate {} has no Cargo.toml", infra.display()),
            });
        }
        let out = dir.join(file.out.as_deref().unwrap_or("wsgen.out"));
        Ok(Project { dir, infra, out })
    }
}
