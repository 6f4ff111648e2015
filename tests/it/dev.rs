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
fn stop(mut dev: Dev) {
    Command::new("kill")
        .args(["-INT", &dev.child.id().to_string()])
        .status()
        .unwrap();
    let exit = dev.child.wait().unwrap();
    dev.drain();
    assert!(exit.success(), "{exit:?}\n{}", dev.seen.join("\n"));
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
    let v: Value = serde_json::from_str(&text(s).await).unwrap();
    v["connectionId"].as_str().unwrap().to_string()
}

/// SDK configuration for a local endpoint.
async fn local_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .load()
        .await
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
    // Its delivery's own line comes once the invocation has returned.
    dev.wait_for(Duration::from_secs(10), |l| {
        l.contains(r#""type":"stream""#) && l.contains(r#""status":200"#)
    });
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
        send(&mut s, serde_json::json!({"action": "whoAmI"})).await;
        let me: Value = serde_json::from_str(&text(&mut s).await).unwrap();
        assert_eq!(me["authorizer"]["principalId"], "alice", "{me}");
        assert_eq!(me["authorizer"]["user"], "alice", "{me}");
        assert!(me["authorizer"]["integrationLatency"].is_u64(), "{me}");
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
    stop(dev);

    // Watch mode: the project changes under a running wsgen dev.
    let mut dev = Dev::start(p, &["--release", "--stage", "live"]);
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
            r#"serde_json::json!({ "connectionId": req.connection_id })"#,
            r#"serde_json::json!({ "connectionId": req.connection_id, "version": 2 })"#,
        ),
    )
    .unwrap();
    let infra = p.dir.join("infra/src/main.rs");
    let app = std::fs::read_to_string(&infra).unwrap();
    std::fs::write(
        &infra,
        app.replace(
            r#"("whoAmI", &whoami),"#,
            r#"("whoAmI", &whoami), ("ping", &whoami),"#,
        ),
    )
    .unwrap();
    let reloaded = dev.wait_for(Duration::from_secs(900), |l| {
        l.contains(r#""event":"reloaded""#)
    });
    assert!(
        reloaded.contains("WhoAmI") && reloaded.contains("1 connection(s) kept"),
        "{reloaded}"
    );
    rt.block_on(async {
        send(&mut w, serde_json::json!({"action": "whoAmI"})).await;
        let me: Value = serde_json::from_str(&text(&mut w).await).unwrap();
        assert_eq!(
            (me["connectionId"].as_str(), me["version"].as_i64()),
            (Some(id.as_str()), Some(2)),
            "{me}"
        );
        send(&mut w, serde_json::json!({"action": "ping"})).await;
        let me: Value = serde_json::from_str(&text(&mut w).await).unwrap();
        assert_eq!(me["version"], 2, "{me}");
    });
    stop(dev);
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
