//! The direct messages' protocol (seed 002): one definition for the infra, which makes
//! API Gateway refuse a `sendMessage` without its recipient (with the `schema` feature),
//! and for the handlers, which parse it.

use serde::{Deserialize, Serialize};

/// The route key that answers with the caller's bare connection id.
pub const WHO_AM_I: &str = "whoAmI";
/// The route key of [`SendTo`].
pub const SEND_MESSAGE: &str = "sendMessage";

/// `{"action":"sendMessage","connectionId":"...","message":"Hi! :)"}`: `message` goes to
/// that connection (a connection id `whoAmI` gave).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct SendTo {
    /// The route key, `sendMessage`.
    pub action: String,
    /// The recipient's connection id.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 128)))]
    pub connection_id: String,
    /// What the recipient receives: a string as it is, any other JSON value as JSON.
    pub message: serde_json::Value,
}

impl SendTo {
    /// The text the recipient receives.
    pub fn text(&self) -> String {
        match &self.message {
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
        let m: SendTo = serde_json::from_str(
            r#"{"action":"sendMessage","connectionId":"c1","message":"Hi! :)"}"#,
        )
        .unwrap();
        assert_eq!(
            (m.connection_id.as_str(), m.text().as_str()),
            ("c1", "Hi! :)")
        );
        assert!(
            serde_json::from_str::<SendTo>(r#"{"action":"sendMessage","message":"x"}"#).is_err()
        );
    }
}
