//! Running cargo: a build whose JSON messages report each artifact it compiled, while
//! cargo's own messages and compiler errors go to stderr as cargo renders them; and
//! the errors of building and packaging the user's crates.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A `compiler-artifact` message.
pub struct Artifact {
    pub package: String,
    /// The package's `Cargo.toml`.
    pub manifest_path: PathBuf,
    /// The target's name (a binary's name).
    pub target: String,
    /// The executable, for a binary.
    pub executable: Option<PathBuf>,
}

/// What can go wrong building the infra crate or the handlers, or packaging them.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot run cargo: {0}")]
    CargoMissing(std::io::Error),
    #[error("the infra crate {0} did not build (cargo's messages are above)")]
    InfraBuild(PathBuf),
    #[error("the infra crate {0} has no binary target")]
    InfraNoBinary(PathBuf),
    #[error("the infra program {program} failed ({status})")]
    InfraFailed { program: PathBuf, status: String },
    /// A handler crate did not build or package.
    #[error("{0}")]
    Bundle(String),
    /// The toolchain lacks what a build needs (a target, a cross linker).
    #[error("{0}")]
    Toolchain(String),
}

impl BuildError {
    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            BuildError::CargoMissing(_) => "install Rust (cargo) and make sure `cargo` is on PATH".into(),
            BuildError::InfraBuild(_) => "fix the errors cargo reported, then run `wsgen synth` again".into(),
            BuildError::InfraNoBinary(_) => "the infra crate must be a binary: put `fn main()` calling `app.synth()` in src/main.rs".into(),
            BuildError::InfraFailed { .. } => "the infra program's own output is above; a panic there is a bug in the infra code".into(),
            BuildError::Bundle(_) | BuildError::Toolchain(_) => return None,
        })
    }
}

/// `cargo` (the one that runs wsgen's build when there is one, as `$CARGO`), run in
/// `dir` (the project's): cargo reads `.cargo/config.toml` from the directory it runs
/// in, not from the manifest's, and a project's (the one `wsgen new` writes points cargo
/// at wsgen's library sources) must apply however wsgen was started (`--project`). A
/// relative `CARGO_TARGET_DIR` keeps meaning what it meant where wsgen was started.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        if target.is_relative() {
            if let Ok(target) = std::path::absolute(&target) {
                cmd.env("CARGO_TARGET_DIR", target);
            }
        }
    }
    cmd.current_dir(dir);
    cmd
}

/// `cargo metadata --no-deps` of the workspace in `dir`: its members (with their
/// `[package.metadata]`) and its target directory as cargo resolves it
/// (`CARGO_TARGET_DIR`, `build.target-dir` in a config file, or the workspace's
/// `target/`).
pub fn metadata(dir: &Path) -> Result<serde_json::Value, BuildError> {
    let mut cmd = command(dir);
    cmd.args(["metadata", "--no-deps", "--format-version", "1"])
        .arg("--manifest-path")
        .arg(std::path::absolute(dir.join("Cargo.toml")).unwrap_or(dir.join("Cargo.toml")))
        .stderr(Stdio::inherit());
    let output = cmd.output().map_err(BuildError::CargoMissing)?;
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .ok()
        .filter(|_| output.status.success())
        .ok_or_else(|| {
            BuildError::Bundle(format!(
                "cargo could not read the workspace in {} (its messages are above)",
                dir.display()
            ))
        })
}

/// Completes the lockfile of the workspace in `dir` for its own crates from the cargo
/// cache (`cargo update --workspace --offline`): the versions it locks stay, the
/// workspace's packages are added, and its first build needs no network. When it cannot
/// (the cache lacks a crate, cargo is missing), the lockfile is left as it was: the
/// first build completes it, online, as for any project.
pub fn complete_lockfile(dir: &Path) {
    let mut cmd = command(dir);
    cmd.args(["update", "--workspace", "--offline", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _ = cmd.status();
}

/// The target directory of the workspace in `dir` (see [`metadata`]).
pub fn target_directory(dir: &Path) -> Result<PathBuf, BuildError> {
    metadata(dir)?["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| BuildError::Bundle("cargo metadata named no target directory".into()))
}

/// Runs `cmd`'s process, and the compilers it starts, at the lowest CPU priority
/// (nice 19): a build started beside another one only takes the cores it leaves idle.
pub fn lowest_priority(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: nice(2) is async-signal-safe and changes only the child's priority;
        // the closure allocates nothing.
        unsafe {
            cmd.pre_exec(|| {
                libc::nice(19);
                Ok(())
            });
        }
    }
    #[cfg(not(unix))]
    let _ = cmd;
}

/// Runs `cmd` (a cargo build command), calling `on_artifact` for each artifact it
/// reports; returns whether the build succeeded.
pub fn build(mut cmd: Command, mut on_artifact: impl FnMut(Artifact)) -> Result<bool, BuildError> {
    cmd.arg("--message-format=json-render-diagnostics");
    tracing::debug!(command = ?cmd, "running cargo");
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(BuildError::CargoMissing)?;
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        on_artifact(Artifact {
            package: package_name(msg["package_id"].as_str().unwrap_or_default()),
            manifest_path: PathBuf::from(msg["manifest_path"].as_str().unwrap_or_default()),
            target: msg["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            executable: msg["executable"].as_str().map(PathBuf::from),
        });
    }
    let status = child.wait().map_err(BuildError::CargoMissing)?;
    Ok(status.success())
}

/// The package name in a cargo package ID: `path+file:///x/onconnect#0.1.0` or
/// `registry+https://...#serde@1.0.0` or the older `onconnect 0.1.0 (path+...)`.
fn package_name(id: &str) -> String {
    if let Some((_, frag)) = id.rsplit_once('#') {
        let name = frag.split('@').next().unwrap_or(frag);
        // `#0.1.0` alone: the name is the last path segment.
        if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            let base = id.split('#').next().unwrap_or(id);
            return base.rsplit('/').next().unwrap_or(base).to_string();
        }
        return name.to_string();
    }
    id.split_whitespace().next().unwrap_or(id).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_from_ids() {
        assert_eq!(
            package_name("path+file:///w/lambdas/onconnect#0.1.0"),
            "onconnect"
        );
        assert_eq!(
            package_name("path+file:///w/lambdas/multi#handlers@0.1.0"),
            "handlers"
        );
        assert_eq!(
            package_name("registry+https://github.com/rust-lang/crates.io-index#serde@1.0.228"),
            "serde"
        );
        assert_eq!(
            package_name("onconnect 0.1.0 (path+file:///w/onconnect)"),
            "onconnect"
        );
    }
}
