//! The delivery queue, called directly as a dispatcher does: claims,
//! leases, recorded attempts, releases, what is due next, and atomic
//! enqueues.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::clock::Timestamp;
use crate::id::DeliveryId;
use crate::model::{
    Attempt, AttemptOutcome, Delivery, DeliveryDetail, DeliveryStatus, Event, TenantId,
};
use crate::store::{Claim, IdempotencyRecord, Inserted, Lease, Store};

use super::fixtures::{HOUR, MS, SECOND, START, sorted, start_plus};
use super::harness::Harness;
use super::raw_records::{idempotency_record, numbered_id};
use super::worker::{
    AttemptEnd, LEASE, RETRY_AFTER, attempt_record, attempts_of, claim_at, claim_one, claimed_ids,
    delivery_ids, enqueue_raw, finish_claim, next_due, raw_delivery, raw_event, stored_delivery,
};
/// The moment `n` seconds after [`START`].
fn at_second(n: u64) -> Timestamp {
    start_plus(Duration::from_secs(n))
}

/// Each claim is `delivering` as stored, carries `event`, and is leased to
/// `worker` until `now + LEASE`.
async fn check_claims(
    store: &Arc<dyn Store>,
    claims: &[Claim],
    event: &Event,
    worker: &str,
    now: Timestamp,
) {
    for claim in claims {
        let id = &claim.delivery.id;
        let status = claim.delivery.status;
        assert_eq!(status, DeliveryStatus::Delivering, "{id} as claimed");
        let stored = stored_delivery(store, &event.tenant, id).await;
        assert_eq!(stored.as_ref(), Some(&claim.delivery), "{id} as stored");
        assert_eq!(&claim.event, event, "the event of {id}");
        let lease = Lease {
            delivery_id: id.clone(),
            worker: worker.to_owned(),
            expires_at: now.saturating_add(LEASE),
        };
        assert_eq!(claim.lease, lease, "the lease on {id}");
    }
}

/// Only due deliveries are claimed, the longest overdue first, at most
/// `limit`, and none twice while its lease holds.
pub async fn claim_due_takes_due_deliveries_oldest_first(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let dues = [
        (1, at_second(3)),
        (2, at_second(1)),
        (3, at_second(6)),
        (4, at_second(2)),
        (5, at_second(4)),
    ];
    let event = enqueue_raw(s, t, 1, &dues).await;
    let first = claim_at(s, "w1", at_second(4), 2).await;
    assert_eq!(
        claimed_ids(&first),
        delivery_ids(&[2, 4]),
        "the two longest overdue"
    );
    check_claims(s, &first, &event, "w1", at_second(4)).await;
    let rest = claim_at(s, "w2", at_second(4), 10).await;
    assert_eq!(
        claimed_ids(&rest),
        delivery_ids(&[1, 5]),
        "the rest of what is due"
    );
    check_claims(s, &rest, &event, "w2", at_second(4)).await;
    let none = claim_at(s, "w3", at_second(6).saturating_sub(MS), 10).await;
    assert!(none.is_empty(), "claimed while leased or not due: {none:?}");
    let last = claim_at(s, "w3", at_second(6), 10).await;
    assert_eq!(claimed_ids(&last), delivery_ids(&[3]), "due exactly now");
}

/// Once a lease has run out, another worker claims the delivery.
pub async fn claim_due_again_after_lease_expiry(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let event = enqueue_raw(s, t, 1, &[(1, START), (2, START)]).await;
    let first = claim_at(s, "w1", START, 10).await;
    assert_eq!(
        claimed_ids(&first),
        delivery_ids(&[1, 2]),
        "the first claim"
    );
    let expiry = START.saturating_add(LEASE);
    let early = claim_at(s, "w2", expiry.saturating_sub(MS), 10).await;
    assert!(early.is_empty(), "claimed under a live lease: {early:?}");
    let again = claim_at(s, "w2", expiry, 10).await;
    assert_eq!(
        claimed_ids(&again),
        delivery_ids(&[1, 2]),
        "claimed after the lease"
    );
    check_claims(s, &again, &event, "w2", expiry).await;
    let third = claim_at(s, "w3", expiry, 10).await;
    assert!(third.is_empty(), "claimed under the new lease: {third:?}");
    let released_at = expiry.saturating_add(SECOND);
    s.release(&again[0].lease, released_at)
        .await
        .expect("release");
    // Pending as before the first claim, not `delivering` from the lapsed one.
    check_released(s, &again[0], DeliveryStatus::Pending, released_at).await;
}

