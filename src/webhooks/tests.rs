//! The facade's own rules, over the in-memory store: what does not depend
//! on a backend.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{CreateOptions, Webhooks};
use crate::clock::{Clock, ManualClock, Timestamp};
use crate::model::{Endpoint, EventType, NewEndpoint, TenantId, UpdateEndpoint};

const SECOND: Duration = Duration::from_secs(1);

struct Fixture {
    clock: Arc<ManualClock>,
    webhooks: Webhooks,
    tenant: TenantId,
}

impl Fixture {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new("2030-01-01T00:00:00Z".parse().unwrap()));
        let webhooks = Webhooks::in_memory()
            .clock(clock.clone())
            .event_types([EventType::new("invoice.paid").unwrap()])
            .build()
            .await
            .unwrap();
        Self {
            clock,
            webhooks,
            tenant: TenantId::new("acme").unwrap(),
        }
    }

    async fn create(&self, new: NewEndpoint) -> Endpoint {
        let created = self.webhooks.create_endpoint(&self.tenant, new);
        created.await.unwrap().endpoint
    }

    async fn update(&self, endpoint: &Endpoint, update: UpdateEndpoint) -> Endpoint {
        let updated = self
            .webhooks
            .update_endpoint(&self.tenant, &endpoint.id, update);
        updated.await.unwrap()
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn read(&self, endpoint: &Endpoint) -> Endpoint {
        let read = self.webhooks.endpoint(&self.tenant, &endpoint.id);
        read.await.unwrap()
    }
}

fn full() -> NewEndpoint {
    NewEndpoint::new("https://acme.example/hooks")
        .name("Billing")
        .description("invoices")
        .event_types(["invoice.paid"])
        .timeout(5 * SECOND)
        .rate_limit(10)
        .header("X-Team", "billing")
        .metadata("owner", "ops")
}

#[tokio::test]
async fn an_empty_update_changes_nothing_not_even_updated_at() {
    let f = Fixture::new().await;
    let created = f.create(full()).await;
    f.clock.advance(SECOND);

    let answer = f.update(&created, UpdateEndpoint::new()).await;
    assert_eq!(answer, created, "the answer to an empty update");
    assert_eq!(f.read(&created).await, created, "a read after it");
}

#[tokio::test]
async fn an_update_to_the_current_values_changes_nothing() {
    let f = Fixture::new().await;
    let created = f.create(full()).await;
    f.clock.advance(SECOND);

    // Every field, each to what it already is (the header name as given,
    // before it is lower-cased).
    let same = UpdateEndpoint::new()
        .url("https://acme.example/hooks")
        .name("Billing")
        .description("invoices")
        .event_types(["invoice.paid"])
        .timeout(5 * SECOND)
        .rate_limit(Some(10))
        .headers(BTreeMap::from([("X-Team".into(), "billing".into())]))
        .metadata(BTreeMap::from([("owner".into(), "ops".into())]))
        .enabled(true);
    assert_eq!(f.update(&created, same).await, created);
    assert_eq!(f.read(&created).await, created);
}

#[tokio::test]
async fn disabling_a_disabled_endpoint_keeps_its_reason_time_and_updated_at() {
    let f = Fixture::new().await;
    let created = f.create(full()).await;
    f.clock.advance(SECOND);
    let disabled = f
        .update(&created, UpdateEndpoint::new().enabled(false))
        .await;
    assert_eq!(disabled.updated_at, f.now());
    f.clock.advance(SECOND);

    let again = f
        .update(&disabled, UpdateEndpoint::new().enabled(false))
        .await;
    assert_eq!(again, disabled);
}

#[tokio::test]
async fn a_real_change_still_advances_updated_at() {
    let f = Fixture::new().await;
    let created = f.create(full()).await;
    f.clock.advance(SECOND);

    let renamed = f
        .update(&created, UpdateEndpoint::new().name("Other"))
        .await;
    assert_eq!(renamed.name, "Other");
    assert_eq!(renamed.updated_at, f.now());
}

#[tokio::test]
async fn enabled_is_part_of_the_idempotency_fingerprint() {
    let f = Fixture::new().await;
    let keyed = || CreateOptions::new().idempotency_key("key");
    let create = |new| f.webhooks.create_endpoint_with(&f.tenant, new, keyed());
    let first = create(full()).await.unwrap();
    assert_eq!(
        create(full().enabled(true)).await.unwrap(),
        first,
        "enabled(true) is the default, so the same request"
    );
    let off = create(full().enabled(false)).await;
    assert!(
        matches!(
            off,
            Err(crate::Error::Conflict {
                kind: crate::ConflictKind::IdempotencyKeyReused,
                ..
            })
        ),
        "{off:?}"
    );
}

#[tokio::test]
async fn created_disabled_is_disabled() {
    let f = Fixture::new().await;
    let off = f.create(full().enabled(false)).await;
    assert!(!off.is_active(), "{:?}", off.status);
    assert!(f.create(full()).await.is_active());
    assert!(NewEndpoint::default().enabled, "enabled unless told");
}
