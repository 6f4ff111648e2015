//! The command's errors, each with its exit code and a hint at the fix.

use std::path::PathBuf;
use wsgen::ValidationErrors;

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("no wsgen.toml in {0} or any directory above it")]
    NoProject(PathBuf),
    #[error("{path}: {message}")]
    ProjectFile { path: PathBuf, message: String },
    #[error("cannot run cargo: {0}")]
    CargoMissing(std::io::Error),
    #[error("the infra crate {0} did not build (cargo's messages are above)")]
    InfraBuild(PathBuf),
    #[error("the infra crate {0} has no binary target")]
    InfraNoBinary(PathBuf),
    #[error("the infra program {program} failed ({status})")]
    InfraFailed { program: PathBuf, status: String },
    #[error("{0}")]
    Validation(ValidationErrors),
    #[error("no stack named `{name}` (stacks: {known})")]
    UnknownStack { name: String, known: String },
    #[error("{action} {path}: {error}")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a valid cloud assembly: {message}")]
    Assembly { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Bundle(String),
    #[error("{0}")]
    Toolchain(String),
    /// A failure of `wsgen dev`'s local services (not of the user's input).
    #[error("{0}")]
    Local(String),
    /// The account, the machine or wsgen's own installation is not as it must be (not
    /// the user's input).
    #[error("{0}")]
    Environment(String),
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
    #[error("{cause}")]
    Detached {
        stack: String,
        /// `creation`, `update` or `deletion`.
        operation: String,
        cause: Box<CliError>,
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
    #[error("stack {stack} was not created by wsgen (it has no `{tag}` tag)")]
    NotOurs { stack: String, tag: String },
}

impl CliError {
    /// 2 for problems in the user's input (usage, the project file, validation, a stack
    /// name), 1 for every failure at run time.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::ProjectFile { .. }
            | CliError::Validation(_)
            | CliError::UnknownStack { .. }
            | CliError::Usage(_) => 2,
            _ => 1,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            CliError::NoProject(_) => "run wsgen inside a project, or pass `--project DIR` (a directory with wsgen.toml)".into(),
            CliError::ProjectFile { .. } => "wsgen.toml takes `infra = \"<path to the infra crate>\"` and optionally `out = \"wsgen.out\"`".into(),
            CliError::CargoMissing(_) => "install Rust (cargo) and make sure `cargo` is on PATH".into(),
            CliError::InfraBuild(_) => "fix the errors cargo reported, then run `wsgen synth` again".into(),
            CliError::InfraNoBinary(_) => "the infra crate must be a binary: put `fn main()` calling `app.synth()` in src/main.rs".into(),
            CliError::InfraFailed { .. } => "the infra program's own output is above; a panic there is a bug in the infra code".into(),
            CliError::UnknownStack { .. } => "name one of the stacks listed, or none to synthesize them all".into(),
            CliError::Io { .. } => "check that the directory exists and is writable".into(),
            CliError::NoRegion => "pass `--region`, set AWS_REGION, or set `region` in the profile in ~/.aws/config".into(),
            CliError::NoCredentials(_) => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass `--profile NAME` for a profile in ~/.aws/credentials or ~/.aws/config, or run `aws sso login`".into(),
            CliError::CredentialsRejected { .. } => "refresh the credentials (`aws sso login --profile NAME` for SSO, new keys otherwise) and try again".into(),
            CliError::Unreachable { .. } => "check the network, the region and `--endpoint-url`; nothing was changed".into(),
            CliError::Aws { code, .. } if code == "AccessDenied" || code == "AccessDeniedException" => "the credentials lack a permission this needs: see the action above".into(),
            CliError::NotBootstrapped { .. } => "run `wsgen bootstrap` for this account and region (it creates or updates the toolkit stack), or `wsgen deploy --bootstrap`".into(),
            CliError::ApprovalRequired(_) => "run it in a terminal to confirm, or pass `--require-approval never` once you have reviewed the changes".into(),
            CliError::StackFailed { help, .. } => help.clone(),
            CliError::Detached { stack, operation, .. } => format!(
                "wsgen stopped following it, but {stack}'s {operation} goes on in CloudFormation: run the same wsgen command again to wait for its end, or follow it with `aws cloudformation describe-stack-events --stack-name {stack}`"
            ),
            CliError::NotOurs { .. } => "delete it with the tool that created it (or the AWS console)".into(),
            CliError::Validation(_)
            | CliError::Aws { .. }
            | CliError::Declined(_)
            | CliError::Assembly { .. }
            | CliError::Usage(_)
            | CliError::Bundle(_)
            | CliError::Toolchain(_)
            | CliError::Local(_)
            | CliError::Environment(_) => return None,
        })
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> CliError {
        let path = path.into();
        move |error| CliError::Io {
            action,
            path,
            error,
        }
    }
}
