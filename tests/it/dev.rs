//! `wsgen dev` on the stock handlers: real WebSocket clients (tokio-tungstenite), the
//! real handler binaries behind the local Lambda Runtime API, the official SDK's
//! `@connections` client, and the connections table in moto's DynamoDB.

use crate::cli::Project;
use crate::engine::{aws_env, moto, sdk_config};
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
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Dev {
    /// Starts `wsgen dev --json` and waits for its `ready` line (the first run builds
    /// the seven stock handlers).
    fn start(p: &Project, args: &[&str]) -> Dev {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wsgen"));
        aws_env(&mut cmd);
        let mut child = cmd
            .args([
                "dev",
                "--port",
                "0",
                "--json",
                "--dynamodb-endpoint",
                &moto().endpoint,
            ])
            .args(args)
            .current_dir(&p.dir)
            .env("CARGO_TARGET_DIR", &p.target)
            .env("CARGO_TERM_QUIET", "true")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut dev = Dev {
            child,
            address: String::new(),
            lines,
            seen: Vec::new(),
        };
        let ready = dev.wait_for(Duration::from_secs(1500), |l| {
            l.contains(r#""type":"ready""#)
        });
        let v: Value = serde_json::from_str(&ready).unwrap();
        dev.address = v["address"].as_str().unwrap().to_string();
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
    let v: Value = serde_json::from_str(&text(s).await).unwrap();
    v["connectionId"].as_str().unwrap().to_string()
}

async fn connection_ids(table: &str) -> Vec<String> {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk_config("us-east-1").await);
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
async fn table_becomes(table: &str, mut want: Vec<String>) {
    want.sort();
    for _ in 0..100 {
        if connection_ids(table).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(connection_ids(table).await, want);
}

#[test]
fn the_stock_app_runs_locally_as_on_api_gateway() {
    // The release zips the runtime test bundles too: no second build of the handlers.
    let p = Project::stock_bundled();
    let mut dev = Dev::start(p, &["--idle-timeout", "6s", "--profile", "release"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = format!("ws://{}", dev.address);
    let table = "Stock-Connections";
    let callback = format!("http://{}/live", dev.address);
    rt.block_on(async {
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

        // seed 002: sendto one connection; the sender gets the two-way reply.
        send(
            &mut a,
            serde_json::json!({"action": "sendto", "connectionId": idb, "message": "hi b"}),
        )
        .await;
        assert_eq!(text(&mut b).await, "hi b");
        let reply: Value = serde_json::from_str(&text(&mut a).await).unwrap();
        assert_eq!(reply["delivered"], idb.as_str());

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

        // @connections through the official SDK client.
        let config = sdk_config("us-east-1").await;
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

        // A client's own close.
        b.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .await
        .unwrap();
        table_becomes(table, vec![]).await;

        // An idle connection is closed after --idle-timeout with 1001.
        let mut d = connect(&format!("{base}/live")).await;
        let (code, reason) = close_code(&mut d).await;
        assert_eq!((code, reason.as_str()), (CloseCode::Away, "Going away"));
    });
    dev.drain();
    let disconnects: Vec<&String> = dev
        .seen
        .iter()
        .filter(|l| l.contains(r#""route":"$disconnect""#))
        .collect();
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

    // Ctrl-C: open connections are closed with 1001, their $disconnect runs, the table
    // ends empty and wsgen exits 0.
    let mut e = rt.block_on(connect(&format!("{base}/live")));
    let status = Command::new("kill")
        .args(["-INT", &dev.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    rt.block_on(async {
        assert_eq!(close_code(&mut e).await.0, CloseCode::Away);
        table_becomes(table, vec![]).await;
    });
    let exit = dev.child.wait().unwrap();
    assert!(exit.success(), "{exit:?}\n{}", dev.seen.join("\n"));
}
