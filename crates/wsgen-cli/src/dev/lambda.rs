//! The local Lambda service: each function's `bootstrap` runs as child processes, each
//! with its own implementation of the Lambda Runtime API on loopback
//! (`/2018-06-01/runtime/invocation/next`, `/response`, `/error`, `/init/error`).
//! Instances start when all are busy, up to the function's reserved concurrency (or a
//! default); an instance that times out is killed and one that crashes is replaced.

use super::model::{DevFunction, LOCAL_ACCOUNT, LOCAL_REGION};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Instances per function when the function reserves no concurrency.
pub const DEFAULT_CONCURRENCY: usize = 10;

/// Why an invocation gave no response.
#[derive(Debug, Clone)]
pub enum InvokeError {
    /// The function reported an error (`/error`), or failed to initialize.
    Function { error_type: String, message: String },
    /// The function ran past its timeout; the instance was killed.
    Timeout(Duration),
    /// The process exited during the invocation (or could not start).
    Crashed(String),
}

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvokeError::Function {
                error_type,
                message,
            } => write!(f, "{error_type}: {message}"),
            InvokeError::Timeout(d) => write!(f, "timed out after {} s", d.as_secs_f64()),
            InvokeError::Crashed(m) => write!(f, "crashed: {m}"),
        }
    }
}

type Reply = oneshot::Sender<Result<Bytes, InvokeError>>;

/// What Lambda's `REPORT` line says of a cold invocation.
pub struct Report {
    pub request_id: String,
    pub duration: Duration,
    pub init: Duration,
    pub max_memory_mb: Option<u64>,
}

/// Where handler output goes: each line prefixed with the function's name, on stderr
/// (or a `log` event with `--json`), and appended to `wsgen.out/dev/logs.jsonl`, where
/// `wsgen logs` reads it.
#[derive(Clone)]
pub struct Logs {
    pub json: bool,
    file: Option<Arc<std::sync::Mutex<LogFile>>>,
}

/// `wsgen.out/dev/logs.jsonl`: `{"timestamp": ms, "source": function, "message": line}`
/// a line; moved to `logs.jsonl.1` (replacing the one before) when it passes
/// [`LOG_FILE_LIMIT`].
struct LogFile {
    path: std::path::PathBuf,
    file: std::fs::File,
    size: u64,
}

/// The size at which the dev log file starts over (the previous one is kept as `.1`).
pub const LOG_FILE_LIMIT: u64 = 8 << 20;

impl LogFile {
    fn open(path: &std::path::Path) -> std::io::Result<LogFile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(LogFile {
            path: path.to_path_buf(),
            file,
            size,
        })
    }

    fn append(&mut self, source: &str, message: &str) {
        use std::io::Write;
        if self.size > LOG_FILE_LIMIT {
            let mut old = self.path.clone().into_os_string();
            old.push(".1");
            let _ = std::fs::rename(&self.path, old);
            if let Ok(fresh) = LogFile::open(&self.path) {
                *self = fresh;
            }
        }
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut line =
            serde_json::json!({"timestamp": timestamp, "source": source, "message": message})
                .to_string();
        line.push('\n');
        if self.file.write_all(line.as_bytes()).is_ok() {
            self.size += line.len() as u64;
        }
    }
}

impl Logs {
    /// Logs on stderr (or stdout's events with `json`), and to `file` when given (a
    /// file that cannot be opened is said once and left out).
    pub fn new(json: bool, file: Option<&std::path::Path>) -> Logs {
        let file = file.and_then(|path| match LogFile::open(path) {
            Ok(f) => Some(Arc::new(std::sync::Mutex::new(f))),
            Err(e) => {
                eprintln!(
                    "warning: the functions' output is not kept for `wsgen logs`: cannot open {}: {e}",
                    path.display()
                );
                None
            }
        });
        Logs { json, file }
    }

    /// Lambda's `REPORT` line for an invocation that started an instance: its duration,
    /// the instance's init duration (process start to its first `/next`) and the
    /// process's peak memory.
    pub fn report(&self, source: &str, report: &Report) {
        let memory = report
            .max_memory_mb
            .map(|mb| format!("\tMax Memory Used: {mb} MB"));
        self.line(
            source,
            &format!(
                "REPORT RequestId: {}\tDuration: {:.2} ms{}\tInit Duration: {:.2} ms",
                report.request_id,
                report.duration.as_secs_f64() * 1e3,
                memory.unwrap_or_default(),
                report.init.as_secs_f64() * 1e3,
            ),
        );
    }

