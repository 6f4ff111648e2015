//! `wsgen bundle`: build every handler crate of the app in one cargo invocation and
//! package each binary as `bootstrap` in a reproducible zip.
//!
//! - Zips are keyed by the asset's content fingerprint (sources, path dependencies,
//!   lockfile, architecture, binary): a zip that exists is up to date, so a bundle with
//!   nothing changed starts no cargo at all.
//! - The deployable zips (release profile, the architecture the function declares) are
//!   `wsgen.out/assets/<fingerprint>.zip` and are recorded in the manifest with their
//!   size and SHA-256; other builds go to `wsgen.out/assets/<profile>-<arch>/`.
//! - A zip holds one entry, `bootstrap`, mode 0755, dated 1980-01-01, deflated at level
//!   9 by the locked `zip` crate: the same binary always gives the same bytes. The other
//!   builds (which only `wsgen dev` runs) are stored uncompressed: deflating a 190 MB
//!   debug binary at level 9 takes seconds, on every rebuild of the local loop.
//! - Every binary is checked: an ELF for the function's architecture, needing at most
//!   glibc 2.34 (what `provided.al2023` has).

mod link;

use super::cargo;
use super::synth::{synth, SynthOptions, SynthResult};
use super::{CliError, Ui};
use crate::cargo::BuildError;
use crate::project::{Project, ProjectError};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use wsgen::assembly::{BundleInfo, CloudAssembly, LinkedHandler};
use wsgen::Architecture;

/// The newest glibc `provided.al2023` offers.
pub const MAX_GLIBC: (u32, u32) = (2, 34);

/// The cargo profile of deployable builds, defined on the command line (it inherits
/// `release`; a `[profile.wsgen-lambda]` of the project's own, which cargo requires to
/// say `inherits = "release"`, takes precedence for the keys it sets). Measured
/// (BENCHMARKS.md): fat LTO with one codegen unit and `strip` give binaries about a
/// third of cargo's plain `release` (4.9 to 5.4 MiB against 15.3 to 17.9 MiB for the
/// stock handlers) for 6% more cold build time; smaller zips upload faster and load
/// faster on a cold start. `opt-level = "s"`, the middle of the trade
/// (bench/opt-level.sh on the chat blueprint): zips 5% larger than `"z"`'s and a
/// `@connections` post, the work a broadcast repeats per delivery and users pay per
/// millisecond, 20% cheaper (41.2 against 51.4 µs of CPU); `3` saves another 14% (35.5
/// µs) for zips 43% larger; cold starts within 0.5 ms of each other (6.8 to 7.3 ms).
/// `panic` stays `unwind` so that lambda_runtime reports a panicking handler as an
/// invocation error instead of the process dying.
pub const LAMBDA_PROFILE: &str = "wsgen-lambda";
const LAMBDA_PROFILE_SETTINGS: &[&str] = &[
    "inherits=\"release\"",
    "lto=true",
    "codegen-units=1",
    "opt-level=\"s\"",
    "strip=true",
    "panic=\"unwind\"",
];

/// The keys of the project's own `[profile.wsgen-lambda]` in its workspace manifest
/// (none when it has none, or the manifest does not parse: cargo reports that itself).
fn own_profile_keys(manifest: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(manifest)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|table| {
            let own = table.get("profile")?.get(LAMBDA_PROFILE)?.as_table()?;
            Some(own.keys().cloned().collect())
        })
        .unwrap_or_default()
}

/// wsgen's settings of the deployable profile, less the keys the project sets itself:
/// cargo ranks `--config` above Cargo.toml, so passing them would override the project.
fn profile_settings(own: &std::collections::BTreeSet<String>) -> Vec<&'static str> {
    LAMBDA_PROFILE_SETTINGS
        .iter()
        .copied()
        .filter(|setting| !own.contains(setting.split('=').next().unwrap_or_default()))
        .collect()
}

/// Which cargo profile to build with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuildProfile {
    /// [`LAMBDA_PROFILE`]: small, optimized, deployable.
    #[default]
    Release,
    /// cargo's `dev` profile: fast to rebuild, for local runs.
    Dev,
}

impl BuildProfile {
    fn name(self) -> &'static str {
        match self {
            BuildProfile::Release => "release",
            BuildProfile::Dev => "dev",
        }
    }
}

