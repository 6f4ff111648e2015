//! The ticker's messages: one definition for the infra, which makes API Gateway refuse
//! a subscription without a valid symbol and describes the replies (with the `schema`
//! feature), and for the handler, which parses and writes them.

use serde::{Deserialize, Serialize};

/// The route key of a [`Subscription`] that starts price updates.
pub const SUBSCRIBE: &str = "subscribe";
/// The route key of a [`Subscription`] that stops them.
pub const UNSUBSCRIBE: &str = "unsubscribe";

/// `{"action":"subscribe","symbol":"AMZN"}` (or `unsubscribe`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Subscription {
    /// The route key, `subscribe` or `unsubscribe`.
    pub action: String,
    /// A ticker symbol, letters, digits and dots (any case).
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = 16), regex(pattern = r"^[A-Za-z0-9.]+$"))
    )]
    pub symbol: String,
}

/// The reply to `subscribe`: `{"subscribed":"AMZN"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Subscribed {
    /// The symbol, upper case.
    pub subscribed: String,
}

/// The reply to `unsubscribe`: `{"unsubscribed":"AMZN"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Unsubscribed {
    /// The symbol, upper case.
    pub unsubscribed: String,
}

/// What the ticker posts to a symbol's subscribers on its schedule:
/// `{"type":"price","symbol":"AMZN","price":123.45,"at":1700000000}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Price {
    /// Always `price`: what tells a price from the replies.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "schema", schemars(extend("const" = "price")))]
    pub kind: String,
    pub symbol: String,
    pub price: f64,
    /// When, in seconds since the Unix epoch.
    pub at: u64,
}

impl Price {
    pub fn new(symbol: &str, price: f64, at: u64) -> Price {
        Price {
            kind: "price".into(),
            symbol: symbol.into(),
            price,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_forms() {
        let s: Subscription =
            serde_json::from_str(r#"{"action":"subscribe","symbol":"amzn"}"#).unwrap();
        assert_eq!(s.symbol, "amzn");
        assert!(serde_json::from_str::<Subscription>(r#"{"action":"subscribe"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Price::new("AMZN", 1.5, 7)).unwrap(),
            r#"{"type":"price","symbol":"AMZN","price":1.5,"at":7}"#
        );
        assert_eq!(
            serde_json::to_string(&Subscribed {
                subscribed: "A".into()
            })
            .unwrap(),
            r#"{"subscribed":"A"}"#
        );
    }
}
