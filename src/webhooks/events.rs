//! Sending events and reading their delivery history.

use super::idempotency::{Idempotency, digest};
use super::{SendOptions, Webhooks};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::sent::Sent;
use crate::model::validate;
use crate::model::{
    Delivery, DeliveryDetail, DeliveryFilter, Event, Page, PageRequest, Payload, TenantId,
    render_body, validate_event_type_name,
};
use crate::store::prepared::PreparedSend;

const SEND_SCOPE: &str = "event.send";

impl Webhooks {
    /// Sends an event: stores it once and queues a delivery to every active
    /// endpoint of `tenant` subscribed to `event_type`, atomically.
    ///
    /// [`Webhooks::send_with`] takes [`SendOptions`], such as an idempotency
    /// key.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an event type not in the catalog, or a
    /// payload that is not JSON, is over the size limit or nests deeper
    /// than [`Payload::MAX_DEPTH`], with nothing stored.
    pub async fn send(
        &self,
        tenant: &TenantId,
        event_type: &str,
        payload: impl Into<Payload>,
    ) -> Result<Sent, Error> {
        self.send_with(tenant, event_type, payload, SendOptions::default())
            .await
    }

    /// [`Webhooks::send`] with `options`.
    ///
    /// With an [`idempotency_key`](SendOptions::idempotency_key), a retry
    /// within the idempotency window returns the first answer and queues
    /// nothing more.
    ///
    /// # Errors
    /// As [`Webhooks::send`], and [`Error::InvalidInput`] for a malformed key
    /// (field `idempotency_key`); [`Error::Conflict`] for a key used with a
    /// different event. Nothing is stored in either case.
    pub async fn send_with(
        &self,
        tenant: &TenantId,
        event_type: &str,
        payload: impl Into<Payload>,
        options: SendOptions,
    ) -> Result<Sent, Error> {
        let prepared = self
            .prepare_send(tenant, event_type, payload, options)
            .await?;
        let (write, answer) = prepared.into_write();
        let inserted = self
            .store
            .enqueue(write.event, write.deliveries, write.idempotency)
            .await?;
        if answer.queued(&inserted) {
            self.wakers.wake();
        }
        answer.answer(inserted)
    }

    /// The first phase of [`Webhooks::send`]: checks the send and builds
    /// the event and its deliveries (one per subscribed endpoint), storing
    /// nothing. The second phase writes the [`PreparedSend`] to the store
    /// this instance was built over, for instance inside the application's
    /// own transaction with
    /// [`PostgresStore::enqueue_in`](crate::store::postgres::PostgresStore::enqueue_in).
    ///
    /// It reads the catalog and the subscribers from this instance's store,
    /// so its result belongs to that store alone: written to another it
    /// would queue deliveries to endpoints that store does not have.
    /// `enqueue_in` refuses such a send when it can tell (see there).
    ///
    /// `options` are those of [`Webhooks::send_with`]; pass
    /// `SendOptions::new()` for none. With an
    /// [`idempotency_key`](SendOptions::idempotency_key), the key is claimed
    /// by the write, not here: the write of a retry within the idempotency
    /// window answers as the first did and stores nothing more.
    ///
    /// # Errors
    /// As [`Webhooks::send_with`], before anything is stored.
    pub async fn prepare_send(
        &self,
        tenant: &TenantId,
        event_type: &str,
        payload: impl Into<Payload>,
        options: SendOptions,
    ) -> Result<PreparedSend, Error> {
        // A `Payload` lets go of a deep value without recursion, whichever
        // check below refuses the send.
        let payload: Payload = payload.into();
        let idempotency_key = options.idempotency_key.as_deref();
        if let Some(key) = idempotency_key {
            validate::idempotency_key(key)?;
        }
        // A malformed name cannot be in the catalog; asking the store would
        // fail on one it cannot hold (a NUL, on PostgreSQL).
        validate_event_type_name(event_type, "event_type")?;
        // Read once: the catalog entry's group decides who subscribes.
        let Some(catalog_entry) = self.store.event_type(event_type).await? else {
            return Err(Error::invalid(
                "event_type",
                format!("{event_type:?} is not in the event-type catalog"),
            ));
        };
        let data = payload.into_json(self.config.max_payload_bytes)?;
        let now = self.clock.now();
        let claim = Idempotency {
            tenant,
            scope: SEND_SCOPE,
            key: idempotency_key,
            // Only compared when a key was reused.
            fingerprint: idempotency_key
                .map(|_| send_fingerprint(event_type, &data))
                .unwrap_or_default(),
            now,
        };
        let event = self.new_event(tenant, event_type, data, now);
        let deliveries: Vec<Delivery> = self
            .store
            .subscribers(tenant, &catalog_entry)
            .await?
            .into_iter()
            .map(|endpoint| Delivery::new(DeliveryId::generate(&self.ids, now), &event, endpoint))
            .collect();
        let sent = Sent {
            event_id: event.id.clone(),
            deliveries: deliveries.len(),
        };
        let record = self.idempotency_record(&claim, &sent)?;
        Ok(PreparedSend::new(
            event,
            deliveries,
            record,
            claim.fingerprint,
        ))
    }