    pub fn line(&self, source: &str, line: &str) {
        if let Some(file) = &self.file {
            file.lock()
                .unwrap_or_else(|e| e.into_inner())
                .append(source, line);
        }
        if self.json {
            crate::dev::emit(serde_json::json!({"type": "log", "function": source, "line": line}));
        } else {
            eprintln!("{source} | {line}");
        }
    }
}

/// The functions of the app, ready to invoke.
pub struct LambdaService {
    pools: std::sync::RwLock<BTreeMap<String, Arc<Pool>>>,
    env: Vec<(String, String)>,
    logs: Logs,
}

impl LambdaService {
    /// `functions` by logical id, each with its executable; `env` is added to every
    /// function's own environment (endpoints, credentials).
    pub fn new(
        functions: Vec<(DevFunction, PathBuf)>,
        env: Vec<(String, String)>,
        logs: Logs,
    ) -> LambdaService {
        let service = LambdaService {
            pools: Default::default(),
            env,
            logs,
        };
        service.replace(functions);
        service
    }

    fn pool(&self, function: DevFunction, exe: PathBuf) -> Arc<Pool> {
        let max = function
            .reserved_concurrency
            .map(|c| c as usize)
            .unwrap_or(DEFAULT_CONCURRENCY)
            .max(1);
        Arc::new(Pool {
            access_key: super::iam::access_key(&function.logical_id),
            slots: Arc::new(Semaphore::new(max)),
            idle: Mutex::new(Vec::new()),
            env: self.env.clone(),
            logs: self.logs.clone(),
            function,
            exe,
            started: AtomicU64::new(0),
        })
    }

    /// Serves `functions` from now on: a function whose configuration or executable
    /// changed gets new instances (invocations already running finish on the old
    /// ones, which then stop), an unchanged one keeps its instances. Returns the
    /// logical ids of the functions that changed, were added or were removed.
    pub fn replace(&self, functions: Vec<(DevFunction, PathBuf)>) -> Vec<String> {
        let mut pools = self.pools.write().unwrap_or_else(|e| e.into_inner());
        let mut changed = Vec::new();
        let mut next = BTreeMap::new();
        for (f, exe) in functions {
            let id = f.logical_id.clone();
            match pools.get(&id) {
                Some(p) if p.function == f && p.exe == exe => {
                    next.insert(id, p.clone());
                }
                _ => {
                    changed.push(id.clone());
                    next.insert(id, self.pool(f, exe));
                }
            }
        }
        changed.extend(pools.keys().filter(|k| !next.contains_key(*k)).cloned());
        *pools = next;
        changed
    }

    /// Invokes function `logical_id` with `event`.
    pub async fn invoke(&self, logical_id: &str, event: &Value) -> Result<Bytes, InvokeError> {
        let pool = self
            .pools
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(logical_id)
            .cloned();
        let Some(pool) = pool else {
            return Err(InvokeError::Crashed(format!("no function {logical_id}")));
        };
        pool.invoke(event).await
    }

