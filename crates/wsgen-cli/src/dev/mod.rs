//! `wsgen dev`: the app running locally. Synthesizes and bundles for the host (dev
//! profile), reads the templates, runs each function's `bootstrap` behind a local
//! Lambda Runtime API, and serves every WebSocket stage on 127.0.0.1 with API Gateway's
//! behaviour and the `@connections` API.

pub mod dynamodb;
mod dynamodb_proxy;
pub mod gateway;
mod http;
pub mod iam;
pub mod integration;
pub mod lambda;
pub mod messages;
pub mod model;
mod schedules;
pub mod streams;
mod tables;
mod watch;

use super::bundle::{bundle, BuildProfile, BundleOptions};
use super::project::Project;
use super::{CliError, Ui};
use crate::cargo::BuildError;
pub use crate::error::DevError;
use gateway::{Gateway, GatewayConfig, Routing, Served};
use lambda::{LambdaService, Logs};
use schedules::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tables::*;
use wsgen::assembly::CloudAssembly;

/// The port `wsgen dev` listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 3001;

#[derive(Debug, Clone)]
pub struct DevOptions {
    pub project: Option<PathBuf>,
    /// Default: [`DEFAULT_PORT`]; 0 picks a free one.
    pub port: u16,
    /// Default: dev (fast rebuilds).
    pub profile: BuildProfile,
    /// Serve only this stage. Default: every stage.
    pub stage: Option<String>,
    pub gateway: GatewayConfig,
    /// An external DynamoDB-compatible endpoint for the app's tables. Default: the
    /// embedded one, with its data under `wsgen.out/dev/dynamodb/`.
    pub dynamodb_endpoint: Option<String>,
    /// The embedded DynamoDB's port; 0 picks a free one. Default: `port + 1` (see
    /// `settings::default_dynamodb_port`).
    pub dynamodb_port: u16,
    /// Run scheduled functions this often. Default: each rule's `rate(...)`, or the
    /// times of its `cron(...)` (UTC).
    pub schedule_interval: Option<Duration>,
    /// Rebuild and reload on changes to the project. Default: on.
    pub watch: bool,
    /// Events as JSON lines on stdout (else readable lines on stderr).
    pub json: bool,
}

impl Default for DevOptions {
    fn default() -> Self {
        DevOptions {
            project: None,
            port: DEFAULT_PORT,
            profile: BuildProfile::Dev,
            stage: None,
            gateway: GatewayConfig::default(),
            dynamodb_endpoint: None,
            dynamodb_port: DEFAULT_PORT + 1,
            schedule_interval: None,
            watch: true,
            json: false,
        }
    }
}

/// One event of `--json`'s stream: a JSON object on a line of stdout (the results'
/// stream, as for every command); a closed stdout drops it.
pub(crate) fn emit(event: serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{event}").and_then(|()| out.flush());
}

/// The time since the Unix epoch (zero on a clock set before it).
pub(crate) fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

pub fn dev(opts: &DevOptions, ui: &Ui) -> Result<(), CliError> {
    let project = Project::discover(opts.project.as_deref())?;
    // The gateway's port is taken before the build: a port in use (another `wsgen dev`
    // of the project, say) is said at once, not after minutes of cargo.
    let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|error| gateway_listen(opts, error))?;
    // The endpoints a killed `wsgen dev` left: the port answers again from now on, but
    // what it serves is known only after the build.
    let _ = std::fs::remove_file(project.out.join(crate::connect::DEV_ENDPOINTS));
    let built = build(opts, ui)?;
    // Not the CLI's usual runtime: Ctrl-C here shuts down gracefully.
    // Multi-threaded, unlike the handlers: a broadcast's posts arrive from many
    // connections at once (a current-thread gateway measured 29% of the bare server's
    // broadcast rate against 31%, for a round trip within noise of this one).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| DevError::Runtime {
            what: "starting the async runtime",
            message: e.to_string(),
        })?;
    runtime.block_on(serve(opts, ui, &project, built, listener))
}

fn gateway_listen(opts: &DevOptions, error: std::io::Error) -> DevError {
    DevError::Listen {
        what: "the gateway",
        port: opts.port,
        option: "--port",
        error,
    }
}

/// The app as built for the host: its assembly and each function's executable (by
/// asset fingerprint).
struct Built {
    out: PathBuf,
    assembly: CloudAssembly,
    executables: BTreeMap<String, PathBuf>,
}

