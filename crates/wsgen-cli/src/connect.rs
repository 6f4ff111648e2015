//! `wsgen connect`: a WebSocket client for the app's stages.
//!
//! Where it connects, the first that applies:
//! - `--url`;
//! - the running `wsgen dev` of the project, when no stack is named (the stages it
//!   serves are in `wsgen.out/dev/endpoints.json` while it runs);
//! - a deployed stack's stage: its `...WebSocketUrl` outputs, by stack (default: the
//!   project's only stack) and `--stage`. With `--endpoint-url` (an AWS-compatible
//!   engine), a stage's `wss://{api}.execute-api.{region}.amazonaws.com/{stage}` is
//!   reached at `{endpoint}/_aws/execute-api/{api}/{stage}`, where LocalStack and
//!   ministack serve it.
//!
//! What it sends: the `--send` messages; else, on a terminal, the lines typed (a line
//! editor with history); else stdin's lines. Then it reads for as long as `--wait`
//! says (default: until [`REPLY_WAIT`] passes without a frame), closes with 1000 and
//! waits for the server's close.
//!
//! What it prints on stdout: `> ` and each message sent (not on a terminal, where the
//! typed line shows), `< ` and each text message received, binary messages as their
//! length and hex; the connection and its close on stderr. With `--json`, every event is
//! one JSON object a line on stdout (`connected`, `sent`, `received`, `binary`,
//! `closed`).
//!
//! Exit codes (see [`Ending::exit_code`]): 0 the session ended cleanly (closed by
//! either side with 1000 or 1001), 3 the connection was refused (no answer, TLS, or a
//! handshake answered with an HTTP status), 4 it closed abnormally (another close code,
//! or no close frame); 1 and 2 as for every command.

use crate::cloud::aws::{sign_request, signing_identity, Aws, AwsOptions};
use crate::cloud::stacks;
use crate::error::ConnectError;
use crate::project::Project;
use crate::{CliError, Ui};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Request, Uri};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long to keep reading after the last message sent, without `--wait`: until this
/// passes without a frame.
pub const REPLY_WAIT: Duration = Duration::from_secs(2);
/// How long to wait for the server's close frame after sending ours.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// A TCP connection, TLS and the handshake that take longer than this are refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a binary message shown (as hex) in the human format.
const BINARY_SHOWN: usize = 32;
/// The file of `wsgen dev`'s stages while it runs, inside `wsgen.out/`.
pub const DEV_ENDPOINTS: &str = "dev/endpoints.json";

/// How long to read after the last message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLast {
    /// Until this passes without a frame.
    Quiet(Duration),
    /// For this long.
    For(Duration),
    /// Until the server closes or Ctrl-C.
    UntilClosed,
}

/// What `wsgen connect` was asked to do.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub project: Option<PathBuf>,
    pub stack: Option<String>,
    pub stage: Option<String>,
    pub url: Option<String>,
    pub aws: AwsOptions,
    pub send: Vec<String>,
    pub after_last: AfterLast,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub subprotocols: Vec<String>,
    pub sign: bool,
    pub json: bool,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Closed by either side with 1000 (normal) or 1001 (going away).
    Clean,
    /// Closed with another code, or without a close frame (`code` is then `None`).
    Abnormal { code: Option<u16>, reason: String },
}

impl Ending {
    /// 0 for a clean end, 4 for an abnormal one.
    pub fn exit_code(&self) -> i32 {
        match self {
            Ending::Clean => 0,
            Ending::Abnormal { .. } => 4,
        }
    }

    fn of_close(frame: Option<&CloseFrame>) -> Ending {
        match frame {
            Some(f) if matches!(f.code, CloseCode::Normal | CloseCode::Away) => Ending::Clean,
            Some(f) => Ending::Abnormal {
                code: Some(u16::from(f.code)),
                reason: f.reason.to_string(),
            },
            // A close frame without a code counts as 1005 (no status): not an error.
            None => Ending::Clean,
        }
    }
}

/// Runs a session; returns the exit code ([`Ending::exit_code`]).
pub fn connect(opts: &ConnectOptions, ui: &Ui) -> Result<i32, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the async runtime: {e}")))?;
    let ending = runtime.block_on(session(opts, ui))?;
    Ok(ending.exit_code())
}

