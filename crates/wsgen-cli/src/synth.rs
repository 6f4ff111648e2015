//! `wsgen synth`: build and run the project's infra crate, install its cloud assembly
//! in `wsgen.out/` and print the template.
//!
//! The infra program writes into a staging directory; only a complete, valid assembly
//! replaces the previous one, so a validation error or a crash leaves `wsgen.out/` as
//! it was. The infra binary is rebuilt only when its sources (or local dependencies,
//! or lockfile) change: an unchanged project does not start cargo at all.

use super::{asyncapi, cargo, CliError, Project, Ui};
use crate::cargo::BuildError;
use crate::project::ProjectError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use wsgen::assembly::{CloudAssembly, Manifest, ReadError, MANIFEST_FILE, PROBLEMS_FILE};
use wsgen::{ValidationErrors, OUTDIR_ENV, PROJECT_DIR_ENV};

/// What `wsgen synth` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct SynthOptions {
    pub project: Option<PathBuf>,
    pub out: Option<PathBuf>,
    /// Print JSON instead of YAML.
    pub json: bool,
    /// Stacks to print; empty prints the only stack.
    pub stacks: Vec<String>,
    /// Build the infra crate at the lowest CPU priority: `wsgen bundle` builds the
    /// handlers beside it (see bundle.rs's `Prebuild`).
    pub low_priority: bool,
    /// `cargo build --quiet` for the infra crate (the user's `--quiet`, which the
    /// commands that synthesize first pass on): cargo's own lines go, compiler errors
    /// and warnings still print.
    pub quiet: bool,
}

/// A successful synthesis.
#[derive(Debug)]
pub struct SynthResult {
    pub project: Project,
    /// The assembly directory.
    pub out: PathBuf,
    pub assembly: CloudAssembly,
    /// What the command prints on stdout.
    pub stdout: String,
}

/// Synthesizes `project` into its default assembly directory without printing (with
/// `quiet`, nor cargo's lines): the first step of the commands that build on synth.
pub fn synth_project(project: Option<&Path>, quiet: bool) -> Result<SynthResult, CliError> {
    synth(
        &SynthOptions {
            project: project.map(Path::to_path_buf),
            quiet,
            ..SynthOptions::default()
        },
        &Ui::new(true),
    )
}

/// Where the infra build is remembered, inside the assembly directory.
const CACHE_FILE: &str = ".cache/infra.json";

#[derive(Serialize, Deserialize)]
struct InfraCache {
    key: String,
    executable: PathBuf,
    /// Every file the compiler read for the binary (cargo's dep-info), `#[path]` modules
    /// and `include_str!` files outside the crate among them: part of the key.
    #[serde(default)]
    sources: Vec<PathBuf>,
}