fn build(opts: &DevOptions, ui: &Ui) -> Result<Built, CliError> {
    let bundled = bundle(
        &BundleOptions {
            project: opts.project.clone(),
            profile: opts.profile,
            arch: Some(wsgen::Architecture::host().ok_or_else(|| {
                BuildError::Toolchain(format!(
                    "wsgen dev runs handlers natively, and Lambda has no {} functions: run it on an x86_64 or arm64 machine",
                    std::env::consts::ARCH
                ))
            })?),
        },
        ui,
    )?;
    // Named by the zip's content, not the asset's fingerprint: a `--release` and a
    // `--debug` build of the same sources share the fingerprint.
    let bin_dir = bundled.out.join("dev").join("bin");
    let mut executables = BTreeMap::new();
    for a in &bundled.assets {
        let exe = bin_dir.join(&a.sha256);
        if !exe.is_file() {
            extract_bootstrap(&a.file, &exe)?;
        }
        executables.insert(a.fingerprint.clone(), exe);
    }
    prune_executables(&bin_dir, &executables);
    Ok(Built {
        out: bundled.out,
        assembly: bundled.assembly,
        executables,
    })
}

/// Removes the executables of earlier builds (debug ones are hundreds of megabytes).
/// Processes still running one keep it until they exit.
fn prune_executables(bin_dir: &Path, current: &BTreeMap<String, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(bin_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !current.values().any(|exe| *exe == path) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn extract_bootstrap(zip: &Path, exe: &Path) -> Result<(), CliError> {
    use std::io::Read;
    let file = std::fs::File::open(zip).map_err(CliError::io("cannot read", zip))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| BuildError::Bundle(format!("{}: {e}", zip.display())))?;
    let mut entry = archive
        .by_name("bootstrap")
        .map_err(|e| BuildError::Bundle(format!("{}: {e}", zip.display())))?;
    let mut data = Vec::new();
    entry
        .read_to_end(&mut data)
        .map_err(CliError::io("cannot read", zip))?;
    Ok(super::files::write_atomically(exe, &data, Some(0o755))?)
}

/// What `wsgen dev` serves of an app.
struct Loaded {
    stages: BTreeMap<String, Served>,
    functions: Vec<(model::DevFunction, PathBuf)>,
    tables: Vec<model::DevTable>,
    schedules: Vec<model::DevSchedule>,
    subscriptions: Vec<model::DevSubscription>,
}

/// Reads the app to serve from the built templates.
fn load(opts: &DevOptions, built: &Built, domain: &str) -> Result<Loaded, CliError> {
    let mut loaded = Loaded {
        stages: BTreeMap::new(),
        functions: Vec::new(),
        tables: Vec::new(),
        schedules: Vec::new(),
        subscriptions: Vec::new(),
    };
    let mut every_stage = std::collections::BTreeSet::new();
    for (stack, template) in &built.assembly.templates {
        let app = model::read(stack, template, domain)?;
        for (id, f) in app.functions {
            let key = template.code_key(&id).unwrap_or_default();
            let Some(exe) = built.executables.get(key.trim_end_matches(".zip")) else {
                return Err(BuildError::Bundle(format!(
                    "function {stack}/{id} has no bundled handler (S3Key {key})"
                ))
                .into());
            };
            loaded.functions.push((f, exe.clone()));
        }
        loaded.tables.extend(app.tables.into_values());
        loaded.schedules.extend(app.schedules);
        loaded.subscriptions.extend(app.subscriptions);
        for api in app.apis.into_values() {
            for stage in &api.stages {
                every_stage.insert(stage.clone());
                if opts.stage.as_ref().is_some_and(|s| s != stage) {
                    continue;
                }
                if let Some(other) = loaded.stages.get(stage) {
                    return Err(DevError::StageConflict {
                        stage: stage.clone(),
                        first: other.api.logical_id.clone(),
                        second: api.logical_id.clone(),
                    }
                    .into());
                }
                loaded.stages.insert(
                    stage.clone(),
                    Served {
                        api: api.clone(),
                        stage: stage.clone(),
                    },
                );
            }
        }
    }
    if loaded.stages.is_empty() {
        return Err(DevError::NoStage {
            wanted: opts.stage.clone(),
            stages: every_stage.into_iter().collect(),
        }
        .into());
    }
    Ok(loaded)
}

/// Ctrl-C (SIGINT) or SIGTERM (`kill`, a process manager, a container stopping): both
/// stop `wsgen dev` the same way, closing every connection and running `$disconnect`.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(
    opts: &DevOptions,
    ui: &Ui,
    project: &Project,
    built: Built,
    listener: std::net::TcpListener,
) -> Result<(), CliError> {
    let listen = |error| gateway_listen(opts, error);
    let listener = tokio::net::TcpListener::from_std(listener).map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    let domain = addr.to_string();
    let loaded = load(opts, &built, &domain)?;

    let mut env = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), "local".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "local".to_string()),
        (
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI".to_string(),
            format!("http://{domain}"),
        ),
    ];
    // Tables added later (watch mode) go to the same place.
    let tables = match (&opts.dynamodb_endpoint, loaded.tables.is_empty()) {
        (Some(endpoint), _) => Tables::External(endpoint.clone()),
        (None, true) => Tables::None,
        (None, false) => {
            let (db, endpoint) = embedded_dynamodb(opts, ui, &built.out).await?;
            env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint));
            Tables::Embedded(db)
        }
    };
    if let Tables::External(endpoint) = &tables {
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.clone()));
    }
    tables.ensure(ui, &loaded.tables).await?;
    let tables = Arc::new(tables);

    let dynamodb = env
        .iter()
        .find(|(k, _)| k == "AWS_ENDPOINT_URL_DYNAMODB")
        .map(|(_, v)| v.clone());
    let logs = Logs::new(opts.json, Some(&built.out.join(crate::logs::DEV_LOGS)));
    let lambda = Arc::new(LambdaService::new(loaded.functions, env, logs.clone()));
    // The embedded DynamoDB's local IAM tells the app's functions apart from now on.
    if let Tables::Embedded(db) = &*tables {
        let _ = db.proxy.callers.set((lambda.clone(), logs.clone()));
    }
    let gw = Gateway::new(
        loaded.stages,
        lambda.clone(),
        opts.gateway.clone(),
        domain.clone(),
        logs,
        Some(project.dir.join("web").join("index.html")).filter(|p| p.is_file()),
    );
    let page = gw.page.as_ref().map(|_| format!("http://{domain}/"));
    announce(
        ui,
        opts.json,
        &gw.routing(),
        &domain,
        dynamodb.as_deref(),
        page.as_deref(),
    );
    // `wsgen connect` finds the stages here while wsgen dev runs.
    let endpoints_file = built.out.join(crate::connect::DEV_ENDPOINTS);
    if let Err(e) = write_endpoints(&endpoints_file, &gw) {
        ui.warn(&format!(
            "`wsgen connect` will not find this wsgen dev: {e}"
        ));
    }
    if opts.watch && !opts.json {
        ui.info(&format!(
            "watching {} for changes (--no-watch to stop)",
            project.dir.display()
        ));
    }

    let scheduler = Arc::new(std::sync::Mutex::new(start_background(
        ui,
        opts,
        &lambda,
        &tables,
        loaded.schedules,
        loaded.subscriptions,
    )));
    let watcher = if opts.watch {
        Some(watch::start(
            project,
            opts.clone(),
            domain.clone(),
            gw.clone(),
            scheduler.clone(),
            tables.clone(),
        )?)
    } else {
        None
    };
    let router = gw.router();
    let shutdown_gw = gw.clone();
    http::serve(listener, router, async move {
        stop_signal().await;
        eprintln!(
            "shutting down: closing {} connection(s)",
            shutdown_gw.open()
        );
        shutdown_gw.shutdown(Duration::from_secs(10)).await;
    })
    .await;
    if let Some(w) = watcher {
        w.stop();
    }
    for task in scheduler
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
    {
        task.abort();
    }
    lambda.shutdown();
    let _ = std::fs::remove_file(&endpoints_file);
    if let Tables::Embedded(db) = &*tables {
        db.stop().await;
    }
    ui.done("wsgen dev stopped");
    Ok(())
}

