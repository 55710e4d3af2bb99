//! Subscribers: which endpoints an event type is sent to.

use std::sync::Arc;

use crate::id::EndpointId;
use crate::model::{NewEndpoint, UpdateEndpoint};
use crate::store::Store;

use super::fixtures::{endpoint_request, only, sorted, string_set, tenant};
use super::harness::Harness;
use super::raw_records::{insert_raw_endpoint, raw_endpoint, raw_endpoint_id};

/// Subscribers by exact name, `group.*` and no filter; disabled and deleted
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
        .subscribers(&t, "invoice.paid")
        .await
        .expect("subscribers");
    assert_eq!(
        subscribers,
        (1..=5).map(raw_endpoint_id).collect::<Vec<_>>(),
        "ascending, once each"
    );
}
