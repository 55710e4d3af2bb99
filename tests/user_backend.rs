//! A storage backend written the way an application writes its own, outside
//! the crate and with its public API only: linear scans over vectors behind
//! async mutexes. It runs the whole conformance suite.

use std::collections::BTreeMap;
use std::sync::Arc;

use hookshot::clock::Timestamp;
use hookshot::model::{
    Attempt, Delivery, DeliveryFilter, DeliveryStatus, Direction, EndpointFilter, Event, EventType,
    PageRequest, StoredEndpoint, TenantId,
};
use hookshot::store::{
    CatalogStore, Claim, DeliveryStore, EndpointChange, EndpointStore, IdempotencyRecord, Inserted,
    Lease, Purged, Store,
};
use hookshot::{DeliveryId, EndpointId, Error, EventId};
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
    rows: Vec<Row>,
    attempts: Vec<Attempt>,
}

/// A delivery and the lease a worker holds on it, if any.
#[derive(Debug)]
struct Row {
    delivery: Delivery,
    lease: Option<Lease>,
    /// What the status was before the current claim, to go back to on
    /// release or when the lease runs out.
    status_before_claim: DeliveryStatus,
}

impl Row {
    fn new(delivery: Delivery) -> Self {
        let status_before_claim = delivery.status;
        Self {
            delivery,
            lease: None,
            status_before_claim,
        }
    }

    /// When it can be claimed next: a leased row when its lease ends, a
    /// queued one when its next attempt is due.
    fn due_at(&self) -> Option<Timestamp> {
        match &self.lease {
            Some(lease) => Some(lease.expires_at),
            None if self.delivery.status.is_queued() => self.delivery.next_attempt_at,
            None => None,
        }
    }

    fn is(&self, tenant: &TenantId, id: &DeliveryId) -> bool {
        self.delivery.tenant == *tenant && self.delivery.id == *id
    }

    fn held_by(&self, lease: &Lease) -> bool {
        self.lease.as_ref() == Some(lease)
    }
}

fn same_key(a: &IdempotencyRecord, b: &IdempotencyRecord) -> bool {
    a.tenant == b.tenant && a.scope == b.scope && a.key == b.key
}

/// The record that still holds `record`'s key when `record` is made.
fn live_record(
    records: &[IdempotencyRecord],
    record: &IdempotencyRecord,
) -> Option<IdempotencyRecord> {
    records
        .iter()
        .find(|r| same_key(r, record) && r.is_live_at(record.created_at))
        .cloned()
}

fn remember(records: &mut Vec<IdempotencyRecord>, record: IdempotencyRecord) {
    records.retain(|r| !same_key(r, &record));
    records.push(record);
}

