//! Removing old history.

use std::time::Duration;

use super::{PostgresStore, backend};
use crate::clock::{Clock, Timestamp};
use crate::error::Error;

/// Rows deleted per statement, so that purging a large backlog never holds
/// many locks or one long transaction.
const BATCH: i64 = 5_000;

/// What [`PostgresStore::purge_finished`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Delivered or failed deliveries, with their attempts.
    pub deliveries: u64,
    /// Events none of whose deliveries remain, with their payloads.
    pub events: u64,
    /// Expired idempotency records.
    pub idempotency_records: u64,
}

impl PostgresStore {
    /// Deletes deliveries that are final (delivered or failed) and whose
    /// last attempt (or creation, if never attempted) is before `before`,
    /// with their attempts; then events created before `before` that have no
    /// delivery left, with their payloads; then idempotency records expired
    /// by `before`. Queued and leased deliveries are never touched.
    ///
    /// # Errors
    /// [`Error::Backend`] if a statement fails; what was deleted before it
    /// stays deleted.
    pub async fn purge_finished(&self, before: Timestamp) -> Result<Purged, Error> {
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

    /// Runs [`PostgresStore::purge_finished`] every `every`, removing history
    /// older than `keep`, until the returned task is aborted. Failures are
    /// retried at the next round: the rows are still there.
    pub fn spawn_retention(
        &self,
        clock: std::sync::Arc<dyn Clock>,
        keep: Duration,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut rounds = tokio::time::interval(every);
            loop {
                rounds.tick().await;
                let _ = store.purge_finished(clock.now().saturating_sub(keep)).await;
            }
        })
    }
}
