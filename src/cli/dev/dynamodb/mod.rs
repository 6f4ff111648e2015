//! An embedded DynamoDB for `wsgen dev`: the JSON protocol `aws-sdk-dynamodb` speaks
//! (`POST /` with `X-Amz-Target: DynamoDB_20120810.<Operation>`), for the operations
//! handlers use, with DynamoDB's validation messages and error codes. Data lives in
//! memory and in a write-ahead log under `wsgen.out/dev/dynamodb/` (see [`store`]).
//!
//! Supported: CreateTable, DeleteTable, DescribeTable, ListTables, PutItem, GetItem,
//! DeleteItem, UpdateItem, Query, Scan, BatchWriteItem, BatchGetItem,
//! TransactWriteItems, TransactGetItems, UpdateTimeToLive, DescribeTimeToLive. Anything
//! else is answered with an `UnknownOperationException` that names the operation and
//! `--dynamodb-endpoint`.

pub mod expr;
pub mod store;
pub mod value;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use expr::{
    conjuncts, eval, parse_condition, parse_projection, parse_update, Cmp, Cond, Operand, Path,
    Placeholders, Step,
};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use store::{Key, Keys, Record, Store, Table, TableDef};
use value::{item_size, normalize, Item, Scalar};

use super::model::{LOCAL_ACCOUNT, LOCAL_REGION};

/// An error in DynamoDB's shape: the exception name and its message.
#[derive(Debug)]
pub struct DdbError {
    pub code: &'static str,
    pub message: String,
    /// A cancelled transaction's reasons, one per action (`CancellationReasons`).
    pub reasons: Vec<Value>,
}

fn invalid(message: impl Into<String>) -> DdbError {
    DdbError {
        reasons: Vec::new(),
        code: "ValidationException",
        message: message.into(),
    }
}

fn not_found() -> DdbError {
    DdbError {
        reasons: Vec::new(),
        code: "ResourceNotFoundException",
        message: "Requested resource not found".into(),
    }
}

fn check_failed() -> DdbError {
    DdbError {
        reasons: Vec::new(),
        code: "ConditionalCheckFailedException",
        message: "The conditional request failed".into(),
    }
}

fn internal(message: String) -> DdbError {
    DdbError {
        reasons: Vec::new(),
        code: "InternalServerError",
        message,
    }
}

type Answer = Result<Value, DdbError>;

/// The largest item DynamoDB stores.
const MAX_ITEM: usize = 400 * 1024;
/// A Query or Scan page stops after this much data.
const MAX_PAGE: usize = 1024 * 1024;

/// The endpoint's state: the store behind one lock (operations are short).
#[derive(Clone)]
pub struct Dynamo {
    store: Arc<Mutex<Store>>,
}

