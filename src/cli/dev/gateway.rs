//! The local API Gateway: each WebSocket API stage at `ws://127.0.0.1:PORT/<stage>`,
//! with API Gateway's behaviour (`$connect` before the handshake completes, route
//! selection, two-way routes, error frames, limits, `$disconnect` however a connection
//! ends) and the `@connections` management API at `/<stage>/@connections/{id}`.

use super::lambda::{LambdaService, Logs};
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
    tx: mpsc::UnboundedSender<Outbound>,
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

enum Outbound {
    Send(Message),
    Close(u16, String),
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
            let _ = c.tx.send(Outbound::Close(GOING_AWAY, "Going away".into()));
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
        let seed = format!(
            "{n}-{}-{:?}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
        );
        let digest = Sha256::digest(seed.as_bytes());
        let mut id = aws_smithy_types::base64::encode(&digest[..8]);
        id.truncate(11);
        id.push('=');
        id.replace(['+', '/'], "A")
    }

    fn request_context(
        &self,
        served: &Served,
        route_key: &str,
        event_type: &str,
        peer: &Peer,
    ) -> Map<String, Value> {
        let (connection_id, connected_at) = (&peer.id, peer.connected_at);
        let now = SystemTime::now();
        let request_id = self.new_id();
        let mut identity = json!({"sourceIp": peer.source_ip});
        if let Some(ua) = &peer.user_agent {
            identity["userAgent"] = json!(ua);
        }
        let mut ctx = json!({
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": served.stage,
            "connectedAt": millis(connected_at),
            "requestTimeEpoch": millis(now),
            "identity": identity,
            "requestId": request_id,
            "domainName": self.domain,
            "connectionId": connection_id,
            "apiId": served.api.id,
        });
        if event_type == "MESSAGE" {
            ctx["messageId"] = json!(self.new_id());
        }
        if let Some(a) = &peer.authorizer {
            ctx["authorizer"] = a.clone();
        }
        ctx.as_object().cloned().unwrap_or_default()
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
        // The function keeps running after the integration times out, as on AWS.
        let call = tokio::spawn(async move { lambda.invoke(&function, &event).await });
        match tokio::time::timeout(Duration::from_millis(timeout_ms), call).await {
            Err(_) => Err(IntegrationError::TimedOut),
            Ok(Err(e)) => Err(IntegrationError::Failed(format!(
                "the invocation task failed: {e}"
            ))),
            Ok(Ok(Err(e))) => Err(IntegrationError::Failed(e.to_string())),
            Ok(Ok(Ok(body))) => Ok(serde_json::from_slice(&body).unwrap_or(Value::Null)),
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
                eprintln!("{}", json!({"type": "warning", "message": warning}));
            } else {
                eprintln!("warning: {warning}");
            }
        }
    }

    fn log(&self, route: &str, connection: &str, status: u16, took: Duration, detail: &str) {
        if self.logs.json {
            eprintln!(
                "{}",
                json!({"type": "request", "route": route, "connection": connection, "status": status, "ms": took.as_secs_f64() * 1000.0, "detail": detail})
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

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// The civil date and time of `t` (UTC): (year, month 1-12, day, seconds of the day).
fn civil(t: SystemTime) -> (i64, u32, u32, i64) {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = crate::constructs::cron::civil_from_days(days);
    (year, month, day, rem)
}

/// `23/Nov/2026:04:50:04 +0000`, as API Gateway writes `requestTime`.
fn request_time(t: SystemTime) -> String {
    let (year, month, day, rem) = civil(t);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `2026-11-23T04:50:04Z`, as EventBridge writes `time`.
pub fn iso_time(t: SystemTime) -> String {
    let (year, month, day, rem) = civil(t);
    format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn error_frame(message: &str, connection_id: &str, request_id: &str) -> Message {
    Message::Text(Utf8Bytes::from(
        json!({"message": message, "connectionId": connection_id, "requestId": request_id})
            .to_string(),
    ))
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
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    query: RawQuery,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Response {
    connect(gw, stage, ws, headers, query, addr).await
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

/// The handshake's headers as events carry them: `headers` and `multiValueHeaders`.
fn header_maps(headers: &HeaderMap) -> (Map<String, Value>, Map<String, Value>) {
    let (mut single, mut multi) = (Map::new(), Map::new());
    for (k, v) in headers {
        let v = v.to_str().unwrap_or("").to_string();
        single.insert(k.as_str().to_string(), json!(v));
        multi
            .entry(k.as_str().to_string())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(v));
    }
    (single, multi)
}

fn query_maps(query: Option<&str>) -> (Value, Value) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        single.insert(k.clone(), json!(v));
        multi
            .entry(k)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(json!(v));
    }
    if single.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (Value::Object(single), Value::Object(multi))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn connect(
    gw: Arc<Gateway>,
    stage: String,
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    query: RawQuery,
    addr: SocketAddr,
) -> Response {
    let Some(served) = gw.routing().stages.get(&stage).cloned() else {
        return not_found(&gw);
    };
    let started = Instant::now();
    let id = gw.new_id();
    let connected_at = SystemTime::now();
    let source_ip = addr.ip().to_string();
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let requested_protocol = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut peer = Peer {
        id: id.clone(),
        connected_at,
        source_ip: source_ip.clone(),
        user_agent: user_agent.clone(),
        authorizer: None,
    };
    let mut accepted_protocol = None;
    if let Some(route) = served.api.routes.get("$connect") {
        let (qs, mqs) = query_maps(query.0.as_deref());
        match &route.authorization {
            Authorization::Lambda(a) => {
                match authorize(&gw, &served, &peer, a, &headers, &qs, &mqs).await {
                    Ok(context) => peer.authorizer = Some(context),
                    Err((status, detail)) => {
                        gw.log("$connect", &id, status.as_u16(), started.elapsed(), &detail);
                        let body = match status {
                            StatusCode::UNAUTHORIZED => "Unauthorized\n",
                            StatusCode::FORBIDDEN => "Forbidden\n",
                            _ => "Internal server error\n",
                        };
                        return (status, body).into_response();
                    }
                }
            }
            Authorization::Iam => gw.warn_once(
                "routes with AWS_IAM authorization are not checked by wsgen dev: every handshake is let through",
            ),
            Authorization::None => {}
        }
        let (header_map, multi) = header_maps(&headers);
        let mut event = json!({
            "headers": header_map,
            "multiValueHeaders": multi,
            "requestContext": gw.request_context(&served, "$connect", "CONNECT", &peer),
            "isBase64Encoded": false,
        });
        if !qs.is_null() {
            event["queryStringParameters"] = qs;
            event["multiValueQueryStringParameters"] = mqs;
        }
        match gw.invoke(route, event).await {
            Err(e) => {
                gw.log("$connect", &id, 500, started.elapsed(), &e.to_string());
                return (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error\n")
                    .into_response();
            }
            Ok(response) => {
                let status = response
                    .get("statusCode")
                    .and_then(Value::as_u64)
                    .unwrap_or(200) as u16;
                if !(200..300).contains(&status) {
                    gw.log(
                        "$connect",
                        &id,
                        status,
                        started.elapsed(),
                        "rejected by the handler",
                    );
                    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
                    let body = response
                        .get("body")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    return (code, body).into_response();
                }
                let echoed = response
                    .pointer("/headers/Sec-WebSocket-Protocol")
                    .or_else(|| response.pointer("/headers/sec-websocket-protocol"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let (Some(want), Some(echo)) = (&requested_protocol, echoed) {
                    if want.split(',').any(|p| p.trim() == echo) {
                        accepted_protocol = Some(echo);
                    }
                }
            }
        }
    }
    gw.log("$connect", &id, 200, started.elapsed(), "");
    // A small read buffer (it grows for big messages): tungstenite's default of 128 KiB
    // per connection is most of an idle connection's memory.
    let mut ws = ws
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_FRAME)
        .read_buffer_size(READ_BUFFER);
    if let Some(p) = accepted_protocol {
        ws = ws.protocols([p]);
    }
    let gw2 = gw.clone();
    ws.on_upgrade(move |socket| async move { serve(gw2, served, peer, socket).await })
}

/// Runs a `$connect` route's Lambda REQUEST authorizer as API Gateway does: a
/// missing identity source is 401 without invoking it, a failed invocation 500 (401
/// when it fails with `Unauthorized`), a policy that does not allow
/// `execute-api:Invoke` on the route 403. Returns `requestContext.authorizer` for
/// the connection's events: the principal and the context.
async fn authorize(
    gw: &Gateway,
    served: &Served,
    peer: &Peer,
    authorizer: &DevAuthorizer,
    headers: &HeaderMap,
    qs: &Value,
    mqs: &Value,
) -> Result<Value, (StatusCode, String)> {
    for source in &authorizer.identity_sources {
        let value = if let Some(name) = source.strip_prefix("route.request.header.") {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        } else if let Some(name) = source.strip_prefix("route.request.querystring.") {
            qs.get(name).and_then(Value::as_str).map(str::to_string)
        } else {
            // Stage variables and context values: not modelled locally.
            continue;
        };
        if value.is_none_or(|v| v.is_empty()) {
            return Err((
                StatusCode::UNAUTHORIZED,
                format!("identity source {source} is missing: the authorizer is not invoked"),
            ));
        }
    }
    let Some(function) = &authorizer.function else {
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("authorizer {} has no Lambda function", authorizer.name),
        ));
    };
    let method_arn = format!(
        "arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{}/{}/$connect",
        served.api.id, served.stage
    );
    let (single, multi) = header_maps(headers);
    let event = json!({
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": if qs.is_null() { json!({}) } else { qs.clone() },
        "multiValueQueryStringParameters": if mqs.is_null() { json!({}) } else { mqs.clone() },
        "stageVariables": {},
        "requestContext": gw.request_context(served, "$connect", "CONNECT", peer),
    });
    let started = Instant::now();
    let answer = gw
        .invoke_function(function, event, DEFAULT_INTEGRATION_TIMEOUT_MS)
        .await
        .map_err(|e| {
            let status = if e.to_string().contains("Unauthorized") {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            (status, format!("authorizer {}: {e}", authorizer.name))
        })?;
    let bad = |why: &str| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("authorizer {} answered {why}", authorizer.name),
        )
    };
    let statements = match answer.pointer("/policyDocument/Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return Err(bad("without a policyDocument with a Statement")),
    };
    let matching = |effect: &str| {
        statements.iter().any(|st| {
            st.get("Effect").and_then(Value::as_str) == Some(effect)
                && strings(st.get("Action"))
                    .iter()
                    .any(|a| glob(a, "execute-api:Invoke"))
                && strings(st.get("Resource"))
                    .iter()
                    .any(|r| glob(r, &method_arn))
        })
    };
    if matching("Deny") || !matching("Allow") {
        return Err((
            StatusCode::FORBIDDEN,
            format!(
                "authorizer {} did not allow execute-api:Invoke on {method_arn}",
                authorizer.name
            ),
        ));
    }
    let mut context = Map::new();
    if let Some(p) = answer.get("principalId") {
        context.insert("principalId".into(), p.clone());
    }
    context.insert(
        "integrationLatency".into(),
        json!(started.elapsed().as_millis() as u64),
    );
    match answer.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if v.is_object() || v.is_array() {
                    return Err(bad(&format!(
                        "a context value `{k}` that is not a string, number or boolean"
                    )));
                }
                context.insert(k.clone(), v.clone());
            }
        }
        Some(_) => return Err(bad("a context that is not an object")),
    }
    Ok(Value::Object(context))
}

/// A policy's `Action` or `Resource`: one string or a list.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM's wildcard match: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

async fn serve(gw: Arc<Gateway>, served: Served, peer: Peer, socket: WebSocket) {
    let Peer {
        id,
        connected_at,
        source_ip,
        user_agent,
        ..
    } = peer.clone();
    use futures_util::{SinkExt, StreamExt};
    let _in_flight = InFlight::new(&gw);
    let (tx, mut rx) = mpsc::unbounded_channel::<Outbound>();
    let last_active = Arc::new(Mutex::new(SystemTime::now()));
    gw.connections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            id.clone(),
            Connection {
                tx: tx.clone(),
                connected_at,
                last_active: last_active.clone(),
                source_ip: source_ip.clone(),
                user_agent: user_agent.clone(),
                stage: served.stage.clone(),
            },
        );
    let (mut sink, mut stream) = socket.split();
    let opened = Instant::now();
    let mut idle_deadline = Instant::now() + gw.config.idle_timeout;
    let max_deadline = opened + gw.config.max_duration;
    // How the connection ended: (code, reason).
    let mut closing: Option<(u16, String)> = None;
    let ended: (u16, String) = loop {
        let deadline = idle_deadline.min(max_deadline);
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outbound::Send(m)) => {
                    // Traffic either way keeps a connection from being idle.
                    idle_deadline = Instant::now() + gw.config.idle_timeout;
                    if sink.send(m).await.is_err() {
                        break (1006, "Connection lost".into());
                    }
                }
                Some(Outbound::Close(code, reason)) => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(reason.clone()) }))).await;
                    closing = Some((code, reason.clone()));
                    // Wait (briefly) for the client's close; the read branch ends the loop.
                    idle_deadline = Instant::now() + Duration::from_secs(2);
                }
                None => break (1006, "Connection lost".into()),
            },
            msg = stream.next() => match msg {
                None => break closing.clone().unwrap_or((1006, "Connection lost".into())),
                Some(Err(e)) => {
                    if too_big(e) {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: TOO_BIG, reason: Utf8Bytes::from_static("Message too big") }))).await;
                        break (TOO_BIG, "Message too big".into());
                    }
                    break closing.clone().unwrap_or((1006, "Connection lost".into()));
                }
                Some(Ok(Message::Close(frame))) => {
                    if let Some((code, reason)) = closing.clone() {
                        break (code, reason);
                    }
                    let (code, reason) = frame.map(|f| (f.code, f.reason.to_string())).unwrap_or((1005, String::new()));
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: if code == 1005 { NORMAL } else { code }, reason: Utf8Bytes::from(reason.clone()) }))).await;
                    break (code, if reason.is_empty() { "Client closed".into() } else { reason });
                }
                Some(Ok(Message::Text(t))) => {
                    idle_deadline = Instant::now() + gw.config.idle_timeout;
                    *last_active.lock().unwrap_or_else(|e| e.into_inner()) = SystemTime::now();
                    spawn_message(&gw, &gw.current(&served), &peer, t.to_string(), false, tx.clone());
                }
                Some(Ok(Message::Binary(b))) => {
                    idle_deadline = Instant::now() + gw.config.idle_timeout;
                    *last_active.lock().unwrap_or_else(|e| e.into_inner()) = SystemTime::now();
                    let body = aws_smithy_types::base64::encode(&b);
                    spawn_message(&gw, &gw.current(&served), &peer, body, true, tx.clone());
                }
                Some(Ok(_)) => {} // ping and pong: answered by the WebSocket layer
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                if let Some(c) = closing.clone() {
                    break c;
                }
                // Idle timeout and maximum duration both close with 1001, as API Gateway does.
                let (code, reason) = (GOING_AWAY, "Going away");
                let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
                break (code, reason.into());
            }
        }
    };
    gw.connections
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    let served = gw.current(&served);
    if let Some(route) = served.api.routes.get("$disconnect") {
        let started = Instant::now();
        let mut ctx = gw.request_context(&served, "$disconnect", "DISCONNECT", &peer);
        ctx.insert("disconnectStatusCode".into(), json!(ended.0));
        ctx.insert("disconnectReason".into(), json!(ended.1));
        let event = json!({
            "headers": {"Host": gw.domain, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""},
            "multiValueHeaders": {"Host": [gw.domain], "x-api-key": [""], "X-Forwarded-For": [""], "x-restapi": [""]},
            "requestContext": ctx,
            "isBase64Encoded": false,
        });
        let result = gw.invoke(route, event).await;
        let (status, detail) = match result {
            Ok(_) => (200, format!("{} {}", ended.0, ended.1)),
            Err(e) => (500, e.to_string()),
        };
        gw.log("$disconnect", &id, status, started.elapsed(), &detail);
    }
}

