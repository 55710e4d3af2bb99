//! Delivery with the Postgres backend. Needs `DATABASE_URL`.
//!
//! - `pg_throughput`: webhooks delivered per second to a loopback receiver.
//!   Each round queues 5,000 deliveries (50 events fanned out to 100
//!   endpoints, untimed), then times from starting the dispatchers until the
//!   receiver has seen every one. Side by side in the same run: one
//!   dispatcher over `MemoryStore`, one dispatcher process over Postgres,
//!   and two (this process and a child running this binary as a worker).
//!   Starting the dispatchers, the child process included, is in the time.
//! - `pg_claim`: claiming a batch of 64 due deliveries from a table with no
//!   history, and from one with 1,000,000 finished deliveries.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use hookshot::Webhooks;
use hookshot::clock::{Clock as _, SystemClock};
use hookshot::dispatcher::{Dispatcher, DispatcherHandle};
use hookshot::model::{EventType, NewEndpoint, TenantId};
use hookshot::store::postgres::PostgresStore;
use hookshot::store::{DeliveryStore, Store};

mod support;
use support::{BODY, ok, receiver, runtime, wait_for};

const ENDPOINTS: usize = 100;
const SENDS: usize = 50;
const BATCH: usize = ENDPOINTS * SENDS;
const CONCURRENCY: usize = 64;
/// Set in the child process: the schema to deliver from.
const WORKER_ENV: &str = "HOOKSHOT_BENCH_WORKER_SCHEMA";

fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        unreachable!("set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test")
    })
}

/// Webhooks and the tenant whose endpoints the events go to.
type Fixture = (Arc<Webhooks>, TenantId);

/// `Webhooks` over `store` with `ENDPOINTS` endpoints at `url` subscribed.
async fn subscribed(store: Arc<dyn Store>, url: &str) -> Fixture {
    let hooks = ok(Webhooks::builder(store)
        .local_development(true)
        .event_type(ok(EventType::new("invoice.paid")))
        .build()
        .await);
    let tenant = ok(TenantId::new("bench"));
    for i in 0..ENDPOINTS {
        let new = NewEndpoint::new(format!("{url}/e{i}"));
        ok(hooks.create_endpoint(&tenant, new).await);
    }
    (Arc::new(hooks), tenant)
}

fn dispatcher(hooks: &Arc<Webhooks>) -> Dispatcher {
    ok(Dispatcher::builder(Arc::clone(hooks))
        .configure(|c| {
            c.concurrency = CONCURRENCY;
            c.poll_interval = Duration::from_millis(100);
        })
        .build())
}

/// One timed round: queue `BATCH` deliveries, then start `start` and wait
/// until the receiver has seen them all.
async fn round<S>(
    hooks: &Webhooks,
    tenant: &TenantId,
    seen: &AtomicUsize,
    start: impl FnOnce() -> S,
    stop: impl AsyncFnOnce(S),
) -> Duration {
    for _ in 0..SENDS {
        ok(hooks.send(tenant, "invoice.paid", BODY).await);
    }
    let target = seen.load(Ordering::Relaxed) + BATCH;
    let started = Instant::now();
    let running = start();
    wait_for(seen, target).await;
    let elapsed = started.elapsed();
    stop(running).await;
    elapsed
}

async fn stop_local(handle: DispatcherHandle) {
    handle.shutdown(Duration::from_secs(10)).await;
}