/// The rows of a listing page: those beyond the page's anchor, in its
/// direction, with one extra to tell whether more lie beyond.
fn paged<T>(mut rows: Vec<T>, id: impl Fn(&T) -> &str, page: &PageRequest) -> Vec<T> {
    let direction = page.direction();
    rows.retain(|row| match (page.anchor(), direction) {
        (None, _) => true,
        (Some(anchor), Direction::Older) => id(row) < anchor,
        (Some(anchor), Direction::Newer) => id(row) > anchor,
    });
    rows.sort_by(|a, b| id(a).cmp(id(b)));
    if direction == Direction::Older {
        rows.reverse();
    }
    rows.truncate(page.limit + 1);
    rows
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
            return Err(Error::Conflict(format!("endpoint {id} already exists")));
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
        let rows: Vec<StoredEndpoint> = endpoints
            .iter()
            .filter(|e| e.endpoint.tenant == *tenant && filter.matches(e))
            .cloned()
            .collect();
        Ok(paged(rows, |e| e.endpoint.id.as_str(), page))
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
                .any(|d| tables.rows.iter().any(|r| r.delivery.id == d.id));
        if taken {
            return Err(Error::Conflict(format!(
                "event {} already exists",
                event.id
            )));
        }
        tables.events.push(event);
        tables.rows.extend(deliveries.into_iter().map(Row::new));
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
        let mut due: Vec<(Timestamp, DeliveryId, usize)> = tables
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, row)| Some((row.due_at()?, row.delivery.id.clone(), i)))
            .filter(|(at, _, _)| *at <= now)
            .collect();
        due.sort();
        due.truncate(limit);
        let mut claims = Vec::with_capacity(due.len());
        for (_, id, i) in due {
            let lease = Lease {
                delivery_id: id,
                worker: worker.to_owned(),
                expires_at: lease_until,
            };
            let row = &mut tables.rows[i];
            // A row whose lease ran out keeps the status from before that
            // claim.
            if row.lease.is_none() {
                row.status_before_claim = row.delivery.status;
            }
            row.lease = Some(lease.clone());
            row.delivery.status = DeliveryStatus::Delivering;
            let delivery = row.delivery.clone();
            let event = tables
                .events
                .iter()
                .find(|e| e.id == delivery.event_id)
                .cloned()
                .ok_or_else(|| {
                    Error::backend("claiming", false, format!("{} has no event", delivery.id))
                })?;
            claims.push(Claim {
                delivery,
                event,
                lease,
            });
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
        let Some(row) = tables.rows.iter_mut().find(|r| r.held_by(lease)) else {
            return Ok(false);
        };
        row.delivery = delivery;
        row.lease = None;
        tables.attempts.push(attempt);
        Ok(true)
    }

    async fn release(&self, lease: &Lease, now: Timestamp) -> Result<(), Error> {
        let mut tables = self.deliveries.lock().await;
        if let Some(row) = tables.rows.iter_mut().find(|r| r.held_by(lease)) {
            row.lease = None;
            row.delivery.status = row.status_before_claim;
            row.delivery.next_attempt_at = Some(now);
        }
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
        let tables = self.deliveries.lock().await;
        Ok(tables.rows.iter().filter_map(Row::due_at).min())
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
        Ok(row.map(|r| r.delivery.clone()))
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
            .map(|r| &r.delivery)
            .filter(|d| d.tenant == *tenant && filter.matches(d))
            .cloned()
            .collect();
        Ok(paged(rows, |d| d.id.as_str(), page))
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
        if row.lease.as_ref().is_some_and(|l| l.expires_at > now) {
            return Err(Error::Conflict(format!("delivery {id} is being attempted")));
        }
        row.lease = None;
        row.delivery.queue_manual(now);
        Ok(row.delivery.clone())
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
            let d = &row.delivery;
            if d.tenant == *tenant
                && d.status == DeliveryStatus::Failed
                && d.created_at >= since
                && endpoint.is_none_or(|e| *e == d.endpoint_id)
            {
                row.delivery.queue_manual(now);
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
            let d = &row.delivery;
            if d.tenant == *tenant && d.endpoint_id == *endpoint && d.status.is_queued() {
                row.delivery.fail(reason);
                count += 1;
            }
        }
        Ok(count)
    }

    async fn purge_finished(&self, before: Timestamp) -> Result<Purged, Error> {
        let mut records = self.idempotency.lock().await;
        let mut tables = self.deliveries.lock().await;
        let finished_before = |row: &Row| {
            let d = &row.delivery;
            row.lease.is_none()
                && d.status.is_final()
                && d.last_attempt_at.unwrap_or(d.created_at) < before
        };
        let (old, kept): (Vec<Row>, Vec<Row>) = tables.rows.drain(..).partition(finished_before);
        tables.rows = kept;
        tables
            .attempts
            .retain(|a| !old.iter().any(|row| row.delivery.id == a.delivery_id));
        let DeliveryTables { events, rows, .. } = &mut *tables;
        let event_count = events.len();
        events.retain(|e| {
            e.created_at >= before || rows.iter().any(|row| row.delivery.event_id == e.id)
        });
        let record_count = records.len();
        records.retain(|r| r.is_live_at(before));
        Ok(Purged {
            deliveries: old.len() as u64,
            events: (event_count - events.len()) as u64,
            idempotency_records: (record_count - records.len()) as u64,
        })
    }
}

hookshot::conformance_tests!(
    || async { Arc::new(NaiveStore::default()) as Arc<dyn Store> },
    capabilities = [purge],
);
