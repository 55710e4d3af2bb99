//! Per-endpoint rate limits: a token bucket per endpoint, in this process.

use std::sync::Mutex;
use std::time::Duration;

use super::lock;
use crate::clock::Timestamp;
use crate::id::{EndpointId, IdMap};

/// Token buckets holding up to one second's worth of attempts.
#[derive(Debug, Default)]
pub(super) struct RateLimits(Mutex<IdMap<EndpointId, Bucket>>);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Timestamp,
}

impl RateLimits {
    /// Takes a token for an attempt to `endpoint` at `now`, or says how long
    /// until one is free.
    pub(super) fn take(
        &self,
        endpoint: &EndpointId,
        per_second: u32,
        now: Timestamp,
    ) -> Result<(), Duration> {
        let rate = f64::from(per_second.max(1));
        let mut buckets = lock(&self.0);
        let bucket = buckets.entry(endpoint.clone()).or_insert(Bucket {
            tokens: rate,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(rate);
        bucket.updated = bucket.updated.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_rate_then_spaces_attempts_out() {
        let limits = RateLimits::default();
        let endpoint: EndpointId = "ep_00000000000000000000000001".parse().unwrap();
        let t0 = Timestamp::from_unix_millis(1_000_000);
        assert!(limits.take(&endpoint, 2, t0).is_ok());
        assert!(limits.take(&endpoint, 2, t0).is_ok());
        assert_eq!(
            limits.take(&endpoint, 2, t0),
            Err(Duration::from_millis(500))
        );
        let later = t0.saturating_add(Duration::from_millis(500));
        assert!(limits.take(&endpoint, 2, later).is_ok());
        assert!(limits.take(&endpoint, 2, later).is_err());
    }
}
