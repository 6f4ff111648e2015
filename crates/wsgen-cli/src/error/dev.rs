//! `wsgen dev`'s own failures: what it was asked to serve (exit 2) and its local
//! services (exit 1), each with the fix.

use std::path::PathBuf;

/// What can stop `wsgen dev` (building and the project have their own errors).
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// `--stage` names no stage of the app (`wanted`), or the app has none.
    #[error("{}", match .wanted { Some(s) => format!("the app has no stage `{s}`"), None => "the app has no WebSocket API stage to serve".into() })]
    NoStage {
        wanted: Option<String>,
        /// The app's stages.
        stages: Vec<String>,
    },
    /// Two APIs have a stage of the same name: the local URLs would collide.
    #[error("stage `{stage}` belongs to both {first} and {second}")]
    StageConflict {
        stage: String,
        first: String,
        second: String,
    },
    /// A port is taken (or not ours to take).
    #[error("cannot listen on 127.0.0.1:{port} for {what}: {error}")]
    Listen {
        /// `the gateway` or `the local DynamoDB`.
        what: &'static str,
        port: u16,
        /// The option that picks the port.
        option: &'static str,
        /// Said in the message (not a `source`, which would be said again below it).
        error: std::io::Error,
    },
    /// The embedded DynamoDB's data file cannot be opened.
    #[error("the local DynamoDB data in {} cannot be opened: {message}", .file.display())]
    Data { file: PathBuf, message: String },
    /// The embedded DynamoDB refused an operation wsgen needed.
    #[error("the local DynamoDB could not {action}: {message}")]
    DynamoDb { action: String, message: String },
    /// The file watcher could not start.
    #[error("cannot watch {} ({error})", .path.display())]
    Watch {
        path: PathBuf,
        /// Said in the message (not a `source`, which would be said again below it).
        error: notify::Error,
    },
    /// A message model that cannot be used: its schema does not compile as JSON Schema
    /// draft 4, or a route names a model the API does not have.
    #[error("{model}: {message}")]
    Model { model: String, message: String },
    /// The async runtime, the gateway's server or a rebuild's task failed.
    #[error("{what} failed: {message}")]
    Runtime { what: &'static str, message: String },
}

impl DevError {
    /// 2 when the app or the options ask for what cannot be served, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            DevError::NoStage { .. } | DevError::StageConflict { .. } | DevError::Model { .. } => 2,
            _ => 1,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            DevError::NoStage { stages, .. } if !stages.is_empty() => format!(
                "its stages: {}; name one with --stage, or leave it out to serve them all",
                stages.join(", ")
            ),
            DevError::NoStage { .. } => {
                "give the app a WebSocket API with a stage (`api.stage(\"live\")`)".into()
            }
            DevError::StageConflict { .. } => "serve one with --stage, or rename a stage".into(),
            DevError::Listen { option, .. } => {
                format!("pick another port with {option}, or 0 for any free port")
            }
            DevError::Data { .. } => {
                "move the file away to start with empty tables (wsgen deletes nothing)".into()
            }
            DevError::Watch { .. } => "run with --no-watch".into(),
            DevError::Model { .. } => "fix the message type's schema (API Gateway would refuse it too), or run `wsgen synth` to see the template".into(),
            DevError::DynamoDb { .. } | DevError::Runtime { .. } => return None,
        })
    }
}