/// What `wsgen bundle` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct BundleOptions {
    pub project: Option<PathBuf>,
    pub profile: BuildProfile,
    /// Build every asset for this architecture (`x86_64` or `arm64`) instead of the one
    /// its function declares; such zips are not deployable.
    pub arch: Option<Architecture>,
}

/// One packaged asset.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Bundled {
    pub fingerprint: String,
    #[serde(rename = "crate")]
    pub crate_path: String,
    pub bin: String,
    pub architecture: String,
    /// The zip (absolute).
    pub file: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Whether the zip was already there.
    pub cached: bool,
    /// Whether this is the deployable zip recorded in the manifest.
    pub deployable: bool,
}

/// The result of a bundle.
#[derive(Debug)]
pub struct BundleResult {
    pub out: PathBuf,
    pub assets: Vec<Bundled>,
    /// Whether cargo ran.
    pub built: bool,
    /// The assembly, its manifest recording the deployable zips.
    pub assembly: CloudAssembly,
}

struct Planned {
    fingerprint: String,
    crate_path: String,
    package: String,
    bin: String,
    /// The crates linked into one binary (empty: the crate's own binary).
    linked: Vec<LinkedHandler>,
    arch: Architecture,
    file: PathBuf,
    deployable: bool,
}

/// Synthesizes the project and bundles its handlers. On a project's first bundle (no
/// manifest yet), the handler crates that will likely link into one binary start
/// building while synth builds the infra crate at the lowest priority (see
/// [`Prebuild`]).
pub fn bundle(opts: &BundleOptions, ui: &Ui) -> Result<BundleResult, CliError> {
    let project = Project::discover(opts.project.as_deref())?;
    let prebuild = Prebuild::start(&project, opts);
    let synthesized = synth(
        &SynthOptions {
            project: opts.project.clone(),
            low_priority: prebuild.is_some(),
            quiet: ui.quiet(),
            ..SynthOptions::default()
        },
        &Ui::new(true),
    )?;
    bundle_with(synthesized, opts, ui, prebuild)
}

/// A build of the handler crates started before synth could say which to build: on a
/// project's first bundle, the workspace's members that name a library entry point
/// (`[package.metadata.wsgen] entry`), linked into one binary for the default (or
/// `--arch`) architecture, as synth most often plans it. It is the very cargo command
/// the bundle runs afterwards; synth builds the infra crate beside it at the lowest
/// priority, in the cores it leaves idle (its dependencies wait on one crate, then the
/// link runs on one core). When synth's plan is the guess, the bundle's own build waits
/// for this one (cargo's lock on the build directory) and finds it all built; otherwise
/// it is stopped. Its output is discarded: the bundle's build reports any error.
struct Prebuild {
    child: std::process::Child,
    arch: Architecture,
    handlers: Vec<LinkedHandler>,
    /// The project's target directory, from the `cargo metadata` the guess read.
    target_dir: PathBuf,
}

impl Prebuild {
    fn start(project: &Project, opts: &BundleOptions) -> Option<Prebuild> {
        // Only a release build runs beside synth: a debug one would share the infra
        // crate's profile directory, whose lock cargo holds for a whole build, so synth
        // would only wait for it.
        if opts.profile != BuildProfile::Release
            || project.out.join(wsgen::assembly::MANIFEST_FILE).exists()
        {
            return None;
        }
        let metadata = cargo::metadata(&project.dir).ok()?;
        let target_dir = PathBuf::from(metadata["target_directory"].as_str()?);
        let root = project.dir.canonicalize().ok()?;
        let infra = project.infra.canonicalize().ok()?;
        let mut handlers: Vec<LinkedHandler> = Vec::new();
        for package in metadata["packages"].as_array()? {
            let Some(dir) = package["manifest_path"]
                .as_str()
                .and_then(|m| Path::new(m).parent()?.canonicalize().ok())
            else {
                continue;
            };
            let Ok(rel) = dir.strip_prefix(&root) else {
                continue;
            };
            let crate_path = rel.to_string_lossy().replace('\\', "/");
            if dir == infra || crate_path.is_empty() {
                continue;
            }
            let Ok(krate) = wsgen::fingerprint::inspect_crate(&root, &crate_path, None) else {
                continue;
            };
            if let Some(entry) = krate.entry {
                handlers.push(LinkedHandler {
                    package: krate.package,
                    crate_path,
                    entry,
                });
            }
        }
        let mut handlers = wsgen::assembly::linkable(handlers, |h| h.package.as_str());
        if handlers.is_empty() {
            return None;
        }
        handlers.sort();
        let arch = opts.arch.unwrap_or_default();
        let dir = link::dir(&project.dir, &project.out, arch.as_str(), &handlers);
        let manifest = link::write_crate(&project.dir, &dir, &handlers).ok()?;
        let bin = link::bin(&dir);
        let units = [(wsgen::assembly::LINKED_PACKAGE, bin.as_str())];
        let build = Build {
            manifest,
            target_dir: Some(target_dir.clone()),
            units: &units,
            shown: Vec::new(),
        };
        let (mut cmd, _) = build_command(&project.dir, arch, opts.profile, &build).ok()?;
        cmd.arg("--quiet")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        tracing::debug!(command = ?cmd, "building the likely linked handlers beside synth");
        let child = cmd.spawn().ok()?;
        Some(Prebuild {
            child,
            arch,
            handlers,
            target_dir,
        })
    }

