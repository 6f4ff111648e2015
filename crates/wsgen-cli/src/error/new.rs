//! `wsgen new`'s own failures: what the command line asks (exit 2) and wsgen's own
//! blueprints (exit 1), each with the fix.

use std::path::PathBuf;

/// What `wsgen new` refuses (the name, the blueprint, the directory: exit 2) and what
/// it cannot find of its own (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error("there is no blueprint `{name}`")]
    UnknownBlueprint { name: String, known: String },
    /// Why the project's name is not a crate name.
    #[error("{0}")]
    Name(String),
    #[error("{} is not empty", .0.display())]
    NotEmpty(PathBuf),
    /// A blueprint's `blueprint.toml` (embedded) that does not read.
    #[error("{manifest}: {message}")]
    Blueprint { manifest: String, message: String },
    #[error(
        "blueprint {blueprint} names handler crate `{handler}`, which this wsgen does not carry"
    )]
    MissingHandler { blueprint: String, handler: String },
}

impl NewError {
    /// 2 for what the command line asks, 1 for wsgen's own files.
    pub fn exit_code(&self) -> i32 {
        match self {
            NewError::UnknownBlueprint { .. } | NewError::Name(_) | NewError::NotEmpty(_) => 2,
            _ => 1,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            NewError::UnknownBlueprint { known, .. } => {
                format!("pick one of {known} (see wsgen new --list)")
            }
            NewError::Name(_) => "a project name must be a valid crate name (ASCII letters, digits, `-` and `_`, starting with a letter, not a Rust keyword); pass one with --name".into(),
            NewError::NotEmpty(_) => "pick a new directory, or pass --force to add the project's files to it (files it has are kept, never overwritten)".into(),
            NewError::Blueprint { .. } | NewError::MissingHandler { .. } => {
                "this wsgen was built from incomplete blueprints: a bug in wsgen; build it again from a clean checkout".into()
            }
        })
    }
}
