//! The transactional outbox: queueing an event inside the application's
//! own transaction.

use sqlx::PgConnection;

use super::PostgresStore;
use crate::error::Error;
use crate::model::{Payload, TenantId};
use crate::webhooks::{PreparedSend, Sent, Webhooks};

impl PostgresStore {
    /// [`Webhooks::send`] inside the caller's transaction: the event and its
    /// deliveries are written on `conn` and become visible, and are
    /// delivered, only if the caller commits. Roll back and they never
    /// existed. Dispatchers hear of them on commit.
    ///
    /// `webhooks` must be built over this store (or a clone of it): it checks
    /// the event type and finds the subscribers, reading committed data.
    ///
    /// ```no_run
    /// # async fn demo(
    /// #     store: hookshot::store::postgres::PostgresStore,
    /// #     webhooks: hookshot::Webhooks,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// let tenant = hookshot::model::TenantId::new("acme")?;
    /// let mut tx = store.pool().begin().await?;
    /// sqlx::query("UPDATE invoices SET paid = true WHERE id = 1")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// store
    ///     .send_in(&mut tx, &webhooks, &tenant, "invoice.paid", r#"{"id":1}"#, None)
    ///     .await?;
    /// tx.commit().await?; // the payment and its webhooks, together
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Webhooks::send`]. After an error the transaction may be unusable
    /// and should be rolled back.
    pub async fn send_in(
        &self,
        conn: &mut PgConnection,
        webhooks: &Webhooks,
        tenant: &TenantId,
        event_type: &str,
        payload: impl Into<Payload>,
        idempotency_key: Option<&str>,
    ) -> Result<Sent, Error> {
        let PreparedSend { write, reply } = webhooks
            .prepare_send(tenant, event_type, payload.into(), idempotency_key)
            .await?;
        let inserted = self
            .enqueue_on(conn, write.event, write.deliveries, write.record)
            .await?;
        reply.answer(inserted)
    }
}
