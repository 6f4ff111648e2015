//! `wsgen client`'s errors.

/// Why no client could be generated.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{}", match .stack { Some(s) => format!("stack `{s}` has no WebSocket API"), None => "the app has no WebSocket API".into() })]
    NoApi {
        stack: Option<String>,
        /// The stacks that have one.
        with_api: Vec<String>,
    },
    #[error("the app has WebSocket APIs in several stacks ({})", .stacks.join(", "))]
    WhichStack { stacks: Vec<String> },
}

impl ClientError {
    /// 2: the app or the command line names what cannot be generated.
    pub fn exit_code(&self) -> i32 {
        2
    }

    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            ClientError::NoApi { with_api, .. } if !with_api.is_empty() => {
                Some(format!("name a stack with one: {}", with_api.join(", ")))
            }
            ClientError::NoApi { .. } => {
                Some("give the app a WebSocket API (`stack.websocket_api(\"Api\")`)".into())
            }
            ClientError::WhichStack { stacks } => {
                Some(format!("name one, e.g. `wsgen client {}`", stacks[0]))
            }
        }
    }
}
