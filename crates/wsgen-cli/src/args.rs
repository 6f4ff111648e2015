//! The command line as clap parses it: the flags, their help and their defaults as
//! written; `settings` turns it into each verb's options.

use crate::{dev, new};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "wsgen", version, about = "Infrastructure as code for AWS API Gateway WebSocket APIs", long_about = None)]
pub(crate) struct Cli {
    /// Print only errors on stderr (results still go to stdout).
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Log what wsgen does on stderr; -vv adds the AWS SDK's requests, -vvv everything.
    /// RUST_LOG, when set, chooses instead (e.g. RUST_LOG=aws_smithy_runtime=debug).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Results as JSON on stdout, and errors too (progress stays on stderr); for synth the
    /// template; for dev, connect and logs their events, one JSON object a line.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Build and run the infra crate; write CloudFormation to wsgen.out/ and print it.
    Synth(SynthArgs),
    /// Build every handler crate (one cargo run) and package each as a Lambda zip.
    Bundle(BundleArgs),
    /// Create or update the asset bucket's toolkit stack in an account and region.
    Bootstrap(BootstrapArgs),
    /// Synth, bundle, upload assets, then create or update the stacks by change set.
    Deploy(DeployArgs),
    /// Delete deployed stacks (tables with DeletionPolicy Retain keep their data).
    Destroy(DestroyArgs),
    /// Compare the synthesized templates with the deployed ones: exit 0 if the same, 1
    /// if they differ, 2 on errors (as diff does).
    Diff(DiffArgs),
    /// Run the app locally: every WebSocket stage on 127.0.0.1 with the real handlers.
    Dev(DevArgs),
    /// Create a project from a blueprint (default: chat).
    New(NewArgs),
    /// Talk to a stage: the running `wsgen dev`, a deployed stack's stage, or a URL.
    /// Exit 0 when the session ends cleanly, 3 when the connection is refused, 4 when it
    /// closes abnormally.
    Connect(ConnectArgs),
    /// Show a deployed stack's logs (its functions', its stages' access logs),
    /// interleaved by time; --follow for new ones as they come.
    Logs(LogsArgs),
    /// Generate a typed client module for a stack's WebSocket APIs from the app's message
    /// types (TypeScript, or JavaScript with JSDoc types for a page without a build).
    Client(ClientArgs),
    /// Print a completion script for a shell (e.g. `wsgen completions bash >
    /// ~/.local/share/bash-completion/completions/wsgen`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The completion script of `shell` for the whole command line.
pub(crate) fn completions(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "wsgen", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Args, Debug)]
pub(crate) struct NewArgs {
    /// The directory to create (its last component is the project's name).
    #[arg(required_unless_present = "list")]
    pub(crate) dir: Option<PathBuf>,
    /// The blueprint (see --list).
    #[arg(long, short, default_value = new::DEFAULT_BLUEPRINT)]
    pub(crate) blueprint: String,
    /// The project's name (a crate name). Default: DIR's last component.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Add the project's files to a directory that has files (never overwriting any).
    #[arg(long)]
    pub(crate) force: bool,
    /// List the blueprints.
    #[arg(long, conflicts_with_all = ["dir", "name", "force"])]
    pub(crate) list: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DevArgs {
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = dev::DEFAULT_PORT)]
    pub(crate) port: u16,
    /// Serve only this stage.
    #[arg(long, value_name = "NAME")]
    pub(crate) stage: Option<String>,
    /// Build the handlers with cargo's dev profile: fast rebuilds (the default).
    #[arg(long, conflicts_with = "release")]
    pub(crate) debug: bool,
    /// Build the handlers as deployed: profile wsgen-lambda (LTO, size-optimized,
    /// stripped).
    #[arg(long)]
    pub(crate) release: bool,
    /// Close connections idle this long (API Gateway: 10m).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) idle_timeout: std::time::Duration,
    /// Close connections open this long (API Gateway: 2h).
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = parse_duration)]
    pub(crate) max_connection_duration: std::time::Duration,
    /// Use this DynamoDB-compatible endpoint (DynamoDB Local, moto) for the app's
    /// tables, creating them there when missing, instead of the embedded one.
    #[arg(long, value_name = "URL", conflicts_with = "dynamodb_port")]
    pub(crate) dynamodb_endpoint: Option<String>,
    /// The embedded DynamoDB's port on 127.0.0.1. Default: --port + 1 (any free port
    /// when --port is 0).
    #[arg(long, value_name = "PORT")]
    pub(crate) dynamodb_port: Option<u16>,
    /// Run every scheduled function this often instead of at its rule's rate or cron
    /// times, for quick local checks.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) schedule_interval: Option<std::time::Duration>,
    /// Do not rebuild and reload when the project's files change.
    #[arg(long)]
    pub(crate) no_watch: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ConnectArgs {
    /// A deployed stack whose stage to connect to (its `...WebSocketUrl` output).
    /// Default: the running `wsgen dev` of the project, else the project's only stack.
    pub(crate) stack: Option<String>,
    /// The stage, when there are several.
    #[arg(long, value_name = "NAME")]
    pub(crate) stage: Option<String>,
    /// Connect to this ws:// or wss:// URL instead.
    #[arg(long, value_name = "URL", conflicts_with_all = ["stack", "stage"])]
    pub(crate) url: Option<String>,
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// Send this text message (repeatable, in order); without it, lines typed at the
    /// terminal, or stdin's lines when it is not one.
    #[arg(long, short, value_name = "MSG")]
    pub(crate) send: Vec<String>,
    /// Keep reading after the last message: for DURATION, or (without one) until the
    /// server closes or Ctrl-C. Default: until 2s pass without a frame.
    #[arg(long, short, value_name = "DURATION", num_args = 0..=1, default_missing_value = "forever", value_parser = parse_wait)]
    pub(crate) wait: Option<WaitArg>,
    /// A handshake header, `Name: value` (repeatable).
    #[arg(long, short = 'H', value_name = "HEADER", value_parser = parse_header)]
    pub(crate) header: Vec<(String, String)>,
    /// A query string parameter, `name=value` (repeatable; percent-encoded for you).
    #[arg(long, value_name = "PARAM", value_parser = parse_param)]
    pub(crate) query: Vec<(String, String)>,
    /// A subprotocol to offer (repeatable).
    #[arg(long, value_name = "NAME")]
    pub(crate) subprotocol: Vec<String>,
    /// Sign the handshake with SigV4 (for `$connect` routes with AWS_IAM authorization),
    /// with the standard credential chain.
    #[arg(long)]
    pub(crate) sign: bool,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
}

