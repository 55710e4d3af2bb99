//! A storage backend written the way an application writes its own, outside
//! the crate and with its public API only: linear scans over vectors behind
//! async mutexes. It runs the whole conformance suite.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookshot::clock::Timestamp;
use hookshot::model::{
    Attempt, Delivery, DeliveryFilter, EndpointFilter, Event, EventType, PageRequest,
    StoredEndpoint, TenantId,
};
use hookshot::store::{
    CatalogStore, Claim, DeliveryRecord, DeliveryStore, EndpointChange, EndpointStore,
    IdempotencyRecord, Inserted, Lease, Purged, Store, apply_endpoint_change,
};
use hookshot::{ConflictKind, DeliveryId, EndpointId, Error, EventId};
use tokio::sync::Mutex;

#[derive(Debug, Default)]
struct NaiveStore {
    endpoints: Mutex<Vec<StoredEndpoint>>,
    idempotency: Mutex<Vec<IdempotencyRecord>>,
    catalog: Mutex<BTreeMap<String, EventType>>,
    deliveries: Mutex<DeliveryTables>,
}

/// Events, deliveries and attempts, in the order they were stored.
#[derive(Debug, Default)]
struct DeliveryTables {
    events: Vec<Event>,
    rows: Vec<DeliveryRecord>,
    attempts: Vec<Attempt>,
}

/// The record that still holds `incoming`'s key when `incoming` is made.
fn live_record(
    records: &[IdempotencyRecord],
    incoming: &IdempotencyRecord,
) -> Option<IdempotencyRecord> {
    records.iter().find(|r| r.answers(incoming)).cloned()
}

