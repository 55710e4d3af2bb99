//! The storage contract: what a backend implements for hookshot to keep its
//! endpoints, catalog and idempotency records.
//!
//! The traits are small on purpose. Validation, id and secret generation,
//! time and every rule about what may change live in [`crate::Webhooks`];
//! a backend only stores, finds and atomically changes records. Backends
//! never read the wall clock: every time they compare against arrives as an
//! argument.
//!
//! The rules about deliveries (when one is due, what a claim, a lease's
//! renewal, a release, a manual retry or an ended queue does to it) and about endpoint updates live
//! in [`DeliveryRecord`] and [`apply_endpoint_change`]: a backend keeps the
//! records and calls them, so it stores and never decides.
//!
//! Every backend, ours or yours, proves itself by running the conformance
//! suite, `hookshot::conformance` (feature `test-support`).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::{
    Attempt, Delivery, DeliveryFilter, EndpointFilter, Event, EventType, PageRequest,
    StoredEndpoint, TenantId,
};

mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub(crate) mod prepared;
mod records;

pub use memory::MemoryStore;
pub use records::{DeliveryRecord, apply_endpoint_change};

/// Wakes a dispatcher waiting for work; returns `false` once nobody waits
/// any more, so that whoever calls it can stop.
pub type Wake = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// A change to one endpoint, applied by [`EndpointStore::update_endpoint`]
/// to the current record inside the backend's atomic section.
///
/// It may run more than once if the backend retries after a conflict, so it
/// must not have side effects. When it fails, nothing is stored.
pub type EndpointChange<'a> = &'a (dyn Fn(&mut StoredEndpoint) -> Result<(), Error> + Send + Sync);

/// The remembered answer to a request made with an idempotency key.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
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

impl fmt::Debug for IdempotencyRecord {
    /// Without the remembered response, which may hold a signing secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            tenant,
            scope,
            key,
            fingerprint,
            response,
            created_at,
            expires_at,
        } = self;
        f.debug_struct("IdempotencyRecord")
            .field("tenant", tenant)
            .field("scope", scope)
            .field("key", key)
            .field("fingerprint", fingerprint)
            .field(
                "response",
                &format_args!("<{} bytes redacted>", response.len()),
            )
            .field("created_at", created_at)
            .field("expires_at", expires_at)
            .finish()
    }
}

impl IdempotencyRecord {
    /// Whether the record still holds its key at `now`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// What [`EndpointStore::insert_endpoint`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

    /// [`EndpointStore::endpoint`], shared rather than copied: the
    /// dispatcher reads the endpoint before every attempt.
    ///
    /// The default wraps [`EndpointStore::endpoint`]'s copy. A backend that
    /// keeps endpoints in memory behind an `Arc` (as [`MemoryStore`] does)
    /// returns its own `Arc` and saves a deep copy per attempt.
    async fn shared_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<Arc<StoredEndpoint>>, Error> {
        Ok(self.endpoint(tenant, id).await?.map(Arc::new))
    }

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
    ///
    /// Whether an endpoint passes is [`EndpointFilter::matches`]; a backend
    /// that queries instead keeps to it with
    /// [`EndpointFilter::covering_entries`].
    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredEndpoint>, Error>;

    /// The ids of the live, active endpoints of `tenant` whose filter lets
    /// `event_type` through, in ascending id order.
    ///
    /// `event_type` is the catalog entry, group and all, as the facade read
    /// it for this send. An endpoint subscribes when it has no filter or its
    /// filter holds one of [`EventType::covering_entries`]
    /// ([`crate::model::Endpoint::subscribes_to`]).
    ///
    /// It runs for every event sent, so its cost should grow with the number
    /// of subscribers, not the number of endpoints.
    async fn subscribers(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
    ) -> Result<Vec<EndpointId>, Error>;
}

/// Keeps the event-type catalog, shared by all tenants.
#[async_trait]
pub trait CatalogStore: Send + Sync + fmt::Debug {
    /// Adds the event types, replacing any with the same name.
    async fn upsert_event_types(&self, types: &[EventType]) -> Result<(), Error>;

    /// Every event type, by name ascending.
    async fn event_types(&self) -> Result<Vec<EventType>, Error>;