    /// Whether the bundle's build of `handlers` for `arch` is this one.
    fn is(&self, project: &Path, arch: Architecture, handlers: &[LinkedHandler]) -> bool {
        self.arch == arch && link::same_crates(project, &self.handlers, handlers)
    }
}

impl Drop for Prebuild {
    /// Stops the build if it still runs (a build the bundle used has finished).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bundles the handlers of an app already synthesized (`opts.project` is not read).
pub fn bundle_synthesized(
    synthesized: SynthResult,
    opts: &BundleOptions,
    ui: &Ui,
) -> Result<BundleResult, CliError> {
    bundle_with(synthesized, opts, ui, None)
}

fn bundle_with(
    synthesized: SynthResult,
    opts: &BundleOptions,
    ui: &Ui,
    prebuild: Option<Prebuild>,
) -> Result<BundleResult, CliError> {
    let project = synthesized.project;
    let out = synthesized.out;
    let mut assembly = synthesized.assembly;
    let plan: Vec<Planned> = assembly
        .manifest
        .assets
        .iter()
        .map(|(fp, a)| {
            let declared =
                Architecture::from_name(&a.architecture).ok_or_else(|| ProjectError::Assembly {
                    path: out.clone(),
                    message: format!(
                        "asset {fp} has the unknown architecture `{}`",
                        a.architecture
                    ),
                })?;
            let arch = opts.arch.unwrap_or(declared);
            let deployable = opts.profile == BuildProfile::Release && arch == declared;
            let dir = if deployable {
                out.join("assets")
            } else {
                out.join("assets")
                    .join(format!("{}-{arch}", opts.profile.name()))
            };
            Ok(Planned {
                fingerprint: fp.clone(),
                crate_path: a.crate_path.clone(),
                package: a.package.clone(),
                bin: a.bin.clone(),
                linked: a.linked.clone(),
                arch,
                file: dir.join(format!("{fp}.zip")),
                deployable,
            })
        })
        .collect::<Result<_, CliError>>()?;

    // Build what is missing: per target architecture, one cargo invocation for the
    // crates' own binaries and one per multi-call binary.
    let mut by_arch: BTreeMap<Architecture, Vec<&Planned>> = BTreeMap::new();
    for p in plan.iter().filter(|p| !p.file.is_file()) {
        by_arch.entry(p.arch).or_default().push(p);
    }
    let built = !by_arch.is_empty();
    // The project's target directory, asked of cargo once (a guess has asked already).
    let known_target_dir = prebuild.as_ref().map(|pre| pre.target_dir.clone());
    // A build started beside synth goes on only when it builds what is wanted.
    let mut prebuild = prebuild.filter(|pre| {
        let wanted = by_arch.get(&pre.arch).is_some_and(|wanted| {
            wanted
                .iter()
                .any(|p| pre.is(&project.dir, p.arch, &p.linked))
        });
        if !wanted {
            tracing::debug!("stopping the build started beside synth: synth planned another");
        }
        wanted
    });
    // The executable of each asset built, by fingerprint.
    let mut binaries: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut target_dir = known_target_dir;
    for (&arch, wanted) in &by_arch {
        let (linked, own): (Vec<&Planned>, Vec<&Planned>) =
            wanted.iter().partition(|p| !p.linked.is_empty());
        if !own.is_empty() {
            let units: Vec<(&str, &str)> = own
                .iter()
                .map(|p| (p.package.as_str(), p.bin.as_str()))
                .collect();
            let build = Build {
                manifest: project.dir.join("Cargo.toml"),
                target_dir: None,
                units: &units,
                shown: units.iter().map(|(package, _)| *package).collect(),
            };
            let found = cargo_build(&project.dir, arch, opts.profile, &build, ui, None)?;
            for p in &own {
                if let Some(exe) = found.get(&(p.package.clone(), p.bin.clone())) {
                    binaries.insert(p.fingerprint.clone(), exe.clone());
                }
            }
        }
        for p in linked {
            let dir = link::dir(&project.dir, &out, arch.as_str(), &p.linked);
            let manifest = link::write_crate(&project.dir, &dir, &p.linked)?;
            if target_dir.is_none() {
                target_dir = Some(cargo::target_directory(&project.dir)?);
            }
            let bin = link::bin(&dir);
            let units = [(wsgen::assembly::LINKED_PACKAGE, bin.as_str())];
            let build = Build {
                manifest,
                target_dir: target_dir.clone(),
                units: &units,
                shown: p.linked.iter().map(|h| h.package.as_str()).collect(),
            };
            let started = prebuild
                .as_mut()
                .filter(|pre| pre.is(&project.dir, arch, &p.linked));
            let found = cargo_build(&project.dir, arch, opts.profile, &build, ui, started)
                .map_err(|e| match e {
                    CliError::Build(BuildError::Bundle(_)) => link::build_failed(&p.linked).into(),
                    e => e,
                })?;
            if let Some(exe) = found.into_values().next() {
                binaries.insert(p.fingerprint.clone(), exe);
            }
        }
    }

    drop(prebuild);

    let mut hashes = HashCache::open(&out);
    let mut assets = Vec::new();
    for p in &plan {
        let cached = p.file.is_file();
        let known = if cached { hashes.get(&p.file) } else { None };
        let (size, sha256) = if let Some(known) = known {
            known
        } else if cached {
            let zip = std::fs::read(&p.file).map_err(CliError::io("cannot read", &p.file))?;
            (zip.len() as u64, wsgen::digest::sha256_hex(&zip))
        } else {
            let exe = binaries.get(&p.fingerprint).ok_or_else(|| {
                BuildError::Bundle(format!(
                    "cargo built no binary `{}` of package `{}` ({})",
                    p.bin, p.package, p.crate_path
                ))
            })?;
            let data = std::fs::read(exe).map_err(CliError::io("cannot read", exe))?;
            check_binary(&data, p.arch).map_err(|problem| {
                BuildError::Bundle(format!("{} ({}): {problem}", p.crate_path, exe.display()))
            })?;
            let compression = if p.deployable {
                Compression::Deploy
            } else {
                Compression::Local
            };
            let zip = write_zip(&p.file, &data, compression)?;
            (zip.len() as u64, wsgen::digest::sha256_hex(&zip))
        };
        hashes.insert(&p.file, size, &sha256);
        let asset = Bundled {
            fingerprint: p.fingerprint.clone(),
            crate_path: p.crate_path.clone(),
            bin: p.bin.clone(),
            architecture: p.arch.to_string(),
            file: p.file.clone(),
            size,
            sha256,
            cached,
            deployable: p.deployable,
        };
        let rel = asset
            .file
            .strip_prefix(&out)
            .unwrap_or(&asset.file)
            .display()
            .to_string();
        let what = if p.linked.is_empty() {
            format!("`{}`", asset.bin)
        } else {
            let names: Vec<String> = p
                .linked
                .iter()
                .map(|h| format!("`{}`", h.package))
                .collect();
            format!("{} (one binary)", names.join(", "))
        };
        ui.done(&format!(
            "{} {what} ({}, {}) {} -> {rel}",
            if cached { "unchanged" } else { "bundled" },
            asset.architecture,
            human_size(asset.size),
            &asset.sha256[..12],
        ));
        assets.push(asset);
    }
    record(&mut assembly, &out, &assets)?;
    hashes.save();
    Ok(BundleResult {
        out,
        assets,
        built,
        assembly,
    })
}

/// The size and SHA-256 of each zip, with the modification time it had then
/// (`wsgen.out/assets/.sha256.json`): a bundle with nothing changed reads and hashes no
/// zip (the stored debug zips of `wsgen dev` are hundreds of megabytes). An entry counts
/// only while the file's size and modification time are the same; the cache is only a
/// shortcut, and a missing or unreadable one is rebuilt.
struct HashCache {
    file: PathBuf,
    /// `wsgen.out`: entries are keyed by the zip's path inside it.
    out: PathBuf,
    entries: BTreeMap<PathBuf, CachedHash>,
    changed: bool,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, PartialEq)]
