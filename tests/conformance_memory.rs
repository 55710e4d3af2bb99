#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The conformance suite on the in-memory backend: every case as its own
//! test, then the runners on it, on a backend with nothing optional and on a
//! deliberately broken one.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use hookshot::clock::Timestamp;
use hookshot::conformance::{Capabilities, run_all, run_all_with};
use hookshot::model::{
    Attempt, Delivery, DeliveryFilter, EndpointFilter, Event, EventType, PageRequest,
    StoredEndpoint, TenantId,
};
use hookshot::store::{
    CatalogStore, Claim, DeliveryStore, EndpointChange, EndpointStore, IdempotencyRecord, Inserted,
    Lease, MemoryStore, Store,
};
use hookshot::{DeliveryId, EndpointId, Error, EventId};

hookshot::conformance_tests!(
    || async { Arc::new(MemoryStore::new()) as Arc<dyn Store> },
    capabilities = [purge, renew_leases],
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_with_passes_on_memory_store() {
    let memory = || async { Arc::new(MemoryStore::new()) as Arc<dyn Store> };
    let declared = Capabilities::core().with_purge().with_renew_leases();
    run_all_with(memory, declared).await;
}

/// A [`MemoryStore`] with nothing optional: `purge_finished` and
/// `watch_new_work` keep the trait's defaults. With `forget_groups`, its
/// subscriber lookup also forgets `prefix.*` patterns and `group:` entries:
/// only exact names count.
#[derive(Debug, Default)]
struct CoreOnly {
    inner: MemoryStore,
    forget_groups: bool,
}

impl CoreOnly {
    fn store(forget_groups: bool) -> Arc<dyn Store> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            forget_groups,
        })
    }
}

#[async_trait]
impl EndpointStore for CoreOnly {
    async fn insert_endpoint(
        &self,
        endpoint: StoredEndpoint,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        self.inner.insert_endpoint(endpoint, idempotency).await
    }

    async fn endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<StoredEndpoint>, Error> {
        self.inner.endpoint(tenant, id).await
    }

    async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: EndpointChange<'_>,
    ) -> Result<StoredEndpoint, Error> {
        self.inner.update_endpoint(tenant, id, change).await
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredEndpoint>, Error> {
        self.inner.list_endpoints(tenant, filter, page).await
    }

    async fn subscribers(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
    ) -> Result<Vec<EndpointId>, Error> {
        let subscribers = self.inner.subscribers(tenant, event_type).await?;
        if !self.forget_groups {
            return Ok(subscribers);
        }
        let mut ids = Vec::new();
        for id in subscribers {
            let stored = self.inner.endpoint(tenant, &id).await?;
            let by_group = stored
                .and_then(|s| s.endpoint.event_types)
                .is_some_and(|types| !types.contains(&event_type.name));
            if !by_group {
                ids.push(id);
            }
        }
        Ok(ids)
    }
}

#[async_trait]
impl CatalogStore for CoreOnly {
    async fn upsert_event_types(&self, types: &[EventType]) -> Result<(), Error> {
        self.inner.upsert_event_types(types).await
    }

    async fn event_types(&self) -> Result<Vec<EventType>, Error> {
        self.inner.event_types().await
    }

    async fn event_type(&self, name: &str) -> Result<Option<EventType>, Error> {
        self.inner.event_type(name).await
    }
}

// `renew_leases`, optional too, keeps the trait's default as well.
#[async_trait]
impl DeliveryStore for CoreOnly {
    async fn enqueue(
        &self,
        event: Event,
        deliveries: Vec<Delivery>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        self.inner.enqueue(event, deliveries, idempotency).await
    }

    async fn claim_due(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Claim>, Error> {
        self.inner.claim_due(worker, now, lease_until, limit).await
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: Attempt,
        delivery: Delivery,
    ) -> Result<bool, Error> {
        self.inner.finish_attempt(lease, attempt, delivery).await
    }

    async fn release(&self, lease: &Lease, now: Timestamp) -> Result<(), Error> {
        self.inner.release(lease, now).await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
        self.inner.next_due().await
    }

    async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, Error> {
        self.inner.event(tenant, id).await
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, Error> {
        self.inner.delivery(tenant, id).await
    }

    async fn attempts(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Vec<Attempt>, Error> {
        self.inner.attempts(tenant, id).await
    }

    async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Vec<Delivery>, Error> {
        self.inner.list_deliveries(tenant, filter, page).await
    }

    async fn requeue(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> Result<Delivery, Error> {
        self.inner.requeue(tenant, id, now).await
    }

    async fn requeue_failed(
        &self,
        tenant: &TenantId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u64, Error> {
        self.inner
            .requeue_failed(tenant, endpoint, since, now)
            .await
    }

    async fn fail_queued(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        reason: &str,
    ) -> Result<u64, Error> {
        self.inner.fail_queued(tenant, endpoint, reason).await
    }
}

/// The failure message of a run that must fail.
async fn failure_of(run: impl Future<Output = ()> + Send + 'static) -> String {
    let err = tokio::spawn(run).await.expect_err("the run passed");
    let payload = err.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_passes_on_a_backend_with_nothing_optional() {
    run_all(|| async { CoreOnly::store(false) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_with_runs_the_cases_of_declared_capabilities() {
    let declared = Capabilities::all();
    let message = failure_of(run_all_with(|| async { CoreOnly::store(false) }, declared)).await;
    assert!(message.starts_with("3 of "), "{message}");
    for case in [
        "purge_finished_removes_only_old_finished_history",
        "watch_new_work_wakes_on_queued_work",
        "renew_leases_extends_only_leases_still_held",
    ] {
        let failed = format!("conformance case `{case}` failed");
        assert!(message.contains(&failed), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_names_the_failing_case() {
    let message = failure_of(run_all(|| async { CoreOnly::store(true) })).await;
    assert!(
        message.contains("conformance case `subscribers_follow_filters` failed"),
        "{message}"
    );
    assert!(!message.contains("create_get_round_trip"), "{message}");
}
