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
    use hookshot::model::{DeliveryFilter, EventType, NewEndpoint, PageRequest, TenantId};
    use hookshot::store::postgres::PostgresStore;
    use hookshot::store::{DeliveryStore, Store};

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
            .create_endpoint(&tenant, NewEndpoint::new(url), None)
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
            .send(&tenant, "order.placed", r#"{"id":1}"#, None)
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
                .create_endpoint(&tenant, NewEndpoint::new(format!("{base}/t{t}")), None)
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
                    let sent = webhooks
                        .send(&tenant, "order.placed", body, None)
                        .await
                        .unwrap();
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
            .env("HOOKSHOT_LEASE_SECS", "31")
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
        let killed_at = started.elapsed();
        exits_within(&mut survivor, Duration::from_secs(150)).await;
        let duplicates = assert_nothing_lost(&store, &receiver, &event_ids).await;
        println!(
            "{} events delivered; one of two processes killed at {killed_at:?}, the other \
             finished at {:?}; {duplicates} delivered twice (attempted by the killed process \
             but not recorded)",
            event_ids.len(),
            started.elapsed()
        );
    }
}
