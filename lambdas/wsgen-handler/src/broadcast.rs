//! Posting one message to many connections.

use crate::{ConnectionStore, Connections, Delivery};

type Posted = (String, Result<Delivery, String>);

/// A post task's result; a post that panicked panics here too, as it would have
/// without the task.
fn finished(joined: Result<Posted, tokio::task::JoinError>) -> Posted {
    joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// What a broadcast did, each list sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub delivered: Vec<String>,
    /// Connections that answered 410 Gone (removed from the store when one was given).
    pub gone: Vec<String>,
    /// Connections the post failed for, with the error (after the SDK's retries).
    pub failed: Vec<(String, String)>,
}

impl std::fmt::Display for Report {
    /// `3 delivered, 1 gone, 0 failed`, then a line per failure.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} delivered, {} gone, {} failed",
            self.delivered.len(),
            self.gone.len(),
            self.failed.len()
        )?;
        for (id, e) in &self.failed {
            write!(f, "\n  {id}: {e}")?;
        }
        Ok(())
    }
}

/// Posts `data` to every connection in `ids`, at most `concurrency` at a time.
/// Connections that are gone are deleted from `store`.
///
/// Each post is a task of its own on the runtime: on the current-thread runtime the
/// handlers use, their waits for the network overlap; on a multi-threaded one, the
/// signing and sending also spread over its threads. The message is shared, never
/// copied.
pub async fn broadcast(
    connections: &Connections,
    store: Option<&ConnectionStore>,
    ids: impl IntoIterator<Item = String>,
    data: &[u8],
    concurrency: usize,
) -> Report {
    let ids = ids.into_iter().collect();
    post_all(
        connections,
        store,
        ids,
        bytes::Bytes::copy_from_slice(data),
        concurrency,
    )
    .await
}

/// [`broadcast`]'s work, compiled once in this crate (see [`crate::Boxed`]).
fn post_all<'a>(
    connections: &'a Connections,
    store: Option<&'a ConnectionStore>,
    ids: Vec<String>,
    data: bytes::Bytes,
    concurrency: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Report> + Send + 'a>> {
    Box::pin(async move {
        let mut tasks = tokio::task::JoinSet::new();
        let mut results: Vec<Posted> = Vec::new();
        for id in ids {
            if tasks.len() >= concurrency.max(1) {
                results.extend(tasks.join_next().await.map(finished));
            }
            let (connections, data) = (connections.clone(), data.clone());
            tasks.spawn(async move {
                let r = connections
                    .post_bytes(&id, data)
                    .await
                    .map_err(|e| e.to_string());
                (id, r)
            });
        }
        while let Some(done) = tasks.join_next().await {
            results.push(finished(done));
        }
        let mut report = Report::default();
        for (id, r) in results {
            match r {
                Ok(Delivery::Delivered) => report.delivered.push(id),
                Ok(Delivery::Gone) => report.gone.push(id),
                Err(e) => report.failed.push((id, e)),
            }
        }
        if let Some(store) = store {
            for id in &report.gone {
                if let Err(e) = store.delete(id).await {
                    report.failed.push((
                        id.clone(),
                        format!("gone, but not removed from the store: {e}"),
                    ));
                }
            }
        }
        report.delivered.sort();
        report.gone.sort();
        report.failed.sort();
        report
    })
}
