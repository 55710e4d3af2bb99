//! Events and deliveries queued by hand, and what a dispatcher's worker does
//! with them: claim, attempt, record the outcome.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::id::DeliveryId;
use crate::model::{Attempt, AttemptOutcome, Delivery, DeliveryStatus, Event, TenantId, Trigger};
use crate::store::{Claim, Inserted, Store};

use super::fixtures::START;
use super::raw_records::{numbered_id, raw_endpoint_id};

/// How long the leases of these cases last.
pub(super) const LEASE: Duration = Duration::from_secs(30);
/// When a fixture's failed attempt schedules the next one.
pub(super) const RETRY_AFTER: Duration = Duration::from_secs(60);
const EXHAUSTED: &str = "retries exhausted";

/// Claims what is due at `now` for `worker`, leased until `now + LEASE`.
pub(super) async fn claim_at(
    store: &Arc<dyn Store>,
    worker: &str,
    now: Timestamp,
    limit: usize,
) -> Vec<Claim> {
    store
        .claim_due(worker, now, now.saturating_add(LEASE), limit)
        .await
        .unwrap_or_else(|e| panic!("claim_due for {worker} at {now} failed: {e}"))
}

/// Claims exactly one delivery due at `now`.
pub(super) async fn claim_one(store: &Arc<dyn Store>, worker: &str, now: Timestamp) -> Claim {
    let mut claims = claim_at(store, worker, now, 10).await;
    assert_eq!(claims.len(), 1, "claims at {now}: {claims:?}");
    claims.remove(0)
}

pub(super) fn claimed_ids(claims: &[Claim]) -> Vec<DeliveryId> {
    claims.iter().map(|c| c.delivery.id.clone()).collect()
}

pub(super) async fn stored_delivery(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    id: &DeliveryId,
) -> Option<Delivery> {
    store
        .delivery(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("reading delivery {id} failed: {e}"))
}

pub(super) async fn attempts_of(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    id: &DeliveryId,
) -> Vec<Attempt> {
    store
        .attempts(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("reading the attempts at {id} failed: {e}"))
}

pub(super) async fn next_due(store: &Arc<dyn Store>) -> Option<Timestamp> {
    store
        .next_due()
        .await
        .unwrap_or_else(|e| panic!("next_due failed: {e}"))
}

/// Delivery ids `ns`.
pub(super) fn delivery_ids(ns: &[u32]) -> Vec<DeliveryId> {
    ns.iter().map(|n| numbered_id("dlv_", *n)).collect()
}

/// Event `n` of `tenant`, sent at [`START`].
pub(super) fn raw_event(tenant: &TenantId, n: u32) -> Event {
    Event {
        id: numbered_id("msg_", n),
        tenant: tenant.clone(),
        event_type: "invoice.paid".into(),
        body: format!(r#"{{"n":{n}}}"#).into(),
        created_at: START,
    }
}

/// Delivery `n` of `event`, to endpoint `n`, due at `due`.
pub(super) fn raw_delivery(event: &Event, n: u32, due: Timestamp) -> Delivery {
    let mut delivery = Delivery::new(numbered_id("dlv_", n), event, raw_endpoint_id(n));
    delivery.next_attempt_at = Some(due);
    delivery
}

/// Stores event `n` of `tenant` with one delivery per `(number, due)`.
pub(super) async fn enqueue_raw(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    n: u32,
    dues: &[(u32, Timestamp)],
) -> Event {
    let event = raw_event(tenant, n);
    let deliveries = dues
        .iter()
        .map(|(d, due)| raw_delivery(&event, *d, *due))
        .collect();
    let inserted = store
        .enqueue(event.clone(), deliveries, None)
        .await
        .unwrap_or_else(|e| panic!("enqueuing event {n} failed: {e}"));
    assert_eq!(inserted, Inserted::Created, "enqueuing event {n}");
    event
}

/// How a fixture's attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttemptEnd {
    /// 2xx.
    Delivered,
    /// 503, another attempt [`RETRY_AFTER`] later.
    Retrying,
    /// 503, no attempt left.
    Failed,
    /// Still in flight: the claim is kept.
    Held,
}

/// The attempt at `claimed`, started at `at` and ending as `end`, and the
/// delivery's state after it, as a worker would record them.
pub(super) fn attempt_record(
    claimed: &Delivery,
    end: AttemptEnd,
    at: Timestamp,
) -> (Attempt, Delivery) {
    let status = if end == AttemptEnd::Delivered {
        200
    } else {
        503
    };
    let attempt = Attempt {
        delivery_id: claimed.id.clone(),
        number: claimed.attempts + 1,
        trigger: claimed.next_trigger,
        started_at: at,
        duration: Duration::from_millis(120),
        outcome: AttemptOutcome::Response {
            status,
            body: format!("answered {status}"),
            body_truncated: false,
        },
    };
    let mut next = claimed.clone();
    next.attempts += 1;
    next.scheduled_attempts += u32::from(claimed.next_trigger == Trigger::Scheduled);
    next.next_trigger = Trigger::Scheduled;
    next.last_attempt_at = Some(at);
    next.last_response_status = Some(status);
    match end {
        AttemptEnd::Delivered => {
            next.status = DeliveryStatus::Delivered;
            next.next_attempt_at = None;
        }
        AttemptEnd::Retrying => {
            next.status = DeliveryStatus::Retrying;
            next.next_attempt_at = Some(at.saturating_add(RETRY_AFTER));
        }
        AttemptEnd::Failed => next.fail(EXHAUSTED),
        AttemptEnd::Held => panic!("an attempt still in flight has no result"),
    }
    (attempt, next)
}

/// Records the end of the attempt at `claim` under its lease, which must be
/// accepted; returns what was recorded.
pub(super) async fn finish_claim(
    store: &Arc<dyn Store>,
    claim: &Claim,
    end: AttemptEnd,
    at: Timestamp,
) -> (Attempt, Delivery) {
    let (attempt, next) = attempt_record(&claim.delivery, end, at);
    let recorded = store
        .finish_attempt(&claim.lease, attempt.clone(), next.clone())
        .await
        .unwrap_or_else(|e| panic!("finishing {} failed: {e}", claim.delivery.id));
    assert!(
        recorded,
        "finishing {} under its live lease was refused",
        claim.delivery.id
    );
    (attempt, next)
}

/// Claims everything due at `at` and ends each attempt as `plan` says;
/// returns the claims left [`AttemptEnd::Held`].
pub(super) async fn attempt_everything_due(
    store: &Arc<dyn Store>,
    at: Timestamp,
    plan: impl Fn(&Delivery) -> AttemptEnd,
) -> Vec<Claim> {
    let mut held = Vec::new();
    for claim in claim_at(store, "fixture", at, 1_000).await {
        match plan(&claim.delivery) {
            AttemptEnd::Held => held.push(claim),
            end => {
                finish_claim(store, &claim, end, at).await;
            }
        }
    }
    held
}