fn remember(records: &mut Vec<IdempotencyRecord>, record: IdempotencyRecord) {
    records.retain(|r| !r.same_key(&record));
    records.push(record);
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
        // Lock order: idempotency records, then endpoints or deliveries.
        // Nothing holds endpoints and deliveries together.
        let mut records = self.idempotency.lock().await;
        let mut endpoints = self.endpoints.lock().await;
        if let Some(existing) = idempotency.as_ref().and_then(|r| live_record(&records, r)) {
            return Ok(Inserted::Existing(existing));
        }
        let id = &endpoint.endpoint.id;
        if endpoints.iter().any(|e| e.endpoint.id == *id) {
            return Err(Error::conflict(
                ConflictKind::DuplicateId,
                format!("endpoint {id} already exists"),
            ));
        }
        endpoints.push(endpoint);
        if let Some(record) = idempotency {
            remember(&mut records, record);
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
        *slot = apply_endpoint_change(slot, tenant, id, change)?;
        Ok(slot.clone())
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredEndpoint>, Error> {
        let endpoints = self.endpoints.lock().await;
        let rows: Vec<StoredEndpoint> = endpoints
            .iter()
            .filter(|e| e.endpoint.tenant == *tenant && filter.matches(e))
            .cloned()
            .collect();
        Ok(page.rows_of(rows, |e| e.endpoint.id.as_str()))
    }

    async fn subscribers(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
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

#[async_trait::async_trait]
impl DeliveryStore for NaiveStore {
    async fn enqueue(
        &self,
        event: Event,
        deliveries: Vec<Delivery>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        let mut records = self.idempotency.lock().await;
        let mut tables = self.deliveries.lock().await;
        if let Some(existing) = idempotency.as_ref().and_then(|r| live_record(&records, r)) {
            return Ok(Inserted::Existing(existing));
        }
        let taken = tables.events.iter().any(|e| e.id == event.id)
            || deliveries
                .iter()
                .any(|d| tables.rows.iter().any(|r| r.delivery().id == d.id));
        if taken {
            return Err(Error::conflict(
                ConflictKind::DuplicateId,
                format!("event {} already exists", event.id),
            ));
        }
        tables.events.push(event);
        tables
            .rows
            .extend(deliveries.into_iter().map(DeliveryRecord::new));
        if let Some(record) = idempotency {
            remember(&mut records, record);
        }
        Ok(Inserted::Created)
    }

    async fn claim_due(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Claim>, Error> {
        let mut tables = self.deliveries.lock().await;
        let DeliveryTables { events, rows, .. } = &mut *tables;
        let mut due: Vec<&mut DeliveryRecord> = rows.iter_mut().filter(|r| r.is_due(now)).collect();
        due.sort_by_key(|r| (r.due_at(), r.delivery().id.clone()));
        due.truncate(limit);
        let mut claims = Vec::with_capacity(due.len());
        for row in due {
            let lease = row.claim(worker, lease_until);
            let delivery = row.delivery().clone();
            let event = events
                .iter()
                .find(|e| e.id == delivery.event_id)
                .cloned()
                .ok_or_else(|| {
                    Error::backend("claiming", false, format!("{} has no event", delivery.id))
                })?;
            claims.push(Claim::new(delivery, event, lease));
        }
        Ok(claims)
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: Attempt,
        delivery: Delivery,
    ) -> Result<bool, Error> {
        let mut tables = self.deliveries.lock().await;
        let Some(row) = tables.rows.iter_mut().find(|r| r.holds(lease)) else {
            return Ok(false);
        };
        row.finish(lease, delivery);
        tables.attempts.push(attempt);
        Ok(true)
    }

    async fn release(&self, lease: &Lease, now: Timestamp) -> Result<(), Error> {
        let mut tables = self.deliveries.lock().await;
        for row in &mut tables.rows {
            row.release(lease, now);
        }
        Ok(())
    }

    async fn renew_leases(&self, leases: &[Lease], until: Timestamp) -> Result<Vec<bool>, Error> {
        let mut tables = self.deliveries.lock().await;
        Ok(leases
            .iter()
            .map(|lease| {
                tables
                    .rows
                    .iter_mut()
                    .find(|r| r.holds(lease))
                    .is_some_and(|row| row.renew(lease, until))
            })
            .collect())
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
        let tables = self.deliveries.lock().await;
        Ok(tables.rows.iter().filter_map(DeliveryRecord::due_at).min())
    }

    async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, Error> {
        let tables = self.deliveries.lock().await;
        Ok(tables
            .events
            .iter()
            .find(|e| e.tenant == *tenant && e.id == *id)
            .cloned())
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, Error> {
        let tables = self.deliveries.lock().await;
        let row = tables.rows.iter().find(|r| r.is(tenant, id));
        Ok(row.map(|r| r.delivery().clone()))
    }

    async fn attempts(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Vec<Attempt>, Error> {
        let tables = self.deliveries.lock().await;
        if !tables.rows.iter().any(|r| r.is(tenant, id)) {
            return Ok(Vec::new());
        }
        Ok(tables
            .attempts
            .iter()
            .filter(|a| a.delivery_id == *id)
            .cloned()
            .collect())
    }

    async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Vec<Delivery>, Error> {
        let tables = self.deliveries.lock().await;
        let rows: Vec<Delivery> = tables
            .rows
            .iter()
            .map(DeliveryRecord::delivery)
            .filter(|d| d.tenant == *tenant && filter.matches(d))
            .cloned()
            .collect();
        Ok(page.rows_of(rows, |d| d.id.as_str()))
    }

    async fn requeue(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> Result<Delivery, Error> {
        let mut tables = self.deliveries.lock().await;
        let row = tables
            .rows
            .iter_mut()
            .find(|r| r.is(tenant, id))
            .ok_or_else(|| Error::not_found("delivery", id.as_str()))?;
        row.requeue(now).cloned()
    }

    async fn requeue_failed(
        &self,
        tenant: &TenantId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u64, Error> {
        let mut tables = self.deliveries.lock().await;
        let mut count = 0;
        for row in &mut tables.rows {
            if row.delivery().tenant == *tenant && row.is_failed_since(since, endpoint) {
                row.requeue(now)?;
                count += 1;
            }
        }
        Ok(count)
    }

    async fn fail_queued(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        reason: &str,
    ) -> Result<u64, Error> {
        let mut tables = self.deliveries.lock().await;
        let mut count = 0;
        for row in &mut tables.rows {
            let d = row.delivery();
            if d.tenant == *tenant && d.endpoint_id == *endpoint && row.fail_if_queued(reason) {
                count += 1;
            }
        }
        Ok(count)
    }

    async fn purge_finished(&self, before: Timestamp) -> Result<Purged, Error> {
        let mut records = self.idempotency.lock().await;
        let mut tables = self.deliveries.lock().await;
        let finished_before =
            |row: &DeliveryRecord| row.finished_at().is_some_and(|at| at < before);
        let (old, kept): (Vec<_>, Vec<_>) = tables.rows.drain(..).partition(finished_before);
        tables.rows = kept;
        tables
            .attempts
            .retain(|a| !old.iter().any(|row| row.delivery().id == a.delivery_id));
        let DeliveryTables { events, rows, .. } = &mut *tables;
        let event_count = events.len();
        events.retain(|e| {
            e.created_at >= before || rows.iter().any(|row| row.delivery().event_id == e.id)
        });
        let record_count = records.len();
        records.retain(|r| r.is_live_at(before));
        // Purged may grow, so it is filled in rather than built whole.
        let mut purged = Purged::default();
        purged.deliveries = old.len() as u64;
        purged.events = (event_count - events.len()) as u64;
        purged.idempotency_records = (record_count - records.len()) as u64;
        Ok(purged)
    }
}

hookshot::conformance_tests!(
    || async { Arc::new(NaiveStore::default()) as Arc<dyn Store> },
    capabilities = [purge, renew_leases],
);