/// A worker claiming up to 7 at a time until nothing is due; what it got.
fn spawn_claimer(
    store: Arc<dyn Store>,
    worker: String,
    barrier: Arc<Barrier>,
    total: usize,
) -> JoinHandle<Vec<DeliveryId>> {
    tokio::spawn(async move {
        barrier.wait().await;
        let mut got = Vec::new();
        loop {
            let claims = claim_at(&store, &worker, START, 7).await;
            if claims.is_empty() {
                return got;
            }
            got.extend(claimed_ids(&claims));
            assert!(got.len() <= total, "{worker} claimed more than there is");
            tokio::task::yield_now().await;
        }
    })
}

/// Eight workers claiming 200 due deliveries at once claim each exactly
/// once.
pub async fn concurrent_claims_never_share_a_delivery(store: Arc<dyn Store>) {
    const CLAIMERS: usize = 8;
    const PER_EVENT: u32 = 20;
    let h = Harness::new(store).await;
    let mut expected = Vec::new();
    for e in 0..10 {
        let dues: Vec<(u32, Timestamp)> =
            (0..PER_EVENT).map(|d| (e * PER_EVENT + d, START)).collect();
        enqueue_raw(h.store(), &h.tenant, e, &dues).await;
        expected.extend(
            dues.iter()
                .map(|(n, _)| numbered_id::<DeliveryId>("dlv_", *n)),
        );
    }
    let barrier = Arc::new(Barrier::new(CLAIMERS));
    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|w| {
            let (store, barrier) = (Arc::clone(h.store()), Arc::clone(&barrier));
            spawn_claimer(store, format!("w{w}"), barrier, expected.len())
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.expect("a claimer panicked"));
    }
    assert_eq!(all.len(), expected.len(), "claims made");
    assert_eq!(sorted(all), expected, "every delivery claimed exactly once");
}

/// finish_attempt under the live lease stores the new state, appends the
/// attempt (oldest first) and drops the lease.
pub async fn finish_attempt_stores_state_and_attempts(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let event = enqueue_raw(s, t, 1, &[(1, START), (2, START)]).await;
    let id = &delivery_ids(&[1])[0];
    let first = claim_at(s, "w1", START, 1).await;
    assert_eq!(claimed_ids(&first), delivery_ids(&[1]), "the first claim");
    let (a1, retrying) = finish_claim(s, &first[0], AttemptEnd::Retrying, START).await;
    assert_eq!(stored_delivery(s, t, id).await, Some(retrying), "retrying");
    assert_eq!(
        attempts_of(s, t, id).await,
        std::slice::from_ref(&a1),
        "one attempt"
    );

    let due = START.saturating_add(RETRY_AFTER);
    let sibling = claim_at(s, "w1", due.saturating_sub(MS), 10).await;
    assert_eq!(
        claimed_ids(&sibling),
        delivery_ids(&[2]),
        "before the retry is due"
    );
    let second = claim_one(s, "w2", due).await;
    let (a2, delivered) = finish_claim(s, &second, AttemptEnd::Delivered, due).await;
    let detail = h.webhooks.delivery(t, id).await.expect("the delivery");
    let expected = DeliveryDetail {
        delivery: delivered,
        attempt_log: vec![a1, a2],
        event,
    };
    assert_eq!(detail, expected, "the delivery, its attempts and its event");

    let (a3, again) = attempt_record(&second.delivery, AttemptEnd::Failed, due);
    let reused = s.finish_attempt(&second.lease, a3, again).await;
    assert!(!reused.expect("finish"), "a lease recorded twice");
    assert_eq!(attempts_of(s, t, id).await.len(), 2, "attempts after reuse");
    let later = claim_at(s, "w3", start_plus(HOUR), 10).await;
    assert_eq!(
        claimed_ids(&later),
        delivery_ids(&[2]),
        "a delivered delivery is claimed"
    );
}

