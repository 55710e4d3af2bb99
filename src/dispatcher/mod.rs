//! The dispatcher: workers that claim due deliveries, sign and send them,
//! record every attempt and schedule retries.
//!
//! Delivery is at least once. A claimed delivery is leased; if its worker
//! dies, the lease runs out and another worker (in this process or another
//! one sharing the store) takes it. Receivers de-duplicate on `webhook-id`,
//! which is the event id and stays the same across attempts and endpoints.

mod outcome;
mod pool;
mod rate;
mod retention;
mod slots;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::clock::{Clock, Timestamp};
use crate::error::Error;
use crate::id::{EndpointId, EventId};
use crate::model::{AttemptOutcome, Delivery, EndpointStatus, Event, StoredEndpoint, TenantId};
use crate::observer::{IgnoreNotices, Notice, Observer};
use crate::retry::{Random, RetrySchedule, SplitMix};
use crate::signature;
use crate::store::{Claim, Lease, Store};
use crate::transport::{HttpTransport, Transport, WebhookRequest};
use crate::webhooks::Webhooks;

use outcome::{RetryRules, Verdict};
use pool::{Handoff, Pool};
use rate::RateLimits;
use slots::EndpointSlots;

/// Settings of a [`Dispatcher`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DispatcherConfig {
    /// Attempts in flight at once in this dispatcher, at most.
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint, at most, so one slow
    /// endpoint cannot take every worker.
    pub per_endpoint_concurrency: usize,
    /// How long a claim holds a delivery. Longer than any attempt can take
    /// (the longest endpoint timeout is 30 s).
    pub lease: Duration,
    /// How often to look for due work when nothing wakes the dispatcher
    /// sooner: other processes may have queued some.
    pub poll_interval: Duration,
    /// When to retry failed attempts.
    pub retry_schedule: RetrySchedule,
    /// The longest wait a `Retry-After` header may ask for.
    pub retry_after_cap: Duration,
    /// An endpoint failing without a single success for this long is
    /// disabled.
    pub auto_disable_after: Duration,
    /// How long to put off a delivery whose endpoint already has
    /// `per_endpoint_concurrency` attempts in flight.
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

/// Builds a [`Dispatcher`]; see [`Dispatcher::builder`].
#[derive(Debug)]
#[must_use]
pub struct DispatcherBuilder {
    webhooks: Arc<Webhooks>,
    transport: Option<Arc<dyn Transport>>,
    observer: Arc<dyn Observer>,
    random: Arc<dyn Random>,
    config: DispatcherConfig,
    worker_id: Option<String>,
}

impl DispatcherBuilder {
    /// Sends through `transport` instead of the default [`HttpTransport`]
    /// (with its SSRF guard on).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Tells `observer` about exhausted deliveries and disabled or recovered
    /// endpoints.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Draws retry jitter from `random`.
    pub fn random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// Replaces the settings.
    pub fn config(mut self, config: DispatcherConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes the settings in place.
    pub fn configure(mut self, change: impl FnOnce(&mut DispatcherConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Names this worker in leases (a random name by default).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a zero concurrency, a lease shorter than
    /// the longest attempt, or a zero purge interval with history to purge;
    /// [`Error::Backend`] if the default transport cannot be built.
    pub fn build(self) -> Result<Dispatcher, Error> {
        let config = self.config;
        if config.concurrency == 0 || config.per_endpoint_concurrency == 0 {
            return Err(Error::invalid("concurrency", "must be at least 1"));
        }
        if config.lease <= Duration::from_secs(30) {
            return Err(Error::invalid(
                "lease",
                "must be longer than the longest attempt (30 s)",
            ));
        }
        if config.keep_history.is_some() && config.purge_interval.is_zero() {
            return Err(Error::invalid("purge_interval", "must be longer than zero"));
        }
        let transport = match self.transport {
            Some(transport) => transport,
            None => Arc::new(HttpTransport::builder().build()?),
        };
        let worker_id = match self.worker_id {
            Some(id) => id,
            None => format!(
                "worker-{:016x}",
                (self.random.next_unit() * 2f64.powi(53)) as u64
            ),
        };
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                store: Arc::clone(self.webhooks.store()),
                clock: Arc::clone(self.webhooks.clock()),
                webhooks: self.webhooks,
                transport,
                observer: self.observer,
                random: self.random,
                rules: RetryRules {
                    schedule: config.retry_schedule.clone(),
                    retry_after_cap: config.retry_after_cap,
                },
                endpoint_slots: EndpointSlots::new(config.per_endpoint_concurrency),
                rate_limits: RateLimits::default(),
                wake: Arc::new(Notify::new()),
                worker_id,
                config,
            }),
        })
    }
}

