//! The transactional outbox: queueing an event inside the application's
//! own transaction.

use sqlx::PgConnection;

use super::{PostgresStore, backend};
use crate::error::Error;
use crate::model::sent::Sent;
use crate::store::prepared::PreparedSend;

impl PostgresStore {
    /// The second phase of a send, inside the caller's transaction: writes
    /// the event and the deliveries of `prepared` (and claims its
    /// idempotency key) on `conn`. They become visible, and are delivered,
    /// only if the caller commits; roll back and they never existed.
    /// Dispatchers in every process hear of them on commit.
    ///
    /// `prepared` must come from
    /// [`Webhooks::prepare_send`](crate::Webhooks::prepare_send) on a
    /// `Webhooks` built over this store's schema: it was checked against
    /// that catalog, and its deliveries go to that schema's endpoints.
    /// A send prepared over another store is refused with nothing written
    /// when its event type is not in this catalog or any of its endpoints
    /// is not in this schema, which one read on the pool finds out before
    /// writing. (Prepared elsewhere for an event type this catalog has too
    /// and nobody subscribed to, it would be written here with no
    /// deliveries.)
    ///
    /// ```no_run
    /// # async fn demo(
    /// #     store: hookshot::store::postgres::PostgresStore,
    /// #     webhooks: hookshot::Webhooks,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// let tenant = hookshot::model::TenantId::new("acme")?;
    /// // `webhooks` is built over `store`, or a clone of it.
    /// let prepared = webhooks
    ///     .prepare_send(&tenant, "invoice.paid", r#"{"id":1}"#, hookshot::SendOptions::new())
    ///     .await?;
    /// let mut tx = store.pool().begin().await?;
    /// sqlx::query("UPDATE invoices SET paid = true WHERE id = 1")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// let sent = store.enqueue_in(&mut tx, prepared).await?;
    /// tx.commit().await?; // the payment and its webhooks, together
    /// # let _ = sent;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a send prepared over another store;
    /// [`Error::Conflict`] if its idempotency key was used for a different
    /// request; [`Error::Backend`] if a statement fails. After an error the
    /// transaction may be unusable and should be rolled back.
    pub async fn enqueue_in(
        &self,
        conn: &mut PgConnection,
        prepared: PreparedSend,
    ) -> Result<Sent, Error> {
        self.refuse_foreign(&prepared).await?;
        let (write, answer) = prepared.into_write();
        let inserted = self
            .enqueue_on(conn, write.event, write.deliveries, write.idempotency)
            .await?;
        answer.answer(inserted)
    }

    /// Fails if `prepared` was evidently prepared over another store. The
    /// read runs on the pool, as the preparing did, rather than in the
    /// caller's transaction, whose snapshot may predate what the preparing
    /// saw.
    async fn refuse_foreign(&self, prepared: &PreparedSend) -> Result<(), Error> {
        let event = prepared.event();
        let endpoints: Vec<&str> = prepared
            .deliveries()
            .iter()
            .map(|d| d.endpoint_id.as_str())
            .collect();
        let (unknown_type, strangers): (bool, Vec<String>) =
            sqlx::query_as(&self.sql().foreign_to_schema)
                .bind(&*event.event_type)
                .bind(event.tenant.as_str())
                .bind(endpoints)
                .fetch_one(self.pool())
                .await
                .map_err(backend("checking a prepared send"))?;
        let foreign = |what: String| {
            Error::invalid(
                "prepared_send",
                format!(
                    "it was prepared by a Webhooks over another store: {what} in schema {}",
                    self.schema()
                ),
            )
        };
        if unknown_type {
            return Err(foreign(format!(
                "event type {:?} is not in the catalog",
                &*event.event_type
            )));
        }
        match strangers.first() {
            Some(endpoint) => Err(foreign(format!(
                "there is no endpoint {endpoint} of tenant {}",
                event.tenant
            ))),
            None => Ok(()),
        }
    }
}
