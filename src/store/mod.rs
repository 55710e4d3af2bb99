//! The storage contract: what a backend implements for hookshot to keep its
//! endpoints, catalog and idempotency records.
//!
//! The traits are small on purpose. Validation, id and secret generation,
//! time and every rule about what may change live in [`crate::Webhooks`];
//! a backend only stores, finds and atomically changes records. Backends
//! never read the wall clock: every time they compare against arrives as an
//! argument.
//!
//! Every backend, ours or yours, proves itself by running the conformance
//! suite in [`conformance`] (feature `test-support`).

use std::fmt;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::EndpointId;
use crate::model::{EndpointFilter, EventType, PageRequest, StoredEndpoint, TenantId};

#[cfg(feature = "test-support")]
pub mod conformance;
mod memory;

pub use memory::MemoryStore;

/// A change to one endpoint, applied by [`EndpointStore::update_endpoint`]
/// to the current record inside the backend's atomic section.
///
/// It may run more than once if the backend retries after a conflict, so it
/// must not have side effects. When it fails, nothing is stored.
pub type EndpointChange<'a> = &'a (dyn Fn(&mut StoredEndpoint) -> Result<(), Error> + Send + Sync);

/// The remembered answer to a request made with an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The tenant that made the request; keys of different tenants never
    /// collide.
    pub tenant: TenantId,
    /// The operation, such as `endpoint.create`; keys of different
    /// operations never collide.
    pub scope: String,
    /// The caller's key.
    pub key: String,
    /// A digest of the request, to tell a retry from a different request
    /// that reused the key.
    pub fingerprint: String,
    /// The first answer, serialised; returned unchanged to retries.
    pub response: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// From this time on the key is free again.
    pub expires_at: Timestamp,
}

impl IdempotencyRecord {
    /// Whether the record still holds its key at `now`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// What [`EndpointStore::insert_endpoint`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The endpoint (and the idempotency record, if any) were stored.
    Created,
    /// A live record for the same tenant, scope and key already existed;
    /// nothing was stored. Here it is.
    Existing(IdempotencyRecord),
}

/// Keeps endpoints.
///
/// Reads never return deleted endpoints (`deleted_at` set): for them a
/// backend answers as if the id did not exist. An id that belongs to another
/// tenant is likewise not found.
#[async_trait]
pub trait EndpointStore: Send + Sync + fmt::Debug {
    /// Stores a new endpoint.
    ///
    /// With `idempotency`, atomically: if a record for the same tenant, scope
    /// and key is live at `idempotency.created_at`, store nothing and return
    /// it; otherwise store both the endpoint and the record (replacing an
    /// expired one).
    ///
    /// # Errors
    /// [`Error::Conflict`] if the endpoint id exists; [`Error::Backend`] on
    /// storage failure.
    async fn insert_endpoint(
        &self,
        endpoint: StoredEndpoint,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error>;

    /// The live endpoint `id` of `tenant`, if any.
    async fn endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<StoredEndpoint>, Error>;

    /// Applies `change` to the live endpoint `id` of `tenant` atomically and
    /// returns the stored result. `change` must not alter the id or tenant.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such live endpoint; whatever
    /// `change` returns, with nothing stored.
    async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: EndpointChange<'_>,
    ) -> Result<StoredEndpoint, Error>;

    /// Up to `page.limit + 1` live endpoints of `tenant` passing `filter`, in
    /// the page's direction from its anchor (exclusive): by id descending for
    /// [`crate::model::Direction::Older`] (newest first), ascending for
    /// [`crate::model::Direction::Newer`]. The extra row tells the caller
    /// that more lie beyond.
    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredEndpoint>, Error>;

    /// The ids of the live, active endpoints of `tenant` whose filter lets
    /// `event_type` through, in ascending id order.
    ///
    /// It runs for every event sent, so its cost should grow with the number
    /// of subscribers, not the number of endpoints.
    async fn subscribers(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> Result<Vec<EndpointId>, Error>;
}

/// Keeps the event-type catalog, shared by all tenants.
#[async_trait]
pub trait CatalogStore: Send + Sync + fmt::Debug {
    /// Adds the event types, replacing any with the same name.
    async fn upsert_event_types(&self, types: &[EventType]) -> Result<(), Error>;

    /// Every event type, by name ascending.
    async fn event_types(&self) -> Result<Vec<EventType>, Error>;

    /// The event type `name`, if declared.
    async fn event_type(&self, name: &str) -> Result<Option<EventType>, Error>;
}

/// Everything hookshot stores; implemented for every type that implements
/// each part.
pub trait Store: EndpointStore + CatalogStore {}

impl<T: EndpointStore + CatalogStore> Store for T {}