struct CachedHash {
    size: u64,
    /// Nanoseconds since the Unix epoch.
    modified: u128,
    sha256: String,
}

impl HashCache {
    fn open(out: &Path) -> HashCache {
        let file = out.join("assets").join(".sha256.json");
        let entries = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        HashCache {
            file,
            out: out.to_path_buf(),
            entries,
            changed: false,
        }
    }

    fn stat(file: &Path) -> Option<(u64, u128)> {
        let m = std::fs::metadata(file).ok()?;
        let modified = m
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some((m.len(), modified.as_nanos()))
    }

    /// The zip's size and SHA-256, if the cache has them for the file as it is now.
    fn get(&self, zip: &Path) -> Option<(u64, String)> {
        let (size, modified) = Self::stat(zip)?;
        let e = self.entries.get(zip.strip_prefix(&self.out).ok()?)?;
        (e.size == size && e.modified == modified).then(|| (size, e.sha256.clone()))
    }

    fn insert(&mut self, zip: &Path, size: u64, sha256: &str) {
        let (Some((actual, modified)), Ok(key)) = (Self::stat(zip), zip.strip_prefix(&self.out))
        else {
            return;
        };
        let entry = CachedHash {
            size,
            modified,
            sha256: sha256.to_string(),
        };
        if actual == size && self.entries.get(key) != Some(&entry) {
            self.entries.insert(key.to_path_buf(), entry);
            self.changed = true;
        }
    }