/// A child process running this binary as a dispatcher on `schema`.
fn child_dispatcher(schema: &str) -> Child {
    ok(Command::new(ok(std::env::current_exe()))
        .env(WORKER_ENV, schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn())
}

/// Closing its stdin asks the child to shut down.
fn stop_child(mut child: Child) {
    drop(child.stdin.take());
    ok(child.wait());
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let (url, seen) = rt.block_on(receiver());
    let memory = rt.block_on(subscribed(
        Arc::new(hookshot::store::MemoryStore::new()),
        &url,
    ));
    let pg = ok(rt.block_on(PostgresStore::temporary(&database_url())));
    let postgres = rt.block_on(subscribed(Arc::new(pg.clone()), &url));

    let mut group = c.benchmark_group("pg_throughput");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(BATCH as u64));
    let cases: [(&str, &Fixture, bool); 3] = [
        ("memory_1_process", &memory, false),
        ("postgres_1_process", &postgres, false),
        ("postgres_2_processes", &postgres, true),
    ];
    for (name, (hooks, tenant), with_child) in cases {
        group.bench_function(BenchmarkId::new(name, CONCURRENCY), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += round(
                            hooks,
                            tenant,
                            &seen,
                            || {
                                let child = with_child.then(|| child_dispatcher(pg.schema()));
                                (dispatcher(hooks).spawn(), child)
                            },
                            async |(local, child)| {
                                stop_local(local).await;
                                if let Some(child) = child {
                                    stop_child(child);
                                }
                            },
                        )
                        .await;
                    }
                    total
                })
            });
        });
    }
    group.finish();
}

fn claim(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("pg_claim");
    group.sample_size(20);
    for history in [0, 1_000_000] {
        let store = ok(rt.block_on(PostgresStore::temporary(&database_url())));
        rt.block_on(async {
            fill_history(&store, history).await;
            let (hooks, tenant) = subscribed(Arc::new(store.clone()), "http://127.0.0.1:9").await;
            ok(hooks.send(&tenant, "invoice.paid", BODY).await);
        });
        group.bench_function(BenchmarkId::new("batch_of_64", history), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let now = SystemClock.now();
                        let until = now.saturating_add(Duration::from_secs(60));
                        let started = Instant::now();
                        let claims = ok(store.claim_due("bench", now, until, 64).await);
                        total += started.elapsed();
                        assert_eq!(claims.len(), 64);
                        for claim in claims {
                            ok(store.release(&claim.lease, now).await);
                        }
                    }
                    total
                })
            });
        });
    }
    group.finish();
}

/// `rows` delivered deliveries of one old event, straight into the table.
async fn fill_history(store: &PostgresStore, rows: usize) {
    if rows == 0 {
        return;
    }
    let s = store.schema();
    let event = format!(
        "INSERT INTO {s}.events (id, tenant, event_type, body, created_at) \
         VALUES ('msg_history', 'old', 'invoice.paid', '{{}}', 0)"
    );
    let deliveries = format!(
        "INSERT INTO {s}.deliveries (id, tenant, event_id, endpoint_id, event_type, status, \
           attempts, scheduled_attempts, next_trigger, created_at, last_attempt_at, \
           last_response_status) \
         SELECT 'dlv_history_' || lpad(g::text, 8, '0'), 'old', 'msg_history', 'ep_old', \
           'invoice.paid', 'delivered', 1, 1, 'scheduled', 0, 0, 204 \
         FROM generate_series(1, $1) AS g"
    );
    ok(sqlx::query(&event).execute(store.pool()).await);
    ok(sqlx::query(&deliveries)
        .bind(ok(i64::try_from(rows)))
        .execute(store.pool())
        .await);
    ok(sqlx::query(&format!("ANALYZE {s}.deliveries"))
        .execute(store.pool())
        .await);
}

/// The child process: a dispatcher on the schema it was given, until its
/// stdin closes.
fn worker(schema: &str) {
    let rt = runtime();
    rt.block_on(async {
        let store = ok(PostgresStore::connect(&database_url(), schema).await);
        let hooks = Arc::new(ok(Webhooks::builder(Arc::new(store)).build().await));
        let running = dispatcher(&hooks).spawn();
        // Whether stdin closed or failed, the parent is done with us.
        let _closed = ok(tokio::task::spawn_blocking(|| {
            let mut rest = Vec::new();
            std::io::stdin().read_to_end(&mut rest)
        })
        .await);
        running.shutdown(Duration::from_secs(10)).await;
    });
}

criterion_group!(benches, throughput, claim);

fn main() {
    if let Ok(schema) = std::env::var(WORKER_ENV) {
        worker(&schema);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
