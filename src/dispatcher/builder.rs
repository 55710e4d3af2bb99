//! Putting a dispatcher together: its collaborators, settings and name.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::Notify;

use super::outcome::RetryRules;
use super::rate::RateLimits;
use super::slots::EndpointSlots;
use super::{Dispatcher, DispatcherConfig, Inner};
use crate::error::Error;
use crate::observer::{IgnoreNotices, Observer};
use crate::retry::{Random, SplitMix};
use crate::transport::{HttpTransport, SsrfGuard, Transport};
use crate::webhooks::Webhooks;

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
}

impl DispatcherBuilder {
    /// Sends through `transport`, used as given, instead of the default: an
    /// [`HttpTransport`] with its SSRF guard on, or with
    /// [`SsrfGuard::disabled`] when the [`Webhooks`] was built for
    /// [`local_development`](crate::WebhooksBuilder::local_development).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Tells `observer` about exhausted deliveries, disabled or recovered
    /// endpoints, and store failures.
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

    /// Names this dispatcher in leases. The default is drawn from the
    /// operating system's randomness, not from [`random`](Self::random), so
    /// that dispatchers sharing a fixed jitter source are still told apart.
    /// A name given here must be unique among the dispatchers sharing a
    /// store, and 1 to 128 visible ASCII characters (`build` checks).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.worker_id = Some(id.into());
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a worker id that is not 1 to 128 visible
    /// ASCII characters, a zero concurrency or one past
    /// [`DispatcherConfig::MAX_CONCURRENCY`], a lease shorter than
    /// [`DispatcherConfig::MIN_LEASE`], a zero poll interval or endpoint
    /// busy delay,
    /// or a zero purge interval with history to purge;
    /// [`Error::Backend`] if the default transport cannot be built, or if
    /// the operating system cannot supply the randomness of a default
    /// worker id.
    pub fn build(self) -> Result<Dispatcher, Error> {
        let config = self.config;
        config.validate()?;
        let transport = match self.transport {
            Some(transport) => transport,
            None => Arc::new(default_transport(&self.webhooks)?),
        };
        let worker_id = match self.worker_id {
            Some(id) => checked_worker_id(id)?,
            None => random_worker_id()?,
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
                claim_failures: AtomicU64::new(0),
                config,
            }),
        })
    }
}

/// The longest worker id accepted.
const MAX_WORKER_ID_LEN: usize = 128;

/// A worker id given by the application: stored with every lease, so it is
/// visible ASCII that every store keeps as it is.
fn checked_worker_id(id: String) -> Result<String, Error> {
    if id.is_empty() || id.len() > MAX_WORKER_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "worker_id",
            format!("must be 1 to {MAX_WORKER_ID_LEN} visible ASCII characters"),
        ));
    }
    Ok(id)
}

/// The transport of a dispatcher given none: guarded, unless its webhooks
/// are set up for local development, whose `http://` loopback receivers a
/// guarded transport would refuse on every attempt.
fn default_transport(webhooks: &Webhooks) -> Result<HttpTransport, Error> {
    let guard = if webhooks.config().local_development {
        SsrfGuard::disabled()
    } else {
        SsrfGuard::default()
    };
    HttpTransport::builder().guard(guard).build()
}

/// A lease name no other dispatcher has. Leases are told apart by their
/// worker's name, so two dispatchers sharing one could record each other's
/// attempts: the name cannot come from the injected jitter source, which
/// tests fix.
fn random_worker_id() -> Result<String, Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::backend("reading the OS random number generator", true, e))?;
    Ok(format!("worker-{:016x}", u64::from_le_bytes(bytes)))
}