/// `Name: value`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not a header: write `Name: value`"))?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(format!("`{name}` is not a header name"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// `name=value` (`name` alone is an empty value).
fn parse_param(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once('=').unwrap_or((s, ""));
    if name.is_empty() {
        return Err(format!("`{s}` has no parameter name: write `name=value`"));
    }
    Ok((name.to_string(), value.to_string()))
}

#[derive(Args, Debug)]
pub(crate) struct ClientArgs {
    /// The stack. Default: the only one with a WebSocket API.
    pub(crate) stack: Option<String>,
    /// The module's language.
    #[arg(long, value_enum, default_value = "ts")]
    pub(crate) lang: LangArg,
    /// Write the module to this file (whole, or not at all). Default: stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
}

/// `--lang`'s values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum LangArg {
    /// TypeScript.
    Ts,
    /// An ES module with JSDoc types (TypeScript checks it with checkJs).
    Js,
}

#[derive(Args, Debug)]
pub(crate) struct LogsArgs {
    /// Functions (or log groups) to show, by logical ID (e.g. SendMessage) or deployed
    /// name. Default: all of the stack's.
    pub(crate) functions: Vec<String>,
    /// The stack. Default: the project's only stack.
    #[arg(long, value_name = "NAME")]
    pub(crate) stack: Option<String>,
    /// Start this long ago.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) since: std::time::Duration,
    /// Keep showing new events as they arrive, until Ctrl-C.
    #[arg(long, short)]
    pub(crate) follow: bool,
    /// Only events matching this CloudWatch Logs filter pattern (e.g. ERROR, or
    /// '{ $.level = "ERROR" }').
    #[arg(long, value_name = "PATTERN")]
    pub(crate) filter: Option<String>,
    /// The project directory (holding wsgen.toml), read when no stack is named.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
}

