//! The `wsgen` command: argument parsing (clap) turned into plain option structs, one
//! module per verb, errors rendered once here.

mod aws;
pub mod bootstrap;
mod bundle;
pub mod changes;
mod deploy;
mod destroy;
pub mod dev;
mod diff;
mod error;
mod files;
pub mod new;
pub(crate) mod project;
pub mod stacks;
mod synth;
mod ui;

pub use aws::{Aws, AwsOptions};
pub use bootstrap::{
    bootstrap, toolkit_template, BootstrapOptions, BootstrapResult, TOOLKIT_STACK,
};
pub use deploy::{deploy, DeployOptions, DeployResult};
pub use destroy::{destroy, DestroyOptions, DestroyResult};
pub use diff::{diff, DiffOptions, DiffResult};
pub use new::{new, Blueprint, NewOptions, NewResult};
pub use stacks::Approval;

pub use bundle::{
    bundle, check_binary, zip_bootstrap, BuildProfile, BundleOptions, BundleResult, Bundled,
    Compression,
};
pub use error::CliError;
pub use project::Project;
pub use synth::{synth, SynthOptions, SynthResult};
pub use ui::Ui;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "wsgen", version, about = "Infrastructure as code for AWS API Gateway WebSocket APIs", long_about = None)]
struct Cli {
    /// Print only errors on stderr (results still go to stdout).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
    /// Compare the synthesized templates with the deployed ones; exit 1 if they differ.
    Diff(DiffArgs),
    /// Run the app locally: every WebSocket stage on 127.0.0.1 with the real handlers.
    Dev(DevArgs),
    /// Create a project from a blueprint (default: chat).
    New(NewArgs),
}

#[derive(Args, Debug)]
struct NewArgs {
    /// The directory to create (its last component is the project's name).
    #[arg(required_unless_present = "list")]
    dir: Option<PathBuf>,
    /// The blueprint (see --list).
    #[arg(long, short, default_value = new::DEFAULT_BLUEPRINT)]
    blueprint: String,
    /// The project's name (a crate name). Default: DIR's last component.
    #[arg(long)]
    name: Option<String>,
    /// Add the project's files to a directory that has files (never overwriting any).
    #[arg(long)]
    force: bool,
    /// List the blueprints.
    #[arg(long, conflicts_with_all = ["dir", "name", "force"])]
    list: bool,
}

#[derive(Args, Debug)]
struct DevArgs {
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = dev::DEFAULT_PORT)]
    port: u16,
    /// Serve only this stage.
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,
    /// Build the handlers with the `dev` profile (fast rebuilds) or as deployed
    /// (`release`).
    #[arg(long, value_enum, default_value = "dev")]
    profile: ProfileArg,
    /// Close connections idle this long (API Gateway: 10m).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    idle_timeout: std::time::Duration,
    /// Close connections open this long (API Gateway: 2h).
    #[arg(long, value_name = "DURATION", default_value = "2h", value_parser = parse_duration)]
    max_connection_duration: std::time::Duration,
    /// Use this DynamoDB-compatible endpoint (DynamoDB Local, moto) for the app's
    /// tables, creating them there when missing, instead of the embedded one.
    #[arg(long, value_name = "URL", conflicts_with = "dynamodb_port")]
    dynamodb_endpoint: Option<String>,
    /// The embedded DynamoDB's port on 127.0.0.1. Default: --port + 1 (any free port
    /// when --port is 0).
    #[arg(long, value_name = "PORT")]
    dynamodb_port: Option<u16>,
    /// Run every scheduled function this often instead of at its rule's rate or cron
    /// times, for quick local checks.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    schedule_interval: Option<std::time::Duration>,
    /// Do not rebuild and reload when the project's files change.
    #[arg(long)]
    no_watch: bool,
    /// Log requests and handler output as JSON lines.
    #[arg(long)]
    json: bool,
}

