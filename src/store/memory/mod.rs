//! The in-memory backend: always compiled, for single-process use and tests.

mod deliveries;
mod endpoints;
mod idempotency;

use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::CatalogStore;
use crate::error::Error;
use crate::model::EventType;

/// Keeps everything in process memory behind read-write locks.
///
/// Subscriber lookups use an index per tenant from filter entry (name,
/// `prefix.*` pattern or `group:<group>`) to the active endpoints that hold
/// it, so their cost follows the number of subscribers rather than the
/// number of endpoints.
///
/// Its `Debug` is a summary: the records hold secrets and payloads, and may
/// be millions.
#[derive(Default)]
pub struct MemoryStore {
    endpoints: RwLock<endpoints::Endpoints>,
    deliveries: RwLock<deliveries::Deliveries>,
    catalog: RwLock<BTreeMap<String, EventType>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("event_types", &read(&self.catalog).len())
            .finish_non_exhaustive()
    }
}

pub(super) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // Writers never panic halfway through a change, so a poisoned lock still
    // guards consistent data.
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(super) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
