//! The facade an application holds: every management operation, validated,
//! over any [`Store`].
//!
//! One file per concern: [`WebhooksConfig`] and [`WebhooksBuilder`] in
//! `builder.rs`, endpoints in `endpoints.rs`, the catalog in `catalog.rs`,
//! sending and history in `events.rs`, idempotency keys in
//! `idempotency.rs`, per-call options in `options.rs`.

mod builder;
mod catalog;
mod endpoints;
mod events;
mod idempotency;
mod options;
#[cfg(test)]
mod tests;

pub use builder::{
    DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_ROTATION_GRACE,
    MAX_ROTATION_GRACE, WebhooksBuilder, WebhooksConfig,
};
pub use options::{CreateOptions, SendOptions};

use std::sync::Arc;

use crate::clock::Clock;
use crate::id::IdGenerator;
use crate::store::{MemoryStore, Store, Wake};

/// Manages endpoints and the event-type catalog for every tenant.
///
/// ```
/// use hookshot::Webhooks;
/// use hookshot::model::{EventType, NewEndpoint, TenantId};
///
/// # tokio_test_block_on(async {
/// let webhooks = Webhooks::in_memory()
///     .event_type(EventType::new("invoice.paid")?)
///     .build()
///     .await?;
/// let tenant = TenantId::new("acme")?;
/// let created = webhooks
///     .create_endpoint(&tenant, NewEndpoint::new("https://acme.example/hooks").event_types(["invoice.paid"]))
///     .await?;
/// // Show created.signing_secret.expose() to the customer once.
/// let endpoint = webhooks.endpoint(&tenant, &created.endpoint.id).await?;
/// assert!(endpoint.has_signing_secret);
/// # Ok::<(), hookshot::Error>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: IdGenerator,
    config: WebhooksConfig,
    wakers: Wakers,
}

/// Callbacks run after `send` queued deliveries, so a worker in this
/// process starts on them at once instead of at its next poll. One that
/// returns `false` (its worker has stopped) is dropped.
#[derive(Default)]
struct Wakers(std::sync::Mutex<Vec<Wake>>);

impl Wakers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Wake>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, waker: Wake) {
        self.lock().push(waker);
    }

    fn wake(&self) {
        self.lock().retain(|waker| waker());
    }
}

impl std::fmt::Debug for Wakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wakers")
    }
}

impl Webhooks {
    /// Starts building an instance over `store`.
    pub fn builder(store: Arc<dyn Store>) -> WebhooksBuilder {
        WebhooksBuilder::new(store)
    }

    /// Starts building an instance over a new [`MemoryStore`].
    pub fn in_memory() -> WebhooksBuilder {
        Self::builder(Arc::new(MemoryStore::new()))
    }

    /// The store behind this instance. Crate-private so that it is no way
    /// around the validation the methods here do: an application that needs
    /// the store keeps the handle it built this instance from.
    #[cfg(any(feature = "dispatch", feature = "test-support"))]
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock this instance reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The settings.
    pub fn config(&self) -> &WebhooksConfig {
        &self.config
    }
}
