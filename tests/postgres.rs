#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Postgres backend against a real server: the conformance suite, then
//! what only a shared database has (migrations, the outbox, retention,
//! wake-ups across stores, dispatchers in other processes).
//!
//! Reads `DATABASE_URL`; each store works in a fresh schema that is dropped
//! afterwards.

use std::sync::Arc;

use hookshot::store::Store;
use hookshot::store::postgres::PostgresStore;

/// The server to test against. Missing is a failure, never a skip: these
/// tests are the only proof the backend works.
fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set. The Postgres tests need a server, e.g.\n  \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --all-features\n\
             (run the tests without `--features postgres` to leave them out)"
        )
    })
}

async fn fresh() -> PostgresStore {
    PostgresStore::temporary(&database_url()).await.unwrap()
}

hookshot::conformance_tests!(
    || async { Arc::new(fresh().await) as Arc<dyn Store> },
    capabilities = [purge, watch_new_work, renew_leases],
);

mod backend {
    use std::sync::Arc;
    use std::time::Duration;

    use hookshot::clock::{Clock, ManualClock, Timestamp};
    use hookshot::model::{
        Attempt, AttemptOutcome, Delivery, DeliveryFilter, DeliveryStatus, EventType, NewEndpoint,
        PageRequest, TenantId, Trigger,
    };
    use hookshot::store::postgres::PostgresStore;
    use hookshot::store::{DeliveryStore, Lease, Store};
    use hookshot::{SendOptions, Webhooks};

    use super::{database_url, fresh};

    const START: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

    async fn webhooks_over(store: &PostgresStore, clock: Arc<dyn Clock>) -> Webhooks {
        Webhooks::builder(Arc::new(store.clone()) as Arc<dyn Store>)
            .local_development(true)
            .clock(clock)
            .event_type(EventType::new("order.placed").unwrap())
            .build()
            .await
            .unwrap()
    }

