//! Events, deliveries and attempts in memory, with an index of when each
//! delivery is next due.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use async_trait::async_trait;

use super::idempotency::IdempotencyTable;
use super::{MemoryStore, read, write};
use crate::clock::Timestamp;
use crate::error::{ConflictKind, Error};
use crate::id::{self, DeliveryId, EndpointId, EventId, IdMap};
use crate::model::{Attempt, Delivery, DeliveryFilter, Direction, Event, PageRequest, TenantId};
use crate::store::{
    Claim, DeliveryRecord, DeliveryStore, IdempotencyRecord, Inserted, Lease, Purged,
};

#[derive(Debug, Default)]
pub(super) struct Deliveries {
    /// Events and deliveries by [`id::key`]: a number compares and hashes
    /// without reading the text behind the id.
    events: IdMap<u128, StoredEvent>,
    slots: IdMap<u128, Slot>,
    /// Each tenant's deliveries in id (creation) order, for listings.
    by_tenant: HashMap<TenantId, BTreeSet<DeliveryId>>,
    /// Queued deliveries by when they are due, leased ones by when their
    /// hold ends (renewals included): the front of the set is what to
    /// claim next.
    due: BTreeSet<(Timestamp, u128)>,
    /// Final deliveries by when they were last active, and events left
    /// without deliveries by when they were made: what a purge removes,
    /// oldest first, without reading the rest of the history.
    finished: BTreeSet<(Timestamp, u128)>,
    childless: BTreeSet<(Timestamp, u128)>,
    idempotency: IdempotencyTable,
}

#[derive(Debug)]
struct StoredEvent {
    event: Event,
    /// How many of its deliveries are stored.
    deliveries: usize,
}

#[derive(Debug)]
struct Slot {
    record: DeliveryRecord,
    /// Attempts so far, oldest first.
    attempts: Vec<Attempt>,
}

impl Deliveries {
    fn slot(&self, tenant: &TenantId, id: &DeliveryId) -> Option<&Slot> {
        self.slots
            .get(&id::key(id.as_str()))
            .filter(|s| s.record.delivery().tenant == *tenant)
    }

    /// Changes one slot, keeping the due and finished indexes in step.
    /// `None` if there is no such slot.
    fn modify<T>(&mut self, id: &DeliveryId, change: impl FnOnce(&mut Slot) -> T) -> Option<T> {
        let key = id::key(id.as_str());
        let slot = self.slots.get_mut(&key)?;
        if let Some(at) = slot.record.due_at() {
            self.due.remove(&(at, key));
        }
        if let Some(at) = slot.record.finished_at() {
            self.finished.remove(&(at, key));
        }
        let out = change(slot);
        if let Some(at) = slot.record.due_at() {
            self.due.insert((at, key));
        }
        if let Some(at) = slot.record.finished_at() {
            self.finished.insert((at, key));
        }
        Some(out)
    }

    fn insert(&mut self, delivery: Delivery) {
        let key = id::key(delivery.id.as_str());
        self.by_tenant
            .entry(delivery.tenant.clone())
            .or_default()
            .insert(delivery.id.clone());
        let record = DeliveryRecord::new(delivery);
        if let Some(at) = record.due_at() {
            self.due.insert((at, key));
        }
        if let Some(at) = record.finished_at() {
            self.finished.insert((at, key));
        }
        let attempts = Vec::new();
        self.slots.insert(key, Slot { record, attempts });
    }

    /// Leases the delivery with `key`, just taken off the due index, to
    /// `worker`. `None` if no such delivery is stored.
    fn claim(
        &mut self,
        key: u128,
        worker: &str,
        lease_until: Timestamp,
    ) -> Result<Option<Claim>, Error> {
        let Some(slot) = self.slots.get_mut(&key) else {
            return Ok(None);
        };
        let lease = slot.record.claim(worker, lease_until);
        let delivery = slot.record.delivery().clone();
        self.due.insert((lease_until, key));
        let event = self.events.get(&id::key(delivery.event_id.as_str()));
        let Some(event) = event.map(|stored| stored.event.clone()) else {
            return Err(Error::backend(
                "claiming due deliveries",
                false,
                format!("delivery {} refers to a missing event", delivery.id),
            ));
        };
        Ok(Some(Claim::new(delivery, event, lease)))
    }

