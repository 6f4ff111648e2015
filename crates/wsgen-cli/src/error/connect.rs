//! `wsgen connect`'s errors (its verb sits above this layer).

/// Why `wsgen connect` could not talk to the stage.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no stage to connect to: {0}")]
    NoTarget(String),
    #[error("`{url}` is not a WebSocket URL: {problem}")]
    BadUrl { url: String, problem: String },
    #[error("the connection to {url} was refused: {reason}")]
    Refused { url: String, reason: String },
    #[error("cannot sign the handshake: {0}")]
    Signing(String),
}

impl ConnectError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ConnectError::Refused { .. } => 3,
            ConnectError::BadUrl { .. } => 2,
            ConnectError::NoTarget(_) | ConnectError::Signing(_) => 1,
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            ConnectError::NoTarget(_) => Some("start `wsgen dev`, name a deployed stack (`wsgen connect <STACK> --stage <NAME>`), or give `--url wss://...`".into()),
            ConnectError::BadUrl { .. } => Some("give a ws:// or wss:// URL, e.g. ws://127.0.0.1:3000/dev".into()),
            ConnectError::Refused { .. } => Some("check the URL and that the stage is up; a 401 or 403 means the $connect authorizer (or IAM: --sign) refused the handshake".into()),
            ConnectError::Signing(_) => Some("configure credentials as for the AWS CLI (AWS_PROFILE, --profile, environment variables) and a region (--region)".into()),
        }
    }
}
