//! The dispatcher's settings and the checks they must pass.

use std::time::Duration;

use crate::error::Error;
use crate::retry::RetrySchedule;

/// Settings of a [`Dispatcher`](super::Dispatcher).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DispatcherConfig {
    /// Attempts in flight at once in this dispatcher, at most: 1 to
    /// [`DispatcherConfig::MAX_CONCURRENCY`].
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint, at most, so one slow
    /// endpoint cannot take every worker.
    pub per_endpoint_concurrency: usize,
    /// How long a claim holds a delivery. Longer than any attempt can take
    /// (the longest endpoint timeout is 30 s).
    pub lease: Duration,
    /// How often to look for due work when nothing wakes the dispatcher
    /// sooner: other processes may have queued some. Longer than zero.
    ///
    /// While the store fails, the dispatcher looks less and less often:
    /// after this interval (at least 100 ms) at first, doubling with each
    /// failure up to every 30 s (or this interval, if longer). A claim that
    /// succeeds meanwhile (a worker's) ends the wait at once.
    pub poll_interval: Duration,
    /// When to retry failed attempts.
    pub retry_schedule: RetrySchedule,
    /// The longest wait a `Retry-After` header may ask for.
    pub retry_after_cap: Duration,
    /// An endpoint failing without a single success for this long is
    /// disabled.
    pub auto_disable_after: Duration,
    /// How long to put off a delivery whose endpoint already has
    /// `per_endpoint_concurrency` attempts in flight. Longer than zero: a
    /// delivery put off until now would be claimed straight back.
    pub endpoint_busy_delay: Duration,
    /// How long finished history is kept: while it runs, the dispatcher
    /// purges delivered and failed deliveries (with their attempts), events
    /// left without deliveries and expired idempotency records once they
    /// are this old ([`crate::store::DeliveryStore::purge_finished`]).
    /// `None`, the default, keeps everything. Several processes sharing a
    /// database need it set on one of them only.
    pub keep_history: Option<Duration>,
    /// How often to purge when `keep_history` is set.
    pub purge_interval: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            per_endpoint_concurrency: 4,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            retry_schedule: RetrySchedule::standard(),
            retry_after_cap: Duration::from_secs(6 * 3600),
            auto_disable_after: Duration::from_secs(5 * 24 * 3600),
            endpoint_busy_delay: Duration::from_millis(250),
            keep_history: None,
            purge_interval: Duration::from_secs(3600),
        }
    }
}

impl DispatcherConfig {
    /// The most workers a dispatcher runs. Each is a task, with a slot to
    /// track its attempt in, started when the dispatcher is.
    pub const MAX_CONCURRENCY: usize = 65_536;

    /// Refuses settings the dispatcher cannot run with: a zero concurrency
    /// or one past [`Self::MAX_CONCURRENCY`], a lease that could run out
    /// mid-attempt (so the delivery would be sent twice at once), a zero
    /// poll interval (an idle dispatcher would ask the store for work
    /// without pause), a zero endpoint busy delay (its workers would claim
    /// the same busy endpoint's deliveries over and over), or a zero purge
    /// interval with history to purge.
    pub(super) fn validate(&self) -> Result<(), Error> {
        if self.concurrency == 0 || self.per_endpoint_concurrency == 0 {
            return Err(Error::invalid("concurrency", "must be at least 1"));
        }
        if self.concurrency > Self::MAX_CONCURRENCY {
            return Err(Error::invalid(
                "concurrency",
                format!("must be at most {}", Self::MAX_CONCURRENCY),
            ));
        }
        if self.lease <= Duration::from_secs(30) {
            return Err(Error::invalid(
                "lease",
                "must be longer than the longest attempt (30 s)",
            ));
        }
        if self.poll_interval.is_zero() {
            return Err(Error::invalid("poll_interval", "must be longer than zero"));
        }
        if self.endpoint_busy_delay.is_zero() {
            return Err(Error::invalid(
                "endpoint_busy_delay",
                "must be longer than zero",
            ));
        }
        if self.keep_history.is_some() && self.purge_interval.is_zero() {
            return Err(Error::invalid("purge_interval", "must be longer than zero"));
        }
        Ok(())
    }
}