    /// Removes finished deliveries last active before `before`, then the
    /// events made before then that have none left; returns how many of
    /// each.
    fn purge(&mut self, before: Timestamp) -> (u64, u64) {
        let cut = (before, 0);
        let old: Vec<(Timestamp, u128)> = self.finished.range(..cut).copied().collect();
        for entry in &old {
            self.finished.remove(entry);
            if let Some(slot) = self.slots.remove(&entry.1) {
                self.forget(slot.record.delivery());
            }
        }
        let childless: Vec<(Timestamp, u128)> = self.childless.range(..cut).copied().collect();
        for entry in &childless {
            self.childless.remove(entry);
            self.events.remove(&entry.1);
        }
        (old.len() as u64, childless.len() as u64)
    }

    /// Drops a removed delivery from its tenant's listing and its event's
    /// count; an event left with none becomes purgeable.
    fn forget(&mut self, delivery: &Delivery) {
        let tenant = &delivery.tenant;
        if let Some(ids) = self.by_tenant.get_mut(tenant) {
            ids.remove(&delivery.id);
            if ids.is_empty() {
                self.by_tenant.remove(tenant);
            }
        }
        let key = id::key(delivery.event_id.as_str());
        if let Some(stored) = self.events.get_mut(&key) {
            stored.deliveries = stored.deliveries.saturating_sub(1);
            if stored.deliveries == 0 {
                self.childless.insert((stored.event.created_at, key));
            }
        }
    }

    /// Ids of `tenant`'s deliveries for which `pick` holds.
    fn select(&self, tenant: &TenantId, pick: impl Fn(&DeliveryRecord) -> bool) -> Vec<DeliveryId> {
        self.by_tenant
            .get(tenant)
            .into_iter()
            .flatten()
            .filter(|id| {
                let slot = self.slots.get(&id::key(id.as_str()));
                slot.is_some_and(|s| pick(&s.record))
            })
            .cloned()
            .collect()
    }
}

