//! A stored chat's fan-out (the `chat-history` blueprint): subscribed to the messages
//! table's stream (`NEW_IMAGE`), it posts each new message to every connection in the
//! connections table (`TABLE_NAME`) but its sender, through the stage of `CALLBACK_URL`:
//! `{"type":"message","from":..,"data":..,"at":..}`. Connections that are gone are
//! removed. An item that is not a message is logged and skipped, and a post that fails
//! is logged, not retried: a failed batch is run again whole (and, after its retries,
//! dropped whole), so the other messages of the batch would be sent twice, or lost.
//! Only what makes every post impossible (the connections cannot be read) fails it.

use serde::Deserialize;
use wsgen_handler::stream::{change, new_image, Change};
use wsgen_handler::{broadcast, Context, Router};

/// How many posts are in flight at once.
pub const CONCURRENCY: usize = 32;

/// A stored message (lambdas/messages writes them).
#[derive(Deserialize)]
struct Message {
    from: String,
    data: String,
    at: i64,
}

pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx).on_stream(|event, ctx| async move {
        let store = ctx.store()?;
        let connections = ctx.callback_connections()?;
        let mut everyone: Option<Vec<String>> = None;
        for record in &event.records {
            if change(record) != Some(Change::Insert) {
                continue;
            }
            let m = match new_image::<Message>(record) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => {
                    eprintln!("skipped record {}: {e}", record.event_id);
                    continue;
                }
            };
            if everyone.is_none() {
                everyone = Some(store.list().await?.into_iter().map(|c| c.id).collect());
            }
            let text =
                serde_json::json!({"type": "message", "from": m.from, "data": m.data, "at": m.at})
                    .to_string();
            let others: Vec<String> = everyone
                .iter()
                .flatten()
                .filter(|id| **id != m.from)
                .cloned()
                .collect();
            let report = broadcast(
                &connections,
                Some(store),
                others,
                text.as_bytes(),
                CONCURRENCY,
            )
            .await;
            eprintln!("message from {} at {}: {report}", m.from, m.at);
        }
        Ok(())
    })
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
    use serde_json::json;
    use wsgen_handler::testing::FakeAws;

    fn record(name: &str, image: serde_json::Value) -> serde_json::Value {
        json!({
            "eventID": "1", "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/Messages/stream/x",
            "dynamodb": {
                "ApproximateCreationDateTime": 1700000000.0,
                "Keys": {"room": {"S": "lobby"}, "sk": {"S": "1#alice"}},
                "NewImage": image,
                "SequenceNumber": "100", "SizeBytes": 60, "StreamViewType": "NEW_IMAGE"
            }
        })
    }

    #[tokio::test]
    async fn new_messages_reach_everyone_but_their_sender() {
        let aws = FakeAws::start().await;
        for id in ["alice", "bob", "carol"] {
            aws.store("conns", id);
            aws.connect(id);
        }
        aws.close("carol");
        let router = super::router(aws.context());
        let message = json!({"room": {"S": "lobby"}, "sk": {"S": "1#alice"}, "from": {"S": "alice"},
            "data": {"S": "hello"}, "at": {"N": "1700000000000"}});
        let event = json!({"Records": [
            record("INSERT", message),
            record("MODIFY", json!({"from": {"S": "alice"}, "data": {"S": "edited"}, "at": {"N": "1"}})),
            record("REMOVE", json!({})),
        ]});
        router.handle(event).await.unwrap();
        let got: Vec<serde_json::Value> = aws
            .received("bob")
            .iter()
            .map(|m| serde_json::from_str(m).unwrap())
            .collect();
        assert_eq!(
            got,
            [json!({"type": "message", "from": "alice", "data": "hello", "at": 1700000000000i64})]
        );
        assert!(aws.received("alice").is_empty(), "not to the sender");
        assert_eq!(aws.stored("conns"), ["alice", "bob"], "carol was gone");

        // A record that is not a message is skipped; the rest of its batch goes out.
        let bad = json!({"Records": [
            record("INSERT", json!({"room": {"S": "lobby"}})),
            record("INSERT", json!({"from": {"S": "bob"}, "data": {"S": "still here"}, "at": {"N": "2"}})),
        ]});
        router.handle(bad).await.unwrap();
        assert_eq!(
            aws.received("alice").len(),
            1,
            "{:?}",
            aws.received("alice")
        );
    }
}
