//! Endpoints in memory, with a subscriber index per tenant.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use async_trait::async_trait;

use super::idempotency::IdempotencyTable;
use super::{MemoryStore, read, write};
use crate::clock::Timestamp;
use crate::error::{ConflictKind, Error};
use crate::id::EndpointId;
use crate::model::{Direction, EndpointFilter, EventType, PageRequest, StoredEndpoint, TenantId};
use crate::store::{
    EndpointChange, EndpointStore, IdempotencyRecord, Inserted, apply_endpoint_change,
};

#[derive(Debug, Default)]
pub(super) struct Endpoints {
    tenants: HashMap<TenantId, TenantEndpoints>,
    idempotency: IdempotencyTable,
}

#[derive(Debug, Default)]
struct TenantEndpoints {
    /// Every endpoint, deleted ones included (their deliveries still refer
    /// to them). Shared, so the dispatcher's read before each attempt
    /// copies nothing; an update replaces the whole record.
    all: BTreeMap<EndpointId, Arc<StoredEndpoint>>,
    subscribers: SubscriberIndex,
}

/// The active, live endpoints of one tenant by what they subscribe to.
#[derive(Debug, Default)]
struct SubscriberIndex {
    every_event: BTreeSet<EndpointId>,
    /// By filter entry as written: names, `prefix.*` patterns and
    /// `group:<group>` entries alike. A lookup reads the entries that cover
    /// the type ([`EventType::covering_entries`]), so the index keeps no
    /// rule of its own.
    by_entry: HashMap<String, BTreeSet<EndpointId>>,
}

impl SubscriberIndex {
    fn add(&mut self, stored: &StoredEndpoint) {
        if !(stored.is_live() && stored.endpoint.is_active()) {
            return;
        }
        let id = &stored.endpoint.id;
        let Some(entries) = &stored.endpoint.event_types else {
            self.every_event.insert(id.clone());
            return;
        };
        for entry in entries {
            let ids = self.by_entry.entry(entry.clone()).or_default();
            ids.insert(id.clone());
        }
    }

    fn remove(&mut self, stored: &StoredEndpoint) {
        let id = &stored.endpoint.id;
        let Some(entries) = &stored.endpoint.event_types else {
            self.every_event.remove(id);
            return;
        };
        for entry in entries {
            if let Some(ids) = self.by_entry.get_mut(entry) {
                ids.remove(id);
                if ids.is_empty() {
                    self.by_entry.remove(entry);
                }
            }
        }
    }

    fn lookup(&self, event_type: &EventType) -> Vec<EndpointId> {
        let covering = event_type.covering_entries();
        let by_entry = covering.iter().filter_map(|entry| self.by_entry.get(entry));
        let mut ids: Vec<EndpointId> = std::iter::once(&self.every_event)
            .chain(by_entry)
            .flatten()
            .cloned()
            .collect();
        // An endpoint may match through several entries.
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

impl Endpoints {
    fn tenant(&self, tenant: &TenantId) -> Option<&TenantEndpoints> {
        self.tenants.get(tenant)
    }

    fn live(&self, tenant: &TenantId, id: &EndpointId) -> Option<&Arc<StoredEndpoint>> {
        self.tenant(tenant)?.all.get(id).filter(|e| e.is_live())
    }
}

impl MemoryStore {
    /// Drops the endpoint idempotency records expired by `before`.
    pub(super) fn purge_endpoint_keys(&self, before: Timestamp) -> u64 {
        write(&self.endpoints).idempotency.purge(before)
    }
}

#[async_trait]
impl EndpointStore for MemoryStore {
    async fn insert_endpoint(
        &self,
        endpoint: StoredEndpoint,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        let mut state = write(&self.endpoints);
        if let Some(existing) = idempotency
            .as_ref()
            .and_then(|r| state.idempotency.existing(r))
        {
            return Ok(Inserted::Existing(existing));
        }
        let tenant = state
            .tenants
            .entry(endpoint.endpoint.tenant.clone())
            .or_default();
        if tenant.all.contains_key(&endpoint.endpoint.id) {
            return Err(Error::conflict(
                ConflictKind::DuplicateId,
                format!("endpoint {} already exists", endpoint.endpoint.id),
            ));
        }
        tenant.subscribers.add(&endpoint);
        tenant
            .all
            .insert(endpoint.endpoint.id.clone(), Arc::new(endpoint));
        if let Some(record) = idempotency {
            state.idempotency.remember(record);
        }
        Ok(Inserted::Created)
    }

    async fn endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<StoredEndpoint>, Error> {
        Ok(read(&self.endpoints)
            .live(tenant, id)
            .map(|stored| StoredEndpoint::clone(stored)))
    }

    async fn shared_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<Arc<StoredEndpoint>>, Error> {
        Ok(read(&self.endpoints).live(tenant, id).cloned())
    }

    async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: EndpointChange<'_>,
    ) -> Result<StoredEndpoint, Error> {
        let mut state = write(&self.endpoints);
        let current = state
            .live(tenant, id)
            .ok_or_else(|| Error::not_found("endpoint", id.as_str()))?;
        let updated = apply_endpoint_change(current, tenant, id, change)?;
        let entry = state
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| Error::not_found("endpoint", id.as_str()))?;
        if let Some(old) = entry.all.get(id) {
            entry.subscribers.remove(old);
        }
        entry.subscribers.add(&updated);
        entry.all.insert(id.clone(), Arc::new(updated.clone()));
        Ok(updated)
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredEndpoint>, Error> {
        let state = read(&self.endpoints);
        let Some(entry) = state.tenant(tenant) else {
            return Ok(Vec::new());
        };
        let anchor = page.anchor().map_or(Bound::Unbounded, Bound::Excluded);
        let rows = match page.direction() {
            Direction::Older => {
                let range = entry.all.range::<str, _>((Bound::Unbounded, anchor));
                collect(range.rev(), filter, page)
            }
            Direction::Newer => {
                let range = entry.all.range::<str, _>((anchor, Bound::Unbounded));
                collect(range, filter, page)
            }
        };
        Ok(rows)
    }

    async fn subscribers(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
    ) -> Result<Vec<EndpointId>, Error> {
        let state = read(&self.endpoints);
        Ok(state
            .tenant(tenant)
            .map(|t| t.subscribers.lookup(event_type))
            .unwrap_or_default())
    }
}

fn collect<'a>(
    rows: impl Iterator<Item = (&'a EndpointId, &'a Arc<StoredEndpoint>)>,
    filter: &EndpointFilter,
    page: &PageRequest,
) -> Vec<StoredEndpoint> {
    rows.map(|(_, stored)| stored)
        .filter(|stored| filter.matches(stored))
        .take(page.limit + 1)
        .map(|stored| StoredEndpoint::clone(stored))
        .collect()
}