#[async_trait]
impl DeliveryStore for MemoryStore {
    async fn enqueue(
        &self,
        event: Event,
        deliveries: Vec<Delivery>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        let mut state = write(&self.deliveries);
        if let Some(existing) = idempotency
            .as_ref()
            .and_then(|r| state.idempotency.existing(r))
        {
            return Ok(Inserted::Existing(existing));
        }
        let key = id::key(event.id.as_str());
        if state.events.contains_key(&key)
            || deliveries
                .iter()
                .any(|d| state.slots.contains_key(&id::key(d.id.as_str())))
        {
            return Err(Error::conflict(
                ConflictKind::DuplicateId,
                format!("event {} already exists", event.id),
            ));
        }
        if deliveries.is_empty() {
            state.childless.insert((event.created_at, key));
        }
        let stored = StoredEvent {
            event,
            deliveries: deliveries.len(),
        };
        for delivery in deliveries {
            state.insert(delivery);
        }
        state.events.insert(key, stored);
        if let Some(record) = idempotency {
            state.idempotency.remember(record);
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
        let mut state = write(&self.deliveries);
        // Claims are large: sized exactly, the vector never grows and
        // copies them, nor keeps room it does not use.
        let due_now = state
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(limit)
            .count();
        let mut claims = Vec::with_capacity(due_now);
        while claims.len() < limit {
            let Some((at, id)) = state.due.pop_first() else {
                break;
            };
            if at > now {
                state.due.insert((at, id));
                break;
            }
            if let Some(claim) = state.claim(id, worker, lease_until)? {
                claims.push(claim);
            }
        }
        Ok(claims)
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: Attempt,
        delivery: Delivery,
    ) -> Result<bool, Error> {
        let mut state = write(&self.deliveries);
        let recorded = state.modify(&lease.delivery_id, |slot| {
            if !slot.record.finish(lease, delivery) {
                return false;
            }
            // Most deliveries get one attempt; room for four would stay
            // allocated, unused, for as long as the history is kept.
            slot.attempts.reserve_exact(1);
            slot.attempts.push(attempt);
            true
        });
        Ok(recorded == Some(true))
    }

    async fn release(&self, lease: &Lease, now: Timestamp) -> Result<(), Error> {
        let mut state = write(&self.deliveries);
        state.modify(&lease.delivery_id, |slot| slot.record.release(lease, now));
        Ok(())
    }

    async fn renew_leases(&self, leases: &[Lease], until: Timestamp) -> Result<Vec<bool>, Error> {
        let mut state = write(&self.deliveries);
        // `modify` moves the delivery in the due index to its new end of
        // hold: a leased delivery is due when its lease runs out.
        Ok(leases
            .iter()
            .map(|lease| {
                let renewed =
                    state.modify(&lease.delivery_id, |slot| slot.record.renew(lease, until));
                renewed == Some(true)
            })
            .collect())
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
        Ok(read(&self.deliveries).due.first().map(|(at, _)| *at))
    }

    async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, Error> {
        let state = read(&self.deliveries);
        Ok(state
            .events
            .get(&id::key(id.as_str()))
            .filter(|stored| stored.event.tenant == *tenant)
            .map(|stored| stored.event.clone()))
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, Error> {
        Ok(read(&self.deliveries)
            .slot(tenant, id)
            .map(|s| s.record.delivery().clone()))
    }

    async fn attempts(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Vec<Attempt>, Error> {
        Ok(read(&self.deliveries)
            .slot(tenant, id)
            .map(|s| s.attempts.clone())
            .unwrap_or_default())
    }

    async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Vec<Delivery>, Error> {
        let state = read(&self.deliveries);
        let Some(ids) = state.by_tenant.get(tenant) else {
            return Ok(Vec::new());
        };
        let anchor = page.anchor().map_or(Bound::Unbounded, Bound::Excluded);
        let range: Box<dyn Iterator<Item = &DeliveryId>> = match page.direction() {
            Direction::Older => Box::new(ids.range::<str, _>((Bound::Unbounded, anchor)).rev()),
            Direction::Newer => Box::new(ids.range::<str, _>((anchor, Bound::Unbounded))),
        };
        Ok(range
            .filter_map(|id| state.slots.get(&id::key(id.as_str())))
            .map(|slot| slot.record.delivery())
            .filter(|d| filter.matches(d))
            .take(page.limit + 1)
            .cloned()
            .collect())
    }

    async fn requeue(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> Result<Delivery, Error> {
        let mut state = write(&self.deliveries);
        if state.slot(tenant, id).is_none() {
            return Err(Error::not_found("delivery", id.as_str()));
        }
        state
            .modify(id, |slot| slot.record.requeue(now).cloned())
            .ok_or_else(|| Error::not_found("delivery", id.as_str()))?
    }

    async fn requeue_failed(
        &self,
        tenant: &TenantId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u64, Error> {
        let mut state = write(&self.deliveries);
        let ids = state.select(tenant, |r| r.is_failed_since(since, endpoint));
        for id in &ids {
            state.modify(id, |slot| slot.record.requeue(now).map(drop));
        }
        Ok(ids.len() as u64)
    }

    async fn purge_finished(&self, before: Timestamp) -> Result<Purged, Error> {
        let (deliveries, events, send_keys) = {
            let mut state = write(&self.deliveries);
            let (deliveries, events) = state.purge(before);
            (deliveries, events, state.idempotency.purge(before))
        };
        let endpoint_keys = self.purge_endpoint_keys(before);
        Ok(Purged {
            deliveries,
            events,
            idempotency_records: send_keys + endpoint_keys,
            left_to_another_process: false,
        })
    }

    async fn fail_queued(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        reason: &str,
    ) -> Result<u64, Error> {
        let mut state = write(&self.deliveries);
        let ids = state.select(tenant, |r| r.delivery().endpoint_id == *endpoint);
        let mut ended = 0;
        for id in &ids {
            if state.modify(id, |slot| slot.record.fail_if_queued(reason)) == Some(true) {
                ended += 1;
            }
        }
        Ok(ended)
    }
}