/// `500ms`, `30s`, `10m`, `2h`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
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
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Where and as whom: the AWS CLI's options, with the same environment fallbacks.
#[derive(Args, Debug)]
struct AwsArgs {
    /// A profile from ~/.aws/config and ~/.aws/credentials. Default: AWS_PROFILE, else
    /// `default`.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// The region. Default: AWS_REGION, else the profile's region.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Send AWS requests to this endpoint (an AWS-compatible engine such as moto).
    /// Default: AWS_ENDPOINT_URL, else AWS itself.
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
}

impl AwsArgs {
    fn options(self) -> AwsOptions {
        AwsOptions {
            profile: self.profile,
            region: self.region,
            endpoint_url: self.endpoint_url,
        }
    }
}

#[derive(Args, Debug)]
struct BootstrapArgs {
    #[command(flatten)]
    aws: AwsArgs,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ApprovalArg {
    Never,
    Broadening,
    AnyChange,
}

#[derive(Args, Debug)]
struct DeployArgs {
    /// Stacks to deploy. Default: all of them.
    stacks: Vec<String>,
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
    /// Which changes need confirmation: `broadening` ones (new or wider IAM statements,
    /// new permissions, authorization removed), `any-change`, or `never`. Without a
    /// terminal, changes that need confirmation stop the deploy.
    #[arg(long, value_enum, default_value = "broadening")]
    require_approval: ApprovalArg,
    /// Write the stacks' outputs to this file as JSON: {"Stack": {"Output": "value"}}.
    #[arg(long, value_name = "FILE")]
    outputs_file: Option<PathBuf>,
    /// When only handler code changed, update the functions directly instead of through
    /// CloudFormation (development stacks only); otherwise deploy as usual.
    #[arg(long)]
    hotswap: bool,
    /// Bootstrap the account and region first if they are not.
    #[arg(long)]
    bootstrap: bool,
    /// Deploy only the stacks named, not also the stacks whose exports they import.
    #[arg(short = 'e', long)]
    exclusively: bool,
    /// Print the result as JSON on stdout (progress and events stay on stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct DestroyArgs {
    /// Stacks to destroy. Default: all stacks of the project's app.
    stacks: Vec<String>,
    /// The project directory (holding wsgen.toml), read when no stacks are named.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct DiffArgs {
    /// Stacks to compare. Default: all of them.
    stacks: Vec<String>,
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    #[command(flatten)]
    aws: AwsArgs,
    /// Exit 0 even when there are differences (by default 1, like diff).
    #[arg(long)]
    exit_zero: bool,
    /// Print the differences as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct BundleArgs {
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// `release` builds deployable zips (profile wsgen-lambda: LTO, size-optimized,
    /// stripped); `dev` builds fast ones for local runs.
    #[arg(long, value_enum, default_value = "release")]
    profile: ProfileArg,
    /// Build every handler for this architecture instead of the one its function
    /// declares (such zips are not deployed).
    #[arg(long, value_parser = ["x86_64", "arm64"])]
    arch: Option<String>,
    /// Print the bundled assets as JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ProfileArg {
    Release,
    Dev,
}

impl From<ProfileArg> for BuildProfile {
    fn from(p: ProfileArg) -> BuildProfile {
        match p {
            ProfileArg::Release => BuildProfile::Release,
            ProfileArg::Dev => BuildProfile::Dev,
        }
    }
}

#[derive(Args, Debug)]
struct SynthArgs {
    /// Stacks to print (all are synthesized). Default: the only stack.
    stacks: Vec<String>,
    /// The project directory (holding wsgen.toml). Default: the nearest one at or above
    /// the current directory.
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Where to write the cloud assembly. Default: `out` in wsgen.toml, else wsgen.out.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the template as JSON instead of YAML (and problems as JSON).
    #[arg(long)]
    json: bool,
}

/// Runs the command line and returns the process exit code: 0 ok, 1 failure, 2 usage
/// or validation error.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let ui = Ui::new(cli.quiet);
    match cli.command {
        Command::Synth(a) => {
            let json = a.json;
            let opts = SynthOptions {
                project: a.project,
                out: a.out,
                json,
                stacks: a.stacks,
            };
            match synth(&opts, &ui) {
                Ok(result) => {
                    print!("{}", result.stdout);
                    0
                }
                Err(e) => ui.fail(&e, json),
            }
        }
        Command::Bundle(a) => {
            let profile = a.profile.into();
            let opts = BundleOptions {
                project: a.project,
                profile,
                arch: a.arch,
            };
            match bundle(&opts, &ui) {
                Ok(result) => {
                    if a.json {
                        let v = serde_json::json!({"built": result.built, "assets": result.assets});
                        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
                    }
                    0
                }
                Err(e) => ui.fail(&e, a.json),
            }
        }
        Command::Bootstrap(a) => {
            let opts = BootstrapOptions {
                aws: a.aws.options(),
            };
            match bootstrap(&opts, &ui) {
                Ok(result) => {
                    if a.json {
                        print_json(&result);
                    }
                    0
                }
                Err(e) => ui.fail(&e, a.json),
            }
        }
        Command::Deploy(a) => {
            let opts = DeployOptions {
                project: a.project,
                stacks: a.stacks,
                aws: a.aws.options(),
                approval: match a.require_approval {
                    ApprovalArg::Never => Approval::Never,
                    ApprovalArg::Broadening => Approval::Broadening,
                    ApprovalArg::AnyChange => Approval::AnyChange,
                },
                outputs_file: a.outputs_file,
                hotswap: a.hotswap,
                bootstrap: a.bootstrap,
                exclusively: a.exclusively,
            };
            match deploy(&opts, &ui) {
                Ok(result) if a.json => {
                    print_json(&result);
                    0
                }
                Ok(result) => {
                    for (stack, s) in &result.stacks {
                        for (key, value) in &s.outputs {
                            println!("{stack}.{key} = {value}");
                        }
                    }
                    0
                }
                Err(e) => ui.fail(&e, a.json),
            }
        }
        Command::Destroy(a) => {
            let opts = DestroyOptions {
                project: a.project,
                stacks: a.stacks,
                aws: a.aws.options(),
                yes: a.yes,
            };
            match destroy(&opts, &ui) {
                Ok(result) => {
                    if a.json {
                        print_json(&result);
                    }
                    0
                }
                Err(e) => ui.fail(&e, a.json),
            }
        }
        Command::New(a) => {
            if a.list {
                return match new::blueprints() {
                    Ok(list) => {
                        let width = list.iter().map(|b| b.name.len()).max().unwrap_or(0);
                        for b in list {
                            println!("{:<width$}  {}", b.name, b.description);
                        }
                        0
                    }
                    Err(e) => ui.fail(&e, false),
                };
            }
            let opts = NewOptions {
                dir: a.dir.unwrap_or_default(),
                blueprint: a.blueprint,
                name: a.name,
                force: a.force,
            };
            match new::new(&opts, &ui) {
                Ok(r) => {
                    let cd = r.dir.display();
                    ui.info(&format!(
                        "next: cd {cd} && wsgen dev     (cargo test runs its tests)"
                    ));
                    0
                }
                Err(e) => ui.fail(&e, false),
            }
        }
        Command::Dev(a) => {
            let opts = dev::DevOptions {
                project: a.project,
                port: a.port,
                profile: a.profile.into(),
                stage: a.stage,
                gateway: dev::gateway::GatewayConfig {
                    idle_timeout: a.idle_timeout,
                    max_duration: a.max_connection_duration,
                },
                dynamodb_endpoint: a.dynamodb_endpoint,
                dynamodb_port: a.dynamodb_port,
                schedule_interval: a.schedule_interval,
                watch: !a.no_watch,
                json: a.json,
            };
            match dev::dev(&opts, &ui) {
                Ok(()) => 0,
                Err(e) => ui.fail(&e, false),
            }
        }
        Command::Diff(a) => {
            let opts = DiffOptions {
                project: a.project,
                stacks: a.stacks,
                aws: a.aws.options(),
            };
            match diff(&opts, &ui) {
                Ok(result) => {
                    if a.json {
                        print_json(&result);
                    } else {
                        print!("{}", result.render());
                    }
                    i32::from(result.has_differences() && !a.exit_zero)
                }
                Err(e) => ui.fail(&e, a.json),
            }
        }
    }
}

fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("json"));
}
