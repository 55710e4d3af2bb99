#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The conformance suite on the in-memory backend: every case as its own
//! test, then `run_all` on it and on a deliberately broken backend.

use std::sync::Arc;

use async_trait::async_trait;
use hookshot::clock::Timestamp;
use hookshot::model::{
    Attempt, Delivery, DeliveryFilter, EndpointFilter, Event, EventType, PageRequest,
    StoredEndpoint, TenantId,
};
use hookshot::store::conformance::run_all;
use hookshot::store::{
    CatalogStore, Claim, DeliveryStore, EndpointChange, EndpointStore, IdempotencyRecord, Inserted,
    Lease, MemoryStore, Store,
};
use hookshot::{DeliveryId, EndpointId, Error, EventId};

hookshot::conformance_tests!(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> });

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_passes_on_memory_store() {
    run_all(|| async { Arc::new(MemoryStore::new()) as Arc<dyn Store> }).await;
}

/// A [`MemoryStore`] whose subscriber lookup forgets `group.*` patterns.
#[derive(Debug, Default)]
struct ForgetsGroups(MemoryStore);

#[async_trait]
impl EndpointStore for ForgetsGroups {
    async fn insert_endpoint(
        &self,
        endpoint: StoredEndpoint,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        self.0.insert_endpoint(endpoint, idempotency).await
    }

    async fn endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<StoredEndpoint>, Error> {
        self.0.endpoint(tenant, id).await
    }

    async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: EndpointChange<'_>,
    ) -> Result<StoredEndpoint, Error> {
        self.0.update_endpoint(tenant, id, change).await
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredEndpoint>, Error> {
        self.0.list_endpoints(tenant, filter, page).await
    }

    async fn subscribers(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> Result<Vec<EndpointId>, Error> {
        let mut ids = Vec::new();
        for id in self.0.subscribers(tenant, event_type).await? {
            let stored = self.0.endpoint(tenant, &id).await?;
            let by_group = stored
                .and_then(|s| s.endpoint.event_types)
                .is_some_and(|types| !types.contains(event_type));
            if !by_group {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

#[async_trait]
impl CatalogStore for ForgetsGroups {
    async fn upsert_event_types(&self, types: &[EventType]) -> Result<(), Error> {
        self.0.upsert_event_types(types).await
    }

    async fn event_types(&self) -> Result<Vec<EventType>, Error> {
        self.0.event_types().await
    }

    async fn event_type(&self, name: &str) -> Result<Option<EventType>, Error> {
        self.0.event_type(name).await
    }
}

#[async_trait]
impl DeliveryStore for ForgetsGroups {
    async fn enqueue(
        &self,
        event: Event,
        deliveries: Vec<Delivery>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        self.0.enqueue(event, deliveries, idempotency).await
    }

    async fn claim_due(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Claim>, Error> {
        self.0.claim_due(worker, now, lease_until, limit).await
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: Attempt,
        delivery: Delivery,
    ) -> Result<bool, Error> {
        self.0.finish_attempt(lease, attempt, delivery).await
    }

    async fn release(&self, lease: &Lease, now: Timestamp) -> Result<(), Error> {
        self.0.release(lease, now).await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
        self.0.next_due().await
    }

    async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, Error> {
        self.0.event(tenant, id).await
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, Error> {
        self.0.delivery(tenant, id).await
    }

    async fn attempts(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Vec<Attempt>, Error> {
        self.0.attempts(tenant, id).await
    }

    async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Vec<Delivery>, Error> {
        self.0.list_deliveries(tenant, filter, page).await
    }

    async fn requeue(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> Result<Delivery, Error> {
        self.0.requeue(tenant, id, now).await
    }

    async fn requeue_failed(
        &self,
        tenant: &TenantId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u64, Error> {
        self.0.requeue_failed(tenant, endpoint, since, now).await
    }

    async fn fail_queued(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        reason: &str,
    ) -> Result<u64, Error> {
        self.0.fail_queued(tenant, endpoint, reason).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_names_the_failing_case() {
    let run = tokio::spawn(run_all(|| async {
        Arc::new(ForgetsGroups::default()) as Arc<dyn Store>
    }));
    let err = run.await.expect_err("a broken backend passed the suite");
    let payload = err.into_panic();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("conformance case `subscribers_follow_filters` failed"),
        "{message}"
    );
    assert!(!message.contains("create_get_round_trip"), "{message}");
}
