//! The `wsgen` command. The flow runs one way: `args` (clap) -> `settings` (each verb's
//! options, defaults resolved) -> one module per verb (`synth`, `bundle`, `bootstrap`,
//! `deploy`, `diff`, `destroy`, `dev`, `new`) -> `cloud` (AWS) and the `wsgen`
//! library; results and errors are rendered once, here.

mod args;
pub mod bootstrap;
mod bundle;
mod cargo;
pub mod cloud;
mod deploy;
mod destroy;
pub mod dev;
mod diff;
mod error;
mod files;
pub mod new;
pub(crate) mod project;
mod select;
mod settings;
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
/// or validation error.
pub fn run() -> i32 {
    use clap::Parser;
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let ui = Ui::new(cli.quiet);
    let settings = Settings::from(cli.command);
    let json = settings.json();
    let outcome = match settings {
        Settings::Synth(opts) => synth(&opts, &ui).map(|r| {
            print!("{}", r.stdout);
            0
        }),
        Settings::Bundle { opts, json } => bundle(&opts, &ui).map(|r| {
            if json {
                print_json(&serde_json::json!({"built": r.built, "assets": r.assets}));
            }
            0
        }),
        Settings::Bootstrap { opts, json } => bootstrap(&opts, &ui).map(|r| {
            if json {
                print_json(&r);
            }
            0
        }),
        Settings::Deploy { opts, json } => deploy(&opts, &ui).map(|r| {
            if json {
                print_json(&r);
            } else {
                for (stack, s) in &r.stacks {
                    for (key, value) in &s.outputs {
                        println!("{stack}.{key} = {value}");
                    }
                }
            }
            0
        }),
        Settings::Destroy { opts, json } => destroy(&opts, &ui).map(|r| {
            if json {
                print_json(&r);
            }
            0
        }),
        Settings::Diff {
            opts,
            json,
            exit_zero,
        } => diff(&opts, &ui).map(|r| {
            if json {
                print_json(&r);
            } else {
                print!("{}", r.render());
            }
            i32::from(r.has_differences() && !exit_zero)
        }),
        Settings::Dev(opts) => dev::dev(&opts, &ui).map(|()| 0),
        Settings::New(opts) => new::new(&opts, &ui).map(|r| {
            let cd = r.dir.display();
            ui.info(&format!(
                "next: cd {cd} && wsgen dev     (cargo test runs its tests)"
            ));
            0
        }),
        Settings::ListBlueprints => new::blueprints().map(|list| {
            let width = list.iter().map(|b| b.name.len()).max().unwrap_or(0);
            for b in list {
                println!("{:<width$}  {}", b.name, b.description);
            }
            0
        }),
    };
    outcome.unwrap_or_else(|e| ui.fail(&e, json))
}

fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("json"));
}