/// A frame or message over the limits.
fn too_big(e: axum::Error) -> bool {
    e.into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

fn spawn_message(
    gw: &Arc<Gateway>,
    served: &Served,
    peer: &Peer,
    body: String,
    binary: bool,
    tx: mpsc::UnboundedSender<Outbound>,
) {
    let id = peer.id.as_str();
    let started = Instant::now();
    let selected = if binary {
        None
    } else {
        select_route(&served.api.route_selection, &body)
    };
    let route = selected
        .as_deref()
        .and_then(|k| served.api.routes.get(k))
        .filter(|r| !r.key.starts_with('$'))
        .or_else(|| served.api.routes.get("$default"))
        .cloned();
    let ctx = gw.request_context(
        served,
        route.as_ref().map_or("$default", |r| r.key.as_str()),
        "MESSAGE",
        peer,
    );
    let request_id = ctx
        .get("requestId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some(route) = route else {
        let _ = tx.send(Outbound::Send(error_frame("Forbidden", id, &request_id)));
        gw.log(
            selected.as_deref().unwrap_or("(none)"),
            id,
            403,
            started.elapsed(),
            "no route matches and there is no $default",
        );
        return;
    };
    let (gw, id) = (gw.clone(), id.to_string());
    let in_flight = InFlight::new(&gw);
    tokio::spawn(async move {
        let _in_flight = in_flight;
        let event = json!({"requestContext": ctx, "body": body, "isBase64Encoded": binary});
        match gw.invoke(&route, event).await {
            Ok(response) => {
                if route.two_way {
                    if let Some(body) = response.get("body") {
                        let text = match body {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        if !text.is_empty() {
                            let _ = tx.send(Outbound::Send(Message::Text(Utf8Bytes::from(text))));
                        }
                    }
                }
                gw.log(&route.key, &id, 200, started.elapsed(), "");
            }
            Err(e) => {
                let frame = error_frame(e.client_message(), &id, &request_id);
                let _ = tx.send(Outbound::Send(frame));
                gw.log(&route.key, &id, 500, started.elapsed(), &e.to_string());
            }
        }
    });
}

fn gone(id: &str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("GoneException"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (
        StatusCode::GONE,
        headers,
        json!({"message": format!("connection {id} is gone")}).to_string(),
    )
        .into_response()
}

/// Matches every stage in the `@connections` routes without one.
const ANY_STAGE: &str = "";

impl Connection {
    /// Whether the `@connections` API of `stage` reaches this connection.
    fn serves(&self, stage: &str) -> bool {
        stage == ANY_STAGE || self.stage == stage
    }
}

fn connection_of(gw: &Gateway, stage: &str, id: &str) -> Option<mpsc::UnboundedSender<Outbound>> {
    let conns = gw.connections.lock().unwrap_or_else(|e| e.into_inner());
    conns
        .get(id)
        .filter(|c| c.serves(stage))
        .map(|c| c.tx.clone())
}

async fn any_stage_post(
    gw: State<Arc<Gateway>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    connection_post(gw, UrlPath((ANY_STAGE.into(), id)), body).await
}

async fn any_stage_get(gw: State<Arc<Gateway>>, UrlPath(id): UrlPath<String>) -> Response {
    connection_get(gw, UrlPath((ANY_STAGE.into(), id))).await
}

async fn any_stage_delete(gw: State<Arc<Gateway>>, UrlPath(id): UrlPath<String>) -> Response {
    connection_delete(gw, UrlPath((ANY_STAGE.into(), id))).await
}

async fn connection_post(
    State(gw): State<Arc<Gateway>>,
    UrlPath((stage, id)): UrlPath<(String, String)>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_MESSAGE {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static("PayloadTooLargeException"),
        );
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            headers,
            json!({"message": format!("the message is {} bytes; the limit is {MAX_MESSAGE}", body.len())}).to_string(),
        )
            .into_response();
    }
    let Some(tx) = connection_of(&gw, &stage, &id) else {
        return gone(&id);
    };
    let message = match std::str::from_utf8(&body) {
        Ok(text) => Message::Text(Utf8Bytes::from(text.to_string())),
        Err(_) => Message::Binary(body),
    };
    if tx.send(Outbound::Send(message)).is_err() {
        return gone(&id);
    }
    StatusCode::OK.into_response()
}

async fn connection_get(
    State(gw): State<Arc<Gateway>>,
    UrlPath((stage, id)): UrlPath<(String, String)>,
) -> Response {
    let conns = gw.connections.lock().unwrap_or_else(|e| e.into_inner());
    let Some(c) = conns.get(&id).filter(|c| c.serves(&stage)) else {
        drop(conns);
        return gone(&id);
    };
    let iso = |t: SystemTime| {
        aws_smithy_types::DateTime::from(t)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default()
    };
    let mut identity = json!({"sourceIp": c.source_ip});
    if let Some(ua) = &c.user_agent {
        identity["userAgent"] = json!(ua);
    }
    let last = *c.last_active.lock().unwrap_or_else(|e| e.into_inner());
    let body = json!({
        "connectedAt": iso(c.connected_at),
        "lastActiveAt": iso(last),
        "identity": identity,
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

async fn connection_delete(
    State(gw): State<Arc<Gateway>>,
    UrlPath((stage, id)): UrlPath<(String, String)>,
) -> Response {
    let Some(tx) = connection_of(&gw, &stage, &id) else {
        return gone(&id);
    };
    let _ = tx.send(Outbound::Close(NORMAL, "Connection deleted".into()));
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_api_gateway_and_eventbridge_write_them() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_409_404);
        assert_eq!(request_time(t), "23/Nov/2026:04:50:04 +0000");
        assert_eq!(iso_time(t), "2026-11-23T04:50:04Z");
    }

    #[test]
    fn policy_wildcards() {
        assert!(glob("execute-api:*", "execute-api:Invoke"));
        assert!(glob("*", "anything"));
        assert!(glob(
            "arn:aws:execute-api:*:*:abc/*/$connect",
            "arn:aws:execute-api:us-east-1:0:abc/live/$connect"
        ));
        assert!(glob("a?c", "abc"));
        assert!(!glob(
            "arn:aws:execute-api:*:*:other/*",
            "arn:aws:execute-api:us-east-1:0:abc/live/$connect"
        ));
        assert!(!glob("abc", "abcd"));
    }
}
