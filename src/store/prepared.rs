//! A send checked and built, waiting for its one store write.

use std::fmt;

use serde::de::DeserializeOwned;

use super::{IdempotencyRecord, Inserted};
use crate::error::{ConflictKind, Error};
use crate::model::sent::Sent;
use crate::model::{Delivery, Event};

/// An event that [`Webhooks::prepare_send`](crate::Webhooks::prepare_send)
/// checked and built, with a delivery to each subscribed endpoint, not yet
/// stored: the first of the two phases of a send.
///
/// The second phase writes it, all or nothing, and answers with [`Sent`]:
/// [`PostgresStore::enqueue_in`](crate::store::postgres::PostgresStore::enqueue_in)
/// does so inside the application's own transaction (a transactional
/// outbox). [`Webhooks::send`](crate::Webhooks::send) runs both phases,
/// writing through [`DeliveryStore::enqueue`](super::DeliveryStore::enqueue).
///
/// It is a snapshot of the moment it was prepared: its ids, its time and
/// its subscribers are those of then. Write it soon, and only to the store
/// the preparing [`Webhooks`](crate::Webhooks) was built over: that store's
/// catalog accepted its event type, and its deliveries go to that store's
/// endpoints.
///
/// `Debug` shows the event's id, tenant and type and how many deliveries
/// there are; never the payload.
pub struct PreparedSend {
    event: Event,
    deliveries: Vec<Delivery>,
    idempotency: Option<IdempotencyRecord>,
    /// What a record already holding the caller's key must match for its
    /// answer to be returned.
    fingerprint: String,
}

/// The arguments of [`super::DeliveryStore::enqueue`].
pub(crate) struct SendWrite {
    pub(crate) event: Event,
    pub(crate) deliveries: Vec<Delivery>,
    pub(crate) idempotency: Option<IdempotencyRecord>,
}

/// How to answer once the write is done.
pub(crate) struct SendAnswer {
    fingerprint: String,
    sent: Sent,
}

impl PreparedSend {
    pub(crate) fn new(
        event: Event,
        deliveries: Vec<Delivery>,
        idempotency: Option<IdempotencyRecord>,
        fingerprint: String,
    ) -> Self {
        Self {
            event,
            deliveries,
            idempotency,
            fingerprint,
        }
    }

    /// The event to store, with the body its deliveries will carry.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// One delivery per endpoint subscribed when it was prepared, in
    /// ascending endpoint order; none if nobody subscribes.
    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    pub(crate) fn into_write(self) -> (SendWrite, SendAnswer) {
        let sent = Sent {
            event_id: self.event.id.clone(),
            deliveries: self.deliveries.len(),
        };
        let write = SendWrite {
            event: self.event,
            deliveries: self.deliveries,
            idempotency: self.idempotency,
        };
        let answer = SendAnswer {
            fingerprint: self.fingerprint,
            sent,
        };
        (write, answer)
    }
}

impl fmt::Debug for PreparedSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedSend")
            .field("event_id", &self.event.id)
            .field("tenant", &self.event.tenant)
            .field("event_type", &self.event.event_type)
            .field("deliveries", &self.deliveries.len())
            .field("idempotent", &self.idempotency.is_some())
            .finish_non_exhaustive()
    }
}

impl SendAnswer {
    /// Whether the write, having reported `inserted`, queued anything.
    pub(crate) fn queued(&self, inserted: &Inserted) -> bool {
        matches!(inserted, Inserted::Created) && self.sent.deliveries > 0
    }

    /// The caller's answer once the store reported `inserted`.
    pub(crate) fn answer(self, inserted: Inserted) -> Result<Sent, Error> {
        inserted.answer(&self.fingerprint, self.sent)
    }
}

impl Inserted {
    /// The answer to a request with `fingerprint` whose store write reported
    /// `self`: the fresh answer, the first answer to an earlier request with
    /// the same key, or a conflict when that earlier request was a different
    /// one.
    pub(crate) fn answer<T: DeserializeOwned>(
        self,
        fingerprint: &str,
        fresh: T,
    ) -> Result<T, Error> {
        match self {
            Self::Created => Ok(fresh),
            Self::Existing(first) if first.fingerprint == fingerprint => {
                serde_json::from_str(&first.response).map_err(|e| {
                    Error::backend("stored idempotent response is unreadable", false, e)
                })
            }
            Self::Existing(_) => Err(Error::conflict(
                ConflictKind::IdempotencyKeyReused,
                "the idempotency key was already used for a different request",
            )),
        }
    }
}