    /// The event type `name`, if declared: read for every event sent, and
    /// for every listing filtered by type.
    async fn event_type(&self, name: &str) -> Result<Option<EventType>, Error>;
}

/// A worker's hold on a claimed delivery until `expires_at`, or later if
/// renewed.
///
/// While it holds, no other worker claims the delivery. Once it expires the
/// delivery can be claimed again, so a worker that died loses nothing; and
/// a worker whose lease was taken over can no longer record its result.
/// A worker still attempting the delivery extends the hold with
/// [`DeliveryStore::renew_leases`], so a lease can be shorter than the
/// longest attempt and a dead worker's deliveries are taken over sooner.
///
/// The value is the lease as claimed, and stays so: a renewal extends the
/// hold in the store but changes no field here, so the worker records its
/// attempt or gives the delivery back with the copy it was handed, however
/// often the lease was renewed meanwhile (and whether or not it heard the
/// answer to a renewal). The delivery, the worker and the `expires_at` the
/// claim granted tell one lease from another: a claim that takes the
/// delivery over, by the same worker even, comes once the hold (renewals
/// included) has ended, so it grants a later `expires_at` than any before.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The delivery held.
    pub delivery_id: DeliveryId,
    /// The worker holding it.
    pub worker: String,
    /// When the hold ends unless renewed: what the claim granted. Renewals
    /// leave it as it is (see above).
    pub expires_at: Timestamp,
}

impl Lease {
    /// `worker`'s hold on `delivery_id` until `expires_at`.
    pub fn new(delivery_id: DeliveryId, worker: impl Into<String>, expires_at: Timestamp) -> Self {
        Self {
            delivery_id,
            worker: worker.into(),
            expires_at,
        }
    }
}

/// A delivery claimed for an attempt, with its event and its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Claim {
    /// The delivery, as stored when claimed (status `delivering`).
    pub delivery: Delivery,
    /// The event to deliver.
    pub event: Event,
    /// The claim's lease.
    pub lease: Lease,
}

impl Claim {
    /// A claim of `delivery`, of `event`, under `lease`.
    pub fn new(delivery: Delivery, event: Event, lease: Lease) -> Self {
        Self {
            delivery,
            event,
            lease,
        }
    }
}