/// Delivers queued webhooks: a pool of async workers over a [`Store`].
///
/// Run one per process; several processes may share one store.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    webhooks: Arc<Webhooks>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    transport: Arc<dyn Transport>,
    observer: Arc<dyn Observer>,
    random: Arc<dyn Random>,
    rules: RetryRules,
    config: DispatcherConfig,
    /// Per-endpoint limits on attempts in flight.
    endpoint_slots: EndpointSlots,
    /// Per-endpoint rate limits.
    rate_limits: RateLimits,
    wake: Arc<Notify>,
    worker_id: String,
}

/// Controls a running dispatcher; see [`Dispatcher::spawn`].
#[derive(Debug)]
pub struct DispatcherHandle {
    stop: watch::Sender<Option<Duration>>,
    task: tokio::task::JoinHandle<()>,
    wake: Arc<Notify>,
}

impl DispatcherHandle {
    /// Wakes the dispatcher to look for due work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops claiming, lets attempts in flight finish for up to `deadline`,
    /// then gives the rest back to the store (due again at once) and returns.
    pub async fn shutdown(self, deadline: Duration) {
        // The loop may already have ended; then there is nothing to stop.
        let _ = self.stop.send(Some(deadline));
        let _ = self.task.await;
    }
}

/// The outcome of [`Dispatcher::ping`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingOutcome {
    /// The `webhook-id` the test event carried.
    pub event_id: EventId,
    /// The response status, if the endpoint answered.
    pub status: Option<u16>,
    /// How long the attempt took.
    pub latency: Duration,
    /// What went wrong, if the endpoint did not answer.
    pub error: Option<String>,
}

