//! The chat's messages: one definition for the infra, which makes API Gateway refuse a
//! message that does not match (`Route::request`, with the `schema` feature), and for
//! the handlers, which parse it. Rename a field here and both stop building, rather
//! than production refusing every message.

use serde::{Deserialize, Serialize};

/// The route key of [`SendMessage`].
pub const SEND_MESSAGE: &str = "sendmessage";

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
    }
}
