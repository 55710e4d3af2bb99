//! The dispatcher: workers that claim due deliveries, sign and send them,
//! record every attempt and schedule retries.
//!
//! Delivery is at least once. A claimed delivery is leased, and the lease
//! renewed while its attempt runs; if its worker dies, the lease runs out
//! and another worker (in this process or another one sharing the store)
//! takes it. Receivers de-duplicate on `webhook-id`, which is the event id
//! and stays the same across attempts and endpoints.
//!
//! Where things are: [`DispatcherConfig`] and its checks in `config`, the
//! [`DispatcherBuilder`] in `builder`, [`Dispatcher::spawn`] and its
//! [`DispatcherHandle`] in `handle`, the claiming loop and its workers in
//! `run`, one attempt start to finish in `attempt`, what an attempt does to
//! its endpoint's health in `health`, the signed request in `request`, and
//! [`Dispatcher::ping`] in `ping`. Beside them: turning a result into a
//! verdict (`outcome`), the workers' pool (`pool`), renewing the leases of
//! attempts in flight (`heartbeat`), per-endpoint limits (`rate`, `slots`)
//! and history purging (`retention`). Keeping failures
//! from stopping it: store failures reported and retried (`outage`), and
//! panics caught (`unwind`).
//!
//! Nothing a collaborator does stops the dispatcher. A failed store call is
//! reported to the [`Observer`] as a
//! [`Notice::StoreFailed`](crate::observer::Notice::StoreFailed) and
//! retried or left to the lease; a panic in an attempt (in the transport,
//! the store, the observer or hookshot itself) is recorded as a failed
//! attempt of kind `internal` and retried on schedule, and its worker goes
//! on.

mod attempt;
mod builder;
mod config;
mod handle;
mod health;
mod heartbeat;
mod outage;
mod outcome;
mod ping;
mod pool;
mod rate;
mod request;
mod retention;
mod run;
mod slots;
mod unwind;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::observer::Observer;
use crate::retry::Random;
use crate::store::Store;
use crate::transport::Transport;
use crate::webhooks::Webhooks;

pub use builder::DispatcherBuilder;
pub use config::DispatcherConfig;
pub use handle::DispatcherHandle;
pub use ping::{PingOutcome, TEST_EVENT_TYPE};

use outcome::RetryRules;
use rate::RateLimits;
use slots::EndpointSlots;

/// Delivers queued webhooks: a pool of async workers over a [`Store`].
///
/// Run one per process; several processes may share one store.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// What a dispatcher's loop, its workers and its callers share.
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
    /// Claims failed in a row: while not zero, the store is down and the
    /// claiming loop backs off.
    claim_failures: AtomicU64,
}

impl Dispatcher {
    /// The settings.
    pub fn config(&self) -> &DispatcherConfig {
        &self.inner.config
    }

    /// The name this dispatcher holds its leases under
    /// ([`Lease::worker`](crate::store::Lease::worker)): the one given to
    /// [`DispatcherBuilder::worker_id`], or else one drawn from the
    /// operating system's randomness, so no two dispatchers share it.
    pub fn worker_id(&self) -> &str {
        &self.inner.worker_id
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks, so poisoned data is whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
