//! Retrying deliveries by hand, and ending the queued deliveries of an
//! endpoint.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::id::{DeliveryId, EndpointId};
use crate::model::Delivery;
use crate::store::{DeliveryRecord, Store};

use super::fixtures::{MS, SECOND, assert_conflict, assert_not_found, sorted};
use super::history_fixture::HistoryFixture;
use super::raw_records::{numbered_id, raw_endpoint_id};
use super::worker::{
    AttemptEnd, RETRY_AFTER, attempt_record, attempts_of, claim_at, claimed_ids, stored_delivery,
};

/// `before` queued by hand at `now`, by the rules every backend follows.
fn requeued_by_hand(before: &Delivery, now: Timestamp) -> Delivery {
    let mut record = DeliveryRecord::new(before.clone());
    match record.requeue(now) {
        Ok(requeued) => requeued.clone(),
        Err(e) => panic!("{} cannot be requeued: {e}", before.id),
    }
}

/// `before` ended without another attempt for `reason`, by the same rules.
fn ended_with(before: &Delivery, reason: &str) -> Delivery {
    let mut record = DeliveryRecord::new(before.clone());
    assert!(record.fail_if_queued(reason), "{} is not queued", before.id);
    record.delivery().clone()
}

/// retry_delivery queues a failed, delivered or retrying delivery by hand,
/// due now, and touches no other; unknown ids are NotFound.
pub async fn retry_delivery_requeues_only_it(store: Arc<dyn Store>) {
    let f = HistoryFixture::new(store).await;
    let h = &f.h;
    for label in ["A0", "B0", "B2"] {
        h.advance(SECOND);
        let (before, now) = (f.everything().await, h.now());
        let id = f.id(label);
        let returned = h.webhooks.retry_delivery(&h.tenant, &id).await;
        let returned = returned.unwrap_or_else(|e| panic!("retrying {label}: {e}"));
        assert_eq!(
            returned,
            requeued_by_hand(&before[&id], now),
            "{label} as returned"
        );
        let what = format!("retrying {label}");
        f.check_only_changed(&before, &[label], |d| requeued_by_hand(d, now), &what)
            .await;
    }
    let unknown: DeliveryId = numbered_id("dlv_", 999);
    let result = h.webhooks.retry_delivery(&h.tenant, &unknown).await;
    assert_not_found(result, "retrying an unknown delivery");
}

/// While an attempt is in flight under a live lease, retry_delivery is a
/// Conflict; once the lease has ended it queues the delivery, and the old
/// lease records nothing more.
pub async fn retry_delivery_waits_for_the_lease(store: Arc<dyn Store>) {
    let f = HistoryFixture::new(store).await;
    let (h, b3, held) = (&f.h, f.id("B3"), f.held());
    let before = f.everything().await;
    for at in [h.now(), held.expires_at.saturating_sub(MS)] {
        h.clock.set(at);
        let result = h.webhooks.retry_delivery(&h.tenant, &b3).await;
        assert_conflict(result, &format!("retrying in flight at {at}"));
    }
    f.check_only_changed(&before, &[], Delivery::clone, "a refused retry")
        .await;
    h.clock.set(held.expires_at);
    let returned = h.webhooks.retry_delivery(&h.tenant, &b3).await;
    let returned = returned.expect("retrying once the lease ended");
    assert_eq!(
        returned,
        requeued_by_hand(&before[&b3], h.now()),
        "B3 as returned"
    );
    let (attempt, next) = attempt_record(&before[&b3], AttemptEnd::Delivered, h.now());
    let recorded = h.store().finish_attempt(held, attempt, next).await;
    assert!(!recorded.expect("finish"), "the old lease recorded");
    let stored = stored_delivery(h.store(), &h.tenant, &b3).await;
    assert_eq!(stored, Some(returned), "B3 after the old lease tried");
    assert!(
        attempts_of(h.store(), &h.tenant, &b3).await.is_empty(),
        "attempts"
    );
}

/// retry_failed queues the tenant's failed deliveries created at or after
/// `since`, of one endpoint if given, and counts them.
pub async fn retry_failed_requeues_failed_since(store: Arc<dyn Store>) {
    let f = HistoryFixture::new(store).await;
    let (h, t) = (&f.h, &f.times);
    let steps: [(Option<&EndpointId>, Timestamp, &[&str]); 5] = [
        (Some(&f.a), t[1], &["A2"]),
        (None, t[1].saturating_add(MS), &[]),
        (None, t[1], &["B1"]),
        (None, t[0], &["A0"]),
        (None, t[0], &[]),
    ];
    for (endpoint, since, labels) in steps {
        h.advance(SECOND);
        let (before, now) = (f.everything().await, h.now());
        let count = h.webhooks.retry_failed(&h.tenant, endpoint, since).await;
        let what = format!("retry_failed({endpoint:?}, {since})");
        assert_eq!(count.expect("retry_failed"), labels.len() as u64, "{what}");
        f.check_only_changed(&before, labels, |d| requeued_by_hand(d, now), &what)
            .await;
    }
    let unknown = h
        .webhooks
        .retry_failed(&h.tenant, Some(&raw_endpoint_id(999)), t[0])
        .await;
    assert_not_found(unknown, "retry_failed of an unknown endpoint");
    let before = f.everything().await;
    let theirs = h.webhooks.retry_failed(&f.other, None, t[0]).await;
    assert_eq!(theirs.expect("retry_failed"), 1, "the other tenant's");
    let now = h.now();
    f.check_only_changed(&before, &["G0"], |d| requeued_by_hand(d, now), "G0")
        .await;
}

/// fail_queued ends the pending and retrying deliveries of one endpoint,
/// and only them.
pub async fn fail_queued_ends_only_queued_deliveries(store: Arc<dyn Store>) {
    const REASON: &str = "endpoint deleted";
    let f = HistoryFixture::new(store).await;
    let (s, t) = (f.h.store(), &f.h.tenant);
    let before = f.everything().await;
    let count = s.fail_queued(t, &f.b, REASON).await.expect("fail_queued");
    assert_eq!(count, 2, "deliveries ended");
    f.check_only_changed(&before, &["B2", "B4"], |d| ended_with(d, REASON), "B")
        .await;
    let again = s.fail_queued(t, &f.b, REASON).await.expect("fail_queued");
    assert_eq!(again, 0, "a second time");
    let late = f.times[3].saturating_add(RETRY_AFTER + Duration::from_secs(60));
    let claims = claim_at(s, "worker", late, 100).await;
    assert_eq!(
        sorted(claimed_ids(&claims)),
        sorted(f.ids(&["A4", "B3"])),
        "still due"
    );
}
