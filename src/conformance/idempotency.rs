//! Idempotency keys: a retried create or send answers the first answer, a
//! key reused for something else is a conflict, and keys expire.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::Sent;
use crate::error::Error;
use crate::id::EventId;
use crate::model::{CreatedEndpoint, EndpointFilter, TenantId};
use crate::signing::SigningSecret;
use crate::store::{Inserted, Store};
use crate::webhooks::{CreateOptions, DEFAULT_IDEMPOTENCY_WINDOW, SendOptions};

use super::fixtures::{
    CREATE_SCOPE, HOUR, MS, PAYLOAD, SECOND, SEND_KEY, START, any_delivery, assert_conflict,
    endpoint_request, full_endpoint_request, only, tenant,
};
use super::harness::Harness;
use super::raw_records::{
    idempotency_record, insert_raw_endpoint, raw_endpoint, raw_endpoint_id, read_endpoint,
};

const CREATE_KEY: &str = "create-billing-endpoint";

/// A create with `CREATE_KEY`.
fn create_key() -> CreateOptions {
    CreateOptions::new().idempotency_key(CREATE_KEY)
}

/// A send with `SEND_KEY`.
fn send_key() -> SendOptions {
    SendOptions::new().idempotency_key(SEND_KEY)
}

// Creating endpoints with a key.

/// A retry with the same key and request returns the first answer, secret
/// included, and creates nothing.
pub async fn idempotent_retry_returns_first_answer(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let first = h.create_keyed(full_endpoint_request(), CREATE_KEY).await;
    h.advance(HOUR);
    let retry = h.create_keyed(full_endpoint_request(), CREATE_KEY).await;
    assert_eq!(
        retry.endpoint, first.endpoint,
        "the retry answered another endpoint"
    );
    assert_eq!(
        retry.signing_secret.expose(),
        first.signing_secret.expose(),
        "the retry answered another secret"
    );
    assert_eq!(
        h.list_all().await,
        [first.endpoint.id],
        "the retry created one"
    );
}

/// A key reused for a different request is a Conflict that creates nothing
/// and keeps the first answer.
pub async fn idempotency_key_reuse_with_other_request_conflicts(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let first = h.create_keyed(full_endpoint_request(), CREATE_KEY).await;
    let others = [
        endpoint_request(1),
        full_endpoint_request().name("Other name"),
        full_endpoint_request().secret(SigningSecret::generate().expect("a secret")),
    ];
    for other in others {
        let result = h
            .webhooks
            .create_endpoint_with(&h.tenant, other, create_key())
            .await;
        assert_conflict(result, "a key reused for another request");
    }
    assert_eq!(
        h.list_all().await,
        only(&first.endpoint.id),
        "a conflict created one"
    );
    let retry = h.create_keyed(full_endpoint_request(), CREATE_KEY).await;
    assert_eq!(retry, first, "a conflict replaced the remembered answer");
}

/// Once the window has passed, the key creates again, and then remembers
/// the new answer.
pub async fn idempotency_key_expires_after_window(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let first = h.create_keyed(full_endpoint_request(), CREATE_KEY).await;
    h.advance(DEFAULT_IDEMPOTENCY_WINDOW - MS);
    let retry = h.create_keyed(full_endpoint_request(), CREATE_KEY).await;
    assert_eq!(retry, first, "the key was forgotten inside its window");

    h.advance(MS);
    let second = h.create_keyed(endpoint_request(1), CREATE_KEY).await;
    assert_ne!(
        second.endpoint.id, first.endpoint.id,
        "an expired key answered again"
    );
    assert_ne!(
        second.signing_secret, first.signing_secret,
        "expired key, old secret"
    );
    let expected = vec![second.endpoint.id.clone(), first.endpoint.id.clone()];
    assert_eq!(h.list_all().await, expected, "after the window");

    h.advance(SECOND);
    assert_eq!(
        h.create_keyed(endpoint_request(1), CREATE_KEY).await,
        second,
        "the new answer"
    );
    let result = h
        .webhooks
        .create_endpoint_with(&h.tenant, full_endpoint_request(), create_key())
        .await;
    assert_conflict(result, "the old request against the renewed key");
}