    /// Runs `waker` after every `send` that queued deliveries, for as long
    /// as it returns `true`: a worker delivering in this process registers
    /// here to start on new work at once, until it stops.
    pub fn on_send(&self, waker: crate::store::Wake) {
        self.wakers.add(waker);
    }

    /// An event of `tenant` carrying `data` (checked JSON), made `now` with
    /// this instance's ids and envelope setting, and not stored: `send`
    /// stores it, while a caller sending it outside the queue need not.
    pub(crate) fn new_event(
        &self,
        tenant: &TenantId,
        event_type: &str,
        data: String,
        now: Timestamp,
    ) -> Event {
        Event {
            id: EventId::generate(&self.ids, now),
            tenant: tenant.clone(),
            event_type: event_type.into(),
            body: render_body(self.config.envelope, event_type, now, data).into(),
            created_at: now,
        }
    }

    /// The event `id` of `tenant`, with the body its deliveries carry.
    ///
    /// # Errors
    /// [`Error::NotFound`] if it does not exist for `tenant`.
    pub async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Event, Error> {
        self.store
            .event(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("event", id.as_str()))
    }

    /// A page of `tenant`'s deliveries, newest first.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a limit outside 1 to 250, or a filter
    /// whose event type is not an event-type name (field `event_type`).
    pub async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Page<Delivery>, Error> {
        page.validate()?;
        validate::filter_event_type(filter.event_type.as_deref())?;
        let rows = self.store.list_deliveries(tenant, filter, page).await?;
        Ok(Page::from_rows(page, rows, |d| d.id.as_str()))
    }

    /// One delivery with its attempts and its event.
    ///
    /// # Errors
    /// [`Error::NotFound`] if it does not exist for `tenant`.
    pub async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<DeliveryDetail, Error> {
        let not_found = || Error::not_found("delivery", id.as_str());
        let delivery = self
            .store
            .delivery(tenant, id)
            .await?
            .ok_or_else(not_found)?;
        let attempt_log = self.store.attempts(tenant, id).await?;
        let event = self
            .store
            .event(tenant, &delivery.event_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(DeliveryDetail {
            delivery,
            attempt_log,
            event,
        })
    }

    /// Queues one delivery for an attempt now, by hand, whatever its status
    /// (a delivered one is sent again). Other deliveries keep their
    /// schedules. Returns the delivery, now `pending`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if it does not exist for `tenant`;
    /// [`Error::Conflict`] while an attempt is in flight.
    pub async fn retry_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Delivery, Error> {
        self.store.requeue(tenant, id, self.clock.now()).await
    }

    /// Queues again every failed delivery of `tenant` (to `endpoint` only,
    /// if given) created at or after `since`, and returns how many: a replay
    /// after an outage.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an endpoint that does not exist for `tenant`.
    pub async fn retry_failed(
        &self,
        tenant: &TenantId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
    ) -> Result<u64, Error> {
        if let Some(id) = endpoint {
            self.endpoint(tenant, id).await?;
        }
        self.store
            .requeue_failed(tenant, endpoint, since, self.clock.now())
            .await
    }
}

/// Two sends are the same request when the type and the payload text are.
fn send_fingerprint(event_type: &str, data: &str) -> String {
    digest(&[event_type.as_bytes(), b"\0", data.as_bytes()])
}
