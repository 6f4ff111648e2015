//! Human output on stderr: quiet with `--quiet`, coloured only on a terminal.

use super::CliError;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

/// Whether to colour stderr: never with `NO_COLOR` set (no-color.org; it wins), always
/// with `CLICOLOR_FORCE` set and not `0`, otherwise on a terminal unless `CLICOLOR=0`
/// (bixense.com/clicolors). Empty values count as unset.
fn colored(
    tty: bool,
    no_color: Option<String>,
    clicolor: Option<String>,
    force: Option<String>,
) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    if set(&no_color) {
        false
    } else if set(&force) && force.as_deref() != Some("0") {
        true
    } else {
        tty && clicolor.as_deref() != Some("0")
    }
}

/// Where progress and messages go.
pub struct Ui {
    quiet: bool,
    color: bool,
    tty: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Ui {
        let tty = std::io::stderr().is_terminal();
        let var = |name: &str| std::env::var(name).ok();
        let color = colored(tty, var("NO_COLOR"), var("CLICOLOR"), var("CLICOLOR_FORCE"));
        Ui { quiet, color, tty }
    }

    /// Whether `--quiet` was given: then cargo's own lines go too (`cargo --quiet`),
    /// compiler errors and warnings still print.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Whether stderr is coloured (the log lines of `-v` follow it too).
    pub fn color(&self) -> bool {
        self.color
    }

    /// Writes a result to stdout. A closed pipe (`wsgen synth | head`) is the reader's
    /// choice, not a failure: the rest is dropped quietly.
    pub fn stdout(&self, text: &str) -> Result<(), CliError> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(crate::files::io("cannot write", "standard output")(e).into())
            }
            _ => Ok(()),
        }
    }

    /// Progress of a cargo build of `packages`: on a terminal, a line for the build and
    /// one per package; otherwise nothing (the results are reported as lines).
    pub fn progress(&self, packages: &[&str]) -> Progress {
        if self.quiet || !self.tty {
            return Progress { bars: None };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let spinner =
            ProgressStyle::with_template("{spinner} {prefix:>12} {msg}").expect("template");
        let top = multi.add(
            ProgressBar::new_spinner()
                .with_style(spinner.clone())
                .with_prefix("cargo"),
        );
        top.enable_steady_tick(Duration::from_millis(120));
        let per_package = packages
            .iter()
            .map(|p| {
                let bar = multi.add(
                    ProgressBar::new_spinner()
                        .with_style(spinner.clone())
                        .with_prefix(p.to_string()),
                );
                bar.set_message("waiting for dependencies");
                (p.to_string(), bar)
            })
            .collect();
        Progress {
            bars: Some((top, per_package, std::cell::Cell::new(0))),
        }
    }

    /// A bar counting `total` steps of `what` (uploads, resources), on a terminal only.
    pub fn bar(&self, total: u64, what: &str) -> Bar {
        if self.quiet || !self.tty {
            return Bar {
                bar: None,
                quiet: self.quiet,
            };
        }
        let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
            .expect("template")
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar {
            bar: Some(bar),
            quiet: false,
        }
    }

    /// Asks a yes/no question on the terminal; `None` when stdin or stderr is not a
    /// terminal (then the caller needs a flag instead).
    pub fn confirm(&self, question: &str) -> Option<bool> {
        if !self.tty || !std::io::stdin().is_terminal() {
            return None;
        }
        eprint!("{} {question} [y/N] ", self.paint("1;33", "?"));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        Some(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
    }

    /// A warning (always shown, even with `--quiet`).
    pub fn warn(&self, msg: &str) {
        eprintln!("{} {msg}", self.paint("1;33", "warning:"));
    }

    /// Bold, on a terminal.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
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
            let text = serde_json::to_string_pretty(&value).expect("json") + "\n";
            let _ = self.stdout(&text);
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

/// A cargo build's progress display (see [`Ui::progress`]).
pub struct Progress {
    bars: Option<(
        ProgressBar,
        BTreeMap<String, ProgressBar>,
        std::cell::Cell<usize>,
    )>,
}

impl Progress {
    /// Whether the display is on (then cargo's own status lines are redundant).
    pub fn visible(&self) -> bool {
        self.bars.is_some()
    }

    /// Cargo finished compiling `target` of `package`.
    pub fn compiled(&self, package: &str, target: &str) {
        let Some((top, per_package, units)) = &self.bars else {
            return;
        };
        units.set(units.get() + 1);
        top.set_message(format!("{} units compiled, last {package}", units.get()));
        if let Some(bar) = per_package.get(package) {
            bar.finish_with_message(format!("built {target}"));
        }
    }

    /// The build is over.
    pub fn finish(&self) {
        if let Some((top, per_package, _)) = &self.bars {
            top.finish_and_clear();
            per_package.values().for_each(ProgressBar::finish_and_clear);
        }
    }
}

/// A step counter (see [`Ui::bar`]); without a terminal its lines go straight to stderr.
pub struct Bar {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Bar {
    /// One more step done.
    pub fn inc(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Sets the count of steps done.
    pub fn set(&self, done: u64) {
        if let Some(b) = &self.bar {
            b.set_position(done);
        }
    }

    /// A line printed above the bar.
    pub fn line(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None if !self.quiet => eprintln!("{msg}"),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl crate::cloud::Console for Ui {
    fn info(&self, msg: &str) {
        Ui::info(self, msg)
    }

    fn warn(&self, msg: &str) {
        Ui::warn(self, msg)
    }

    fn bold(&self, s: &str) -> String {
        Ui::bold(self, s)
    }

    fn confirm(&self, question: &str) -> Option<bool> {
        Ui::confirm(self, question)
    }

    fn progress(&self, total: u64, what: &str) -> Box<dyn crate::cloud::Steps> {
        Box::new(self.bar(total, what))
    }
}

impl crate::cloud::Steps for Bar {
    fn set(&self, done: u64) {
        Bar::set(self, done)
    }

    fn line(&self, msg: &str) {
        Bar::line(self, msg)
    }

    fn finish(&self) {
        Bar::finish(self)
    }
}

#[cfg(test)]
mod tests {
    use super::colored;

    #[test]
    fn colour_follows_no_color_and_clicolor() {
        let v = |s: &str| Some(s.to_string());
        assert!(colored(true, None, None, None));
        assert!(!colored(false, None, None, None));
        assert!(!colored(true, v("1"), None, None));
        assert!(
            colored(true, v(""), None, None),
            "an empty NO_COLOR is unset"
        );
        assert!(!colored(true, None, v("0"), None));
        assert!(colored(false, None, None, v("1")));
        assert!(!colored(false, None, None, v("0")));
        assert!(!colored(false, v("1"), None, v("1")), "NO_COLOR wins");
    }
}