/// Where to connect, and what said so (for the message).
#[derive(Debug, PartialEq, Eq)]
struct Target {
    url: String,
    from: String,
}

async fn session(opts: &ConnectOptions, ui: &Ui) -> Result<Ending, CliError> {
    let target = target(opts, ui).await?;
    let request = request(opts, &target.url).await?;
    let (socket, response) = handshake(&target.url, request).await?;
    let protocol = response
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|p| p.to_str().ok())
        .map(str::to_string);
    let terminal = !opts.json && opts.send.is_empty() && is_terminal();
    if opts.json {
        print_line(
            &json!({"type": "connected", "url": target.url, "protocol": protocol}).to_string(),
        );
    }
    ui.done(&format!(
        "connected to {} ({}{})",
        target.url,
        target.from,
        protocol
            .map(|p| format!(", subprotocol {p}"))
            .unwrap_or_default()
    ));
    if terminal {
        ui.info("type a message and Enter to send it; Ctrl-D or Ctrl-C closes");
        let saved = TerminalMode::save();
        let ending = talk(opts, ui, socket, Input::Terminal).await;
        drop(saved);
        ending
    } else if !opts.send.is_empty() {
        talk(opts, ui, socket, Input::Messages(opts.send.clone())).await
    } else {
        talk(opts, ui, socket, Input::Stdin).await
    }
}

/// Where the messages to send come from.
enum Input {
    Messages(Vec<String>),
    Stdin,
    Terminal,
}

fn is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// The terminal's mode when the session started, put back when it ends: the line
/// editor may be waiting for a line (in raw mode) when the server closes.
struct TerminalMode(Option<libc::termios>);

impl TerminalMode {
    fn save() -> TerminalMode {
        // SAFETY: tcgetattr writes a termios for fd 0 into the zeroed struct, or fails.
        unsafe {
            let mut mode: libc::termios = std::mem::zeroed();
            TerminalMode((libc::tcgetattr(0, &mut mode) == 0).then_some(mode))
        }
    }
}

impl Drop for TerminalMode {
    fn drop(&mut self) {
        if let Some(mode) = &self.0 {
            // SAFETY: `mode` is what tcgetattr gave for the same descriptor.
            unsafe {
                libc::tcsetattr(0, libc::TCSADRAIN, mode);
            }
        }
    }
}

/// Prints a line on stdout (errors, such as a closed pipe, end nothing: the session
/// goes on to its close).
fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Where received frames are printed: stdout, or above the line being typed.
#[derive(Clone)]
struct Printer {
    json: bool,
    color: bool,
    editor: Option<Arc<Mutex<Box<dyn rustyline::ExternalPrinter + Send>>>>,
}

impl Printer {
    fn print(&self, human: String, json: Value) {
        let line = if self.json { json.to_string() } else { human };
        match &self.editor {
            Some(p) => {
                let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
                if p.print(format!("{line}\n")).is_err() {
                    print_line(&line);
                }
            }
            None => print_line(&line),
        }
    }

    fn marker(&self, m: &str) -> String {
        if self.color {
            format!("\x1b[36m{m}\x1b[0m")
        } else {
            m.to_string()
        }
    }

