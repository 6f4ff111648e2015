//! Server push (seed 000's stock prices). Clients send
//! `{"action":"subscribe","symbol":"AMZN"}` / `{"action":"unsubscribe","symbol":"AMZN"}`
//! (two-way routes: they get `{"subscribed":"AMZN"}` back). On its schedule the
//! function posts `{"type":"price","symbol":"AMZN","price":123.45,"at":<epoch s>}` to
//! every subscriber of each symbol in `SYMBOLS` (default `AMZN,GOOG,MSFT`) through the
//! stage of `CALLBACK_URL`, and forgets the connections that are gone.

use std::time::{SystemTime, UNIX_EPOCH};
use ticker_protocol::{Price, Subscribed, Subscription, Unsubscribed, SUBSCRIBE, UNSUBSCRIBE};
use wsgen_handler::{broadcast, Context, Router, WsRequest, WsResponse};

/// The environment variable listing the symbols, comma-separated.
pub const SYMBOLS_ENV: &str = "SYMBOLS";
const DEFAULT_SYMBOLS: &str = "AMZN,GOOG,MSFT";

fn symbol(req: &WsRequest) -> Option<String> {
    let s = req
        .json::<Subscription>()
        .ok()?
        .symbol
        .trim()
        .to_ascii_uppercase();
    (!s.is_empty() && s.len() <= 16 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
        .then_some(s)
}

const USAGE: &str = r#"send {"action":"subscribe","symbol":"AMZN"}"#;

pub fn router(ctx: Context) -> Router<Context> {
    let symbols: Vec<String> = std::env::var(SYMBOLS_ENV)
        .unwrap_or_else(|_| DEFAULT_SYMBOLS.into())
        .split(',')
        .map(|s| s.trim().to_ascii_uppercase())
        .filter(|s| !s.is_empty())
        .collect();
    router_with_symbols(ctx, symbols)
}

/// The router pushing prices of `symbols`.
pub fn router_with_symbols(ctx: Context, symbols: Vec<String>) -> Router<Context> {
    Router::new(ctx)
        .route(SUBSCRIBE, |req, ctx| async move {
            let Some(symbol) = symbol(&req) else {
                return Ok(WsResponse::error(400, USAGE));
            };
            ctx.store()?.subscribe(&req.connection_id, &symbol).await?;
            Ok(WsResponse::json(&Subscribed { subscribed: symbol }))
        })
        .route(UNSUBSCRIBE, |req, ctx| async move {
            let Some(symbol) = symbol(&req) else {
                return Ok(WsResponse::error(400, USAGE));
            };
            ctx.store()?
                .unsubscribe(&req.connection_id, &symbol)
                .await?;
            Ok(WsResponse::json(&Unsubscribed {
                unsubscribed: symbol,
            }))
        })
        .on_schedule(move |_event, ctx| {
            let symbols = symbols.clone();
            async move {
                let store = ctx.store()?;
                let connections = ctx.callback_connections()?;
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                for symbol in &symbols {
                    let subscribers = store.subscribers(symbol).await?;
                    if subscribers.is_empty() {
                        continue;
                    }
                    let update = Price::new(symbol, price(symbol, now / 60), now);
                    let update = serde_json::to_vec(&update)?;
                    let report = broadcast(
                        &connections,
                        Some(store),
                        subscribers.into_iter().map(|c| c.id),
                        &update,
                        32,
                    )
                    .await;
                    eprintln!("{symbol}: {report}");
                }
                Ok(())
            }
        })
}

/// A made-up but stable price of `symbol` in minute `minute`: a base from the symbol,
/// moved by up to 2% each minute.
pub fn price(symbol: &str, minute: u64) -> f64 {
    let h = symbol.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let base = 50.0 + (h % 450) as f64;
    let wiggle = ((h ^ minute.wrapping_mul(0x9E3779B97F4A7C15)).wrapping_mul(0x100000001b3) % 2001)
        as f64
        / 1000.0
        - 1.0;
    (base * (1.0 + 0.02 * wiggle) * 100.0).round() / 100.0
}

/// Runs the function, as its binary's `main` does; `wsgen bundle` links it with the
/// app's other handlers into one binary (`[package.metadata.wsgen] entry` in
/// Cargo.toml).
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), wsgen_handler::Error> {
    router(wsgen_handler::Context::from_env().await?)
        .run()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsgen_handler::testing::FakeAws;

    #[tokio::test]
    async fn subscribers_get_price_updates() {
        let aws = FakeAws::start().await;
        for id in ["a", "b", "c"] {
            aws.store("conns", id);
            aws.connect(id);
        }
        let router = router_with_symbols(aws.context(), vec!["AMZN".into(), "MSFT".into()]);
        let out = router
            .handle(aws.event(
                "subscribe",
                "a",
                Some(r#"{"action":"subscribe","symbol":"amzn"}"#),
            ))
            .await
            .unwrap();
        assert_eq!(out["body"], r#"{"subscribed":"AMZN"}"#);
        router
            .handle(aws.event(
                "subscribe",
                "b",
                Some(r#"{"action":"subscribe","symbol":"MSFT"}"#),
            ))
            .await
            .unwrap();
        router
            .handle(aws.event(
                "subscribe",
                "c",
                Some(r#"{"action":"subscribe","symbol":"AMZN"}"#),
            ))
            .await
            .unwrap();
        let out = router
            .handle(aws.event(
                "unsubscribe",
                "c",
                Some(r#"{"action":"unsubscribe","symbol":"AMZN"}"#),
            ))
            .await
            .unwrap();
        assert_eq!(out["body"], r#"{"unsubscribed":"AMZN"}"#);
        let bad = router
            .handle(aws.event("subscribe", "c", Some(r#"{"action":"subscribe"}"#)))
            .await
            .unwrap();
        assert_eq!(bad["statusCode"], 400);

        router
            .handle(serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event"}))
            .await
            .unwrap();
        let a: Vec<serde_json::Value> = aws
            .received("a")
            .iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect();
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0]["type"].as_str(), a[0]["symbol"].as_str()),
            (Some("price"), Some("AMZN"))
        );
        assert!(a[0]["price"].as_f64().unwrap() > 0.0);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&aws.received("b")[0]).unwrap()["symbol"],
            "MSFT"
        );
        assert!(aws.received("c").is_empty(), "unsubscribed");
    }

    #[test]
    fn prices_are_stable_and_move_a_little() {
        assert_eq!(price("AMZN", 100), price("AMZN", 100));
        let (p, q) = (price("AMZN", 100), price("AMZN", 101));
        assert!((p - q).abs() / p < 0.05, "{p} {q}");
        assert_ne!(price("AMZN", 100), price("GOOG", 100));
    }
}
