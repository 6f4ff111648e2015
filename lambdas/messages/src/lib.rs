//! A stored chat (the `chat-history` blueprint). `{"action":"sendmessage","data":"hello"}`
//! stores the message in the messages table (`MESSAGES_TABLE`): the table's stream
//! fans it out to the other connections (lambdas/fanout), so a message is kept even
//! when a client is away. `{"action":"history"}` answers (a two-way route) with the
//! room's last messages, oldest first: `{"type":"history","messages":[{"from":..,
//! "data":..,"at":..}]}`.
//!
//! A message is one item: `room` (the partition key; `ROOM`, default `lobby`), `sk` (the
//! sort key: the time in milliseconds, zero-padded, then `#` and the sender, so the
//! room's messages sort by time), `from`, `data`, `at` (epoch milliseconds) and
//! `expiresAt` (epoch seconds, `MESSAGE_TTL_SECONDS` later, default a week: the
//! table's TTL attribute).

use chat_protocol::{History, SendMessage, StoredMessage, HISTORY, SEND_MESSAGE};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};
use wsgen_handler::aws_sdk_dynamodb::types::AttributeValue;
use wsgen_handler::aws_sdk_dynamodb::Client;
use wsgen_handler::{Context, Error, Router, WsResponse};

/// The environment variable naming the messages table.
pub const MESSAGES_TABLE_ENV: &str = "MESSAGES_TABLE";
/// The environment variable naming the room (the partition key). Default `lobby`.
pub const ROOM_ENV: &str = "ROOM";
/// How many messages `history` returns at most. Default 50.
pub const HISTORY_LIMIT_ENV: &str = "HISTORY_LIMIT";
/// Seconds a message is kept. Default a week.
pub const MESSAGE_TTL_ENV: &str = "MESSAGE_TTL_SECONDS";
/// The most characters a message holds (DynamoDB takes 400 KB items; a chat line needs
/// far less).
pub const MAX_MESSAGE: usize = 4096;

const USAGE: &str = r#"send {"action":"sendmessage","data":"your message"}"#;

/// The messages table and its settings.
pub struct Messages {
    pub client: Client,
    pub table: String,
    pub room: String,
    pub history_limit: i32,
    pub ttl_secs: i64,
}

impl Messages {
    /// From the function's environment.
    pub fn from_env(ctx: Context) -> Result<Messages, Error> {
        let table = std::env::var(MESSAGES_TABLE_ENV).map_err(|_| {
            format!("{MESSAGES_TABLE_ENV} is not set: give the function `.env(\"{MESSAGES_TABLE_ENV}\", messages.name())`")
        })?;
        let number = |name: &str, default: i64| -> Result<i64, Error> {
            match std::env::var(name) {
                Ok(v) => v
                    .parse()
                    .map_err(|_| format!("{name} is `{v}`, not a number").into()),
                Err(_) => Ok(default),
            }
        };
        Ok(Messages {
            client: Client::new(&ctx.config),
            table,
            room: std::env::var(ROOM_ENV).unwrap_or_else(|_| "lobby".into()),
            history_limit: number(HISTORY_LIMIT_ENV, 50)?.clamp(1, 1000) as i32,
            ttl_secs: number(MESSAGE_TTL_ENV, 7 * 24 * 3600)?,
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The item of a message `data` from `from` at `at` (epoch ms).
pub fn item(m: &Messages, from: &str, data: &str, at: i64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("room".into(), AttributeValue::S(m.room.clone())),
        ("sk".into(), AttributeValue::S(format!("{at:013}#{from}"))),
        ("from".into(), AttributeValue::S(from.into())),
        ("data".into(), AttributeValue::S(data.into())),
        ("at".into(), AttributeValue::N(at.to_string())),
        (
            "expiresAt".into(),
            AttributeValue::N((at / 1000 + m.ttl_secs).to_string()),
        ),
    ])
}

/// A stored message as clients see it.
fn shown(item: &HashMap<String, AttributeValue>) -> StoredMessage {
    let text = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let at: i64 = item
        .get("at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    StoredMessage {
        from: text("from"),
        data: text("data"),
        at,
    }
}

pub fn router(messages: Messages) -> Router<Messages> {
    Router::new(messages)
        .route(SEND_MESSAGE, |req, m| async move {
            // Only reached unchecked where the route has no model (an app of your own).
            let Ok(send) = req.json::<SendMessage>() else {
                return Ok(WsResponse::error(400, USAGE));
            };
            let data = send.text();
            if data.chars().count() > MAX_MESSAGE {
                return Ok(WsResponse::error(
                    413,
                    format!("a message holds at most {MAX_MESSAGE} characters"),
                ));
            }
            m.client
                .put_item()
                .table_name(&m.table)
                .set_item(Some(item(&m, &req.connection_id, &data, now_ms())))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "store the message: {}",
                        wsgen_handler::aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    )
                })?;
            Ok(WsResponse::ok())
        })
        .route(HISTORY, |_req, m| async move {
            let newest_first = m
                .client
                .query()
                .table_name(&m.table)
                .key_condition_expression("room = :room")
                .expression_attribute_values(":room", AttributeValue::S(m.room.clone()))
                .scan_index_forward(false)
                .limit(m.history_limit)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "read the history: {}",
                        wsgen_handler::aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    )
                })?;
            let mut messages: Vec<StoredMessage> = newest_first.items().iter().map(shown).collect();
            messages.reverse();
            Ok(WsResponse::json(&History::new(messages)))
        })
}