/// A worker whose lease was taken over records nothing and releases
/// nothing; the new holder records.
pub async fn finish_attempt_after_takeover_is_refused(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    enqueue_raw(s, t, 1, &[(1, START)]).await;
    let id = &delivery_ids(&[1])[0];
    let stale = claim_one(s, "w1", START).await;
    let takeover = START.saturating_add(LEASE);
    let live = claim_one(s, "w2", takeover).await;
    let late = takeover.saturating_add(SECOND);
    let (attempt, next) = attempt_record(&stale.delivery, AttemptEnd::Delivered, late);
    let recorded = s.finish_attempt(&stale.lease, attempt, next).await;
    assert!(!recorded.expect("finish"), "a taken-over lease recorded");
    s.release(&stale.lease, late).await.expect("release");
    let stored = stored_delivery(s, t, id).await;
    assert_eq!(
        stored,
        Some(live.delivery.clone()),
        "after the stale worker"
    );
    assert!(
        attempts_of(s, t, id).await.is_empty(),
        "a stale attempt kept"
    );
    let freed = claim_at(s, "w3", late, 10).await;
    assert!(freed.is_empty(), "a stale release freed it: {freed:?}");
    let (attempt, delivered) = finish_claim(s, &live, AttemptEnd::Delivered, late).await;
    assert_eq!(stored_delivery(s, t, id).await, Some(delivered), "recorded");
    assert_eq!(attempts_of(s, t, id).await, [attempt], "the new holder's");
}

/// After release, the delivery as claimed but back in `status`, due at `at`;
/// the released lease records nothing.
async fn check_released(
    store: &Arc<dyn Store>,
    claim: &Claim,
    status: DeliveryStatus,
    at: Timestamp,
) {
    let id = &claim.delivery.id;
    let expected = Delivery {
        status,
        next_attempt_at: Some(at),
        ..claim.delivery.clone()
    };
    let stored = stored_delivery(store, &claim.delivery.tenant, id).await;
    assert_eq!(stored, Some(expected), "{id} after release");
    let (attempt, next) = attempt_record(&claim.delivery, AttemptEnd::Delivered, at);
    let recorded = store.finish_attempt(&claim.lease, attempt, next).await;
    assert!(!recorded.expect("finish"), "a released lease recorded");
}

/// Release gives a delivery back with its status before the claim, due at
/// the given time.
pub async fn release_puts_delivery_back(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    enqueue_raw(s, t, 1, &[(1, START), (2, START)]).await;
    let claims = claim_at(s, "w1", START, 10).await;
    assert_eq!(
        claimed_ids(&claims),
        delivery_ids(&[1, 2]),
        "the first claim"
    );
    finish_claim(s, &claims[0], AttemptEnd::Retrying, START).await;
    let back_at = at_second(10);
    s.release(&claims[1].lease, back_at).await.expect("release");
    check_released(s, &claims[1], DeliveryStatus::Pending, back_at).await;
    let early = claim_at(s, "w2", back_at.saturating_sub(MS), 10).await;
    assert!(early.is_empty(), "claimed before it is due: {early:?}");
    let pending = claim_one(s, "w2", back_at).await;
    finish_claim(s, &pending, AttemptEnd::Delivered, back_at).await;

    let retry_at = START.saturating_add(RETRY_AFTER);
    let retrying = claim_one(s, "w3", retry_at).await;
    let back_at = retry_at.saturating_add(SECOND);
    s.release(&retrying.lease, back_at).await.expect("release");
    check_released(s, &retrying, DeliveryStatus::Retrying, back_at).await;
    assert_eq!(next_due(s).await, Some(back_at), "due again");
}