/// Writes `wsgen.out/dev/endpoints.json` (see [`crate::connect::DevEndpoints`]): the
/// gateway's address and the URL of each stage it serves now. At the start and after
/// every reload, whose stages may differ.
fn write_endpoints(file: &std::path::Path, gw: &Gateway) -> Result<(), crate::files::IoError> {
    let endpoints = crate::connect::DevEndpoints {
        address: gw.domain.clone(),
        stages: gw
            .routing()
            .stages
            .keys()
            .map(|name| (name.clone(), format!("ws://{}/{name}", gw.domain)))
            .collect(),
        pid: std::process::id(),
    };
    let json = serde_json::to_vec_pretty(&endpoints)
        .map_err(|e| crate::files::io("cannot write", file)(e.into()))?;
    crate::files::write_atomically(file, &json, None)
}

/// What runs beside the gateway: the schedules, and the stream subscriptions (with the
/// embedded DynamoDB; an external endpoint's streams are not read).
fn start_background(
    ui: &Ui,
    opts: &DevOptions,
    lambda: &Arc<LambdaService>,
    tables: &Tables,
    schedules: Vec<model::DevSchedule>,
    subscriptions: Vec<model::DevSubscription>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = start_schedules(ui, opts, lambda, schedules);
    match tables {
        Tables::Embedded(db) => {
            if !opts.json {
                for s in &subscriptions {
                    ui.info(&format!("  stream of {}: {}", s.table, s.function));
                }
            }
            tasks.extend(streams::start(
                &db.db,
                lambda,
                subscriptions,
                &db.positions,
                opts.json,
            ))
        }
        _ if !subscriptions.is_empty() => ui.warn(&format!(
            "the tables are at --dynamodb-endpoint, whose streams wsgen dev does not read: {} will not get their tables' changes (the embedded DynamoDB delivers them)",
            subscriptions
                .iter()
                .map(|s| s.function.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => {}
    }
    tasks
}

/// Prints what is served (on stderr; with `--json` one `ready` line on stdout): the stages, the
/// DynamoDB endpoint and the page (`web/index.html`) when there is one.
fn announce(
    ui: &Ui,
    json: bool,
    routing: &Routing,
    domain: &str,
    dynamodb: Option<&str>,
    page: Option<&str>,
) {
    if json {
        let stages: BTreeMap<&String, Value> = routing
            .stages
            .iter()
            .map(|(name, s)| {
                (
                    name,
                    serde_json::json!({
                        "url": format!("ws://{domain}/{name}"),
                        "callbackUrl": format!("http://{domain}/{name}"),
                        "api": s.api.logical_id,
                        "routes": s.api.routes.keys().collect::<Vec<_>>(),
                    }),
                )
            })
            .collect();
        crate::dev::emit(
            serde_json::json!({"type": "ready", "address": domain, "stages": stages, "dynamodb": dynamodb, "page": page}),
        );
        return;
    }
    ui.done(&format!("wsgen dev listening on {domain} (loopback only)"));
    for (name, s) in &routing.stages {
        let root = if routing.root.as_deref() == Some(name.as_str()) {
            format!(" (also ws://{domain}/)")
        } else {
            String::new()
        };
        ui.info(&format!(
            "  {} stage {name}: ws://{domain}/{name}{root}",
            s.api.logical_id
        ));
        ui.info(&format!(
            "    @connections: http://{domain}/{name}/@connections/{{connectionId}}"
        ));
        for (key, r) in &s.api.routes {
            let target = r
                .function
                .clone()
                .or_else(|| r.other_integration.clone())
                .unwrap_or_else(|| "(no integration)".into());
            ui.info(&format!(
                "    {key:<16} -> {target}{}",
                if r.two_way { " (two-way)" } else { "" }
            ));
        }
    }
    if let Some(page) = page {
        ui.info(&format!("  web/index.html: {page}"));
    }
    ui.info("Ctrl-C stops (running $disconnect for every open connection)");
}

#[cfg(test)]
mod tests {
    #[test]
    fn executables_of_earlier_builds_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("aa11");
        let earlier = dir.path().join("bb22");
        std::fs::write(&current, b"now").unwrap();
        std::fs::write(&earlier, b"before").unwrap();
        let served = std::collections::BTreeMap::from([("fp".to_string(), current.clone())]);
        super::prune_executables(dir.path(), &served);
        assert!(current.is_file());
        assert!(!earlier.exists());
        // A missing directory (nothing built yet) is not an error.
        super::prune_executables(&dir.path().join("missing"), &served);
    }
}