/// Runs the function, as its binary's `main` does; `wsgen bundle` links it with the
/// app's other handlers into one binary (`[package.metadata.wsgen] entry` in
/// Cargo.toml).
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), wsgen_handler::Error> {
    router(Messages::from_env(
        wsgen_handler::Context::from_env().await?,
    )?)
    .run()
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(client: Client) -> Messages {
        Messages {
            client,
            table: "messages".into(),
            room: "lobby".into(),
            history_limit: 50,
            ttl_secs: 60,
        }
    }

    #[test]
    fn messages_sort_by_time_within_their_room() {
        let config = wsgen_handler::aws_sdk_dynamodb::Config::builder()
            .behavior_version(wsgen_handler::aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        let m = messages(Client::from_conf(config));
        let early = item(&m, "c1", "hi", 999);
        let late = item(&m, "c0", "there", 1_700_000_000_000);
        let sk = |i: &HashMap<String, AttributeValue>| i["sk"].as_s().unwrap().clone();
        assert_eq!(sk(&early), "0000000000999#c1");
        assert!(sk(&early) < sk(&late), "zero-padded times sort as numbers");
        assert_eq!(early["expiresAt"].as_n().unwrap(), "60");
        assert_eq!(
            serde_json::to_value(shown(&late)).unwrap(),
            serde_json::json!({"from": "c0", "data": "there", "at": 1_700_000_000_000i64})
        );
    }

    /// Storing and reading back run against a real DynamoDB in the blueprint's test
    /// (tests/it/new.rs, under `wsgen dev`); here, what is refused before any call.
    #[tokio::test]
    async fn bad_messages_are_refused() {
        let aws = wsgen_handler::testing::FakeAws::start().await;
        let router = router(messages(Client::new(&aws.sdk_config())));
        let bad = router
            .handle(aws.event("sendmessage", "alice", Some("not json")))
            .await
            .unwrap();
        assert_eq!(bad["statusCode"], 400);
        assert!(bad["body"].as_str().unwrap().contains("sendmessage"));
        let long =
            serde_json::json!({"action": "sendmessage", "data": "x".repeat(MAX_MESSAGE + 1)});
        let out = router
            .handle(aws.event("sendmessage", "alice", Some(&long.to_string())))
            .await
            .unwrap();
        assert_eq!(out["statusCode"], 413);
        assert!(
            aws.state.lock().unwrap().log.is_empty(),
            "no request was made"
        );
    }
}