    /// Writes the cache when it changed (a failure only costs a re-hash next time).
    fn save(&self) {
        if self.changed {
            if let Ok(json) = serde_json::to_vec(&self.entries) {
                let _ = super::files::write_atomically(&self.file, &json, None);
            }
        }
    }
}

/// Records the deployable zips in the manifest.
fn record(assembly: &mut CloudAssembly, out: &Path, assets: &[Bundled]) -> Result<(), CliError> {
    for a in assets.iter().filter(|a| a.deployable) {
        if let Some(entry) = assembly.manifest.assets.get_mut(&a.fingerprint) {
            entry.bundle = Some(BundleInfo {
                file: format!("assets/{}.zip", a.fingerprint),
                size: a.size,
                sha256: a.sha256.clone(),
            });
        }
    }
    assembly
        .write_manifest(out)
        .map_err(CliError::io("cannot write the manifest in", out))
}

fn human_size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Whether the toolchain has the standard library for `triple`.
fn has_target_std(triple: &str) -> bool {
    let Ok(out) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(triple)
        .join("lib")
        .is_dir()
}

/// One cargo invocation: binaries of the packages of a workspace.
struct Build<'a> {
    /// The workspace's manifest.
    manifest: PathBuf,
    /// The target directory, when it is not the workspace's own (a generated crate's
    /// builds into the project's).
    target_dir: Option<PathBuf>,
    /// (package, binary) to build.
    units: &'a [(&'a str, &'a str)],
    /// The handler crates to name in messages and the progress display.
    shown: Vec<&'a str>,
}

impl Build<'_> {
    /// The packages to build, sorted.
    fn packages(&self) -> Vec<&str> {
        let mut packages: Vec<&str> = self.units.iter().map(|(p, _)| *p).collect();
        packages.sort();
        packages.dedup();
        packages
    }
}

