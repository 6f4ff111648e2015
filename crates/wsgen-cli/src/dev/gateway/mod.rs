//! The local API Gateway: each WebSocket API stage at `ws://127.0.0.1:PORT/<stage>`,
//! with API Gateway's behaviour (`$connect` before the handshake completes, route
//! selection, two-way routes, error frames, limits, `$disconnect` however a connection
//! ends) and the `@connections` management API at `/<stage>/@connections/{id}`.

mod connections;
mod events;
mod handshake;
mod session;
mod throttle;

use connections::*;
pub use events::iso_time;
use events::*;
use handshake::*;
use session::*;
use throttle::Throttles;

use super::lambda::{LambdaService, Logs};
use super::messages::INVALID_BODY;
use super::model::{
    select_route, Authorization, DevApi, DevAuthorizer, DevRoute, DEFAULT_INTEGRATION_TIMEOUT_MS,
    LOCAL_ACCOUNT, LOCAL_REGION,
};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// API Gateway's limits for WebSocket APIs.
pub const MAX_MESSAGE: usize = 128 * 1024;
pub const MAX_FRAME: usize = 32 * 1024;
/// Each connection's initial read buffer.
const READ_BUFFER: usize = 4 * 1024;
/// Close codes API Gateway uses.
const GOING_AWAY: u16 = 1001;
const TOO_BIG: u16 = 1009;
const NORMAL: u16 = 1000;
const PROTOCOL_ERROR: u16 = 1002;
const INVALID_PAYLOAD: u16 = 1007;
/// How long a frame may take to reach a client (one that does not read is dropped).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The bytes queued for one client before it counts as not reading: 8 messages of
/// API Gateway's largest (a single larger frame is still queued).
const OUTBOX_LIMIT: usize = 8 * MAX_MESSAGE;
/// How a connection whose client stopped reading ends (its `$disconnect` says so).
const STALLED: (u16, &str) = (1006, "Client did not read its messages");

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Default: 10 minutes, like API Gateway.
    pub idle_timeout: Duration,
    /// Default: 2 hours, like API Gateway.
    pub max_duration: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            idle_timeout: Duration::from_secs(600),
            max_duration: Duration::from_secs(7200),
        }
    }
}

/// A stage the gateway serves.
#[derive(Clone)]
pub struct Served {
    pub api: DevApi,
    pub stage: String,
}

/// What is served where; replaced as a whole when the app is reloaded.
pub struct Routing {
    /// By URL path segment (the stage name).
    pub stages: BTreeMap<String, Served>,
    /// Served at `/` too (one API with one stage).
    pub root: Option<String>,
}

impl Routing {
    pub fn new(stages: BTreeMap<String, Served>) -> Routing {
        let root = (stages.len() == 1)
            .then(|| stages.keys().next().cloned())
            .flatten();
        Routing { stages, root }
    }
}

pub struct Gateway {
    routing: std::sync::RwLock<Arc<Routing>>,
    pub lambda: Arc<LambdaService>,
    pub config: GatewayConfig,
    /// `127.0.0.1:PORT`.
    pub domain: String,
    pub logs: Logs,
    /// The project's `web/index.html`, served at `/` to browsers.
    pub page: Option<PathBuf>,
    connections: Mutex<HashMap<String, Connection>>,
    ids: AtomicU64,
    /// Connection tasks (until their `$disconnect` returns) and message invocations
    /// still running: shutdown waits for them before the handlers are stopped.
    in_flight: AtomicUsize,
    /// Warnings already shown.
    warned: Mutex<std::collections::BTreeSet<&'static str>>,
    /// The stages' throttling buckets.
    throttles: Throttles,
}

/// Counts one piece of work in `Gateway::in_flight` while it lives.
struct InFlight(Arc<Gateway>);

