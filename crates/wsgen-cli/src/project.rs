//! The project: a directory with `wsgen.toml`.
//!
//! ```toml
//! # The infra crate: the Rust program that describes the app with the wsgen DSL.
//! infra = "infra"        # default
//! # Where `wsgen synth` writes the cloud assembly.
//! out = "wsgen.out"      # default
//! ```

use crate::files::{io, IoError};
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
    pub fn discover(dir: Option<&Path>) -> Result<Project, ProjectError> {
        let cwd = std::env::current_dir().map_err(io("cannot read the current directory", "."))?;
        let dir = match dir {
            Some(d) => {
                let d = cwd.join(d);
                if !d.join(PROJECT_FILE).is_file() {
                    return Err(ProjectError::NoProject(d));
                }
                d
            }
            None => cwd
                .ancestors()
                .find(|d| d.join(PROJECT_FILE).is_file())
                .map(Path::to_path_buf)
                .ok_or(ProjectError::NoProject(cwd.clone()))?,
        };
        let dir = dir.canonicalize().map_err(io("cannot open", &dir))?;
        let path = dir.join(PROJECT_FILE);
        let text = std::fs::read_to_string(&path).map_err(io("cannot read", &path))?;
        let file: ProjectFile = toml::from_str(&text).map_err(|e| ProjectError::File {
            path: path.clone(),
            message: e.message().to_string(),
        })?;
        let infra = dir.join(file.infra.as_deref().unwrap_or("infra"));
        if !infra.join("Cargo.toml").is_file() {
            return Err(ProjectError::File {
                path,
                message: format!("the infra crate {} has no Cargo.toml", infra.display()),
            });
        }
        let out = dir.join(file.out.as_deref().unwrap_or("wsgen.out"));
        Ok(Project { dir, infra, out })
    }
}

/// The project and the cloud assembly its infra program writes.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("no wsgen.toml in {0} or any directory above it")]
    NoProject(PathBuf),
    /// wsgen.toml is not what wsgen reads (the user's input: exit 2).
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path} is not a valid cloud assembly: {message}")]
    Assembly { path: PathBuf, message: String },
    /// The infra program's wsgen library writes another assembly format than this
    /// wsgen reads (one of them is older).
    #[error("the project's wsgen library writes cloud assembly format `{found}`, which this wsgen ({}) does not read", env!("CARGO_PKG_VERSION"))]
    AssemblyFormat { found: String },
    /// A stack named on the command line that the app does not have (exit 2).
    #[error("no stack named `{name}` (stacks: {known})")]
    UnknownStack { name: String, known: String },
    /// Stacks that import each other's exports (exit 2).
    #[error("stacks {0} import each other's exports (Fn::ImportValue), so CloudFormation cannot deploy either first")]
    ImportCycle(String),
    #[error(transparent)]
    Io(#[from] IoError),
}

impl ProjectError {
    /// 2 for the user's input (wsgen.toml, a stack name, the app's stacks), else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            ProjectError::File { .. }
            | ProjectError::UnknownStack { .. }
            | ProjectError::ImportCycle(_) => 2,
            ProjectError::NoProject(_)
            | ProjectError::Assembly { .. }
            | ProjectError::AssemblyFormat { .. }
            | ProjectError::Io(_) => 1,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            ProjectError::NoProject(_) => "run wsgen inside a project, or pass `--project DIR` (a directory with wsgen.toml)".into(),
            ProjectError::File { .. } => "wsgen.toml takes `infra = \"<path to the infra crate>\"` and optionally `out = \"wsgen.out\"`".into(),
            ProjectError::UnknownStack { .. } => "name one of the stacks listed, or none to synthesize them all".into(),
            ProjectError::ImportCycle(_) => "move the shared resources into one stack".into(),
            ProjectError::Io(_) => "check that the directory exists and is writable".into(),
            ProjectError::AssemblyFormat { .. } => "build the project with the library this wsgen carries (the versions of `wsgen` and `wsgen-handler` in its Cargo.toml files, the paths in .cargo/config.toml; see the project's README), or install the wsgen the project was made with".into(),
            ProjectError::Assembly { .. } => return None,
        })
    }
}
