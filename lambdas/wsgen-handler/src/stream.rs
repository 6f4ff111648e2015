//! DynamoDB stream events: a function subscribed to a table's stream
//! (`table.on_change(&function)`) gets batches of the table's changes, in the order they
//! were made, as `aws_lambda_events`' DynamoDB event. [`Router::on_stream`] takes them;
//! [`new_image`] and [`old_image`] read a record's item as a type of yours.
//!
//! [`Router::on_stream`]: crate::Router::on_stream

use crate::Error;
pub use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord as StreamRecord};
use serde::de::DeserializeOwned;

/// What happened to an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// It was written for the first time (`INSERT`).
    Insert,
    /// It was written over (`MODIFY`).
    Modify,
    /// It was deleted, or expired (`REMOVE`).
    Remove,
}

/// What a record says happened to its item; `None` for an event name DynamoDB does not
/// send.
pub fn change(record: &StreamRecord) -> Option<Change> {
    match record.event_name.as_str() {
        "INSERT" => Some(Change::Insert),
        "MODIFY" => Some(Change::Modify),
        "REMOVE" => Some(Change::Remove),
        _ => None,
    }
}

/// The item after the change as a `T`; `None` when the record holds no new image (a
/// removal, or a stream whose view is `KEYS_ONLY` or `OLD_IMAGE`).
pub fn new_image<T: DeserializeOwned>(record: &StreamRecord) -> Result<Option<T>, Error> {
    image(&record.change.new_image)
}

/// The item before the change as a `T`; `None` when the record holds no old image (an
/// insertion, or a stream whose view is `KEYS_ONLY` or `NEW_IMAGE`).
pub fn old_image<T: DeserializeOwned>(record: &StreamRecord) -> Result<Option<T>, Error> {
    image(&record.change.old_image)
}

fn image<T: DeserializeOwned>(item: &serde_dynamo::Item) -> Result<Option<T>, Error> {
    if item.is_empty() {
        return Ok(None);
    }
    serde_dynamo::from_item(item.clone())
        .map(Some)
        .map_err(|e| {
            format!("the stream record's item is not what this function expects: {e}").into()
        })
}
