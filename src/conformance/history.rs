//! Delivery history: listed newest first, page by page, filtered.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use crate::clock::Timestamp;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::{Delivery, DeliveryFilter, DeliveryStatus, PageRequest};
use crate::store::Store;

use super::fixtures::{MS, any_delivery, endpoint_request, sorted};
use super::harness::Harness;
use super::history_fixture::HistoryFixture;
use super::paging::{check_forward_cursors, check_walked_back, follow_next, follow_prev};

/// Sends `count` events, letting the clock tick now and then; their ids in
/// order.
async fn send_many(h: &Harness, count: usize) -> Vec<EventId> {
    let mut sent = Vec::with_capacity(count);
    for n in 0..count {
        if n % 3 == 0 {
            h.advance(MS);
        }
        sent.push(h.send("invoice.paid", json!({ "n": n })).await.event_id);
    }
    sent
}

/// `seen` holds each pair of `events` and `endpoints` once, newest first.
#[track_caller]
fn check_newest_first(seen: &[Delivery], events: &[EventId], endpoints: &[EndpointId]) {
    let ids: Vec<&DeliveryId> = seen.iter().map(|d| &d.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "not by id descending: {ids:?}"
    );
    let order = |d: &Delivery| events.iter().position(|e| *e == d.event_id);
    let later_first = seen.windows(2).all(|w| order(&w[0]) >= order(&w[1]));
    assert!(later_first, "an older event listed before a newer one");
    let pairs: BTreeSet<(EventId, EndpointId)> = seen
        .iter()
        .map(|d| (d.event_id.clone(), d.endpoint_id.clone()))
        .collect();
    let expected: BTreeSet<(EventId, EndpointId)> = events
        .iter()
        .flat_map(|e| endpoints.iter().map(move |p| (e.clone(), p.clone())))
        .collect();
    assert_eq!(pairs, expected, "the deliveries listed");
    assert_eq!(seen.len(), expected.len(), "a delivery listed twice");
}

/// Pages of 5 over 24 deliveries, forward then back: newest first, each
/// once, cursors only where there is more.
pub async fn delivery_pages_walk_forward_and_back(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h.create(endpoint_request(1)).await.endpoint.id;
    let b = h.create(endpoint_request(2)).await.endpoint.id;
    let events = send_many(&h, 12).await;
    let (h, all) = (&h, &any_delivery());
    let fetch =
        |request: PageRequest| async move { h.delivery_page(&h.tenant, all, &request).await };
    let pages = follow_next(5, fetch).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.data.len()).collect();
    assert_eq!(sizes, [5, 5, 5, 5, 4], "page sizes");
    check_forward_cursors(&pages);
    let seen: Vec<Delivery> = pages.iter().flat_map(|p| p.data.clone()).collect();
    check_newest_first(&seen, &events, &sorted(vec![a, b]));

    let back = follow_prev(&pages[4], 5, fetch).await;
    assert_eq!(back.len(), 4, "pages behind the last one");
    check_walked_back(&pages, &back, |d| d.id.clone());
}

/// Each query of the history fixture: what, the filter, the labels listed.
fn history_queries(f: &HistoryFixture) -> Vec<(&'static str, DeliveryFilter, Vec<&'static str>)> {
    let t = &f.times;
    let status = |status| any_delivery().status(status);
    let endpoint = |id: &EndpointId| any_delivery().endpoint(id.clone());
    let paid = any_delivery().event_type("invoice.paid");
    let between = |from: Option<Timestamp>, to: Option<Timestamp>| DeliveryFilter {
        created_from: from,
        created_to: to,
        ..any_delivery()
    };
    let combined = paid
        .clone()
        .status(DeliveryStatus::Failed)
        .endpoint(f.a.clone());
    let unfinished = any_delivery().statuses([
        DeliveryStatus::Pending,
        DeliveryStatus::Retrying,
        DeliveryStatus::Delivering,
    ]);
    vec![
        (
            "no filter",
            any_delivery(),
            vec!["A0", "B0", "B1", "A2", "B2", "B3", "A4", "B4"],
        ),
        (
            "failed",
            status(DeliveryStatus::Failed),
            vec!["A0", "B1", "A2"],
        ),
        ("delivered", status(DeliveryStatus::Delivered), vec!["B0"]),
        ("retrying", status(DeliveryStatus::Retrying), vec!["B2"]),
        ("delivering", status(DeliveryStatus::Delivering), vec!["B3"]),
        ("pending", status(DeliveryStatus::Pending), vec!["A4", "B4"]),
        ("not yet final", unfinished, vec!["B2", "B3", "A4", "B4"]),
        ("endpoint A", endpoint(&f.a), vec!["A0", "A2", "A4"]),
        ("globex's endpoint", endpoint(&f.g), vec![]),
        ("invoice.paid", paid, vec!["A0", "B0", "A4", "B4"]),
        (
            "from event 2",
            between(Some(t[2]), None),
            vec!["A2", "B2", "B3", "A4", "B4"],
        ),
        (
            "before event 2",
            between(None, Some(t[2])),
            vec!["A0", "B0", "B1"],
        ),
        (
            "events 1 to 3",
            between(Some(t[1]), Some(t[3])),
            vec!["B1", "A2", "B2"],
        ),
        ("failed invoice.paid to A", combined, vec!["A0"]),
    ]
}

/// Status, endpoint, event-type and time filters, also across pages.
pub async fn delivery_listing_applies_filters(store: Arc<dyn Store>) {
    let f = HistoryFixture::new(store).await;
    let h = &f.h;
    for (what, filter, labels) in history_queries(&f) {
        let filter = &filter;
        let fetch = |request: PageRequest| async move {
            h.delivery_page(&h.tenant, filter, &request).await
        };
        let pages = follow_next(2, fetch).await;
        let seen: Vec<DeliveryId> = pages
            .iter()
            .flat_map(|p| p.data.iter().map(|d| d.id.clone()))
            .collect();
        assert_eq!(seen, f.ids(&labels), "filter {what}");
        let (_, full) = pages.split_last().expect("at least one page");
        assert!(
            full.iter().all(|p| p.data.len() == 2),
            "filter {what}: a short page"
        );
    }
}
