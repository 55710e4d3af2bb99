//! Nothing secret reaches `Debug` output: not a signing secret (current,
//! retired or remembered in an idempotent reply), not a custom header
//! value, not a payload. Every public type an application or a backend
//! holds is formatted after endpoints were made with known secrets.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hookshot::clock::{Clock, ManualClock, Timestamp};
use hookshot::prelude::*;
use hookshot::store::{MemoryStore, Store};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const KEY_TEXT: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HEADER_VALUE: &str = "header-value-1d8f";
const PAYLOAD_MARK: &str = "payload-mark-77c2";

fn assert_clean(what: &str, debug: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !debug.contains(secret),
            "{what}'s Debug shows {secret:?}: {debug}"
        );
    }
}

#[tokio::test]
async fn debug_output_holds_no_secret_header_value_or_payload() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
        1_700_000_000_000,
    )));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let webhooks = Webhooks::builder(Arc::clone(&store))
        .clock(clock.clone())
        .event_type(EventType::new("invoice.paid").unwrap())
        .build()
        .await
        .unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let new = NewEndpoint::new("https://acme.example/hooks?token=query-secret-9a")
        .secret(SECRET.parse().unwrap())
        .header("X-Api-Key", HEADER_VALUE);
    let update = UpdateEndpoint::new().headers(BTreeMap::from([(
        "X-Api-Key".to_owned(),
        HEADER_VALUE.to_owned(),
    )]));
    let created = webhooks
        .create_endpoint_with(
            &tenant,
            new.clone(),
            CreateOptions::new().idempotency_key("k1"),
        )
        .await
        .unwrap();
    let id = created.endpoint.id.clone();
    let rotated = webhooks
        .rotate_secret_with_grace(&tenant, &id, Duration::from_secs(3600))
        .await
        .unwrap();
    let rotated_text = rotated.expose();
    let rotated_key = rotated_text.trim_start_matches("whsec_");
    let payload = serde_json::json!({ "card": PAYLOAD_MARK });
    let sent = webhooks
        .send(&tenant, "invoice.paid", payload.clone())
        .await
        .unwrap();
    let page = webhooks
        .list_deliveries(&tenant, &DeliveryFilter::new(), &PageRequest::first())
        .await
        .unwrap();
    let detail = webhooks.delivery(&tenant, &page.data[0].id).await.unwrap();
    let event = webhooks.event(&tenant, &sent.event_id).await.unwrap();
    let stored = store.endpoint(&tenant, &id).await.unwrap().unwrap();
    let now = clock.now();
    let claims = store
        .claim_due("w", now, now.saturating_add(Duration::from_secs(60)), 10)
        .await
        .unwrap();
    let prepared = webhooks
        .prepare_send(&tenant, "invoice.paid", payload.clone(), SendOptions::new())
        .await
        .unwrap();

    let secrets = [KEY_TEXT, rotated_key, HEADER_VALUE, PAYLOAD_MARK];
    let formatted: BTreeMap<&str, String> = BTreeMap::from([
        ("Webhooks", format!("{webhooks:?}")),
        ("MemoryStore", format!("{store:?}")),
        ("NewEndpoint", format!("{new:?}")),
        ("UpdateEndpoint", format!("{update:?}")),
        ("CreatedEndpoint", format!("{created:?}")),
        ("StoredEndpoint", format!("{stored:?}")),
        ("Endpoint", format!("{:?}", created.endpoint)),
        ("Event", format!("{event:?}")),
        ("DeliveryDetail", format!("{detail:?}")),
        ("Claim", format!("{claims:?}")),
        ("PreparedSend", format!("{prepared:?}")),
        ("Payload", format!("{:?}", Payload::from(payload))),
    ]);
    for (what, debug) in &formatted {
        assert_clean(what, debug, &secrets);
    }
    assert!(
        formatted["Endpoint"].contains("x-api-key"),
        "header names stay visible"
    );
}
