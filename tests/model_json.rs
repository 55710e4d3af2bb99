//! The JSON shapes an HTTP layer serves and accepts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use hookshot::Webhooks;
use hookshot::clock::{ManualClock, Timestamp};
use hookshot::model::{EventType, NewEndpoint, TenantId, UpdateEndpoint};
use serde_json::{Value, json};

async fn webhooks(clock: Arc<ManualClock>) -> Webhooks {
    Webhooks::in_memory()
        .clock(clock)
        .event_types([EventType::new("invoice.paid").unwrap()])
        .build()
        .await
        .unwrap()
}

fn start() -> Arc<ManualClock> {
    Arc::new(ManualClock::new("2024-05-01T12:30:00Z".parse().unwrap()))
}

#[tokio::test]
async fn created_endpoint_shows_the_secret_and_reads_never_do() {
    let clock = start();
    let webhooks = webhooks(clock.clone()).await;
    let tenant = TenantId::new("acme").unwrap();
    let new = NewEndpoint::new("https://acme.example/hooks")
        .name("Billing")
        .event_types(["invoice.paid"])
        .header("X-Team", "billing");
    let created = webhooks.create_endpoint(&tenant, new).await.unwrap();
    let json = serde_json::to_value(&created).unwrap();
    assert_eq!(
        json["signing_secret"],
        json!(created.signing_secret.expose())
    );
    assert_eq!(json["status"], "active");
    assert_eq!(json["timeout_secs"], 15);
    assert_eq!(json["created_at"], "2024-05-01T12:30:00.000Z");
    assert_eq!(json["headers"], json!({"x-team": "billing"}));
    assert_eq!(json["event_types"], json!(["invoice.paid"]));
    assert!(json.get("last_triggered_at").is_none(), "{json}");
    assert!(!format!("{created:?}").contains(&created.signing_secret.expose()));

    let read = webhooks
        .endpoint(&tenant, &created.endpoint.id)
        .await
        .unwrap();
    let text = serde_json::to_string(&read).unwrap();
    assert!(!text.contains("whsec_"), "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["has_signing_secret"],
        true
    );
}

#[tokio::test]
async fn disabled_status_carries_reason_and_time() {
    let clock = start();
    let webhooks = webhooks(clock.clone()).await;
    let tenant = TenantId::default();
    let created = webhooks
        .create_endpoint(&tenant, NewEndpoint::new("https://a.example/"))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(60));
    let disabled = webhooks
        .update_endpoint(
            &tenant,
            &created.endpoint.id,
            UpdateEndpoint::new().enabled(false),
        )
        .await
        .unwrap();
    let json = serde_json::to_value(&disabled).unwrap();
    assert_eq!(json["status"], "disabled");
    assert_eq!(json["disabled_reason"], "disabled by the application");
    assert_eq!(json["disabled_at"], "2024-05-01T12:31:00.000Z");
    assert_eq!(json["updated_at"], "2024-05-01T12:31:00.000Z");
    // And it reads back into the same value.
    assert_eq!(
        serde_json::from_value::<hookshot::model::Endpoint>(json).unwrap(),
        disabled
    );
}

#[test]
fn request_bodies_deserialise_with_partial_update_semantics() {
    let new: NewEndpoint = serde_json::from_value(json!({
        "url": "https://a.example/",
        "event_types": ["invoice.paid"],
        "timeout_secs": 5,
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    }))
    .unwrap();
    assert_eq!(new.timeout, Some(Duration::from_secs(5)));
    assert!(new.secret.is_some());
    assert!(serde_json::from_value::<NewEndpoint>(json!({"url": "x", "colour": 1})).is_err());
    assert!(new.enabled, "enabled when left out");
    let off: NewEndpoint = serde_json::from_value(json!({"url": "x", "enabled": false})).unwrap();
    assert!(!off.enabled);
    // `enabled`, as in an update; the old `disabled` is gone, not an alias.
    assert!(serde_json::from_value::<NewEndpoint>(json!({"url": "x", "disabled": true})).is_err());

    let all: UpdateEndpoint = serde_json::from_value(json!({"event_types": null})).unwrap();
    assert_eq!(all.event_types, Some(None));
    let untouched: UpdateEndpoint = serde_json::from_value(json!({"name": "n"})).unwrap();
    assert_eq!(untouched.event_types, None);
    assert_eq!(untouched.name.as_deref(), Some("n"));
}

#[test]
fn timestamps_read_rfc3339_in_any_offset() {
    let ts: Timestamp = serde_json::from_value(json!("2024-05-01T14:30:00+02:00")).unwrap();
    assert_eq!(ts.to_string(), "2024-05-01T12:30:00.000Z");
    assert!(serde_json::from_value::<Timestamp>(json!("yesterday")).is_err());
}
