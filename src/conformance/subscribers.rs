//! Subscribers: which endpoints an event type is sent to.

use std::sync::Arc;

use crate::error::Error;
use crate::id::EndpointId;
use crate::model::{EndpointFilter, EventType, NewEndpoint, UpdateEndpoint};
use crate::store::Store;

use super::fixtures::{
    catalog, endpoint_request, event_type, newest_first, only, sorted, string_set, tenant,
};
use super::harness::Harness;
use super::raw_records::{insert_raw_endpoint, raw_endpoint, raw_endpoint_id};

/// Subscribers by exact name, `prefix.*` and no filter; disabled and deleted
/// endpoints excluded; ascending ids without duplicates.
pub async fn subscribers_follow_filters(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let make = async |new: NewEndpoint| h.create(new).await.endpoint.id;
    let paid = make(endpoint_request(1).event_types(["invoice.paid"])).await;
    let group = make(endpoint_request(2).event_types(["invoice.*"])).await;
    let every = make(endpoint_request(3)).await;
    let both = make(endpoint_request(4).event_types(["invoice.*", "invoice.paid"])).await;
    let customer = make(endpoint_request(5).event_types(["customer.created"])).await;
    let _off = make(endpoint_request(6).enabled(false)).await;
    let deleted = make(endpoint_request(7).event_types(["invoice.paid"])).await;
    let billing = make(endpoint_request(8).event_types(["billing.*"])).await;
    h.delete(&deleted).await;

    let cases: [(&str, Vec<&EndpointId>); 7] = [
        ("invoice.paid", vec![&paid, &group, &every, &both]),
        ("invoice.created", vec![&group, &every, &both]),
        ("customer.created", vec![&every, &customer]),
        ("billing.invoice.paid", vec![&every, &billing]),
        ("refund.issued", vec![&every]),
        ("invoice", vec![&every]),
        ("invoices.paid", vec![&every]),
    ];
    for (event_type, expected) in cases {
        let expected = sorted(expected.into_iter().cloned().collect());
        assert_eq!(
            h.subscribers(event_type).await,
            expected,
            "subscribers of {event_type}"
        );
    }
}

/// Subscriber lookups follow filter changes, disabling, enabling, rotation
/// and deletion.
pub async fn subscribers_track_changes(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let e1 = h
        .create(endpoint_request(1).event_types(["customer.created"]))
        .await
        .endpoint
        .id;
    let e2 = h.create(endpoint_request(2)).await.endpoint.id;
    let both = vec![e1.clone(), e2.clone()];
    assert_eq!(h.subscribers("customer.created").await, both);

    h.update(&e1, UpdateEndpoint::new().event_types(["refund.issued"]))
        .await;
    assert_eq!(
        h.subscribers("customer.created").await,
        only(&e2),
        "old filter"
    );
    assert_eq!(h.subscribers("refund.issued").await, both, "new filter");
    h.update(&e1, UpdateEndpoint::new().all_event_types()).await;
    assert_eq!(h.subscribers("invoice.paid").await, both, "filter cleared");

    h.update(&e1, UpdateEndpoint::new().enabled(false)).await;
    assert_eq!(h.subscribers("invoice.paid").await, only(&e2), "disabled");
    h.update(&e1, UpdateEndpoint::new().enabled(true)).await;
    assert_eq!(h.subscribers("invoice.paid").await, both, "enabled again");
    h.rotate(&e1).await;
    h.update(&e1, UpdateEndpoint::new().name("renamed")).await;
    assert_eq!(
        h.subscribers("invoice.paid").await,
        both,
        "rotated and renamed"
    );
    h.delete(&e1).await;
    assert_eq!(h.subscribers("invoice.paid").await, [e2], "deleted");
}

/// An event type the catalog files under `wallet`, whatever its name.
fn wallet(name: &str) -> EventType {
    event_type(name).group("wallet")
}

/// Whom `event_type` goes to: the subscribers the backend names, the
/// listing filtered by it (which shows `disabled` too, newest first), and
/// the deliveries a send of it queues.
async fn check_recipients(
    h: &Harness,
    event_type: &str,
    expected: &[&EndpointId],
    disabled: &[&EndpointId],
) {
    let expected = sorted(expected.iter().copied().cloned().collect::<Vec<_>>());
    assert_eq!(
        h.subscribers(event_type).await,
        expected,
        "subscribers of {event_type}"
    );
    let mut listed = expected.clone();
    listed.extend(disabled.iter().copied().cloned());
    let filter = EndpointFilter {
        event_type: Some(event_type.to_owned()),
        ..EndpointFilter::default()
    };
    assert_eq!(
        h.list(&filter).await,
        newest_first(&sorted(listed)),
        "endpoints listed as subscribed to {event_type}"
    );
    let sent = h.send(event_type, "{}").await;
    assert_eq!(
        sent.deliveries,
        expected.len(),
        "deliveries of {event_type}"
    );
    let delivered_to = h
        .deliveries()
        .await
        .into_iter()
        .filter(|d| d.event_id == sent.event_id)
        .map(|d| d.endpoint_id)
        .collect();
    assert_eq!(
        sorted(delivered_to),
        expected,
        "endpoints {event_type} was delivered to"
    );
}

