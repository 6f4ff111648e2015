//! Connection ids in a DynamoDB table keyed by `connectionId` (what
//! `stack.connections_table(..)` creates).
//!
//! Each connection is one item: `connectionId`, `connectedAt` (epoch seconds), an
//! optional `group` (a room), an optional `topics` string set (subscriptions) and, with a
//! TTL, `expiresAt` (epoch seconds) so DynamoDB drops connections whose `$disconnect`
//! never ran. Listing scans the table page by page.

use crate::dynamodb::DynamoDb;
use crate::Error;
use serde_json::{json, Map, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The environment variable naming the table.
pub const TABLE_ENV: &str = "TABLE_NAME";
/// The environment variable with the connections' time to live in seconds (optional).
pub const TTL_ENV: &str = "CONNECTION_TTL_SECONDS";

/// A stored connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub group: Option<String>,
    /// Epoch seconds.
    pub connected_at: i64,
    pub topics: Vec<String>,
}

/// The connections table.
#[derive(Clone, Debug)]
pub struct ConnectionStore {
    db: DynamoDb,
    table: String,
    ttl: Option<Duration>,
    ttl_attribute: String,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A string attribute value.
fn s(v: &str) -> Value {
    json!({ "S": v })
}

/// A number attribute value.
fn n(v: i64) -> Value {
    json!({ "N": v.to_string() })
}

impl ConnectionStore {
    /// The table `table`.
    pub fn new(config: &crate::SdkConfig, table: impl Into<String>) -> ConnectionStore {
        ConnectionStore {
            db: DynamoDb::new(config),
            table: table.into(),
            ttl: None,
            ttl_attribute: "expiresAt".into(),
        }
    }

    /// The table named by `TABLE_NAME`, with the TTL of `CONNECTION_TTL_SECONDS` if set.
    pub fn from_env(config: &crate::SdkConfig) -> Result<ConnectionStore, Error> {
        let table = std::env::var(TABLE_ENV).map_err(|_| {
            format!(
                "{TABLE_ENV} is not set: give the function `.env(\"{TABLE_ENV}\", table.name())`"
            )
        })?;
        let mut store = ConnectionStore::new(config, table);
        if let Ok(ttl) = std::env::var(TTL_ENV) {
            let secs: u64 = ttl
                .parse()
                .map_err(|_| format!("{TTL_ENV} must be a number of seconds, not `{ttl}`"))?;
            store = store.with_ttl(Duration::from_secs(secs));
        }
        Ok(store)
    }

    /// Items expire `ttl` after they are stored (the table's TTL attribute must be
    /// `expiresAt`, or set it with [`ConnectionStore::with_ttl_attribute`]).
    pub fn with_ttl(mut self, ttl: Duration) -> ConnectionStore {
        self.ttl = Some(ttl);
        self
    }

    /// The table's TTL attribute. Default: `expiresAt`.
    pub fn with_ttl_attribute(mut self, attribute: &str) -> ConnectionStore {
        self.ttl_attribute = attribute.to_string();
        self
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Stores connection `id`, in `group` if given.
    pub async fn put(&self, id: &str, group: Option<&str>) -> Result<(), Error> {
        let now = now();
        let mut item = Map::new();
        item.insert("connectionId".into(), s(id));
        item.insert("connectedAt".into(), n(now));
        if let Some(g) = group {
            item.insert("group".into(), s(g));
        }
        if let Some(ttl) = self.ttl {
            item.insert(self.ttl_attribute.clone(), n(now + ttl.as_secs() as i64));
        }
        self.call("PutItem", json!({ "TableName": self.table, "Item": item }))
            .await?;
        Ok(())
    }

    /// Forgets connection `id`.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        self.call(
            "DeleteItem",
            json!({ "TableName": self.table, "Key": { "connectionId": s(id) } }),
        )
        .await?;
        Ok(())
    }

    /// Every stored connection, read page by page.
    pub async fn list(&self) -> Result<Vec<Connection>, Error> {
        self.scan(None).await
    }

    /// The connections in `group`.
    pub async fn list_group(&self, group: &str) -> Result<Vec<Connection>, Error> {
        self.scan(Some(("#g = :v", "group", group))).await
    }

    /// The connections subscribed to `topic`.
    pub async fn subscribers(&self, topic: &str) -> Result<Vec<Connection>, Error> {
        self.scan(Some(("contains(#g, :v)", "topics", topic))).await
    }

    /// Subscribes connection `id` to `topic`.
    pub async fn subscribe(&self, id: &str, topic: &str) -> Result<(), Error> {
        self.update_topics(id, "ADD", topic).await
    }

    /// Unsubscribes connection `id` from `topic`.
    pub async fn unsubscribe(&self, id: &str, topic: &str) -> Result<(), Error> {
        self.update_topics(id, "DELETE", topic).await
    }

    async fn update_topics(&self, id: &str, op: &str, topic: &str) -> Result<(), Error> {
        self.call(
            "UpdateItem",
            json!({
                "TableName": self.table,
                "Key": { "connectionId": s(id) },
                "UpdateExpression": format!("{op} #t :t"),
                // Only connections that exist: a gone connection is not brought back.
                "ConditionExpression": "attribute_exists(connectionId)",
                "ExpressionAttributeNames": { "#t": "topics" },
                "ExpressionAttributeValues": { ":t": { "SS": [topic] } },
            }),
        )
        .await?;
        Ok(())
    }

    async fn scan(&self, filter: Option<(&str, &str, &str)>) -> Result<Vec<Connection>, Error> {
        let mut input = json!({ "TableName": self.table });
        if let Some((expr, name, value)) = filter {
            input["FilterExpression"] = expr.into();
            input["ExpressionAttributeNames"] = json!({ "#g": name });
            input["ExpressionAttributeValues"] = json!({ ":v": s(value) });
        }
        let mut out = Vec::new();
        loop {
            let page = self.call("Scan", input.clone()).await?;
            let items = page.get("Items").and_then(Value::as_array);
            for item in items.into_iter().flatten() {
                let text = |k: &str| item.pointer(&format!("/{k}/S")).and_then(Value::as_str);
                let Some(id) = text("connectionId") else {
                    continue;
                };
                out.push(Connection {
                    id: id.to_string(),
                    group: text("group").map(str::to_string),
                    connected_at: item
                        .pointer("/connectedAt/N")
                        .and_then(Value::as_str)
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0),
                    topics: item
                        .pointer("/topics/SS")
                        .and_then(Value::as_array)
                        .map(|set| {
                            set.iter()
                                .filter_map(|t| t.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
            // The next page starts after the last key this one evaluated.
            match page.get("LastEvaluatedKey") {
                Some(key) if key.as_object().is_some_and(|k| !k.is_empty()) => {
                    input["ExclusiveStartKey"] = key.clone();
                }
                _ => break,
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// One call on the table, its errors naming it.
    async fn call(&self, operation: &str, input: Value) -> Result<Value, Error> {
        self.db
            .call(operation, &input)
            .await
            .map_err(|e| format!("{e} (table {})", self.table).into())
    }
}
