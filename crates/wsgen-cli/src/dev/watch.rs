//! Watch mode: a change to the project's files rebuilds the app (synth, then a cargo
//! build of what changed) and reloads it without dropping open connections: changed
//! functions get new instances, routes and stages are replaced, new tables are
//! created, schedules restart. A build that fails is reported and the last good build
//! keeps serving.

use super::gateway::Gateway;
use super::{build, load, start_background, DevError, DevOptions, Tables};
use crate::project::Project;
use crate::{CliError, Ui};
use notify::{EventKind, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long the files must be quiet before a rebuild starts (editors write in bursts).
const SETTLE: Duration = Duration::from_millis(300);

pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Watcher {
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Starts watching `project`'s directory.
pub fn start(
    project: &Project,
    opts: DevOptions,
    domain: String,
    gw: Arc<Gateway>,
    schedules: Arc<Mutex<Vec<JoinHandle<()>>>>,
    tables: Arc<Tables>,
) -> Result<Watcher, CliError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let ignore = Ignored::new(project);
    let filter = ignore.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        for path in event.paths {
            if !ignore.ignores(&path) {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|error| DevError::Watch {
        path: project.dir.clone(),
        error,
    })?;
    // The project's own files, and each top-level directory but build output: a
    // recursive watch of target/ would cost a watch per directory cargo made.
    let mut paths = vec![(project.dir.clone(), RecursiveMode::NonRecursive)];
    let entries =
        std::fs::read_dir(&project.dir).map_err(CliError::io("cannot read", &project.dir))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() && !filter.ignores(&path) {
            paths.push((path, RecursiveMode::Recursive));
        }
    }
    for (path, mode) in paths {
        watcher
            .watch(&path, mode)
            .map_err(|error| DevError::Watch {
                path: path.clone(),
                error,
            })?;
    }
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // Wait until the burst of writes is over.
            while let Ok(Some(_)) = tokio::time::timeout(SETTLE, rx.recv()).await {}
            reload(&opts, &domain, &gw, &schedules, &tables, &first).await;
            // Whatever changed during the build is in the next round.
        }
    });
    Ok(Watcher {
        _watcher: watcher,
        task,
    })
}

async fn reload(
    opts: &DevOptions,
    domain: &str,
    gw: &Arc<Gateway>,
    schedules: &Mutex<Vec<JoinHandle<()>>>,
    tables: &Tables,
    changed: &Path,
) {
    let ui = Ui::new(false);
    let started = std::time::Instant::now();
    event(
        opts,
        "rebuild",
        &format!("{} changed: rebuilding", changed.display()),
    );
    let build_opts = opts.clone();
    let built = tokio::task::spawn_blocking(move || build(&build_opts, &Ui::new(false)))
        .await
        .unwrap_or_else(|e| {
            Err(DevError::Runtime {
                what: "the build task",
                message: e.to_string(),
            }
            .into())
        });
    let loaded = built.and_then(|b| {
        let endpoints = b.out.join(crate::connect::DEV_ENDPOINTS);
        Ok((endpoints, load(opts, &b, domain)?))
    });
    let (endpoints, loaded) = match loaded {
        Ok(l) => l,
        Err(e) => {
            event(
                opts,
                "build-failed",
                &format!("{e}\nstill serving the last good build"),
            );
            return;
        }
    };
    if !loaded.tables.is_empty() && matches!(tables, Tables::None) {
        ui.warn("the app has tables now: restart wsgen dev to serve them");
    } else if let Err(e) = tables.ensure(&ui, &loaded.tables).await {
        event(
            opts,
            "build-failed",
            &format!("{e}\nstill serving the last good build"),
        );
        return;
    }
    let changed = gw.lambda.replace(loaded.functions);
    gw.set_stages(loaded.stages);
    // `wsgen connect` finds the stages served now.
    if let Err(e) = super::write_endpoints(&endpoints, gw) {
        event(
            opts,
            "warning",
            &format!("`wsgen connect` will not see this reload: {e}"),
        );
    }
    let mut tasks = schedules.lock().unwrap_or_else(|e| e.into_inner());
    for t in tasks.drain(..) {
        t.abort();
    }
    *tasks = start_background(
        &ui,
        opts,
        &gw.lambda,
        tables,
        loaded.schedules,
        loaded.subscriptions,
    );
    let what = if changed.is_empty() {
        "no function changed".to_string()
    } else {
        format!("new instances for {}", changed.join(", "))
    };
    event(
        opts,
        "reloaded",
        &format!(
            "reloaded in {:.1} s: {what}; {} connection(s) kept",
            started.elapsed().as_secs_f64(),
            gw.open()
        ),
    );
}

/// A line about the watch (JSON with `--json`).
fn event(opts: &DevOptions, kind: &str, message: &str) {
    if opts.json {
        crate::dev::emit(serde_json::json!({"type": "watch", "event": kind, "message": message}));
    } else {
        eprintln!("[watch] {message}");
    }
}

/// What is not the project's source: build output, the assembly, hidden directories,
/// editors' temporary files.
#[derive(Clone)]
struct Ignored {
    dir: PathBuf,
    out: PathBuf,
    target: Option<PathBuf>,
}

impl Ignored {
    fn new(project: &Project) -> Ignored {
        Ignored {
            dir: project.dir.clone(),
            out: project.out.clone(),
            target: std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        }
    }

    fn ignores(&self, path: &Path) -> bool {
        if path.starts_with(&self.out) || self.target.as_ref().is_some_and(|t| path.starts_with(t))
        {
            return true;
        }
        let Ok(relative) = path.strip_prefix(&self.dir) else {
            return true;
        };
        let hidden = relative.components().any(|c| {
            let c = c.as_os_str().to_string_lossy();
            c == "target" || c.starts_with('.')
        });
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        hidden
            || name.ends_with('~')
            || name.ends_with(".swp")
            || name.ends_with(".swx")
            || name.ends_with(".tmp")
            || name == "4913"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_output_and_editor_files_are_ignored() {
        let i = Ignored {
            dir: "/p".into(),
            out: "/p/wsgen.out".into(),
            target: Some("/cache/target".into()),
        };
        assert!(!i.ignores(Path::new("/p/lambdas/echo/src/lib.rs")));
        assert!(!i.ignores(Path::new("/p/infra/src/main.rs")));
        assert!(!i.ignores(Path::new("/p/Cargo.toml")));
        for ignored in [
            "/p/wsgen.out/manifest.json",
            "/p/target/debug/echo",
            "/p/lambdas/echo/target/x",
            "/p/.git/index",
            "/p/lambdas/echo/src/.lib.rs.swp",
            "/p/lambdas/echo/src/lib.rs~",
            "/cache/target/release/echo",
            "/elsewhere/file.rs",
        ] {
            assert!(i.ignores(Path::new(ignored)), "{ignored}");
        }
    }
}