    fn received(&self, message: &Message) {
        match message {
            Message::Text(t) => self.print(
                format!("{} {}", self.marker("<"), t.as_str()),
                json!({"type": "received", "text": t.as_str()}),
            ),
            Message::Binary(b) => {
                let shown = hex(&b[..b.len().min(BINARY_SHOWN)]);
                let more = if b.len() > BINARY_SHOWN { "…" } else { "" };
                self.print(
                    format!(
                        "{} [binary, {} bytes] {shown}{more}",
                        self.marker("<"),
                        b.len()
                    ),
                    json!({"type": "binary", "length": b.len(), "hex": hex(b)}),
                )
            }
            _ => {}
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

async fn talk(
    opts: &ConnectOptions,
    ui: &Ui,
    socket: Socket,
    input: Input,
) -> Result<Ending, CliError> {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut lines) = mpsc::unbounded_channel::<String>();
    let mut printer = Printer {
        json: opts.json,
        color: ui.color(),
        editor: None,
    };
    let interactive = matches!(input, Input::Terminal);
    match input {
        Input::Messages(messages) => {
            for m in messages {
                let _ = tx.send(m);
            }
            drop(tx);
        }
        Input::Stdin => {
            tokio::spawn(async move {
                let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
                while let Ok(Some(line)) = stdin.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        Input::Terminal => {
            let mut editor = rustyline::DefaultEditor::new()
                .map_err(|e| CliError::Usage(format!("cannot read the terminal: {e}")))?;
            if let Ok(p) = editor.create_external_printer() {
                printer.editor = Some(Arc::new(Mutex::new(Box::new(p))));
            }
            std::thread::spawn(move || read_lines(editor, tx));
        }
    }

    let mut input_open = true;
    let mut deadline: Option<Instant> = None;
    let after_last = if interactive {
        // Ctrl-D at the terminal: close now.
        AfterLast::For(Duration::ZERO)
    } else {
        opts.after_last
    };
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            line = lines.recv(), if input_open => match line {
                Some(text) => {
                    if let Err(e) = sink.send(Message::text(text.clone())).await {
                        return Ok(abnormal(ui, &printer, None, &format!("cannot send: {e}")));
                    }
                    if !interactive {
                        printer.print(
                            format!("{} {text}", printer.marker(">")),
                            json!({"type": "sent", "text": text}),
                        );
                    }
                }
                None => {
                    input_open = false;
                    deadline = match after_last {
                        AfterLast::Quiet(d) | AfterLast::For(d) => Some(Instant::now() + d),
                        AfterLast::UntilClosed => None,
                    };
                }
            },
            frame = stream.next() => match frame {
                Some(Ok(Message::Close(frame))) => {
                    let ending = Ending::of_close(frame.as_ref());
                    report_close(ui, &printer, Closer::Server, frame.as_ref());
                    return Ok(ending);
                }
                Some(Ok(message)) => {
                    printer.received(&message);
                    if let (false, AfterLast::Quiet(d)) = (input_open, after_last) {
                        deadline = Some(Instant::now() + d);
                    }
                }
                Some(Err(e)) => return Ok(abnormal(ui, &printer, None, &e.to_string())),
                None => {
                    return Ok(abnormal(ui, &printer, None, "the connection ended without a close frame"))
                }
            },
            _ = tokio::time::sleep_until(until), if deadline.is_some() => {
                return Ok(close(ui, &printer, &mut sink, &mut stream).await);
            },
            _ = &mut interrupted, if !interactive => {
                return Ok(close(ui, &printer, &mut sink, &mut stream).await);
            },
        }
    }
}

/// The terminal's lines, read with a line editor (history, editing) on a thread of
/// its own, until Ctrl-D or Ctrl-C.
fn read_lines(mut editor: rustyline::DefaultEditor, tx: mpsc::UnboundedSender<String>) {
    let history = crate::sources::data_dir().map(|d| d.join("connect-history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    while let Ok(line) = editor.readline("> ") {
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line.as_str());
        if tx.send(line).is_err() {
            break;
        }
    }
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = editor.save_history(h);
    }
}

fn abnormal(ui: &Ui, printer: &Printer, code: Option<u16>, reason: &str) -> Ending {
    if printer.json {
        printer.print(
            String::new(),
            json!({"type": "closed", "by": Closer::Server.name(), "code": code, "reason": reason}),
        );
    }
    ui.warn(&format!("the connection closed abnormally: {reason}"));
    Ending::Abnormal {
        code,
        reason: reason.to_string(),
    }
}

/// Which side sent the close frame: this client (`wsgen connect`) or the server.
#[derive(Clone, Copy)]
enum Closer {
    Client,
    Server,
}

impl Closer {
    /// As `--json`'s `by` says it.
    fn name(self) -> &'static str {
        match self {
            Closer::Client => "client",
            Closer::Server => "server",
        }
    }
}

fn report_close(ui: &Ui, printer: &Printer, by: Closer, frame: Option<&CloseFrame>) {
    let code = frame.map(|f| u16::from(f.code));
    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
    if printer.json {
        printer.print(
            String::new(),
            json!({"type": "closed", "by": by.name(), "code": code, "reason": reason}),
        );
    }
    let what = match code {
        Some(c) => format!(
            "{c}{}{}",
            describe_code(c)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        ),
        None => "without a code".into(),
    };
    let message = format!("closed by the {}: {what}", by.name());
    match Ending::of_close(frame) {
        Ending::Clean => ui.done(&message),
        Ending::Abnormal { .. } => ui.warn(&message),
    }
}

fn describe_code(code: u16) -> Option<&'static str> {
    Some(match code {
        1000 => "normal",
        1001 => "going away",
        1002 => "protocol error",
        1003 => "unsupported data",
        1006 => "abnormal",
        1007 => "invalid data",
        1008 => "policy violation",
        1009 => "message too big",
        1011 => "server error",
        1012 => "service restart",
        _ => return None,
    })
}

