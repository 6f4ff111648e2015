//! The `wsgen` command. The flow runs one way: `args` (clap) -> `settings` (each verb's
//! options, defaults resolved) -> one module per verb (`synth`, `bundle`, `bootstrap`,
//! `deploy`, `diff`, `destroy`, `dev`, `new`, `connect`, `logs`) -> `cloud` (AWS) and the `wsgen`
//! library; results and errors are rendered once, here.

mod args;
pub mod asyncapi;
pub mod bootstrap;
mod bundle;
mod cargo;
pub mod client;
pub mod cloud;
mod connect;
mod deploy;
mod destroy;
pub mod dev;
mod diff;
pub mod embedded;
mod error;
mod files;
mod https;
mod logs;
pub mod new;
pub(crate) mod project;
mod select;
mod settings;
mod sources;
mod synth;
mod ui;

pub use bootstrap::{bootstrap, BootstrapOptions, BootstrapResult};
pub use cloud::aws::{Aws, AwsOptions};
pub use cloud::stacks::Approval;
pub use cloud::toolkit::{toolkit_template, TOOLKIT_STACK, TOOLKIT_VERSION};
pub use deploy::{deploy, DeployOptions, DeployResult};
pub use destroy::{destroy, DestroyOptions, DestroyResult};
pub use diff::{diff, DiffOptions, DiffResult};
pub use new::{new, Blueprint, NewOptions, NewResult};

pub use bundle::{
    bundle, check_binary, zip_bootstrap, BuildProfile, BundleOptions, BundleResult, Bundled,
    Compression,
};
pub use error::CliError;
pub use project::Project;
pub use synth::{synth, SynthOptions, SynthResult};
pub use ui::Ui;

use settings::Settings;

/// Runs the command line and returns the process exit code: 0 ok, 1 failure, 2 usage
/// or validation error; `diff` exits 1 for differences and 2 or more for any error.
pub fn run() -> i32 {
    use clap::Parser;
    let cli = match args::Cli::try_parse().map_err(args::explain) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let ui = Ui::new(cli.quiet);
    if let Some(filter) = settings::log_filter(cli.verbose, std::env::var("RUST_LOG").ok()) {
        start_logging(&filter, ui.color());
    }
    let settings = Settings::new(cli.command, cli.json);
    let json = settings.json();
    // diff(1)'s convention: 0 the same, 1 different, 2 trouble.
    let diffing = matches!(settings, Settings::Diff { .. });
    let outcome = match settings {
        Settings::Synth(opts) => synth(&opts, &ui).map(|r| (r.stdout, 0)),
        Settings::Bundle { opts, json } => bundle(&opts, &ui).map(|r| {
            let result = serde_json::json!({"built": r.built, "assets": r.assets});
            (json_if(json, &result), 0)
        }),
        Settings::Bootstrap { opts, json } => bootstrap(&opts, &ui).map(|r| (json_if(json, &r), 0)),
        Settings::Deploy { opts, json } => deploy(&opts, &ui).map(|r| {
            if json {
                return (to_json(&r), 0);
            }
            let mut text = String::new();
            for (stack, s) in &r.stacks {
                for (key, value) in &s.outputs {
                    text.push_str(&format!("{stack}.{key} = {value}\n"));
                }
            }
            (text, 0)
        }),
        Settings::Destroy { opts, json } => destroy(&opts, &ui).map(|r| (json_if(json, &r), 0)),
        Settings::Diff {
            opts,
            json,
            exit_zero,
        } => diff(&opts, &ui).map(|r| {
            let text = if json { to_json(&r) } else { r.render() };
            (text, i32::from(r.has_differences() && !exit_zero))
        }),
        Settings::Dev(opts) => dev::dev(&opts, &ui).map(|()| (String::new(), 0)),
        Settings::New { opts, json } => new::new(&opts, &ui).map(|r| {
            let cd = r.dir.display();
            ui.info(&format!(
                "next: cd {cd} && wsgen dev     (cargo test runs its tests)"
            ));
            (json_if(json, &r), 0)
        }),
        Settings::ListBlueprints { json: true } => {
            new::blueprints().map(|list| (to_json(&list), 0))
        }
        Settings::ListBlueprints { json: false } => new::blueprints().map(|list| {
            let width = list.iter().map(|b| b.name.len()).max().unwrap_or(0);
            let lines: String = list
                .iter()
                .map(|b| format!("{:<width$}  {}\n", b.name, b.description))
                .collect();
            (lines, 0)
        }),
        Settings::Completions(script) => Ok((script, 0)),
        // The frames are printed as they come; the exit code tells how it ended.
        Settings::Connect(opts) => connect::connect(&opts, &ui).map(|code| (String::new(), code)),
        Settings::Logs(opts) => logs::logs(&opts, &ui).map(|()| (String::new(), 0)),
        Settings::Client { opts, json } => {
            client::client(&opts, &ui).map(|r| match (json, &r.out) {
                (true, _) => (to_json(&r), 0),
                // Written to the file: nothing on stdout.
                (false, Some(_)) => (String::new(), 0),
                (false, None) => (r.module, 0),
            })
        }
    };
    match outcome.and_then(|(text, code)| ui.stdout(&text).map(|()| code)) {
        Ok(code) => code,
        Err(e) if diffing => ui.fail(&e, json).max(2),
        Err(e) => ui.fail(&e, json),
    }
}

/// Logs `tracing` events matching `filter` to stderr, with the time and the target,
/// coloured as the rest of stderr (`color`).
fn start_logging(filter: &str, color: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("warning: RUST_LOG `{filter}` is not a filter ({e}); logging warnings");
        tracing_subscriber::EnvFilter::new("warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .try_init();
}

/// A result as pretty JSON with a newline.
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("json") + "\n"
}

/// The result as JSON when asked for, else nothing (the human report is on stderr).
fn json_if(json: bool, value: &impl serde::Serialize) -> String {
    if json {
        to_json(value)
    } else {
        String::new()
    }
}
