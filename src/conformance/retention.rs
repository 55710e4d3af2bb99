//! Retention: purging finished history (capability `purge`).

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::store::{Purged, Store};
use crate::webhooks::SendOptions;

use super::fixtures::{HOUR, PAYLOAD, START, endpoint_request, start_plus, tenant};
use super::harness::Harness;
use super::worker::{AttemptEnd, attempts_of, claim_at, finish_claim, stored_delivery};

/// Purging removes finished deliveries older than the cut-off with their
/// attempts, an event once none of its deliveries is left, and expired
/// idempotency records. Queued and leased deliveries stay, however old.
pub async fn purge_finished_removes_only_old_finished_history(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    for n in 1..=3 {
        h.create(endpoint_request(n)).await;
    }
    let sent = h.send_keyed("invoice.paid", PAYLOAD, "k1").await;
    let unheard = tenant("nobody-listens");
    let alone = h
        .send_as(&unheard, "invoice.paid", PAYLOAD, SendOptions::new())
        .await;
    let claims = claim_at(s, "w", START, 10).await;
    let [done, queued, leased] = claims.as_slice() else {
        panic!("expected three claims, got {claims:?}");
    };
    finish_claim(s, done, AttemptEnd::Delivered, START).await;
    s.release(&queued.lease, START).await.expect("release");
    let week_later = start_plus(7 * 24 * HOUR);
    assert_eq!(
        purge_before(s, START).await,
        Purged::default(),
        "at the start"
    );

    let first = purge_before(s, week_later).await;
    let expected = Purged {
        deliveries: 1,
        events: 1,
        idempotency_records: 1,
        left_to_another_process: false,
    };
    assert_eq!(
        first, expected,
        "the delivered one, the event without subscribers and the send's key"
    );
    let gone = h.webhooks.event(&unheard, &alone.event_id).await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    assert_eq!(stored_delivery(s, t, &done.delivery.id).await, None);
    assert!(attempts_of(s, t, &done.delivery.id).await.is_empty());
    for kept in [queued, leased] {
        let id = &kept.delivery.id;
        assert!(stored_delivery(s, t, id).await.is_some(), "{id} kept");
    }

    s.fail_queued(t, &queued.delivery.endpoint_id, "gone")
        .await
        .unwrap_or_else(|e| panic!("fail_queued failed: {e}"));
    let second = purge_before(s, week_later).await;
    assert_eq!((second.deliveries, second.events), (1, 0), "still leased");
    finish_claim(s, leased, AttemptEnd::Failed, START).await;
    let third = purge_before(s, week_later).await;
    assert_eq!((third.deliveries, third.events), (1, 1), "the last one");
    let event = h.webhooks.event(t, &sent.event_id).await;
    assert!(matches!(event, Err(Error::NotFound { .. })), "{event:?}");
}

async fn purge_before(store: &Arc<dyn Store>, before: Timestamp) -> Purged {
    store
        .purge_finished(before)
        .await
        .unwrap_or_else(|e| panic!("purge_finished({before}) failed: {e}"))
}
