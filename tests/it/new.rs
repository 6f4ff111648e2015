//! `wsgen new`: the blueprints, the files a project gets, refusals that write nothing,
//! `--force` that never overwrites, and a generated project that synthesizes, lints
//! and runs under `wsgen dev`.

use crate::cli::Project;
use crate::support::{cfn_lint, repo};
use futures_util::{SinkExt, StreamExt};
use std::path::Path;

/// Every file below `dir`, relative, sorted (the `lambdas/` copies summarized).
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn blueprints_are_listed() {
    let p = Project::empty();
    let run = p.wsgen(&["new", "--list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("new-list", run.stdout);
    // --json (global, before or after the command): the same list for scripts.
    for args in [["--json", "new", "--list"], ["new", "--list", "--json"]] {
        let run = p.wsgen(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let list: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "auth-chat",
                "chat",
                "chat-history",
                "direct",
                "echo",
                "ticker"
            ]
        );
        assert!(list[1]["routes"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("sendmessage")));
    }
    // And `new` itself reports what it wrote.
    let run = p.wsgen(&["new", "made", "--blueprint", "echo", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let made: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (made["name"].as_str(), made["blueprint"].as_str()),
        (Some("made"), Some("echo"))
    );
    assert!(made["written"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("infra/src/lib.rs")));
}

#[test]
fn a_project_has_the_blueprint_the_handlers_and_a_lockfile() {
    let p = Project::empty();
    let run = p.wsgen(&["new", "my-chat"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!("new-chat-stderr", run.stderr);
    let dir = p.dir.join("my-chat");
    insta::assert_snapshot!("new-chat-tree", tree(&dir).join("\n"));
    let infra = std::fs::read_to_string(dir.join("infra/Cargo.toml")).unwrap();
    assert!(infra.contains("name = \"my-chat-infra\""), "{infra}");
    let repo = repo();
    // wsgen's crates by version, as from crates.io; .cargo/config.toml points cargo at
    // the sources this wsgen extracted, the library byte for byte.
    let version = env!("CARGO_PKG_VERSION");
    assert!(infra.contains(&format!("wsgen = \"{version}\"")), "{infra}");
    let handler = std::fs::read_to_string(dir.join("lambdas/sendmessage/Cargo.toml")).unwrap();
    assert!(
        handler.contains(&format!("wsgen-handler = {{ version = \"{version}\" }}")),
        "{handler}"
    );
    let config: toml::Table = std::fs::read_to_string(dir.join(".cargo/config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let patched = |krate: &str| {
        std::path::PathBuf::from(
            config["patch"]["crates-io"][krate]["path"]
                .as_str()
                .unwrap(),
        )
    };
    assert!(
        patched("wsgen").starts_with(crate::cli::data_dir().join("sources")),
        "{config:?}"
    );
    for (krate, file, source) in [
        (
            "wsgen",
            "src/constructs/api.rs",
            "crates/wsgen/src/constructs/api.rs",
        ),
        (
            "wsgen-handler",
            "src/store.rs",
            "lambdas/wsgen-handler/src/store.rs",
        ),
    ] {
        assert_eq!(
            std::fs::read(patched(krate).join(file)).unwrap(),
            std::fs::read(repo.join(source)).unwrap(),
            "{krate}"
        );
        // A manifest that stands alone, outside wsgen's workspace.
        let manifest = std::fs::read_to_string(patched(krate).join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("version = \"{version}\""))
                && !manifest.contains(".workspace"),
            "{manifest}"
        );
    }
    // The stack gets the project's name; the app is the blueprint's, byte for byte.
    let main = std::fs::read_to_string(dir.join("infra/src/main.rs")).unwrap();
    assert!(main.contains("const STACK: &str = \"MyChat\";"), "{main}");
    assert_eq!(
        std::fs::read(dir.join("infra/src/lib.rs")).unwrap(),
        std::fs::read(repo.join("blueprints/chat/infra/src/lib.rs")).unwrap()
    );
    // The handlers are the repository's tested crates, byte for byte.
    let file = "lambdas/sendmessage/src/lib.rs";
    assert_eq!(
        std::fs::read(dir.join(file)).unwrap(),
        std::fs::read(repo.join(file)).unwrap(),
        "{file}"
    );
    // Nothing in the project names the checkout wsgen was built from.
    // (.cargo/config.toml names the data directory, which the tests keep below target/.)
    for file in tree(&dir) {
        if file == ".cargo/config.toml" {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(dir.join(&file)).unwrap()).into_owned();
        assert!(
            !text.contains(repo.to_str().unwrap()),
            "{file} names the checkout"
        );
        assert!(!text.contains("{{"), "{file} has a placeholder left");
    }
}

/// The library sources a project builds with come back when the data directory was
/// cleaned; sources of another wsgen that are gone are explained, with the fix.
#[test]
fn the_library_sources_come_back_or_are_explained() {
    let p = Project::empty();
    let data = p.dir.join("data");
    let with_data = |cmd: &mut std::process::Command| {
        cmd.env("WSGEN_DATA_DIR", &data);
    };
    let run = p.wsgen_with(&["new", "healed", "--blueprint", "echo"], with_data);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let p = p.new_project("healed");
    std::fs::remove_dir_all(&data).unwrap();
    let run = p.wsgen_with(&["synth", "-q"], with_data);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let sources: Vec<_> = std::fs::read_dir(data.join("sources"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert!(sources[0].starts_with(&format!("wsgen-{}-", env!("CARGO_PKG_VERSION"))));

    // Sources of another wsgen (another version, another machine) that are not there.
    let config = p
        .read(".cargo/config.toml")
        .replace(&sources[0], "wsgen-0.0.1-000000000000");
    p.write(".cargo/config.toml", &config);
    let run = p.wsgen_with(&["synth", "-q"], with_data);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for part in [
        "builds `wsgen` from",
        "wsgen-0.0.1-000000000000/wsgen, which is not there",
        "cargo update -p wsgen -p wsgen-handler",
        &sources[0],
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let p = Project::empty();
    let run = p.wsgen(&["new", "1chat"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("does not start with a letter") && run.stderr.contains("--name"),
        "{}",
        run.stderr
    );
    let run = p.wsgen(&["new", "dir", "--name", "fn"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("keyword"), "{}", run.stderr);
    let run = p.wsgen(&["new", "x", "--blueprint", "nope"]);
    insta::assert_snapshot!("new-unknown-blueprint", run.snapshot());
    assert!(tree(&p.dir).is_empty(), "{:?}", tree(&p.dir));

    // A directory with files: refused without --force; with it, only what is missing
    // is added and the user's files stay as they were.
    std::fs::create_dir(p.dir.join("mine")).unwrap();
    std::fs::write(p.dir.join("mine/README.md"), "my notes\n").unwrap();
    std::fs::write(p.dir.join("mine/todo.txt"), "x\n").unwrap();
    let run = p.wsgen(&["new", "mine", "--blueprint", "echo"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not empty") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(&p.dir.join("mine")), ["README.md", "todo.txt"]);
    let run = p.wsgen(&["new", "mine", "--blueprint", "echo", "--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("kept 1 file(s)"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(p.dir.join("mine/README.md")).unwrap(),
        "my notes\n"
    );
    assert_eq!(
        std::fs::read_to_string(p.dir.join("mine/todo.txt")).unwrap(),
        "x\n"
    );
    assert!(p.dir.join("mine/infra/src/lib.rs").is_file());
}

/// `wsgen dev --json` on a generated project; its URL base (`ws://127.0.0.1:P/live`).
struct Dev {
    child: std::process::Child,
    /// `127.0.0.1:P`.
    address: String,
    base: String,
    /// The page's URL, when the project has `web/index.html`.
    page: Option<String>,
    /// The embedded DynamoDB's endpoint, when the app has tables.
    dynamodb: Option<String>,
    /// Its event lines (stdout) and other output (stderr) so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Dev {
    fn start(p: &Project, extra: &[&str]) -> Dev {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wsgen"))
            .args(["dev", "--port", "0", "--json", "--no-watch", "--release"])
            .env("WSGEN_DATA_DIR", crate::cli::data_dir())
            .args(extra)
            .current_dir(&p.dir)
            .env("CARGO_TARGET_DIR", &p.target)
            // Cargo's own lines too (not quiet): its warnings are checked.
            .env_remove("CARGO_TERM_QUIET")
            // And no network: a request of cargo's (the registry's index) fails at once,
            // as it would on a machine without one. A new project needs none: `wsgen
            // new` completed its lockfile from the cargo cache.
            .env("CARGO_HTTP_PROXY", "http://127.0.0.1:9")
            .env("CARGO_NET_RETRY", "0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Keep reading both streams so that wsgen dev never blocks on either.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let kept = log.clone();
        std::thread::spawn(move || {
            let lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains(r#""type":"ready""#))
            .unwrap_or_else(|| panic!("wsgen dev is not ready: {:?}", log.lock().unwrap()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.by_ref().map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let v: serde_json::Value = serde_json::from_str(&ready).unwrap();
        let address = v["address"].as_str().unwrap().to_string();
        let base = format!("ws://{address}/live");
        let page = v["page"].as_str().map(str::to_string);
        let dynamodb = v["dynamodb"].as_str().map(str::to_string);
        Dev {
            child,
            address,
            base,
            page,
            dynamodb,
            log,
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .0
}

async fn send(s: &mut Socket, text: &str) {
    s.send(tokio_tungstenite::tungstenite::Message::text(text))
        .await
        .unwrap();
}

async fn receive(s: &mut Socket) -> String {
    loop {
        let m = tokio::time::timeout(std::time::Duration::from_secs(30), s.next())
            .await
            .expect("a message within 30 s")
            .expect("open")
            .expect("a frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            return t.to_string();
        }
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Each blueprint's protocol, as its README tells a user to try it.
async fn exercise(blueprint: &str, dev: &Dev) {
    let base = dev.base.as_str();
    match blueprint {
        "chat-history" => chat_history(dev).await,
        "echo" => {
            let mut s = connect(base).await;
            send(&mut s, "hello, echo").await;
            assert_eq!(receive(&mut s).await, "hello, echo");
        }
        "chat" | "auth-chat" => {
            let url = if blueprint == "auth-chat" {
                // No token: 401 without the authorizer; a wrong one: 403.
                for (query, status) in [("", 401), ("?token=guess", 403)] {
                    match tokio_tungstenite::connect_async(format!("{base}{query}")).await {
                        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                            assert_eq!(r.status().as_u16(), status, "{query}")
                        }
                        other => panic!("{query}: {:?}", other.map(|_| "connected")),
                    }
                }
                format!("{base}?token=demo-token")
            } else {
                base.to_string()
            };
            let (mut a, mut b) = (connect(&url).await, connect(&url).await);
            send(&mut a, r#"{"action":"sendmessage","data":"hello"}"#).await;
            assert_eq!(receive(&mut b).await, "hello");
            sendmessage_without_data_is_refused(dev, &mut a).await;
            send(&mut a, r#"{"action":"dance"}"#).await;
            assert!(receive(&mut a).await.contains("sendmessage"));
            if blueprint == "auth-chat" {
                throttled(&mut a, &mut b).await;
            }
        }
        "direct" => {
            let (mut a, mut b) = (connect(base).await, connect(base).await);
            // Seed 002's session: the bare id, then the message, and nothing back to
            // the sender; a gone connection is an error.
            send(&mut a, r#"{"action":"whoAmI"}"#).await;
            let id = receive(&mut a).await;
            assert!(!id.contains('{'), "{id}");
            let message = format!(
                r#"{{"action": "sendMessage", "connectionId": "{id}", "message": "Hi! :)"}}"#
            );
            refused_by_the_model(
                dev,
                &mut b,
                r#"{"action":"sendMessage","message":"to nobody"}"#,
                ("sendMessage", "SendTo"),
                r#""connectionId" is a required property"#,
            )
            .await;
            send(&mut b, &message).await;
            assert_eq!(receive(&mut a).await, "Hi! :)");
            a.close(None).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            send(&mut b, &message).await;
            let gone = json(&receive(&mut b).await);
            assert!(
                gone["error"].as_str().unwrap().contains("is gone"),
                "{gone}"
            );
        }
        "ticker" => {
            let mut s = connect(base).await;
            refused_by_the_model(
                dev,
                &mut s,
                r#"{"action":"subscribe","symbol":"no spaces"}"#,
                ("subscribe", "Subscription"),
                "/symbol",
            )
            .await;
            send(&mut s, r#"{"action":"subscribe","symbol":"amzn"}"#).await;
            assert_eq!(receive(&mut s).await, r#"{"subscribed":"AMZN"}"#);
            let update = json(&receive(&mut s).await);
            assert_eq!(
                (update["type"].as_str(), update["symbol"].as_str()),
                (Some("price"), Some("AMZN"))
            );
        }
        other => panic!("no protocol check for blueprint {other}"),
    }
}

/// A route with a model (`route`'s `model`): `message`, which does not match, gets API
/// Gateway's "Invalid request body" frame, the handler is not invoked (the request's
/// log line is the refusal, with the reason, `why`) and the socket stays open (the
/// caller goes on using it).
async fn refused_by_the_model(
    dev: &Dev,
    a: &mut Socket,
    message: &str,
    (route, model): (&str, &str),
    why: &str,
) {
    send(a, message).await;
    let frame = json(&receive(a).await);
    assert_eq!(frame["message"], "Invalid request body", "{frame}");
    assert!(
        frame["connectionId"].is_string() && frame["requestId"].is_string(),
        "{frame}"
    );
    // The log line follows the frame.
    let mut refusal = None;
    for _ in 0..100 {
        refusal = dev
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(r#""type":"request""#))
            .map(|l| json(l))
            .find(|l| l["status"] == 400 && l["route"] == route);
        if refusal.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let refusal =
        refusal.unwrap_or_else(|| panic!("no 400 request line: {:?}", dev.log.lock().unwrap()));
    let detail = refusal["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("model {model}")) && detail.contains(why),
        "{detail}"
    );
}

/// The chat protocol's `SendMessage` model (chat-protocol, shared by the chat
/// blueprints) refuses a `sendmessage` without `data`.
async fn sendmessage_without_data_is_refused(dev: &Dev, a: &mut Socket) {
    refused_by_the_model(
        dev,
        a,
        r#"{"action":"sendmessage"}"#,
        ("sendmessage", "SendMessage"),
        r#""data" is a required property"#,
    )
    .await;
}

/// auth-chat's `sendmessage` is throttled at 10 a second with bursts of 5 (one bucket
/// for the stage's route): a burst of 20 gets about 5 through and API Gateway's
/// `Too Many Requests` frame for the rest, on a socket that stays open; a second later
/// the bucket has refilled.
async fn throttled(a: &mut Socket, b: &mut Socket) {
    // Every text frame until none comes for 700 ms.
    async fn drain(s: &mut Socket) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(Some(Ok(m))) =
            tokio::time::timeout(std::time::Duration::from_millis(700), s.next()).await
        {
            if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                got.push(t.to_string());
            }
        }
        got
    }
    // Let the bucket fill after the messages before.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for i in 0..20 {
        send(
            a,
            &format!(r#"{{"action":"sendmessage","data":"burst {i}"}}"#),
        )
        .await;
    }
    let refused = drain(a).await;
    let delivered = drain(b).await;
    assert!(
        (5..=8).contains(&delivered.len()),
        "{} delivered: {delivered:?}",
        delivered.len()
    );
    assert_eq!(refused.len() + delivered.len(), 20, "{refused:?}");
    for frame in &refused {
        let v = json(frame);
        assert_eq!(v["message"], "Too Many Requests", "{frame}");
        assert!(
            v["connectionId"].is_string() && v["requestId"].is_string(),
            "{frame}"
        );
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    send(a, r#"{"action":"sendmessage","data":"after"}"#).await;
    assert_eq!(receive(b).await, "after");
}

/// The chat-history blueprint under `wsgen dev`: messages stored in the embedded
/// DynamoDB reach the other clients through the table's stream, a late client reads the
/// history, and an item that is not a message is skipped without holding back the next.
async fn chat_history(dev: &Dev) {
    let base = dev.base.as_str();
    // The next text frame, or a failure showing wsgen dev's log.
    async fn next(dev: &Dev, s: &mut Socket) -> String {
        match tokio::time::timeout(std::time::Duration::from_secs(25), receive(s)).await {
            Ok(text) => text,
            Err(_) => panic!(
                "no message within 25 s; wsgen dev's log:\n{}",
                dev.log.lock().unwrap().join("\n")
            ),
        }
    }
    let (mut a, mut b) = (connect(base).await, connect(base).await);
    send(&mut a, r#"{"action":"sendmessage","data":"hello"}"#).await;
    let got = json(&next(dev, &mut b).await);
    assert_eq!(
        (got["type"].as_str(), got["data"].as_str()),
        (Some("message"), Some("hello")),
        "{got}"
    );
    sendmessage_without_data_is_refused(dev, &mut a).await;
    let mut late = connect(base).await;
    send(&mut late, r#"{"action":"history"}"#).await;
    let history = json(&next(dev, &mut late).await);
    assert_eq!(history["type"], "history", "{history}");
    let said: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["data"].as_str())
        .collect();
    assert_eq!(said, ["hello"], "{history}");

    // An item that is not a message, written behind the handlers' back: the fan-out
    // skips it, and the message after it goes out.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(wsgen_cli::cloud::aws::https_client())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(dev.dynamodb.as_deref().expect("the embedded DynamoDB"))
        .credentials_provider(aws_credential_types::Credentials::for_tests())
        .load()
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    ddb.put_item()
        .table_name("BpChatHistory-Messages")
        .item(
            "room",
            aws_sdk_dynamodb::types::AttributeValue::S("lobby".into()),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("0000000000001#nobody".into()),
        )
        .send()
        .await
        .unwrap();
    send(&mut a, r#"{"action":"sendmessage","data":"after"}"#).await;
    let got = json(&next(dev, &mut b).await);
    assert_eq!(got["data"], "after", "{got}");
    let log = dev.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|l| l.contains("skipped record") && l.contains("missing field")),
        "{}",
        log.join("\n")
    );
    assert!(
        log.iter().any(|l| l.contains(r#""type":"stream""#)
            && l.contains(r#""status":200"#)
            && l.contains(r#""function":"Fanout""#)),
        "{}",
        log.join("\n")
    );
}

/// The ticker's generated client in Node.js against the running app
/// (tests/node/ticker-client.mjs): the model's refusal reaches `gatewayError`, the
/// subscription's reply `onSubscribed` and the pushed price `onPrice`, each by its shape.
fn typed_client_at_work(p: &Project, dev: &Dev) {
    let client = p.path("ticker-client.js");
    let run = p.wsgen(&["client", "--lang", "js", "--out", client.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = std::process::Command::new("node")
        .arg(repo().join("tests/node/ticker-client.mjs"))
        .arg(&client)
        .arg(&dev.base)
        .output()
        .expect("node (bash .ci/run installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(stdout.trim()),
        serde_json::json!([
            ["gatewayError", "Invalid request body"],
            ["onSubscribed", "AMZN"],
            ["onPrice", "price", "AMZN", "number"]
        ])
    );
}

#[test]
fn every_blueprint_tests_synthesizes_lints_and_runs_its_protocol() {
    // The handlers build where the stock ones did: the same crates (copied with their
    // modification times) with the same dependencies, so only new crates compile.
    let _ = Project::stock_bundled();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for blueprint in [
        "echo",
        "chat",
        "direct",
        "ticker",
        "auth-chat",
        "chat-history",
    ] {
        let name = format!("bp-{blueprint}");
        let p = Project::empty();
        let run = p.wsgen(&["new", &name, "--blueprint", blueprint]);
        assert_eq!(run.code, 0, "{blueprint}: {}", run.stderr);
        let p = p.new_project(&name);
        // Its own tests (the handlers' and the app's), in a debug build.
        let test = std::process::Command::new("cargo")
            .args(["test", "--offline", "--quiet"])
            .current_dir(&p.dir)
            .env("CARGO_TARGET_DIR", p.target.with_file_name("fixtures-new"))
            .output()
            .unwrap();
        assert!(
            test.status.success(),
            "{blueprint}: cargo test\n{}\n{}",
            String::from_utf8_lossy(&test.stdout),
            String::from_utf8_lossy(&test.stderr)
        );
        let run = p.wsgen(&["synth", "-q"]);
        assert_eq!(run.code, 0, "{blueprint}: {}", run.stderr);
        let stack = name
            .split('-')
            .map(|w| w[..1].to_uppercase() + &w[1..])
            .collect::<String>();
        cfn_lint(&[p.path(&format!("wsgen.out/{stack}.template.json"))]);
        // The chat project's tables go to an external DynamoDB (moto) instead of the
        // embedded one: created there, and the handlers pointed at it.
        let moto = crate::engine::moto().endpoint.clone();
        let mut args = vec!["--schedule-interval", "1s"];
        if blueprint == "chat" {
            args.extend(["--dynamodb-endpoint", moto.as_str()]);
        }
        let dev = Dev::start(&p, &args);
        rt.block_on(exercise(blueprint, &dev));
        // The project's `.cargo/config.toml` patches `wsgen` and `wsgen-handler`: every
        // build uses both (the handlers linked into one binary too), so cargo has no
        // unused patch to warn of.
        let log = dev.log.lock().unwrap().clone();
        assert!(
            !log.iter()
                .any(|l| l.contains("was not used in the crate graph")),
            "{blueprint}:\n{}",
            log.join("\n")
        );
        if blueprint == "ticker" {
            typed_client_at_work(&p, &dev);
        }
        if blueprint == "chat" {
            let tables = rt.block_on(async {
                let ddb =
                    aws_sdk_dynamodb::Client::new(&crate::engine::sdk_config("us-east-1").await);
                ddb.list_tables()
                    .send()
                    .await
                    .unwrap()
                    .table_names()
                    .to_vec()
            });
            assert!(
                tables.contains(&"BpChat-Connections".to_string()),
                "{tables:?}"
            );
        }
    }
}

/// Headless Chromium driven over the DevTools protocol (a WebSocket of JSON messages).
struct Chromium {
    child: std::process::Child,
    _profile: tempfile::TempDir,
    socket: Socket,
    next_id: u64,
}

impl Chromium {
    async fn start() -> Chromium {
        use std::os::unix::process::CommandExt;
        let profile = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            // Its own process group, so that its helpers end with it (before its profile
            // directory is removed, which they would otherwise write again).
            .process_group(0)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("Debian's chromium (bash .ci/run installs it)");
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.split("DevTools listening on ").nth(1).map(str::to_string))
            .expect("chromium prints its DevTools URL");
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Chromium {
            child,
            _profile: profile,
            socket: connect(url.trim()).await,
            next_id: 0,
        }
    }

    /// Sends a command (to a page's session, or to the browser) and returns its result.
    async fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: serde_json::Value,
    ) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = serde_json::json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            command["sessionId"] = s.into();
        }
        send(&mut self.socket, &command.to_string()).await;
        loop {
            let reply = json(&receive(&mut self.socket).await);
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Opens `url` in a new page; returns the page's session.
    async fn open(&mut self, url: &str) -> String {
        let target = self
            .call(None, "Target.createTarget", serde_json::json!({"url": url}))
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                serde_json::json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        attached["sessionId"].as_str().unwrap().to_string()
    }

    async fn eval(&mut self, session: &str, expression: &str) -> serde_json::Value {
        let r = self
            .call(
                Some(session),
                "Runtime.evaluate",
                serde_json::json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Waits (up to 20 s) until `expression` is true in the page.
    async fn wait_for(&mut self, session: &str, expression: &str) {
        for _ in 0..200 {
            if self.eval(session, expression).await == serde_json::Value::Bool(true) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let body = self.eval(session, "document.body.innerText").await;
        panic!("not true within 20 s: {expression}\npage: {body}");
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_chat_page_works_in_headless_chromium() {
    let _ = Project::stock_bundled();
    let p = Project::empty();
    let run = p.wsgen(&["new", "bp-web"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let p = p.new_project("bp-web");
    let dev = Dev::start(&p, &[]);
    let page = dev.page.clone().expect("the ready line names the page");
    assert_eq!(page, format!("http://{}/", dev.address));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut browser = Chromium::start().await;
        let (a, b) = (browser.open(&page).await, browser.open(&page).await);
        let connected = r#"document.getElementById("status").textContent === "connected""#;
        browser.wait_for(&a, connected).await;
        browser.wait_for(&b, connected).await;
        // Type into the first page and press Enter.
        browser
            .eval(&a, r#"document.getElementById("message").focus()"#)
            .await;
        browser
            .call(Some(&a), "Input.insertText", serde_json::json!({"text": "hello from a browser"}))
            .await;
        for kind in ["keyDown", "keyUp"] {
            browser
                .call(
                    Some(&a),
                    "Input.dispatchKeyEvent",
                    serde_json::json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}),
                )
                .await;
        }
        // It appears in the other page, and as the sender's own in the first.
        let shown = |class: &str| {
            format!(
                r##"[...document.querySelectorAll("#log li")].some(li => li.textContent === "hello from a browser" && li.className === "{class}")"##
            )
        };
        browser.wait_for(&b, &shown("")).await;
        browser.wait_for(&a, &shown("mine")).await;
    });
    // The page's module came from the files beside it, which are all wsgen dev serves.
    let (head, body) = http_get(&dev.address, "/chat-client.js");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/javascript"),
        "{head}"
    );
    assert!(body.contains("export class ChatApiClient"), "{body}");
    for path in ["/index.html", "/.cargo", "/..%2Fwsgen.toml", "/nothing.js"] {
        let (head, _) = http_get(&dev.address, path);
        assert!(!head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    }
}

/// A plain HTTP GET: the response's head and body.
fn http_get(address: &str, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.to_string(), body.to_string())
}

/// The installed binary is self-contained: wsgen installed from a copy of this source
/// into a temporary root, the copy deleted, then a new project's own tests, `wsgen
/// synth` and `wsgen dev` (with a client) all work, offline.
#[test]
fn an_installed_wsgen_needs_no_source() {
    use std::process::Command;
    let repo = repo();
    let p = Project::empty();
    let copy = p.dir.join("source");
    // The checkout's files (tracked, or new and not ignored), as the working tree has them.
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&repo)
        .output()
        .unwrap();
    assert!(listed.status.success());
    for rel in listed.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = std::str::from_utf8(rel).unwrap();
        let source = repo.join(rel);
        if !source.is_file() {
            continue;
        }
        let target = copy.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&source, &target).unwrap();
    }
    let root = p.dir.join("root");
    let install = Command::new("cargo")
        .args([
            "install",
            "--offline",
            "--locked",
            "--debug",
            "--quiet",
            "--path",
        ])
        .arg(copy.join("crates/wsgen-cli"))
        .arg("--root")
        .arg(&root)
        .env("CARGO_TARGET_DIR", p.target.with_file_name("install"))
        // No debug info: a fraction of the disk and of the link time.
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "cargo install\n{}",
        String::from_utf8_lossy(&install.stderr)
    );
    std::fs::remove_dir_all(&copy).unwrap();
    // The installed wsgen, offline, in `dir`, building in `target`.
    let wsgen = |args: &[&str], dir: &Path, target: &Path| {
        let mut cmd = Command::new(root.join("bin/wsgen"));
        cmd.args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target)
            .env("CARGO_NET_OFFLINE", "true")
            .env("WSGEN_DATA_DIR", crate::cli::data_dir())
            .env("CARGO_TERM_QUIET", "true")
            .env_remove("RUST_LOG");
        cmd
    };
    let stock = p.target.with_file_name("fixtures-stock");
    let new = wsgen(&["new", "app", "--blueprint", "echo"], &p.dir, &stock)
        .output()
        .unwrap();
    assert!(
        new.status.success(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let app = p.dir.join("app");
    let test = Command::new("cargo")
        .args(["test", "--offline", "--quiet"])
        .current_dir(&app)
        .env("CARGO_TARGET_DIR", stock.with_file_name("fixtures-new"))
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "cargo test\n{}",
        String::from_utf8_lossy(&test.stderr)
    );
    // From outside the project: its `.cargo/config.toml` (which points cargo at the
    // library sources) applies all the same.
    let synth = wsgen(&["synth", "-q", "--project", "app"], &p.dir, &stock)
        .output()
        .unwrap();
    assert!(
        synth.status.success(),
        "{}",
        String::from_utf8_lossy(&synth.stderr)
    );
    assert!(app.join("wsgen.out/App.template.json").is_file());

    let mut dev = wsgen(
        &["dev", "--port", "0", "--json", "--no-watch", "--release"],
        &app,
        &stock,
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let stdout = dev.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains(r#""type":"ready""#));
    // Keep reading its events, so that it never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let Some(ready) = ready else {
        let _ = dev.kill();
        panic!("the installed wsgen dev never got ready");
    };
    let address = json(&ready)["address"].as_str().unwrap().to_string();
    let echoed = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut s = connect(&format!("ws://{address}/live")).await;
        send(&mut s, "hello from an installed wsgen").await;
        receive(&mut s).await
    });
    let _ = dev.kill();
    let _ = dev.wait();
    assert_eq!(echoed, "hello from an installed wsgen");
}
