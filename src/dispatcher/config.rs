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
    /// How long a claim, or a renewal, holds a delivery: at least
    /// [`DispatcherConfig::MIN_LEASE`] (3 s); 15 s by default.
    ///
    /// While an attempt runs, the dispatcher renews its lease every third
    /// of this, to a whole lease from then
    /// ([`DeliveryStore::renew_leases`](crate::store::DeliveryStore::renew_leases)),
    /// so an attempt may take longer than the lease: endpoint timeouts go
    /// up to 30 s. A process that dies stops renewing, and its deliveries
    /// are taken over by another dispatcher once its leases run out: within
    /// a lease of its death, or later if older work is due before them.
    /// The shorter the lease, the sooner; but the less a store that fails,
    /// or a process that stalls, may hold up renewals before another
    /// dispatcher takes over attempts still running, and the receivers get
    /// them twice.
    ///
    /// A store that cannot renew leases (the trait's default refuses; the
    /// dispatcher reports it as a
    /// [`StoreFailed`](crate::observer::Notice::StoreFailed) of
    /// [`RenewLeases`](crate::observer::StoreOperation::RenewLeases)) needs
    /// a lease longer than the longest attempt, over 30 s, or a delivery
    /// whose attempt outlasts it is sent twice.
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
            // Renewed every 5 s: a dead process's deliveries are taken over
            // about 15 s after it died, and a renewal may fail twice in a
            // row (the store down for 10 s) before a lease runs out.
            lease: Duration::from_secs(15),
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

    /// The shortest [`lease`](Self::lease) accepted. A lease is renewed
    /// every third of it, so a 3 s lease is renewed every second and each
    /// renewal has two seconds to reach the store before the lease runs
    /// out; with less, a busy runtime or a slow store would let leases run
    /// out under attempts still running, which would then be made twice.
    pub const MIN_LEASE: Duration = Duration::from_secs(3);

    /// Refuses settings the dispatcher cannot run with: a zero concurrency
    /// or one past [`Self::MAX_CONCURRENCY`], a lease under
    /// [`Self::MIN_LEASE`] (its renewals could not be counted on to reach
    /// the store in time, so deliveries would be sent twice at once), a zero
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
        if self.lease < Self::MIN_LEASE {
            return Err(Error::invalid("lease", "must be at least 3 s"));
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
