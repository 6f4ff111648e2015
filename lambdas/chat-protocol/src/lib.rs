//! The chat's messages: one definition for the infra, which makes API Gateway refuse a
//! message that does not match (`Route::request`, with the `schema` feature), and for
//! the handlers, which parse it. Rename a field here and both stop building, rather
//! than production refusing every message.

use serde::{Deserialize, Serialize};

/// The route key of [`SendMessage`].
pub const SEND_MESSAGE: &str = "sendmessage";
/// The route key that answers with the room's [`History`] (the chat-history blueprint).
pub const HISTORY: &str = "history";

/// `{"action":"sendmessage","data":"hello"}`: `data` reaches every other connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SendMessage {
    /// The route key, `sendmessage`.
    pub action: String,
    /// What the others receive: a string as it is, any other JSON value as JSON.
    pub data: serde_json::Value,
}

impl SendMessage {
    /// A message with `data` for the others.
    pub fn new(data: impl Into<serde_json::Value>) -> SendMessage {
        SendMessage {
            action: SEND_MESSAGE.into(),
            data: data.into(),
        }
    }

    /// The text the others receive.
    pub fn text(&self) -> String {
        match &self.data {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// A message the room kept (the chat-history blueprint): `{"from":"<connection id>",
/// "data":"hello","at":<epoch ms>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StoredMessage {
    /// The sender's connection id.
    pub from: String,
    pub data: String,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub at: i64,
}

/// The reply to `{"action":"history"}`: `{"type":"history","messages":[...]}`, the room's
/// last messages, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct History {
    /// Always `history`.
    #[serde(rename = "type")]
    pub kind: String,
    pub messages: Vec<StoredMessage>,
}

impl History {
    pub fn new(messages: Vec<StoredMessage>) -> History {
        History {
            kind: HISTORY.into(),
            messages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form() {
        let m: SendMessage =
            serde_json::from_str(r#"{"action":"sendmessage","data":"hi"}"#).unwrap();
        assert_eq!(m, SendMessage::new("hi"));
        assert_eq!(m.text(), "hi");
        assert_eq!(
            SendMessage::new(serde_json::json!({"n": 1})).text(),
            r#"{"n":1}"#
        );
        assert!(serde_json::from_str::<SendMessage>(r#"{"action":"sendmessage"}"#).is_err());
        let history = History::new(vec![StoredMessage {
            from: "c1".into(),
            data: "hi".into(),
            at: 5,
        }]);
        assert_eq!(
            serde_json::to_string(&history).unwrap(),
            r#"{"type":"history","messages":[{"from":"c1","data":"hi","at":5}]}"#
        );
    }
}