/// `--wait`'s value: a duration, or `forever` (the flag without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitArg {
    For(std::time::Duration),
    Forever,
}

fn parse_wait(s: &str) -> Result<WaitArg, String> {
    if s == "forever" {
        return Ok(WaitArg::Forever);
    }
    parse_duration(s).map(WaitArg::For)
}

/// `x86_64` or `arm64`, listed in the help as clap lists possible values.
fn architecture() -> impl clap::builder::TypedValueParser<Value = wsgen::Architecture> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["x86_64", "arm64"])
        .map(|name| wsgen::Architecture::from_name(&name).unwrap_or_default())
}

/// The longest duration an option takes: a year (longer would overflow the clocks that
/// time connections and schedules, and means "never" locally anyway).
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

/// `500ms`, `30s`, `10m`, `2h`: more than zero, at most a year.
/// clap's error, with the fix where its own tip would mislead: `--profile` on a command
/// that builds (cargo users mean the build profile, which wsgen chooses with cargo's
/// words; `--profile` is only ever the AWS profile).
pub(crate) fn explain(e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let flag = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(flag)) => flag.as_str(),
        _ => return e,
    };
    if e.kind() == ErrorKind::UnknownArgument && flag.split('=').next() == Some("--profile") {
        return clap::Error::raw(
            ErrorKind::UnknownArgument,
            "`--profile` names an AWS profile (bootstrap, deploy, diff, destroy); choose the build profile with --release or --debug\n",
        );
    }
    e
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_any_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "`{}` is zero: give a duration such as 500ms, 30s, 10m or 2h",
            s.trim()
        ));
    }
    if d > MAX_DURATION {
        return Err(format!(
            "`{}` is longer than a year (8760h), the longest wsgen takes",
            s.trim()
        ));
    }
    Ok(d)
}

fn parse_any_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("`{s}` needs a unit: ms, s, m or h"))?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 500ms, 30s, 10m or 2h"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit `{unit}` in `{s}`: use ms, s, m or h")),
    };
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("`{s}` is too long a duration"))
}

/// Where and as whom: the AWS CLI's options, with the same environment fallbacks.
#[derive(Args, Debug)]
pub(crate) struct AwsArgs {
    /// A profile from ~/.aws/config and ~/.aws/credentials. Default: AWS_PROFILE, else
    /// `default`.
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// The region. Default: AWS_REGION, else the profile's region.
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Send AWS requests to this endpoint (an AWS-compatible engine such as moto).
    /// Default: AWS_ENDPOINT_URL, else AWS itself.
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
}