/// The same key in two tenants is two keys.
pub async fn idempotency_keys_are_per_tenant(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let other = tenant("globex");
    let mine = h.create_keyed(full_endpoint_request(), CREATE_KEY).await;
    let theirs = h
        .webhooks
        .create_endpoint_with(&other, endpoint_request(1), create_key())
        .await
        .unwrap_or_else(|e| panic!("the same key in another tenant: {e}"));
    assert_ne!(
        theirs.endpoint.id, mine.endpoint.id,
        "tenants shared an answer"
    );
    assert_eq!(theirs.endpoint.tenant, other);
    assert_eq!(h.list_all().await, only(&mine.endpoint.id));
    assert_eq!(
        h.list_in(&other, &EndpointFilter::default()).await,
        [theirs.endpoint.id]
    );
    assert_eq!(
        h.create_keyed(full_endpoint_request(), CREATE_KEY).await,
        mine,
        "own retry"
    );
}

/// Twenty simultaneous creates with one key make one endpoint and all get
/// its answer.
pub async fn concurrent_idempotent_creates_make_one_endpoint(store: Arc<dyn Store>) {
    const TASKS: usize = 20;
    let h = Harness::new(store).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let tasks: Vec<JoinHandle<Result<CreatedEndpoint, Error>>> = (0..TASKS)
        .map(|_| {
            let (webhooks, tenant) = (Arc::clone(&h.webhooks), h.tenant.clone());
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                webhooks
                    .create_endpoint_with(&tenant, full_endpoint_request(), create_key())
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let answer = task.await.expect("a create task panicked");
        answers.push(answer.unwrap_or_else(|e| panic!("a concurrent create failed: {e}")));
    }
    let first = &answers[0];
    for answer in &answers {
        assert_eq!(answer.endpoint.id, first.endpoint.id, "two ids for one key");
        assert_eq!(
            answer.signing_secret.expose(),
            first.signing_secret.expose()
        );
    }
    assert_eq!(
        h.list_all().await,
        only(&first.endpoint.id),
        "endpoints made"
    );
}

// Sending with a key.

/// The deliveries of the tenant are `per_event` for each of `events`, and
/// no others.
async fn check_events_queued(h: &Harness, events: &[&Sent], per_event: usize) {
    let mut counts: BTreeMap<EventId, usize> = BTreeMap::new();
    for delivery in h.deliveries().await {
        *counts.entry(delivery.event_id).or_default() += 1;
    }
    let expected: BTreeMap<EventId, usize> = events
        .iter()
        .map(|sent| (sent.event_id.clone(), per_event))
        .collect();
    assert_eq!(counts, expected, "deliveries per event");
}

/// A retry with the same key, type and payload answers the first `Sent` and
/// queues nothing more.
pub async fn send_idempotent_retry_returns_first_answer(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.create_two_receivers().await;
    let first = h.send_paid_with_key(None).await;
    assert_eq!(first.deliveries, 2, "the first send");
    h.advance(HOUR);
    h.send_paid_with_key(Some(&first)).await;
    check_events_queued(&h, &[&first], 2).await;
    let claims = h.claim_due_now("worker", 100).await;
    assert_eq!(claims.len(), 2, "deliveries due after the retry");
}

/// A key reused with another type or payload is a Conflict that queues
/// nothing and keeps the first answer.
pub async fn send_key_reuse_with_other_event_conflicts(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.create_two_receivers().await;
    let first = h.send_paid_with_key(None).await;
    let others = [
        (
            "another payload",
            "invoice.paid",
            r#"{"invoice":"in_2","amount":4200}"#,
        ),
        ("another type", "invoice.voided", PAYLOAD),
    ];
    for (what, event_type, payload) in others {
        let result = h
            .webhooks
            .send_with(&h.tenant, event_type, payload, send_key())
            .await;
        assert_conflict(result, what);
    }
    check_events_queued(&h, &[&first], 2).await;
    h.send_paid_with_key(Some(&first)).await;
}

/// Once the idempotency window has passed, the key sends again, and then
/// remembers the new answer.
pub async fn send_key_expires_after_window(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.create_two_receivers().await;
    let first = h.send_paid_with_key(None).await;
    h.advance(DEFAULT_IDEMPOTENCY_WINDOW - MS);
    h.send_paid_with_key(Some(&first)).await;
    h.advance(MS);
    let second = h.send_paid_with_key(None).await;
    assert_ne!(second.event_id, first.event_id, "an expired key answered");
    check_events_queued(&h, &[&first, &second], 2).await;
    h.advance(SECOND);
    h.send_paid_with_key(Some(&second)).await;
}

/// The same key in two tenants, or for an endpoint and an event, is
/// different keys.
pub async fn send_keys_are_per_tenant_and_operation(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let other = tenant("globex");
    let created = h.create_keyed(endpoint_request(1), SEND_KEY).await;
    h.create_in(&other, endpoint_request(2)).await;
    let mine = h.send_paid_with_key(None).await;
    let theirs = h.send_as(&other, "invoice.paid", PAYLOAD, send_key()).await;
    assert_ne!(theirs.event_id, mine.event_id, "tenants shared an answer");
    assert_eq!((mine.deliveries, theirs.deliveries), (1, 1), "deliveries");
    check_events_queued(&h, &[&mine], 1).await;
    let listed = h.deliveries_in(&other, &any_delivery()).await;
    let events: Vec<&EventId> = listed.iter().map(|d| &d.event_id).collect();
    assert_eq!(events, [&theirs.event_id], "the other tenant's deliveries");

    h.send_paid_with_key(Some(&mine)).await;
    let again = h.create_keyed(endpoint_request(1), SEND_KEY).await;
    assert_eq!(again, created, "the endpoint's key after a send with it");
}

/// Twenty simultaneous sends with one key queue one event and all get its
/// answer.
pub async fn concurrent_idempotent_sends_queue_one_event(store: Arc<dyn Store>) {
    const TASKS: usize = 20;
    let h = Harness::new(store).await;
    h.create_two_receivers().await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<JoinHandle<Result<Sent, Error>>> = (0..TASKS)
        .map(|_| {
            let (webhooks, tenant) = (Arc::clone(&h.webhooks), h.tenant.clone());
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                let keyed = send_key();
                webhooks
                    .send_with(&tenant, "invoice.paid", PAYLOAD, keyed)
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        let answer = task.await.expect("a send task panicked");
        answers.push(answer.unwrap_or_else(|e| panic!("a concurrent send failed: {e}")));
    }
    for answer in &answers {
        assert_eq!(answer, &answers[0], "two answers for one key");
    }
    check_events_queued(&h, &[&answers[0]], 2).await;
}

// The backend itself, called directly.

/// Idempotency records hold their key from `created_at` until `expires_at`
/// as passed in, per tenant and scope, never by the wall clock.
pub async fn backend_idempotency_expiry_uses_given_times(store: Arc<dyn Store>) {
    let (t, other) = (tenant("acme"), tenant("globex"));
    let at = |offset: Duration| START.saturating_add(offset);
    let claim = async |n: u32, tenant: &TenantId, scope: &str, offset: Duration| {
        let rec = idempotency_record(tenant, scope, "k", at(offset));
        let result = insert_raw_endpoint(&store, raw_endpoint(tenant, n), Some(rec)).await;
        result.unwrap_or_else(|e| panic!("insert {n} with a key failed: {e}"))
    };
    let first = idempotency_record(&t, CREATE_SCOPE, "k", at(Duration::ZERO));
    assert_eq!(
        claim(1, &t, CREATE_SCOPE, Duration::ZERO).await,
        Inserted::Created
    );
    for offset in [HOUR / 2, HOUR - MS] {
        let answer = claim(2, &t, CREATE_SCOPE, offset).await;
        assert_eq!(
            answer,
            Inserted::Existing(first.clone()),
            "a live key at {offset:?}"
        );
    }
    assert!(
        read_endpoint(&store, &t, &raw_endpoint_id(2))
            .await
            .is_none(),
        "a live key stored anyway"
    );

    assert_eq!(
        claim(3, &t, CREATE_SCOPE, HOUR).await,
        Inserted::Created,
        "at expires_at"
    );
    assert!(
        read_endpoint(&store, &t, &raw_endpoint_id(3))
            .await
            .is_some(),
        "the renewed insert"
    );
    let renewed = idempotency_record(&t, CREATE_SCOPE, "k", at(HOUR));
    let answer = claim(4, &t, CREATE_SCOPE, HOUR + MS).await;
    assert_eq!(
        answer,
        Inserted::Existing(renewed),
        "the renewed record holds the key"
    );
    assert_eq!(
        claim(5, &t, "other.scope", HOUR + MS).await,
        Inserted::Created,
        "scope"
    );
    assert_eq!(
        claim(6, &other, CREATE_SCOPE, HOUR + MS).await,
        Inserted::Created,
        "tenant"
    );
}
