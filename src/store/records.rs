//! The rules every backend follows, in one place: when a delivery is due,
//! how a claim, a lease's renewal, a release, a manual retry or an ended
//! queue changes it, and what an endpoint update may not change.
//!
//! A backend keeps a [`DeliveryRecord`] per delivery and calls its methods;
//! it decides nothing itself, so a backend you write is storage, not policy.
//! The Postgres backend runs the same transitions as SQL, and the
//! conformance suite checks it against these methods.

use crate::clock::Timestamp;
use crate::error::{ConflictKind, Error};
use crate::id::{DeliveryId, EndpointId};
use crate::model::{Delivery, DeliveryStatus, StoredEndpoint, TenantId};

use super::{EndpointChange, IdempotencyRecord, Lease};

/// A delivery as a backend keeps it: the delivery, and the lease a worker
/// holds on it while an attempt is in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    delivery: Delivery,
    /// Boxed: most deliveries are not leased, and a pending one should cost
    /// as little memory as possible.
    held: Option<Box<Held>>,
}

/// A worker's hold on a delivery, and what the delivery was before it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    /// The lease as claimed. Renewals leave it as it is, so the worker's
    /// copy still names it when the attempt is recorded.
    lease: Lease,
    /// When the hold ends: the lease's `expires_at`, or later once renewed.
    until: Timestamp,
    status_before: DeliveryStatus,
}

impl DeliveryRecord {
    /// The record of a delivery just queued (or read back unleased).
    pub fn new(delivery: Delivery) -> Self {
        Self {
            delivery,
            held: None,
        }
    }

    /// The delivery as it stands.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The lease held on it, if any (expired or not), as claimed: when the
    /// hold ends after renewals is [`DeliveryRecord::due_at`].
    pub fn lease(&self) -> Option<&Lease> {
        self.held.as_ref().map(|held| &held.lease)
    }

    /// When it can next be claimed: a leased delivery when its lease ends
    /// (renewals included), a queued one when its next attempt is due;
    /// `None` once final.
    pub fn due_at(&self) -> Option<Timestamp> {
        match &self.held {
            Some(held) => Some(held.until),
            None if self.delivery.status.is_queued() => self.delivery.next_attempt_at,
            None => None,
        }
    }

