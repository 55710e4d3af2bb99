//! Delivery throughput and fan-out.
//!
//! - `throughput`: webhooks delivered to a loopback receiver at concurrency
//!   64, `MemoryStore`, the dispatcher spawned as in production: keeping
//!   all history (`dispatcher`) and purging finished history every second
//!   (`dispatcher_purging`). Beside them, a bare reqwest loop posting the
//!   same bodies at the same concurrency with no store, no signing and no
//!   bookkeeping (`bare_reqwest`, the practical limit and the baseline),
//!   and the same loop sending the four headers every webhook carries
//!   (`bare_reqwest_webhook_headers`): what the wire format alone costs.
//!   Report each as a ratio to `bare_reqwest` per webhook.
//! - `fan_out`: one `send` to 10,000 subscribed endpoints, and the memory a
//!   pending delivery costs beyond the shared payload (printed once, from
//!   the process's resident size before and after queueing 100,000).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookshot::Webhooks;
use hookshot::dispatcher::{Dispatcher, DispatcherHandle};
use hookshot::model::{EventType, NewEndpoint, TenantId};
use http::{HeaderMap, HeaderValue};
use tokio::runtime::Runtime;

mod support;
use support::{BODY, CpuPerItem, ok, receiver, runtime, wait_for};

const CONCURRENCY: usize = 64;
const BATCH: usize = 2_000;
async fn webhooks() -> Arc<Webhooks> {
    let built = Webhooks::in_memory()
        .local_development(true)
        .event_type(ok(EventType::new("invoice.paid")))
        .build()
        .await;
    Arc::new(ok(built))
}

fn throughput(c: &mut Criterion) {
    let rt = runtime();
    let (url, seen) = rt.block_on(receiver());
    let mut group = c.benchmark_group("throughput");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(BATCH as u64));
    let variants = [
        ("dispatcher", None),
        ("dispatcher_purging", Some(Duration::ZERO)),
    ];
    for (name, keep_history) in variants {
        let (hooks, tenant, running) = rt.block_on(dispatching(&url, keep_history));
        let mut cpu = CpuPerItem::default();
        group.bench_function(BenchmarkId::new(name, CONCURRENCY), |b| {
            b.iter_custom(|iters| {
                let (hooks, tenant) = (Arc::clone(&hooks), tenant.clone());
                let seen = Arc::clone(&seen);
                // On the runtime's workers, as a service's request handlers
                // would send: not from a third thread competing for two cores.
                let sending = rt.spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let target = seen.load(Ordering::Relaxed) + BATCH;
                        for _ in 0..BATCH {
                            ok(hooks.send(&tenant, "invoice.paid", BODY).await);
                        }
                        wait_for(&seen, target).await;
                    }
                    start.elapsed()
                });
                cpu.measure(iters * BATCH as u64, || ok(rt.block_on(sending)))
            });
        });
        cpu.report(&format!("throughput/{name}"));
        rt.block_on(running.shutdown(Duration::from_secs(5)));
    }
    // reqwest is built without a TLS provider (hookshot's transport brings
    // its own); the bare client needs one installed, though it talks plain
    // http. A second install fails harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = ok(reqwest::Client::builder().no_proxy().build());
    let variants = [
        ("bare_reqwest", HeaderMap::new()),
        ("bare_reqwest_webhook_headers", webhook_headers()),
    ];
    for (name, headers) in variants {
        let mut cpu = CpuPerItem::default();
        group.bench_function(BenchmarkId::new(name, CONCURRENCY), |b| {
            b.iter_custom(|iters| {
                cpu.measure(iters * BATCH as u64, || {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            bare_batch(&client, &url, &headers).await;
                        }
                        start.elapsed()
                    })
                })
            });
        });
        cpu.report(&format!("throughput/{name}"));
    }
    group.finish();
}

/// A dispatcher spawned over a fresh `MemoryStore` with one endpoint at
/// `url`, purging finished history older than `keep_history` every second.
async fn dispatching(
    url: &str,
    keep_history: Option<Duration>,
) -> (Arc<Webhooks>, TenantId, DispatcherHandle) {
    let tenant = ok(TenantId::new("bench"));
    let hooks = webhooks().await;
    let new = NewEndpoint::new(url).event_types(["invoice.paid"]);
    ok(hooks.create_endpoint(&tenant, new).await);
    let dispatcher = ok(Dispatcher::builder(Arc::clone(&hooks))
        .configure(|c| {
            c.concurrency = CONCURRENCY;
            c.per_endpoint_concurrency = CONCURRENCY;
            c.keep_history = keep_history;
            c.purge_interval = Duration::from_secs(1);
        })
        .build());
    (hooks, tenant, dispatcher.spawn())
}

/// The headers every webhook carries beyond a bare POST, with values of
/// the same length as real ones: what the wire format alone costs sender
/// and receiver.
fn webhook_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("webhook-id", "msg_01kabcdefghjkmnpqrstvwxyz0"),
        ("webhook-timestamp", "1764626400"),
        (
            "webhook-signature",
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        ),
        ("user-agent", "hookshot/0.1.0"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
}

/// `BATCH` posts with `headers` over `CONCURRENCY` tasks, each taking the
/// next post.
async fn bare_batch(client: &reqwest::Client, url: &str, headers: &HeaderMap) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, url, next) = (client.clone(), url.to_owned(), Arc::clone(&next));
        let headers = headers.clone();
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < BATCH {
                let sent = client
                    .post(&url)
                    .headers(headers.clone())
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
            ok(hooks.create_endpoint(&tenant, new).await);
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
                black_box(ok(rt.block_on(hooks.send(tenant, "invoice.paid", BODY))));
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
            ok(hooks.send(&tenant, "invoice.paid", BODY).await);
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
