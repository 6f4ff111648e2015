//! Human output on stderr: quiet with `--quiet`, coloured only on a terminal.

use super::CliError;
use std::io::IsTerminal;

/// Where progress and messages go.
pub struct Ui {
    quiet: bool,
    color: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Ui {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Ui { quiet, color }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// A line of progress or a result summary.
    pub fn info(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    /// A success line.
    pub fn done(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{} {msg}", self.paint("32", "✓"));
        }
    }

    /// A note the user should read even when all went well.
    pub fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{} {msg}", self.paint("33", "note:"));
        }
    }

    /// Renders an error (on stdout as JSON too, with `--json`) and returns its exit code.
    pub fn fail(&self, e: &CliError, json: bool) -> i32 {
        if json {
            let value = match e {
                CliError::Validation(v) => {
                    serde_json::json!({"error": "validation", "problems": v.problems})
                }
                other => serde_json::json!({"error": other.to_string(), "help": other.help()}),
            };
            println!("{}", serde_json::to_string_pretty(&value).expect("json"));
        }
        match e {
            CliError::Validation(v) => {
                let n = v.problems.len();
                eprintln!(
                    "{} {n} problem{} in the app:",
                    self.paint("1;31", "error:"),
                    if n == 1 { "" } else { "s" }
                );
                for p in &v.problems {
                    eprintln!(
                        "  {} {}: {} [{}]",
                        self.paint("31", "×"),
                        self.paint("1", &p.path),
                        p.message,
                        p.rule
                    );
                    eprintln!("    {} {}", self.paint("36", "fix:"), p.fix);
                }
            }
            other => {
                eprintln!("{} {other}", self.paint("1;31", "error:"));
                let mut source = std::error::Error::source(other);
                while let Some(s) = source {
                    eprintln!("  caused by: {s}");
                    source = s.source();
                }
                if let Some(help) = other.help() {
                    eprintln!("  {} {help}", self.paint("36", "help:"));
                }
            }
        }
        e.exit_code()
    }
}