#[derive(Args, Debug)]
pub(crate) struct BootstrapArgs {
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Also set the account's API Gateway CloudWatch role in this region, which stage
    /// access and execution logs need. One setting for the whole account and region
    /// (every REST and WebSocket API there logs through it): it asks first. Once set,
    /// later bootstraps keep it.
    #[arg(long)]
    pub(crate) api_gateway_logging: bool,
    /// Which changes need confirmation (as for deploy): the logging role is an IAM
    /// change, so without a terminal `--api-gateway-logging` needs `never`.
    #[arg(long, value_enum, default_value = "broadening")]
    pub(crate) require_approval: ApprovalArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum ApprovalArg {
    Never,
    Broadening,
    AnyChange,
}

#[derive(Args, Debug)]
pub(crate) struct DeployArgs {
    /// Stacks to deploy. Default: all of them.
    pub(crate) stacks: Vec<String>,
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Which changes need confirmation: `broadening` ones (new or wider IAM statements,
    /// new permissions, authorization removed), `any-change`, or `never`. Without a
    /// terminal, changes that need confirmation stop the deploy.
    #[arg(long, value_enum, default_value = "broadening")]
    pub(crate) require_approval: ApprovalArg,
    /// Write the stacks' outputs to this file as JSON: {"Stack": {"Output": "value"}}.
    #[arg(long, value_name = "FILE")]
    pub(crate) outputs_file: Option<PathBuf>,
    /// When only handler code changed, update the functions directly instead of through
    /// CloudFormation (development stacks only); otherwise deploy as usual.
    #[arg(long)]
    pub(crate) hotswap: bool,
    /// Bootstrap the account and region first if they are not.
    #[arg(long)]
    pub(crate) bootstrap: bool,
    /// Deploy only the stacks named, not also the stacks whose exports they import.
    #[arg(short = 'e', long)]
    pub(crate) exclusively: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DestroyArgs {
    /// Stacks to destroy. Default: all stacks of the project's app.
    pub(crate) stacks: Vec<String>,
    /// The project directory (holding wsgen.toml), read when no stacks are named.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    pub(crate) yes: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DiffArgs {
    /// Stacks to compare. Default: all of them.
    pub(crate) stacks: Vec<String>,
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) aws: AwsArgs,
    /// Exit 0 even when there are differences (by default 1, like diff; errors still
    /// exit 2).
    #[arg(long)]
    pub(crate) exit_zero: bool,
}

#[derive(Args, Debug)]
pub(crate) struct BundleArgs {
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// Build as deployed: profile wsgen-lambda (LTO, size-optimized, stripped), the
    /// zips deploy takes (the default).
    #[arg(long, conflicts_with = "debug")]
    pub(crate) release: bool,
    /// Build with cargo's dev profile: fast builds for local runs.
    #[arg(long)]
    pub(crate) debug: bool,
    /// Build every handler for this architecture instead of the one its function
    /// declares (such zips are not deployed).
    #[arg(long, value_parser = architecture())]
    pub(crate) arch: Option<wsgen::Architecture>,
}

#[derive(Args, Debug)]
pub(crate) struct SynthArgs {
    /// Stacks to print (all are synthesized). Default: the only stack.
    pub(crate) stacks: Vec<String>,
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) project: Option<PathBuf>,
    /// Where to write the cloud assembly. Default: `out` in wsgen.toml, else wsgen.out.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::{parse_duration, parse_header, parse_param, Cli};
    use std::time::Duration;

    #[test]
    fn the_command_line_is_consistent() {
        // Unique short flags (the global -q and -v too), valid defaults, and so on.
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn headers_and_query_parameters() {
        assert_eq!(
            parse_header("X-Room:  lobby "),
            Ok(("X-Room".into(), "lobby".into()))
        );
        assert!(parse_header("no colon")
            .unwrap_err()
            .contains("`Name: value`"));
        assert!(parse_header("bad name: x").is_err());
        assert_eq!(parse_param("token=a=b"), Ok(("token".into(), "a=b".into())));
        assert_eq!(parse_param("flag"), Ok(("flag".into(), String::new())));
        assert!(parse_param("=x").is_err());
    }

    #[test]
    fn durations_are_positive_and_at_most_a_year() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("8760h"),
            Ok(Duration::from_secs(365 * 24 * 3600))
        );
        for bad in [
            "0s",
            "0ms",
            "8761h",
            "3000000000000000h",
            "99999999999999999999999h",
            "10",
            "5d",
            "h",
            "-1s",
            "",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