impl PingOutcome {
    /// Whether the endpoint answered 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The event type of [`Dispatcher::ping`]'s test event.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

impl Dispatcher {
    /// Starts building a dispatcher for `webhooks`' store and clock.
    pub fn builder(webhooks: Arc<Webhooks>) -> DispatcherBuilder {
        DispatcherBuilder {
            webhooks,
            transport: None,
            observer: Arc::new(IgnoreNotices),
            random: Arc::new(SplitMix::from_os()),
            config: DispatcherConfig::default(),
            worker_id: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &DispatcherConfig {
        &self.inner.config
    }

    /// Runs the worker pool on the current tokio runtime until
    /// [`DispatcherHandle::shutdown`].
    pub fn spawn(&self) -> DispatcherHandle {
        let (stop, stopped) = watch::channel(None);
        let inner = Arc::clone(&self.inner);
        let wake = Arc::clone(&inner.wake);
        inner
            .webhooks
            .on_send(wake_while_running(&wake, stopped.clone()));
        inner
            .store
            .watch_new_work(wake_while_running(&wake, stopped.clone()));
        let task = tokio::spawn(inner.run(stopped));
        DispatcherHandle { stop, task, wake }
    }

    /// Claims whatever is due now, attempts it all and waits for the
    /// attempts: one round of the worker pool, for tests and for callers
    /// that drive delivery themselves. Returns how many were claimed.
    ///
    /// # Errors
    /// [`Error::Backend`] if the store fails to hand out work.
    pub async fn deliver_due(&self) -> Result<usize, Error> {
        let claims = self.inner.claim(self.inner.config.concurrency).await?;
        let claimed = claims.len();
        let mut attempts = JoinSet::new();
        for claim in claims {
            let inner = Arc::clone(&self.inner);
            attempts.spawn(async move { inner.attempt(claim).await });
        }
        while attempts.join_next().await.is_some() {}
        Ok(claimed)
    }

    /// Sends a `webhook.test` event to one endpoint at once, bypassing the
    /// queue, and says how it went. Nothing is stored.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the endpoint does not exist for `tenant`.
    pub async fn ping(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
    ) -> Result<PingOutcome, Error> {
        self.inner.ping(tenant, endpoint_id).await
    }
}

impl Inner {
    /// The claiming loop: hands due deliveries to idle workers, sleeps
    /// while none are due, and shuts the workers down when told to.
    async fn run(self: Arc<Self>, mut stop: watch::Receiver<Option<Duration>>) {
        let purging = self.config.keep_history.map(|keep| {
            retention::spawn(
                Arc::clone(&self.store),
                Arc::clone(&self.clock),
                keep,
                self.config.purge_interval,
            )
        });
        let pool = Arc::new(Pool::new(self.config.concurrency));
        let mut workers = JoinSet::new();
        for index in 0..self.config.concurrency {
            workers.spawn(Arc::clone(&self).work(Arc::clone(&pool), index));
        }
        loop {
            if stop.borrow().is_some() {
                break;
            }
            if self.hand_out(&pool).await {
                // Busy workers claim their own next delivery while any is
                // due, so there is nothing to do until one runs out.
                tokio::select! {
                    () = pool.until_idle() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let wait = self.idle_wait().await;
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        if let Some(purging) = purging {
            purging.abort();
        }
        pool.stop();
        let deadline = (*stop.borrow()).unwrap_or_default();
        self.drain(workers, &pool, deadline).await;
    }

    /// Claims a due delivery for every idle worker and hands them out.
    /// Returns whether every idle worker got one, so more may be due; a
    /// failing store is retried at the next wake-up, and leases keep
    /// anything claimed safe meanwhile.
    async fn hand_out(&self, pool: &Pool) -> bool {
        let idle = pool.idle();
        if idle == 0 {
            return true;
        }
        let Ok(claims) = self.claim(idle).await else {
            return false;
        };
        let filled = claims.len() == idle;
        for claim in claims {
            // Only this loop makes workers busy, so every claim finds one.
            if let Err(lease) = pool.hand(claim) {
                let _ = self.store.release(&lease, self.clock.now()).await;
            }
        }
        filled
    }

    /// One worker: attempts what it is handed, then claims and attempts
    /// more itself until nothing is due or the pool stops.
    async fn work(self: Arc<Self>, pool: Arc<Pool>, index: usize) {
        while let Some(Handoff { mut claim, busy }) = pool.next().await {
            loop {
                pool.track(index, Some(&claim.lease));
                self.attempt(claim).await;
                pool.track(index, None);
                if pool.is_stopping() {
                    break;
                }
                match self.claim(1).await.map(|mut claims| claims.pop()) {
                    Ok(Some(next)) => claim = next,
                    // Nothing due, or the store failed: idle until the loop
                    // finds more.
                    Ok(None) | Err(_) => break,
                }
            }
            drop(busy);
        }
    }

    /// Lets attempts in flight finish until `deadline`, then cuts the rest
    /// off and gives their deliveries back, with any claimed but not begun.
    async fn drain(&self, mut workers: JoinSet<()>, pool: &Pool, deadline: Duration) {
        let finish = async { while workers.join_next().await.is_some() {} };
        if tokio::time::timeout(deadline, finish).await.is_err() {
            workers.abort_all();
            while workers.join_next().await.is_some() {}
        }
        let now = self.clock.now();
        for lease in pool.unfinished(&self.worker_id) {
            // If this fails the lease simply runs out and the delivery is
            // claimed again then: at least once either way.
            let _ = self.store.release(&lease, now).await;
        }
    }

    /// How long to sleep when idle: until the next delivery is due, but no
    /// longer than the poll interval, since other processes may queue work.
    async fn idle_wait(&self) -> Duration {
        let poll = self.config.poll_interval;
        match self.store.next_due().await {
            Ok(Some(at)) => at.duration_since(self.clock.now()).min(poll),
            _ => poll,
        }
    }

    /// Leases up to `limit` due deliveries to this dispatcher.
    async fn claim(&self, limit: usize) -> Result<Vec<Claim>, Error> {
        let now = self.clock.now();
        let lease_until = now.saturating_add(self.config.lease);
        self.store
            .claim_due(&self.worker_id, now, lease_until, limit)
            .await
    }

    /// One attempt at a claimed delivery, start to finish.
    async fn attempt(&self, claim: Claim) {
        let Claim {
            delivery,
            event,
            lease,
        } = claim;
        let stored = match self
            .store
            .shared_endpoint(&delivery.tenant, &delivery.endpoint_id)
            .await
        {
            Ok(stored) => stored,
            // Leave the lease to run out: the delivery is tried again then.
            Err(_) => return,
        };
        let Some(stored) = stored.filter(|s| s.endpoint.is_active()) else {
            self.end_for_inactive_endpoint(&delivery, &lease).await;
            return;
        };
        if let Some(per_second) = stored.endpoint.rate_limit {
            let now = self.clock.now();
            if let Err(wait) = self
                .rate_limits
                .take(&delivery.endpoint_id, per_second, now)
            {
                let _ = self.store.release(&lease, now.saturating_add(wait)).await;
                return;
            }
        }
        let Some(_endpoint_slot) = self.endpoint_slots.take(&delivery.endpoint_id) else {
            let later = self
                .clock
                .now()
                .saturating_add(self.config.endpoint_busy_delay);
            let _ = self.store.release(&lease, later).await;
            return;
        };
        let started_at = self.clock.now();
        let started = tokio::time::Instant::now();
        let result = match request(&stored, &event, started_at) {
            Ok(request) => self.transport.send(request).await,
            Err(e) => Err(e),
        };
        let duration = started.elapsed();
        let now = self.clock.now();
        let (settled, attempt, verdict) = outcome::settle(
            &delivery,
            outcome::record(result, now),
            started_at,
            duration,
            now,
            &self.rules,
            self.random.next_unit(),
        );
        let success = attempt.outcome.is_success();
        match self.store.finish_attempt(&lease, attempt, settled).await {
            Ok(true) => {}
            // Another worker took the delivery over, or the store failed:
            // either way this result is not the delivery's and the lease
            // (if still ours) runs out.
            Ok(false) | Err(_) => return,
        }
        self.after_attempt(&stored, &delivery, verdict, success, started_at)
            .await;
    }

    /// The follow-up a recorded attempt at `delivery` (as claimed: only its
    /// ids are read) calls for: endpoint health and notices.
    async fn after_attempt(
        &self,
        stored: &StoredEndpoint,
        delivery: &Delivery,
        verdict: Verdict,
        success: bool,
        started_at: Timestamp,
    ) {
        let endpoint = &stored.endpoint;
        match verdict {
            Verdict::Gone => {
                self.disable(
                    endpoint.tenant.clone(),
                    endpoint.id.clone(),
                    "the endpoint answered 410 Gone".into(),
                )
                .await;
                return;
            }
            Verdict::Exhausted => {
                self.observer
                    .notice(Notice::DeliveryExhausted {
                        tenant: delivery.tenant.clone(),
                        delivery_id: delivery.id.clone(),
                        event_id: delivery.event_id.clone(),
                        endpoint_id: delivery.endpoint_id.clone(),
                    })
                    .await;
            }
            Verdict::Delivered | Verdict::Retry => {}
        }
        self.track_health(stored, success, started_at).await;
    }

    /// Records when the endpoint was last tried and how long it has been
    /// failing; disables it once it has failed for the whole window.
    async fn track_health(&self, before: &StoredEndpoint, success: bool, started_at: Timestamp) {
        // A healthy endpoint tried again within a second changes nothing
        // worth a store write: `last_triggered_at` is kept to the second.
        let recently = before
            .endpoint
            .last_triggered_at
            .is_some_and(|at| started_at.duration_since(at) < Duration::from_secs(1));
        if success && before.failing_since.is_none() && recently {
            return;
        }
        let window = self.config.auto_disable_after;
        let change = move |stored: &mut StoredEndpoint| {
            stored.endpoint.last_triggered_at = Some(started_at);
            if success {
                stored.failing_since = None;
            } else {
                let since = *stored.failing_since.get_or_insert(started_at);
                if started_at.duration_since(since) >= window && stored.endpoint.is_active() {
                    stored.endpoint.status = EndpointStatus::Disabled {
                        reason: format!("failing without a success since {since}"),
                        since: started_at,
                    };
                }
            }
            Ok(())
        };
        let endpoint = &before.endpoint;
        let Ok(after) = self
            .store
            .update_endpoint(&endpoint.tenant, &endpoint.id, &change)
            .await
        else {
            return;
        };
        if before.failing_since.is_some() && after.failing_since.is_none() {
            self.observer
                .notice(Notice::EndpointRecovered {
                    tenant: endpoint.tenant.clone(),
                    endpoint_id: endpoint.id.clone(),
                })
                .await;
        }
        if let (true, EndpointStatus::Disabled { reason, .. }) =
            (endpoint.is_active(), &after.endpoint.status)
        {
            self.end_queue(&endpoint.tenant, &endpoint.id, reason).await;
            self.observer
                .notice(Notice::EndpointDisabled {
                    tenant: endpoint.tenant.clone(),
                    endpoint_id: endpoint.id.clone(),
                    reason: reason.clone(),
                })
                .await;
        }
    }

    /// Disables an endpoint, ends its queued deliveries and says so.
    async fn disable(&self, tenant: TenantId, endpoint_id: EndpointId, reason: String) {
        let now = self.clock.now();
        let status_reason = reason.clone();
        let change = move |stored: &mut StoredEndpoint| {
            stored.endpoint.status = EndpointStatus::Disabled {
                reason: status_reason.clone(),
                since: now,
            };
            stored.endpoint.updated_at = now;
            Ok(())
        };
        if self
            .store
            .update_endpoint(&tenant, &endpoint_id, &change)
            .await
            .is_err()
        {
            return;
        }
        self.end_queue(&tenant, &endpoint_id, &reason).await;
        self.observer
            .notice(Notice::EndpointDisabled {
                tenant,
                endpoint_id,
                reason,
            })
            .await;
    }

    async fn end_queue(&self, tenant: &TenantId, endpoint_id: &EndpointId, reason: &str) {
        let reason = format!("endpoint disabled: {reason}");
        // On failure the deliveries stay queued and end when next claimed.
        let _ = self.store.fail_queued(tenant, endpoint_id, &reason).await;
    }

    /// A claimed delivery whose endpoint was deleted or disabled since it
    /// was queued: it ends, with every other one queued for that endpoint.
    async fn end_for_inactive_endpoint(&self, delivery: &Delivery, lease: &Lease) {
        let _ = self.store.release(lease, self.clock.now()).await;
        let reason = "the endpoint was deleted or disabled";
        let _ = self
            .store
            .fail_queued(&delivery.tenant, &delivery.endpoint_id, reason)
            .await;
    }

    async fn ping(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
    ) -> Result<PingOutcome, Error> {
        let stored = self
            .store
            .endpoint(tenant, endpoint_id)
            .await?
            .ok_or_else(|| Error::not_found("endpoint", endpoint_id.as_str()))?;
        let now = self.clock.now();
        let event = self.webhooks.test_event(tenant, now);
        let started = tokio::time::Instant::now();
        let result = match request(&stored, &event, now) {
            Ok(request) => self.transport.send(request).await,
            Err(e) => Err(e),
        };
        let latency = started.elapsed();
        let (outcome, _) = outcome::record(result, now);
        let (status, error) = match outcome {
            AttemptOutcome::Response { status, .. } => (Some(status), None),
            AttemptOutcome::Error { message, .. } => (None, Some(message)),
        };
        Ok(PingOutcome {
            event_id: event.id,
            status,
            latency,
            error,
        })
    }
}

/// A [`crate::store::Wake`]: wakes the pool until it is shut down or its
/// handle is dropped.
fn wake_while_running(
    wake: &Arc<Notify>,
    stopped: watch::Receiver<Option<Duration>>,
) -> crate::store::Wake {
    let wake = Arc::clone(wake);
    Arc::new(move || {
        let running = stopped.borrow().is_none() && stopped.has_changed().is_ok();
        if running {
            wake.notify_one();
        }
        running
    })
}

/// The HTTP request for one attempt: the event's body, signed now with every
/// secret the endpoint currently signs with.
fn request(
    stored: &StoredEndpoint,
    event: &Event,
    now: Timestamp,
) -> Result<WebhookRequest, crate::transport::TransportError> {
    let endpoint = &stored.endpoint;
    let invalid = |what: &str| crate::transport::TransportError::InvalidRequest(what.to_owned());
    // Room for the transport's own headers (user agent, accept) too.
    let mut headers = HeaderMap::with_capacity(endpoint.headers.len() + 6);
    for (name, value) in &endpoint.headers {
        let name =
            HeaderName::try_from(name.as_str()).map_err(|_| invalid("a custom header name"))?;
        let value =
            HeaderValue::try_from(value.as_str()).map_err(|_| invalid("a custom header value"))?;
        headers.insert(name, value);
    }
    let [id, timestamp, signature] =
        webhook_headers(stored, event, now).map_err(|_| invalid("the event id"))?;
    headers.insert(HeaderName::from_static(signature::WEBHOOK_ID), id);
    headers.insert(
        HeaderName::from_static(signature::WEBHOOK_TIMESTAMP),
        timestamp,
    );
    headers.insert(
        HeaderName::from_static(signature::WEBHOOK_SIGNATURE),
        signature,
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(WebhookRequest {
        url: endpoint.url.clone(),
        headers,
        body: Bytes::from_owner(SharedBody(Arc::clone(&event.body))),
        timeout: endpoint.timeout,
    })
}

/// The `webhook-id`, `webhook-timestamp` and `webhook-signature` values,
/// cut from one buffer: the HTTP client copies a request's headers, and
/// values that share a buffer are copied without allocating.
fn webhook_headers(
    stored: &StoredEndpoint,
    event: &Event,
    now: Timestamp,
) -> Result<[HeaderValue; 3], http::header::InvalidHeaderValue> {
    /// `v1,`, 44 characters of base64 and a separating space.
    const SIGNATURE_LEN: usize = 48;
    let timestamp = now.unix_secs();
    let mut digits = [0; 20];
    let timestamp_text = crate::signing::decimal_str(timestamp, &mut digits);
    let id = event.id.as_str();
    let mut text = String::with_capacity(id.len() + timestamp_text.len() + SIGNATURE_LEN);
    text.push_str(id);
    text.push_str(timestamp_text);
    let signatures_start = text.len();
    for secret in stored.secrets.signing_at(now) {
        if text.len() > signatures_start {
            text.push(' ');
        }
        secret.sign_into(id, timestamp, event.body.as_bytes(), &mut text);
    }
    let mut values = Bytes::from(text);
    let id = values.split_to(id.len());
    let timestamp = values.split_to(timestamp_text.len());
    Ok([
        HeaderValue::from_maybe_shared(id)?,
        HeaderValue::from_maybe_shared(timestamp)?,
        HeaderValue::from_maybe_shared(values)?,
    ])
}

/// Lets the event's shared body go out without copying it per attempt.
struct SharedBody(Arc<str>);

impl AsRef<[u8]> for SharedBody {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks, so poisoned data is whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
