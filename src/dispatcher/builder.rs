//! Putting a dispatcher together: its collaborators, settings and name.

use std::sync::Arc;

use tokio::sync::Notify;

use super::outcome::RetryRules;
use super::rate::RateLimits;
use super::slots::EndpointSlots;
use super::{Dispatcher, DispatcherConfig, Inner};
use crate::error::Error;
use crate::observer::{IgnoreNotices, Observer};
use crate::retry::{Random, SplitMix};
use crate::transport::{HttpTransport, Transport};
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
        config.validate()?;
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
