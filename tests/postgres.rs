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

hookshot::conformance_tests!(|| async { Arc::new(fresh().await) as Arc<dyn Store> });

mod backend {
    use std::sync::Arc;
    use std::time::Duration;

    use hookshot::Webhooks;
    use hookshot::clock::{Clock, ManualClock, Timestamp};
    use hookshot::model::{
        Attempt, AttemptOutcome, DeliveryFilter, DeliveryStatus, EventType, NewEndpoint,
        PageRequest, TenantId, Trigger,
    };
    use hookshot::store::postgres::{PostgresStore, Purged};
    use hookshot::store::{DeliveryStore, Store};

    use super::{database_url, fresh};

    const START: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

    async fn webhooks_over(store: &PostgresStore, clock: Arc<dyn Clock>) -> Webhooks {
        Webhooks::builder(Arc::new(store.clone()) as Arc<dyn Store>)
            .allow_http(true)
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
        assert_eq!(versions, 1);
    }

    #[tokio::test]
    async fn outbox_commits_and_rolls_back_with_the_callers_transaction() {
        let store = fresh().await;
        let clock = Arc::new(ManualClock::new(START));
        let webhooks = webhooks_over(&store, clock).await;
        let tenant = TenantId::new("shop").unwrap();
        webhooks
            .create_endpoint(&tenant, NewEndpoint::new("http://127.0.0.1:9/hooks"), None)
            .await
            .unwrap();
        let orders = format!("{}.orders", store.schema());
        sqlx::query(&format!("CREATE TABLE {orders} (id INT PRIMARY KEY)"))
            .execute(store.pool())
            .await
            .unwrap();

        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {orders} VALUES (1)"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let abandoned = store
            .send_in(
                &mut tx,
                &webhooks,
                &tenant,
                "order.placed",
                r#"{"id":1}"#,
                None,
            )
            .await
            .unwrap();
        assert_eq!(abandoned.deliveries, 1);
        tx.rollback().await.unwrap();
        assert!(webhooks.event(&tenant, &abandoned.event_id).await.is_err());

        let mut tx = store.pool().begin().await.unwrap();
        sqlx::query(&format!("INSERT INTO {orders} VALUES (2)"))
            .execute(&mut *tx)
            .await
            .unwrap();
        let sent = store
            .send_in(
                &mut tx,
                &webhooks,
                &tenant,
                "order.placed",
                r#"{"id":2}"#,
                Some("order-2"),
            )
            .await
            .unwrap();
        // Not visible to anyone else until the caller commits.
        assert!(webhooks.event(&tenant, &sent.event_id).await.is_err());
        tx.commit().await.unwrap();
        let listed = webhooks
            .list_deliveries(&tenant, &DeliveryFilter::default(), &PageRequest::first())
            .await
            .unwrap();
        assert_eq!(listed.data.len(), 1);
        assert_eq!(listed.data[0].event_id, sent.event_id);

        // The key is honoured inside the outbox too.
        let mut tx = store.pool().begin().await.unwrap();
        let again = store
            .send_in(
                &mut tx,
                &webhooks,
                &tenant,
                "order.placed",
                r#"{"id":2}"#,
                Some("order-2"),
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(again, sent);
    }

    #[tokio::test]
    async fn outbox_refusals_name_the_problem() {
        let store = fresh().await;
        let webhooks = webhooks_over(&store, Arc::new(ManualClock::new(START))).await;
        let tenant = TenantId::new("shop").unwrap();
        let mut tx = store.pool().begin().await.unwrap();
        let unknown = store
            .send_in(&mut tx, &webhooks, &tenant, "order.lost", "{}", None)
            .await
            .unwrap_err();
        assert!(unknown.to_string().contains("order.lost"), "{unknown}");
        let not_json = store
            .send_in(&mut tx, &webhooks, &tenant, "order.placed", "{nope", None)
            .await
            .unwrap_err();
        assert!(matches!(not_json, hookshot::Error::InvalidInput { .. }));
    }

    #[tokio::test]
    async fn retention_removes_only_old_finished_history() {
        let store = fresh().await;
        let clock = Arc::new(ManualClock::new(START));
        let webhooks = webhooks_over(&store, clock.clone()).await;
        let tenant = TenantId::new("shop").unwrap();
        for path in ["a", "b"] {
            let url = format!("http://127.0.0.1:9/{path}");
            webhooks
                .create_endpoint(&tenant, NewEndpoint::new(url), None)
                .await
                .unwrap();
        }
        let sent = webhooks
            .send(&tenant, "order.placed", r#"{"id":1}"#, Some("k1"))
            .await
            .unwrap();
        let claims = store
            .claim_due(
                "w",
                START,
                START.saturating_add(Duration::from_secs(60)),
                10,
            )
            .await
            .unwrap();
        assert_eq!(claims.len(), 2);
        // One delivered, one still queued.
        let (done, queued) = (&claims[0], &claims[1]);
        let mut delivered = done.delivery.clone();
        delivered.status = DeliveryStatus::Delivered;
        delivered.attempts = 1;
        delivered.last_attempt_at = Some(START);
        delivered.next_attempt_at = None;
        let attempt = Attempt {
            delivery_id: delivered.id.clone(),
            number: 1,
            trigger: Trigger::Scheduled,
            started_at: START,
            duration: Duration::from_millis(12),
            outcome: AttemptOutcome::Response {
                status: 204,
                body: String::new(),
                body_truncated: false,
            },
        };
        assert!(
            store
                .finish_attempt(&done.lease, attempt, delivered)
                .await
                .unwrap()
        );
        store.release(&queued.lease, START).await.unwrap();

        let week_later = START.saturating_add(Duration::from_secs(7 * 86_400));
        assert_eq!(
            store.purge_finished(START).await.unwrap(),
            Purged::default(),
            "nothing is older than the cut-off"
        );
        let first = store.purge_finished(week_later).await.unwrap();
        assert_eq!(
            (first.deliveries, first.events),
            (1, 0),
            "the event is still queued to b"
        );
        assert_eq!(first.idempotency_records, 1);
        assert!(
            store
                .delivery(&tenant, &done.delivery.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .attempts(&tenant, &done.delivery.id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .delivery(&tenant, &queued.delivery.id)
                .await
                .unwrap()
                .is_some()
        );

        store
            .fail_queued(&tenant, &queued.delivery.endpoint_id, "gone")
            .await
            .unwrap();
        let second = store.purge_finished(week_later).await.unwrap();
        assert_eq!((second.deliveries, second.events), (1, 1));
        assert!(
            store
                .event(&tenant, &sent.event_id)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn claims_take_the_longest_overdue_and_skip_what_others_hold() {
        let store = fresh().await;
        let clock = Arc::new(ManualClock::new(START));
        let webhooks = webhooks_over(&store, clock.clone()).await;
        let tenant = TenantId::new("shop").unwrap();
        webhooks
            .create_endpoint(&tenant, NewEndpoint::new("http://127.0.0.1:9/a"), None)
            .await
            .unwrap();
        let mut sent = Vec::new();
        for i in 0..40 {
            clock.advance(Duration::from_millis(1));
            let body = format!(r#"{{"id":{i}}}"#);
            sent.push(
                webhooks
                    .send(&tenant, "order.placed", body, None)
                    .await
                    .unwrap(),
            );
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
}