    /// Whether a claim at `now` may take it.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.due_at().is_some_and(|at| at <= now)
    }

    /// When a final, unleased delivery was last active (its last attempt,
    /// or its creation if it never had one): what purging goes by.
    pub fn finished_at(&self) -> Option<Timestamp> {
        let delivery = &self.delivery;
        (self.held.is_none() && delivery.status.is_final())
            .then(|| delivery.last_attempt_at.unwrap_or(delivery.created_at))
    }

    /// Whether `lease` is the one held now: the lease a claim returned,
    /// however often it was renewed since, and not yet finished, released
    /// or taken over.
    pub fn holds(&self, lease: &Lease) -> bool {
        self.lease() == Some(lease)
    }

    /// Leases the delivery to `worker` until `lease_until` and marks it
    /// `delivering`; returns the lease. Call it only on a due record.
    ///
    /// A lease that ran out means its worker is gone: the delivery keeps the
    /// status it had before that claim, to return to on release.
    pub fn claim(&mut self, worker: &str, lease_until: Timestamp) -> Lease {
        let lease = Lease::new(self.delivery.id.clone(), worker, lease_until);
        let status_before = match self.held.take() {
            Some(expired) => expired.status_before,
            None => self.delivery.status,
        };
        self.held = Some(Box::new(Held {
            lease: lease.clone(),
            until: lease_until,
            status_before,
        }));
        self.delivery.status = DeliveryStatus::Delivering;
        lease
    }

    /// Extends the hold of `lease` to `until`, because its worker is still
    /// attempting the delivery; returns whether `lease` still held. A
    /// renewal never shortens a hold, and leaves the lease itself (its
    /// `expires_at` included) as claimed, so that its worker records the
    /// attempt with the copy it has.
    ///
    /// A lease that ran out but was not taken over still holds, as it does
    /// for [`DeliveryRecord::finish`]: nobody else attempts the delivery.
    pub fn renew(&mut self, lease: &Lease, until: Timestamp) -> bool {
        if !self.holds(lease) {
            return false;
        }
        if let Some(held) = self.held.as_mut() {
            held.until = held.until.max(until);
        }
        true
    }

    /// Stores the outcome of the attempt made under `lease`: `delivery` is
    /// its new state, and the lease is dropped. Returns `false`, changing
    /// nothing, if another worker has taken the delivery over.
    pub fn finish(&mut self, lease: &Lease, delivery: Delivery) -> bool {
        if !self.holds(lease) {
            return false;
        }
        self.held = None;
        self.delivery = delivery;
        true
    }

    /// Gives the delivery back without an attempt: due again at `now` with
    /// its status from before the claim. Returns `false`, changing nothing,
    /// if `lease` no longer holds.
    pub fn release(&mut self, lease: &Lease, now: Timestamp) -> bool {
        if !self.holds(lease) {
            return false;
        }
        if let Some(held) = self.held.take() {
            self.delivery.status = held.status_before;
            self.delivery.next_attempt_at = Some(now);
        }
        true
    }

    /// Queues the delivery for an attempt by hand at `now`, whatever its
    /// status ([`Delivery::queue_manual`]); an expired lease is dropped.
    ///
    /// # Errors
    /// [`Error::Conflict`] ([`ConflictKind::DeliveryInFlight`]) while a
    /// lease is live at `now`, with nothing changed.
    pub fn requeue(&mut self, now: Timestamp) -> Result<&Delivery, Error> {
        if self.held.as_ref().is_some_and(|held| held.until > now) {
            return Err(Error::conflict(
                ConflictKind::DeliveryInFlight,
                format!("delivery {} is being attempted right now", self.delivery.id),
            ));
        }
        self.held = None;
        self.delivery.queue_manual(now);
        Ok(&self.delivery)
    }

    /// Whether `requeue_failed` with these arguments takes this delivery:
    /// failed, created at or after `since`, to `endpoint` if one is given.
    pub fn is_failed_since(&self, since: Timestamp, endpoint: Option<&EndpointId>) -> bool {
        let d = &self.delivery;
        d.status == DeliveryStatus::Failed
            && d.created_at >= since
            && endpoint.is_none_or(|e| *e == d.endpoint_id)
    }

    /// Ends a queued (`pending` or `retrying`) delivery with `reason`
    /// ([`Delivery::fail`]); returns whether it was queued. A leased one is
    /// left to its worker, who finds the endpoint gone.
    pub fn fail_if_queued(&mut self, reason: &str) -> bool {
        if self.held.is_some() || !self.delivery.status.is_queued() {
            return false;
        }
        self.delivery.fail(reason);
        true
    }

    /// Whether it belongs to `tenant` and has id `id`.
    pub fn is(&self, tenant: &TenantId, id: &DeliveryId) -> bool {
        self.delivery.tenant == *tenant && self.delivery.id == *id
    }
}

/// Applies `change` to a copy of `current`, the live endpoint `id` of
/// `tenant`, and returns the copy to store. The caller stores nothing when
/// this fails.
///
/// # Errors
/// Whatever `change` returns; [`Error::InvalidInput`] if it altered the id
/// or the tenant.
pub fn apply_endpoint_change(
    current: &StoredEndpoint,
    tenant: &TenantId,
    id: &EndpointId,
    change: EndpointChange<'_>,
) -> Result<StoredEndpoint, Error> {
    let mut updated = current.clone();
    change(&mut updated)?;
    if updated.endpoint.id != *id || updated.endpoint.tenant != *tenant {
        return Err(Error::invalid(
            "endpoint",
            "an update may not change the id or tenant",
        ));
    }
    Ok(updated)
}

impl IdempotencyRecord {
    /// Whether `other` is for the same tenant, scope and key: one of them
    /// replaces the other.
    pub fn same_key(&self, other: &Self) -> bool {
        self.tenant == other.tenant && self.scope == other.scope && self.key == other.key
    }