    /// The function whose processes sign with `access_key`, if any.
    pub fn caller(&self, access_key: &str) -> Option<DevFunction> {
        self.pools
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|p| p.access_key == access_key)
            .map(|p| p.function.clone())
    }

    /// Stops every instance.
    pub fn shutdown(&self) {
        for p in self
            .pools
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            p.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

struct Pool {
    function: DevFunction,
    /// What its processes sign with (see `iam`): computed once, looked up per request.
    access_key: String,
    exe: PathBuf,
    env: Vec<(String, String)>,
    logs: Logs,
    /// One permit per instance that may run at once.
    slots: Arc<Semaphore>,
    idle: Mutex<Vec<Instance>>,
    started: AtomicU64,
}

impl Pool {
    async fn invoke(&self, event: &Value) -> Result<Bytes, InvokeError> {
        let _slot = self.slots.acquire().await.expect("pool open");
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let instance = match idle {
            Some(i) if i.alive() => i,
            _ => self.start().await?,
        };
        let timeout = Duration::from_secs(self.function.timeout_secs.max(1));
        let (request_id, result) = instance.invoke(event, timeout).await;
        if let Some((duration, init)) = instance.cold(&request_id) {
            let report = Report {
                request_id,
                duration,
                init,
                max_memory_mb: instance.max_memory_mb(),
            };
            self.logs.report(&self.function.name, &report);
        }
        match &result {
            Err(InvokeError::Timeout(_)) | Err(InvokeError::Crashed(_)) => {
                // Dropping the instance kills its process; the next invocation starts one.
                if let Err(e) = &result {
                    self.logs.line(
                        &self.function.name,
                        &format!("instance stopped: the invocation {e}"),
                    );
                }
            }
            _ if instance.alive() => self
                .idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(instance),
            _ => {}
        }
        result
    }

    async fn start(&self) -> Result<Instance, InvokeError> {
        let n = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        Instance::start(&self.function, &self.exe, &self.env, &self.logs, n)
            .await
            .map_err(InvokeError::Crashed)
    }
}

/// One process of a function and its Runtime API.
struct Instance {
    next: mpsc::Sender<(String, Bytes, u128)>,
    /// When the process started, its first `/next` (the end of its init), and the first
    /// invocation's request id and duration: the cold start, reported once.
    timing: Arc<Mutex<Timing>>,
    pid: Option<u32>,
    pending: Arc<Mutex<HashMap<String, Reply>>>,
    exited: Arc<std::sync::atomic::AtomicBool>,
    /// Kills the process when dropped.
    _kill: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Timing {
    spawned: Instant,
    /// From the process's start to its first `/next`.
    init: Option<Duration>,
    /// The first invocation: its request id and when the process took it.
    first: Option<(String, Instant)>,
    /// From then to its response or error: Lambda's `Duration`.
    first_duration: Option<Duration>,
    reported: bool,
}

#[derive(Clone)]
struct RuntimeApi {
    timing: Arc<Mutex<Timing>>,
    next: Arc<tokio::sync::Mutex<mpsc::Receiver<(String, Bytes, u128)>>>,
    pending: Arc<Mutex<HashMap<String, Reply>>>,
    arn: String,
    init_error: Arc<Mutex<Option<InvokeError>>>,
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);

impl Instance {
    async fn start(
        f: &DevFunction,
        exe: &std::path::Path,
        env: &[(String, String)],
        logs: &Logs,
        n: u64,
    ) -> Result<Instance, String> {
        let (next_tx, next_rx) = mpsc::channel(1);
        let pending: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let timing = Arc::new(Mutex::new(Timing {
            spawned: Instant::now(),
            init: None,
            first: None,
            first_duration: None,
            reported: false,
        }));
        let api = RuntimeApi {
            timing: timing.clone(),
            next: Arc::new(tokio::sync::Mutex::new(next_rx)),
            pending: pending.clone(),
            arn: format!(
                "arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{}",
                f.name
            ),
            init_error: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api.clone());
        let server = tokio::spawn(super::http::serve(listener, router, std::future::pending()));

        let mut cmd = tokio::process::Command::new(exe);
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &f.name)
            .env("_HANDLER", &f.handler)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string())
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", f.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{n}"))
            .env("AWS_REGION", LOCAL_REGION)
            .env("AWS_DEFAULT_REGION", LOCAL_REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().map(|(k, v)| (k, v)))
            // Its own credentials: the local endpoints tell the functions apart by them.
            .env("AWS_ACCESS_KEY_ID", super::iam::access_key(&f.logical_id))
            .envs(&f.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        timing.lock().unwrap_or_else(|e| e.into_inner()).spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let pid = child.id();
        let streams: [Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>; 2] = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let (logs, source) = (logs.clone(), f.name.clone());
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.line(&source, &line);
                }
            });
        }
        let exited = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        {
            let (exited, pending, init_error, logs, source) = (
                exited.clone(),
                pending.clone(),
                api.init_error.clone(),
                logs.clone(),
                f.name.clone(),
            );
            tokio::spawn(async move {
                let status = tokio::select! {
                    s = child.wait() => s.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string()),
                    _ = kill_rx => {
                        let _ = child.kill().await;
                        "killed".to_string()
                    }
                };
                exited.store(true, Ordering::SeqCst);
                let reason = init_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .unwrap_or_else(|| {
                        InvokeError::Crashed(format!("the process exited ({status})"))
                    });
                let waiting: Vec<Reply> = pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .drain()
                    .map(|(_, r)| r)
                    .collect();
                if !waiting.is_empty() || status != "killed" {
                    logs.line(&source, &format!("process ended: {status}"));
                }
                for r in waiting {
                    let _ = r.send(Err(reason.clone()));
                }
            });
        }
        Ok(Instance {
            next: next_tx,
            timing,
            pid,
            pending,
            exited,
            _kill: kill_tx,
            server,
        })
    }

    fn alive(&self) -> bool {
        !self.exited.load(Ordering::SeqCst)
    }

    /// The invocation's request id and its outcome.
    async fn invoke(
        &self,
        event: &Value,
        timeout: Duration,
    ) -> (String, Result<Bytes, InvokeError>) {
        let id = format!(
            "{:08x}-{:04x}-4000-8000-{:012x}",
            std::process::id(),
            REQUESTS.fetch_add(1, Ordering::Relaxed) & 0xffff,
            super::unix_now().as_nanos() & 0xffff_ffff_ffff
        );
        let result = self.run(&id, event, timeout).await;
        (id, result)
    }

    async fn run(&self, id: &str, event: &Value, timeout: Duration) -> Result<Bytes, InvokeError> {
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), tx);
        if !self.alive() {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
            return Err(InvokeError::Crashed("the process had exited".into()));
        }
        let deadline = super::unix_now().as_millis() + timeout.as_millis();
        let body = Bytes::from(serde_json::to_vec(event).expect("json"));
        if self
            .next
            .send((id.to_string(), body, deadline))
            .await
            .is_err()
        {
            return Err(InvokeError::Crashed("the runtime API stopped".into()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(InvokeError::Crashed("the process exited".into())),
            Err(_) => {
                self.exited.store(true, Ordering::SeqCst);
                Err(InvokeError::Timeout(timeout))
            }
        }
    }

    /// (duration, init duration) when `request_id` was this instance's first
    /// invocation and the instance finished its init, once.
    fn cold(&self, request_id: &str) -> Option<(Duration, Duration)> {
        let mut timing = self.timing.lock().unwrap_or_else(|e| e.into_inner());
        let (first, _) = timing.first.as_ref()?;
        if timing.reported || first != request_id {
            return None;
        }
        timing.reported = true;
        Some((timing.first_duration?, timing.init?))
    }

    /// The process's peak resident memory (`VmHWM`), in MB.
    fn max_memory_mb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kib.div_ceil(1024))
    }
}

