//! A handler that misbehaves on request, for wsgen dev's tests: `{"action":"crash"}`
//! aborts the process mid-invocation; any other message answers `{"slept": N}` after
//! its `ms` (N, default 0) milliseconds.

use std::time::Duration;
use wsgen_handler::{Context, Router, WsResponse};

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
            Ok(WsResponse::json(&serde_json::json!({ "slept": ms })))
        })
        .run()
        .await
}
