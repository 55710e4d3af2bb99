//! Registry operations of [`Webhooks`] over a [`MemoryStore`] holding many
//! endpoints, and the dispatcher's per-event subscriber lookup.
//!
//! Every fixture is built through the `Webhooks` facade (full validation,
//! generated ids and secrets), as an application would fill it.
//!
//! - `registry`: 100,000 endpoints over 1,000 tenants (100 each): get by id,
//!   the first page of 50, a page of 50 from a cursor in the middle of a
//!   tenant, and create (into existing tenants, round robin; run last since
//!   it grows the store).
//! - `subscribers`: `EndpointStore::subscribers(tenant, invoice_paid)`, with
//!   the catalog entry of `invoice.paid` as a send passes it.
//!   The looked-up tenant holds a tenth of all endpoints; the rest sit in
//!   tenants of 100. `by_total` keeps 10 subscribers while the total grows
//!   from 1k to 100k; `by_subscribers` keeps 100k in total while the
//!   subscribers grow from 10 to 1,000. The lookup should follow the
//!   subscribers, not the total.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hookshot::model::{EndpointFilter, EventType, NewEndpoint, PageRequest, TenantId};
use hookshot::store::{MemoryStore, Store};
use hookshot::{EndpointId, Webhooks};
use tokio::runtime::Runtime;

/// The event type the subscriber lookup is made for.
const LOOKED_UP: &str = "invoice.paid";

/// The catalog every fixture declares.
const CATALOG: &[&str] = &[
    "invoice.paid",
    "invoice.created",
    "invoice.voided",
    "customer.created",
    "customer.updated",
    "payment.succeeded",
    "payment.failed",
    "refund.created",
    "order.placed",
    "order.shipped",
];

fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => unreachable!("benchmark fixture failed: {e:?}"),
    }
}

fn runtime() -> Runtime {
    ok(tokio::runtime::Builder::new_current_thread().build())
}

/// `Webhooks` over `store`, which the caller keeps to reach the store
/// directly.
fn webhooks(rt: &Runtime, store: Arc<dyn Store>) -> Webhooks {
    let catalog = CATALOG.iter().map(|name| ok(EventType::new(*name)));
    ok(rt.block_on(Webhooks::builder(store).event_types(catalog).build()))
}

fn tenant(i: usize) -> TenantId {
    ok(TenantId::new(format!("t{i:05}")))
}

fn url(tenant: &TenantId, i: usize) -> String {
    format!("https://{tenant}.example.com/hooks/{i}")
}

/// An endpoint that does not receive `invoice.paid`, in one of several ways
/// (other names, other groups, or subscribed but disabled).
fn non_subscriber(tenant: &TenantId, i: usize) -> NewEndpoint {
    let new = NewEndpoint::new(url(tenant, i));
    match i % 5 {
        0 => new.event_types(["invoice.created"]),
        1 => new.event_types(["customer.*"]),
        2 => new.event_types(["payment.succeeded", "refund.created"]),
        3 => new.event_types([LOOKED_UP]).enabled(false),
        _ => new.event_types(["order.*", "invoice.voided"]),
    }
}

/// An endpoint that receives `invoice.paid`: by name, by `invoice.*`, with
/// no filter, or through two patterns at once.
fn subscriber(tenant: &TenantId, i: usize) -> NewEndpoint {
    let new = NewEndpoint::new(url(tenant, i));
    match i % 4 {
        0 => new.event_types([LOOKED_UP]),
        1 => new.event_types(["invoice.*"]),
        2 => new,
        _ => new.event_types([LOOKED_UP, "invoice.*", "customer.created"]),
    }
}

fn create(rt: &Runtime, webhooks: &Webhooks, tenant: &TenantId, new: NewEndpoint) -> EndpointId {
    ok(rt.block_on(webhooks.create_endpoint(tenant, new)))
        .endpoint
        .id
}

/// 1,000 tenants of 100 endpoints, a mix of subscriptions; with, per
/// tenant, the id of its 50th endpoint.
fn registry_fixture(rt: &Runtime) -> (Webhooks, Vec<(TenantId, EndpointId)>) {
    const TENANTS: usize = 1_000;
    const PER_TENANT: usize = 100;
    let webhooks = webhooks(rt, Arc::new(MemoryStore::new()));
    let mut middle = Vec::with_capacity(TENANTS);
    for t in 0..TENANTS {
        let tenant = tenant(t);
        for i in 0..PER_TENANT {
            let new = if i % 2 == 0 {
                subscriber(&tenant, i)
            } else {
                non_subscriber(&tenant, i)
            };
            let id = create(rt, &webhooks, &tenant, new);
            if i == PER_TENANT / 2 {
                middle.push((tenant.clone(), id));
            }
        }
    }
    (webhooks, middle)
}