/// The cargo command that builds `build`'s binaries for `arch` (run in `project`), and
/// whether it is cargo-zigbuild's.
fn build_command(
    project: &Path,
    arch: Architecture,
    profile: BuildProfile,
    build: &Build,
) -> Result<(Command, bool), CliError> {
    let triple = arch.target_triple();
    let zigbuild = on_path("cargo-zigbuild");
    let host = Architecture::host();
    let native = host == Some(arch);
    if !native && !has_target_std(triple) {
        return Err(BuildError::Toolchain(format!(
            "building for {arch} needs the standard library of {triple}, which this toolchain lacks: run `rustup target add {triple}`"
        )).into());
    }
    if !native && !zigbuild {
        return Err(BuildError::Toolchain(format!(
            "building for {arch} on a {} machine needs a cross linker: install cargo-zigbuild (`pip install ziglang` and `cargo install cargo-zigbuild`)",
            host.map_or(std::env::consts::ARCH, Architecture::as_str)
        )).into());
    }
    let mut cmd = cargo::command(project);
    cmd.arg(if zigbuild { "zigbuild" } else { "build" });
    let manifest = std::path::absolute(&build.manifest).unwrap_or(build.manifest.clone());
    cmd.arg("--manifest-path").arg(&manifest);
    if let Some(target) = &build.target_dir {
        cmd.arg("--target-dir").arg(target);
    }
    if zigbuild {
        // The `.2.34` suffix makes zig link against glibc 2.34 whatever the host has.
        cmd.arg("--target")
            .arg(format!("{triple}.{}.{}", MAX_GLIBC.0, MAX_GLIBC.1));
    }
    if profile == BuildProfile::Release {
        let own = own_profile_keys(&manifest);
        for setting in profile_settings(&own) {
            cmd.arg("--config")
                .arg(format!("profile.{LAMBDA_PROFILE}.{setting}"));
        }
        cmd.arg("--profile").arg(LAMBDA_PROFILE);
    }
    for p in build.packages() {
        cmd.arg("-p").arg(p);
    }
    let mut bins: Vec<&str> = build.units.iter().map(|(_, b)| *b).collect();
    bins.sort();
    bins.dedup();
    for b in &bins {
        cmd.arg("--bin").arg(b);
    }
    Ok((cmd, zigbuild))
}

/// Builds `build`'s binaries for `arch`, with cargo run in `project`, and returns them
/// by (package, binary).
fn cargo_build(
    project: &Path,
    arch: Architecture,
    profile: BuildProfile,
    build: &Build,
    ui: &Ui,
    started: Option<&mut Prebuild>,
) -> Result<BTreeMap<(String, String), PathBuf>, CliError> {
    let (mut cmd, zigbuild) = build_command(project, arch, profile, build)?;
    let packages = build.packages();
    let mut shown = build.shown.clone();
    shown.sort();
    shown.dedup();
    ui.info(&format!(
        "building {} handler crate{} for {arch} ({} profile{}{})",
        shown.len(),
        if shown.len() == 1 { "" } else { "s" },
        profile.name(),
        if build.target_dir.is_some() {
            ", linked into one binary"
        } else {
            ""
        },
        if zigbuild { ", cargo-zigbuild" } else { "" }
    ));
    let progress = ui.progress(&shown);
    if let Some(started) = started {
        // The same build, started beside synth: this one then finds it all done (and
        // prints no "waiting for file lock").
        let _ = started.child.wait();
    }
    if progress.visible() || ui.quiet() {
        // The display (or `--quiet`) replaces cargo's `Compiling` lines; its errors
        // still print.
        cmd.arg("--quiet");
    }
    let mut found = BTreeMap::new();
    let succeeded = cargo::build(cmd, |artifact| {
        progress.compiled(&artifact.package, &artifact.target);
        if let Some(exe) = artifact.executable {
            if packages.contains(&artifact.package.as_str()) {
                found.insert((artifact.package, artifact.target), exe);
            }
        }
    })?;
    progress.finish();
    if !succeeded {
        return Err(BuildError::Bundle("cargo could not build the handler crates (its messages are above); the previous zips are kept".into()).into());
    }
    Ok(found)
}

/// Checks that `data` is an ELF binary for `arch` that needs at most glibc 2.34.
pub fn check_binary(data: &[u8], arch: Architecture) -> Result<(), String> {
    use object::{Object, ObjectSection};
    let file = object::File::parse(data)
        .map_err(|e| format!("not an executable this tool can read: {e}"))?;
    if file.format() != object::BinaryFormat::Elf {
        return Err(format!(
            "a {:?} binary, not a Linux (ELF) one: build on Linux or install cargo-zigbuild",
            file.format()
        ));
    }
    let expected = match arch {
        Architecture::Arm64 => object::Architecture::Aarch64,
        Architecture::X86_64 => object::Architecture::X86_64,
    };
    if file.architecture() != expected {
        return Err(format!(
            "built for {:?}, but the function runs on {arch}",
            file.architecture()
        ));
    }
    if let Some((major, minor)) = file
        .section_by_name(".dynstr")
        .and_then(|s| s.data().ok())
        .and_then(max_glibc)
    {
        if (major, minor) > MAX_GLIBC {
            return Err(format!(
                "needs glibc {major}.{minor}, but provided.al2023 has {}.{}: install cargo-zigbuild (`pip install ziglang` and `cargo install cargo-zigbuild`) so wsgen links against glibc {}.{}, or build on an older system",
                MAX_GLIBC.0, MAX_GLIBC.1, MAX_GLIBC.0, MAX_GLIBC.1
            ));
        }
    }
    Ok(())
}