impl Dynamo {
    pub fn new(store: Store) -> Dynamo {
        Dynamo {
            store: Arc::new(Mutex::new(store)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", axum::routing::post(endpoint))
            .with_state(self.clone())
    }

    /// Creates the template's tables, or updates their definitions. A table whose key
    /// schema changed keeps its old items in a file next to the store and starts
    /// empty (its items cannot be keyed by the new schema); the message says where.
    pub fn ensure(&self, def: TableDef) -> Result<Option<String>, String> {
        let mut store = self.lock();
        let mut note = None;
        match store.tables.get(&def.table_name) {
            Some(t) if t.def.key_schema == def.key_schema => {
                let mut next = def.clone();
                next.creation_date_time = t.def.creation_date_time;
                if next != t.def {
                    store.define(next)?;
                }
                return Ok(None);
            }
            Some(_) => {
                note = Some(format!(
                    "table {}: the key schema changed, so it starts empty",
                    def.table_name
                ));
                store.drop_table(&def.table_name)?;
            }
            None => {}
        }
        let mut def = def;
        def.creation_date_time = now_secs();
        store.define(def)?;
        Ok(note)
    }

    /// Deletes the items whose TTL has passed; returns how many.
    pub fn expire(&self, now: f64) -> Result<usize, String> {
        let mut store = self.lock();
        let mut expired = Vec::new();
        for (name, t) in &store.tables {
            let Some(attr) = &t.def.ttl_attribute else {
                continue;
            };
            for item in t.items.values() {
                let at = item
                    .get(attr)
                    .and_then(|v| v.get("N"))
                    .and_then(Value::as_str)
                    .and_then(|n| n.parse::<f64>().ok());
                if at.is_some_and(|at| at < now) {
                    expired.push((name.clone(), t.keys.key_item(item)));
                }
            }
        }
        let n = expired.len();
        for (table, key) in expired {
            store.delete(&table, key)?;
        }
        Ok(n)
    }

    /// Flushes the log (on shutdown).
    pub fn sync(&self) {
        self.lock().sync();
    }

    /// Runs one operation.
    pub fn call(&self, operation: &str, request: &Value) -> Answer {
        let mut store = self.lock();
        let s = &mut *store;
        match operation {
            "CreateTable" => create_table(s, request),
            "DeleteTable" => delete_table(s, request),
            "DescribeTable" => describe_table(s, request),
            "ListTables" => list_tables(s, request),
            "PutItem" => put_item(s, request),
            "GetItem" => get_item(s, request),
            "DeleteItem" => delete_item(s, request),
            "UpdateItem" => update_item(s, request),
            "Query" => query(s, request, true),
            "Scan" => query(s, request, false),
            "BatchWriteItem" => batch_write(s, request),
            "BatchGetItem" => batch_get(s, request),
            "TransactWriteItems" => transact_write(s, request),
            "TransactGetItems" => transact_get(s, request),
            "UpdateTimeToLive" => update_ttl(s, request),
            "DescribeTimeToLive" => describe_ttl(s, request),
            other => Err(DdbError {
                reasons: Vec::new(),
                code: "UnknownOperationException",
                message: format!(
                    "wsgen dev's embedded DynamoDB does not support {other}; run wsgen dev with --dynamodb-endpoint URL (DynamoDB Local, or moto's server) for it"
                ),
            }),
        }
    }
}

async fn endpoint(State(db): State<Dynamo>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let answer = match target.strip_prefix("DynamoDB_20120810.") {
        None => Err(DdbError {
            reasons: Vec::new(),
            code: "UnknownOperationException",
            message: format!("not a DynamoDB request (X-Amz-Target: {target:?})"),
        }),
        Some(op) => match serde_json::from_slice::<Value>(&body) {
            Ok(request) if request.is_object() => {
                let (db, op) = (db.clone(), op.to_string());
                tokio::task::spawn_blocking(move || db.call(&op, &request))
                    .await
                    .unwrap_or_else(|e| Err(internal(e.to_string())))
            }
            _ => Err(DdbError {
                reasons: Vec::new(),
                code: "SerializationException",
                message: "the request body is not a JSON object".into(),
            }),
        },
    };
    let (status, body) = match answer {
        Ok(v) => (StatusCode::OK, v),
        Err(e) => (
            if e.code == "InternalServerError" {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            },
            {
                let mut body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{}", e.code), "message": e.message});
                if !e.reasons.is_empty() {
                    body["CancellationReasons"] = json!(e.reasons);
                }
                body
            },
        ),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    (status, headers, body.to_string()).into_response()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

fn str_arg<'r>(request: &'r Value, name: &str) -> Result<&'r str, DdbError> {
    request
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name))))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

fn table<'s>(s: &'s Store, request: &Value) -> Result<&'s Table, DdbError> {
    let name = str_arg(request, "TableName")?;
    s.tables.get(name).ok_or_else(not_found)
}

/// The legacy (pre-expression) parameters are not supported: say which one to use.
fn refuse_legacy(request: &Value) -> Result<(), DdbError> {
    for (legacy, instead) in [
        ("Expected", "ConditionExpression"),
        ("AttributeUpdates", "UpdateExpression"),
        ("KeyConditions", "KeyConditionExpression"),
        ("QueryFilter", "FilterExpression"),
        ("ScanFilter", "FilterExpression"),
        ("AttributesToGet", "ProjectionExpression"),
    ] {
        if request.get(legacy).is_some() {
            return Err(invalid(format!(
                "wsgen dev's embedded DynamoDB does not support the legacy parameter {legacy}: use {instead}"
            )));
        }
    }
    Ok(())
}

/// An item argument, checked and with numbers in canonical form.
fn item_arg(request: &Value, name: &str) -> Result<Item, DdbError> {
    let mut item = request
        .get(name)
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| invalid(format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name))))?;
    for v in item.values_mut() {
        normalize(v)
            .map_err(|m| invalid(format!("One or more parameter values were invalid: {m}")))?;
    }
    Ok(item)
}

/// Checks that `item` has the table's key attributes with their declared types (and,
/// for a key argument, nothing else).
fn check_key(t: &Table, item: &Item, only_key: bool) -> Result<Key, DdbError> {
    for name in t.keys.names() {
        let Some(v) = item.get(name) else {
            return Err(invalid(if only_key {
                "The provided key element does not match the schema".to_string()
            } else {
                format!(
                    "One or more parameter values were invalid: Missing the key {name} in the item"
                )
            }));
        };
        let want = t.attribute_type(name).unwrap_or("S");
        match Scalar::of(v) {
            Some(s) if s.type_name() == want => {
                if matches!(&s, Scalar::S(x) if x.is_empty())
                    || matches!(&s, Scalar::B(x) if x.is_empty())
                {
                    return Err(invalid(format!("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {name}")));
                }
            }
            _ => {
                return Err(invalid(if only_key {
                    "The provided key element does not match the schema".to_string()
                } else {
                    format!("One or more parameter values were invalid: Type mismatch for key {name} expected: {want} actual: {}", value::tagged(v).map_or("?", |(t, _)| t))
                }))
            }
        }
    }
    if only_key && item.len() != t.keys.names().count() {
        return Err(invalid(
            "The provided key element does not match the schema",
        ));
    }
    if !only_key {
        // Index keys, when present, must have their declared types.
        for index in t
            .def
            .global_secondary_indexes
            .iter()
            .chain(&t.def.local_secondary_indexes)
        {
            for k in &index.key_schema {
                if let (Some(v), Some(want)) = (
                    item.get(&k.attribute_name),
                    t.attribute_type(&k.attribute_name),
                ) {
                    if Scalar::of(v).map(|s| s.type_name()) != Some(want) {
                        return Err(invalid(format!(
                            "One or more parameter values were invalid: Type mismatch for Index Key {} Expected: {want} Actual: {} IndexName: {}",
                            k.attribute_name,
                            value::tagged(v).map_or("?", |(t, _)| t),
                            index.index_name
                        )));
                    }
                }
            }
        }
        if item_size(item) > MAX_ITEM {
            return Err(invalid("Item size has exceeded the maximum allowed size"));
        }
    }
    t.keys
        .key_of(item)
        .ok_or_else(|| invalid("The provided key element does not match the schema"))
}

