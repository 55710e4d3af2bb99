//! Tenants: nothing of one tenant can be read, listed or changed by another.

use std::sync::Arc;

use crate::id::DeliveryId;
use crate::model::{Delivery, EndpointFilter, TenantId, UpdateEndpoint};
use crate::store::Store;

use super::fixtures::{
    any_delivery, assert_not_found, endpoint_request, full_endpoint_request, only, tenant,
};
use super::harness::Harness;
use super::history_fixture::HistoryFixture;
use super::raw_records::read_endpoint;
use super::worker::{attempts_of, stored_delivery};

/// Another tenant's endpoints cannot be read, changed, deleted, rotated,
/// listed or subscribed.
pub async fn tenants_are_isolated(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let other = tenant("globex");
    let mine = h.create(full_endpoint_request()).await;
    let id = &mine.endpoint.id;
    let w = &h.webhooks;
    assert_not_found(w.endpoint(&other, id).await, "reading across tenants");
    let rename = UpdateEndpoint::new().name("stolen");
    assert_not_found(w.update_endpoint(&other, id, rename).await, "updating");
    assert_not_found(w.rotate_secret(&other, id).await, "rotating");
    assert_not_found(w.signing_secrets(&other, id).await, "reading secrets");
    assert_not_found(w.delete_endpoint(&other, id).await, "deleting");
    let direct = read_endpoint(h.store(), &other, id).await;
    assert!(direct.is_none(), "the store reads across tenants");
    let listed = h.list_in(&other, &EndpointFilter::default()).await;
    assert!(listed.is_empty(), "listing across tenants: {listed:?}");
    let subscribed = h.subscribers_in(&other, "invoice.paid").await;
    assert!(
        subscribed.is_empty(),
        "subscribers across tenants: {subscribed:?}"
    );
    assert_eq!(
        h.endpoint(id).await,
        mine.endpoint,
        "another tenant changed it"
    );
    assert_eq!(
        h.signing_secrets(id).await,
        [mine.signing_secret.expose()],
        "secret"
    );

    let theirs = h
        .create_in(&other, endpoint_request(1).event_types(["invoice.paid"]))
        .await;
    let their_id = &theirs.endpoint.id;
    assert_not_found(w.endpoint(&h.tenant, their_id).await, "the other way round");
    assert_eq!(h.list_all().await, only(id), "own listing");
    assert_eq!(
        h.list_in(&other, &EndpointFilter::default()).await,
        only(their_id)
    );
    assert_eq!(
        h.subscribers("invoice.paid").await,
        only(id),
        "own subscribers"
    );
    assert_eq!(
        h.subscribers_in(&other, "invoice.paid").await,
        only(their_id)
    );
}

/// Another tenant's events and deliveries cannot be read, listed, retried
/// or ended, through the facade or the store.
pub async fn deliveries_are_isolated_by_tenant(store: Arc<dyn Store>) {
    let f = HistoryFixture::new(store).await;
    let (h, s, theirs) = (&f.h, f.h.store(), &f.other);
    let before = f.everything().await;
    let a0 = f.id("A0");
    let event = before[&a0].event_id.clone();
    assert_eq!(
        attempts_of(s, &h.tenant, &a0).await.len(),
        1,
        "A0's attempts"
    );
    assert_not_found(h.webhooks.event(theirs, &event).await, "an event");
    assert_not_found(h.webhooks.delivery(theirs, &a0).await, "a delivery");
    assert_eq!(
        s.event(theirs, &event).await.expect("event"),
        None,
        "store.event"
    );
    assert_eq!(
        stored_delivery(s, theirs, &a0).await,
        None,
        "store.delivery"
    );
    assert!(
        attempts_of(s, theirs, &a0).await.is_empty(),
        "store.attempts"
    );
    let listed: Vec<DeliveryId> = h
        .deliveries_in(theirs, &any_delivery())
        .await
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, f.ids(&["G0"]), "the other tenant's listing");
    check_untouchable_by(&f, theirs, &a0).await;
    f.check_only_changed(&before, &[], Delivery::clone, "another tenant's writes")
        .await;

    let g0 = f.id("G0");
    assert_not_found(h.webhooks.delivery(&h.tenant, &g0).await, "the other way");
    let their_event = before[&g0].event_id.clone();
    assert_not_found(
        h.webhooks.event(&h.tenant, &their_event).await,
        "their event",
    );
}

/// `tenant` can neither requeue nor end delivery `id` nor its endpoint's.
async fn check_untouchable_by(f: &HistoryFixture, tenant: &TenantId, id: &DeliveryId) {
    let (w, s, now, since) = (&f.h.webhooks, f.h.store(), f.h.now(), f.times[0]);
    assert_not_found(w.retry_delivery(tenant, id).await, "retry_delivery");
    assert_not_found(s.requeue(tenant, id, now).await, "store.requeue");
    let bulk = w.retry_failed(tenant, Some(&f.a), since).await;
    assert_not_found(bulk, "retry_failed of another tenant's endpoint");
    let requeued = s.requeue_failed(tenant, Some(&f.a), since, now).await;
    assert_eq!(requeued.expect("requeue_failed"), 0, "store.requeue_failed");
    let ended = s.fail_queued(tenant, &f.a, "stolen").await;
    assert_eq!(ended.expect("fail_queued"), 0, "store.fail_queued");
}
