//! The parsed command line resolved into each verb's options: every default that is
//! not clap's own is decided here (or documented on the option it fills), so the verbs
//! receive complete settings and never look at flags.

use crate::args::{self, ApprovalArg, AwsArgs, Command};
use crate::client::{ClientOptions, Lang};
use crate::connect::{AfterLast, ConnectOptions, REPLY_WAIT};
use crate::dev::gateway::GatewayConfig;
use crate::dev::DevOptions;
use crate::logs::LogsOptions;
use crate::{
    Approval, AwsOptions, BootstrapOptions, BuildProfile, BundleOptions, DeployOptions,
    DestroyOptions, DiffOptions, NewOptions, SynthOptions,
};

/// What to run, with how to report it.
pub enum Settings {
    Synth(SynthOptions),
    Bundle {
        opts: BundleOptions,
        json: bool,
    },
    Bootstrap {
        opts: BootstrapOptions,
        json: bool,
    },
    Deploy {
        opts: DeployOptions,
        json: bool,
    },
    Destroy {
        opts: DestroyOptions,
        json: bool,
    },
    /// `exit_zero`: differences do not fail the command.
    Diff {
        opts: DiffOptions,
        json: bool,
        exit_zero: bool,
    },
    Dev(DevOptions),
    New {
        opts: NewOptions,
        json: bool,
    },
    ListBlueprints {
        json: bool,
    },
    /// A shell's completion script, ready to print.
    Completions(String),
    Connect(ConnectOptions),
    Logs(LogsOptions),
    Client {
        opts: ClientOptions,
        json: bool,
    },
}

impl Settings {
    /// Whether results and errors go to stdout as JSON.
    pub fn json(&self) -> bool {
        match self {
            Settings::Synth(opts) => opts.json,
            Settings::Dev(opts) => opts.json,
            Settings::Connect(opts) => opts.json,
            Settings::Logs(opts) => opts.json,
            Settings::Bundle { json, .. }
            | Settings::Bootstrap { json, .. }
            | Settings::Deploy { json, .. }
            | Settings::Destroy { json, .. }
            | Settings::Diff { json, .. }
            | Settings::New { json, .. }
            | Settings::ListBlueprints { json } => *json,
            Settings::Client { json, .. } => *json,
            Settings::Completions(_) => false,
        }
    }

    /// The verb's options from its arguments; `json` is the global `--json`.
    pub fn new(command: Command, json: bool) -> Settings {
        match command {
            Command::Synth(a) => Settings::Synth(SynthOptions {
                project: a.project,
                out: a.out,
                json,
                stacks: a.stacks,
                low_priority: false,
                quiet: false,
            }),
            Command::Bundle(a) => Settings::Bundle {
                opts: BundleOptions {
                    project: a.project,
                    profile: build_profile(a.release, a.debug, BuildProfile::Release),
                    arch: a.arch,
                },
                json,
            },
            Command::Bootstrap(a) => Settings::Bootstrap {
                opts: BootstrapOptions {
                    aws: a.aws.into(),
                    api_gateway_logging: a.api_gateway_logging,
                    approval: a.require_approval.into(),
                },
                json,
            },
            Command::Deploy(a) => Settings::Deploy {
                opts: DeployOptions {
                    project: a.project,
                    stacks: a.stacks,
                    aws: a.aws.into(),
                    approval: a.require_approval.into(),
                    outputs_file: a.outputs_file,
                    hotswap: a.hotswap,
                    bootstrap: a.bootstrap,
                    exclusively: a.exclusively,
                },
                json,
            },
            Command::Destroy(a) => Settings::Destroy {
                opts: DestroyOptions {
                    project: a.project,
                    stacks: a.stacks,
                    aws: a.aws.into(),
                    yes: a.yes,
                },
                json,
            },
            Command::Diff(a) => Settings::Diff {
                opts: DiffOptions {
                    project: a.project,
                    stacks: a.stacks,
                    aws: a.aws.into(),
                },
                json,
                exit_zero: a.exit_zero,
            },
            Command::Dev(a) => Settings::Dev(dev_options(a, json)),
            Command::New(a) if a.list => Settings::ListBlueprints { json },
            Command::New(a) => Settings::New {
                opts: NewOptions {
                    dir: a.dir.unwrap_or_default(),
                    blueprint: a.blueprint,
                    name: a.name,
                    force: a.force,
                },
                json,
            },
            Command::Client(a) => Settings::Client {
                opts: ClientOptions {
                    project: a.project,
                    stack: a.stack,
                    lang: match a.lang {
                        args::LangArg::Ts => Lang::TypeScript,
                        args::LangArg::Js => Lang::JavaScript,
                    },
                    out: a.out,
                },
                json,
            },
            Command::Completions { shell } => Settings::Completions(args::completions(shell)),
            Command::Logs(a) => Settings::Logs(LogsOptions {
                project: a.project,
                stack: a.stack,
                functions: a.functions,
                since: a.since,
                follow: a.follow,
                filter: a.filter,
                aws: a.aws.into(),
                json,
            }),
            Command::Connect(a) => Settings::Connect(ConnectOptions {
                project: a.project,
                stack: a.stack,
                stage: a.stage,
                url: a.url,
                aws: a.aws.into(),
                send: a.send,
                after_last: match a.wait {
                    None => AfterLast::Quiet(REPLY_WAIT),
                    Some(args::WaitArg::For(d)) => AfterLast::For(d),
                    Some(args::WaitArg::Forever) => AfterLast::UntilClosed,
                },
                headers: a.header,
                query: a.query,
                subprotocols: a.subprotocol,
                sign: a.sign,
                json,
            }),
        }
    }
}

