//! The AsyncAPI documents `wsgen synth` writes: snapshots of the catalogue's, each
//! parsed by the AsyncAPI project's own parser (`@asyncapi/parser`, run by
//! tests/node/parse-asyncapi.mjs), and what a client reads in the chat app's.

use crate::apps;
use crate::support::repo;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The parser's findings on a document file (see tests/node/parse-asyncapi.mjs).
pub fn parse(file: &Path) -> Value {
    let script = repo().join("tests/node/parse-asyncapi.mjs");
    assert!(
        repo().join("tests/node/node_modules/@asyncapi/parser").is_dir(),
        "the AsyncAPI parser is not installed: run `bash .ci/run` once, or `npm ci --prefix tests/node`"
    );
    let out = Command::new("node")
        .arg(&script)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): install Node.js 18 or later"));
    let text = String::from_utf8_lossy(&out.stdout);
    let found: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "the parser printed no result ({e}): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "{} does not parse: {found:#}",
        file.display()
    );
    found
}

/// Every catalogue app's documents: snapshots, and no error or warning from the parser.
#[test]
fn every_catalogue_document_parses_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for (name, app) in apps::catalogue() {
        let assembly = app.assemble().unwrap_or_else(|e| panic!("{name}: {e}"));
        for (stack, template) in &assembly.templates {
            let Some(doc) = wsgen_cli::asyncapi::document(stack, template) else {
                continue;
            };
            let yaml = serde_saphyr::to_string(&doc).unwrap();
            insta::assert_snapshot!(format!("{name}-{stack}-asyncapi"), yaml);
            let file = dir.path().join(format!("{name}-{stack}.asyncapi.yaml"));
            std::fs::write(&file, &yaml).unwrap();
            let found = parse(&file);
            assert_eq!(found["version"], "3.0.0", "{name}/{stack}");
            assert_eq!(
                found["warnings"],
                serde_json::json!([]),
                "{name}/{stack}: {found:#}"
            );
        }
    }
}

/// The chat app's document as a client reads it: the stage's server, one channel,
/// `sendmessage` receiving the `SendMessage` message whose payload requires `data`,
/// `$default` as a two-way operation, and no operation for `$connect`/`$disconnect`.
#[test]
fn the_chat_document_describes_the_protocol() {
    let assembly = apps::chat().assemble().unwrap();
    let doc = wsgen_cli::asyncapi::document("Chat", &assembly.templates["Chat"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("Chat.asyncapi.yaml");
    std::fs::write(&file, serde_saphyr::to_string(&doc).unwrap()).unwrap();
    let found = parse(&file);
    assert_eq!(
        found["servers"]["live"]["url"],
        "wss://{apiId}.execute-api.{region}.amazonaws.com/live"
    );
    let ops = found["operations"].as_object().unwrap();
    assert_eq!(
        ops.keys().collect::<Vec<_>>(),
        ["_default", "sendmessage"],
        "{found:#}"
    );
    let send = &ops["sendmessage"];
    assert_eq!(send["action"], "receive");
    assert_eq!(send["messages"], serde_json::json!(["SendMessage"]));
    assert_eq!(send["reply"], false);
    assert_eq!(ops["_default"]["reply"], true, "$default is two-way");
    let payload = &found["messages"]["SendMessage"];
    let required: Vec<&str> = payload["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(required.contains(&"data"), "{payload:#}");
    assert!(payload.get("$schema").is_none(), "{payload:#}");
}

/// `$connect`'s authorizer's identity sources are the channel's WebSocket query and
/// header parameters.
#[test]
fn connect_parameters_are_the_channel_binding() {
    let assembly = apps::authorizers().assemble().unwrap();
    let mut bindings = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    for (stack, template) in &assembly.templates {
        let Some(doc) = wsgen_cli::asyncapi::document(stack, template) else {
            continue;
        };
        let file = dir.path().join(format!("{stack}.asyncapi.yaml"));
        std::fs::write(&file, serde_saphyr::to_string(&doc).unwrap()).unwrap();
        let found = parse(&file);
        for channel in found["channels"].as_object().unwrap().values() {
            if let Some(ws) = channel["bindings"].get("ws") {
                bindings.push(ws.clone());
            }
        }
    }
    assert!(
        !bindings.is_empty(),
        "the authorizers app has a Lambda authorizer"
    );
    assert!(
        bindings
            .iter()
            .all(|b| b["method"] == "GET"
                && (b.get("query").is_some() || b.get("headers").is_some())),
        "{bindings:#?}"
    );
}
