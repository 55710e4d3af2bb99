//! A storage backend written the way an application writes its own, outside
//! the crate and with its public API only: linear scans over vectors behind
//! async mutexes. It runs the whole conformance suite.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookshot::model::{
    Direction, EndpointFilter, EventType, PageRequest, StoredEndpoint, TenantId,
};
use hookshot::store::{
    CatalogStore, EndpointChange, EndpointStore, IdempotencyRecord, Inserted, Store,
};
use hookshot::{EndpointId, Error};
use tokio::sync::Mutex;

#[derive(Debug, Default)]
struct NaiveStore {
    endpoints: Mutex<Vec<StoredEndpoint>>,
    idempotency: Mutex<Vec<IdempotencyRecord>>,
    catalog: Mutex<BTreeMap<String, EventType>>,
}

fn same_key(a: &IdempotencyRecord, b: &IdempotencyRecord) -> bool {
    a.tenant == b.tenant && a.scope == b.scope && a.key == b.key
}

fn is(stored: &StoredEndpoint, tenant: &TenantId, id: &EndpointId) -> bool {
    stored.is_live() && stored.endpoint.tenant == *tenant && stored.endpoint.id == *id
}

#[async_trait::async_trait]
impl EndpointStore for NaiveStore {
    async fn insert_endpoint(
        &self,
        endpoint: StoredEndpoint,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        // Lock order: idempotency records, then endpoints. This is the only
        // place that holds both.
        let mut records = self.idempotency.lock().await;
        let mut endpoints = self.endpoints.lock().await;
        if let Some(record) = &idempotency {
            let live = records
                .iter()
                .find(|r| same_key(r, record) && r.is_live_at(record.created_at));
            if let Some(existing) = live {
                return Ok(Inserted::Existing(existing.clone()));
            }
        }
        let id = &endpoint.endpoint.id;
        if endpoints.iter().any(|e| e.endpoint.id == *id) {
            return Err(Error::Conflict(format!("endpoint {id} already exists")));
        }
        endpoints.push(endpoint);
        if let Some(record) = idempotency {
            records.retain(|r| !same_key(r, &record));
            records.push(record);
        }
        Ok(Inserted::Created)
    }

    async fn endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<StoredEndpoint>, Error> {
        let endpoints = self.endpoints.lock().await;
        Ok(endpoints.iter().find(|e| is(e, tenant, id)).cloned())
    }

    async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: EndpointChange<'_>,
    ) -> Result<StoredEndpoint, Error> {
        let mut endpoints = self.endpoints.lock().await;
        let slot = endpoints
            .iter_mut()
            .find(|e| is(e, tenant, id))
            .ok_or_else(|| Error::not_found("endpoint", id.as_str()))?;
        let mut changed = slot.clone();
        change(&mut changed)?;
        if changed.endpoint.id != *id || changed.endpoint.tenant != *tenant {
            return Err(Error::invalid(
                "endpoint",
                "the id and tenant cannot change",
            ));
        }
        *slot = changed.clone();
        Ok(changed)
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredEndpoint>, Error> {
        let endpoints = self.endpoints.lock().await;
        let direction = page.direction();
        let beyond_anchor = |id: &str| match (page.anchor(), direction) {
            (None, _) => true,
            (Some(anchor), Direction::Older) => id < anchor,
            (Some(anchor), Direction::Newer) => id > anchor,
        };
        let mut rows: Vec<StoredEndpoint> = endpoints
            .iter()
            .filter(|e| e.endpoint.tenant == *tenant && filter.matches(e))
            .filter(|e| beyond_anchor(e.endpoint.id.as_str()))
            .cloned()
            .collect();
        rows.sort_by(|a, b| a.endpoint.id.cmp(&b.endpoint.id));
        if direction == Direction::Older {
            rows.reverse();
        }
        rows.truncate(page.limit + 1);
        Ok(rows)
    }

    async fn subscribers(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> Result<Vec<EndpointId>, Error> {
        let endpoints = self.endpoints.lock().await;
        let mut ids: Vec<EndpointId> = endpoints
            .iter()
            .filter(|e| e.is_live() && e.endpoint.tenant == *tenant && e.endpoint.is_active())
            .filter(|e| e.endpoint.subscribes_to(event_type))
            .map(|e| e.endpoint.id.clone())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[async_trait::async_trait]
impl CatalogStore for NaiveStore {
    async fn upsert_event_types(&self, types: &[EventType]) -> Result<(), Error> {
        let mut catalog = self.catalog.lock().await;
        for event_type in types {
            catalog.insert(event_type.name.clone(), event_type.clone());
        }
        Ok(())
    }

    async fn event_types(&self) -> Result<Vec<EventType>, Error> {
        Ok(self.catalog.lock().await.values().cloned().collect())
    }

    async fn event_type(&self, name: &str) -> Result<Option<EventType>, Error> {
        Ok(self.catalog.lock().await.get(name).cloned())
    }
}

hookshot::conformance_tests!(|| async { Arc::new(NaiveStore::default()) as Arc<dyn Store> });
