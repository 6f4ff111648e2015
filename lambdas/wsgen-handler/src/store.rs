//! Connection ids in a DynamoDB table keyed by `connectionId` (what
//! `stack.connections_table(..)` creates).
//!
//! Each connection is one item: `connectionId`, `connectedAt` (epoch seconds), an
//! optional `group` (a room), an optional `topics` string set (subscriptions) and, with a
//! TTL, `expiresAt` (epoch seconds) so DynamoDB drops connections whose `$disconnect`
//! never ran. Listing scans the table page by page.

use crate::Error;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
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
    client: Client,
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

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

impl ConnectionStore {
    /// The table `table`.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> ConnectionStore {
        ConnectionStore {
            client: Client::new(config),
            table: table.into(),
            ttl: None,
            ttl_attribute: "expiresAt".into(),
        }
    }

    /// The table named by `TABLE_NAME`, with the TTL of `CONNECTION_TTL_SECONDS` if set.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<ConnectionStore, Error> {
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
        let mut item = HashMap::from([
            ("connectionId".to_string(), s(id)),
            (
                "connectedAt".to_string(),
                AttributeValue::N(now.to_string()),
            ),
        ]);
        if let Some(g) = group {
            item.insert("group".into(), s(g));
        }
        if let Some(ttl) = self.ttl {
            item.insert(
                self.ttl_attribute.clone(),
                AttributeValue::N((now + ttl.as_secs() as i64).to_string()),
            );
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| Box::new(e.into_service_error()))?;
        Ok(())
    }

    /// Forgets connection `id`.
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("connectionId", s(id))
            .send()
            .await
            .map_err(|e| Box::new(e.into_service_error()))?;
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
        self.client
            .update_item()
            .table_name(&self.table)
            .key("connectionId", s(id))
            .update_expression(format!("{op} #t :t"))
            // Only connections that exist: a gone connection is not brought back.
            .condition_expression("attribute_exists(connectionId)")
            .expression_attribute_names("#t", "topics")
            .expression_attribute_values(":t", AttributeValue::Ss(vec![topic.to_string()]))
            .send()
            .await
            .map_err(|e| Box::new(e.into_service_error()))?;
        Ok(())
    }

    async fn scan(&self, filter: Option<(&str, &str, &str)>) -> Result<Vec<Connection>, Error> {
        let mut req = self.client.scan().table_name(&self.table);
        if let Some((expr, name, value)) = filter {
            req = req
                .filter_expression(expr)
                .expression_attribute_names("#g", name)
                .expression_attribute_values(":v", s(value));
        }
        let mut pages = req.into_paginator().items().send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| Box::new(e.into_service_error()))?;
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            let Some(id) = text("connectionId") else {
                continue;
            };
            out.push(Connection {
                id,
                group: text("group"),
                connected_at: item
                    .get("connectedAt")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                topics: item
                    .get("topics")
                    .and_then(|v| v.as_ss().ok())
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }
}