fn condition(request: &Value, name: &str, ph: &mut Placeholders) -> Result<Option<Cond>, DdbError> {
    match request.get(name).and_then(Value::as_str) {
        None => Ok(None),
        Some(src) => parse_condition(src, ph)
            .map(Some)
            .map_err(|m| invalid(format!("Invalid {name}: {m}"))),
    }
}

fn projection(request: &Value, ph: &mut Placeholders) -> Result<Option<Vec<Path>>, DdbError> {
    match request.get("ProjectionExpression").and_then(Value::as_str) {
        None => Ok(None),
        Some(src) => parse_projection(src, ph)
            .map(Some)
            .map_err(|m| invalid(format!("Invalid ProjectionExpression: {m}"))),
    }
}

fn all_used(ph: &Placeholders) -> Result<(), DdbError> {
    ph.check_all_used().map_err(invalid)
}

fn return_values<'r>(request: &'r Value, allowed: &[&str]) -> Result<&'r str, DdbError> {
    let rv = request
        .get("ReturnValues")
        .and_then(Value::as_str)
        .unwrap_or("NONE");
    if !allowed.contains(&rv) {
        return Err(invalid(format!(
            "Return values set to invalid value: {rv} (this operation takes {})",
            allowed.join(", ")
        )));
    }
    Ok(rv)
}

fn create_table(s: &mut Store, request: &Value) -> Answer {
    let mut def: TableDef = serde_json::from_value(request.clone())
        .map_err(|e| invalid(format!("invalid CreateTable request: {e}")))?;
    if s.tables.contains_key(&def.table_name) {
        return Err(DdbError {
            reasons: Vec::new(),
            code: "ResourceInUseException",
            message: format!("Table already exists: {}", def.table_name),
        });
    }
    let keys = Keys::of(&def.key_schema);
    if keys.hash.is_empty() {
        return Err(invalid(
            "1 validation error detected: the key schema has no HASH key",
        ));
    }
    for k in keys.names() {
        if !def
            .attribute_definitions
            .iter()
            .any(|a| &a.attribute_name == k)
        {
            return Err(invalid(format!("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{k}]")));
        }
    }
    def.ttl_attribute = None;
    def.creation_date_time = now_secs();
    s.define(def).map_err(internal)?;
    let name = str_arg(request, "TableName")?;
    Ok(json!({ "TableDescription": description(&s.tables[name]) }))
}

fn delete_table(s: &mut Store, request: &Value) -> Answer {
    let d = description(table(s, request)?);
    s.drop_table(str_arg(request, "TableName")?)
        .map_err(internal)?;
    Ok(json!({ "TableDescription": d }))
}

