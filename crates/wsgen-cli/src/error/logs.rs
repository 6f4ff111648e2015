//! `wsgen logs`'s errors (its verb sits above this layer).

/// Why `wsgen logs` has nothing to read.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("which stack's logs? {0}")]
    NoStack(String),
    #[error("stack {stack} is not deployed in {place}")]
    NotDeployed { stack: String, place: String },
    #[error("the stack has no log groups and no functions")]
    NoSources,
    #[error("the stack has no function or log `{name}` (it has: {known})")]
    UnknownSource { name: String, known: String },
}

impl LogsError {
    /// 2 for a name the user gave that does not exist, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            LogsError::UnknownSource { .. } | LogsError::NoStack(_) => 2,
            LogsError::NotDeployed { .. } | LogsError::NoSources => 1,
        }
    }

    pub fn help(&self) -> Option<String> {
        Some(match self {
            LogsError::NoStack(_) => "name it: `wsgen logs --stack <STACK>`".into(),
            LogsError::NotDeployed { stack, .. } => {
                format!("`wsgen deploy {stack}` deploys it (or check --region and --profile)")
            }
            LogsError::NoSources => return None,
            LogsError::UnknownSource { .. } => {
                "name a function by its logical ID (as `wsgen synth` shows it) or its deployed name"
                    .into()
            }
        })
    }
}