/// The highest `GLIBC_x.y` version named in an ELF string table.
pub fn max_glibc(strings: &[u8]) -> Option<(u32, u32)> {
    strings
        .split(|&b| b == 0)
        .filter_map(|s| std::str::from_utf8(s).ok()?.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.');
            Some((
                parts.next()?.parse().ok()?,
                parts.next().unwrap_or("0").parse().ok()?,
            ))
        })
        .max()
}

/// Writes `bootstrap` into a reproducible zip at `file`, atomically; returns the zip.
/// How a zip's `bootstrap` is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Deflated at level 9: what Lambda gets (small uploads, within its size limits).
    Deploy,
    /// Stored as is: for `wsgen dev`, which unpacks it at once on the same machine.
    Local,
}

pub fn write_zip(
    file: &Path,
    binary: &[u8],
    compression: Compression,
) -> Result<Vec<u8>, CliError> {
    let bytes = zip_bootstrap(binary, compression)
        .map_err(|e| BuildError::Bundle(format!("cannot write a zip: {e}")))?;
    super::files::write_atomically(file, &bytes, None)?;
    Ok(bytes)
}

/// The zip bytes: one entry `bootstrap`, mode 0755, 1980-01-01 00:00, deflated at level
/// 9 (or stored, for [`Compression::Local`]).
pub fn zip_bootstrap(binary: &[u8], compression: Compression) -> zip::result::ZipResult<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = match compression {
        Compression::Deploy => SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(9)),
        Compression::Local => {
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)
        }
    }
    .last_modified_time(zip::DateTime::default())
    .unix_permissions(0o755);
    w.start_file("bootstrap", options)?;
    w.write_all(binary)?;
    Ok(w.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_own_profile_keys_win() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        let keys = |text: &str| {
            std::fs::write(&manifest, text).unwrap();
            own_profile_keys(&manifest)
        };
        assert!(keys("[workspace]\nmembers = []\n").is_empty());
        assert!(keys("not toml [").is_empty());
        let own = keys(
            "[workspace]\n\n[profile.wsgen-lambda]\ninherits = \"release\"\nopt-level = \"z\"\n",
        );
        assert_eq!(
            profile_settings(&own),
            [
                "lto=true",
                "codegen-units=1",
                "strip=true",
                "panic=\"unwind\""
            ]
        );
        assert_eq!(
            profile_settings(&Default::default()),
            LAMBDA_PROFILE_SETTINGS
        );
    }

    #[test]
    fn glibc_versions() {
        assert_eq!(
            max_glibc(b"\0libc.so.6\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.17\0"),
            Some((2, 34))
        );
        assert_eq!(max_glibc(b"GLIBC_PRIVATE\0GLIBC_2.3\0"), Some((2, 3)));
        assert_eq!(max_glibc(b"\0nothing\0"), None);
    }

    #[test]
    fn zips_are_reproducible_and_hold_an_executable_bootstrap() {
        use std::io::Read;
        let binary = b"\x7fELF binary ".repeat(100);
        for (compression, method) in [
            (Compression::Deploy, zip::CompressionMethod::Deflated),
            (Compression::Local, zip::CompressionMethod::Stored),
        ] {
            let a = zip_bootstrap(&binary, compression).unwrap();
            assert_eq!(a, zip_bootstrap(&binary, compression).unwrap());
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a)).unwrap();
            assert_eq!(archive.len(), 1);
            let mut entry = archive.by_index(0).unwrap();
            assert_eq!(entry.name().unwrap(), "bootstrap");
            assert_eq!(entry.compression(), method);
            assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
            assert!(entry.extra_data().is_none_or(|d| d.is_empty()));
            let mut back = Vec::new();
            entry.read_to_end(&mut back).unwrap();
            assert_eq!(back, binary);
        }
    }
}