    /// Whether this stored record answers `incoming` instead of storing it:
    /// same key, and still live when `incoming` was made.
    pub fn answers(&self, incoming: &Self) -> bool {
        self.same_key(incoming) && self.is_live_at(incoming.created_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{EventId, IdGenerator};
    use crate::model::Event;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_millis(secs * 1000)
    }

    fn queued() -> DeliveryRecord {
        let ids = IdGenerator::default();
        let event = Event {
            id: EventId::generate(&ids, at(0)),
            tenant: TenantId::new("acme").unwrap(),
            event_type: "invoice.paid".into(),
            body: "{}".into(),
            created_at: at(0),
        };
        let endpoint = EndpointId::generate(&ids, at(0));
        DeliveryRecord::new(Delivery::new(
            DeliveryId::generate(&ids, at(0)),
            &event,
            endpoint,
        ))
    }

    #[test]
    fn a_claim_leases_and_a_release_restores() {
        let mut record = queued();
        assert!(record.is_due(at(0)));
        let lease = record.claim("w1", at(30));
        assert_eq!(record.delivery().status, DeliveryStatus::Delivering);
        assert_eq!(record.due_at(), Some(at(30)));
        assert!(!record.is_due(at(29)));
        assert!(record.release(&lease, at(5)));
        assert_eq!(record.delivery().status, DeliveryStatus::Pending);
        assert_eq!(record.due_at(), Some(at(5)));
        assert!(!record.release(&lease, at(6)), "a lease releases once");
    }

    #[test]
    fn a_takeover_keeps_the_status_from_before_the_first_claim() {
        let mut record = queued();
        let first = record.claim("w1", at(30));
        let second = record.claim("w2", at(60));
        assert!(!record.finish(&first, record.delivery().clone()));
        assert!(record.release(&second, at(61)));
        assert_eq!(record.delivery().status, DeliveryStatus::Pending);
    }

    #[test]
    fn a_renewal_extends_the_hold_and_keeps_the_lease() {
        let mut record = queued();
        let lease = record.claim("w1", at(30));
        assert!(record.renew(&lease, at(50)));
        assert_eq!(record.due_at(), Some(at(50)), "due when the renewal ends");
        assert!(!record.is_due(at(40)));
        assert!(record.renew(&lease, at(45)), "still held");
        assert_eq!(record.due_at(), Some(at(50)), "a renewal never shortens");
        assert!(
            matches!(record.requeue(at(40)), Err(Error::Conflict { .. })),
            "live until the renewal ends"
        );
        assert!(record.holds(&lease), "the lease is the one claimed");

        let takeover = record.claim("w2", at(80));
        assert!(!record.renew(&lease, at(90)), "taken over");
        assert_eq!(record.due_at(), Some(at(80)));
        assert!(record.finish(&takeover, record.delivery().clone()));
        assert!(!record.renew(&takeover, at(90)), "finished");
        assert_eq!(record.due_at(), None);
    }

    #[test]
    fn requeue_waits_for_a_live_lease_and_fail_leaves_leased_ones() {
        let mut record = queued();
        record.claim("w1", at(30));
        assert!(!record.fail_if_queued("endpoint deleted"));
        match record.requeue(at(10)) {
            Err(Error::Conflict {
                kind: ConflictKind::DeliveryInFlight,
                ..
            }) => {}
            other => panic!("expected DeliveryInFlight, got {other:?}"),
        }
        let requeued = record.requeue(at(31)).unwrap();
        assert_eq!(requeued.status, DeliveryStatus::Pending);
        assert_eq!(record.lease(), None);
        assert!(record.fail_if_queued("endpoint deleted"));
        assert_eq!(record.delivery().status, DeliveryStatus::Failed);
        assert_eq!(record.finished_at(), Some(at(0)));
        assert!(record.is_failed_since(at(0), None));
        assert!(!record.is_failed_since(at(1), None));
    }
}
