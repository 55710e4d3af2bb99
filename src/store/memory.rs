//! The in-memory backend: always compiled, for single-process use and tests.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::{CatalogStore, EndpointChange, EndpointStore, IdempotencyRecord, Inserted};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::EndpointId;
use crate::model::{Direction, EndpointFilter, EventType, PageRequest, StoredEndpoint, TenantId};

/// Keeps everything in process memory behind read-write locks.
///
/// Subscriber lookups use an index per tenant from event-type name and
/// `group.*` prefix to the active endpoints that subscribe, so their cost
/// follows the number of subscribers rather than the number of endpoints.
#[derive(Debug, Default)]
pub struct MemoryStore {
    endpoints: RwLock<Endpoints>,
    catalog: RwLock<BTreeMap<String, EventType>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

type IdempotencyKey = (TenantId, String, String);

#[derive(Debug, Default)]
struct Endpoints {
    tenants: HashMap<TenantId, TenantEndpoints>,
    idempotency: HashMap<IdempotencyKey, IdempotencyRecord>,
    /// Keys in the order they were stored, for expiring them cheaply.
    idempotency_order: VecDeque<(Timestamp, IdempotencyKey)>,
}

#[derive(Debug, Default)]
struct TenantEndpoints {
    /// Every endpoint, deleted ones included (their deliveries still refer
    /// to them).
    all: BTreeMap<EndpointId, StoredEndpoint>,
    subscribers: SubscriberIndex,
}

/// The active, live endpoints of one tenant by what they subscribe to.
#[derive(Debug, Default)]
struct SubscriberIndex {
    every_event: BTreeSet<EndpointId>,
    /// Exact names.
    names: HashMap<String, BTreeSet<EndpointId>>,
    /// `group.*` patterns, keyed by the prefix with its trailing dot.
    prefixes: HashMap<String, BTreeSet<EndpointId>>,
}

impl SubscriberIndex {
    fn add(&mut self, stored: &StoredEndpoint) {
        if !(stored.is_live() && stored.endpoint.is_active()) {
            return;
        }
        let id = &stored.endpoint.id;
        let Some(patterns) = &stored.endpoint.event_types else {
            self.every_event.insert(id.clone());
            return;
        };
        for pattern in patterns {
            let (map, key) = self.slot(pattern);
            map.entry(key.to_owned()).or_default().insert(id.clone());
        }
    }

    fn remove(&mut self, stored: &StoredEndpoint) {
        let id = &stored.endpoint.id;
        let Some(patterns) = &stored.endpoint.event_types else {
            self.every_event.remove(id);
            return;
        };
        for pattern in patterns {
            let (map, key) = self.slot(pattern);
            if let Some(ids) = map.get_mut(key) {
                ids.remove(id);
                if ids.is_empty() {
                    map.remove(key);
                }
            }
        }
    }

    /// The map a pattern is indexed in, and its key there.
    fn slot<'p>(
        &mut self,
        pattern: &'p str,
    ) -> (&mut HashMap<String, BTreeSet<EndpointId>>, &'p str) {
        match pattern.strip_suffix('*') {
            Some(prefix) => (&mut self.prefixes, prefix),
            None => (&mut self.names, pattern),
        }
    }