    /// Runs `task` for each of `inputs` on its own tokio task, all at once,
    /// and returns the outputs in input order.
    async fn all_at_once<I, T, F>(
        inputs: impl IntoIterator<Item = I>,
        task: impl Fn(I) -> F,
    ) -> Vec<T>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handles: Vec<_> = inputs.into_iter().map(|i| tokio::spawn(task(i))).collect();
        let mut out = Vec::new();
        for handle in handles {
            out.push(handle.await.unwrap());
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn migrate_is_repeatable_and_safe_from_many_processes_at_once() {
        let store = fresh().await;
        let schema = store.schema().to_owned();
        let results = all_at_once(0..4, |_| {
            let (url, schema) = (database_url(), schema.clone());
            async move {
                let other = PostgresStore::connect(&url, &schema).await?;
                other.migrate().await
            }
        })
        .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        store.migrate().await.unwrap();
        let versions: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {schema}.migrations"))
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(versions, 2);
    }

    #[tokio::test]
    async fn outbox_commits_and_rolls_back_with_the_callers_transaction() {
        let store = fresh().await;
        let clock = Arc::new(ManualClock::new(START));
        let webhooks = webhooks_over(&store, clock).await;
        let tenant = TenantId::new("shop").unwrap();
        webhooks
            .create_endpoint(&tenant, NewEndpoint::new("http://127.0.0.1:9/hooks"))
            .await
            .unwrap();
        let orders = format!("{}.orders", store.schema());
        sqlx::query(&format!("CREATE TABLE {orders} (id INT PRIMARY KEY)"))
            .execute(store.pool())
            .await
            .unwrap();

        let prepared = webhooks
            .prepare_send(
                &tenant,
                "order.placed",
                r#"{"id":1,"card":"4242"}"#,
                SendOptions::new(),
            )
            .await
            .unwrap();
        let shown = format!("{prepared:?}");
        assert!(!shown.contains("4242"), "the payload is not shown: {shown}");
        assert!(shown.contains("deliveries: 1"), "{shown}");
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {orders} VALUES (1)"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let abandoned = store.enqueue_in(&mut tx, prepared).await.unwrap();
        assert_eq!(abandoned.deliveries, 1);
        tx.rollback().await.unwrap();
        assert!(webhooks.event(&tenant, &abandoned.event_id).await.is_err());

        // The same key each time: the retry and the conflict below reuse it.
        let order_2 = || SendOptions::new().idempotency_key("order-2");
        let prepared = webhooks
            .prepare_send(&tenant, "order.placed", r#"{"id":2}"#, order_2())
            .await
            .unwrap();
        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {orders} VALUES (2)"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let sent = store.enqueue_in(&mut tx, prepared).await.unwrap();
        // Not visible to anyone else until the caller commits.
        assert!(webhooks.event(&tenant, &sent.event_id).await.is_err());
        tx.commit().await.unwrap();
        let listed = webhooks
            .list_deliveries(&tenant, &DeliveryFilter::default(), &PageRequest::first())
            .await
            .unwrap();
        assert_eq!(listed.data.len(), 1);
        assert_eq!(listed.data[0].event_id, sent.event_id);

        // The key is honoured inside the outbox too: the retry answers as
        // the first send did and queues nothing.
        let retry = webhooks
            .prepare_send(&tenant, "order.placed", r#"{"id":2}"#, order_2())
            .await
            .unwrap();
        let mut tx = store.pool().begin().await.unwrap();
        let again = store.enqueue_in(&mut tx, retry).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(again, sent);
        let different = webhooks
            .prepare_send(&tenant, "order.placed", r#"{"id":3}"#, order_2())
            .await
            .unwrap();
        let mut tx = store.pool().begin().await.unwrap();
        let reused = store.enqueue_in(&mut tx, different).await.unwrap_err();
        tx.rollback().await.unwrap();
        assert!(
            matches!(
                reused,
                hookshot::Error::Conflict {
                    kind: hookshot::ConflictKind::IdempotencyKeyReused,
                    ..
                }
            ),
            "{reused}"
        );
        let listed = webhooks
            .list_deliveries(&tenant, &DeliveryFilter::default(), &PageRequest::first())
            .await
            .unwrap();
        assert_eq!(listed.data.len(), 1);
    }

    #[tokio::test]
    async fn outbox_refusals_name_the_problem() {
        let store = fresh().await;
        let webhooks = webhooks_over(&store, Arc::new(ManualClock::new(START))).await;
        let tenant = TenantId::new("shop").unwrap();
        let unknown = webhooks
            .prepare_send(&tenant, "order.lost", "{}", SendOptions::new())
            .await
            .unwrap_err();
        assert!(unknown.to_string().contains("order.lost"), "{unknown}");
        let not_json = webhooks
            .prepare_send(&tenant, "order.placed", "{nope", SendOptions::new())
            .await
            .unwrap_err();
        assert!(matches!(not_json, hookshot::Error::InvalidInput { .. }));
    }

    /// A send prepared by a `Webhooks` over another store would queue
    /// deliveries to endpoints this schema does not have: it is refused,
    /// with nothing written.
    #[tokio::test]
    async fn outbox_refuses_a_send_prepared_over_another_store() {
        let store = fresh().await;
        let here = webhooks_over(&store, Arc::new(ManualClock::new(START))).await;
        let tenant = TenantId::new("shop").unwrap();
        here.create_endpoint(&tenant, NewEndpoint::new("http://127.0.0.1:9/a"))
            .await
            .unwrap();
        let elsewhere = Webhooks::in_memory()
            .local_development(true)
            .event_type(EventType::new("order.placed").unwrap())
            .event_type(EventType::new("order.shipped").unwrap())
            .build()
            .await
            .unwrap();
        let stranger = elsewhere
            .create_endpoint(&tenant, NewEndpoint::new("http://127.0.0.1:9/b"))
            .await
            .unwrap();

        let mut tx = store.pool().begin().await.unwrap();
        let foreign_endpoint = elsewhere
            .prepare_send(&tenant, "order.placed", "{}", SendOptions::new())
            .await
            .unwrap();
        let refused = store
            .enqueue_in(&mut tx, foreign_endpoint)
            .await
            .unwrap_err();
        assert!(
            matches!(refused, hookshot::Error::InvalidInput { .. }),
            "{refused}"
        );
        let text = refused.to_string();
        assert!(text.contains("another store"), "{text}");
        assert!(text.contains(stranger.endpoint.id.as_str()), "{text}");

        let foreign_type = elsewhere
            .prepare_send(&tenant, "order.shipped", "{}", SendOptions::new())
            .await
            .unwrap();
        let refused = store.enqueue_in(&mut tx, foreign_type).await.unwrap_err();
        assert!(refused.to_string().contains("order.shipped"), "{refused}");
        tx.commit().await.unwrap();
        let events: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {}.events", store.schema()))
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(events, 0, "nothing written");

        // Another instance over the same schema is the same store.
        let twin = PostgresStore::connect(&database_url(), store.schema())
            .await
            .unwrap();
        let prepared = here
            .prepare_send(&tenant, "order.placed", "{}", SendOptions::new())
            .await
            .unwrap();
        let mut tx = twin.pool().begin().await.unwrap();
        let sent = twin.enqueue_in(&mut tx, prepared).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(sent.deliveries, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn claims_take_the_longest_overdue_and_skip_what_others_hold() {
        let store = fresh().await;
        let clock = Arc::new(ManualClock::new(START));
        let webhooks = webhooks_over(&store, clock.clone()).await;
        let tenant = TenantId::new("shop").unwrap();
        webhooks
            .create_endpoint(&tenant, NewEndpoint::new("http://127.0.0.1:9/a"))
            .await
            .unwrap();
        let mut sent = Vec::new();
        for i in 0..40 {
            clock.advance(Duration::from_millis(1));
            let body = format!(r#"{{"id":{i}}}"#);
            sent.push(webhooks.send(&tenant, "order.placed", body).await.unwrap());
        }
        let now = clock.now();
        let until = now.saturating_add(Duration::from_secs(60));
        // Eight claimers on their own connections, all at once.
        let claims = all_at_once(0..8, |i| {
            let store = store.clone();
            async move {
                store
                    .claim_due(&format!("w{i}"), now, until, 10)
                    .await
                    .unwrap()
            }
        })
        .await;
        let mut ids: Vec<_> = claims
            .iter()
            .flatten()
            .map(|c| c.event.id.clone())
            .collect();
        assert_eq!(ids.len(), 40, "every due delivery claimed once");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40, "no delivery claimed twice");
        for batch in &claims {
            let order: Vec<_> = batch.iter().map(|c| c.event.id.clone()).collect();
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(order, sorted, "oldest first within a batch");
        }
    }

    /// A lease no claim here could have made (its worker holds a NUL, which
    /// PostgreSQL text cannot) holds nothing, as on any store: recording
    /// under it answers `false` and releasing it does nothing. Recorded at
    /// the same time as real attempts, in one batched statement, it fails
    /// none of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_forged_lease_fails_no_attempt_recorded_with_it() {
        let store = fresh().await;
        let clock = Arc::new(ManualClock::new(START));
        let webhooks = webhooks_over(&store, clock.clone()).await;
        let tenant = TenantId::new("shop").unwrap();
        webhooks
            .create_endpoint(&tenant, NewEndpoint::new("http://127.0.0.1:9/a"))
            .await
            .unwrap();
        for i in 0..13 {
            clock.advance(Duration::from_millis(1));
            let body = format!(r#"{{"id":{i}}}"#);
            webhooks.send(&tenant, "order.placed", body).await.unwrap();
        }
        let now = clock.now();
        let until = now.saturating_add(Duration::from_secs(60));
        let mut claims = store.claim_due("w1", now, until, 100).await.unwrap();
        assert_eq!(claims.len(), 13, "claims");
        let record = |lease: Lease, delivery: &Delivery| {
            let outcome = AttemptOutcome::Response {
                status: 200,
                body: "ok".into(),
                body_truncated: false,
            };
            let attempt = Attempt::new(
                delivery.id.clone(),
                1,
                Trigger::Scheduled,
                now,
                Duration::from_millis(5),
                outcome,
            );
            let mut next = delivery.clone();
            next.status = DeliveryStatus::Delivered;
            next.attempts = 1;
            next.scheduled_attempts = 1;
            next.last_attempt_at = Some(now);
            next.next_attempt_at = None;
            next.last_response_status = Some(200);
            (lease, attempt, next)
        };
        // The last claim is left in flight; the forged lease names it.
        let held = claims.pop().unwrap();
        let forged = Lease::new(held.delivery.id.clone(), "w1\0", until);
        let mut finishes: Vec<_> = claims
            .iter()
            .map(|c| record(c.lease.clone(), &c.delivery))
            .collect();
        finishes.insert(5, record(forged.clone(), &held.delivery));
        let answers = all_at_once(finishes, |(lease, attempt, next)| {
            let store = store.clone();
            async move { store.finish_attempt(&lease, attempt, next).await }
        })
        .await;
        let answers: Vec<String> = answers.iter().map(|a| format!("{a:?}")).collect();
        let mut expected = vec!["Ok(true)".to_owned(); 12];
        expected.insert(5, "Ok(false)".to_owned());
        assert_eq!(answers, expected, "what each recording answered");
        store
            .release(&forged, now)
            .await
            .expect("releasing the forged lease");
        let id = &held.delivery.id;
        let stored = store.delivery(&tenant, id).await.unwrap();
        assert_eq!(stored, Some(held.delivery.clone()), "still in flight");
        let attempts = store.attempts(&tenant, id).await.unwrap();
        assert!(attempts.is_empty(), "attempts at {id}: {attempts:?}");
    }
}

/// What the store keeps in its JSON `record` columns: pinned to literals,
/// so that changing a public serde attribute cannot change what is stored,
/// and converted from what schema version 1 wrote.
mod records {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use hookshot::SigningSecret;
    use hookshot::clock::Timestamp;
    use hookshot::model::{
        Attempt, AttemptOutcome, Delivery, DeliveryStatus, Endpoint, EndpointSecrets,
        EndpointStatus, Event, EventType, RetiredSecret, StoredEndpoint, TenantId, Trigger,
    };
    use hookshot::store::postgres::PostgresStore;
    use hookshot::store::{CatalogStore, DeliveryStore, EndpointStore};
    use serde_json::{Value, json};

    use super::{database_url, fresh};

    const RICH: &str = "ep_01hwt245a07xmyxfcg1ma19t6d";
    const DISABLED: &str = "ep_01hwt25zx0f5nh30ya9ksg5jhd";
    const DELETED: &str = "ep_01hwt25zx0f5nh30ya9ksg5jhg";
    const EVENT: &str = "msg_01hwt25zx0f5nh30ya9ksg5jhe";
    const DELIVERY: &str = "dlv_01hwt25zx0f5nh30ya9ksg5jhf";
    const CURRENT: &str = "whsec_NcAGRP9rY67AwNzUWYLXWNp9jJ1T/RkSvYeY9Yu32wA=";
    const RETIRED: &str = "whsec_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const DISABLED_SECRET: &str = "whsec_AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";
    const DELETED_SECRET: &str = "whsec_BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=";

    /// An endpoint row of schema version 1.
    struct V1Endpoint {
        id: &'static str,
        active: bool,
        deleted: bool,
        event_types: Option<&'static [&'static str]>,
        record: &'static str,
    }

    /// Endpoint records as hookshot wrote them at schema version 1, taken
    /// from a run of that version: the public `Endpoint` JSON inside.
    const V1_ENDPOINTS: [V1Endpoint; 3] = [
        V1Endpoint {
            id: RICH,
            active: true,
            deleted: false,
            event_types: Some(&["order.*", "order.placed"]),
            record: r#"{"secret": "whsec_NcAGRP9rY67AwNzUWYLXWNp9jJ1T/RkSvYeY9Yu32wA=", "retired": [{"secret": "whsec_AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "expires_at": "2024-05-01T13:31:00.000Z"}], "endpoint": {"id": "ep_01hwt245a07xmyxfcg1ma19t6d", "url": "http://127.0.0.1:9/rich", "name": "Rich", "status": "active", "tenant": "shop", "headers": {"x-team": "billing"}, "metadata": {"plan": "pro"}, "created_at": "2024-05-01T12:30:00.000Z", "updated_at": "2024-05-01T12:31:00.000Z", "description": "All the fields", "event_types": ["order.*", "order.placed"], "timeout_secs": 5, "last_triggered_at": "2024-05-01T12:31:00.000Z", "has_signing_secret": true, "rate_limit_per_sec": 20}, "deleted_at": null, "failing_since": "2024-05-01T12:31:00.123Z"}"#,
        },
        V1Endpoint {
            id: DISABLED,
            active: false,
            deleted: false,
            event_types: None,
            record: r#"{"secret": "whsec_AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=", "retired": [], "endpoint": {"id": "ep_01hwt25zx0f5nh30ya9ksg5jhd", "url": "http://127.0.0.1:9/plain", "name": "", "status": "disabled", "tenant": "shop", "headers": {}, "metadata": {}, "created_at": "2024-05-01T12:31:00.000Z", "updated_at": "2024-05-01T12:31:00.000Z", "description": "", "disabled_at": "2024-05-01T12:31:00.000Z", "timeout_secs": 15, "disabled_reason": "created disabled", "has_signing_secret": true}, "deleted_at": null, "failing_since": null}"#,
        },
        V1Endpoint {
            id: DELETED,
            active: true,
            deleted: true,
            event_types: None,
            record: r#"{"secret": "whsec_BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=", "retired": [], "endpoint": {"id": "ep_01hwt25zx0f5nh30ya9ksg5jhg", "url": "http://127.0.0.1:9/gone", "name": "", "status": "active", "tenant": "shop", "headers": {}, "metadata": {}, "created_at": "2024-05-01T12:31:00.000Z", "updated_at": "2024-05-01T12:31:00.000Z", "description": "", "timeout_secs": 15, "has_signing_secret": true}, "deleted_at": "2024-05-01T12:31:00.000Z", "failing_since": null}"#,
        },
    ];

    const V1_EVENT_TYPES: [(&str, &str); 2] = [
        (
            "order.cancelled",
            r#"{"name": "order.cancelled", "group": "order", "title": "order.cancelled", "deprecated": true, "description": ""}"#,
        ),
        (
            "order.placed",
            r#"{"name": "order.placed", "group": "order", "title": "Order placed", "example": {"order": 1}, "deprecated": false, "description": "An order was placed."}"#,
        ),
    ];

    const V1_ATTEMPTS: [&str; 2] = [
        r#"{"body": "busy", "number": 1, "status": 503, "outcome": "response", "trigger": "scheduled", "started_at": "2024-05-01T12:31:00.000Z", "delivery_id": "dlv_01hwt25zx0f5nh30ya9ksg5jhf", "duration_ms": 250, "body_truncated": false}"#,
        r#"{"kind": "timeout", "number": 2, "message": "no answer in 15 s", "outcome": "error", "trigger": "manual", "started_at": "2024-05-01T12:32:00.000Z", "delivery_id": "dlv_01hwt25zx0f5nh30ya9ksg5jhf", "duration_ms": 15000}"#,
    ];

    /// The stored form since schema version 2, by row key. A change here is
    /// a change of what is on disk: it needs a new version and a migration.
    fn pinned_endpoints() -> BTreeMap<String, Value> {
        let plain = |url: &str, secret: &str| {
            json!({
                "version": 2, "name": "", "description": "", "url": url,
                "event_types": null, "disabled": null, "timeout_ms": 15000,
                "rate_limit_per_sec": null, "headers": {}, "metadata": {},
                "has_signing_secret": true, "created_at_ms": 1_714_566_660_000_i64,
                "updated_at_ms": 1_714_566_660_000_i64, "last_triggered_at_ms": null,
                "secret": secret, "retired": [], "deleted_at_ms": null,
                "failing_since_ms": null,
            })
        };
        let mut disabled = plain("http://127.0.0.1:9/plain", DISABLED_SECRET);
        disabled["disabled"] =
            json!({"reason": "created disabled", "since_ms": 1_714_566_660_000_i64});
        let mut deleted = plain("http://127.0.0.1:9/gone", DELETED_SECRET);
        deleted["deleted_at_ms"] = json!(1_714_566_660_000_i64);
        let rich = json!({
            "version": 2,
            "name": "Rich",
            "description": "All the fields",
            "url": "http://127.0.0.1:9/rich",
            "event_types": ["order.*", "order.placed"],
            "disabled": null,
            "timeout_ms": 5000,
            "rate_limit_per_sec": 20,
            "headers": {"x-team": "billing"},
            "metadata": {"plan": "pro"},
            "has_signing_secret": true,
            "created_at_ms": 1_714_566_600_000_i64,
            "updated_at_ms": 1_714_566_660_000_i64,
            "last_triggered_at_ms": 1_714_566_660_000_i64,
            "secret": CURRENT,
            "retired": [{"secret": RETIRED, "expires_at_ms": 1_714_570_260_000_i64}],
            "deleted_at_ms": null,
            "failing_since_ms": 1_714_566_660_123_i64,
        });
        [(RICH, rich), (DISABLED, disabled), (DELETED, deleted)]
            .into_iter()
            .map(|(id, record)| (id.to_owned(), record))
            .collect()
    }

    fn pinned_event_types() -> BTreeMap<String, Value> {
        BTreeMap::from([
            (
                "order.cancelled".to_owned(),
                json!({
                    "version": 2, "group": "order", "title": "order.cancelled",
                    "description": "", "example": null, "deprecated": true,
                }),
            ),
            (
                "order.placed".to_owned(),
                json!({
                    "version": 2, "group": "order", "title": "Order placed",
                    "description": "An order was placed.", "example": {"order": 1},
                    "deprecated": false,
                }),
            ),
        ])
    }

    fn pinned_attempts() -> Vec<Value> {
        vec![
            json!({
                "version": 2, "number": 1, "trigger": "scheduled",
                "started_at_ms": 1_714_566_660_000_i64, "duration_ms": 250,
                "outcome": {"type": "response", "status": 503, "body": "busy", "body_truncated": false},
            }),
            json!({
                "version": 2, "number": 2, "trigger": "manual",
                "started_at_ms": 1_714_566_720_000_i64, "duration_ms": 15000,
                "outcome": {"type": "error", "kind": "timeout", "message": "no answer in 15 s"},
            }),
        ]
    }

    /// The same rows as the model holds them.
    fn endpoints() -> BTreeMap<&'static str, StoredEndpoint> {
        let at = |text: &str| text.parse::<Timestamp>().unwrap();
        let secret = |text: &str| text.parse::<SigningSecret>().unwrap();
        let plain = |id: &str, url: &str, key: &str| {
            let created = at("2024-05-01T12:31:00Z");
            let tenant = TenantId::new("shop").unwrap();
            let endpoint = Endpoint::new(id.parse().unwrap(), tenant, url, created);
            StoredEndpoint::new(endpoint, EndpointSecrets::new(secret(key)))
        };
        let mut disabled = plain(DISABLED, "http://127.0.0.1:9/plain", DISABLED_SECRET);
        disabled.endpoint.status = EndpointStatus::Disabled {
            reason: "created disabled".into(),
            since: at("2024-05-01T12:31:00Z"),
        };
        let mut deleted = plain(DELETED, "http://127.0.0.1:9/gone", DELETED_SECRET);
        deleted.deleted_at = Some(at("2024-05-01T12:31:00Z"));
        let mut rich = plain(RICH, "http://127.0.0.1:9/rich", CURRENT);
        let e = &mut rich.endpoint;
        e.name = "Rich".into();
        e.description = "All the fields".into();
        e.event_types = Some(["order.*".to_owned(), "order.placed".to_owned()].into());
        e.timeout = Duration::from_secs(5);
        e.rate_limit = Some(20);
        e.headers.insert("x-team".into(), "billing".into());
        e.metadata.insert("plan".into(), "pro".into());
        e.created_at = at("2024-05-01T12:30:00Z");
        e.last_triggered_at = Some(at("2024-05-01T12:31:00Z"));
        rich.secrets.retired.push(RetiredSecret::new(
            secret(RETIRED),
            at("2024-05-01T13:31:00Z"),
        ));
        rich.failing_since = Some(at("2024-05-01T12:31:00.123Z"));
        BTreeMap::from([(RICH, rich), (DISABLED, disabled), (DELETED, deleted)])
    }

    fn event_types() -> Vec<EventType> {
        vec![
            EventType::new("order.cancelled").unwrap().deprecated(true),
            EventType::new("order.placed")
                .unwrap()
                .title("Order placed")
                .description("An order was placed.")
                .example(json!({"order": 1})),
        ]
    }

    fn attempts() -> Vec<Attempt> {
        let attempt = |number, trigger, started: &str, millis, outcome| {
            Attempt::new(
                DELIVERY.parse().unwrap(),
                number,
                trigger,
                started.parse().unwrap(),
                Duration::from_millis(millis),
                outcome,
            )
        };
        vec![
            attempt(
                1,
                Trigger::Scheduled,
                "2024-05-01T12:31:00Z",
                250,
                AttemptOutcome::Response {
                    status: 503,
                    body: "busy".into(),
                    body_truncated: false,
                },
            ),
            attempt(
                2,
                Trigger::Manual,
                "2024-05-01T12:32:00Z",
                15000,
                AttemptOutcome::Error {
                    kind: "timeout".into(),
                    message: "no answer in 15 s".into(),
                },
            ),
        ]
    }

    /// The `record` columns as stored, by row key (attempts in order).
    async fn stored(
        store: &PostgresStore,
    ) -> (BTreeMap<String, Value>, BTreeMap<String, Value>, Vec<Value>) {
        let s = store.schema();
        let keyed = |table: &str, key: &str| format!("SELECT {key}, record::text FROM {s}.{table}");
        let read = |rows: Vec<(String, String)>| -> BTreeMap<String, Value> {
            rows.into_iter()
                .map(|(key, record)| (key, serde_json::from_str(&record).unwrap()))
                .collect()
        };
        let endpoints = sqlx::query_as(&keyed("endpoints", "id"))
            .fetch_all(store.pool())
            .await
            .unwrap();
        let event_types = sqlx::query_as(&keyed("event_types", "name"))
            .fetch_all(store.pool())
            .await
            .unwrap();
        let attempts: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT record::text FROM {s}.attempts ORDER BY seq"
        ))
        .fetch_all(store.pool())
        .await
        .unwrap();
        (
            read(endpoints),
            read(event_types),
            attempts
                .iter()
                .map(|r| serde_json::from_str(r).unwrap())
                .collect(),
        )
    }

    /// Everything reads back through the store as the model values.
    async fn assert_reads_back(store: &PostgresStore) {
        let tenant = TenantId::new("shop").unwrap();
        for (id, expected) in endpoints() {
            let read = store.endpoint(&tenant, &id.parse().unwrap()).await.unwrap();
            if expected.deleted_at.is_some() {
                assert_eq!(read, None, "{id} is deleted");
            } else {
                let read = read.unwrap();
                assert_eq!(read, expected, "{id}");
                let secrets: Vec<String> = read
                    .secrets
                    .signing_at(Timestamp::from_unix_millis(0))
                    .map(SigningSecret::expose)
                    .collect();
                let wanted: Vec<String> = expected
                    .secrets
                    .signing_at(Timestamp::from_unix_millis(0))
                    .map(SigningSecret::expose)
                    .collect();
                assert_eq!(secrets, wanted, "{id}: secrets and all");
            }
        }
        let placed = store.event_type("order.placed").await.unwrap().unwrap();
        assert_eq!(
            store.subscribers(&tenant, &placed).await.unwrap(),
            [RICH.parse().unwrap()]
        );
        assert_eq!(store.event_types().await.unwrap(), event_types());
        assert_eq!(
            store.event_type("order.placed").await.unwrap().as_ref(),
            event_types().get(1)
        );
        assert_eq!(
            store
                .attempts(&tenant, &DELIVERY.parse().unwrap())
                .await
                .unwrap(),
            attempts()
        );
    }

    async fn write_v1_rows(store: &PostgresStore) {
        let s = store.schema();
        let run = |sql: String| async move {
            sqlx::query(&sql).execute(store.pool()).await.unwrap();
        };
        for V1Endpoint {
            id,
            active,
            deleted,
            event_types,
            record,
        } in V1_ENDPOINTS
        {
            sqlx::query(&format!(
                "INSERT INTO {s}.endpoints (id, tenant, active, deleted, event_types, record) \
                 VALUES ($1, 'shop', $2, $3, $4, $5::jsonb)"
            ))
            .bind(id)
            .bind(active)
            .bind(deleted)
            .bind(event_types.map(<[&str]>::to_vec))
            .bind(record)
            .execute(store.pool())
            .await
            .unwrap();
        }
        for (name, record) in V1_EVENT_TYPES {
            sqlx::query(&format!(
                "INSERT INTO {s}.event_types (name, record) VALUES ($1, $2::jsonb)"
            ))
            .bind(name)
            .bind(record)
            .execute(store.pool())
            .await
            .unwrap();
        }
        run(format!(
            "INSERT INTO {s}.events (id, tenant, event_type, body, created_at) \
             VALUES ('{EVENT}', 'shop', 'order.placed', '{{\"order\":1}}', 1714566660000)"
        ))
        .await;
        run(format!(
            "INSERT INTO {s}.deliveries (id, tenant, event_id, endpoint_id, event_type, status, \
               attempts, scheduled_attempts, next_trigger, created_at, last_attempt_at) \
             VALUES ('{DELIVERY}', 'shop', '{EVENT}', '{RICH}', 'order.placed', 'failed', \
               2, 1, 'manual', 1714566660000, 1714566720000)"
        ))
        .await;
        for record in V1_ATTEMPTS {
            sqlx::query(&format!(
                "INSERT INTO {s}.attempts (delivery_id, record) VALUES ($1, $2::jsonb)"
            ))
            .bind(DELIVERY)
            .bind(record)
            .execute(store.pool())
            .await
            .unwrap();
        }
    }

    #[tokio::test]
    async fn rows_written_by_schema_version_1_read_back_after_migrating() {
        let store = PostgresStore::temporary_migrated_to(&database_url(), 1)
            .await
            .unwrap();
        write_v1_rows(&store).await;
        store.migrate().await.unwrap();
        assert_reads_back(&store).await;
        // Converted to exactly what this release writes.
        let (endpoints, event_types, attempts) = stored(&store).await;
        assert_eq!(endpoints, pinned_endpoints());
        assert_eq!(event_types, pinned_event_types());
        assert_eq!(attempts, pinned_attempts());
    }

    #[tokio::test]
    async fn the_stored_form_is_pinned() {
        let store = fresh().await;
        for endpoint in endpoints().into_values() {
            store.insert_endpoint(endpoint, None).await.unwrap();
        }
        store.upsert_event_types(&event_types()).await.unwrap();
        let created: Timestamp = "2024-05-01T12:31:00Z".parse().unwrap();
        let tenant = TenantId::new("shop").unwrap();
        let event = Event::new(
            EVENT.parse().unwrap(),
            tenant,
            "order.placed",
            r#"{"order":1}"#,
            created,
        );
        let delivery = Delivery::new(DELIVERY.parse().unwrap(), &event, RICH.parse().unwrap());
        store.enqueue(event, vec![delivery], None).await.unwrap();
        let now: Timestamp = "2024-05-01T13:00:00Z".parse().unwrap();
        for attempt in attempts() {
            let claim = store
                .claim_due("w", now, now.saturating_add(Duration::from_secs(60)), 1)
                .await
                .unwrap()
                .pop()
                .unwrap();
            let mut delivery = claim.delivery.clone();
            delivery.status = DeliveryStatus::Retrying;
            delivery.next_attempt_at = Some(created);
            assert!(
                store
                    .finish_attempt(&claim.lease, attempt, delivery)
                    .await
                    .unwrap()
            );
        }
        let (endpoints, event_types, attempts) = stored(&store).await;
        assert_eq!(endpoints, pinned_endpoints());
        assert_eq!(event_types, pinned_event_types());
        assert_eq!(attempts, pinned_attempts());
        assert_reads_back(&store).await;
    }

    #[tokio::test]
    async fn an_unreadable_row_is_named_and_its_secret_kept_out_of_the_error() {
        let store = fresh().await;
        let rich = endpoints().remove(RICH).unwrap();
        store.insert_endpoint(rich, None).await.unwrap();
        let tenant = TenantId::new("shop").unwrap();
        let id = RICH.parse().unwrap();
        let merge = format!(
            "UPDATE {}.endpoints SET record = record || $1::jsonb",
            store.schema()
        );
        sqlx::query(&merge)
            .bind(r#"{"version": 3}"#)
            .execute(store.pool())
            .await
            .unwrap();
        let newer = store.endpoint(&tenant, &id).await.unwrap_err();
        assert!(matches!(newer, hookshot::Error::Backend { .. }), "{newer}");
        let text = newer.to_string();
        assert!(
            text.contains(&format!("row {RICH} of table endpoints")),
            "{text}"
        );
        assert!(text.contains("version 3"), "{text}");

        // A secret where a number belongs, which serde would quote.
        sqlx::query(&merge)
            .bind(format!(r#"{{"version": 2, "timeout_ms": "{CURRENT}"}}"#))
            .execute(store.pool())
            .await
            .unwrap();
        let text = store.endpoint(&tenant, &id).await.unwrap_err().to_string();
        assert!(
            text.contains(&format!("row {RICH} of table endpoints")),
            "{text}"
        );
        assert!(!text.contains(CURRENT), "{text}");
    }
}

/// `NOTIFY` wakes a dispatcher when another store instance (another process,
/// as far as the dispatcher can tell) queues work.
mod wake_ups {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use hookshot::Webhooks;
    use hookshot::dispatcher::Dispatcher;
    use hookshot::model::{EventType, NewEndpoint, TenantId};
    use hookshot::store::Store;
    use hookshot::store::postgres::PostgresStore;
    use hookshot::transport::{HttpTransport, SsrfGuard};

    use super::{database_url, fresh};

    async fn webhooks(store: PostgresStore) -> Arc<Webhooks> {
        Arc::new(
            Webhooks::builder(Arc::new(store) as Arc<dyn Store>)
                .local_development(true)
                .event_type(EventType::new("order.placed").unwrap())
                .build()
                .await
                .unwrap(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_queued_elsewhere_is_delivered_without_waiting_for_a_poll() {
        async fn count(State(seen): State<Arc<AtomicUsize>>) -> StatusCode {
            seen.fetch_add(1, Ordering::SeqCst);
            StatusCode::NO_CONTENT
        }
        let seen = Arc::new(AtomicUsize::new(0));
        let app = Router::new().fallback(count).with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let delivering = fresh().await;
        let dispatcher_side = webhooks(delivering.clone()).await;
        let sending_store = PostgresStore::connect(&database_url(), delivering.schema())
            .await
            .unwrap();
        let sending_side = webhooks(sending_store).await;
        let tenant = TenantId::new("shop").unwrap();
        sending_side
            .create_endpoint(&tenant, NewEndpoint::new(url))
            .await
            .unwrap();

        // Polling alone would take a minute.
        let transport = HttpTransport::builder()
            .guard(SsrfGuard::disabled())
            .build()
            .unwrap();
        let running = Dispatcher::builder(dispatcher_side)
            .transport(Arc::new(transport))
            .configure(|c| c.poll_interval = Duration::from_secs(60))
            .build()
            .unwrap()
            .spawn();
        // Let it go idle, listening, before the send.
        tokio::time::sleep(Duration::from_millis(500)).await;

        let started = Instant::now();
        sending_side
            .send(&tenant, "order.placed", r#"{"id":1}"#)
            .await
            .unwrap();
        while seen.load(Ordering::SeqCst) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "not delivered: the dispatcher was not woken"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!(
            "delivered {:?} after a send from another store",
            started.elapsed()
        );
        running.shutdown(Duration::from_secs(5)).await;
    }

    /// A listener holds one of the store's pooled connections; a stopped
    /// dispatcher's must come back even if no notice ever arrives.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_dispatcher_gives_its_listening_connection_back() {
        let store = fresh().await;
        let in_use = |store: &PostgresStore| {
            let pool = store.pool();
            pool.size() as usize - pool.num_idle()
        };
        let webhooks = webhooks(store.clone()).await;
        let running = Dispatcher::builder(webhooks)
            .transport(Arc::new(HttpTransport::builder().build().unwrap()))
            .build()
            .unwrap()
            .spawn();
        let started = Instant::now();
        while in_use(&store) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never listened"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        running.shutdown(Duration::from_secs(1)).await;
        let stopped = Instant::now();
        while in_use(&store) > 0 {
            assert!(
                stopped.elapsed() < Duration::from_secs(15),
                "the listener kept its connection after the dispatcher stopped"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Dispatchers in separate processes (the `pg_dispatcher` example) sharing
/// one schema, delivering to a receiver in this process.
mod processes {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use hookshot::model::{EventType, NewEndpoint, TenantId};
    use hookshot::store::Store;
    use hookshot::store::postgres::PostgresStore;
    use hookshot::{Verifier, Webhooks};

    use super::{database_url, fresh};

    const TENANTS: usize = 10;
    const EVENTS_PER_TENANT: usize = 500;
    /// The dispatchers' lease: short, as renewals keep it while an attempt
    /// runs, so that a killed process's deliveries are taken over soon.
    const LEASE: Duration = Duration::from_secs(6);

    /// What the receiver saw: how often each webhook-id arrived, and how
    /// many requests failed verification.
    #[derive(Default)]
    struct Seen {
        by_id: HashMap<String, u32>,
        bad_signatures: u32,
    }

    struct Receiver {
        verifiers: HashMap<String, Verifier>,
        seen: Mutex<Seen>,
    }

    async fn receive(
        State(receiver): State<Arc<Receiver>>,
        Path(tenant): Path<String>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let verified = receiver
            .verifiers
            .get(&tenant)
            .is_some_and(|v| v.verify(&headers, &body).is_ok());
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut seen = receiver.seen.lock().unwrap();
        if verified {
            *seen.by_id.entry(id).or_default() += 1;
            StatusCode::NO_CONTENT
        } else {
            seen.bad_signatures += 1;
            StatusCode::UNAUTHORIZED
        }
    }

    /// A schema with one endpoint per tenant, all pointing at a receiver in
    /// this process, and `TENANTS * EVENTS_PER_TENANT` events queued.
    async fn queued_workload() -> (PostgresStore, Arc<Receiver>, Vec<String>) {
        let store = fresh().await;
        let webhooks = Arc::new(
            Webhooks::builder(Arc::new(store.clone()) as Arc<dyn Store>)
                .local_development(true)
                .event_type(EventType::new("order.placed").unwrap())
                .build()
                .await
                .unwrap(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut verifiers = HashMap::new();
        for t in 0..TENANTS {
            let tenant = TenantId::new(format!("t{t}")).unwrap();
            let created = webhooks
                .create_endpoint(&tenant, NewEndpoint::new(format!("{base}/t{t}")))
                .await
                .unwrap();
            verifiers.insert(format!("t{t}"), Verifier::new(created.signing_secret));
        }
        let receiver = Arc::new(Receiver {
            verifiers,
            seen: Mutex::default(),
        });
        let app = Router::new()
            .route("/{tenant}", post(receive))
            .with_state(Arc::clone(&receiver));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut senders = tokio::task::JoinSet::new();
        for t in 0..TENANTS {
            let webhooks = Arc::clone(&webhooks);
            senders.spawn(async move {
                let tenant = TenantId::new(format!("t{t}")).unwrap();
                let mut ids = Vec::new();
                for i in 0..EVENTS_PER_TENANT {
                    let body = format!(r#"{{"order":{i}}}"#);
                    let sent = webhooks.send(&tenant, "order.placed", body).await.unwrap();
                    assert_eq!(sent.deliveries, 1);
                    ids.push(sent.event_id.to_string());
                }
                ids
            });
        }
        let mut event_ids = Vec::new();
        while let Some(ids) = senders.join_next().await {
            event_ids.extend(ids.unwrap());
        }
        (store, receiver, event_ids)
    }

    /// The example binary, built by `cargo test` beside this test binary.
    fn dispatcher_binary() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let binary = profile_dir.join("examples").join("pg_dispatcher");
        assert!(
            binary.exists(),
            "{} is missing: run the tests with `cargo test --all-features`, which builds the \
             examples, or build it with `cargo build --example pg_dispatcher --features postgres`",
            binary.display()
        );
        binary
    }

    fn start_dispatcher(store: &PostgresStore, worker: &str, exit_when_idle: bool) -> Child {
        Command::new(dispatcher_binary())
            .env("DATABASE_URL", database_url())
            .env("HOOKSHOT_SCHEMA", store.schema())
            .env("HOOKSHOT_WORKER", worker)
            .env("HOOKSHOT_LEASE_SECS", LEASE.as_secs().to_string())
            .env(
                "HOOKSHOT_EXIT_WHEN_IDLE",
                if exit_when_idle { "1" } else { "0" },
            )
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Waits for `child` to exit by itself, within `limit`.
    async fn exits_within(child: &mut Child, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "dispatcher exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dispatcher still running after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn delivered_count(store: &PostgresStore) -> usize {
        let sql = format!(
            "SELECT count(*) FROM {}.deliveries WHERE status = 'delivered'",
            store.schema()
        );
        let count: i64 = sqlx::query_scalar(&sql)
            .fetch_one(store.pool())
            .await
            .unwrap();
        usize::try_from(count).unwrap()
    }

    /// Every event arrived at least once with a valid signature, and the
    /// database has every delivery delivered. Returns the duplicates.
    async fn assert_nothing_lost(
        store: &PostgresStore,
        receiver: &Receiver,
        event_ids: &[String],
    ) -> u32 {
        let duplicates = {
            let seen = receiver.seen.lock().unwrap();
            assert_eq!(seen.bad_signatures, 0);
            let missing = event_ids
                .iter()
                .filter(|id| !seen.by_id.contains_key(*id))
                .count();
            assert_eq!(missing, 0, "{missing} events never arrived");
            seen.by_id.values().map(|n| n - 1).sum()
        };
        assert_eq!(delivered_count(store).await, event_ids.len());
        duplicates
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_share_the_queue_and_lose_nothing() {
        let (store, receiver, event_ids) = queued_workload().await;
        let started = Instant::now();
        let mut a = start_dispatcher(&store, "a", true);
        let mut b = start_dispatcher(&store, "b", true);
        exits_within(&mut a, Duration::from_secs(120)).await;
        exits_within(&mut b, Duration::from_secs(120)).await;
        let duplicates = assert_nothing_lost(&store, &receiver, &event_ids).await;
        println!(
            "{} events delivered by two processes in {:?}; {duplicates} delivered twice",
            event_ids.len(),
            started.elapsed()
        );
        // Nothing crashed, so no lease ran out: no delivery was made twice.
        assert_eq!(duplicates, 0);
    }

    /// How many deliveries `worker` holds leases on.
    async fn leased_by(store: &PostgresStore, worker: &str) -> usize {
        let sql = format!(
            "SELECT count(*) FROM {}.deliveries WHERE lease_worker = $1",
            store.schema()
        );
        let count: i64 = sqlx::query_scalar(&sql)
            .bind(worker)
            .fetch_one(store.pool())
            .await
            .unwrap();
        usize::try_from(count).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_process_is_taken_over_once_its_leases_expire() {
        let (store, receiver, event_ids) = queued_workload().await;
        let started = Instant::now();
        let mut victim = start_dispatcher(&store, "victim", false);
        let mut survivor = start_dispatcher(&store, "survivor", true);
        // Kill it mid-run, while it holds leases.
        let deadline = Instant::now() + Duration::from_secs(60);
        while receiver.seen.lock().unwrap().by_id.len() < event_ids.len() / 5 {
            assert!(Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        victim.kill().unwrap(); // SIGKILL: no shutdown, leases left behind
        victim.wait().unwrap();
        let killed = Instant::now();
        let killed_at = started.elapsed();
        let orphaned = leased_by(&store, "victim").await;

        // Taken over: no delivery is leased to the dead process any more.
        // Its leases run out at most a lease after their last renewal, and
        // the survivor claims them when they are the longest overdue.
        let mut takeover = None;
        while takeover.is_none() {
            assert!(
                killed.elapsed() < Duration::from_secs(120),
                "the killed process's deliveries were never taken over"
            );
            if leased_by(&store, "victim").await == 0 {
                takeover = Some(killed.elapsed());
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let takeover = takeover.unwrap_or_default();
        exits_within(&mut survivor, Duration::from_secs(150)).await;
        let lost = {
            let seen = receiver.seen.lock().unwrap();
            event_ids
                .iter()
                .filter(|id| !seen.by_id.contains_key(*id))
                .count()
        };
        println!(
            "{} events; one of two processes killed at {killed_at:?} holding {orphaned} leases \
             ({LEASE:?} each); taken over {takeover:?} after the kill; the other finished at \
             {:?}; {lost} lost",
            event_ids.len(),
            started.elapsed()
        );
        let duplicates = assert_nothing_lost(&store, &receiver, &event_ids).await;
        println!("{duplicates} delivered twice (attempted by the killed process but not recorded)");
        assert_eq!(lost, 0);
        // Before leases were renewed, a lease had to outlast the longest
        // attempt (over 30 s), and so did a takeover.
        assert!(
            takeover < Duration::from_secs(15),
            "taken over {takeover:?} after the kill, with a {LEASE:?} lease"
        );
    }
}

mod retention {
    use hookshot::clock::Timestamp;
    use hookshot::model::{Event, TenantId};
    use hookshot::store::DeliveryStore;

    use super::fresh;

    /// While another process purges (it holds the schema's purge lock), a
    /// purge does nothing and says so, rather than deleting the same rows
    /// at the same time; once the lock is free, it purges.
    #[tokio::test]
    async fn one_process_purges_at_a_time() {
        let store = fresh().await;
        let sent = Timestamp::from_unix_millis(1_000);
        let event = Event::new(
            "msg_0000000000000000000000001z".parse().unwrap(),
            TenantId::new("shop").unwrap(),
            "order.placed",
            "{}",
            sent,
        );
        store.enqueue(event, Vec::new(), None).await.unwrap();
        let later = Timestamp::from_unix_millis(1_000_000);

        let mut other = store.pool().acquire().await.unwrap();
        sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
            .bind(format!("hookshot.purge.{}", store.schema()))
            .execute(&mut *other)
            .await
            .unwrap();
        let skipped = store.purge_finished(later).await.unwrap();
        assert_eq!(
            skipped.events, 0,
            "purged while another process held the lock"
        );

        sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut *other)
            .await
            .unwrap();
        let purged = store.purge_finished(later).await.unwrap();
        assert_eq!(purged.events, 1);
    }
}

/// Database outages mid-run: a TCP proxy of the test's own sits between the
/// stores and the server and is cut three times while a dispatcher
/// delivers. Sends fail fast and say they may be retried, the dispatcher
/// backs off and reports each outage once, delivery and `NOTIFY` wake-ups
/// come back after it, and nothing sent is lost.
mod outage {
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use hookshot::dispatcher::Dispatcher;
    use hookshot::model::{EventType, NewEndpoint, TenantId};
    use hookshot::observer::{Notice, Observer, StoreOperation};
    use hookshot::store::Store;
    use hookshot::store::postgres::PostgresStore;
    use hookshot::{Verifier, Webhooks};
    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    use super::{database_url, fresh};

    /// How long each cut lasts: not a whole number of seconds, so that
    /// retries every second do not line up with its end.
    const CUT: Duration = Duration::from_millis(4500);
    /// The pools' acquire timeout, which bounds connecting too: what a
    /// store call waits for a connection before it fails.
    const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);
    /// The dispatcher's poll interval (the default), which is also its
    /// first wait once claims fail.
    const POLL: Duration = Duration::from_secs(1);
    /// The shortest lease allowed: an attempt whose record is lost in a cut
    /// is made again once it runs out.
    const LEASE: Duration = Duration::from_secs(31);
    /// A send still running after this has hung.
    const SEND_BOUND: Duration = Duration::from_secs(10);
    /// A send that fails must do so within this: a few store calls, each
    /// waiting at most `ACQUIRE_TIMEOUT` for a connection.
    const FAIL_FAST: Duration = Duration::from_secs(3);
    /// Failed claims in a row a backing-off dispatcher may make in one cut.
    /// Backing off from `POLL`, doubling, it makes three to five in `CUT`
    /// (counting its workers' claims); a hot loop against a proxy that
    /// refuses at once would make thousands.
    const MAX_CLAIM_FAILURES: u64 = 20;
    /// A wake-up by `NOTIFY` arrives within this; a poll, in these probes,
    /// takes 450 ms at least for one of them (see `probe_wake_ups`).
    const WOKEN_WITHIN: Duration = Duration::from_millis(350);

    /// What the proxy does with connections.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Link {
        /// Passes them through.
        Up,
        /// Cut: closes a new connection as soon as it is accepted, as a
        /// connection pooler in front of a dead server does. Clients fail
        /// at once.
        Refusing,
        /// Cut: accepts new connections but passes nothing until the cut
        /// ends, as a network partition does. Clients wait for their
        /// timeouts.
        Holding,
    }

    /// One cut of the run.
    #[derive(Debug, Clone, Copy)]
    struct Plan {
        how: Link,
        /// Whether the receiver holds the request it cuts during until the
        /// cut ends, so that the attempt spans the cut and its worker
        /// records it, and claims again, once the server is back. If not,
        /// it answers at once and the attempt's record meets the cut.
        span: bool,
    }

    const PLANS: [Plan; 3] = [
        Plan {
            how: Link::Refusing,
            span: false,
        },
        Plan {
            how: Link::Holding,
            span: false,
        },
        Plan {
            how: Link::Refusing,
            span: true,
        },
    ];

    /// Connections the proxy has seen, by what it did with them.
    #[derive(Debug, Default)]
    struct ProxyStats {
        severed: AtomicUsize,
        refused: AtomicUsize,
        held: AtomicUsize,
    }

    /// A TCP proxy to the server. Cutting it closes every open connection,
    /// and refuses or holds new ones until it is healed.
    struct Proxy {
        port: u16,
        link: watch::Sender<Link>,
        stats: ProxyStats,
    }

    impl Proxy {
        async fn start(upstream: String) -> Arc<Self> {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let proxy = Arc::new(Self {
                port: listener.local_addr().unwrap().port(),
                link: watch::Sender::new(Link::Up),
                stats: ProxyStats::default(),
            });
            let accepting = Arc::clone(&proxy);
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(Arc::clone(&accepting).serve(client, upstream.clone()));
                }
            });
            proxy
        }

        async fn serve(self: Arc<Self>, mut client: TcpStream, upstream: String) {
            let mut link = self.link.subscribe();
            let mut held = false;
            loop {
                let now = *link.borrow_and_update();
                match now {
                    Link::Up => break,
                    Link::Refusing => {
                        self.stats.refused.fetch_add(1, Ordering::Relaxed);
                        return; // dropping `client` closes it
                    }
                    Link::Holding if !held => {
                        held = true;
                        self.stats.held.fetch_add(1, Ordering::Relaxed);
                    }
                    Link::Holding => {}
                }
                if link.changed().await.is_err() {
                    return;
                }
            }
            let Ok(mut server) = TcpStream::connect(&upstream).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                // `wait_for` looks at the current state first, so a cut
                // made since the check above is not missed.
                _ = link.wait_for(|now| *now != Link::Up) => {
                    self.stats.severed.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Both ends are dropped here, closing them: the cut reaches
            // the client and the server alike.
        }

        fn cut(&self, how: Link) {
            self.link.send_replace(how);
        }

        fn heal(&self) {
            self.link.send_replace(Link::Up);
        }

        /// Refused, held and severed connections so far.
        fn counts(&self) -> [usize; 3] {
            let s = &self.stats;
            [&s.refused, &s.held, &s.severed].map(|n| n.load(Ordering::Relaxed))
        }
    }

    /// The receiver: verifies each request, notes its `webhook-id` and
    /// when it came, and cuts the proxy while it holds a request when told
    /// to.
    struct Receiver {
        verifier: Verifier,
        proxy: Arc<Proxy>,
        cut_next: Mutex<Option<Plan>>,
        cut_made: Mutex<Option<Instant>>,
        seen: Mutex<Seen>,
    }

    #[derive(Default)]
    struct Seen {
        arrivals: Vec<(Instant, String)>,
        bad_signatures: usize,
    }

    impl Receiver {
        fn arrivals(&self) -> Vec<(Instant, String)> {
            self.seen.lock().unwrap().arrivals.clone()
        }

        fn first_arrival_after(&self, at: Instant) -> Option<Instant> {
            let seen = self.seen.lock().unwrap();
            seen.arrivals.iter().map(|(t, _)| *t).find(|t| *t > at)
        }

        fn arrival_of(&self, id: &str) -> Option<Instant> {
            let seen = self.seen.lock().unwrap();
            seen.arrivals.iter().find(|(_, i)| i == id).map(|(t, _)| *t)
        }

        fn last_arrival(&self) -> Option<Instant> {
            self.seen.lock().unwrap().arrivals.last().map(|(t, _)| *t)
        }
    }

    async fn receive(
        State(receiver): State<Arc<Receiver>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let verified = receiver.verifier.verify(&headers, &body).is_ok();
        let id = headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        {
            let mut seen = receiver.seen.lock().unwrap();
            if !verified {
                seen.bad_signatures += 1;
                return StatusCode::UNAUTHORIZED;
            }
            seen.arrivals.push((Instant::now(), id));
        }
        let plan = receiver.cut_next.lock().unwrap().take();
        if let Some(plan) = plan {
            receiver.proxy.cut(plan.how);
            *receiver.cut_made.lock().unwrap() = Some(Instant::now());
            if plan.span {
                let mut link = receiver.proxy.link.subscribe();
                // Bounded, so that a test gone wrong cannot hold the
                // request for ever.
                let healed = link.wait_for(|now| *now == Link::Up);
                let _ = tokio::time::timeout(CUT * 2, healed).await;
            }
        }
        StatusCode::NO_CONTENT
    }

    #[derive(Debug, Default)]
    struct Notices(Mutex<Vec<(Instant, Notice)>>);

    #[async_trait]
    impl Observer for Notices {
        async fn notice(&self, notice: Notice) {
            self.0.lock().unwrap().push((Instant::now(), notice));
        }
    }

    /// A send that failed.
    #[derive(Debug)]
    struct Failed {
        began: Instant,
        took: Duration,
        transient: bool,
        error: String,
    }

    /// What the sending side saw.
    #[derive(Debug, Default)]
    struct Sends {
        /// The sends that succeeded: when they returned, and their event
        /// ids.
        ok: Vec<(Instant, String)>,
        failed: Vec<Failed>,
        /// Sends that ran past `SEND_BOUND`.
        hung: usize,
    }

    /// Sends an event every 20 ms until `stop`, each bounded by
    /// `SEND_BOUND`, holding `turn` meanwhile so that the test can pause
    /// it.
    async fn keep_sending(
        webhooks: Arc<Webhooks>,
        turn: Arc<tokio::sync::Mutex<()>>,
        stop: Arc<AtomicBool>,
        sends: Arc<Mutex<Sends>>,
    ) {
        let tenant = TenantId::new("shop").unwrap();
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let turn = turn.lock().await;
            n += 1;
            let began = Instant::now();
            let body = format!(r#"{{"n":{n}}}"#);
            let sent =
                tokio::time::timeout(SEND_BOUND, webhooks.send(&tenant, "order.placed", body))
                    .await;
            {
                let mut sends = sends.lock().unwrap();
                match sent {
                    Ok(Ok(sent)) => sends.ok.push((Instant::now(), sent.event_id.to_string())),
                    Ok(Err(e)) => sends.failed.push(Failed {
                        began,
                        took: began.elapsed(),
                        transient: e.is_transient(),
                        error: e.to_string(),
                    }),
                    Err(_) => sends.hung += 1,
                }
            }
            drop(turn);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for `done` to answer, checking every 5 ms, for at most
    /// `limit`.
    async fn wait_until<T>(limit: Duration, what: &str, mut done: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(t) = done() {
                return t;
            }
            assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The server's clock, in seconds since the epoch, to compare with
    /// `backend_start`.
    async fn server_clock(direct: &PgPool) -> f64 {
        sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
            .fetch_one(direct)
            .await
            .unwrap()
    }

    /// Whether a connection that began after `since` (server clock) listens
    /// on the schema's wake-up channel: the dispatcher's listener, made
    /// again after a cut. Asked over the direct connection, past the proxy.
    async fn listening_since(direct: &PostgresStore, since: f64) -> bool {
        let channel = format!("hookshot_work_{}", direct.schema());
        let listening: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN%' \
               AND position($1 IN query) > 0 \
               AND extract(epoch FROM backend_start) > $2",
        )
        .bind(channel)
        .bind(since)
        .fetch_one(direct.pool())
        .await
        .unwrap();
        listening > 0
    }

    /// Deliveries waiting for a claim: neither delivered nor leased (an
    /// attempt in flight, or one whose record a cut lost).
    async fn queued(direct: &PostgresStore) -> i64 {
        let sql = format!(
            "SELECT count(*) FROM {}.deliveries \
             WHERE status <> 'delivered' AND lease_worker IS NULL",
            direct.schema()
        );
        sqlx::query_scalar(&sql)
            .fetch_one(direct.pool())
            .await
            .unwrap()
    }

    /// Sends one event at a time from the sending side, which runs no
    /// dispatcher, so only the `NOTIFY` its commit sends can wake the
    /// dispatcher before its next poll, and returns how long each took to
    /// arrive. Each is sent a different while after the one before
    /// arrived: the dispatcher's loop went to sleep for `POLL` just before
    /// that arrival (it claimed, then found nothing else due), so had a
    /// poll found them, the one sent 500 ms later would take 450 ms or
    /// more.
    async fn probe_wake_ups(
        webhooks: &Webhooks,
        receiver: &Receiver,
        sent_ids: &mut Vec<String>,
    ) -> Vec<Duration> {
        let tenant = TenantId::new("shop").unwrap();
        let mut latencies = Vec::new();
        for pause in [50, 200, 350, 500] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let sent = webhooks
                .send(&tenant, "order.placed", r#"{"probe":true}"#)
                .await
                .unwrap();
            let sent_at = Instant::now();
            let id = sent.event_id.to_string();
            let arrived = wait_until(Duration::from_secs(5), "a probe arrived", || {
                receiver.arrival_of(&id)
            })
            .await;
            latencies.push(arrived.saturating_duration_since(sent_at));
            sent_ids.push(id);
        }
        latencies
    }

    /// What happened around one cut.
    #[derive(Debug)]
    struct Cut {
        plan: Plan,
        at: Instant,
        healed: Instant,
        /// The first delivery after the healing.
        resumed: Instant,
        /// From healing to a new listening connection on the server.
        listening: Duration,
        /// Probe sends' times to arrival, once the listener was back.
        woken: Vec<Duration>,
        /// Connections refused, held and severed by the proxy.
        connections: [usize; 3],
    }

    impl Cut {
        /// Whether a send that began at `began` and took `took` overlapped
        /// this cut; its failure may come a connection timeout after the
        /// healing.
        fn overlaps(&self, began: Instant, took: Duration) -> bool {
            began <= self.healed + ACQUIRE_TIMEOUT && began + took >= self.at
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn database_outages_are_survived_and_nothing_is_lost() {
        let started = Instant::now();
        // The schema is made (and dropped at the end) over a direct
        // connection, which also checks the outcome; the stores under test
        // reach the server through the proxy only.
        let direct = fresh().await;
        let options: PgConnectOptions = database_url().parse().unwrap();
        let upstream = format!("{}:{}", options.get_host(), options.get_port());
        let proxy = Proxy::start(upstream).await;
        let through_proxy = options.host("127.0.0.1").port(proxy.port);
        let pool = || {
            PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(through_proxy.clone())
        };
        let (delivering_pool, sending_pool) = (pool().await.unwrap(), pool().await.unwrap());
        let webhooks = |pool: PgPool| {
            let store = PostgresStore::with_pool(pool, direct.schema()).unwrap();
            Webhooks::builder(Arc::new(store) as Arc<dyn Store>)
                .local_development(true)
                .event_type(EventType::new("order.placed").unwrap())
                .build()
        };
        let delivering = Arc::new(webhooks(delivering_pool.clone()).await.unwrap());
        // A store of its own, as in another process: its sends wake the
        // dispatcher by `NOTIFY` only.
        let sending = Arc::new(webhooks(sending_pool.clone()).await.unwrap());

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let tenant = TenantId::new("shop").unwrap();
        let created = sending
            .create_endpoint(&tenant, NewEndpoint::new(url))
            .await
            .unwrap();
        let receiver = Arc::new(Receiver {
            verifier: Verifier::new(created.signing_secret),
            proxy: Arc::clone(&proxy),
            cut_next: Mutex::default(),
            cut_made: Mutex::default(),
            seen: Mutex::default(),
        });
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(Arc::clone(&receiver));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let notices = Arc::new(Notices::default());
        let running = Dispatcher::builder(delivering)
            .observer(Arc::clone(&notices) as Arc<dyn Observer>)
            .worker_id("outage")
            .configure(|c| {
                // One endpoint takes all the traffic: a lower limit for it
                // would put deliveries off, for polls to find, and blur the
                // timings.
                c.concurrency = 16;
                c.per_endpoint_concurrency = 16;
                c.poll_interval = POLL;
                c.lease = LEASE;
            })
            .build()
            .unwrap()
            .spawn();

        let turn = Arc::new(tokio::sync::Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let sends = Arc::new(Mutex::new(Sends::default()));
        let sender = tokio::spawn(keep_sending(
            Arc::clone(&sending),
            Arc::clone(&turn),
            Arc::clone(&stop),
            Arc::clone(&sends),
        ));

        let mut probe_ids = Vec::new();
        let mut cuts = Vec::new();
        for plan in PLANS {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let before = proxy.counts();
            // Cut while the receiver holds a request.
            *receiver.cut_next.lock().unwrap() = Some(plan);
            let at = wait_until(Duration::from_secs(10), "a request to cut during", || {
                receiver.cut_made.lock().unwrap().take()
            })
            .await;
            tokio::time::sleep(CUT.saturating_sub(at.elapsed())).await;
            // Read before healing: no connection reaches the server through
            // the proxy during the cut, and one it held goes through the
            // moment it heals, perhaps before a reading taken after.
            let before_healing = server_clock(direct.pool()).await;
            proxy.heal();
            let healed = Instant::now();
            let after = proxy.counts();

            let (mut resumed, mut listening) = (None, None);
            let deadline = healed + CUT + POLL + Duration::from_secs(5);
            while resumed.is_none() || listening.is_none() {
                assert!(
                    Instant::now() < deadline,
                    "after the {plan:?} cut, delivery resumed at {resumed:?} and the listener \
                     reconnected after {listening:?}"
                );
                resumed = resumed.or_else(|| receiver.first_arrival_after(healed));
                if listening.is_none() && listening_since(&direct, before_healing).await {
                    listening = Some(healed.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }

            // The sender paused and the backlog delivered, the dispatcher
            // idles, and only a wake-up brings it back before its poll.
            // Deliveries put off because their endpoint was busy are left
            // for polls to find: the probes wait for those too, or they
            // would compete with them for the endpoint and be put off.
            let paused = turn.lock().await;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let quiet = receiver
                    .last_arrival()
                    .is_none_or(|t| t.elapsed() > Duration::from_millis(300));
                if quiet && queued(&direct).await == 0 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the backlog was not delivered after the {plan:?} cut"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let woken = probe_wake_ups(&sending, &receiver, &mut probe_ids).await;
            drop(paused);
            cuts.push(Cut {
                plan,
                at,
                healed,
                resumed: resumed.unwrap(),
                listening: listening.unwrap(),
                woken,
                connections: [0, 1, 2].map(|i| after[i] - before[i]),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, Ordering::SeqCst);
        tokio::time::timeout(SEND_BOUND + Duration::from_secs(1), sender)
            .await
            .expect("the sender stopped")
            .unwrap();
        let sends = std::mem::take(&mut *sends.lock().unwrap());

        // An attempt whose record a cut lost is made again once its lease
        // runs out, so everything arrives within a lease of the first cut.
        let expected: HashSet<&str> = sends
            .ok
            .iter()
            .map(|(_, id)| id)
            .chain(&probe_ids)
            .map(String::as_str)
            .collect();
        let missing = |receiver: &Receiver| {
            let seen: HashSet<String> = receiver.arrivals().into_iter().map(|(_, id)| id).collect();
            expected.iter().filter(|id| !seen.contains(**id)).count()
        };
        let deadline = cuts[0].at + LEASE + Duration::from_secs(20);
        while missing(&receiver) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let lost = missing(&receiver);
        // The store agrees once the last records are in: nothing is left
        // undelivered, not even the deliveries of sends whose answer a cut
        // lost.
        let undelivered_sql = format!(
            "SELECT count(*) FROM {}.deliveries WHERE status <> 'delivered'",
            direct.schema()
        );
        let mut undelivered: i64 = -1;
        while Instant::now() < deadline + Duration::from_secs(5) {
            undelivered = sqlx::query_scalar(&undelivered_sql)
                .fetch_one(direct.pool())
                .await
                .unwrap();
            if undelivered == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::timeout(
            Duration::from_secs(10),
            running.shutdown(Duration::from_secs(2)),
        )
        .await
        .expect("the dispatcher stopped");

        // The figures.
        let arrivals = receiver.arrivals();
        let mut by_id: HashMap<&str, u32> = HashMap::new();
        let mut first_arrival: HashMap<&str, Instant> = HashMap::new();
        for (at, id) in &arrivals {
            *by_id.entry(id.as_str()).or_default() += 1;
            first_arrival.entry(id.as_str()).or_insert(*at);
        }
        let duplicates: u32 = by_id.values().map(|n| n - 1).sum();
        let unconfirmed = by_id.keys().filter(|id| !expected.contains(*id)).count();
        let notices: Vec<(Instant, Notice)> = notices.0.lock().unwrap().clone();
        let claim_failed: Vec<Instant> = notices
            .iter()
            .filter(|(_, n)| {
                matches!(
                    n,
                    Notice::StoreFailed {
                        operation: StoreOperation::Claim,
                        ..
                    }
                )
            })
            .map(|(at, _)| *at)
            .collect();
        let recovered: Vec<(Instant, u64)> = notices
            .iter()
            .filter_map(|(at, n)| match n {
                Notice::StoreRecovered {
                    operation: StoreOperation::Claim,
                    failures,
                } => Some((*at, *failures)),
                _ => None,
            })
            .collect();
        // For each cut, the slowest delivery of the sends made after it,
        // counted from the later of the send and the claims' recovery:
        // from then on the dispatcher knows the store is back.
        let slowest_after_recovery: Vec<Duration> = cuts
            .iter()
            .enumerate()
            .map(|(i, cut)| {
                let until = cuts.get(i + 1).map(|next| next.at);
                let recovered_at = recovered.get(i).map_or(cut.healed, |(at, _)| *at);
                sends
                    .ok
                    .iter()
                    .filter(|(at, _)| *at >= cut.healed && until.is_none_or(|u| *at < u))
                    .filter_map(|(at, id)| {
                        let arrived = first_arrival.get(id.as_str())?;
                        Some(arrived.saturating_duration_since((*at).max(recovered_at)))
                    })
                    .max()
                    .unwrap_or_default()
            })
            .collect();
        let mut kinds: HashMap<String, usize> = HashMap::new();
        for (_, notice) in &notices {
            let kind = match notice {
                Notice::StoreFailed { operation, .. } => format!("store_failed/{operation}"),
                Notice::StoreRecovered { operation, .. } => {
                    format!("store_recovered/{operation}")
                }
                other => format!("{other:?}"),
            };
            *kinds.entry(kind).or_default() += 1;
        }
        let since = |at: Instant| at.duration_since(started);
        println!(
            "outages over {:?}: {} sends succeeded, {} failed, {} hung; {} probe sends",
            started.elapsed(),
            sends.ok.len(),
            sends.failed.len(),
            sends.hung,
            probe_ids.len()
        );
        for (i, cut) in cuts.iter().enumerate() {
            let failed: Vec<&Failed> = sends
                .failed
                .iter()
                .filter(|f| cut.overlaps(f.began, f.took))
                .collect();
            let slowest = failed.iter().map(|f| f.took).max().unwrap_or_default();
            let [refused, held, severed] = cut.connections;
            let recovered_at = recovered.get(i).map(|(at, _)| since(*at));
            println!(
                "{:?} from {:?} to {:?}: {} sends failed (slowest {slowest:?}); the proxy \
                 refused {refused}, held {held} and severed {severed} connections; claims \
                 recovered at {recovered_at:?}, first delivery {:?} after healing, slowest \
                 delivery after the recovery {:?}, listener back after {:?}, probe sends \
                 arrived in {:?}",
                cut.plan,
                since(cut.at),
                since(cut.healed),
                failed.len(),
                cut.resumed.duration_since(cut.healed),
                slowest_after_recovery[i],
                cut.listening,
                cut.woken
            );
        }
        println!(
            "receiver: {} requests, {} distinct events, {lost} lost, {duplicates} duplicates, \
             {unconfirmed} events whose send failed but arrived anyway; {undelivered} \
             deliveries left undelivered in the store",
            arrivals.len(),
            by_id.len()
        );
        let mut kinds: Vec<_> = kinds.into_iter().collect();
        kinds.sort();
        println!("notices: {kinds:?}");
        for (at, notice) in &notices {
            println!("  at {:?}: {notice:?}", since(*at));
        }
        let mut errors: HashMap<&str, usize> = HashMap::new();
        for f in &sends.failed {
            *errors.entry(f.error.as_str()).or_default() += 1;
        }
        println!("failed sends' errors: {errors:#?}");

        // Sends during the cuts failed, fast, and said they may be retried.
        assert_eq!(sends.hung, 0, "sends hung during a cut");
        for f in &sends.failed {
            assert!(f.transient, "a send failed for good: {}", f.error);
            assert!(
                f.took <= FAIL_FAST,
                "a send took {:?} to fail: {}",
                f.took,
                f.error
            );
            assert!(
                cuts.iter().any(|cut| cut.overlaps(f.began, f.took)),
                "a send failed outside the cuts: {}",
                f.error
            );
        }
        for cut in &cuts {
            assert!(
                sends.failed.iter().any(|f| cut.overlaps(f.began, f.took)),
                "no send failed during the {:?} cut",
                cut.plan
            );
        }
        // Nothing was lost.
        assert_eq!(receiver.seen.lock().unwrap().bad_signatures, 0);
        assert_eq!(lost, 0, "{lost} events sent successfully never arrived");
        assert_eq!(undelivered, 0, "deliveries left undelivered in the store");
        // Each cut is one outage, reported once when it began and once when
        // it ended, and the dispatcher backed off meanwhile.
        assert_eq!(claim_failed.len(), cuts.len(), "claim outages reported");
        assert_eq!(recovered.len(), cuts.len(), "claim recoveries reported");
        for (((cut, failed_at), (recovered_at, failures)), slowest) in cuts
            .iter()
            .zip(&claim_failed)
            .zip(&recovered)
            .zip(&slowest_after_recovery)
        {
            let plan = cut.plan;
            assert!(
                cut.at <= *failed_at && *failed_at <= cut.healed + ACQUIRE_TIMEOUT,
                "the {plan:?} cut's outage was reported outside it"
            );
            assert!(
                cut.healed <= *recovered_at,
                "the {plan:?} cut's recovery was reported before it ended"
            );
            assert!(
                *failures <= MAX_CLAIM_FAILURES,
                "{failures} claims failed during the {plan:?} cut: no backing off"
            );
            // Backing off from `POLL`, doubling, the dispatcher looks again
            // within about the cut's length (plus a poll) of its end.
            let resumed = cut.resumed.duration_since(cut.healed);
            assert!(
                resumed <= CUT + POLL + ACQUIRE_TIMEOUT,
                "delivery resumed {resumed:?} after the {plan:?} cut"
            );
            // And once it has seen a claim succeed again, what is sent is
            // delivered within a poll, whichever of its workers' claims or
            // its own it was.
            assert!(
                *slowest <= POLL + Duration::from_millis(500),
                "after the {plan:?} cut, claims succeeded again, yet a send waited \
                 {slowest:?} to be delivered"
            );
            assert!(
                cut.woken.iter().all(|t| *t < WOKEN_WITHIN),
                "after the {plan:?} cut, sends did not wake the dispatcher: they arrived \
                 in {:?}",
                cut.woken
            );
        }
        delivering_pool.close().await;
        sending_pool.close().await;
    }
}