/// Sends our close (1000) and reads until the server's, or [`CLOSE_WAIT`].
async fn close(
    ui: &Ui,
    printer: &Printer,
    sink: &mut futures_util::stream::SplitSink<Socket, Message>,
    stream: &mut futures_util::stream::SplitStream<Socket>,
) -> Ending {
    let ours = CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    };
    if sink.send(Message::Close(Some(ours.clone()))).await.is_err() {
        report_close(ui, printer, Closer::Client, Some(&ours));
        return Ending::Clean;
    }
    let wait = tokio::time::sleep(CLOSE_WAIT);
    tokio::pin!(wait);
    loop {
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(message)) => printer.received(&message),
            },
            _ = &mut wait => break,
        }
    }
    report_close(ui, printer, Closer::Client, Some(&ours));
    Ending::Clean
}

// ---- where to connect ----

/// `wsgen dev`'s stages while it runs (`wsgen.out/dev/endpoints.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DevEndpoints {
    /// `127.0.0.1:port`.
    pub address: String,
    /// Stage name to its `ws://` URL.
    pub stages: std::collections::BTreeMap<String, String>,
    pub pid: u32,
}

async fn target(opts: &ConnectOptions, ui: &Ui) -> Result<Target, CliError> {
    if let Some(url) = &opts.url {
        return Ok(Target {
            url: url.clone(),
            from: "--url".into(),
        });
    }
    let project = Project::discover(opts.project.as_deref())?;
    if opts.stack.is_none() {
        if let Some(t) = dev_target(&project.out, opts.stage.as_deref()).await? {
            return Ok(t);
        }
    }
    let stack = match &opts.stack {
        Some(s) => s.clone(),
        None => only_stack(&project)?,
    };
    if opts.stack.is_none() {
        // Said before AWS is asked: an error from there (no region, no credentials) is
        // otherwise all a user who meant the local app would see.
        ui.info(&format!(
            "no `wsgen dev` runs for {}: looking up the deployed stack {stack}'s stages",
            project.dir.display()
        ));
    } else {
        ui.info(&format!("looking up stack {stack}'s stages"));
    }
    let aws = Aws::connect(&opts.aws).await?;
    let info = stacks::describe(&aws, &stack).await?.ok_or_else(|| {
        ConnectError::NoTarget(format!(
            "stack {stack} is not deployed in {} (`wsgen deploy {stack}` deploys it)",
            aws.place()
        ))
    })?;
    let stages = stage_urls(&info.outputs);
    let (stage, url) = choose(&stages, opts.stage.as_deref(), &format!("stack {stack}"))?;
    let url = match &opts.aws.endpoint_url {
        Some(endpoint) => engine_url(&url, endpoint).unwrap_or(url),
        None => url,
    };
    Ok(Target {
        url,
        from: format!("stack {stack}, stage {stage}"),
    })
}

/// The running `wsgen dev`'s stage, if one runs for the project.
async fn dev_target(out: &Path, stage: Option<&str>) -> Result<Option<Target>, CliError> {
    let Some(endpoints) = running_dev(out).await else {
        return Ok(None);
    };
    let stages: Vec<(String, String)> = endpoints.stages.into_iter().collect();
    let (stage, url) = choose(&stages, stage, "wsgen dev")?;
    Ok(Some(Target {
        url,
        from: format!("wsgen dev, stage {stage}"),
    }))
}