fn description(t: &Table) -> Value {
    let name = &t.def.table_name;
    let arn = format!("arn:aws:dynamodb:{LOCAL_REGION}:{LOCAL_ACCOUNT}:table/{name}");
    let size: usize = t.items.values().map(item_size).sum();
    let mut d = json!({
        "TableName": name,
        "TableArn": arn,
        "TableId": format!("{:x}", {
            use sha2::Digest;
            let d = sha2::Sha256::digest(name.as_bytes());
            u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
        }),
        "TableStatus": "ACTIVE",
        "KeySchema": t.def.key_schema,
        "AttributeDefinitions": t.def.attribute_definitions,
        "CreationDateTime": t.def.creation_date_time,
        "ItemCount": t.items.len(),
        "TableSizeBytes": size,
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0},
    });
    let indexes = |list: &[store::IndexDef], global: bool| -> Vec<Value> {
        list.iter()
            .map(|i| {
                let keys = Keys::of(&i.key_schema);
                let count = t
                    .items
                    .values()
                    .filter(|item| keys.key_of(item).is_some())
                    .count();
                let mut v = json!({
                    "IndexName": i.index_name,
                    "KeySchema": i.key_schema,
                    "Projection": i.projection,
                    "IndexArn": format!("{arn}/index/{}", i.index_name),
                    "ItemCount": count,
                    "IndexSizeBytes": 0,
                });
                if global {
                    v["IndexStatus"] = json!("ACTIVE");
                    v["ProvisionedThroughput"] = json!({"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0});
                }
                v
            })
            .collect()
    };
    if !t.def.global_secondary_indexes.is_empty() {
        d["GlobalSecondaryIndexes"] = json!(indexes(&t.def.global_secondary_indexes, true));
    }
    if !t.def.local_secondary_indexes.is_empty() {
        d["LocalSecondaryIndexes"] = json!(indexes(&t.def.local_secondary_indexes, false));
    }
    d
}

fn describe_table(s: &mut Store, request: &Value) -> Answer {
    Ok(json!({ "Table": description(table(s, request)?) }))
}

fn list_tables(s: &mut Store, request: &Value) -> Answer {
    let limit = request.get("Limit").and_then(Value::as_u64).unwrap_or(100) as usize;
    let start = request
        .get("ExclusiveStartTableName")
        .and_then(Value::as_str);
    let names: Vec<&String> = s
        .tables
        .keys()
        .filter(|n| start.is_none_or(|st| n.as_str() > st))
        .collect();
    let page: Vec<&String> = names.iter().take(limit).copied().collect();
    let mut out = json!({ "TableNames": page });
    if names.len() > limit {
        out["LastEvaluatedTableName"] = json!(page.last());
    }
    Ok(out)
}

/// A write's ConditionExpression against the item it replaces (none: an empty one).
fn check_condition(cond: Option<&Cond>, old: Option<&Item>) -> Result<(), DdbError> {
    match cond {
        Some(c) if !eval(old.unwrap_or(&Item::new()), c) => Err(check_failed()),
        _ => Ok(()),
    }
}

/// For PutItem and DeleteItem: the request's ReturnValues (`NONE` or `ALL_OLD`) and
/// the item at `key`, once the ConditionExpression holds.
fn precondition<'r>(
    t: &Table,
    key: &Key,
    request: &'r Value,
) -> Result<(&'r str, Option<Item>), DdbError> {
    let mut ph = Placeholders::new(request);
    let cond = condition(request, "ConditionExpression", &mut ph)?;
    all_used(&ph)?;
    let rv = return_values(request, &["NONE", "ALL_OLD"])?;
    let old = t.items.get(key).cloned();
    check_condition(cond.as_ref(), old.as_ref())?;
    Ok((rv, old))
}

/// The write a request decided on (none: nothing to change), made once all its checks
/// have passed.
type Write = Option<Record>;

fn apply(s: &mut Store, write: Write) -> Result<(), DdbError> {
    write.map_or(Ok(()), |r| s.record(r)).map_err(internal)
}

fn put_item(s: &mut Store, request: &Value) -> Answer {
    let (write, answer) = plan_put(s, request)?;
    apply(s, write)?;
    Ok(answer)
}

/// PutItem's checks: the write and the answer.
fn plan_put(s: &Store, request: &Value) -> Result<(Write, Value), DdbError> {
    refuse_legacy(request)?;
    let t = table(s, request)?;
    let item = item_arg(request, "Item")?;
    let key = check_key(t, &item, false)?;
    let (rv, old) = precondition(t, &key, request)?;
    let answer = match (rv, old) {
        ("ALL_OLD", Some(old)) => json!({ "Attributes": old }),
        _ => json!({}),
    };
    let table = t.def.table_name.clone();
    Ok((Some(Record::Put { table, item }), answer))
}

fn get_item(s: &mut Store, request: &Value) -> Answer {
    refuse_legacy(request)?;
    let t = table(s, request)?;
    let key = check_key(t, &item_arg(request, "Key")?, true)?;
    let mut ph = Placeholders::new(request);
    let paths = projection(request, &mut ph)?;
    all_used(&ph)?;
    Ok(match t.items.get(&key) {
        Some(item) => json!({ "Item": project(item, paths.as_deref()) }),
        None => json!({}),
    })
}

fn project(item: &Item, paths: Option<&[Path]>) -> Item {
    match paths {
        Some(p) => expr::project(item, p),
        None => item.clone(),
    }
}

fn delete_item(s: &mut Store, request: &Value) -> Answer {
    let (write, answer) = plan_delete(s, request)?;
    apply(s, write)?;
    Ok(answer)
}

/// DeleteItem's checks: the write and the answer.
fn plan_delete(s: &Store, request: &Value) -> Result<(Write, Value), DdbError> {
    refuse_legacy(request)?;
    let t = table(s, request)?;
    let key_item = item_arg(request, "Key")?;
    let key = check_key(t, &key_item, true)?;
    let (rv, old) = precondition(t, &key, request)?;
    let write = old.as_ref().map(|_| Record::Delete {
        table: t.def.table_name.clone(),
        key: key_item,
    });
    let answer = match (rv, old) {
        ("ALL_OLD", Some(old)) => json!({ "Attributes": old }),
        _ => json!({}),
    };
    Ok((write, answer))
}

