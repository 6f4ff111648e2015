//! The `wsgen` command: argument parsing (clap) turned into plain option structs, one
//! module per verb, errors rendered once here.

mod bundle;
mod error;
mod project;
mod synth;
mod ui;

pub use bundle::{
    bundle, check_binary, zip_bootstrap, BuildProfile, BundleOptions, BundleResult, Bundled,
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
            let profile = match a.profile {
                ProfileArg::Release => BuildProfile::Release,
                ProfileArg::Dev => BuildProfile::Dev,
            };
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
    }
}