/// The `wsgen dev` running for the project whose assembly is `out`: its endpoints file,
/// if its address answers (a file left by a killed wsgen dev does not count).
pub(crate) async fn running_dev(out: &Path) -> Option<DevEndpoints> {
    let text = std::fs::read(out.join(DEV_ENDPOINTS)).ok()?;
    let endpoints = serde_json::from_slice::<DevEndpoints>(&text).ok()?;
    let answers = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect(&endpoints.address),
    )
    .await
    .is_ok_and(|c| c.is_ok());
    answers.then_some(endpoints)
}

/// The project's only stack, from its last synth.
fn only_stack(project: &Project) -> Result<String, CliError> {
    use crate::select::NoOnlyStack;
    crate::select::only_stack(&project.out).map_err(|e| {
        let why = match e {
            NoOnlyStack::NotSynthesized => "no stack is named (the project has not been synthesized: `wsgen synth` lists its stacks)".to_string(),
            NoOnlyStack::Stacks(names) => format!(
                "the app has {} stacks ({}): name one",
                names.len(),
                names.join(", ")
            ),
        };
        ConnectError::NoTarget(format!(
            "no `wsgen dev` runs for {} and {why}",
            project.dir.display()
        ))
        .into()
    })
}

/// A stack's stage URLs from its outputs: (stage, url) for every `...WebSocketUrl`
/// output (the stage is the URL's path).
fn stage_urls(outputs: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut stages: Vec<(String, String)> = outputs
        .iter()
        .filter(|(key, url)| key.ends_with("WebSocketUrl") && url.starts_with("ws"))
        .filter_map(|(_, url)| {
            let stage = url.split_once("://")?.1.split_once('/')?.1;
            Some((stage.trim_end_matches('/').to_string(), url.clone()))
        })
        .collect();
    stages.sort();
    stages.dedup();
    stages
}

