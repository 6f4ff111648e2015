//! Throttling as API Gateway applies a stage's settings: one token bucket per stage
//! and route key, shared by every client, holding up to the burst limit and refilled
//! at the rate limit (requests per second). A message over the limit gets API
//! Gateway's error frame (`Too Many Requests`) and the socket stays open; a `$connect`
//! over it is refused with 429. The account-level limits (10,000 requests per second,
//! bursts of 5,000, per region) are not applied locally.

use super::*;
use crate::dev::model::Throttle;

/// The buckets, by (stage, route key).
#[derive(Default)]
pub(super) struct Throttles {
    buckets: Mutex<HashMap<(String, String), Bucket>>,
}

struct Bucket {
    limit: Throttle,
    tokens: f64,
    refilled: Instant,
}

impl Throttles {
    /// Takes a token from the bucket of `route` on `stage`; false when there is none.
    /// Routes without a rate and a burst limit are not throttled.
    pub(super) fn admit(&self, served: &Served, route: &str) -> bool {
        let Some(limit) = served.api.throttle(&served.stage, route) else {
            return true;
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets
            .entry((served.stage.clone(), route.to_string()))
            .or_insert(Bucket {
                limit,
                tokens: f64::from(limit.burst),
                refilled: now,
            });
        // A reloaded app with other limits starts a full bucket of the new ones.
        if bucket.limit != limit {
            *bucket = Bucket {
                limit,
                tokens: f64::from(limit.burst),
                refilled: now,
            };
        }
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.rate).min(f64::from(limit.burst));
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
