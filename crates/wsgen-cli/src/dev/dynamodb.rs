//! The local DynamoDB of `wsgen dev`: [dynoxide](https://crates.io/crates/dynoxide-rs), a
//! maintained DynamoDB engine backed by SQLite, embedded and served on 127.0.0.1 by its
//! own HTTP server (DynamoDB's JSON protocol and DynamoDB Streams), with the data in
//! `wsgen.out/dev/dynamodb/tables.sqlite`.
//!
//! Around the engine, wsgen keeps the tables as the template describes them ([`Embedded::
//! ensure`]): a missing table is created with its indexes, stream and time to live; a
//! table whose keys or indexes changed is recreated, its items first written to a file
//! that is named (and put back when the primary key is unchanged), so no data is dropped
//! silently. Expired items are swept every second. Data of the engine wsgen dev had
//! before is moved aside, never deleted ([`move_old_engine_data`]).

use super::dynamodb_proxy::Proxy;
use super::model::DevTable;
use super::DevError;
use crate::{CliError, Ui};
use dynoxide::actions as a;
use dynoxide::{Database, DynoxideError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wsgen::cfn::resources::Table;

/// The database file, in the data directory.
pub const DATA_FILE: &str = "tables.sqlite";
/// How often expired items are deleted.
const TTL_SWEEP: Duration = Duration::from_secs(1);

/// The engine, serving on 127.0.0.1.
pub struct Embedded {
    pub db: Database,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The data directory.
    pub dir: PathBuf,
    /// Where each stream subscription has read to (kept across reloads).
    pub positions: super::streams::Positions,
    /// What serves `endpoint` in front of the engine (loopback only, local IAM).
    pub proxy: Arc<Proxy>,
    front: tokio::task::JoinHandle<()>,
    stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    server: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Result<(), String>>>>,
    sweeper: tokio::task::JoinHandle<()>,
}

impl Embedded {
    /// Opens the data in `dir` (created when missing) and serves it on `port` (0: any
    /// free port). Data that cannot be opened is an error naming the file, which is
    /// left as it is.
    pub async fn start(dir: &Path, port: u16) -> Result<Embedded, CliError> {
        std::fs::create_dir_all(dir).map_err(CliError::io("cannot create", dir))?;
        let file = dir.join(DATA_FILE);
        let db = Database::new(&file.to_string_lossy()).map_err(|e| DevError::Data {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let listen = |error| DevError::Listen {
            what: "the local DynamoDB",
            port,
            option: "--dynamodb-port",
            error,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(listen)?;
        let endpoint = format!("http://{}", listener.local_addr().map_err(listen)?);
        // The engine on a port of its own; the endpoint is the proxy's.
        let engine = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(listen)?;
        let proxy = Proxy::new(engine.local_addr().map_err(listen)?);
        let front = tokio::spawn(super::http::serve(
            listener,
            proxy.router(),
            std::future::pending(),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(dynoxide::server::serve_with_shutdown(
            engine,
            db.clone(),
            async move {
                let _ = stopped.await;
            },
        ));
        let sweeper = tokio::spawn({
            let db = db.clone();
            async move {
                loop {
                    tokio::time::sleep(TTL_SWEEP).await;
                    let db = db.clone();
                    let _ = tokio::task::spawn_blocking(move || db.sweep_ttl()).await;
                }
            }
        });
        Ok(Embedded {
            db,
            endpoint,
            dir: dir.to_path_buf(),
            positions: Default::default(),
            proxy,
            front,
            stop: std::sync::Mutex::new(Some(stop)),
            server: tokio::sync::Mutex::new(Some(server)),
            sweeper,
        })
    }

    /// Stops serving; requests under way finish first (for at most two seconds).
    pub async fn stop(&self) {
        self.sweeper.abort();
        self.front.abort();
        let stop = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        }
    }

    /// Makes the tables what the template says: creates the missing ones; recreates
    /// those whose keys or indexes changed (see [`Embedded::recreate`]); turns the
    /// stream and time to live on or off as declared.
    pub fn ensure(&self, ui: &Ui, tables: &[DevTable]) -> Result<(), CliError> {
        for t in tables {
            let wanted = create_request(&t.name, &t.properties);
            match call(|r| self.db.describe_table(r), json!({"TableName": t.name})) {
                Err(DynoxideError::ResourceNotFoundException(_)) => self.create(&wanted)?,
                Err(e) => return Err(failed(&format!("describe table {}", t.name), e)),
                Ok(described) => {
                    let table = &described["Table"];
                    if shape(table) != shape(&wanted) {
                        self.recreate(ui, &t.name, table, &wanted)?;
                    } else if stream_of(table) != stream_of(&wanted) {
                        self.set_stream(&t.name, table, &wanted)?;
                    }
                }
            }
            self.set_ttl(&t.name, &t.properties)?;
        }
        Ok(())
    }

    /// A table whose primary key or indexes changed cannot be altered in place: its
    /// items are written to `exports/<table>-<time>.jsonl` (DynamoDB JSON, one item a
    /// line), the table is created anew, and when its primary key is unchanged the items
    /// are put back. Either way a warning names the file.
    fn recreate(&self, ui: &Ui, name: &str, old: &Value, wanted: &Value) -> Result<(), CliError> {
        let items = self.scan_all(name)?;
        let exports = self.dir.join("exports");
        std::fs::create_dir_all(&exports).map_err(CliError::io("cannot create", &exports))?;
        let file = exports.join(format!("{name}-{}.jsonl", super::unix_now().as_secs()));
        let mut lines = String::new();
        for item in &items {
            lines.push_str(&serde_json::to_string(item).expect("an item is JSON"));
            lines.push('\n');
        }
        crate::files::write_atomically(&file, lines.as_bytes(), None)?;
        call(|r| self.db.delete_table(r), json!({"TableName": name}))
            .map_err(|e| failed(&format!("delete table {name}"), e))?;
        self.create(wanted)?;
        let primary = |t: &Value| {
            let types = key_types(t);
            t["KeySchema"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| {
                    (
                        k["AttributeName"].clone(),
                        k["KeyType"].clone(),
                        types
                            .get(k["AttributeName"].as_str().unwrap_or_default())
                            .cloned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let same_key = primary(old) == primary(wanted);
        if same_key {
            let count = items.len();
            if count > 0 {
                // Without stream records: subscribers saw these items when they came.
                self.db
                    .import_items(name, items, dynoxide::ImportOptions::default())
                    .map_err(|e| failed(&format!("put the items back into table {name}"), e))?;
            }
            ui.warn(&format!(
                "table {name}'s indexes changed: recreated it with its {count} item(s), which are also in {}",
                file.display()
            ));
        } else {
            ui.warn(&format!(
                "table {name}'s key changed: recreated it empty; its {} old item(s) are in {} (DynamoDB JSON, one a line)",
                items.len(),
                file.display()
            ));
        }
        Ok(())
    }

    fn create(&self, request: &Value) -> Result<(), CliError> {
        call(|r| self.db.create_table(r), request.clone())
            .map(|_| ())
            .map_err(|e| {
                failed(
                    &format!(
                        "create table {}",
                        request["TableName"].as_str().unwrap_or("")
                    ),
                    e,
                )
            })
    }

    /// Turns the stream off, then on with the wanted view (DynamoDB changes a view so).
    fn set_stream(&self, name: &str, table: &Value, wanted: &Value) -> Result<(), CliError> {
        let mut steps = Vec::new();
        if stream_of(table).is_some() {
            steps.push(json!({"StreamEnabled": false}));
        }
        if let Some(view) = stream_of(wanted) {
            steps.push(json!({"StreamEnabled": true, "StreamViewType": view}));
        }
        for spec in steps {
            call(
                |r| self.db.update_table(r),
                json!({"TableName": name, "StreamSpecification": spec}),
            )
            .map_err(|e| failed(&format!("change the stream of table {name}"), e))?;
        }
        Ok(())
    }

    fn set_ttl(&self, name: &str, properties: &Table) -> Result<(), CliError> {
        let wanted = properties
            .time_to_live_specification
            .as_ref()
            .filter(|s| s.enabled)
            .map(|s| s.attribute_name.as_str());
        let now = call(
            |r| self.db.describe_time_to_live(r),
            json!({"TableName": name}),
        )
        .map_err(|e| failed(&format!("describe the time to live of table {name}"), e))?;
        let description = &now["TimeToLiveDescription"];
        let current = (description["TimeToLiveStatus"] == "ENABLED")
            .then(|| description["AttributeName"].as_str())
            .flatten();
        if current == wanted {
            return Ok(());
        }
        let spec = match (wanted, current) {
            (Some(attribute), _) => json!({"Enabled": true, "AttributeName": attribute}),
            (None, Some(attribute)) => json!({"Enabled": false, "AttributeName": attribute}),
            (None, None) => return Ok(()),
        };
        if let (Some(_), Some(old)) = (wanted, current) {
            call(
                |r| self.db.update_time_to_live(r),
                json!({"TableName": name, "TimeToLiveSpecification": {"Enabled": false, "AttributeName": old}}),
            )
            .map_err(|e| failed(&format!("change the time to live of table {name}"), e))?;
        }
        call(
            |r| self.db.update_time_to_live(r),
            json!({"TableName": name, "TimeToLiveSpecification": spec}),
        )
        .map(|_| ())
        .map_err(|e| failed(&format!("change the time to live of table {name}"), e))
    }

    /// Every item of a table.
    fn scan_all(&self, name: &str) -> Result<Vec<dynoxide::Item>, CliError> {
        let mut items = Vec::new();
        let mut start: Option<Value> = None;
        loop {
            let mut request = json!({"TableName": name});
            if let Some(key) = start.take() {
                request["ExclusiveStartKey"] = key;
            }
            let request: a::scan::ScanRequest = serde_json::from_value(request)
                .map_err(|e| failed(&format!("scan table {name}"), e))?;
            let page = self
                .db
                .scan(request)
                .map_err(|e| failed(&format!("scan table {name}"), e))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) => start = Some(serde_json::to_value(key).expect("a key is JSON")),
                None => return Ok(items),
            }
        }
    }
}

/// Calls an operation of the engine with a request in the API's JSON shape; its response
/// in the same shape.
pub fn call<Req: DeserializeOwned, Resp: Serialize>(
    operation: impl FnOnce(Req) -> dynoxide::Result<Resp>,
    request: Value,
) -> dynoxide::Result<Value> {
    let request = serde_json::from_value(request)
        .map_err(|e| DynoxideError::ValidationException(e.to_string()))?;
    Ok(serde_json::to_value(operation(request)?).expect("a response is JSON"))
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.sweeper.abort();
    }
}

/// Moves the files of the engine `wsgen dev` had before dynoxide (`snapshot.json`,
/// `wal.jsonl`) from `dir` into `dir/old-engine/` (or `old-engine-2`, ...); where to,
/// when there were any. Nothing is deleted: the files hold the items in DynamoDB JSON.
pub fn move_old_engine_data(dir: &Path) -> Result<Option<PathBuf>, CliError> {
    let old: Vec<PathBuf> = ["snapshot.json", "wal.jsonl", "lock"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.is_file())
        .collect();
    if !old.iter().any(|p| !p.ends_with("lock")) {
        return Ok(None);
    }
    let aside = (1..)
        .map(|n| match n {
            1 => dir.join("old-engine"),
            n => dir.join(format!("old-engine-{n}")),
        })
        .find(|p| !p.exists())
        .expect("a free name");
    std::fs::create_dir_all(&aside).map_err(CliError::io("cannot create", &aside))?;
    for file in old {
        let to = aside.join(file.file_name().expect("a file name"));
        std::fs::rename(&file, &to).map_err(CliError::io("cannot move", &file))?;
    }
    Ok(Some(aside))
}

/// CreateTable's request for a table of the template (the properties of its
/// `AWS::DynamoDB::Table`): billed per request locally, whatever the template's mode.
pub fn create_request(name: &str, properties: &Table) -> Value {
    let mut request = json!({
        "TableName": name,
        "KeySchema": properties.key_schema,
        "AttributeDefinitions": properties.attribute_definitions,
        "BillingMode": "PAY_PER_REQUEST",
    });
    if !properties.global_secondary_indexes.is_empty() {
        let list: Vec<Value> = properties
            .global_secondary_indexes
            .iter()
            .map(|i| {
                json!({
                    "IndexName": i.index_name,
                    "KeySchema": i.key_schema,
                    "Projection": i.projection,
                })
            })
            .collect();
        request["GlobalSecondaryIndexes"] = json!(list);
    }
    if let Some(spec) = &properties.stream_specification {
        request["StreamSpecification"] =
            json!({"StreamEnabled": true, "StreamViewType": spec.stream_view_type});
    }
    request
}

/// What cannot change without recreating a table: the key schema, the types of the
/// key attributes, and the indexes (names, keys, projections).
fn shape(table: &Value) -> Value {
    let indexes = |name: &str| -> Vec<Value> {
        let mut list: Vec<Value> = table[name]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                let mut non_key: Vec<&str> = i
                    .pointer("/Projection/NonKeyAttributes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                non_key.sort_unstable();
                json!([
                    i["IndexName"],
                    i["KeySchema"],
                    i.pointer("/Projection/ProjectionType"),
                    non_key
                ])
            })
            .collect();
        list.sort_by_key(|v| v.to_string());
        list
    };
    json!({
        "KeySchema": table["KeySchema"],
        "Types": key_types(table),
        "Global": indexes("GlobalSecondaryIndexes"),
        "Local": indexes("LocalSecondaryIndexes"),
    })
}

/// The types of the key attributes (of the table and its indexes), by name.
fn key_types(table: &Value) -> std::collections::BTreeMap<String, Value> {
    table["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some((
                d["AttributeName"].as_str()?.to_string(),
                d["AttributeType"].clone(),
            ))
        })
        .collect()
}

/// The stream view of a table (described, or as CreateTable's request), when on.
fn stream_of(table: &Value) -> Option<&str> {
    let spec = &table["StreamSpecification"];
    (spec["StreamEnabled"] == true)
        .then(|| spec["StreamViewType"].as_str())
        .flatten()
}

fn failed(action: &str, e: impl std::fmt::Display) -> CliError {
    DevError::DynamoDb {
        action: action.to_string(),
        message: e.to_string(),
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_table_becomes_a_create_table_request() {
        let props = json!({
            "KeySchema": [{"AttributeName": "room", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "room", "AttributeType": "S"}, {"AttributeName": "at", "AttributeType": "N"}],
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            "GlobalSecondaryIndexes": [{"IndexName": "byUser", "KeySchema": [{"AttributeName": "room", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"}, "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}],
            "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
            "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": true}
        });
        let table: Table = serde_json::from_value(props.clone()).expect("table properties");
        let request = create_request("Chat-Messages", &table);
        assert_eq!(
            request,
            json!({
                "TableName": "Chat-Messages",
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": "PAY_PER_REQUEST",
                "GlobalSecondaryIndexes": [{"IndexName": "byUser", "KeySchema": [{"AttributeName": "room", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}],
                "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"}
            })
        );
        assert_eq!(stream_of(&request), Some("NEW_IMAGE"));
        // The same table with its indexes in another order has the same shape; another
        // key type does not.
        let mut other = request.clone();
        other["AttributeDefinitions"][1]["AttributeType"] = json!("S");
        assert_eq!(shape(&request), shape(&request.clone()));
        assert_ne!(shape(&request), shape(&other));
    }
}