/// Removes the staging directory however synthesis ends.
struct Staging(PathBuf);
impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn synth(opts: &SynthOptions, ui: &Ui) -> Result<SynthResult, CliError> {
    let project = Project::discover(opts.project.as_deref())?;
    crate::sources::check_project(&project.dir)?;
    let cwd =
        std::env::current_dir().map_err(CliError::io("cannot read the current directory", "."))?;
    let out = opts
        .out
        .as_ref()
        .map(|o| cwd.join(o))
        .unwrap_or_else(|| project.out.clone());
    std::fs::create_dir_all(&out).map_err(CliError::io("cannot create", &out))?;

    let exe = infra_executable(&project, &out, opts.low_priority, opts.quiet || ui.quiet())?;
    let staging = Staging(out.join(format!(".staging-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&staging.0);
    std::fs::create_dir_all(&staging.0).map_err(CliError::io("cannot create", &staging.0))?;
    let status = Command::new(&exe)
        .current_dir(&project.dir)
        .env(OUTDIR_ENV, &staging.0)
        .env(PROJECT_DIR_ENV, &project.dir)
        // The infra program's own prints must not mix with the template on stdout.
        .stdout(std::io::stderr())
        .status()
        .map_err(CliError::io("cannot run", &exe))?;
    let problems = staging.0.join(PROBLEMS_FILE);
    match status.code() {
        Some(0) => {}
        Some(2) if problems.is_file() => {
            let text = std::fs::read_to_string(&problems)
                .map_err(CliError::io("cannot read", &problems))?;
            let v: ValidationErrors =
                serde_json::from_str(&text).map_err(|e| ProjectError::Assembly {
                    path: problems.clone(),
                    message: e.to_string(),
                })?;
            return Err(CliError::Validation(v));
        }
        _ => {
            return Err(BuildError::InfraFailed {
                program: exe,
                status: status.to_string(),
            }
            .into())
        }
    }
    let mut assembly = CloudAssembly::read_from(&staging.0).map_err(|e| match e {
        ReadError::Version { found, .. } => ProjectError::AssemblyFormat { found },
        e => ProjectError::Assembly {
            path: staging.0.clone(),
            message: e.to_string(),
        },
    })?;
    if keep_bundles(&mut assembly, &out) {
        assembly
            .write_manifest(&staging.0)
            .map_err(CliError::io("cannot write the manifest in", &staging.0))?;
    }

    let names: Vec<String> = assembly.templates.keys().cloned().collect();
    for s in &opts.stacks {
        if !assembly.templates.contains_key(s) {
            return Err(ProjectError::UnknownStack {
                name: s.clone(),
                known: names.join(", "),
            }
            .into());
        }
    }
    let documents = write_documents(&assembly, &staging.0)?;
    install(&staging.0, &out, &assembly.manifest, &documents)?;

    for (name, entry) in &assembly.manifest.stacks {
        let t = &assembly.templates[name];
        let n = |count: usize, what: &str| {
            format!("{count} {what}{}", if count == 1 { "" } else { "s" })
        };
        let document = asyncapi::file_name(name);
        ui.done(&format!(
            "{name}: {}, {}, {} -> {}{}",
            n(t.resources.len(), "resource"),
            n(t.outputs.len(), "output"),
            n(entry.assets.len(), "asset"),
            display(&cwd, &out.join(&entry.template_file)),
            if documents.contains(&document) {
                format!(" and {document}")
            } else {
                String::new()
            },
        ));
    }
    let selected: Vec<&String> = if opts.stacks.is_empty() {
        if names.len() == 1 {
            names.iter().collect()
        } else {
            ui.note(&format!(
                "{} stacks synthesized ({}); name one to print its template, e.g. `wsgen synth {}`",
                names.len(),
                names.join(", "),
                names[0]
            ));
            Vec::new()
        }
    } else {
        opts.stacks.iter().collect()
    };
    let stdout = render(&assembly, &selected, opts.json);
    Ok(SynthResult {
        project,
        out,
        assembly,
        stdout,
    })
}

/// The selected templates as YAML documents, or JSON (one template, or an object of
/// them by stack name).
fn render(assembly: &CloudAssembly, selected: &[&String], json: bool) -> String {
    if json {
        return match selected {
            [] => String::new(),
            // The same bytes as the template file.
            [one] => assembly.templates[*one].to_json_string(),
            many => {
                let by_name: std::collections::BTreeMap<&str, _> = many
                    .iter()
                    .map(|s| (s.as_str(), &assembly.templates[*s]))
                    .collect();
                let mut s = serde_json::to_string_pretty(&by_name).expect("templates serialize");
                s.push('\n');
                s
            }
        };
    }
    let docs: Vec<String> = selected
        .iter()
        .map(|s| {
            serde_saphyr::to_string(&assembly.templates[*s]).expect("templates serialize to YAML")
        })
        .collect();
    docs.join("---\n")
}

/// Carries over what `wsgen bundle` recorded for assets that are unchanged and whose
/// zip is still there; returns whether anything was carried over.
fn keep_bundles(assembly: &mut CloudAssembly, out: &Path) -> bool {
    let Some(old) = std::fs::read_to_string(out.join(MANIFEST_FILE))
        .ok()
        .and_then(|t| serde_json::from_str::<Manifest>(&t).ok())
    else {
        return false;
    };
    let mut kept = false;
    for (fp, asset) in assembly.manifest.assets.iter_mut() {
        if let Some(bundle) = old.assets.get(fp).and_then(|a| a.bundle.clone()) {
            if out.join(&bundle.file).is_file() {
                asset.bundle = Some(bundle);
                kept = true;
            }
        }
    }
    kept
}

/// Writes the AsyncAPI document of each stack with a WebSocket API into `staging`;
/// returns their file names.
fn write_documents(assembly: &CloudAssembly, staging: &Path) -> Result<Vec<String>, CliError> {
    let mut written = Vec::new();
    for (stack, template) in &assembly.templates {
        let Some(doc) = asyncapi::document(stack, template) else {
            continue;
        };
        let name = asyncapi::file_name(stack);
        let path = staging.join(&name);
        let yaml = serde_saphyr::to_string(&doc).expect("JSON values serialize to YAML");
        std::fs::write(&path, yaml).map_err(CliError::io("cannot write", &path))?;
        written.push(name);
    }
    Ok(written)
}

/// Moves a complete assembly from `staging` into `out`: templates and AsyncAPI
/// `documents` first, the manifest last, and the files of stacks that are gone removed.
fn install(
    staging: &Path,
    out: &Path,
    manifest: &Manifest,
    documents: &[String],
) -> Result<(), CliError> {
    let old: Option<Manifest> = std::fs::read_to_string(out.join(MANIFEST_FILE))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    for entry in manifest.stacks.values() {
        let (from, to) = (
            staging.join(&entry.template_file),
            out.join(&entry.template_file),
        );
        std::fs::rename(&from, &to).map_err(CliError::io("cannot write", &to))?;
    }
    for name in documents {
        let to = out.join(name);
        std::fs::rename(staging.join(name), &to).map_err(CliError::io("cannot write", &to))?;
    }
    let to = out.join(MANIFEST_FILE);
    std::fs::rename(staging.join(MANIFEST_FILE), &to).map_err(CliError::io("cannot write", &to))?;
    if let Some(old) = old {
        for (stack, entry) in &old.stacks {
            if !manifest
                .stacks
                .values()
                .any(|e| e.template_file == entry.template_file)
            {
                let _ = std::fs::remove_file(out.join(&entry.template_file));
            }
            let document = asyncapi::file_name(stack);
            if !documents.contains(&document) {
                let _ = std::fs::remove_file(out.join(document));
            }
        }
    }
    Ok(())
}

/// The infra program, built by cargo unless its sources are unchanged since the last
/// build.
fn infra_executable(
    project: &Project,
    out: &Path,
    low_priority: bool,
    quiet: bool,
) -> Result<PathBuf, CliError> {
    let cache_path = out.join(CACHE_FILE);
    if let Some(key) = infra_key(project) {
        let cached: Option<InfraCache> = std::fs::read_to_string(&cache_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if let Some(c) = cached.filter(|c| {
            c.executable.is_file() && with_sources(&key, &c.sources).as_ref() == Some(&c.key)
        }) {
            tracing::debug!(executable = %c.executable.display(), "infra unchanged: running the cached build");
            return Ok(c.executable);
        }
    }
    let built = cargo_build(&project.infra, low_priority, quiet)?;
    // Keep the project's own link to the binary: cargo's output path is shared by every
    // project with the same package name and target directory.
    let dir = cache_path.parent().expect("has parent");
    let exe = dir.join(format!("infra{}", std::env::consts::EXE_SUFFIX));
    let tmp = dir.join(format!(".infra-{}", std::process::id()));
    let linked = std::fs::create_dir_all(dir)
        .and_then(|_| {
            let _ = std::fs::remove_file(&tmp);
            std::fs::hard_link(&built, &tmp).or_else(|_| std::fs::copy(&built, &tmp).map(|_| ()))
        })
        .and_then(|_| std::fs::rename(&tmp, &exe));
    if linked.is_err() {
        return Ok(built);
    }
    // Keyed after the build, which may have written the lockfile.
    let sources = compiled_sources(&built);
    if let Some(key) = infra_key(project).and_then(|k| with_sources(&k, &sources)) {
        let cache = serde_json::to_string(&InfraCache {
            key,
            executable: exe.clone(),
            sources,
        })
        .expect("json");
        let _ = std::fs::write(&cache_path, cache);
    }
    Ok(exe)
}

/// The files the compiler read for `executable`, from the dep-info file cargo writes
/// beside it (`target: file file...`, spaces in names escaped as `\ `); none when
/// there is no such file.
fn compiled_sources(executable: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(executable.with_extension("d")) else {
        return Vec::new();
    };
    let Some(line) = text
        .lines()
        .find(|l| l.starts_with(&*executable.to_string_lossy()))
    else {
        return Vec::new();
    };
    let Some((_, files)) = line.split_once(": ") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = files.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => out
                .extend((!current.is_empty()).then(|| PathBuf::from(std::mem::take(&mut current)))),
            c => current.push(c),
        }
    }
    out.extend((!current.is_empty()).then(|| PathBuf::from(current)));
    out.sort();
    out.dedup();
    out
}

/// `key` with the digest of `sources`' contents; none when one cannot be read (the
/// binary is then rebuilt).
fn with_sources(key: &str, sources: &[PathBuf]) -> Option<String> {
    let mut all = Vec::new();
    for source in sources {
        all.extend_from_slice(source.to_string_lossy().as_bytes());
        all.push(0);
        all.extend(std::fs::read(source).ok()?);
        all.push(0);
    }
    Some(format!("{key} {}", wsgen::digest::sha256_hex(&all)))
}

/// What decides the infra binary: its sources and local dependencies (the wsgen library
/// among them when it is a path dependency), the lockfile, and the build environment.
fn infra_key(project: &Project) -> Option<String> {
    let infra = project.infra.to_str()?;
    let fp = wsgen::fingerprint::fingerprint(&project.dir, infra, "infra", "host").ok()?;
    let env: Vec<String> = [
        "CARGO_TARGET_DIR",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_DEV_OPT_LEVEL",
    ]
    .iter()
    .map(|k| format!("{k}={}", std::env::var(k).unwrap_or_default()))
    .collect();
    Some(format!(
        "{fp} {} {}",
        env!("CARGO_PKG_VERSION"),
        env.join(" ")
    ))
}

/// `cargo build` of the infra crate; cargo's own messages (none with `quiet`) and
/// compiler errors go to stderr as cargo renders them.
fn cargo_build(infra: &Path, low_priority: bool, quiet: bool) -> Result<PathBuf, CliError> {
    let manifest = infra.join("Cargo.toml");
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let mut cmd = cargo::command(infra);
    if low_priority {
        cargo::lowest_priority(&mut cmd);
    }
    cmd.arg("build").arg("--manifest-path").arg(&manifest);
    if quiet {
        cmd.arg("--quiet");
    }
    let mut executables = Vec::new();
    let succeeded = cargo::build(cmd, |artifact| {
        if artifact.manifest_path == manifest {
            executables.extend(artifact.executable);
        }
    })?;
    if !succeeded {
        return Err(BuildError::InfraBuild(infra.to_path_buf()).into());
    }
    executables
        .pop()
        .ok_or_else(|| BuildError::InfraNoBinary(infra.to_path_buf()).into())
}

fn display(cwd: &Path, p: &Path) -> String {
    p.strip_prefix(cwd).unwrap_or(p).display().to_string()
}