/// Keeps events, their deliveries and the attempts made, and hands out due
/// deliveries to workers.
///
/// A delivery is *due* when it is `pending` or `retrying` with
/// `next_attempt_at` at or before now, or `delivering` with an expired lease.
#[async_trait]
pub trait DeliveryStore: Send + Sync + fmt::Debug {
    /// Stores an event and its deliveries atomically: all or nothing.
    ///
    /// With `idempotency`, as for [`EndpointStore::insert_endpoint`]: a live
    /// record for the same tenant, scope and key is returned and nothing is
    /// stored.
    async fn enqueue(
        &self,
        event: Event,
        deliveries: Vec<Delivery>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error>;

    /// Leases up to `limit` due deliveries to `worker` until `lease_until`,
    /// the longest overdue first, and marks them `delivering`.
    ///
    /// Two concurrent claims never return the same delivery.
    async fn claim_due(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Claim>, Error>;

    /// Appends `attempt` and stores `delivery` (its new state) if `lease`
    /// is still the delivery's lease, and drops the lease. Returns whether
    /// it did; `false` means another worker took the delivery over.
    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: Attempt,
        delivery: Delivery,
    ) -> Result<bool, Error>;

    /// Gives a claimed delivery back without an attempt (on shutdown): it is
    /// due again at `now` with its status before the claim. Nothing happens
    /// if the lease no longer holds.
    async fn release(&self, lease: &Lease, now: Timestamp) -> Result<(), Error>;

    /// Extends the hold of each of `leases` that still holds to `until`
    /// ([`DeliveryRecord::renew`]), and answers, lease by lease in order,
    /// whether it held. A delivery whose lease is renewed is due at `until`
    /// (or later: a renewal never shortens a hold), so nobody else claims
    /// it before then.
    ///
    /// A lease holds until its delivery is finished, released, requeued or
    /// claimed again; one that ran out without that still holds, as for
    /// [`DeliveryStore::finish_attempt`]. Renewing changes no lease: the
    /// worker goes on recording with the [`Lease`] its claim returned.
    ///
    /// A dispatcher calls it every third of its lease, once for all its
    /// attempts in flight (up to its `concurrency`), so a backend should
    /// renew the batch in one round trip.
    ///
    /// The default renews nothing and says so with an error, so a backend
    /// without it, yet declaring the `renew_leases` capability to the
    /// conformance suite, fails its case rather than appearing to renew. A
    /// dispatcher over such a backend reports the error and its leases run
    /// out as claimed: give it a `lease` longer than the longest attempt.
    async fn renew_leases(&self, leases: &[Lease], until: Timestamp) -> Result<Vec<bool>, Error> {
        let _ = (leases, until);
        Err(Error::backend(
            "renewing leases",
            false,
            "this store does not implement renew_leases",
        ))
    }

    /// The earliest time a delivery becomes due, if any is queued or leased.
    async fn next_due(&self) -> Result<Option<Timestamp>, Error>;

    /// The event `id` of `tenant`.
    async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, Error>;

    /// The delivery `id` of `tenant`.
    async fn delivery(&self, tenant: &TenantId, id: &DeliveryId)
    -> Result<Option<Delivery>, Error>;

    /// The attempts at delivery `id` of `tenant`, oldest first.
    async fn attempts(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Vec<Attempt>, Error>;

    /// Up to `page.limit + 1` deliveries of `tenant` passing `filter`, in the
    /// page's direction from its anchor, as for
    /// [`EndpointStore::list_endpoints`].
    async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Vec<Delivery>, Error>;

    /// Queues delivery `id` for an attempt by hand at `now`
    /// ([`Delivery::queue_manual`]) and returns it.
    ///
    /// # Errors
    /// [`Error::NotFound`] if it does not exist for `tenant`;
    /// [`Error::Conflict`] while it is `delivering`.
    async fn requeue(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> Result<Delivery, Error>;

    /// Queues by hand every `failed` delivery of `tenant` (of one endpoint if
    /// given) created at or after `since`, and returns how many.
    async fn requeue_failed(
        &self,
        tenant: &TenantId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u64, Error>;

    /// Ends every queued (`pending` or `retrying`) delivery to `endpoint`
    /// with `reason` ([`Delivery::fail`]) and returns how many.
    async fn fail_queued(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        reason: &str,
    ) -> Result<u64, Error>;

    /// Deletes finished history older than `before`: deliveries that are
    /// final (delivered or failed) and were last attempted (or, if never
    /// attempted, created) before `before`, with their attempts; then events
    /// created before `before` with no delivery left; then idempotency
    /// records expired by `before`. Queued and leased deliveries are never
    /// touched, however old.
    ///
    /// The default deletes nothing and says so with an error, so a backend
    /// that keeps history forever, yet declares the `purge` capability to
    /// the conformance suite, fails its case rather than appearing to purge.
    async fn purge_finished(&self, before: Timestamp) -> Result<Purged, Error> {
        let _ = before;
        Err(Error::backend(
            "purging finished history",
            false,
            "this store does not implement purge_finished",
        ))
    }

    /// Calls `wake` whenever work may have been queued by another process,
    /// for as long as it returns `true`. A shared backend implements it
    /// (the Postgres one with `LISTEN`/`NOTIFY`) so that dispatchers start
    /// on new work at once instead of at their next poll. The default does
    /// nothing: sends in this process wake its dispatchers anyway.
    fn watch_new_work(&self, wake: Wake) {
        let _ = wake;
    }
}

/// What [`DeliveryStore::purge_finished`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Purged {
    /// Delivered or failed deliveries, with their attempts.
    pub deliveries: u64,
    /// Events none of whose deliveries remain, with their payloads.
    pub events: u64,
    /// Expired idempotency records.
    pub idempotency_records: u64,
    /// Whether the purge was left to another process that was purging the
    /// same shared store at the time; nothing was removed then.
    pub left_to_another_process: bool,
}

/// Everything hookshot stores; implemented for every type that implements
/// each part.
pub trait Store: EndpointStore + CatalogStore + DeliveryStore {}

impl<T: EndpointStore + CatalogStore + DeliveryStore> Store for T {}
