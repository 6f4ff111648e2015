//! Deploys proven end to end on ministack (tests/engine/ministack_server.py), an engine
//! that creates WebSocket APIs, serves them and runs the handlers' zips: the chat,
//! auth-chat and ticker blueprints, made by `wsgen new`, are bootstrapped and deployed
//! by the real binary; WebSocket clients talk to the deployed stage through the
//! deployed Rust Lambdas and DynamoDB; `wsgen diff` finds nothing to do; a handler edit
//! goes out with `--hotswap`, and reverting it restores the template's code; `wsgen
//! destroy` removes all but the connections table, which keeps its items. Each
//! blueprint gets a region of its own on the one engine.

use crate::cli::{Project, Run};
use crate::engine::{aws_env, ministack, sdk_config_of};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{self, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn wsgen(p: &Project, region: &str, args: &[&str]) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--region", region, "--endpoint-url", &ministack().endpoint]);
    p.wsgen_with(&all, aws_env)
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", run.stdout, run.stderr))
}

/// The engine's URL for a deployed stage's `wss://{api}.execute-api.{region}.../{stage}`
/// (the engine serves it at `/_aws/execute-api/{api}/{stage}`).
fn local_url(deployed: &str) -> String {
    let rest = deployed
        .strip_prefix("wss://")
        .unwrap_or_else(|| panic!("not a wss:// URL: {deployed}"));
    let (host, stage) = rest.split_once('/').unwrap();
    let api = host.split('.').next().unwrap();
    format!(
        "ws://127.0.0.1:{}/_aws/execute-api/{api}/{stage}",
        ministack().port
    )
}

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .0
}

async fn send(s: &mut Socket, text: &str) {
    s.send(Message::text(text)).await.unwrap();
}

/// The next text frame, within `wait`.
async fn receive_within(s: &mut Socket, wait: Duration) -> String {
    loop {
        let m = tokio::time::timeout(wait, s.next())
            .await
            .unwrap_or_else(|_| panic!("no message within {wait:?}"))
            .expect("open")
            .expect("a frame");
        if let Message::Text(t) = m {
            return t.to_string();
        }
    }
}

async fn receive(s: &mut Socket) -> String {
    receive_within(s, Duration::from_secs(30)).await
}

/// The status a refused handshake answered with.
async fn refused(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(r)) => r.status().as_u16(),
        other => panic!("{url}: {:?}", other.map(|_| "connected")),
    }
}

