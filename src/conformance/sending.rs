//! Sending: one stored event, one delivery per subscriber, the body as
//! delivered.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::clock::Timestamp;
use crate::id::EndpointId;
use crate::model::{Delivery, Event, NewEndpoint};
use crate::store::Store;

use super::fixtures::{PAYLOAD, SECOND, any_delivery, catalog, endpoint_request, sorted, tenant};
use super::harness::Harness;
use super::worker::{claim_one, claimed_ids};
fn parse_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

/// Endpoints of every kind; the ids of those subscribed to `invoice.paid`,
/// ascending.
async fn create_fan_out_fixture(h: &Harness) -> Vec<EndpointId> {
    let make = async |new: NewEndpoint| h.create(new).await.endpoint.id;
    let subscribed = vec![
        make(endpoint_request(1).event_types(["invoice.paid"])).await,
        make(endpoint_request(2).event_types(["invoice.*"])).await,
        make(endpoint_request(3)).await,
    ];
    make(endpoint_request(4).event_types(["customer.*", "invoice.created"])).await;
    make(endpoint_request(5).enabled(false)).await;
    make(
        endpoint_request(6)
            .event_types(["invoice.paid"])
            .enabled(false),
    )
    .await;
    let deleted = make(endpoint_request(7).event_types(["invoice.paid"])).await;
    h.delete(&deleted).await;
    h.create_in(&tenant("globex"), endpoint_request(8)).await;
    sorted(subscribed)
}

/// A delivery of `event` as sent: pending, due at once, never attempted.
fn as_sent(delivery: &Delivery, event: &Event) -> Delivery {
    Delivery::new(delivery.id.clone(), event, delivery.endpoint_id.clone())
}

/// A send queues one delivery per active subscriber of the tenant (exact
/// name, `prefix.*`, no filter), all of one stored event, pending and due now.
pub async fn send_fans_out_to_active_subscribers(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let subscribed = create_fan_out_fixture(&h).await;
    h.advance(SECOND);
    let sent = h.send("invoice.paid", json!({"invoice": "in_1"})).await;
    assert_eq!(sent.deliveries, 3, "deliveries counted");
    let event = h.event(&sent.event_id).await;
    let stored = (&event.tenant, &*event.event_type, event.created_at);
    assert_eq!(stored, (&h.tenant, "invoice.paid", h.now()), "the event");

    let listed = h.deliveries().await;
    let to = sorted(listed.iter().map(|d| d.endpoint_id.clone()).collect());
    assert_eq!(to, subscribed, "the endpoints delivered to");
    for delivery in &listed {
        assert_eq!(delivery, &as_sent(delivery, &event), "a new delivery");
    }
    let theirs = h.deliveries_in(&tenant("globex"), &any_delivery()).await;
    assert!(
        theirs.is_empty(),
        "another tenant got deliveries: {theirs:?}"
    );

    let claims = h.claim_due_now("worker", 100).await;
    let listed_ids = sorted(listed.iter().map(|d| d.id.clone()).collect());
    assert_eq!(sorted(claimed_ids(&claims)), listed_ids, "what is due");
    for claim in &claims {
        assert_eq!(claim.event, event, "the event a claim carries");
    }
}

/// The body's envelope: exactly `type`, `timestamp` (RFC 3339) and `data`.
#[track_caller]
fn check_envelope(body: &str, event_type: &str, at: Timestamp) -> serde_json::Value {
    let parsed = parse_json(body);
    let keys: Vec<&str> = parsed
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        sorted(keys),
        ["data", "timestamp", "type"],
        "keys of {body}"
    );
    assert_eq!(parsed["type"], event_type, "type in {body}");
    assert_eq!(parsed["timestamp"], at.to_string(), "timestamp in {body}");
    parsed
}

/// The body is the Standard Webhooks envelope around the payload, which
/// goes in byte for byte, and is what a claim carries.
pub async fn send_wraps_payload_in_envelope(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.create(endpoint_request(1)).await;
    h.advance(Duration::from_millis(1_234));
    let text = r#"{ "invoice": "in_1",  "amount": 42.50, "lines": [1, "x"] }"#;
    let event = h.event(&h.send("invoice.paid", text).await.event_id).await;
    let envelope = check_envelope(&event.body, "invoice.paid", h.now());
    assert_eq!(envelope["data"], parse_json(text), "data");
    assert!(
        event.body.contains(text),
        "data not verbatim: {}",
        event.body
    );
    let claim = claim_one(h.store(), "worker", h.now()).await;
    assert_eq!(claim.event.body, event.body, "the body delivered");

    h.advance(SECOND);
    let value = json!({"customer": "cus_1", "tags": ["a", "b"]});
    let sent = h.send("customer.created", value.clone()).await;
    let event = h.event(&sent.event_id).await;
    let envelope = check_envelope(&event.body, "customer.created", h.now());
    assert_eq!(envelope["data"], value, "data given as a value");
}

/// With the envelope off, the body is the payload as given.
pub async fn send_without_envelope_delivers_payload_as_is(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b.event_types(catalog()).envelope(false)).await;
    h.create(endpoint_request(1)).await;
    let text = r#"[1, 2.50, {"a": null}]"#;
    let event = h.event(&h.send("invoice.paid", text).await.event_id).await;
    assert_eq!(&*event.body, text, "the body of a text payload");
    let claim = claim_one(h.store(), "worker", h.now()).await;
    assert_eq!(&*claim.event.body, text, "the body delivered");

    let value = json!({"k": true, "n": [1, 2]});
    let event = h
        .event(&h.send("invoice.paid", value.clone()).await.event_id)
        .await;
    assert_eq!(
        parse_json(&event.body),
        value,
        "the body of a value payload"
    );
}

/// An event nobody subscribes to is sent to nobody and still kept.
pub async fn send_without_subscribers_keeps_the_event(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.create(endpoint_request(1).event_types(["customer.*"]))
        .await;
    h.create(endpoint_request(2).enabled(false)).await;
    let sent = h.send("invoice.paid", PAYLOAD).await;
    assert_eq!(sent.deliveries, 0, "deliveries counted");
    let event = h.event(&sent.event_id).await;
    assert_eq!(event.id, sent.event_id, "the event read back");
    let envelope = check_envelope(&event.body, "invoice.paid", h.now());
    assert_eq!(envelope["data"], parse_json(PAYLOAD), "its data");
    h.assert_nothing_queued("an event without subscribers")
        .await;
}
