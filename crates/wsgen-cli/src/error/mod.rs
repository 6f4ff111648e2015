//! The command's error: each area's error (the project, building, the cloud; and here,
//! as the verbs above this layer return `CliError`, those of `new`, `dev`, `connect`,
//! `logs` and `client`) or one of
//! the command's own, with its exit code and a hint at the fix, rendered once by `Ui`.

use crate::cargo::BuildError;
use crate::cloud::CloudError;
use crate::files::IoError;
use crate::project::ProjectError;
use crate::sources::SourcesError;
use std::path::PathBuf;
use wsgen::ValidationErrors;

mod client;
mod connect;
mod dev;
mod logs;
mod new;
pub use client::ClientError;
pub use connect::ConnectError;
pub use dev::DevError;
pub use logs::LogsError;
pub use new::NewError;

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Validation(ValidationErrors),
    /// A file (see [`IoError`]).
    #[error(transparent)]
    Io(#[from] IoError),
    /// A command line that asks for what cannot be done.
    #[error("{0}")]
    Usage(String),
    /// `wsgen new` (see [`NewError`]).
    #[error(transparent)]
    New(#[from] NewError),
    /// `wsgen dev` (see [`DevError`]).
    #[error(transparent)]
    Dev(#[from] DevError),
    /// The project and its assembly (see [`ProjectError`]).
    #[error(transparent)]
    Project(#[from] ProjectError),
    /// The sources of wsgen's library a project builds with (see [`SourcesError`]).
    #[error(transparent)]
    Sources(#[from] SourcesError),
    /// Building and packaging the user's crates (see [`BuildError`]).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// AWS and the stacks (see [`CloudError`]).
    #[error(transparent)]
    Cloud(#[from] CloudError),
    /// `wsgen connect` (see [`ConnectError`]).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// `wsgen logs` (see [`LogsError`]).
    #[error(transparent)]
    Logs(#[from] LogsError),
    /// `wsgen client` (see [`ClientError`]).
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl CliError {
    /// 2 for problems in the user's input (usage, the project file, validation, a stack
    /// name), 1 for every failure at run time.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Project(e) => e.exit_code(),
            CliError::New(e) => e.exit_code(),
            CliError::Dev(e) => e.exit_code(),
            CliError::Connect(e) => e.exit_code(),
            CliError::Logs(e) => e.exit_code(),
            CliError::Client(e) => e.exit_code(),
            CliError::Validation(_) | CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            CliError::Io { .. } => "check that the directory exists and is writable".into(),
            CliError::Project(e) => return e.help(),
            CliError::Build(e) => return e.help(),
            CliError::Sources(e) => return e.help(),
            CliError::Cloud(e) => return e.help(),
            CliError::New(e) => return e.help(),
            CliError::Dev(e) => return e.help(),
            CliError::Connect(e) => return e.help(),
            CliError::Logs(e) => return e.help(),
            CliError::Client(e) => return e.help(),
            CliError::Validation(_) | CliError::Usage(_) => return None,
        })
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.into();
        move |error| CliError::Io(crate::files::io(action, path)(error))
    }
}