/// next_due is the earliest due time or lease expiry, or None.
pub async fn next_due_tracks_queue_and_leases(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    assert_eq!(next_due(s).await, None, "an empty store");
    enqueue_raw(s, t, 1, &[(1, at_second(10)), (2, at_second(5))]).await;
    assert_eq!(next_due(s).await, Some(at_second(5)), "the earlier of two");
    let second = claim_one(s, "w1", at_second(5)).await;
    assert_eq!(
        next_due(s).await,
        Some(at_second(10)),
        "the one left queued"
    );
    let first = claim_one(s, "w1", at_second(10)).await;
    assert_eq!(
        next_due(s).await,
        Some(at_second(35)),
        "the first lease's end"
    );
    finish_claim(s, &second, AttemptEnd::Delivered, at_second(11)).await;
    assert_eq!(
        next_due(s).await,
        Some(at_second(40)),
        "the other lease's end"
    );
    finish_claim(s, &first, AttemptEnd::Retrying, at_second(12)).await;
    assert_eq!(next_due(s).await, Some(at_second(72)), "the retry");
    let retry = claim_one(s, "w2", at_second(72)).await;
    finish_claim(s, &retry, AttemptEnd::Failed, at_second(72)).await;
    assert_eq!(next_due(s).await, None, "everything final");
}

// Enqueueing.

/// An enqueue that clashes with stored ids stores nothing, not even its
/// key; keys hold by the times passed in.
pub async fn backend_enqueue_is_all_or_nothing(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let first = enqueue_raw(s, t, 1, &[(1, START), (2, START)]).await;
    let key = idempotency_record(t, "event.send", "k", START);
    let second = raw_event(t, 2);
    let clash = vec![
        raw_delivery(&second, 3, START),
        raw_delivery(&second, 2, START),
    ];
    let result = s.enqueue(second.clone(), clash, Some(key.clone())).await;
    assert!(result.is_err(), "a duplicate delivery id: {result:?}");
    let again = vec![raw_delivery(&first, 4, START)];
    let result = s.enqueue(first.clone(), again, None).await;
    assert!(result.is_err(), "a duplicate event id: {result:?}");
    let event = s.event(t, &second.id).await.expect("event");
    assert_eq!(event, None, "a refused enqueue stored its event");
    for (n, event_id) in [(2, Some(&first.id)), (3, None), (4, None)] {
        let stored = stored_delivery(s, t, &delivery_ids(&[n])[0]).await;
        assert_eq!(
            stored.as_ref().map(|d| &d.event_id),
            event_id,
            "delivery {n}"
        );
    }
    check_enqueue_keys(s, t, &key).await;
}

async fn check_enqueue_keys(s: &Arc<dyn Store>, t: &TenantId, key: &IdempotencyRecord) {
    let enqueue = async |n: u32, record: IdempotencyRecord| {
        let event = raw_event(t, n);
        let deliveries = vec![raw_delivery(&event, n, START)];
        s.enqueue(event, deliveries, Some(record))
            .await
            .expect("enqueue")
    };
    assert_eq!(
        enqueue(5, key.clone()).await,
        Inserted::Created,
        "the key is free"
    );
    let live = idempotency_record(t, "event.send", "k", START.saturating_add(HOUR - MS));
    assert_eq!(
        enqueue(6, live).await,
        Inserted::Existing(key.clone()),
        "live"
    );
    let event = s.event(t, &numbered_id("msg_", 6)).await.expect("event");
    assert_eq!(event, None, "stored under a live key");
    let renewed = idempotency_record(t, "event.send", "k", START.saturating_add(HOUR));
    assert_eq!(
        enqueue(7, renewed).await,
        Inserted::Created,
        "at expires_at"
    );
}