fn update_item(s: &mut Store, request: &Value) -> Answer {
    let (write, answer) = plan_update(s, request)?;
    apply(s, write)?;
    Ok(answer)
}

/// UpdateItem's checks and evaluation: the write and the answer.
fn plan_update(s: &Store, request: &Value) -> Result<(Write, Value), DdbError> {
    refuse_legacy(request)?;
    let t = table(s, request)?;
    let key_item = item_arg(request, "Key")?;
    let key = check_key(t, &key_item, true)?;
    let mut ph = Placeholders::new(request);
    let update = match request.get("UpdateExpression").and_then(Value::as_str) {
        Some(src) => Some(
            parse_update(src, &mut ph)
                .map_err(|m| invalid(format!("Invalid UpdateExpression: {m}")))?,
        ),
        None => None,
    };
    let cond = condition(request, "ConditionExpression", &mut ph)?;
    all_used(&ph)?;
    let rv = return_values(
        request,
        &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
    )?;
    let old = t.items.get(&key).cloned();
    check_condition(cond.as_ref(), old.as_ref())?;
    let mut new = old.clone().unwrap_or_else(|| key_item.clone());
    let touched = update.as_ref().map(|u| u.attributes()).unwrap_or_default();
    if let Some(k) = t.keys.names().find(|k| touched.contains(*k)) {
        return Err(invalid(format!(
            "One or more parameter values were invalid: Cannot update attribute {k}. This attribute is part of the key"
        )));
    }
    if let Some(u) = &update {
        expr::apply(&mut new, u).map_err(|m| invalid(format!("Invalid UpdateExpression: {m}")))?;
        for v in new.values_mut() {
            normalize(v)
                .map_err(|m| invalid(format!("One or more parameter values were invalid: {m}")))?;
        }
    }
    check_key(t, &new, false)?;
    let write = Some(Record::Put {
        table: t.def.table_name.clone(),
        item: new.clone(),
    });
    let only = |item: &Item| -> Item {
        item.iter()
            .filter(|(k, _)| touched.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let attributes = match rv {
        "ALL_OLD" => old,
        "UPDATED_OLD" => old.as_ref().map(only),
        "ALL_NEW" => Some(new),
        "UPDATED_NEW" => Some(only(&new)),
        _ => None,
    };
    let answer = match attributes {
        Some(a) if !a.is_empty() => json!({ "Attributes": a }),
        _ => json!({}),
    };
    Ok((write, answer))
}

/// Where a Query or Scan reads: the table or one of its indexes.
struct Source<'t> {
    table: &'t Table,
    /// The index's key schema and projection, for an index.
    index: Option<(Keys, &'t store::IndexDef)>,
}

impl<'t> Source<'t> {
    fn new(t: &'t Table, request: &Value) -> Result<Source<'t>, DdbError> {
        let index = match request.get("IndexName").and_then(Value::as_str) {
            None => None,
            Some(name) => {
                let i = t.index(name).ok_or_else(|| {
                    invalid(format!(
                        "The table does not have the specified index: {name}"
                    ))
                })?;
                Some((Keys::of(&i.key_schema), i))
            }
        };
        Ok(Source { table: t, index })
    }

    fn keys(&self) -> &Keys {
        self.index.as_ref().map_or(&self.table.keys, |(k, _)| k)
    }

    /// The items in the source's key order, each with its position key.
    fn rows(&self) -> Vec<((Key, Key), &'t Item)> {
        match &self.index {
            None => self
                .table
                .items
                .iter()
                .map(|(k, item)| ((k.clone(), k.clone()), item))
                .collect(),
            Some((keys, _)) => {
                let mut rows: Vec<((Key, Key), &Item)> = self
                    .table
                    .items
                    .iter()
                    .filter_map(|(k, item)| Some(((keys.key_of(item)?, k.clone()), item)))
                    .collect();
                rows.sort_by(|a, b| a.0.cmp(&b.0));
                rows
            }
        }
    }

    /// The item as the source holds it (an index holds its projection).
    fn view(&self, item: &Item) -> Item {
        let Some((keys, def)) = &self.index else {
            return item.clone();
        };
        match def.projection.projection_type.as_deref().unwrap_or("ALL") {
            "ALL" => item.clone(),
            kind => item
                .iter()
                .filter(|(k, _)| {
                    self.table.keys.names().any(|n| n == *k)
                        || keys.names().any(|n| n == *k)
                        || (kind == "INCLUDE" && def.projection.non_key_attributes.contains(k))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// What LastEvaluatedKey holds for an item: the table key, plus the index key.
    fn last_key(&self, item: &Item) -> Item {
        let mut k = self.table.keys.key_item(item);
        if let Some((keys, _)) = &self.index {
            k.extend(keys.key_item(item));
        }
        k
    }
}

/// A key condition: the partition value and an optional sort key condition.
struct KeyCondition {
    hash: Value,
    range: Option<Cond>,
}

fn key_condition(src: &str, keys: &Keys, ph: &mut Placeholders) -> Result<KeyCondition, DdbError> {
    let c = parse_condition(src, ph)
        .map_err(|m| invalid(format!("Invalid KeyConditionExpression: {m}")))?;
    let bad = |m: &str| invalid(format!("Query key condition not supported: {m}"));
    let attr_of = |o: &Operand| match o {
        Operand::Path(p) if p.len() == 1 => match &p[0] {
            Step::Attr(a) => Some(a.clone()),
            Step::Index(_) => None,
        },
        _ => None,
    };
    let mut hash = None;
    let mut range = None;
    let parts = conjuncts(&c);
    if parts.len() > 2 {
        return Err(bad(
            "a key condition has at most two parts (partition key and sort key)",
        ));
    }
    for part in parts {
        let attr = match part {
            Cond::Compare(a, _, Operand::Value(_)) => attr_of(a),
            Cond::Between(a, Operand::Value(_), Operand::Value(_)) => attr_of(a),
            Cond::BeginsWith(a, Operand::Value(_)) => attr_of(a),
            _ => None,
        }
        .ok_or_else(|| bad("each part compares a key attribute with a value"))?;
        if attr == keys.hash {
            match part {
                Cond::Compare(_, Cmp::Eq, Operand::Value(v)) => hash = Some(v.clone()),
                _ => return Err(bad("the partition key condition must be an equality")),
            }
        } else if Some(&attr) == keys.range.as_ref() {
            if matches!(part, Cond::Compare(_, Cmp::Ne, _)) {
                return Err(invalid(
                    "Unsupported operator on KeyConditionExpression: operator: <>",
                ));
            }
            range = Some(part.clone());
        } else {
            return Err(invalid(format!(
                "Query condition missed key schema element: {}",
                keys.hash
            )));
        }
    }
    let hash = hash.ok_or_else(|| {
        invalid(format!(
            "Query condition missed key schema element: {}",
            keys.hash
        ))
    })?;
    Ok(KeyCondition { hash, range })
}

/// Query (`by_key`) and Scan.
fn query(s: &mut Store, request: &Value, by_key: bool) -> Answer {
    refuse_legacy(request)?;
    let t = table(s, request)?;
    let source = Source::new(t, request)?;
    let mut ph = Placeholders::new(request);
    let key_cond = if by_key {
        let src = str_arg(request, "KeyConditionExpression")?;
        Some(key_condition(src, source.keys(), &mut ph)?)
    } else {
        None
    };
    let filter = condition(request, "FilterExpression", &mut ph)?;
    let paths = projection(request, &mut ph)?;
    all_used(&ph)?;
    let select = request
        .get("Select")
        .and_then(Value::as_str)
        .unwrap_or(if paths.is_some() {
            "SPECIFIC_ATTRIBUTES"
        } else {
            "ALL_ATTRIBUTES"
        });
    let limit = match request.get("Limit") {
        None => usize::MAX,
        Some(l) => match l.as_u64() {
            Some(n) if n >= 1 => n as usize,
            _ => return Err(invalid("1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")),
        },
    };
    let forward = request
        .get("ScanIndexForward")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let segment = match (
        request.get("Segment").and_then(Value::as_u64),
        request.get("TotalSegments").and_then(Value::as_u64),
    ) {
        (Some(seg), Some(total)) if total >= 1 && seg < total => {
            Some((seg as usize, total as usize))
        }
        (None, None) => None,
        _ => {
            return Err(invalid(
                "Segment must be less than TotalSegments, and both given or neither",
            ))
        }
    };

    let mut rows = source.rows();
    if let Some(kc) = &key_cond {
        let keys = source.keys();
        let hash = Scalar::of(&kc.hash);
        rows.retain(|(_, item)| {
            item.get(&keys.hash).and_then(Scalar::of) == hash
                && kc.range.as_ref().is_none_or(|c| eval(item, c))
        });
        if !forward {
            rows.reverse();
        }
    }
    if let Some((seg, total)) = segment {
        rows = rows
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % total == seg)
            .map(|(_, r)| r)
            .collect();
    }
    if let Some(start) = request.get("ExclusiveStartKey").and_then(Value::as_object) {
        let mut start = start.clone();
        for v in start.values_mut() {
            normalize(v).map_err(invalid)?;
        }
        let table_key = t
            .keys
            .key_of(&start)
            .ok_or_else(|| invalid("The provided starting key is invalid: The provided key element does not match the schema"))?;
        let position = match &source.index {
            None => (table_key.clone(), table_key),
            Some((keys, _)) => (
                keys.key_of(&start).ok_or_else(|| {
                    invalid("The provided starting key is invalid: the index key is missing")
                })?,
                table_key,
            ),
        };
        let after = |p: &(Key, Key)| {
            let o = p.cmp(&position);
            if forward || key_cond.is_none() {
                o == Ordering::Greater
            } else {
                o == Ordering::Less
            }
        };
        rows.retain(|(p, _)| after(p));
    }

    let mut items = Vec::new();
    let (mut scanned, mut bytes) = (0usize, 0usize);
    let mut last = None;
    let total = rows.len();
    for (i, (_, item)) in rows.into_iter().enumerate() {
        scanned += 1;
        bytes += item_size(item);
        let view = source.view(item);
        if filter.as_ref().is_none_or(|f| eval(&view, f)) {
            items.push(view);
        }
        if (scanned == limit || bytes >= MAX_PAGE) && i + 1 < total {
            last = Some(source.last_key(item));
            break;
        }
    }
    let mut out = json!({ "Count": items.len(), "ScannedCount": scanned });
    if select != "COUNT" {
        let projected: Vec<Item> = items.iter().map(|i| project(i, paths.as_deref())).collect();
        out["Items"] = json!(projected);
    }
    if let Some(k) = last {
        out["LastEvaluatedKey"] = json!(k);
    }
    Ok(out)
}

fn batch_write(s: &mut Store, request: &Value) -> Answer {
    let requests = request
        .get("RequestItems")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null"))?;
    // Check everything first: a batch with a bad request writes nothing.
    let mut writes: Vec<(String, Option<Item>, Item)> = Vec::new();
    let mut count = 0;
    for (name, list) in requests {
        let t = s.tables.get(name).ok_or_else(not_found)?;
        let mut seen = std::collections::BTreeSet::new();
        for r in list.as_array().into_iter().flatten() {
            count += 1;
            let (item, key_item) = if let Some(put) = r.get("PutRequest") {
                let item = item_arg(put, "Item")?;
                check_key(t, &item, false)?;
                let key = t.keys.key_item(&item);
                (Some(item), key)
            } else if let Some(del) = r.get("DeleteRequest") {
                let key = item_arg(del, "Key")?;
                check_key(t, &key, true)?;
                (None, key)
            } else {
                return Err(invalid("a write request needs PutRequest or DeleteRequest"));
            };
            if !seen.insert(Value::Object(key_item.clone()).to_string()) {
                return Err(invalid("Provided list of item keys contains duplicates"));
            }
            writes.push((name.clone(), item, key_item));
        }
    }
    if count == 0 || count > 25 {
        return Err(invalid(format!("1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: Member must have length less than or equal to 25 and greater than or equal to 1 (got {count})")));
    }
    for (table, item, key) in writes {
        match item {
            Some(item) => s.put(&table, item),
            None => s.delete(&table, key),
        }
        .map_err(internal)?;
    }
    Ok(json!({ "UnprocessedItems": {} }))
}

/// The most actions a transaction takes.
const MAX_TRANSACTION: usize = 100;

/// A transaction's `TransactItems`, checked for their number.
fn transact_items(request: &Value) -> Result<&Vec<Value>, DdbError> {
    let items = request
        .get("TransactItems")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: Member must not be null"))?;
    if items.is_empty() || items.len() > MAX_TRANSACTION {
        return Err(invalid(format!("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to {MAX_TRANSACTION} and greater than or equal to 1 (got {})", items.len())));
    }
    Ok(items)
}

/// TransactWriteItems: every action's checks and conditions against the data as it
/// was, then all the writes or none. A failed condition cancels the transaction with a
/// reason per action.
fn transact_write(s: &mut Store, request: &Value) -> Answer {
    let items = transact_items(request)?;
    let mut seen = std::collections::BTreeSet::new();
    let mut writes = Vec::with_capacity(items.len());
    let mut reasons = Vec::with_capacity(items.len());
    let mut cancelled = false;
    for action in items {
        let Some((kind, r)) = action
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next())
        else {
            return Err(invalid(
                "a transaction item needs exactly one of ConditionCheck, Put, Delete, Update",
            ));
        };
        if r.get("ReturnValues").is_some() {
            return Err(invalid("ReturnValues is not allowed in a transaction item: use ReturnValuesOnConditionCheckFailure"));
        }
        let t = table(s, r)?;
        let key_item = item_arg(r, if kind == "Put" { "Item" } else { "Key" })?;
        check_key(t, &key_item, kind != "Put")?;
        let key_item = t.keys.key_item(&key_item);
        if !seen.insert(format!(
            "{}\0{}",
            t.def.table_name,
            Value::Object(key_item.clone())
        )) {
            return Err(invalid(
                "Transaction request cannot include multiple operations on one item",
            ));
        }
        let planned = match kind.as_str() {
            "Put" => plan_put(s, r),
            "Delete" => plan_delete(s, r),
            "Update" => plan_update(s, r),
            "ConditionCheck" => plan_check(s, r),
            other => {
                return Err(invalid(format!(
                    "unknown transaction action {other}: use ConditionCheck, Put, Delete or Update"
                )))
            }
        };
        match planned {
            Ok((write, _)) => {
                writes.push(write);
                reasons.push(json!({"Code": "None"}));
            }
            Err(e) if e.code == "ConditionalCheckFailedException" => {
                cancelled = true;
                let mut reason = json!({"Code": "ConditionalCheckFailed", "Message": e.message});
                let all_old = r
                    .get("ReturnValuesOnConditionCheckFailure")
                    .and_then(Value::as_str)
                    == Some("ALL_OLD");
                let old = t.keys.key_of(&key_item).and_then(|k| t.items.get(&k));
                if let (true, Some(old)) = (all_old, old) {
                    reason["Item"] = Value::Object(old.clone());
                }
                reasons.push(reason);
            }
            Err(e) => return Err(e),
        }
    }
    if cancelled {
        let codes: Vec<&str> = reasons.iter().filter_map(|r| r["Code"].as_str()).collect();
        return Err(DdbError {
            code: "TransactionCanceledException",
            message: format!(
                "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                codes.join(", ")
            ),
            reasons,
        });
    }
    s.commit(writes.into_iter().flatten().collect())
        .map_err(internal)?;
    Ok(json!({}))
}

/// A transaction's ConditionCheck: its condition must hold; it writes nothing.
fn plan_check(s: &Store, request: &Value) -> Result<(Write, Value), DdbError> {
    let t = table(s, request)?;
    let key = check_key(t, &item_arg(request, "Key")?, true)?;
    let mut ph = Placeholders::new(request);
    let cond = condition(request, "ConditionExpression", &mut ph)?.ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'conditionExpression' failed to satisfy constraint: Member must not be null")
    })?;
    all_used(&ph)?;
    check_condition(Some(&cond), t.items.get(&key))?;
    Ok((None, json!({})))
}

/// TransactGetItems: each `Get` as GetItem answers it, read at one moment.
fn transact_get(s: &mut Store, request: &Value) -> Answer {
    let items = transact_items(request)?;
    let mut responses = Vec::with_capacity(items.len());
    for action in items {
        let get = action
            .get("Get")
            .filter(|_| action.as_object().is_some_and(|o| o.len() == 1))
            .ok_or_else(|| invalid("a TransactGetItems item needs exactly one Get"))?;
        responses.push(get_item(s, get)?);
    }
    Ok(json!({ "Responses": responses }))
}

fn batch_get(s: &mut Store, request: &Value) -> Answer {
    let requests = request
        .get("RequestItems")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null"))?;
    let mut responses = Map::new();
    let mut count = 0;
    for (name, r) in requests {
        let t = s.tables.get(name).ok_or_else(not_found)?;
        refuse_legacy(r)?;
        let mut ph = Placeholders::new(r);
        let paths = projection(r, &mut ph)?;
        all_used(&ph)?;
        let mut found = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for k in r
            .get("Keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            count += 1;
            let mut key = k
                .as_object()
                .cloned()
                .ok_or_else(|| invalid("a key must be a map of attribute values"))?;
            for v in key.values_mut() {
                normalize(v).map_err(invalid)?;
            }
            let key = check_key(t, &key, true)?;
            if !seen.insert(key.clone()) {
                return Err(invalid("Provided list of item keys contains duplicates"));
            }
            if let Some(item) = t.items.get(&key) {
                found.push(project(item, paths.as_deref()));
            }
        }
        responses.insert(name.clone(), json!(found));
    }
    if count == 0 || count > 100 {
        return Err(invalid(format!(
            "Too many items requested for the BatchGetItem call (1 to 100 keys, got {count})"
        )));
    }
    Ok(json!({ "Responses": responses, "UnprocessedKeys": {} }))
}

fn update_ttl(s: &mut Store, request: &Value) -> Answer {
    let t = table(s, request)?;
    let spec = request
        .get("TimeToLiveSpecification")
        .ok_or_else(|| invalid("TimeToLiveSpecification is required"))?;
    let enabled = spec
        .get("Enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let attr = str_arg(spec, "AttributeName")?;
    let mut def = t.def.clone();
    match (&def.ttl_attribute, enabled) {
        (Some(_), true) => return Err(invalid("TimeToLive is already enabled")),
        (None, false) => return Err(invalid("TimeToLive is already disabled")),
        _ => {}
    }
    def.ttl_attribute = enabled.then(|| attr.to_string());
    s.define(def).map_err(internal)?;
    Ok(json!({ "TimeToLiveSpecification": spec }))
}

fn describe_ttl(s: &mut Store, request: &Value) -> Answer {
    let t = table(s, request)?;
    Ok(
        json!({ "TimeToLiveDescription": match &t.def.ttl_attribute {
            Some(a) => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": a}),
            None => json!({"TimeToLiveStatus": "DISABLED"}),
        }}),
    )
}

/// Serves the endpoint on `listener` and sweeps expired items every second, until
/// the task is dropped.
pub async fn serve(db: Dynamo, listener: tokio::net::TcpListener) {
    let sweeper = db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let db = sweeper.clone();
            let _ = tokio::task::spawn_blocking(move || db.expire(now_secs())).await;
        }
    });
    let _ = axum::serve(listener, db.router()).await;
}
