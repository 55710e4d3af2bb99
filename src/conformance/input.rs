//! Outside text a backend may be unable to hold: a NUL character, which
//! PostgreSQL's `text` and `jsonb` refuse, and control characters where they
//! make no sense. The facade refuses such text with `InvalidInput` before it
//! calls the store, so every backend answers alike, and nothing is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::model::{DeliveryFilter, EndpointFilter, NewEndpoint, PageRequest, UpdateEndpoint};
use crate::store::Store;

use super::fixtures::{
    PAYLOAD, any_delivery, assert_invalid, endpoint_request, event_type, full_endpoint_request,
};
use super::harness::Harness;

/// Text holding a NUL.
const NUL: &str = "a\0b";

/// Creates the facade must refuse: what, the field named, the request.
fn refused_creates() -> Vec<(&'static str, &'static str, NewEndpoint)> {
    let ok = || endpoint_request(9);
    vec![
        ("a metadata key", "metadata", ok().metadata(NUL, "1")),
        ("a metadata value", "metadata", ok().metadata("k", NUL)),
        (
            "a URL",
            "url",
            NewEndpoint::new(format!("https://example.com/{NUL}")),
        ),
        ("a name", "name", ok().name(NUL)),
        ("a description", "description", ok().description(NUL)),
        ("a header value", "headers", ok().header("X-A", NUL)),
        ("a subscription", "event_types", ok().event_types([NUL])),
    ]
}

/// Updates the facade must refuse: what, the field named, the update.
fn refused_updates() -> Vec<(&'static str, &'static str, UpdateEndpoint)> {
    let map = |key: &str, value: &str| BTreeMap::from([(key.to_owned(), value.to_owned())]);
    let ok = UpdateEndpoint::new;
    vec![
        ("a metadata key", "metadata", ok().metadata(map(NUL, "1"))),
        ("a metadata value", "metadata", ok().metadata(map("k", NUL))),
        (
            "a URL",
            "url",
            ok().url(format!("https://example.com/{NUL}")),
        ),
        ("a name", "name", ok().name(NUL)),
        ("a header value", "headers", ok().headers(map("X-A", NUL))),
    ]
}

/// A NUL in any outside text is `InvalidInput` naming its field, on every
/// backend, before the store is called: endpoint fields on create and
/// update, a send's event type, listing filters, a forged cursor and
/// catalog entries. Nothing is stored or changed.
pub async fn outside_text_with_nul_is_refused_before_the_store(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let kept = h.create(full_endpoint_request()).await.endpoint;
    h.send("invoice.paid", PAYLOAD).await;
    let deliveries = h.deliveries().await;
    let catalog = h.webhooks.event_types(None).await.expect("the catalog");

    for (what, field, new) in refused_creates() {
        let result = h.webhooks.create_endpoint(&h.tenant, new).await;
        assert_invalid(result, field, &format!("create with a NUL in {what}"));
    }
    assert_eq!(
        h.list_all().await,
        std::slice::from_ref(&kept.id),
        "after refused creates"
    );
    for (what, field, update) in refused_updates() {
        let result = h
            .webhooks
            .update_endpoint(&h.tenant, &kept.id, update)
            .await;
        assert_invalid(result, field, &format!("update with a NUL in {what}"));
    }
    assert_eq!(h.endpoint(&kept.id).await, kept, "after refused updates");

    let result = h.webhooks.send(&h.tenant, "invoice.paid\0", PAYLOAD).await;
    assert_invalid(result, "event_type", "a send with a NUL in its event type");
    assert_eq!(h.deliveries().await, deliveries, "after a refused send");

    let first = PageRequest::first();
    let filter = DeliveryFilter::new().event_type("invoice.paid\0");
    let result = h.webhooks.list_deliveries(&h.tenant, &filter, &first).await;
    assert_invalid(result, "event_type", "a delivery filter with a NUL");
    let filter = EndpointFilter::new().event_type("invoice.paid\0");
    let result = h.webhooks.list_endpoints(&h.tenant, &filter, &first).await;
    assert_invalid(result, "event_type", "an endpoint filter with a NUL");
    let forged = URL_SAFE_NO_PAD.encode(format!("o:{}\0", kept.id));
    let result = PageRequest::parse(Some(&forged), None);
    assert_invalid(result, "cursor", "a cursor whose anchor has a NUL");
    let listed = h.deliveries_in(&h.tenant, &any_delivery()).await;
    assert_eq!(listed, deliveries, "the history after refused listings");

    let entries = [
        ("group", event_type("invoice.paid").group(NUL)),
        ("title", event_type("invoice.paid").title(NUL)),
        ("description", event_type("invoice.paid").description(NUL)),
        (
            "example",
            event_type("invoice.paid").example(serde_json::json!({ "k": NUL })),
        ),
        (
            "example key",
            event_type("invoice.paid").example(serde_json::json!({ NUL: 1 })),
        ),
    ];
    for (what, entry) in entries {
        let result = h.webhooks.declare_event_types([entry]).await;
        assert_invalid(result, "event_type", &format!("a NUL in an entry's {what}"));
    }
    let after = h.webhooks.event_types(None).await.expect("the catalog");
    assert_eq!(after, catalog, "the catalog after refused entries");
}