async fn next(State(api): State<RuntimeApi>) -> Response {
    {
        let mut timing = api.timing.lock().unwrap_or_else(|e| e.into_inner());
        if timing.init.is_none() {
            timing.init = Some(timing.spawned.elapsed());
        }
    }
    let Some((id, event, deadline)) = api.next.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    {
        let mut timing = api.timing.lock().unwrap_or_else(|e| e.into_inner());
        if timing.first.is_none() {
            timing.first = Some((id.clone(), Instant::now()));
        }
    }
    let mut headers = HeaderMap::new();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set("lambda-runtime-invoked-function-arn", api.arn.clone());
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    (StatusCode::OK, headers, event).into_response()
}

async fn response(
    State(api): State<RuntimeApi>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let status = reply(&api, &id, Ok(body));
    // The invocation's caller (a WebSocket client waiting for its answer) goes first:
    // the handler only waits for this status to ask for its next event.
    tokio::task::yield_now().await;
    status
}

async fn error(
    State(api): State<RuntimeApi>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    reply(&api, &id, Err(function_error(&body)))
}

async fn init_error(State(api): State<RuntimeApi>, body: Bytes) -> StatusCode {
    *api.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(function_error(&body));
    StatusCode::ACCEPTED
}

fn function_error(body: &[u8]) -> InvokeError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    InvokeError::Function {
        error_type: v
            .get("errorType")
            .and_then(Value::as_str)
            .unwrap_or("Error")
            .to_string(),
        message: v
            .get("errorMessage")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
    }
}

fn reply(api: &RuntimeApi, id: &str, result: Result<Bytes, InvokeError>) -> StatusCode {
    {
        let mut timing = api.timing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((first, taken)) = &timing.first {
            if first == id && timing.first_duration.is_none() {
                timing.first_duration = Some(taken.elapsed());
            }
        }
    }
    match api
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id)
    {
        Some(tx) => {
            let _ = tx.send(result);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}