/// `group:<group>` subscribes to every type the catalog files under the
/// group, whatever its name, types declared later included, and follows a
/// type that moves to another group. A `prefix.*` pattern still goes by
/// names: `wallet.*` is refused while no name starts with `wallet.`.
pub async fn subscribers_follow_catalog_groups(store: Arc<dyn Store>) {
    let wallet_types = [wallet("transaction.confirmed"), wallet("balance.low")];
    let h = Harness::configured(store, |b| {
        b.event_types(catalog()).event_types(wallet_types)
    })
    .await;
    let make = async |new: NewEndpoint| h.create(new).await.endpoint.id;
    let group = make(endpoint_request(1).event_types(["group:wallet"])).await;
    let prefix = make(endpoint_request(2).event_types(["transaction.*"])).await;
    let invoices = make(endpoint_request(3).event_types(["group:invoice"])).await;
    let every = make(endpoint_request(4)).await;
    let off = make(
        endpoint_request(5)
            .event_types(["group:wallet"])
            .enabled(false),
    )
    .await;
    let before = h.endpoint(&group).await;
    let by_prefix = h
        .webhooks
        .update_endpoint(
            &h.tenant,
            &group,
            UpdateEndpoint::new().event_types(["wallet.*"]),
        )
        .await;
    match by_prefix {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, "event_types", "the field named");
            assert!(reason.contains("wallet.*"), "not named: {reason}");
        }
        other => panic!("`wallet.*` covers no name but was taken: {other:?}"),
    }
    assert_eq!(
        h.endpoint(&group).await,
        before,
        "a refused filter was stored"
    );
    h.webhooks
        .declare_event_types([wallet("payout.settled")])
        .await
        .unwrap_or_else(|e| panic!("declaring payout.settled failed: {e}"));

    let wallet_group = [&group, &every];
    let cases: [(&str, &[&EndpointId], &[&EndpointId]); 6] = [
        ("transaction.confirmed", &[&group, &prefix, &every], &[&off]),
        ("balance.low", &wallet_group, &[&off]),
        ("payout.settled", &wallet_group, &[&off]),
        ("invoice.paid", &[&invoices, &every], &[]),
        // Grouped under `billing`, its first segment: no `invoice` here.
        ("billing.invoice.paid", &[&every], &[]),
        ("customer.created", &[&every], &[]),
    ];
    for (event_type, expected, disabled) in cases {
        check_recipients(&h, event_type, expected, disabled).await;
    }

    h.webhooks
        .declare_event_types([event_type("balance.low").group("alerts")])
        .await
        .unwrap_or_else(|e| panic!("moving balance.low to alerts failed: {e}"));
    check_recipients(&h, "balance.low", &[&every], &[]).await;
    h.update(
        &invoices,
        UpdateEndpoint::new().event_types(["group:wallet"]),
    )
    .await;
    check_recipients(&h, "invoice.paid", &[&every], &[]).await;
    check_recipients(&h, "payout.settled", &[&group, &invoices, &every], &[&off]).await;
}

// The backend itself, called directly.

/// Subscriber ids come out ascending and once each, whatever order the
/// endpoints were stored in.
pub async fn backend_subscribers_ascending_whatever_the_insert_order(store: Arc<dyn Store>) {
    let t = tenant("acme");
    for n in [5, 2, 4, 1, 3] {
        let mut stored = raw_endpoint(&t, n);
        if n % 2 == 0 {
            stored.endpoint.event_types = Some(string_set(&["invoice.*", "invoice.paid"]));
        }
        insert_raw_endpoint(&store, stored, None)
            .await
            .expect("insert");
    }
    let subscribers = store
        .subscribers(&t, &event_type("invoice.paid"))
        .await
        .expect("subscribers");
    assert_eq!(
        subscribers,
        (1..=5).map(raw_endpoint_id).collect::<Vec<_>>(),
        "ascending, once each"
    );
}
