//! `wsgen dev` on the stock handlers: real WebSocket clients (tokio-tungstenite), the
//! real handler binaries behind the local Lambda Runtime API, the official SDK's
//! `@connections` client, and the connections table in wsgen dev's embedded DynamoDB.

use crate::cli::Project;
use crate::engine::aws_env;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Dev {
    child: Child,
    address: String,
    /// The embedded DynamoDB's endpoint.
    dynamodb: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Dev {
    /// Starts `wsgen dev --json` and waits for its `ready` line (the first run builds
    /// the seven stock handlers).
    fn start(p: &Project, args: &[&str]) -> Dev {
        Dev::start_with(p, args, &[])
    }

    fn start_with(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Dev {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsgen"));
        cmd.env("WSGEN_DATA_DIR", crate::cli::data_dir());
        aws_env(&mut cmd);
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .args(["dev", "--port", "0", "--json"])
            .args(args)
            .current_dir(&p.dir)
            .env("CARGO_TARGET_DIR", &p.target)
            .env("CARGO_TERM_QUIET", "true")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The events (stdout) and the rest (stderr: builds, panics) as one stream.
        let (tx, lines) = mpsc::channel();
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [stdout, stderr] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut dev = Dev {
            child,
            address: String::new(),
            dynamodb: String::new(),
            lines,
            seen: Vec::new(),
        };
        let ready = dev.wait_for(Duration::from_secs(1500), |l| {
            l.contains(r#""type":"ready""#)
        });
        let v: Value = serde_json::from_str(&ready).unwrap();
        dev.address = v["address"].as_str().unwrap().to_string();
        dev.dynamodb = v["dynamodb"].as_str().unwrap_or_default().to_string();
        dev
    }

    /// Takes the lines written so far into `seen`.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
    }

    /// The next stderr line matching `pred` (all lines are kept in `seen`).
    fn wait_for(&mut self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no such line within {within:?}; stderr so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .0
}

/// The processes whose parent is `pid` (from /proc).
fn children(pid: u32) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{name}/stat")).ok()?;
            // pid (comm) state ppid ...: comm may hold spaces, so split after the ')'.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            (ppid == pid.to_string()).then_some(name)
        })
        .collect()
}

/// Ctrl-C, and a clean exit.
/// Stops wsgen dev with SIGTERM (as a process manager does; Ctrl-C's SIGINT is tested
/// on its own): it must exit 0 after closing its connections. Returns its output.
fn stop(mut dev: Dev) -> Vec<String> {
    Command::new("kill")
        .args(["-TERM", &dev.child.id().to_string()])
        .status()
        .unwrap();
    let exit = dev.child.wait().unwrap();
    dev.drain();
    assert!(exit.success(), "{exit:?}\n{}", dev.seen.join("\n"));
    std::mem::take(&mut dev.seen)
}

/// The HTTP status of a refused handshake.
async fn refused(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("{url}: {e}"),
        Ok(_) => panic!("{url}: the handshake was accepted"),
    }
}

async fn send(s: &mut Socket, v: Value) {
    s.send(Message::text(v.to_string())).await.unwrap();
}

/// The next text message (or close) within 10 s.
async fn next(s: &mut Socket) -> Message {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), s.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("a frame");
        if !matches!(m, Message::Ping(_) | Message::Pong(_)) {
            return m;
        }
    }
}

