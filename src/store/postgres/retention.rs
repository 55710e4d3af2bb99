//! Removing old history.

use super::{PostgresStore, backend};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::store::Purged;

/// Rows deleted per statement, so that purging a large backlog never holds
/// many locks or one long transaction.
const BATCH: i64 = 5_000;

const PURGING: &str = "taking the purge lock";

impl PostgresStore {
    /// [`DeliveryStore::purge_finished`](crate::store::DeliveryStore::purge_finished),
    /// deleting in batches, by one process at a time: every dispatcher with
    /// `keep_history` purges, and one is enough. The others find the
    /// schema's purge lock taken and leave the work to its holder.
    pub(super) async fn purge(&self, before: Timestamp) -> Result<Purged, Error> {
        // A session lock on a connection of its own: it is released when
        // the purge ends, or by the server if this process dies meanwhile.
        let mut lock = self.pool().acquire().await.map_err(backend(PURGING))?;
        let key = format!("hookshot.purge.{}", self.schema());
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(&key)
            .fetch_one(&mut *lock)
            .await
            .map_err(backend(PURGING))?;
        if !locked {
            return Ok(Purged {
                left_to_another_process: true,
                ..Purged::default()
            });
        }
        let purged = self.purge_unlocked(before).await;
        let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
            .bind(&key)
            .execute(&mut *lock)
            .await;
        if unlocked.is_err() {
            // The lock must not outlive this purge on a pooled connection.
            lock.detach();
        }
        purged
    }

    async fn purge_unlocked(&self, before: Timestamp) -> Result<Purged, Error> {
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
            left_to_another_process: false,
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
