//! DynamoDB Streams to Lambda in `wsgen dev`, as Lambda's event source mappings do it:
//! each function subscribed to a table's stream (`AWS::Lambda::EventSourceMapping`) is
//! run on batches of the embedded engine's stream records, in the order they were
//! written, with Lambda's DynamoDB event (`{"Records": [...]}`). A batch the function
//! fails is retried (with a growing pause, up to 30 s) until it succeeds or, when the
//! mapping sets `MaximumRetryAttempts`, until those retries are spent; the records after
//! it wait, as on AWS. Each invocation is logged like the others.

use super::dynamodb;
use super::lambda::LambdaService;
use super::model::DevSubscription;
use dynoxide::Database;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often an idle stream is read (Lambda polls a shard about four times a second).
const POLL: Duration = Duration::from_millis(100);
/// The longest pause between retries of a failed batch.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where each mapping reads next: the stream and the shard iterator after the last
/// record delivered (the engine's iterators do not expire), by mapping. Kept across
/// reloads, so a rebuild neither repeats nor skips records.
pub type Positions = Arc<Mutex<BTreeMap<String, (String, String)>>>;

/// Starts reading the stream of each subscription. Where reading starts is settled
/// before this returns (so before `wsgen dev` says it is ready): `LATEST` means the
/// changes from now on, as a mapping created at deploy time sees them.
pub fn start(
    db: &Database,
    lambda: &Arc<LambdaService>,
    subscriptions: Vec<DevSubscription>,
    positions: &Positions,
    json: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    subscriptions
        .into_iter()
        .map(|s| {
            let begun = begin(db, &s, positions);
            let (db, lambda, positions) = (db.clone(), lambda.clone(), positions.clone());
            tokio::spawn(async move { deliver(db, lambda, s, positions, begun, json).await })
        })
        .collect()
}

/// [`dynamodb::call`] with the error as text.
fn call_now<Req, Resp>(
    db: &Database,
    operation: fn(&Database, Req) -> dynoxide::Result<Resp>,
    request: Value,
) -> Result<Value, String>
where
    Req: serde::de::DeserializeOwned,
    Resp: serde::Serialize,
{
    dynamodb::call(|r| operation(db, r), request).map_err(|e| e.to_string())
}

/// [`call_now`] on a blocking thread (it takes the database lock).
async fn call<Req, Resp>(
    db: &Database,
    operation: fn(&Database, Req) -> dynoxide::Result<Resp>,
    request: Value,
) -> Result<Value, String>
where
    Req: serde::de::DeserializeOwned + Send + 'static,
    Resp: serde::Serialize + Send + 'static,
{
    let db = db.clone();
    tokio::task::spawn_blocking(move || call_now(&db, operation, request))
        .await
        .map_err(|e| e.to_string())?
}

/// The subscription's stream and the iterator to read it from: where it had read to,
/// else its starting position (recorded, so that a reload starts there too).
fn begin(
    db: &Database,
    s: &DevSubscription,
    positions: &Positions,
) -> Result<(String, String), String> {
    let described = call_now(db, Database::describe_table, json!({"TableName": s.table}))?;
    let arn = described
        .pointer("/Table/LatestStreamArn")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("table {} has no stream", s.table))?
        .to_string();
    let mut positions = positions.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((stream, iterator)) = positions.get(&s.mapping) {
        if *stream == arn {
            return Ok((arn, iterator.clone()));
        }
    }
    let stream = call_now(db, Database::describe_stream, json!({"StreamArn": arn}))?;
    // The engine keeps one shard a stream: the open one, last.
    let shard = stream
        .pointer("/StreamDescription/Shards")
        .and_then(Value::as_array)
        .and_then(|shards| shards.last())
        .and_then(|shard| shard["ShardId"].as_str())
        .ok_or_else(|| format!("the stream of table {} has no shard", s.table))?
        .to_string();
    let got = call_now(
        db,
        Database::get_shard_iterator,
        json!({"StreamArn": arn, "ShardId": shard,
            "ShardIteratorType": if s.trim_horizon { "TRIM_HORIZON" } else { "LATEST" }}),
    )?;
    let iterator = got["ShardIterator"]
        .as_str()
        .ok_or_else(|| format!("shard {shard} has ended"))?
        .to_string();
    positions.insert(s.mapping.clone(), (arn.clone(), iterator.clone()));
    Ok((arn, iterator))
}

