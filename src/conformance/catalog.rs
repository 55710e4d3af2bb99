//! The event-type catalog: declared, listed, looked up and replaced.

use std::sync::Arc;

use crate::model::{EventType, Payload};
use crate::store::Store;

use super::fixtures::{assert_invalid, event_type, nested_value};
use super::harness::Harness;
const EMPTY_CATALOG: [EventType; 0] = [];

async fn declare_event_types(h: &Harness, types: Vec<EventType>) {
    h.webhooks
        .declare_event_types(types)
        .await
        .unwrap_or_else(|e| panic!("declaring event types failed: {e}"));
}

async fn catalog_listing(h: &Harness, group: Option<&str>) -> Vec<EventType> {
    h.webhooks
        .event_types(group)
        .await
        .unwrap_or_else(|e| panic!("reading the catalog failed: {e}"))
}

/// Looks an event type up in the backend.
async fn look_up_event_type(h: &Harness, name: &str) -> Option<EventType> {
    h.store()
        .event_type(name)
        .await
        .unwrap_or_else(|e| panic!("looking up {name} failed: {e}"))
}

/// The catalog lists by name, filters by group, and looks names up, exactly:
/// a group's pattern is no name.
pub async fn catalog_lists_sorted_and_by_group(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b).await;
    assert_eq!(
        catalog_listing(&h, None).await,
        EMPTY_CATALOG,
        "a new store has a catalog"
    );
    let nested = event_type("billing.invoice.paid").group("invoice");
    let paid = event_type("invoice.paid")
        .title("Invoice paid")
        .description("Paid in full.")
        .example(serde_json::json!({"invoice": "in_1", "amount": 4200}));
    let declared = vec![
        event_type("refund.issued"),
        paid.clone(),
        event_type("customer.created"),
        nested.clone(),
        event_type("invoice.created"),
    ];
    declare_event_types(&h, declared.clone()).await;
    let mut by_name = declared;
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        catalog_listing(&h, None).await,
        by_name,
        "the whole catalog by name"
    );
    let invoice = vec![nested, event_type("invoice.created"), paid.clone()];
    assert_eq!(
        catalog_listing(&h, Some("invoice")).await,
        invoice,
        "group invoice"
    );
    assert_eq!(
        catalog_listing(&h, Some("shipment")).await,
        EMPTY_CATALOG,
        "an unknown group"
    );
    assert_eq!(
        look_up_event_type(&h, "invoice.paid").await,
        Some(paid),
        "event_type(name)"
    );
    assert_eq!(
        look_up_event_type(&h, "invoice.voided").await,
        None,
        "an undeclared name"
    );
    // Sends rely on this to refuse a pattern as an event's type.
    let pattern = look_up_event_type(&h, "invoice.*").await;
    assert_eq!(pattern, None, "a pattern looked up as a name");
}

/// Declaring a name again replaces its entry, and only it.
pub async fn catalog_upsert_replaces(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b).await;
    let v1 = event_type("invoice.paid")
        .title("Invoice paid")
        .example(serde_json::json!({"v": 1}));
    let customer = event_type("customer.created");
    declare_event_types(&h, vec![v1, customer.clone()]).await;
    let v2 = event_type("invoice.paid")
        .group("billing")
        .title("Paid in full")
        .description("Every cent arrived.")
        .deprecated(true);
    declare_event_types(&h, vec![v2.clone()]).await;
    assert_eq!(
        catalog_listing(&h, None).await,
        [customer.clone(), v2.clone()],
        "after upsert"
    );
    assert_eq!(
        look_up_event_type(&h, "invoice.paid").await,
        Some(v2.clone()),
        "the new entry"
    );
    assert_eq!(
        catalog_listing(&h, Some("invoice")).await,
        EMPTY_CATALOG,
        "the old group"
    );
    assert_eq!(
        catalog_listing(&h, Some("billing")).await,
        [v2],
        "the new group"
    );

    let direct = event_type("customer.created").title("Signed up");
    h.store()
        .upsert_event_types(std::slice::from_ref(&direct))
        .await
        .expect("a direct upsert");
    assert_eq!(
        look_up_event_type(&h, "customer.created").await,
        Some(direct),
        "direct upsert"
    );
}

/// An example nested [`Payload::MAX_DEPTH`] deep is stored and read back as
/// declared; one a level deeper is refused, storing nothing, and the catalog
/// stays readable.
pub async fn catalog_keeps_examples_nested_to_the_limit(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b).await;
    let deepest = event_type("invoice.paid").example(nested_value(Payload::MAX_DEPTH));
    declare_event_types(&h, vec![deepest.clone()]).await;
    let declared = vec![deepest.clone()];
    assert_eq!(catalog_listing(&h, None).await, declared, "the catalog");
    let found = look_up_event_type(&h, "invoice.paid").await;
    assert_eq!(found, Some(deepest), "the entry looked up");

    let too_deep = event_type("invoice.voided").example(nested_value(Payload::MAX_DEPTH + 1));
    let result = h.webhooks.declare_event_types([too_deep]).await;
    assert_invalid(result, "event_type", "an example nested too deep");
    assert_eq!(
        catalog_listing(&h, None).await,
        declared,
        "after the refusal"
    );
}