impl InFlight {
    fn new(gw: &Arc<Gateway>) -> InFlight {
        gw.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(gw.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Connection {
    outbox: Outbox,
    connected_at: SystemTime,
    last_active: Arc<Mutex<SystemTime>>,
    source_ip: String,
    user_agent: Option<String>,
    stage: String,
}

/// The client side of a connection, as events describe it.
#[derive(Clone)]
struct Peer {
    id: String,
    connected_at: SystemTime,
    source_ip: String,
    user_agent: Option<String>,
    /// `requestContext.authorizer` of every event, from the `$connect` authorizer.
    authorizer: Option<Value>,
}

/// What is on its way to a client: the frames queued (counted in bytes, up to
/// [`OUTBOX_LIMIT`]: a client that does not read is dropped, not buffered without
/// bound), and the signal that closes the connection at once, however full the queue.
#[derive(Clone)]
struct Outbox {
    frames: mpsc::UnboundedSender<Message>,
    queued: Arc<AtomicUsize>,
    close: Arc<tokio::sync::watch::Sender<Option<(u16, String)>>>,
}

/// The close asked for a connection (code and reason), once it is.
type Closed = tokio::sync::watch::Receiver<Option<(u16, String)>>;

/// Why a frame was not queued.
#[derive(Debug, PartialEq)]
enum NotQueued {
    /// The connection has ended.
    Gone,
    /// The client is not reading: the connection is being dropped.
    Stalled,
}

impl Outbox {
    /// The outbox, the queue's receiving end and the close signal's.
    fn new() -> (Outbox, mpsc::UnboundedReceiver<Message>, Closed) {
        let (frames, rx) = mpsc::unbounded_channel();
        let (close, closed) = tokio::sync::watch::channel(None);
        let outbox = Outbox {
            frames,
            queued: Arc::new(AtomicUsize::new(0)),
            close: Arc::new(close),
        };
        (outbox, rx, closed)
    }

    fn send(&self, frame: Message) -> Result<(), NotQueued> {
        let size = frame_size(&frame);
        let before = self.queued.fetch_add(size, Ordering::SeqCst);
        if before > 0 && before + size > OUTBOX_LIMIT {
            self.queued.fetch_sub(size, Ordering::SeqCst);
            self.close(STALLED.0, STALLED.1);
            return Err(NotQueued::Stalled);
        }
        self.frames.send(frame).map_err(|_| NotQueued::Gone)
    }

    /// Ends the connection: a close frame with `code` when the client still reads.
    fn close(&self, code: u16, reason: &str) {
        self.close.send_if_modified(|c| {
            if c.is_some() {
                return false;
            }
            *c = Some((code, reason.to_string()));
            true
        });
    }

    /// A frame has left the queue.
    fn sent(&self, frame: &Message) {
        self.queued.fetch_sub(frame_size(frame), Ordering::SeqCst);
    }
}

fn frame_size(frame: &Message) -> usize {
    match frame {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

impl Gateway {
    pub fn new(
        stages: BTreeMap<String, Served>,
        lambda: Arc<LambdaService>,
        config: GatewayConfig,
        domain: String,
        logs: Logs,
        page: Option<PathBuf>,
    ) -> Arc<Gateway> {
        Arc::new(Gateway {
            routing: std::sync::RwLock::new(Arc::new(Routing::new(stages))),
            lambda,
            config,
            domain,
            logs,
            page,
            connections: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            warned: Mutex::new(Default::default()),
            throttles: Throttles::default(),
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(ws_root))
            .route("/{stage}", get(ws_stage))
            .route(
                "/{stage}/@connections/{id}",
                get(connection_get)
                    .post(connection_post)
                    .delete(connection_delete),
            )
            // What handlers reach through AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI, which
            // replaces the whole endpoint (stage included): any stage's connection.
            .route(
                "/@connections/{id}",
                get(any_stage_get)
                    .post(any_stage_post)
                    .delete(any_stage_delete),
            )
            .with_state(self.clone())
    }

    /// What is served now.
    pub fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `stages` from now on. Open connections keep going: their next messages
    /// use the new routes (a connection whose stage is gone keeps its old routes).
    pub fn set_stages(&self, stages: BTreeMap<String, Served>) {
        *self.routing.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Routing::new(stages));
    }

    /// The current version of a connection's stage.
    fn current(&self, served: &Served) -> Served {
        self.routing()
            .stages
            .get(&served.stage)
            .filter(|s| s.api.logical_id == served.api.logical_id)
            .cloned()
            .unwrap_or_else(|| served.clone())
    }

    /// Takes connection `id` out of what the `@connections` API reaches (GET and POST
    /// answer 410 from then on): as it ends, or at once when it is deleted or dropped.
    fn forget(&self, id: &str) {
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Open connections.
    pub fn open(&self) -> usize {
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Closes every connection and waits until each one's `$disconnect` (and every
    /// message still being handled) has finished.
    pub async fn shutdown(&self, within: Duration) {
        for c in self
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
        {
            c.outbox.close(GOING_AWAY, "Going away");
        }
        let start = Instant::now();
        while self.in_flight.load(Ordering::SeqCst) > 0 && start.elapsed() < within {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// An id like API Gateway's: 12 base64 characters ending in `=`.
    fn new_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let seed = format!("{n}-{}-{:?}", std::process::id(), super::unix_now());
        let digest = Sha256::digest(seed.as_bytes());
        let mut id = aws_smithy_types::base64::encode(&digest[..8]);
        id.truncate(11);
        id.push('=');
        id.replace(['+', '/'], "A")
    }

    /// Invokes a route's integration and returns the handler's response.
    async fn invoke(&self, route: &DevRoute, event: Value) -> Result<Value, IntegrationError> {
        if let Some(http) = &route.http {
            let http = http.clone();
            let call = async move { super::integration::run(&http, &event).await };
            return match tokio::time::timeout(Duration::from_millis(route.timeout_ms), call).await {
                Err(_) => Err(IntegrationError::TimedOut),
                Ok(Err(e)) => Err(IntegrationError::Failed(e)),
                Ok(Ok(answer)) => Ok(json!({"statusCode": answer.status, "body": answer.body})),
            };
        }
        let Some(function) = &route.function else {
            return Err(IntegrationError::Failed(match &route.other_integration {
                Some(ty) => format!(
                    "route {} has an {ty} integration, which wsgen dev does not run (it runs AWS_PROXY, HTTP, HTTP_PROXY and MOCK)",
                    route.key
                ),
                None => format!(
                    "route {} has no integration wsgen dev can run (no target, or a Lambda function outside the app)",
                    route.key
                ),
            }));
        };
        self.invoke_function(function, event, route.timeout_ms)
            .await
    }

    /// Invokes a function, waiting at most `timeout_ms` for its answer.
    async fn invoke_function(
        &self,
        function: &str,
        event: Value,
        timeout_ms: u64,
    ) -> Result<Value, IntegrationError> {
        let lambda = self.lambda.clone();
        let function = function.to_string();
        let mut call = Box::pin(async move { lambda.invoke(&function, &event).await });
        // Awaited here (a task of its own would cost a hop between threads on every
        // message); only an invocation that outlives its integration's timeout moves to
        // a task, and keeps running, as on AWS.
        match tokio::time::timeout(Duration::from_millis(timeout_ms), &mut call).await {
            Err(_) => {
                tokio::spawn(call);
                Err(IntegrationError::TimedOut)
            }
            Ok(Err(e)) => Err(IntegrationError::Failed(e.to_string())),
            Ok(Ok(body)) => Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)),
        }
    }

    fn warn_once(&self, warning: &'static str) {
        if self
            .warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(warning)
        {
            if self.logs.json {
                crate::dev::emit(json!({"type": "warning", "message": warning}));
            } else {
                eprintln!("warning: {warning}");
            }
        }
    }

    fn log(&self, route: &str, connection: &str, status: u16, took: Duration, detail: &str) {
        if self.logs.json {
            crate::dev::emit(
                json!({"type": "request", "route": route, "connection": connection, "status": status, "ms": took.as_secs_f64() * 1000.0, "detail": detail}),
            );
        } else {
            eprintln!(
                "{route} {connection} {status} {:.1} ms{}",
                took.as_secs_f64() * 1000.0,
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            );
        }
    }
}

/// Why an integration gave no response.
enum IntegrationError {
    /// The route's integration timeout passed.
    TimedOut,
    /// The handler failed, crashed or timed out, or the integration is not served.
    Failed(String),
}

impl IntegrationError {
    /// The `message` of the error frame API Gateway sends the client.
    fn client_message(&self) -> &'static str {
        match self {
            IntegrationError::TimedOut => "Endpoint request timed out",
            IntegrationError::Failed(_) => "Internal server error",
        }
    }
}

impl std::fmt::Display for IntegrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntegrationError::TimedOut => f.write_str("Endpoint request timed out"),
            IntegrationError::Failed(m) => f.write_str(m),
        }
    }
}

/// The page's tag that carries the socket URL; empty in the file (the page then asks
/// for one, or takes `?url=`), filled in by `wsgen dev`.
pub const URL_META: &str = r#"<meta name="wsgen-websocket-url" content="">"#;

/// `web/index.html` with the URL of the root stage (else the first one) filled in.
fn page(gw: &Gateway) -> Option<Response> {
    let html = std::fs::read_to_string(gw.page.as_ref()?).ok()?;
    let routing = gw.routing();
    let stage = routing
        .root
        .clone()
        .or_else(|| routing.stages.keys().next().cloned())?;
    let url = format!("ws://{}/{stage}", gw.domain);
    let filled = html.replace(
        URL_META,
        &format!(r#"<meta name="wsgen-websocket-url" content="{url}">"#),
    );
    Some(axum::response::Html(filled).into_response())
}

async fn ws_root(
    State(gw): State<Arc<Gateway>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    headers: HeaderMap,
    query: RawQuery,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Response {
    // A browser asking for the page, not for a socket.
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return page(&gw).unwrap_or_else(|| rejection.into_response()),
    };
    let root = gw.routing().root.clone();
    match root {
        Some(stage) => connect(gw, stage, ws, headers, query, addr).await,
        None => not_found(&gw),
    }
}

async fn ws_stage(
    State(gw): State<Arc<Gateway>>,
    UrlPath(stage): UrlPath<String>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    headers: HeaderMap,
    query: RawQuery,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Response {
    match ws {
        Ok(ws) => connect(gw, stage, ws, headers, query, addr).await,
        // A browser asking for one of the page's files (`web/chat-client.js`).
        Err(rejection) => page_file(&gw, &stage).unwrap_or_else(|| rejection.into_response()),
    }
}

/// A file beside the page in `web/` (not the page itself, which `/` serves filled in),
/// by a plain name only: nothing outside `web/` and no hidden file is reachable.
fn page_file(gw: &Gateway, name: &str) -> Option<Response> {
    let plain = !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    let dir = gw.page.as_ref()?.parent()?;
    if !plain || gw.page.as_ref()?.file_name()? == name {
        return None;
    }
    let content_type = match name.rsplit_once('.')?.1 {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    let bytes = std::fs::read(dir.join(name)).ok()?;
    Some(([(axum::http::header::CONTENT_TYPE, content_type)], bytes).into_response())
}

fn not_found(gw: &Gateway) -> Response {
    let stages: Vec<String> = gw
        .routing()
        .stages
        .keys()
        .map(|s| format!("/{s}"))
        .collect();
    (
        StatusCode::NOT_FOUND,
        format!("no WebSocket stage here; stages: {}\n", stages.join(", ")),
    )
        .into_response()
}