/// What the `$default` route (lambdas/default) answers to an unknown action.
async fn default_reply(url: &str) -> String {
    let mut s = connect(url).await;
    send(&mut s, r#"{"action":"dance"}"#).await;
    let reply = receive(&mut s).await;
    let _ = s.close(None).await;
    reply
}

/// The blueprint's protocol on the deployed stage.
async fn exercise(blueprint: &str, url: &str) {
    match blueprint {
        "chat" | "auth-chat" => {
            let url = if blueprint == "auth-chat" {
                // No token: 401 without invoking the authorizer; a wrong one: 403.
                assert_eq!(refused(url).await, 401);
                assert_eq!(refused(&format!("{url}?token=guess")).await, 403);
                format!("{url}?token=demo-token")
            } else {
                url.to_string()
            };
            let (mut a, mut b) = (connect(&url).await, connect(&url).await);
            send(&mut a, r#"{"action":"sendmessage","data":"hello"}"#).await;
            assert_eq!(receive(&mut b).await, "hello");
            let _ = (a.close(None).await, b.close(None).await);
        }
        "ticker" => {
            let mut s = connect(url).await;
            send(&mut s, r#"{"action":"subscribe","symbol":"amzn"}"#).await;
            assert_eq!(receive(&mut s).await, r#"{"subscribed":"AMZN"}"#);
            // The schedule is rate(1 minute), counted from the rule's creation.
            let update: Value =
                serde_json::from_str(&receive_within(&mut s, Duration::from_secs(150)).await)
                    .unwrap();
            assert_eq!(
                (update["type"].as_str(), update["symbol"].as_str()),
                (Some("price"), Some("AMZN")),
                "{update}"
            );
            let _ = s.close(None).await;
        }
        other => panic!("no protocol check for blueprint {other}"),
    }
}

/// `wsgen logs` on the deployed stack: the functions' own lines (the engine writes each
/// invocation's START, output, END and REPORT lines to the function's log group, as
/// Lambda does), tagged with the function; `--follow` shows an invocation made after it
/// started; Ctrl-C ends it with exit 0. `connect` is a `wsgen connect` that invokes the
/// `Default` function.
fn logs_show_and_follow(p: &Project, region: &str, stack: &str, connect: &[&str]) {
    let json_lines = |stdout: &str| -> Vec<Value> {
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    };
    let starts = |lines: &[Value], source: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["source"] == source)
            .filter_map(|l| l["message"].as_str())
            .filter(|m| m.starts_with("START RequestId"))
            .map(str::to_string)
            .collect()
    };
    let run = wsgen(p, region, &["logs", "OnConnect", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    assert!(!starts(&lines, "OnConnect").is_empty(), "{}", run.stdout);
    assert!(
        lines.iter().all(|l| l["source"] == "OnConnect"),
        "{}",
        run.stdout
    );
    let unknown = wsgen(p, region, &["logs", "NoSuchFunction"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(unknown.stderr.contains("(it has: "), "{}", unknown.stderr);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_wsgen"));
    aws_env(&mut cmd);
    let mut follow = cmd
        .args([
            "logs", "--stack", stack, "--follow", "--json", "--region", region,
        ])
        .args(["--endpoint-url", &ministack().endpoint])
        .env("WSGEN_DATA_DIR", crate::cli::data_dir())
        .current_dir(&p.dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen: Vec<Value> = Vec::new();
    let take = |within: Duration, seen: &mut Vec<Value>, done: &dyn Fn(&[Value]) -> bool| {
        let deadline = Instant::now() + within;
        while !done(seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => seen.extend(json_lines(&line)),
                Err(_) => return,
            }
        }
    };
    // The events so far: the Default function ran for the connect above.
    take(Duration::from_secs(30), &mut seen, &|s| {
        !starts(s, "Default").is_empty()
    });
    let before = starts(&seen, "Default");
    assert!(!before.is_empty(), "{seen:?}");
    take(Duration::from_secs(3), &mut seen, &|_| false);
    let before = starts(&seen, "Default").len();
    let run = wsgen(p, region, connect);
    assert_eq!(run.code, 0, "{}", run.stderr);
    take(Duration::from_secs(60), &mut seen, &|s| {
        starts(s, "Default").len() > before
    });
    assert!(
        starts(&seen, "Default").len() > before,
        "no new invocation followed: {seen:?}"
    );
    std::process::Command::new("kill")
        .args(["-INT", &follow.id().to_string()])
        .status()
        .unwrap();
    let out = follow.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `check` for up to 30 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < Duration::from_secs(30), "{what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Sets a file's modification time (so that an edit, or its undoing, keeps the build
/// units of the other projects sharing the target directory as they are).
fn set_mtime(path: &std::path::Path, time: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(time)
        .unwrap();
}

/// The whole life of a blueprint's deployment, in `region`.
fn lifecycle(blueprint: &str, region: &str) {
    // The handlers build where the stock ones and the other blueprints' did.
    let _ = Project::stock_bundled();
    let name = format!("e2e-{blueprint}");
    let stack: String = name
        .split('-')
        .map(|w| w[..1].to_uppercase() + &w[1..])
        .collect();
    let p = Project::empty();
    let run = p.wsgen(&["new", &name, "--blueprint", blueprint]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let p = p.new_project(&name);
    let engine = ministack();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = rt.block_on(sdk_config_of(engine, region));
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let cfn = aws_sdk_cloudformation::Client::new(&config);

    // Bootstrap (with the account's API Gateway logging role, which the stages' access
    // logs need), then deploy with the outputs written out.
    let run = wsgen(
        &p,
        region,
        &[
            "bootstrap",
            "--api-gateway-logging",
            "--require-approval",
            "never",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json_of(&run)["outcome"], "created", "{}", run.stderr);
    assert!(
        json_of(&run)["api_gateway_logging_role"]
            .as_str()
            .is_some_and(|r| r.contains(":role/")),
        "{}",
        run.stdout
    );
    let outputs_file = p.path("outputs.json");
    let run = wsgen(
        &p,
        region,
        &[
            "deploy",
            "--require-approval",
            "never",
            "--json",
            "--outputs-file",
            outputs_file.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let deployed = json_of(&run);
    assert_eq!(
        deployed["stacks"][&stack]["outcome"], "created",
        "{}",
        run.stderr
    );
    assert_eq!(
        deployed["stacks"][&stack]["missing_outputs"],
        json!([]),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    let outputs: Value =
        serde_json::from_str(&std::fs::read_to_string(&outputs_file).unwrap()).unwrap();
    let wss = outputs[&stack]["WebSocketUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebSocketUrl in {outputs}"));
    assert!(
        wss.starts_with("wss://") && wss.contains(&format!(".execute-api.{region}.amazonaws.com/")),
        "{wss}"
    );
    let url = local_url(wss);
    let resources: Vec<(String, String, String)> = rt.block_on(async {
        let out = cfn
            .list_stack_resources()
            .stack_name(&stack)
            .send()
            .await
            .unwrap();
        out.stack_resource_summaries()
            .iter()
            .map(|r| {
                (
                    r.logical_resource_id().unwrap_or_default().to_string(),
                    r.resource_type().unwrap_or_default().to_string(),
                    r.physical_resource_id().unwrap_or_default().to_string(),
                )
            })
            .collect()
    });
    let of_type = |ty: &str| -> Vec<String> {
        resources
            .iter()
            .filter(|(_, t, _)| t == ty)
            .map(|(_, _, id)| id.clone())
            .collect()
    };
    let table = of_type("AWS::DynamoDB::Table")
        .pop()
        .expect("a connections table");
    let functions = of_type("AWS::Lambda::Function");
    let roles = of_type("AWS::IAM::Role");
    let api = of_type("AWS::ApiGatewayV2::Api").pop().expect("an API");
    assert!(functions.len() >= 4, "{resources:?}");

    // Clients on the deployed stage, through the deployed handlers and table. With a
    // connection open, the table holds it; after it closes, $disconnect removes it.
    // The connection ids in the table.
    let ids = |ddb: &aws_sdk_dynamodb::Client| -> Vec<String> {
        let scan = rt.block_on(ddb.scan().table_name(&table).send()).unwrap();
        let mut ids: Vec<String> = scan
            .items()
            .iter()
            .filter_map(|i| i.get("connectionId")?.as_s().ok().cloned())
            .collect();
        ids.sort();
        ids
    };
    if blueprint != "ticker" {
        // `wsgen connect` finds the stage in the stack's outputs (reached at the
        // engine's execute-api path), sends, and prints the $default route's reply.
        let dance = r#"{"action":"dance"}"#;
        let args = [
            "connect",
            &stack,
            "--json",
            "--query",
            "token=demo-token",
            "-s",
            dance,
        ];
        let run = wsgen(&p, region, &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let replies: Vec<Value> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|e| e["type"] == "received")
            .collect();
        assert!(
            replies.len() == 1 && replies[0]["text"].as_str().unwrap().contains("sendmessage"),
            "{}",
            run.stdout
        );
        if blueprint == "auth-chat" {
            // No token: the authorizer's 401 is a refusal (exit 3).
            let run = wsgen(&p, region, &["connect", &stack, "-s", dance]);
            assert_eq!(run.code, 3, "{}", run.stderr);
            assert!(run.stderr.contains("401"), "{}", run.stderr);
        }
        logs_show_and_follow(&p, region, &stack, &args);
    }
    rt.block_on(exercise(blueprint, &url));
    eventually("$disconnect empties the connections table", || {
        ids(&ddb).is_empty()
    });
    let held = rt.block_on(async {
        let mut s = connect(&format!("{url}?token=demo-token")).await;
        send(&mut s, r#"{"action":"dance"}"#).await;
        let _ = receive(&mut s).await;
        s
    });
    assert_eq!(ids(&ddb).len(), 1, "the open connection is in the table");
    drop(held);
    eventually("a dropped connection leaves the table", || {
        ids(&ddb).is_empty()
    });

    // Nothing to deploy right after a deploy.
    let run = wsgen(&p, region, &["diff"]);
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, format!("Stack {stack}\n  no differences\n").as_str()),
        "{}",
        run.stderr
    );

    // A handler edit goes out with --hotswap; a new connection sees it. The edited
    // crate gets a version of its own (a build unit the other projects in the shared
    // target directory never use), and the edited files keep their modification times,
    // so that the three blueprints build the edit once.
    let url = format!("{url}?token=demo-token");
    assert!(rt
        .block_on(default_reply(&url))
        .contains("unknown action `dance`"));
    let files = ["lambdas/default/src/lib.rs", "lambdas/default/Cargo.toml"];
    let originals: Vec<(String, std::time::SystemTime)> = files
        .iter()
        .map(|f| {
            (
                p.read(f),
                std::fs::metadata(p.path(f)).unwrap().modified().unwrap(),
            )
        })
        .collect();
    p.write(
        files[0],
        &originals[0].0.replace("unknown action", "no such action"),
    );
    p.write(
        files[1],
        &originals[1]
            .0
            .replace("version = \"0.1.0\"", "version = \"0.1.0-hotswap\""),
    );
    for (f, (_, mtime)) in files.iter().zip(&originals) {
        set_mtime(&p.path(f), *mtime);
    }
    let run = wsgen(&p, region, &["deploy", "--hotswap", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        json_of(&run)["stacks"][&stack]["outcome"],
        "hotswapped",
        "{}",
        run.stderr
    );
    assert!(
        rt.block_on(default_reply(&url))
            .contains("no such action `dance`"),
        "the hotswapped code answers"
    );

    // Reverting the source restores the template's code: not "no changes" while the
    // hotswapped code keeps running.
    for (f, (text, mtime)) in files.iter().zip(&originals) {
        p.write(f, text);
        set_mtime(&p.path(f), *mtime);
    }
    let run = wsgen(&p, region, &["deploy", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = json_of(&run);
    assert_eq!(
        result["stacks"][&stack]["outcome"], "updated",
        "{}",
        run.stderr
    );
    // The blueprint's handlers are linked into one binary: the edit reached every
    // function that runs it, and each runs the template's again.
    let manifest: Value = serde_json::from_str(&p.read("wsgen.out/manifest.json")).unwrap();
    let linked: Vec<String> = manifest["assets"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| {
            a["functions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().rsplit('/').next().unwrap().to_string())
                .collect::<Vec<String>>()
        })
        .find(|functions| functions.iter().any(|f| f == "Default"))
        .unwrap();
    assert!(linked.len() > 1, "{linked:?}");
    let mut restored: Vec<String> = result["stacks"][&stack]["restored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    restored.sort();
    assert_eq!(restored, linked, "{}", run.stderr);
    assert!(
        run.stderr.contains("Default (")
            && run.stderr.contains("ran code its template does not name"),
        "{}",
        run.stderr
    );
    assert!(rt
        .block_on(default_reply(&url))
        .contains("unknown action `dance`"));
    let run = wsgen(&p, region, &["deploy", "--json"]);
    assert_eq!(
        json_of(&run)["stacks"][&stack]["outcome"],
        "unchanged",
        "{}",
        run.stderr
    );

    // Destroy: functions, API and roles go; the table stays with its items; no worker
    // of the stack's functions is left running.
    eventually("every connection has left the table", || {
        ids(&ddb).is_empty()
    });
    rt.block_on(
        ddb.put_item()
            .table_name(&table)
            .item(
                "connectionId",
                aws_sdk_dynamodb::types::AttributeValue::S("kept".into()),
            )
            .send(),
    )
    .unwrap();
    let run = wsgen(&p, region, &["destroy", "--yes", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let result = json_of(&run);
    assert_eq!(
        result["stacks"][&stack]["outcome"], "deleted",
        "{}",
        run.stderr
    );
    assert_eq!(
        result["stacks"][&stack]["retained"][0]["physical_id"],
        table.as_str()
    );
    for f in &functions {
        let gone = rt.block_on(lambda.get_function().function_name(f).send());
        assert!(
            gone.as_ref().is_err_and(|e| e
                .as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())),
            "function {f}: {gone:?}"
        );
    }
    for r in &roles {
        let got = engine.call(region, "iam", "get_role", json!({"RoleName": r}));
        assert_eq!(got["Error"]["Code"], "NoSuchEntity", "role {r}: {got}");
    }
    let got = engine.call(region, "apigatewayv2", "get_api", json!({"ApiId": api}));
    assert_eq!(
        got["Error"]["Code"], "NotFoundException",
        "API {api}: {got}"
    );
    assert_eq!(ids(&ddb), ["kept"], "the retained table keeps its items");
    eventually("the stack's Lambda workers stop", || {
        engine.workers(&format!("{stack}-")).is_empty()
    });
}

#[test]
fn the_chat_blueprint_deploys_and_serves_clients_end_to_end() {
    lifecycle("chat", "eu-west-1");
}

#[test]
fn the_auth_chat_blueprint_deploys_and_authorizes_end_to_end() {
    lifecycle("auth-chat", "eu-west-2");
}

#[test]
fn the_ticker_blueprint_deploys_and_pushes_prices_end_to_end() {
    lifecycle("ticker", "eu-west-3");
}
