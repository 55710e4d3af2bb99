#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The conformance suite on the in-memory backend: every case as its own
//! test, then `run_all` on it and on a deliberately broken backend.

use std::sync::Arc;

use async_trait::async_trait;
use hookshot::model::{EndpointFilter, EventType, PageRequest, StoredEndpoint, TenantId};
use hookshot::store::conformance::run_all;
use hookshot::store::{
    CatalogStore, EndpointChange, EndpointStore, IdempotencyRecord, Inserted, MemoryStore, Store,
};
use hookshot::{EndpointId, Error};

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