fn registry(c: &mut Criterion) {
    let rt = runtime();
    let (webhooks, middle) = registry_fixture(&rt);
    let filter = EndpointFilter::default();
    let first_page = PageRequest::first();
    // A cursor 25 endpoints into each tenant: the page of 50 after it holds
    // the 26th to 75th newest of the tenant's 100.
    let middle_pages: Vec<(TenantId, PageRequest)> = middle
        .iter()
        .map(|(tenant, _)| {
            let head = ok(rt.block_on(webhooks.list_endpoints(
                tenant,
                &filter,
                &PageRequest::first().limit(25),
            )));
            let cursor = head.next_cursor.unwrap_or_else(|| unreachable!());
            (tenant.clone(), PageRequest::first().at(cursor))
        })
        .collect();
    let total = 100_000;

    let mut group = c.benchmark_group("registry");
    group.sample_size(30);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    // Each read cycles through the 1,000 tenants so caches see a spread of
    // records, not one hot endpoint.
    let mut n = 0;
    group.bench_function(BenchmarkId::new("endpoint", total), |b| {
        b.iter(|| {
            let (tenant, id) = &middle[n % middle.len()];
            n += 1;
            ok(rt.block_on(webhooks.endpoint(black_box(tenant), black_box(id))))
        });
    });
    let mut n = 0;
    group.bench_function(BenchmarkId::new("list_first_page_50", total), |b| {
        b.iter(|| {
            let (tenant, _) = &middle[n % middle.len()];
            n += 1;
            let page =
                ok(rt.block_on(webhooks.list_endpoints(black_box(tenant), &filter, &first_page)));
            debug_assert_eq!(page.data.len(), 50);
            page
        });
    });
    let mut n = 0;
    group.bench_function(BenchmarkId::new("list_middle_page_50", total), |b| {
        b.iter(|| {
            let (tenant, page) = &middle_pages[n % middle_pages.len()];
            n += 1;
            let page = ok(rt.block_on(webhooks.list_endpoints(
                black_box(tenant),
                &filter,
                black_box(page),
            )));
            debug_assert_eq!(page.data.len(), 50);
            page
        });
    });
    // Last, as it adds an endpoint per iteration (spread over the tenants).
    let mut n = 0;
    group.bench_function(BenchmarkId::new("create_endpoint", total), |b| {
        b.iter(|| {
            let tenant = &middle[n % middle.len()].0;
            let new = subscriber(tenant, n);
            n += 1;
            create(&rt, &webhooks, black_box(tenant), black_box(new))
        });
    });
    group.finish();
}

/// `total` endpoints, of which a tenth in the looked-up tenant `hot`, which
/// has `subscribers` receiving `invoice.paid`; the rest in tenants of 100
/// with the same mix of subscriptions.
fn subscribers_fixture(
    rt: &Runtime,
    total: usize,
    subscribers: usize,
) -> (Arc<dyn Store>, TenantId, EventType) {
    const PER_TENANT: usize = 100;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let webhooks = webhooks(rt, Arc::clone(&store));
    let hot = ok(TenantId::new("hot"));
    let in_hot = total / 10;
    let every = in_hot / subscribers;
    for i in 0..in_hot {
        let new = if i % every == 0 {
            subscriber(&hot, i / every)
        } else {
            non_subscriber(&hot, i)
        };
        create(rt, &webhooks, &hot, new);
    }
    for i in 0..total - in_hot {
        let tenant = tenant(i / PER_TENANT);
        let new = if i % 10 == 0 {
            subscriber(&tenant, i)
        } else {
            non_subscriber(&tenant, i)
        };
        create(rt, &webhooks, &tenant, new);
    }
    let looked_up = ok(rt.block_on(store.event_type(LOOKED_UP)))
        .unwrap_or_else(|| unreachable!("{LOOKED_UP} is in the catalog"));
    let found = ok(rt.block_on(store.subscribers(&hot, &looked_up)));
    assert_eq!(
        found.len(),
        subscribers,
        "fixture has the wrong subscribers"
    );
    (store, hot, looked_up)
}

fn subscribers(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("subscribers");
    group.sample_size(40);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    let by_total = [1_000, 10_000, 100_000].map(|total| {
        let id = BenchmarkId::new("by_total/10_subs", total);
        (id, total, 10)
    });
    let by_subscribers = [10, 100, 1_000].map(|subs| {
        let id = BenchmarkId::new("by_subscribers/100000_total", subs);
        (id, 100_000, subs)
    });
    for (id, total, subscribers) in by_total.into_iter().chain(by_subscribers) {
        let (store, hot, looked_up) = subscribers_fixture(&rt, total, subscribers);
        group.bench_function(id, |b| {
            b.iter(|| ok(rt.block_on(store.subscribers(black_box(&hot), black_box(&looked_up)))));
        });
    }
    group.finish();
}

criterion_group!(benches, registry, subscribers);
criterion_main!(benches);
