//! Delivery throughput and fan-out.
//!
//! - `throughput`: webhooks delivered to a loopback receiver at concurrency
//!   64, `MemoryStore`, the dispatcher spawned as in production, beside a
//!   bare reqwest loop posting the same bodies at the same concurrency (no
//!   store, no signing, no bookkeeping): the practical limit. Report
//!   `dispatcher / bare` per webhook.
//! - `fan_out`: one `send` to 10,000 subscribed endpoints, and the memory a
//!   pending delivery costs beyond the shared payload (printed once, from
//!   the process's resident size before and after queueing 100,000).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookshot::Webhooks;
use hookshot::dispatcher::Dispatcher;
use hookshot::model::{EventType, NewEndpoint, TenantId};
use hookshot::transport::{HttpTransport, SsrfGuard};
use tokio::runtime::Runtime;

mod support;
use support::{BODY, ok, receiver, runtime, wait_for};

const CONCURRENCY: usize = 64;
const BATCH: usize = 2_000;
async fn webhooks() -> Arc<Webhooks> {
    let built = Webhooks::in_memory()
        .allow_http(true)
        .event_type(ok(EventType::new("invoice.paid")))
        .build()
        .await;
    Arc::new(ok(built))
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let (url, seen) = rt.block_on(receiver());
    let tenant = ok(TenantId::new("bench"));
    let hooks = rt.block_on(webhooks());
    let new = NewEndpoint::new(&url).event_types(["invoice.paid"]);
    ok(rt.block_on(hooks.create_endpoint(&tenant, new, None)));
    let transport = ok(HttpTransport::builder()
        .guard(SsrfGuard::disabled())
        .build());
    let dispatcher = ok(Dispatcher::builder(Arc::clone(&hooks))
        .transport(Arc::new(transport))
        .configure(|c| {
            c.concurrency = CONCURRENCY;
            c.per_endpoint_concurrency = CONCURRENCY;
        })
        .build());
    let running = rt.block_on(async { dispatcher.spawn() });

    let mut group = c.benchmark_group("throughput");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function(BenchmarkId::new("dispatcher", CONCURRENCY), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let target = seen.load(Ordering::Relaxed) + BATCH;
                    for _ in 0..BATCH {
                        ok(hooks.send(&tenant, "invoice.paid", BODY, None).await);
                    }
                    wait_for(&seen, target).await;
                }
                start.elapsed()
            })
        });
    });
    // reqwest is built without a TLS provider (hookshot's transport brings
    // its own); the bare client needs one installed, though it talks plain
    // http. A second install fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ok(reqwest::Client::builder().no_proxy().build());
    group.bench_function(BenchmarkId::new("bare_reqwest", CONCURRENCY), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    bare_batch(&client, &url).await;
                }
                start.elapsed()
            })
        });
    });
    group.finish();
    rt.block_on(running.shutdown(Duration::from_secs(5)));
}

/// `BATCH` posts over `CONCURRENCY` tasks, each taking the next post.
async fn bare_batch(client: &reqwest::Client, url: &str) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, url, next) = (client.clone(), url.to_owned(), Arc::clone(&next));
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < BATCH {
                let sent = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(BODY)
                    .send()
                    .await;
                black_box(ok(sent).status());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Fills a tenant with `count` endpoints subscribed to `invoice.paid`.
fn subscribed(rt: &Runtime, count: usize) -> (Arc<Webhooks>, TenantId) {
    let hooks = rt.block_on(webhooks());
    let tenant = ok(TenantId::new("fan"));
    rt.block_on(async {
        for i in 0..count {
            let new = NewEndpoint::new(format!("https://r{i}.example/hooks"));
            ok(hooks.create_endpoint(&tenant, new, None).await);
        }
    });
    (hooks, tenant)
}

/// Runs first, in a fresh process: memory freed by earlier benchmarks would
/// be reused without growing the resident size, hiding the cost.
fn memory(_: &mut Criterion) {
    report_memory_per_delivery(&runtime());
}

fn fan_out(c: &mut Criterion) {
    /// Sends into one store before it is rebuilt, so the queue the sends
    /// land in stays between 0 and 100,000 deliveries.
    const SENDS_PER_STORE: u64 = 10;
    let rt = runtime();
    let mut group = c.benchmark_group("fan_out");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(BenchmarkId::new("send", 10_000), |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut fixture = subscribed(&rt, 10_000);
            for i in 0..iters {
                if i > 0 && i % SENDS_PER_STORE == 0 {
                    fixture = subscribed(&rt, 10_000);
                }
                let (hooks, tenant) = &fixture;
                let start = Instant::now();
                black_box(ok(rt.block_on(hooks.send(
                    tenant,
                    "invoice.paid",
                    BODY,
                    None,
                ))));
                timed += start.elapsed();
            }
            timed
        });
    });
    group.finish();
}

/// Resident memory per queued delivery, from /proc (Linux only).
fn report_memory_per_delivery(rt: &Runtime) {
    const ENDPOINTS: usize = 10_000;
    const SENDS: usize = 10;
    let (hooks, tenant) = subscribed(rt, ENDPOINTS);
    let Some(before) = resident_bytes() else {
        return;
    };
    rt.block_on(async {
        for _ in 0..SENDS {
            ok(hooks.send(&tenant, "invoice.paid", BODY, None).await);
        }
    });
    let Some(after) = resident_bytes() else {
        return;
    };
    let per = after.saturating_sub(before) as f64 / (ENDPOINTS * SENDS) as f64;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "fan_out/memory: {per:.0} bytes resident per pending delivery ({} queued)",
            ENDPOINTS * SENDS
        );
    }
}

fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

criterion_group!(benches, memory, throughput, fan_out);
criterion_main!(benches);