/// `sent` as read back: unchanged, or with each NUL replaced by U+FFFD by a
/// backend that cannot hold NUL (PostgreSQL).
fn nul_kept_or_replaced<T: PartialEq + std::fmt::Debug>(
    got: &T,
    sent: &T,
    replaced: &T,
    what: &str,
) {
    assert!(
        got == sent || got == replaced,
        "{what}: read back {got:?}, sent {sent:?}"
    );
}

/// A receiver's answer holding NUL characters (in a response body, or an
/// error message) is recorded like any other, with the failure reason of
/// the delivery; recorded at the same time as ordinary attempts, it fails
/// none of them. Each NUL reads back as sent or as U+FFFD.
pub async fn finish_attempt_records_text_with_nul(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let dues: Vec<(u32, Timestamp)> = (1..=6).map(|n| (n, START)).collect();
    enqueue_raw(s, t, 1, &dues).await;
    let claims = claim_at(s, "w1", START, 10).await;
    assert_eq!(
        claimed_ids(&claims),
        delivery_ids(&[1, 2, 3, 4, 5, 6]),
        "claims"
    );
    let records: Vec<(Attempt, Delivery)> = claims
        .iter()
        .enumerate()
        .map(|(i, claim)| {
            let (mut attempt, mut next) =
                attempt_record(&claim.delivery, AttemptEnd::Failed, START);
            match i {
                2 => {
                    attempt.outcome = AttemptOutcome::Response {
                        status: 500,
                        body: "bad\0body\0".into(),
                        body_truncated: false,
                    };
                    next.failure_reason = Some("gave up on \0".into());
                }
                4 => {
                    attempt.outcome = AttemptOutcome::Error {
                        kind: "tls\0".into(),
                        message: "handshake \0 failed".into(),
                    };
                }
                _ => {}
            }
            (attempt, next)
        })
        .collect();
    // All at once, so that a backend batching its writes puts the attempts
    // with NUL in one batch with ordinary ones.
    let finish = |i: usize| {
        let (attempt, next) = records[i].clone();
        s.finish_attempt(&claims[i].lease, attempt, next)
    };
    let results = tokio::join!(
        finish(0),
        finish(1),
        finish(2),
        finish(3),
        finish(4),
        finish(5)
    );
    let results = [
        results.0, results.1, results.2, results.3, results.4, results.5,
    ];
    let failed: Vec<String> = claims
        .iter()
        .zip(results)
        .filter_map(|(claim, result)| match result {
            Ok(true) => None,
            Ok(false) => Some(format!("{}: refused", claim.delivery.id)),
            Err(e) => Some(format!("{}: {e}", claim.delivery.id)),
        })
        .collect();
    assert!(failed.is_empty(), "finishing failed: {failed:#?}");
    let replace = |text: &str| text.replace('\0', "\u{fffd}");
    for (claim, (attempt, next)) in claims.iter().zip(&records) {
        let id = &claim.delivery.id;
        let mut replaced = attempt.clone();
        replaced.outcome = match &attempt.outcome {
            AttemptOutcome::Response {
                status,
                body,
                body_truncated,
            } => AttemptOutcome::Response {
                status: *status,
                body: replace(body),
                body_truncated: *body_truncated,
            },
            AttemptOutcome::Error { kind, message } => AttemptOutcome::Error {
                kind: replace(kind),
                message: replace(message),
            },
        };
        let got = attempts_of(s, t, id).await;
        assert_eq!(got.len(), 1, "{id}: attempts {got:?}");
        nul_kept_or_replaced(&got[0], attempt, &replaced, &format!("the attempt at {id}"));
        let mut reason_replaced = next.clone();
        reason_replaced.failure_reason = next.failure_reason.as_deref().map(replace);
        let stored = stored_delivery(s, t, id).await.expect("the delivery");
        nul_kept_or_replaced(&stored, next, &reason_replaced, &format!("delivery {id}"));
    }
}
