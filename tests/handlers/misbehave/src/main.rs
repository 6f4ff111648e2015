//! A handler that misbehaves on request, for wsgen dev's tests: `{"action":"crash"}`
//! aborts the process mid-invocation; any other message answers `{"slept": N}` after
//! its `ms` (N, default 0) milliseconds, with `"authorizer"` (what the `$connect`
//! authorizer said about the caller) when the API has one. Subscribed to a table's stream, it fails each
//! record `{"id": .., "failures": N}` N times before handling it (and says so).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use wsgen_handler::stream::new_image;
use wsgen_handler::{Context, Router, WsResponse};

/// How often each record has failed so far, by id.
static FAILED: Mutex<BTreeMap<String, u32>> = Mutex::new(BTreeMap::new());

#[derive(Deserialize)]
struct Record {
    id: String,
    failures: u32,
}

#[tokio::main]
async fn main() -> Result<(), wsgen_handler::Error> {
    Router::new(Context::from_env().await?)
        .on_default(|req, _| async move {
            let v: serde_json::Value = req.json().unwrap_or_default();
            if v["action"] == "crash" {
                std::process::abort();
            }
            let ms = v["ms"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let mut body = serde_json::json!({ "slept": ms });
            if !req.authorizer.is_null() {
                body["authorizer"] = req.authorizer.clone();
            }
            Ok(WsResponse::json(&body))
        })
        .on_stream(|event, _| async move {
            for record in &event.records {
                let Some(r) = new_image::<Record>(record)? else {
                    continue;
                };
                let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
                let so_far = failed.entry(r.id.clone()).or_default();
                if *so_far < r.failures {
                    *so_far += 1;
                    return Err(
                        format!("record {} fails ({} of {})", r.id, so_far, r.failures).into(),
                    );
                }
                eprintln!("record {} handled after {} failures", r.id, so_far);
            }
            Ok(())
        })
        .run()
        .await
}