/// The stage asked for, or the only one.
fn choose(
    stages: &[(String, String)],
    wanted: Option<&str>,
    place: &str,
) -> Result<(String, String), CliError> {
    let names = || {
        stages
            .iter()
            .map(|(s, _)| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (wanted, stages) {
        (_, []) => Err(ConnectError::NoTarget(format!(
            "{place} has no WebSocket stage (no `...WebSocketUrl` output)"
        ))
        .into()),
        (Some(w), _) => stages.iter().find(|(s, _)| s == w).cloned().ok_or_else(|| {
            ConnectError::NoTarget(format!("{place} has no stage `{w}` (it has: {})", names()))
                .into()
        }),
        (None, [one]) => Ok(one.clone()),
        (None, _) => Err(ConnectError::NoTarget(format!(
            "{place} has several stages ({}): choose one with --stage",
            names()
        ))
        .into()),
    }
}

/// A deployed stage's URL on an AWS-compatible engine at `endpoint`:
/// `wss://{api}.execute-api.{region}.amazonaws.com/{stage}` ->
/// `ws://{endpoint host}/_aws/execute-api/{api}/{stage}` (`wss` for an https endpoint).
fn engine_url(url: &str, endpoint: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let (host, stage) = rest.split_once('/')?;
    let api = host.split_once(".execute-api.")?.0;
    let (scheme, authority) = endpoint.split_once("://")?;
    let ws = if scheme == "https" { "wss" } else { "ws" };
    Some(format!(
        "{ws}://{}/_aws/execute-api/{api}/{stage}",
        authority.trim_end_matches('/')
    ))
}

/// The region of an execute-api host name (`{api}.execute-api.{region}.amazonaws.com`).
fn region_of(url: &str) -> Option<String> {
    let host = url.split_once("://")?.1.split(['/', ':', '?']).next()?;
    let region = host.split_once(".execute-api.")?.1.split('.').next()?;
    (!region.is_empty()).then(|| region.to_string())
}

// ---- the handshake ----

/// The handshake request: the URL with `--query` added, `--header`s, the offered
/// subprotocols and, with `--sign`, SigV4 headers.
async fn request(opts: &ConnectOptions, url: &str) -> Result<Request<()>, CliError> {
    let bad = |problem: String| ConnectError::BadUrl {
        url: url.to_string(),
        problem,
    };
    let mut full = url.to_string();
    if !opts.query.is_empty() {
        let encoded: Vec<String> = opts
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        full.push(if full.contains('?') { '&' } else { '?' });
        full.push_str(&encoded.join("&"));
    }
    let uri: Uri = full.parse().map_err(|e| bad(format!("{e}")))?;
    match uri.scheme_str() {
        Some("ws" | "wss") => {}
        other => {
            return Err(bad(format!(
                "the scheme is {}, not ws or wss",
                other.map_or("missing".into(), |s| format!("`{s}`"))
            ))
            .into())
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it has no host".into()).into());
    }
    let mut request = full
        .as_str()
        .into_client_request()
        .map_err(|e| bad(e.to_string()))?;
    let headers = request.headers_mut();
    for (name, value) in &opts.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CliError::Usage(format!("`{name}` is not a header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| CliError::Usage(format!("the value of header `{name}` is not valid")))?;
        headers.append(name, value);
    }
    if !opts.subprotocols.is_empty() {
        let offered = HeaderValue::from_str(&opts.subprotocols.join(", "))
            .map_err(|_| CliError::Usage("a --subprotocol is not a valid token".into()))?;
        headers.insert("sec-websocket-protocol", offered);
    }
    if opts.sign {
        sign(opts, &full, &mut request).await?;
    }
    Ok(request)
}

/// Percent-encodes a query string component (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY).to_string()
}

const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Adds SigV4 headers (service `execute-api`) for the request to `url`, with the
/// standard credential chain.
async fn sign(opts: &ConnectOptions, url: &str, request: &mut Request<()>) -> Result<(), CliError> {
    let (credentials, configured) = signing_identity(&opts.aws).await?;
    let region = opts
        .aws
        .region
        .clone()
        .or_else(|| region_of(url))
        .or(configured)
        .ok_or_else(|| ConnectError::Signing("no region: give --region".into()))?;
    // The handshake's own headers (Sec-WebSocket-Key, ...) are not signed: the request
    // line and the host are.
    sign_request(
        credentials,
        &region,
        "execute-api",
        url,
        SystemTime::now(),
        request,
    )
    .map_err(ConnectError::Signing)?;
    Ok(())
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// TCP, TLS for `wss` (the system's roots), and the WebSocket handshake, within
/// [`CONNECT_TIMEOUT`].
async fn handshake(
    url: &str,
    request: Request<()>,
) -> Result<
    (
        Socket,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    CliError,
> {
    let refused = |reason: String| ConnectError::Refused {
        url: url.to_string(),
        reason,
    };
    let uri = request.uri().clone();
    let tls = uri.scheme_str() == Some("wss");
    let host = uri.host().unwrap_or_default().to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let attempt = async {
        let addr = format!(
            "{}:{port}",
            host.trim_start_matches('[').trim_end_matches(']')
        );
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| refused(format!("`{host}` is not a TLS server name: {e}")))?;
            let connector = tokio_rustls::TlsConnector::from(tls_config());
            Box::new(
                connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| refused(format!("TLS: {e}")))?,
            )
        } else {
            Box::new(tcp)
        };
        tokio_tungstenite::client_async(request, stream)
            .await
            .map_err(|e| match e {
                tungstenite::Error::Http(response) => {
                    let status = response.status();
                    let body = response
                        .body()
                        .as_deref()
                        .map(|b| String::from_utf8_lossy(b).trim().to_string())
                        .filter(|b| !b.is_empty())
                        .map(|b| format!(": {b}"))
                        .unwrap_or_default();
                    refused(format!("the handshake was answered with {status}{body}"))
                }
                other => refused(other.to_string()),
            })
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(refused(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())).into()),
    }
}

/// rustls with the platform's root certificates (read once).
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring's default provider has suites for TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_come_from_the_url_outputs() {
        let outputs = std::collections::BTreeMap::from([
            (
                "ChatApiProdWebSocketUrl".to_string(),
                "wss://abc.execute-api.eu-west-1.amazonaws.com/prod".to_string(),
            ),
            (
                "ChatApiProdCallbackUrl".to_string(),
                "https://abc.execute-api.eu-west-1.amazonaws.com/prod".to_string(),
            ),
            (
                "ChatApiDevWebSocketUrl".to_string(),
                "wss://abc.execute-api.eu-west-1.amazonaws.com/dev".to_string(),
            ),
        ]);
        let stages = stage_urls(&outputs);
        assert_eq!(
            stages.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
            ["dev", "prod"]
        );
        assert!(choose(&stages, Some("prod"), "stack S")
            .unwrap()
            .1
            .ends_with("/prod"));
        let several = choose(&stages, None, "stack S").unwrap_err().to_string();
        assert!(several.contains("several stages (dev, prod)"), "{several}");
        let missing = choose(&stages, Some("qa"), "stack S")
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("no stage `qa` (it has: dev, prod)"),
            "{missing}"
        );
        assert!(choose(&[], None, "stack S").is_err());
    }

    #[test]
    fn engine_urls_and_regions() {
        let url = "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod";
        assert_eq!(
            engine_url(url, "http://127.0.0.1:4566").as_deref(),
            Some("ws://127.0.0.1:4566/_aws/execute-api/abc123/prod")
        );
        assert_eq!(
            engine_url(url, "https://engine.local/").as_deref(),
            Some("wss://engine.local/_aws/execute-api/abc123/prod")
        );
        assert_eq!(engine_url("ws://127.0.0.1:3000/dev", "http://x"), None);
        assert_eq!(region_of(url).as_deref(), Some("eu-west-1"));
        assert_eq!(region_of("ws://127.0.0.1:3000/dev"), None);
    }

    #[test]
    fn close_codes_decide_the_exit_code() {
        let frame = |code: u16| CloseFrame {
            code: CloseCode::from(code),
            reason: "why".into(),
        };
        assert_eq!(Ending::of_close(Some(&frame(1000))).exit_code(), 0);
        assert_eq!(Ending::of_close(Some(&frame(1001))).exit_code(), 0);
        assert_eq!(Ending::of_close(None).exit_code(), 0);
        assert_eq!(
            Ending::of_close(Some(&frame(1011))),
            Ending::Abnormal {
                code: Some(1011),
                reason: "why".into()
            }
        );
        assert_eq!(Ending::of_close(Some(&frame(1008))).exit_code(), 4);
        assert_eq!(
            ConnectError::Refused {
                url: "ws://x".into(),
                reason: "403".into()
            }
            .exit_code(),
            3
        );
    }

    fn opts() -> ConnectOptions {
        ConnectOptions {
            project: None,
            stack: None,
            stage: None,
            url: None,
            aws: AwsOptions {
                profile: None,
                region: None,
                endpoint_url: None,
            },
            send: Vec::new(),
            after_last: AfterLast::Quiet(REPLY_WAIT),
            headers: vec![("X-Trace".into(), "t1".into())],
            query: vec![("room".into(), "a b&c".into())],
            subprotocols: vec!["chat.v1".into(), "chat.v2".into()],
            sign: false,
            json: false,
        }
    }

    #[tokio::test]
    async fn the_handshake_request_carries_query_headers_and_subprotocols() {
        let r = request(&opts(), "ws://127.0.0.1:3000/dev").await.unwrap();
        assert_eq!(
            r.uri().to_string(),
            "ws://127.0.0.1:3000/dev?room=a%20b%26c"
        );
        assert_eq!(r.headers()["x-trace"], "t1");
        assert_eq!(r.headers()["sec-websocket-protocol"], "chat.v1, chat.v2");
        for bad in ["http://127.0.0.1/dev", "127.0.0.1:3000", "ws:///dev"] {
            let e = request(&opts(), bad).await.unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
    }

    #[test]
    fn signing_adds_sigv4_headers_for_execute_api() {
        let url = "wss://abc.execute-api.eu-west-1.amazonaws.com/prod?room=a";
        let mut r = url.into_client_request().unwrap();
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("token".into()),
            None,
            "test",
        );
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        sign_request(credentials, "eu-west-1", "execute-api", url, time, &mut r).unwrap();
        let auth = r.headers()["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/execute-api/aws4_request"
            ),
            "{auth}"
        );
        assert_eq!(r.headers()["x-amz-date"], "20231114T221320Z");
        assert_eq!(r.headers()["x-amz-security-token"], "token");
    }
}