fn dev_options(a: args::DevArgs, json: bool) -> DevOptions {
    DevOptions {
        project: a.project,
        port: a.port,
        profile: build_profile(a.release, a.debug, BuildProfile::Dev),
        stage: a.stage,
        gateway: GatewayConfig {
            idle_timeout: a.idle_timeout,
            max_duration: a.max_connection_duration,
        },
        dynamodb_endpoint: a.dynamodb_endpoint,
        dynamodb_port: a
            .dynamodb_port
            .unwrap_or_else(|| default_dynamodb_port(a.port)),
        schedule_interval: a.schedule_interval,
        watch: !a.no_watch,
        json,
    }
}

/// What to log on stderr (a `tracing` filter), if anything: RUST_LOG when set, else by
/// the number of `-v`s: wsgen's own steps; then the AWS SDK's requests and responses
/// (its orchestrator and the credential chain); then everything.
pub fn log_filter(verbose: u8, rust_log: Option<String>) -> Option<String> {
    if let Some(filter) = rust_log.filter(|f| !f.trim().is_empty()) {
        return Some(filter);
    }
    Some(
        match verbose {
            0 => return None,
            1 => "wsgen_cli=debug",
            // `aws` is every AWS crate: the SDK clients (each operation a span), the
            // runtime that sends the requests, the credential chain, SigV4.
            2 => "wsgen_cli=debug,aws=debug",
            _ => "trace",
        }
        .to_string(),
    )
}

/// The embedded DynamoDB's port when `--dynamodb-port` is not given: the gateway's
/// port + 1, so that both are known in advance; any free port when the gateway's port
/// is 0 (any) or 65535 (the last).
fn default_dynamodb_port(port: u16) -> u16 {
    match port {
        0 => 0,
        port => port.checked_add(1).unwrap_or(0),
    }
}

impl From<AwsArgs> for AwsOptions {
    fn from(a: AwsArgs) -> AwsOptions {
        AwsOptions {
            profile: a.profile,
            region: a.region,
            endpoint_url: a.endpoint_url,
        }
    }
}

/// `--release` or `--debug` (cargo's words: `--profile` is the AWS profile here), else
/// the command's default (bundle: release, for deploys; dev: debug, for fast rebuilds).
fn build_profile(release: bool, debug: bool, default: BuildProfile) -> BuildProfile {
    match (release, debug) {
        (true, _) => BuildProfile::Release,
        (_, true) => BuildProfile::Dev,
        _ => default,
    }
}

impl From<ApprovalArg> for Approval {
    fn from(a: ApprovalArg) -> Approval {
        match a {
            ApprovalArg::Never => Approval::Never,
            ApprovalArg::Broadening => Approval::Broadening,
            ApprovalArg::AnyChange => Approval::AnyChange,
        }
    }
}
