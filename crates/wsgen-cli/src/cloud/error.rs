//! The AWS side's failures, each with the context to act on it and a hint at the fix.
//! All are failures at run time (exit 1).

/// What can go wrong talking to AWS or with a stack.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("no AWS region is configured")]
    NoRegion,
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    #[error("the AWS credentials were rejected ({code}): {message}")]
    CredentialsRejected { code: String, message: String },
    #[error("cannot reach {target}: {detail}")]
    Unreachable { target: String, detail: String },
    #[error("could not {action}: {code}: {message}")]
    Aws {
        action: String,
        code: String,
        message: String,
    },
    #[error("account {account} in {region} is not bootstrapped: {reason}")]
    NotBootstrapped {
        account: String,
        region: String,
        reason: String,
    },
    /// The toolkit stack is not the one `wsgen bootstrap` makes for this account.
    #[error("{0}")]
    Toolkit(String),
    /// An operation wsgen stopped following; it goes on in CloudFormation.
    #[error("{cause}")]
    Detached {
        stack: String,
        /// `creation`, `update` or `deletion`.
        operation: String,
        cause: Box<CloudError>,
    },
    #[error("{0}")]
    ApprovalRequired(String),
    #[error("{0}")]
    Declined(String),
    #[error("stack {stack} is {status}: {reason}")]
    StackFailed {
        stack: String,
        status: String,
        reason: String,
        help: String,
    },
    #[error("{} to CloudWatch Logs, which needs the API Gateway CloudWatch role of account {account} in {region}, and it has none", stages_log(stages))]
    NoLoggingRole {
        account: String,
        region: String,
        /// `Stack/StageLogicalId`.
        stages: Vec<String>,
    },
    #[error("stack {stack} was not created by wsgen (it has no `{tag}` tag)")]
    NotOurs { stack: String, tag: String },
}

impl CloudError {
    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            CloudError::NoRegion => "pass `--region`, set AWS_REGION, or set `region` in the profile in ~/.aws/config".into(),
            CloudError::NoCredentials(_) => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass `--profile NAME` for a profile in ~/.aws/credentials or ~/.aws/config, or run `aws sso login`".into(),
            CloudError::CredentialsRejected { .. } => "refresh the credentials (`aws sso login --profile NAME` for SSO, new keys otherwise) and try again".into(),
            CloudError::Unreachable { .. } => "check the network, the region and `--endpoint-url`; nothing was changed".into(),
            CloudError::Aws { code, .. } if code == "AccessDenied" || code == "AccessDeniedException" => "the credentials lack a permission this needs: see the action above".into(),
            CloudError::NotBootstrapped { .. } => "run `wsgen bootstrap` for this account and region (it creates or updates the toolkit stack), or `wsgen deploy --bootstrap`".into(),
            CloudError::ApprovalRequired(_) => "run it in a terminal to confirm, or pass `--require-approval never` once you have reviewed the changes".into(),
            CloudError::StackFailed { help, .. } => help.clone(),
            CloudError::Detached { stack, operation, .. } => format!(
                "wsgen stopped following it, but {stack}'s {operation} goes on in CloudFormation: run the same wsgen command again to wait for its end, or follow it with `aws cloudformation describe-stack-events --stack-name {stack}`"
            ),
            CloudError::NoLoggingRole { .. } => "run `wsgen bootstrap --api-gateway-logging` once for this account and region (it sets the role for every API Gateway API there, and asks first), or turn the stages' logging off (`Stage::no_access_logs()`, execution logging `Off`); nothing was deployed".into(),
            CloudError::NotOurs { .. } => "delete it with the tool that created it (or the AWS console)".into(),
            CloudError::Aws { .. } | CloudError::Declined(_) | CloudError::Toolkit(_) => return None,
        })
    }
}

/// `stage X logs` or `stages X, Y log`.
pub(super) fn stages_log(stages: &[String]) -> String {
    let one = stages.len() == 1;
    format!(
        "stage{} {} log{}",
        if one { "" } else { "s" },
        stages.join(", "),
        if one { "s" } else { "" }
    )
}
