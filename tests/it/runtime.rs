//! Every stock handler, bundled as it would be deployed, serves one invocation through
//! the Lambda Runtime API: a small Runtime API server here hands each `bootstrap` an API
//! Gateway WebSocket event and checks its response; DynamoDB and `@connections` are
//! the in-process fake of wsgen-handler. The stock handlers link into one binary, run
//! as Lambda runs it: with `_HANDLER` naming the handler.

use crate::cli::{zip_entries, Project};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use wsgen_handler::testing::{serve_http, FakeAws};

/// A function's code: its `bootstrap` and `Handler`.
struct Code {
    bootstrap: PathBuf,
    handler: String,
}

/// Runs a function's `bootstrap` against a Runtime API that hands out `event` once, and
/// returns the response it posted.
async fn invoke(code: &Code, env: &[(&str, String)], event: Value) -> Value {
    let bootstrap = &code.bootstrap;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handed_out = Arc::new(AtomicBool::new(false));
    let (tx, rx) = tokio::sync::oneshot::channel::<(String, Vec<u8>)>();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let event = event.to_string().into_bytes();
    serve_http(listener, move |r| {
        let (handed_out, tx, event) = (handed_out.clone(), tx.clone(), event.clone());
        async move {
            if r.method == "GET" && r.path == "/2018-06-01/runtime/invocation/next" {
                if handed_out.swap(true, Ordering::SeqCst) {
                    // One invocation only: the next long poll waits until the test ends.
                    tokio::time::sleep(Duration::from_secs(600)).await;
                }
                let deadline = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 30_000;
                let headers = vec![
                    (
                        "lambda-runtime-aws-request-id".to_string(),
                        "req-1".to_string(),
                    ),
                    (
                        "lambda-runtime-deadline-ms".to_string(),
                        deadline.to_string(),
                    ),
                    (
                        "lambda-runtime-invoked-function-arn".to_string(),
                        "arn:aws:lambda:us-east-1:123456789012:function:test".to_string(),
                    ),
                    (
                        "lambda-runtime-trace-id".to_string(),
                        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1".to_string(),
                    ),
                    ("content-type".to_string(), "application/json".to_string()),
                ];
                return (200, headers, event);
            }
            if r.method == "POST" && r.path.starts_with("/2018-06-01/runtime/") {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send((r.path, r.body));
                }
                return (202, vec![], b"{}".to_vec());
            }
            (404, vec![], Vec::new())
        }
    });
    let mut child = tokio::process::Command::new(bootstrap)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "test")
        .env("_HANDLER", &code.handler)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let posted = tokio::time::timeout(Duration::from_secs(60), rx).await;
    let _ = child.kill().await;
    let (path, body) = posted
        .expect("the handler answers within a minute")
        .unwrap();
    let body: Value =
        serde_json::from_slice(&body).unwrap_or_else(|_| json!(String::from_utf8_lossy(&body)));
    assert_eq!(
        path,
        "/2018-06-01/runtime/invocation/req-1/response",
        "{} reported an error: {body}",
        bootstrap.display()
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundled_stock_handler_serves_an_invocation() {
    let p = tokio::task::block_in_place(Project::stock_bundled);
    let bundled = p.bundled();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(bundled.join("manifest.json")).unwrap())
            .unwrap();
    let mut bootstraps = BTreeMap::new();
    let runs = tempfile::tempdir().unwrap();
    let mut linked = Vec::new();
    for (fp, asset) in manifest["assets"].as_object().unwrap() {
        let zip = bundled.join(asset["bundle"]["file"].as_str().unwrap());
        let entries = zip_entries(&zip);
        assert_eq!(entries.len(), 1);
        let exe = runs.path().join(fp);
        std::fs::write(&exe, &entries[0].2).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(entries[0].1 & 0o777))
            .unwrap();
        match asset["linked"].as_array() {
            // One binary, run as each handler.
            Some(handlers) => {
                assert_eq!(asset["bin"], "bootstrap");
                for h in handlers {
                    let handler = h["package"].as_str().unwrap().to_string();
                    linked.push(handler.clone());
                    let code = Code {
                        bootstrap: exe.clone(),
                        handler: handler.clone(),
                    };
                    bootstraps.insert(handler, code);
                }
            }
            None => {
                let bin = asset["bin"].as_str().unwrap().to_string();
                let code = Code {
                    bootstrap: exe,
                    handler: "bootstrap".into(),
                };
                bootstraps.insert(bin, code);
            }
        }
    }
    assert_eq!(
        bootstraps.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "authorizer",
            "default",
            "misbehave",
            "onconnect",
            "ondisconnect",
            "sendmessage",
            "sendto",
            "ticker",
            "whoami"
        ]
    );
    // Every stock crate names its library's entry point; the test handler does not.
    assert_eq!(linked.len(), 8, "{linked:?}");
    assert!(!linked.contains(&"misbehave".to_string()));

    // A Handler the binary does not know: the process exits at once, naming the ones
    // it has.
    let out = tokio::process::Command::new(&bootstraps["default"].bootstrap)
        .env_clear()
        .env("_HANDLER", "nope")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not `nope`") && stderr.contains("`sendmessage`"),
        "{stderr}"
    );

    let aws = FakeAws::start().await;
    let env = |extra: &[(&'static str, &str)]| {
        let mut env = vec![
            ("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint()),
            ("TABLE_NAME", "conns".to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        env
    };

    let out = invoke(
        &bootstraps["onconnect"],
        &env(&[("CONNECTION_TTL_SECONDS", "7200")]),
        aws.event("$connect", "c1", None),
    )
    .await;
    assert_eq!(out["statusCode"], 200, "{out}");
    assert!(aws.item("conns", "c1").unwrap()["expiresAt"]["N"].is_string());

    aws.connect("c1");
    aws.store("conns", "c2");
    aws.connect("c2");
    let out = invoke(
        &bootstraps["sendmessage"],
        &env(&[]),
        aws.event(
            "sendmessage",
            "c2",
            Some(r#"{"action":"sendmessage","data":"hello"}"#),
        ),
    )
    .await;
    assert_eq!(out["statusCode"], 200, "{out}");
    assert_eq!(aws.received("c1"), ["hello"]);

    let out = invoke(
        &bootstraps["whoami"],
        &env(&[]),
        aws.event("whoAmI", "c1", Some(r#"{"action":"whoAmI"}"#)),
    )
    .await;
    assert_eq!(out["body"], "c1");

    // The authorizer: a REQUEST event in, a policy out.
    let digest = "alice=9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc";
    let arn = "arn:aws:execute-api:us-east-1:123456789012:abc/live/$connect";
    for (token, effect) in [("alice-token", "Allow"), ("wrong", "Deny")] {
        let out = invoke(
            &bootstraps["authorizer"],
            &[("TOKEN_SHA256", digest.to_string())],
            json!({
                "type": "REQUEST", "methodArn": arn, "headers": {}, "queryStringParameters": {"token": token},
                "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "c9=", "stage": "live", "apiId": "abc"},
            }),
        )
        .await;
        assert_eq!(
            out["policyDocument"]["Statement"][0]["Effect"], effect,
            "{out}"
        );
        assert_eq!(out["policyDocument"]["Statement"][0]["Resource"][0], arn);
    }

    let msg = r#"{"action":"sendto","connectionId":"c2","message":"Hi! :)"}"#;
    let out = invoke(
        &bootstraps["sendto"],
        &env(&[]),
        aws.event("sendto", "c1", Some(msg)),
    )
    .await;
    assert_eq!(out["statusCode"], 200, "{out}");
    assert!(out["body"].is_null(), "{out}");
    assert_eq!(aws.received("c2"), ["Hi! :)"]);

    let out = invoke(
        &bootstraps["ticker"],
        &env(&[]),
        aws.event(
            "subscribe",
            "c1",
            Some(r#"{"action":"subscribe","symbol":"AMZN"}"#),
        ),
    )
    .await;
    assert_eq!(out["body"], r#"{"subscribed":"AMZN"}"#);
    assert_eq!(
        aws.item("conns", "c1").unwrap()["topics"]["SS"],
        json!(["AMZN"])
    );

    let out = invoke(
        &bootstraps["default"],
        &env(&[("ACTIONS", "sendmessage,whoAmI")]),
        aws.event("$default", "c1", Some(r#"{"action":"x"}"#)),
    )
    .await;
    assert!(
        out["body"]
            .as_str()
            .unwrap()
            .contains(r#""validActions":["sendmessage","whoAmI"]"#),
        "{out}"
    );

    let out = invoke(
        &bootstraps["ondisconnect"],
        &env(&[]),
        aws.event("$disconnect", "c1", None),
    )
    .await;
    assert_eq!(out["statusCode"], 200);
    assert_eq!(aws.stored("conns"), ["c2"]);
}