    fn lookup(&self, event_type: &str) -> Vec<EndpointId> {
        let group_prefixes = event_type
            .match_indices('.')
            .filter_map(|(dot, _)| self.prefixes.get(&event_type[..=dot]));
        let mut ids: Vec<EndpointId> = std::iter::once(&self.every_event)
            .chain(self.names.get(event_type))
            .chain(group_prefixes)
            .flatten()
            .cloned()
            .collect();
        // An endpoint may match through several patterns.
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

impl Endpoints {
    fn tenant(&self, tenant: &TenantId) -> Option<&TenantEndpoints> {
        self.tenants.get(tenant)
    }

    fn live(&self, tenant: &TenantId, id: &EndpointId) -> Option<&StoredEndpoint> {
        self.tenant(tenant)?.all.get(id).filter(|e| e.is_live())
    }

    /// The live idempotency record for `key` at `now`, dropping expired ones
    /// on the way.
    fn idempotency_record(
        &mut self,
        key: &IdempotencyKey,
        now: Timestamp,
    ) -> Option<IdempotencyRecord> {
        while let Some((expires_at, _)) = self.idempotency_order.front() {
            if *expires_at > now {
                break;
            }
            if let Some((_, old)) = self.idempotency_order.pop_front()
                && self
                    .idempotency
                    .get(&old)
                    .is_some_and(|r| !r.is_live_at(now))
            {
                self.idempotency.remove(&old);
            }
        }
        self.idempotency
            .get(key)
            .filter(|r| r.is_live_at(now))
            .cloned()
    }

    fn remember(&mut self, key: IdempotencyKey, record: IdempotencyRecord) {
        self.idempotency_order
            .push_back((record.expires_at, key.clone()));
        self.idempotency.insert(key, record);
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // Writers never panic halfway through a change, so a poisoned lock still
    // guards consistent data.
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl EndpointStore for MemoryStore {
    async fn insert_endpoint(
        &self,
        endpoint: StoredEndpoint,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        let mut state = write(&self.endpoints);
        let claim = match idempotency {
            Some(record) => {
                let key = (
                    record.tenant.clone(),
                    record.scope.clone(),
                    record.key.clone(),
                );
                if let Some(existing) = state.idempotency_record(&key, record.created_at) {
                    return Ok(Inserted::Existing(existing));
                }
                Some((key, record))
            }
            None => None,
        };
        let tenant = state
            .tenants
            .entry(endpoint.endpoint.tenant.clone())
            .or_default();
        if tenant.all.contains_key(&endpoint.endpoint.id) {
            return Err(Error::Conflict(format!(
                "endpoint {} already exists",
                endpoint.endpoint.id
            )));
        }
        tenant.subscribers.add(&endpoint);
        tenant.all.insert(endpoint.endpoint.id.clone(), endpoint);
        if let Some((key, record)) = claim {
            state.remember(key, record);
        }
        Ok(Inserted::Created)
    }

    async fn endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<StoredEndpoint>, Error> {
        Ok(read(&self.endpoints).live(tenant, id).cloned())
    }

    async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: EndpointChange<'_>,
    ) -> Result<StoredEndpoint, Error> {
        let mut state = write(&self.endpoints);
        let mut updated = state
            .live(tenant, id)
            .cloned()
            .ok_or_else(|| Error::not_found("endpoint", id.as_str()))?;
        change(&mut updated)?;
        if updated.endpoint.id != *id || updated.endpoint.tenant != *tenant {
            return Err(Error::invalid(
                "endpoint",
                "an update may not change the id or tenant",
            ));
        }
        let entry = state
            .tenants
            .get_mut(tenant)
            .ok_or_else(|| Error::not_found("endpoint", id.as_str()))?;
        if let Some(old) = entry.all.get(id) {
            entry.subscribers.remove(old);
        }
        entry.subscribers.add(&updated);
        entry.all.insert(id.clone(), updated.clone());
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
        event_type: &str,
    ) -> Result<Vec<EndpointId>, Error> {
        let state = read(&self.endpoints);
        Ok(state
            .tenant(tenant)
            .map(|t| t.subscribers.lookup(event_type))
            .unwrap_or_default())
    }
}

fn collect<'a>(
    rows: impl Iterator<Item = (&'a EndpointId, &'a StoredEndpoint)>,
    filter: &EndpointFilter,
    page: &PageRequest,
) -> Vec<StoredEndpoint> {
    rows.map(|(_, stored)| stored)
        .filter(|stored| filter.matches(stored))
        .take(page.limit + 1)
        .cloned()
        .collect()
}

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn upsert_event_types(&self, types: &[EventType]) -> Result<(), Error> {
        let mut catalog = write(&self.catalog);
        for event_type in types {
            catalog.insert(event_type.name.clone(), event_type.clone());
        }
        Ok(())
    }

    async fn event_types(&self) -> Result<Vec<EventType>, Error> {
        Ok(read(&self.catalog).values().cloned().collect())
    }

    async fn event_type(&self, name: &str) -> Result<Option<EventType>, Error> {
        Ok(read(&self.catalog).get(name).cloned())
    }
}
