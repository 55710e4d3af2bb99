//! Idempotency records in memory, expired in the order they were stored.

use std::collections::{HashMap, VecDeque};

use crate::clock::Timestamp;
use crate::model::TenantId;
use crate::store::IdempotencyRecord;

type Key = (TenantId, String, String);

#[derive(Debug, Default)]
pub(super) struct IdempotencyTable {
    records: HashMap<Key, IdempotencyRecord>,
    /// Keys in the order they were stored, so expired ones are dropped
    /// without scanning the table.
    order: VecDeque<(Timestamp, Key)>,
}

fn key_of(record: &IdempotencyRecord) -> Key {
    (
        record.tenant.clone(),
        record.scope.clone(),
        record.key.clone(),
    )
}

impl IdempotencyTable {
    /// The record that still holds `record`'s key at `record.created_at`,
    /// dropping expired records on the way.
    pub(super) fn existing(&mut self, record: &IdempotencyRecord) -> Option<IdempotencyRecord> {
        let now = record.created_at;
        while self
            .order
            .front()
            .is_some_and(|(expires_at, _)| *expires_at <= now)
        {
            if let Some((_, old)) = self.order.pop_front()
                && self.records.get(&old).is_some_and(|r| !r.is_live_at(now))
            {
                self.records.remove(&old);
            }
        }
        self.records
            .get(&key_of(record))
            .filter(|r| r.is_live_at(now))
            .cloned()
    }

    /// Drops the records expired by `before` and says how many.
    pub(super) fn purge(&mut self, before: Timestamp) -> u64 {
        let held = self.records.len();
        self.records.retain(|_, record| record.is_live_at(before));
        self.order.retain(|(expires_at, _)| *expires_at > before);
        (held - self.records.len()) as u64
    }

    /// Stores `record`, replacing an expired one with the same key.
    pub(super) fn remember(&mut self, record: IdempotencyRecord) {
        let key = key_of(&record);
        self.order.push_back((record.expires_at, key.clone()));
        self.records.insert(key, record);
    }
}
