//! Removing old history.

use super::{PostgresStore, backend};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::store::Purged;

/// Rows deleted per statement, so that purging a large backlog never holds
/// many locks or one long transaction.
const BATCH: i64 = 5_000;

impl PostgresStore {
    /// [`DeliveryStore::purge_finished`](crate::store::DeliveryStore::purge_finished),
    /// deleting in batches.
    pub(super) async fn purge(&self, before: Timestamp) -> Result<Purged, Error> {
        let sql = self.sql();
        Ok(Purged {
            deliveries: self
                .delete_in_batches(&sql.purge_deliveries, before)
                .await?,
            events: self.delete_in_batches(&sql.purge_events, before).await?,
            idempotency_records: sqlx::query(&sql.purge_idempotency)
                .bind(before.unix_millis())
                .execute(self.pool())
                .await
                .map_err(backend("purging idempotency records"))?
                .rows_affected(),
        })
    }

    async fn delete_in_batches(&self, statement: &str, before: Timestamp) -> Result<u64, Error> {
        let mut total = 0;
        loop {
            let deleted = sqlx::query(statement)
                .bind(before.unix_millis())
                .bind(BATCH)
                .execute(self.pool())
                .await
                .map_err(backend("purging finished deliveries"))?
                .rows_affected();
            total += deleted;
            if deleted < BATCH.unsigned_abs() {
                return Ok(total);
            }
        }
    }
}