async fn text(s: &mut Socket) -> String {
    match next(s).await {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn close_code(s: &mut Socket) -> (CloseCode, String) {
    match next(s).await {
        Message::Close(Some(f)) => (f.code, f.reason.to_string()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

async fn whoami(s: &mut Socket) -> String {
    send(s, serde_json::json!({"action": "whoAmI"})).await;
    // Bare, as in seed 002.
    text(s).await
}

/// `wsgen logs` in the project shows the running wsgen dev's invocations (after
/// [`wsgen_connect_talks_to_wsgen_dev`] ran WhoAmI), chosen by function, and follows a
/// new one (SendTo's first, which starts an instance and so logs a REPORT line).
fn wsgen_logs_shows_wsgen_dev(p: &Project) {
    let json_lines = |stdout: &str| -> Vec<Value> {
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let reports = |lines: &[Value], source: &str| {
        lines
            .iter()
            .filter(|l| l["source"] == source)
            .filter(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("REPORT RequestId: "))
            })
            .count()
    };
    for name in ["WhoAmI", "stock-whoami"] {
        let run = p.wsgen(&["logs", name, "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let lines = json_lines(&run.stdout);
        assert!(reports(&lines, "Stock-WhoAmI") >= 1, "{}", run.stdout);
        assert!(
            lines.iter().all(|l| l["source"] == "Stock-WhoAmI"),
            "{}",
            run.stdout
        );
        assert!(
            run.stderr.contains("logs of wsgen dev's functions"),
            "{}",
            run.stderr
        );
    }
    let run = p.wsgen(&["logs", "WhoAmI", "--filter", "REPORT Duration"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .lines()
            .all(|l| l.contains("Stock-WhoAmI") && l.contains("REPORT RequestId: ")),
        "{}",
        run.stdout
    );
    let run = p.wsgen(&["logs", "--filter", "{ $.level = \"ERROR\" }"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("needs CloudWatch Logs"),
        "{}",
        run.stderr
    );

    let mut follow = Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .args(["logs", "SendTo", "--follow", "--json"])
        .current_dir(&p.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Nothing of SendTo yet; then its first invocation.
    let mut seen: Vec<Value> = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(2)) {
        seen.extend(json_lines(&line));
    }
    assert_eq!(reports(&seen, "Stock-SendTo"), 0, "{seen:?}");
    let run = p.wsgen(&["connect", "--send", r#"{"action":"sendto"}"#]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while reports(&seen, "Stock-SendTo") == 0 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.extend(json_lines(&line)),
            Err(_) => break,
        }
    }
    assert_eq!(reports(&seen, "Stock-SendTo"), 1, "{seen:?}");
    // Ctrl-C ends following cleanly.
    unsafe { libc::kill(follow.id() as i32, libc::SIGINT) };
    let out = follow.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `wsgen connect` in the project finds the running wsgen dev by itself: `--send`,
/// stdin's lines, the terminal (through a pseudo-terminal), and its exit codes.
fn wsgen_connect_talks_to_wsgen_dev(p: &Project, base: &str) {
    let whoami = r#"{"action":"whoAmI"}"#;
    let run = p.wsgen(&["connect", "--json", "--send", whoami]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.len(), 4, "{}", run.stdout);
    assert_eq!(
        events[0],
        serde_json::json!({"type": "connected", "url": format!("{base}/live"), "protocol": null})
    );
    assert_eq!(
        events[1],
        serde_json::json!({"type": "sent", "text": whoami})
    );
    assert_eq!(events[2]["type"], "received");
    assert_eq!(
        events[2]["text"].as_str().unwrap().len(),
        12,
        "{}",
        events[2]
    );
    assert_eq!(
        events[3],
        serde_json::json!({"type": "closed", "by": "client", "code": 1000, "reason": ""})
    );
    assert!(
        run.stderr.contains("wsgen dev, stage live"),
        "{}",
        run.stderr
    );

    // stdin's lines, in the human format; a bad action gets the $default route's reply.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .args(["connect", "--stage", "live"])
        .current_dir(&p.dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{whoami}").unwrap();
        writeln!(stdin, r#"{{"action":"dance"}}"#).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("> {whoami}"), "{stdout}");
    assert_eq!(lines[1], r#"> {"action":"dance"}"#, "{stdout}");
    assert!(
        lines[2].starts_with("< ") && lines[2].len() == 14,
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("< ") && lines[3].contains("sendmessage"),
        "{stdout}"
    );
    assert!(
        stderr.contains("closed by the client: 1000 (normal)"),
        "{stderr}"
    );

    // Refused (a stage that is not served): exit 3, with the status.
    let run = p.wsgen(&[
        "connect",
        "--url",
        &format!("{base}/nosuchstage"),
        "--send",
        "x",
    ]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("was refused"), "{}", run.stderr);
    let run = p.wsgen(&["connect", "--url", "ws://127.0.0.1:1/x", "--send", "x"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    // A stage that does not exist, named: the ones there are.
    let run = p.wsgen(&["connect", "--stage", "qa", "--send", "x"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no stage `qa` (it has: live)"),
        "{}",
        run.stderr
    );

    // The terminal (a line editor): a line typed is sent and its reply shows above the
    // prompt; the up arrow brings it back from the history; Ctrl-D closes cleanly.
    let (status, screen) = on_terminal(
        &p.dir,
        &["connect"],
        &[
            (whoami.to_string() + "\r", "< "),
            ("\x1b[A\r".to_string(), "< "),
            ("\u{4}".to_string(), "closed by the client: 1000"),
        ],
    );
    assert_eq!(status, Some(0), "{screen}");
    assert_eq!(screen.matches("< ").count(), 2, "{screen}");
}

/// Runs `wsgen ARGS` in `dir` on a pseudo-terminal, typing each input once the screen
/// shows what came before (or the prompt) and waiting for its expected text; returns
/// the exit code and everything the terminal showed.
fn on_terminal(
    dir: &std::path::Path,
    args: &[&str],
    script: &[(String, &str)],
) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, slave) = unsafe {
        let (mut m, mut s) = (0, 0);
        assert_eq!(
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null()
            ),
            0
        );
        (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s))
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsgen"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .env("WSGEN_DATA_DIR", crate::cli::data_dir())
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave))
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = String::new();
    let wait_for = |screen: &mut String, text: &str, from: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !screen[from.min(screen.len())..].contains(text) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(bytes) => screen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("`{text}` never showed; the terminal:\n{screen}"),
            }
        }
    };
    wait_for(&mut screen, "> ", 0);
    for (input, expected) in script {
        let from = screen.len();
        master.write_all(input.as_bytes()).unwrap();
        wait_for(&mut screen, expected, from);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(bytes) = rx.recv_timeout(Duration::from_millis(200)) {
        screen.push_str(&String::from_utf8_lossy(&bytes));
    }
    (status, screen)
}

/// SDK configuration for a local endpoint.
async fn local_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(wsgen_cli::cloud::aws::https_client())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .load()
        .await
}

/// A DynamoDB client signing as the app's function `logical_id` does under wsgen dev.
async fn as_function(endpoint: &str, logical_id: &str) -> aws_sdk_dynamodb::Client {
    let credentials = aws_credential_types::Credentials::new(
        wsgen_cli::dev::iam::access_key(logical_id),
        "local",
        None,
        None,
        "wsgen-dev",
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(wsgen_cli::cloud::aws::https_client())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

async fn connection_ids(endpoint: &str, table: &str) -> Vec<String> {
    let ddb = aws_sdk_dynamodb::Client::new(&local_config(endpoint).await);
    let out = ddb.scan().table_name(table).send().await.unwrap();
    let mut ids: Vec<String> = out
        .items()
        .iter()
        .filter_map(|i| i.get("connectionId")?.as_s().ok().cloned())
        .collect();
    ids.sort();
    ids
}

/// Waits until the table holds exactly `want` (the handlers write asynchronously to
/// the client's view).
async fn table_becomes((endpoint, table): (&str, &str), mut want: Vec<String>) {
    want.sort();
    for _ in 0..100 {
        if connection_ids(endpoint, table).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(connection_ids(endpoint, table).await, want);
}

#[test]
fn the_stock_app_runs_locally_as_on_api_gateway() {
    // The release zips the runtime test bundles too: no second build of the handlers.
    let p = Project::stock_bundled();
    // One stage (the other API's is tested below): served at the root path too.
    let mut dev = Dev::start(
        p,
        &[
            "--idle-timeout",
            "6s",
            "--release",
            "--stage",
            "live",
            "--schedule-interval",
            "1s",
        ],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = format!("ws://{}", dev.address);
    let dynamodb = dev.dynamodb.clone();
    let table = (dynamodb.as_str(), "Stock-Connections");
    let callback = format!("http://{}/live", dev.address);
    wsgen_connect_talks_to_wsgen_dev(p, &base);
    wsgen_logs_shows_wsgen_dev(p);
    let idg = rt.block_on(async {
        // Three clients, one through the root path (one API, one stage).
        let mut a = connect(&format!("{base}/live")).await;
        let mut b = connect(&format!("{base}/live")).await;
        let mut c = connect(&format!("{base}/")).await;
        let (ida, idb, idc) = (
            whoami(&mut a).await,
            whoami(&mut b).await,
            whoami(&mut c).await,
        );
        assert_eq!(ida.len(), 12, "{ida}");
        table_becomes(table, vec![ida.clone(), idb.clone(), idc.clone()]).await;

        // The chat protocol: everyone else receives the data.
        send(
            &mut a,
            serde_json::json!({"action": "sendmessage", "data": "hello"}),
        )
        .await;
        assert_eq!(text(&mut b).await, "hello");
        assert_eq!(text(&mut c).await, "hello");

        // seed 002: sendto one connection; nothing comes back to the sender (the next
        // frame it gets answers its next message).
        send(
            &mut a,
            serde_json::json!({"action": "sendto", "connectionId": idb, "message": "hi b"}),
        )
        .await;
        assert_eq!(text(&mut b).await, "hi b");

        // $default: unknown actions, non-JSON and binary messages.
        send(&mut a, serde_json::json!({"action": "dance"})).await;
        let reply: Value = serde_json::from_str(&text(&mut a).await).unwrap();
        assert_eq!(reply["error"], "unknown action `dance`");
        a.send(Message::text("not json")).await.unwrap();
        assert!(text(&mut a).await.contains("messages are JSON objects"));
        a.send(Message::binary(vec![0u8, 159, 146, 150]))
            .await
            .unwrap();
        assert!(text(&mut a).await.contains("messages are JSON objects"));

        // A handler that crashes: API Gateway's error frame, and the next invocation
        // gets a fresh instance. Past the function's timeout (1 s) the instance is
        // killed: an error too. Past the route's integration timeout (300 ms on
        // `hurry`): "Endpoint request timed out".
        let error_message = |frame: String| -> String {
            let v: Value = serde_json::from_str(&frame).unwrap();
            v["message"].as_str().unwrap_or_default().to_string()
        };
        send(&mut a, serde_json::json!({"action": "crash"})).await;
        assert_eq!(error_message(text(&mut a).await), "Internal server error");
        send(&mut a, serde_json::json!({"action": "sleep", "ms": 10})).await;
        assert_eq!(text(&mut a).await, r#"{"slept":10}"#);
        send(&mut a, serde_json::json!({"action": "sleep", "ms": 1500})).await;
        assert_eq!(error_message(text(&mut a).await), "Internal server error");
        send(&mut a, serde_json::json!({"action": "hurry", "ms": 800})).await;
        assert_eq!(
            error_message(text(&mut a).await),
            "Endpoint request timed out"
        );
        send(&mut a, serde_json::json!({"action": "hurry"})).await;
        assert_eq!(text(&mut a).await, r#"{"slept":0}"#);

        // @connections through the official SDK client.
        let config = local_config(&callback).await;
        let connections = wsgen_handler::Connections::new(&config, &callback);
        let info = connections
            .get(&ida)
            .await
            .unwrap()
            .expect("a is connected");
        assert_eq!(info.source_ip.as_deref(), Some("127.0.0.1"));
        assert!(info.connected_at.unwrap() <= info.last_active_at.unwrap());
        assert_eq!(
            connections.post(&idb, "from the server").await.unwrap(),
            wsgen_handler::Delivery::Delivered
        );
        assert_eq!(text(&mut b).await, "from the server");
        assert_eq!(
            connections.post("AAAAAAAAAAA=", "x").await.unwrap(),
            wsgen_handler::Delivery::Gone,
            "410 GoneException for an unknown id"
        );
        // Over 128 KB: refused (413 on AWS), and nothing reaches the client.
        let too_big = connections.post(&idb, vec![b'x'; 129 * 1024]).await;
        assert!(
            format!("{too_big:?}").contains("413")
                || format!("{too_big:?}").contains("PayloadTooLarge"),
            "{too_big:?}"
        );

        // DELETE closes the connection and its $disconnect runs.
        assert_eq!(
            connections.delete(&idc).await.unwrap(),
            wsgen_handler::Delivery::Delivered
        );
        assert_eq!(close_code(&mut c).await.0, CloseCode::Normal);
        table_becomes(table, vec![ida.clone(), idb.clone()]).await;
        assert_eq!(
            connections.get(&idc).await.unwrap(),
            None,
            "gone after DELETE"
        );

        // A message over 128 KB closes with 1009.
        a.send(Message::text("x".repeat(130 * 1024))).await.unwrap();
        assert_eq!(close_code(&mut a).await.0, CloseCode::Size);
        table_becomes(table, vec![idb.clone()]).await;

        // One frame over 32 KB (a message well under 128 KB) closes with 1009 too.
        let mut h = connect(&format!("{base}/live")).await;
        h.send(Message::text("y".repeat(40 * 1024))).await.unwrap();
        assert_eq!(close_code(&mut h).await.0, CloseCode::Size);
        table_becomes(table, vec![idb.clone()]).await;

        // A subprotocol the $connect handler does not echo is not accepted.
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("{base}/live"),
            )
            .unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "chat.v1".parse().unwrap());
        let refused = tokio_tungstenite::connect_async(request).await;
        assert!(
            format!("{:?}", refused.as_ref().err()).contains("SubProtocol"),
            "{:?}",
            refused.map(|(_, r)| r)
        );
        table_becomes(table, vec![idb.clone()]).await;

        // A client's own close.
        b.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
        table_becomes(table, vec![]).await;

        // The ticker's schedule (every second here) pushes prices to subscribers.
        let mut f = connect(&format!("{base}/live")).await;
        send(
            &mut f,
            serde_json::json!({"action": "subscribe", "symbol": "AMZN"}),
        )
        .await;
        assert_eq!(text(&mut f).await, r#"{"subscribed":"AMZN"}"#);
        let update: Value = serde_json::from_str(&text(&mut f).await).unwrap();
        assert_eq!(
            (update["type"].as_str(), update["symbol"].as_str()),
            (Some("price"), Some("AMZN")),
            "{update}"
        );
        f.close(None).await.unwrap();
        table_becomes(table, vec![]).await;

        // A TCP connection dropped without a close frame: $disconnect with 1006.
        let mut g = connect(&format!("{base}/live")).await;
        let idg = whoami(&mut g).await;
        drop(g);
        table_becomes(table, vec![]).await;

        // An idle connection is closed after --idle-timeout with 1001.
        let mut d = connect(&format!("{base}/live")).await;
        let (code, reason) = close_code(&mut d).await;
        assert_eq!((code, reason.as_str()), (CloseCode::Away, "Going away"));
        table_becomes(table, vec![]).await;

        // Churn: 2,000 connections opened and closed, 25 at a time.
        let url = format!("{base}/live");
        for _ in 0..80 {
            let batch = (0..25).map(|_| async {
                let mut s = connect(&url).await;
                s.close(None).await.unwrap();
                while let Some(Ok(_)) = s.next().await {}
            });
            futures_util::future::join_all(batch).await;
        }
        table_becomes(table, vec![]).await;
        idg
    });
    // Local IAM on the embedded DynamoDB: OnConnect may write the connections table
    // (grant_write) but not read it; WhoAmI has no grant on it at all. Callers that are
    // not the app's functions (the other checks here) may do anything.
    rt.block_on(async {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        let connect = as_function(&dynamodb, "OnConnect").await;
        connect
            .put_item()
            .table_name("Stock-Connections")
            .item("connectionId", S("iam-check".into()))
            .send()
            .await
            .unwrap();
        let denied = connect
            .get_item()
            .table_name("Stock-Connections")
            .key("connectionId", S("iam-check".into()))
            .send()
            .await
            .unwrap_err();
        let message = format!("{:?}", denied.into_service_error());
        assert!(
            message.contains("AccessDenied")
                && message.contains("is not authorized to perform: dynamodb:GetItem"),
            "{message}"
        );
        let who = as_function(&dynamodb, "WhoAmI").await;
        let denied = who
            .delete_item()
            .table_name("Stock-Connections")
            .key("connectionId", S("iam-check".into()))
            .send()
            .await
            .unwrap_err();
        assert!(format!("{:?}", denied.into_service_error()).contains("dynamodb:DeleteItem"),);
        connect
            .delete_item()
            .table_name("Stock-Connections")
            .key("connectionId", S("iam-check".into()))
            .send()
            .await
            .unwrap();
    });
    let denied = dev.wait_for(Duration::from_secs(10), |l| {
        l.contains("Stock-OnConnect") && l.contains("denied dynamodb:GetItem")
    });
    assert!(
        denied.contains("table/Stock-Connections")
            && denied.contains("add `table.grant_read(&function)`"),
        "{denied}"
    );

    // A table's stream (Events, one record a batch, at most 3 retries): the misbehaving
    // handler fails `flaky` twice, then handles it; `poison` always fails and is skipped
    // after 3 retries, holding `next` back until then: in order, as Lambda does.
    rt.block_on(async {
        let ddb = aws_sdk_dynamodb::Client::new(&local_config(&dynamodb).await);
        for (id, failures) in [("flaky", "2"), ("poison", "99"), ("next", "0")] {
            ddb.put_item()
                .table_name("Stock-Events")
                .item("id", aws_sdk_dynamodb::types::AttributeValue::S(id.into()))
                .item(
                    "failures",
                    aws_sdk_dynamodb::types::AttributeValue::N(failures.into()),
                )
                .send()
                .await
                .unwrap();
        }
    });
    dev.wait_for(Duration::from_secs(60), |l| {
        l.contains("record next handled after 0 failures")
    });
    // Its delivery's own line comes once the invocation has returned (before or after
    // the handler's log line: two streams): two deliveries succeeded, flaky's and next's.
    let handled = |l: &str| {
        l.contains(r#""type":"stream""#)
            && l.contains("Stock-Events")
            && l.contains(r#""status":200"#)
    };
    while dev.seen.iter().filter(|l| handled(l)).count() < 2 {
        dev.wait_for(Duration::from_secs(10), handled);
    }
    let deliveries: Vec<String> = dev
        .seen
        .iter()
        .filter(|l| l.contains(r#""type":"stream""#) && l.contains("Stock-Events"))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let detail = v["detail"].as_str().unwrap_or_default();
            let outcome = detail.rsplit("; ").next().unwrap_or_default();
            format!("{} {outcome}", v["status"])
        })
        .collect();
    assert_eq!(
        deliveries,
        [
            "500 retrying in 1 s",
            "500 retrying in 2 s",
            "200 ",
            "500 retrying in 1 s",
            "500 retrying in 2 s",
            "500 retrying in 4 s",
            "500 skipped after 3 retries (MaximumRetryAttempts)",
            "200 ",
        ],
        "{}",
        dev.seen.join("\n")
    );
    assert!(dev
        .seen
        .iter()
        .any(|l| l.contains("record flaky handled after 2 failures")));

    dev.drain();
    let disconnects: Vec<&String> = dev
        .seen
        .iter()
        .filter(|l| l.contains(r#""route":"$disconnect""#))
        .collect();
    assert!(
        dev.seen.iter().any(|l| l.contains(r#""type":"schedule""#)
            && l.contains(r#""function":"Ticker""#)
            && l.contains(r#""status":200"#)),
        "{}",
        dev.seen.join("\n")
    );
    let misbehave: Vec<&String> = dev
        .seen
        .iter()
        .filter(|l| l.contains("Misbehave"))
        .collect();
    assert!(
        misbehave.iter().any(|l| l.contains("crashed"))
            && misbehave.iter().any(|l| l.contains("timed out after 1")),
        "{misbehave:?}"
    );
    assert!(
        disconnects
            .iter()
            .any(|l| l.contains(&idg) && l.contains("1006 Connection lost")),
        "a dropped TCP connection: {disconnects:?}"
    );
    let connects = dev
        .seen
        .iter()
        .filter(|l| l.contains(r#""route":"$connect""#) && l.contains(r#""status":200"#))
        .count();
    assert!(connects >= 2_000, "{connects} connects");
    // However many connections came and went, the handlers' processes stay within
    // their pools (reserved concurrency, else 10 per function).
    let handler_pids = children(dev.child.id());
    assert!(
        !handler_pids.is_empty() && handler_pids.len() <= 9 * 10,
        "{handler_pids:?}"
    );
    for reason in [
        "1000 Connection deleted",
        "1009 Message too big",
        "1000 bye",
        "1001 Going away",
    ] {
        assert!(
            disconnects.iter().any(|l| l.contains(reason)),
            "{reason}: {disconnects:?}"
        );
    }

    // Ctrl-C: open connections are closed with 1001, their $disconnect runs, wsgen
    // exits 0, and the embedded DynamoDB's data on disk has the table empty.
    let mut e = rt.block_on(connect(&format!("{base}/live")));
    let ide = rt.block_on(async {
        let id = whoami(&mut e).await;
        table_becomes(table, vec![id.clone()]).await;
        let status = Command::new("kill")
            .args(["-INT", &dev.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(close_code(&mut e).await.0, CloseCode::Away);
        id
    });
    let exit = dev.child.wait().unwrap();
    dev.drain();
    assert!(exit.success(), "{exit:?}\n{}", dev.seen.join("\n"));
    // No handler process outlives wsgen dev (killed as it exits: give the kernel a
    // moment, and count a zombie awaiting its reaper as gone).
    let running = |pid: &String| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let state = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .next()?
                    .to_string();
                Some(state != "Z" && state != "X")
            })
            .unwrap_or(false)
    };
    let mut alive: Vec<&String> = handler_pids.iter().filter(|p| running(p)).collect();
    for _ in 0..50 {
        if alive.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        alive.retain(|p| running(p));
    }
    assert!(
        alive.is_empty(),
        "handler processes left running: {alive:?}"
    );
    // Each instance's first invocation is reported as Lambda's REPORT line does, with
    // the init duration.
    let report = dev
        .seen
        .iter()
        .find(|l| l.contains(r#""function":"Stock-WhoAmI""#) && l.contains("REPORT RequestId: "))
        .unwrap_or_else(|| panic!("no REPORT line:\n{}", dev.seen.join("\n")));
    for part in [
        "\\tDuration: ",
        " ms\\tMax Memory Used: ",
        " MB\\tInit Duration: ",
    ] {
        assert!(report.contains(part), "{part}: {report}");
    }
    assert!(
        dev.seen
            .iter()
            .any(|l| l.contains(r#""route":"$disconnect""#)
                && l.contains(&ide)
                && l.contains(r#""status":200"#)),
        "{}",
        dev.seen.join("\n")
    );
    let left =
        crate::dynamodb::stored_items(&p.dir.join("wsgen.out/dev/dynamodb"), "Stock-Connections");
    assert!(left.is_empty(), "{left:?}");

    // The other API: its $connect has a Lambda REQUEST authorizer on `?token=`.
    let mut dev = Dev::start(
        p,
        &[
            "--release",
            "--stage",
            "secure",
            "--max-connection-duration",
            "4s",
        ],
    );
    let base = format!("ws://{}/secure", dev.address);
    rt.block_on(async {
        // No token: 401 without invoking the authorizer. A wrong one: 403.
        assert_eq!(refused(&base).await, 401);
        assert_eq!(refused(&format!("{base}?token=")).await, 401);
        assert_eq!(refused(&format!("{base}?token=guess")).await, 403);
        // alice's token: connected, and later events carry the authorizer's context.
        let mut s = connect(&format!("{base}?token=alice-token")).await;
        send(&mut s, serde_json::json!({"action": "context"})).await;
        let me: Value = serde_json::from_str(&text(&mut s).await).unwrap();
        assert_eq!(me["authorizer"]["principalId"], "alice", "{me}");
        assert_eq!(me["authorizer"]["user"], "alice", "{me}");
        assert!(me["authorizer"]["integrationLatency"].is_u64(), "{me}");
        // Local IAM: SendTo's role grants POST on live's @connections only, so its post
        // to this stage's connection is denied as on AWS; the handler fails.
        let id = whoami(&mut s).await;
        send(
            &mut s,
            serde_json::json!({"action": "sendto", "connectionId": id, "message": "hi"}),
        )
        .await;
        let error: Value = serde_json::from_str(&text(&mut s).await).unwrap();
        assert_eq!(error["message"], "Internal server error", "{error}");
        // The maximum connection duration (4 s here) closes it with 1001, however busy.
        let (code, reason) = close_code(&mut s).await;
        assert_eq!((code, reason.as_str()), (CloseCode::Away, "Going away"));
    });
    dev.drain();
    let connects: Vec<&String> = dev
        .seen
        .iter()
        .filter(|l| l.contains(r#""route":"$connect""#))
        .collect();
    assert!(
        connects[0].contains(r#""status":401"#) && connects[0].contains("not invoked"),
        "{connects:?}"
    );
    assert!(connects[2].contains(r#""status":403"#), "{connects:?}");
    let denied = dev
        .seen
        .iter()
        .find(|l| l.contains("Stock-SendTo") && l.contains("denied POST @connections"))
        .unwrap_or_else(|| panic!("no denial logged:\n{}", dev.seen.join("\n")));
    for part in [
        "/secure/POST/@connections/",
        "add `stage.grant_manage_connections(&function)` for stage `secure`",
    ] {
        assert!(denied.contains(part), "{part}: {denied}");
    }
    stop(dev);

    // Watch mode: the project changes under a running wsgen dev (every stage served).
    let mut dev = Dev::start(p, &["--release"]);
    let base = format!("ws://{}/live", dev.address);
    let mut w = rt.block_on(connect(&base));
    let id = rt.block_on(whoami(&mut w));
    // A handler that does not compile: reported, and the last good build serves on.
    let whoami_src = p.dir.join("lambdas/whoami/src/lib.rs");
    let good = std::fs::read_to_string(&whoami_src).unwrap();
    std::fs::write(&whoami_src, format!("{good}\nfn broken( {{")).unwrap();
    let failed = dev.wait_for(Duration::from_secs(600), |l| {
        l.contains(r#""event":"build-failed""#)
    });
    assert!(
        failed.contains("still serving the last good build"),
        "{failed}"
    );
    assert!(
        dev.seen.iter().any(|l| l.contains("whoami/src/lib.rs")),
        "cargo's error names the file: {}",
        dev.seen.join("\n")
    );
    assert_eq!(rt.block_on(whoami(&mut w)), id);
    // A new version of the handler and a new route: both served, the socket kept.
    std::fs::write(
        &whoami_src,
        good.replace(
            "WsResponse::text(req.connection_id)",
            "WsResponse::text(format!(\"{} version 2\", req.connection_id))",
        ),
    )
    .unwrap();
    // And a new stage, which `wsgen connect` finds once the app is reloaded.
    let infra = p.dir.join("infra/src/main.rs");
    let app = std::fs::read_to_string(&infra).unwrap();
    let edited = app
        .replace(
            r#"("whoAmI", &whoami),"#,
            r#"("whoAmI", &whoami), ("ping", &whoami),"#,
        )
        .replace(
            r#"let live = api.stage("live");"#,
            r#"let live = api.stage("live"); let _ = api.stage("canary");"#,
        );
    assert!(edited.contains("canary"), "the fixture changed");
    std::fs::write(&infra, edited).unwrap();
    let reloaded = dev.wait_for(Duration::from_secs(900), |l| {
        l.contains(r#""event":"reloaded""#)
    });
    assert!(
        reloaded.contains("WhoAmI") && reloaded.contains("1 connection(s) kept"),
        "{reloaded}"
    );
    rt.block_on(async {
        send(&mut w, serde_json::json!({"action": "whoAmI"})).await;
        assert_eq!(text(&mut w).await, format!("{id} version 2"));
        send(&mut w, serde_json::json!({"action": "ping"})).await;
        assert_eq!(text(&mut w).await, format!("{id} version 2"));
    });
    let run = p.wsgen(&[
        "connect",
        "--stage",
        "canary",
        "--send",
        r#"{"action":"ping"}"#,
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("version 2"), "{}", run.stdout);
    assert!(
        run.stderr.contains("wsgen dev, stage canary"),
        "{}",
        run.stderr
    );
    // SIGTERM closes the open socket with 1001 and runs its $disconnect.
    let seen = stop(dev);
    assert_eq!(rt.block_on(close_code(&mut w)).0, CloseCode::Away);
    assert!(
        seen.iter().any(|l| l.contains(r#""route":"$disconnect""#)
            && l.contains(&id)
            && l.contains("1001 Going away")),
        "{}",
        seen.join("\n")
    );
}

/// A backend for the HTTP integrations: records what it gets.
async fn backend() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
) {
    use axum::routing::post;
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>> = Default::default();
    let record = |path: &'static str| {
        let seen = seen.clone();
        move |headers: axum::http::HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let id = headers
                    .get("x-connection-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                seen.lock()
                    .unwrap()
                    .push((path.to_string(), id, body.clone()));
                match path {
                    "/messages" => (axum::http::StatusCode::OK, r#"{"id":7}"#.to_string()),
                    "/echo" => (axum::http::StatusCode::OK, format!("echo: {body}")),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        (axum::http::StatusCode::OK, "late".to_string())
                    }
                    _ => (axum::http::StatusCode::OK, String::new()),
                }
            }
        }
    };
    let app = axum::Router::new()
        .route("/connect", post(record("/connect")))
        .route("/messages", post(record("/messages")))
        .route("/echo", post(record("/echo")))
        .route("/slow", post(record("/slow")));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[test]
fn http_http_proxy_and_mock_integrations_are_served() {
    let p = Project::new("gateway", "dev");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, seen) = rt.block_on(backend());
    let dev = Dev::start_with(&p, &["--no-watch"], &[("BACKEND_URL", &url)]);
    let base = format!("ws://{}/test", dev.address);
    rt.block_on(async {
        let mut s = connect(&base).await;
        // HTTP with templates: the request template makes the body, the request
        // parameter a header, the response template the reply.
        send(
            &mut s,
            serde_json::json!({"action": "send", "message": {"text": "hi"}}),
        )
        .await;
        assert_eq!(text(&mut s).await, r#"{"stored":7}"#);
        // HTTP_PROXY: the message as is, the backend's body back.
        send(&mut s, serde_json::json!({"action": "echo", "n": 1})).await;
        assert_eq!(text(&mut s).await, r#"echo: {"action":"echo","n":1}"#);
        // MOCK: the response template.
        send(&mut s, serde_json::json!({"action": "ping"})).await;
        let pong: Value = serde_json::from_str(&text(&mut s).await).unwrap();
        let id = pong["pong"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 12, "{pong}");
        // A backend slower than the integration's timeout: API Gateway's error frame.
        send(&mut s, serde_json::json!({"action": "slow"})).await;
        let error: Value = serde_json::from_str(&text(&mut s).await).unwrap();
        assert_eq!(error["message"], "Endpoint request timed out", "{error}");
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0].0, "/connect");
        assert_eq!(
            (seen[1].0.as_str(), seen[1].1.as_str(), seen[1].2.as_str()),
            (
                "/messages",
                id.as_str(),
                format!(r#"{{"from":"{id}","message":{{"text":"hi"}}}}"#).as_str()
            )
        );
    });
    stop(dev);
}

/// A WebSocket handshake written by hand on `addr` for `path` (so that the test can
/// then write frames no library would); the stream after the `101`.
async fn raw_ws(addr: &str, path: &str) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// A client frame: `first` is FIN, the reserved bits and the opcode; masked as clients
/// must unless `masked` is false.
fn raw_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    assert!(payload.len() < 126);
    let key = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut out = vec![first, payload.len() as u8 | if masked { 0x80 } else { 0 }];
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// The next frame the server sends: (opcode, payload), within 15 s.
async fn raw_read(s: &mut tokio::net::TcpStream) -> (u8, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(Duration::from_secs(15), async {
        let mut head = [0u8; 2];
        s.read_exact(&mut head).await.unwrap();
        let len = match head[1] & 0x7f {
            126 => {
                let mut n = [0u8; 2];
                s.read_exact(&mut n).await.unwrap();
                u16::from_be_bytes(n) as usize
            }
            127 => {
                let mut n = [0u8; 8];
                s.read_exact(&mut n).await.unwrap();
                u64::from_be_bytes(n) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await.unwrap();
        (head[0] & 0x0f, payload)
    })
    .await
    .expect("a frame within 15 s")
}

/// One HTTP/1.1 request on its own connection: (status, body).
async fn raw_http(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut response))
        .await
        .expect("a response within 15 s")
        .unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    (
        status,
        text.split("\r\n\r\n")
            .nth(1)
            .unwrap_or_default()
            .to_string(),
    )
}

/// The connection id of a raw client, from the MOCK `ping` route.
async fn raw_id(s: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncWriteExt;
    s.write_all(&raw_frame(0x81, br#"{"action":"ping"}"#, true))
        .await
        .unwrap();
    let (opcode, payload) = raw_read(s).await;
    assert_eq!(opcode, 1);
    let pong: Value = serde_json::from_slice(&payload).unwrap();
    pong["pong"].as_str().unwrap().to_string()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// Clients that break the rules or never read, and requests for other hosts: each gets
/// what it should, the server's memory stays bounded, and it keeps serving.
#[test]
fn hostile_clients_cannot_hurt_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let p = Project::new("gateway", "dev");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _seen) = rt.block_on(backend());
    let dev = Dev::start_with(&p, &["--no-watch"], &[("BACKEND_URL", &url)]);
    let addr = dev.address.clone();
    let port = addr.rsplit_once(':').unwrap().1.to_string();
    rt.block_on(async {
        // Protocol errors: the close code that says why, then the connection ends.
        for (frame, code, what) in [
            (raw_frame(0x81, b"hi", false), 1002, "an unmasked frame"),
            (
                raw_frame(0x81, &[0xff, 0xfe], true),
                1007,
                "text that is not UTF-8",
            ),
            (raw_frame(0xc1, b"hi", true), 1002, "a reserved bit"),
            (raw_frame(0x83, b"", true), 1002, "a reserved opcode"),
        ] {
            let mut s = raw_ws(&addr, "/test").await;
            s.write_all(&frame).await.unwrap();
            let (opcode, payload) = raw_read(&mut s).await;
            assert_eq!(opcode, 8, "{what}: a close frame");
            assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code, "{what}");
        }

        // Requests for another host (a page that rebound its DNS name to 127.0.0.1).
        for head in [
            format!("GET /test/@connections/x HTTP/1.1\r\nHost: attacker.example:{port}"),
            format!("GET / HTTP/1.1\r\nHost: attacker.example:{port}"),
            format!(
                "GET /test HTTP/1.1\r\nHost: attacker.example:{port}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Version: 13"
            ),
        ] {
            let (status, body) = raw_http(&addr, &head, b"").await;
            assert_eq!(status, 403, "{head}: {body}");
            assert!(body.contains("127.0.0.1 and localhost only"), "{body}");
        }
        let (status, _) = raw_http(
            &addr,
            &format!("GET /test/@connections/x HTTP/1.1\r\nHost: localhost:{port}"),
            b"",
        )
        .await;
        assert_eq!(status, 410);

        // Half a request: the connection is closed once the header timeout passes.
        let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
        half.write_all(b"GET / HTTP/1.1\r\nHost: 127")
            .await
            .unwrap();
        let mut rest = Vec::new();
        let ended =
            tokio::time::timeout(Duration::from_secs(20), half.read_to_end(&mut rest)).await;
        assert!(ended.is_ok(), "a half-sent request still open after 20 s");

        // A client that never reads: posts to it are queued up to a bound, then it is
        // dropped (410 from then on), and the server's memory stays bounded.
        let mut stalled = raw_ws(&addr, "/test").await;
        let id = raw_id(&mut stalled).await;
        let before = rss_kib(dev.child.id());
        let message = vec![b'x'; 100 * 1024];
        let post = format!("POST /test/@connections/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}");
        let mut statuses = Vec::new();
        for _ in 0..1500 {
            let (status, _) = raw_http(&addr, &post, &message).await;
            statuses.push(status);
            if status == 410 {
                break;
            }
        }
        assert_eq!(
            statuses.last(),
            Some(&410),
            "{} posts all accepted",
            statuses.len()
        );
        let get = format!("GET /test/@connections/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}");
        assert_eq!(raw_http(&addr, &get, b"").await.0, 410);
        let grown = rss_kib(dev.child.id()).saturating_sub(before);
        assert!(grown < 64 * 1024, "wsgen dev grew by {grown} KiB");
        drop(stalled);

        // DELETE: gone for the API at once, and the client gets its close frame.
        let mut deleted = raw_ws(&addr, "/test").await;
        let id = raw_id(&mut deleted).await;
        let delete = format!("DELETE /test/@connections/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}");
        assert_eq!(raw_http(&addr, &delete, b"").await.0, 204);
        let get = format!("GET /test/@connections/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}");
        assert_eq!(raw_http(&addr, &get, b"").await.0, 410);
        let (opcode, payload) = raw_read(&mut deleted).await;
        assert_eq!(
            (opcode, u16::from_be_bytes([payload[0], payload[1]])),
            (8, 1000)
        );

        // And it serves on.
        let mut s = connect(&format!("ws://{addr}/test")).await;
        send(&mut s, serde_json::json!({"action": "ping"})).await;
        assert!(text(&mut s).await.contains("pong"));
    });
    stop(dev);
}