/// Reads the subscription's stream until the task is stopped.
async fn deliver(
    db: Database,
    lambda: Arc<LambdaService>,
    s: DevSubscription,
    positions: Positions,
    begun: Result<(String, String), String>,
    json: bool,
) {
    let log = |status: u16, records: usize, ms: f64, detail: &str| {
        if json {
            crate::dev::emit(
                json!({"type": "stream", "table": s.table, "function": s.function, "records": records, "status": status, "ms": ms, "detail": detail}),
            );
        } else {
            eprintln!(
                "stream {} -> {} {status} {ms:.1} ms ({records} record{}){}{detail}",
                s.table,
                s.function,
                if records == 1 { "" } else { "s" },
                if detail.is_empty() { "" } else { " " }
            );
        }
    };
    let (arn, mut iterator) = match begun {
        Ok(begun) => begun,
        Err(e) => return log(500, 0, 0.0, &format!("cannot read the stream: {e}")),
    };
    loop {
        let (mut batch, mut next) = match read(&db, &iterator, s.batch_size).await {
            Ok(page) => page,
            Err(e) => {
                log(500, 0, 0.0, &format!("cannot read the stream: {e}"));
                tokio::time::sleep(MAX_BACKOFF).await;
                continue;
            }
        };
        // Gather up to a full batch within the batching window.
        let deadline = Instant::now() + s.window;
        while !batch.is_empty() && batch.len() < s.batch_size && Instant::now() < deadline {
            tokio::time::sleep(POLL.min(deadline - Instant::now())).await;
            match read(&db, &next, s.batch_size - batch.len()).await {
                Ok((more, then)) => {
                    batch.extend(more);
                    next = then;
                }
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            tokio::time::sleep(POLL).await;
            iterator = next;
            continue;
        }
        let records = batch.len();
        let event = json!({"Records": batch
            .into_iter()
            .map(|mut r| {
                r["eventSourceARN"] = json!(arn);
                r
            })
            .collect::<Vec<_>>()});
        invoke(&lambda, &s, &event, records, &log).await;
        positions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.mapping.clone(), (arn.clone(), next.clone()));
        iterator = next;
    }
}

/// A page of records from `iterator` (at most `limit`), and the iterator after it.
async fn read(db: &Database, iterator: &str, limit: usize) -> Result<(Vec<Value>, String), String> {
    let page = call(
        db,
        Database::get_records,
        json!({"ShardIterator": iterator, "Limit": limit}),
    )
    .await?;
    let records = page["Records"].as_array().cloned().unwrap_or_default();
    // An open shard always has a next iterator; without one, read the same place again.
    let next = page["NextShardIterator"]
        .as_str()
        .unwrap_or(iterator)
        .to_string();
    Ok((records, next))
}

/// Runs the function on a batch until it succeeds or the retries are spent.
async fn invoke(
    lambda: &LambdaService,
    s: &DevSubscription,
    event: &Value,
    records: usize,
    log: &impl Fn(u16, usize, f64, &str),
) {
    let mut attempt: u32 = 0;
    loop {
        let started = Instant::now();
        let result = lambda.invoke(&s.function, event).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let Err(e) = result else {
            log(200, records, ms, "");
            return;
        };
        if s.retry_attempts.is_some_and(|max| attempt >= max) {
            log(
                500,
                records,
                ms,
                &format!("{e}; skipped after {attempt} retries (MaximumRetryAttempts)"),
            );
            return;
        }
        let pause = Duration::from_secs(1 << attempt.min(5)).min(MAX_BACKOFF);
        log(
            500,
            records,
            ms,
            &format!("{e}; retrying in {} s", pause.as_secs()),
        );
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}
