//! The conformance suite every storage backend runs.
//!
//! A backend keeps the [`Store`] contract when every case here passes on it.
//! The cases drive the [`Webhooks`] facade over the backend, as an
//! application would, plus direct trait calls where the contract is about the
//! backend itself (idempotency records expiring by the times passed in,
//! duplicate ids, failed changes, the extra row of a listing, claims, leases
//! and the state a worker records after an attempt). Time comes
//! from a [`ManualClock`] set in 2001, far from the wall clock, so nothing
//! sleeps and a backend that reads the wall clock instead of its arguments
//! fails.
//!
//! # Running it
//!
//! [`conformance_tests!`](crate::conformance_tests) makes one test per case,
//! each on a fresh store, so `cargo test` reports them separately.
//! [`run_all`] runs every case in one test instead, and each case is a public
//! function for running it alone. Either way the crate that runs them needs:
//!
//! ```toml
//! [dev-dependencies]
//! hookshot = { version = "0.1", features = ["test-support"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! A failed case panics with what went wrong; [`run_all`] adds the case's
//! name.

// This is test support: a failed check has to stop the case with a message,
// which is exactly what unwrap, expect and panic are for here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Every case takes the store by value so that `run_all` and
// `conformance_tests!` can call them all the same way.
#![allow(clippy::needless_pass_by_value)]

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::clock::{Clock, ManualClock, Timestamp};
use crate::error::Error;
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::{
    Attempt, AttemptOutcome, CreatedEndpoint, Cursor, Delivery, DeliveryDetail, DeliveryFilter,
    DeliveryStatus, Direction, Endpoint, EndpointFilter, EndpointSecrets, EndpointStatus, Event,
    EventType, NewEndpoint, Page, PageRequest, Payload, RetiredSecret, StatusFilter,
    StoredEndpoint, TenantId, Trigger, UpdateEndpoint,
};
use crate::secret::SigningSecret;
use crate::store::{Claim, IdempotencyRecord, Inserted, Lease, Purged, Store};
use crate::webhooks::{
    DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_ROTATION_GRACE, MAX_ROTATION_GRACE, Sent, Webhooks,
    WebhooksBuilder,
};

/// Makes one `#[tokio::test]` per conformance case, each calling the case
/// with a fresh store from `$make_store`, a closure returning a future of
/// `Arc<dyn Store>`.
///
/// The tests are named after the cases in
/// [`hookshot::store::conformance`](crate::store::conformance) and run on
/// tokio's multi-threaded runtime, so the crate invoking the macro needs
/// `tokio` as a dev-dependency with the `macros` and `rt-multi-thread`
/// features. Invoke it in a module of its own (or a test file of its own) so
/// the test names cannot clash with yours.
///
/// ```
/// // tests/my_backend.rs
/// use std::sync::Arc;
/// use hookshot::store::{MemoryStore, Store};
///
/// // Put your own backend here; the in-memory one stands in for it.
/// async fn fresh_store() -> Arc<dyn Store> {
///     Arc::new(MemoryStore::new())
/// }
///
/// hookshot::conformance_tests!(fresh_store);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:expr $(,)?) => {
        $crate::__conformance_cases! { tests ($make_store) }
    };
}

/// The single list of cases, expanded either into tests or into the table
/// [`run_all`] walks.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($mode:ident $args:tt) => {
        $crate::__conformance_cases! { @$mode $args [
            create_get_round_trip
            update_changes_only_supplied_fields
            enable_and_disable
            delete_is_soft_and_final
            create_rejects_invalid_input
            update_rejects_invalid_input
            unknown_event_types_are_all_named
            idempotent_retry_returns_first_answer
            idempotency_key_reuse_with_other_request_conflicts
            idempotency_key_expires_after_window
            idempotency_keys_are_per_tenant
            concurrent_idempotent_creates_make_one_endpoint
            pagination_walks_forward_and_back
            pagination_edges_and_limits
            pagination_applies_filters
            pagination_cursor_survives_anchor_deletion
            pagination_stable_under_concurrent_inserts
            tenants_are_isolated
            subscribers_follow_filters
            subscribers_track_changes
            rotation_keeps_old_secret_for_grace
            rotation_with_zero_grace
            rotation_keeps_at_most_ten_retired
            rotation_grace_over_seven_days_rejected
            catalog_lists_sorted_and_by_group
            catalog_upsert_replaces
            catalog_rejects_malformed_entries
            backend_round_trips_every_field
            backend_idempotency_expiry_uses_given_times
            backend_duplicate_id_conflicts
            backend_failed_change_stores_nothing
            backend_list_reads_one_extra_row
            backend_subscribers_ascending_whatever_the_insert_order
            send_fans_out_to_active_subscribers
            send_wraps_payload_in_envelope
            send_without_envelope_delivers_payload_as_is
            send_refusals_store_nothing
            send_idempotent_retry_returns_first_answer
            send_key_reuse_with_other_event_conflicts
            send_key_expires_after_window
            send_keys_are_per_tenant_and_operation
            concurrent_idempotent_sends_queue_one_event
            send_without_subscribers_keeps_the_event
            claim_due_takes_due_deliveries_oldest_first
            claim_due_again_after_lease_expiry
            concurrent_claims_never_share_a_delivery
            finish_attempt_stores_state_and_attempts
            finish_attempt_after_takeover_is_refused
            release_puts_delivery_back
            next_due_tracks_queue_and_leases
            backend_enqueue_is_all_or_nothing
            delivery_pages_walk_forward_and_back
            delivery_listing_applies_filters
            deliveries_are_isolated_by_tenant
            retry_delivery_requeues_only_it
            retry_delivery_waits_for_the_lease
            retry_failed_requeues_failed_since
            fail_queued_ends_only_queued_deliveries
            purge_finished_removes_only_old_finished_history
        ] }
    };
    (@tests ($make_store:expr) [$($case:ident)*]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::store::conformance::$case(($make_store)().await).await;
            }
        )*
    };
    (@table () [$($case:ident)*]) => {
        ::std::vec![$(
            (
                ::std::stringify!($case),
                $crate::store::conformance::boxed($crate::store::conformance::$case),
            )
        ),*]
    };
}

// ---------------------------------------------------------------------------
// Running the suite
// ---------------------------------------------------------------------------

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Case = Box<dyn Fn(Arc<dyn Store>) -> CaseFuture + Send + Sync>;

fn boxed<Fut>(case: fn(Arc<dyn Store>) -> Fut) -> Case
where
    Fut: Future<Output = ()> + Send + 'static,
{
    Box::new(move |store| Box::pin(case(store)))
}

fn cases() -> Vec<(&'static str, Case)> {
    crate::__conformance_cases! { table () }
}

/// Runs every case, each on a fresh store from `make_store`, and panics
/// naming every case that failed.
///
/// ```
/// use std::sync::Arc;
/// use hookshot::store::{MemoryStore, Store};
///
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// hookshot::store::conformance::run_all(|| async {
///     Arc::new(MemoryStore::new()) as Arc<dyn Store>
/// })
/// .await;
/// # });
/// ```
pub async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let cases = cases();
    let total = cases.len();
    let mut failures = Vec::new();
    for (name, case) in cases {
        let store = make_store().await;
        if let Err(message) = run_case(case(store)).await {
            failures.push(format!("conformance case `{name}` failed: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} conformance cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs one case on its own task so that its panic can be reported with its
/// name instead of ending the run.
async fn run_case(case: CaseFuture) -> Result<(), String> {
    match tokio::spawn(case).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            Err(payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned()))
        }
        Err(e) => Err(e.to_string()),
    }
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// When every case's clock starts: 2001-09-09, far from the wall clock.
const START: Timestamp = Timestamp::from_unix_millis(1_000_000_000_000);
const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);
const HOUR: Duration = Duration::from_secs(3600);
const SCOPE: &str = "endpoint.create";
const NO_TYPES: [EventType; 0] = [];

/// The catalog most cases declare.
const CATALOG: [&str; 7] = [
    "billing.invoice.paid",
    "customer.created",
    "customer.deleted",
    "invoice.created",
    "invoice.paid",
    "invoice.voided",
    "refund.issued",
];

fn catalog() -> Vec<EventType> {
    CATALOG.iter().map(|name| event_type(name)).collect()
}

fn event_type(name: &str) -> EventType {
    EventType::new(name).unwrap_or_else(|e| panic!("event type {name}: {e}"))
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap_or_else(|e| panic!("tenant {name}: {e}"))
}

fn url(n: usize) -> String {
    format!("https://receiver-{n}.example.com/hooks")
}

fn request(n: usize) -> NewEndpoint {
    NewEndpoint::new(url(n))
}

/// A request that sets every field.
fn full_request() -> NewEndpoint {
    NewEndpoint::new("https://billing.example.com/hooks")
        .name("Billing")
        .description("Invoices for accounting")
        .event_types(["invoice.paid", "customer.*"])
        .timeout(Duration::from_secs(10))
        .rate_limit(50)
        .header("X-Trace", "abc")
        .metadata("plan", "pro")
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn status(status: StatusFilter) -> EndpointFilter {
    EndpointFilter {
        status: Some(status),
        event_type: None,
    }
}

fn subscribed_to(event_type: &str) -> EndpointFilter {
    EndpointFilter {
        status: None,
        event_type: Some(event_type.to_owned()),
    }
}

fn ids(endpoints: &[Endpoint]) -> Vec<EndpointId> {
    endpoints.iter().map(|e| e.id.clone()).collect()
}

fn page_ids(pages: &[Page<Endpoint>]) -> Vec<EndpointId> {
    pages.iter().flat_map(|p| ids(&p.data)).collect()
}

fn one(id: &EndpointId) -> Vec<EndpointId> {
    vec![id.clone()]
}

fn newest_first(ids: &[EndpointId]) -> Vec<EndpointId> {
    ids.iter().rev().cloned().collect()
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

fn exposed(secrets: &[&SigningSecret]) -> Vec<String> {
    secrets.iter().map(|s| s.expose()).collect()
}

/// A [`Webhooks`] over the store under test, on a manual clock, for one
/// tenant.
struct Harness {
    webhooks: Arc<Webhooks>,
    clock: Arc<ManualClock>,
    tenant: TenantId,
}

impl Harness {
    /// With the [`CATALOG`] declared and the default settings.
    async fn new(store: Arc<dyn Store>) -> Self {
        Self::configured(store, |b| b.event_types(catalog())).await
    }

    async fn configured(
        store: Arc<dyn Store>,
        configure: impl FnOnce(WebhooksBuilder) -> WebhooksBuilder,
    ) -> Self {
        let clock = Arc::new(ManualClock::new(START));
        let builder = Webhooks::builder(store)
            .clock(clock.clone())
            .local_development(false);
        let webhooks = configure(builder)
            .build()
            .await
            .unwrap_or_else(|e| panic!("building Webhooks over the store failed: {e}"));
        Self {
            webhooks: Arc::new(webhooks),
            clock,
            tenant: tenant("acme"),
        }
    }

    fn store(&self) -> &Arc<dyn Store> {
        self.webhooks.store()
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn create(&self, new: NewEndpoint) -> CreatedEndpoint {
        self.create_in(&self.tenant, new).await
    }

    async fn create_in(&self, tenant: &TenantId, new: NewEndpoint) -> CreatedEndpoint {
        self.webhooks
            .create_endpoint(tenant, new, None)
            .await
            .unwrap_or_else(|e| panic!("creating an endpoint for {tenant} failed: {e}"))
    }

    async fn create_keyed(&self, new: NewEndpoint, key: &str) -> CreatedEndpoint {
        self.webhooks
            .create_endpoint(&self.tenant, new, Some(key))
            .await
            .unwrap_or_else(|e| panic!("creating an endpoint with key {key:?} failed: {e}"))
    }

    /// Creates `count` endpoints, letting the clock tick now and then, and
    /// returns their ids in creation order.
    async fn create_many(&self, count: usize) -> Vec<EndpointId> {
        let mut made = Vec::with_capacity(count);
        for n in 0..count {
            if n % 2 == 0 {
                self.advance(MS);
            }
            made.push(self.create(request(n)).await.endpoint.id);
        }
        made
    }

    async fn get(&self, id: &EndpointId) -> Endpoint {
        self.webhooks
            .endpoint(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("reading endpoint {id} failed: {e}"))
    }

    async fn stored(&self, id: &EndpointId) -> StoredEndpoint {
        read(self.store(), &self.tenant, id)
            .await
            .unwrap_or_else(|| panic!("the store lost endpoint {id}"))
    }

    async fn update(&self, id: &EndpointId, update: UpdateEndpoint) -> Endpoint {
        self.webhooks
            .update_endpoint(&self.tenant, id, update)
            .await
            .unwrap_or_else(|e| panic!("updating endpoint {id} failed: {e}"))
    }

    async fn delete(&self, id: &EndpointId) {
        self.webhooks
            .delete_endpoint(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("deleting endpoint {id} failed: {e}"));
    }

    async fn rotate(&self, id: &EndpointId) -> String {
        self.webhooks
            .rotate_secret(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("rotating the secret of {id} failed: {e}"))
            .expose()
    }

    /// The secrets that sign now, exposed.
    async fn secrets(&self, id: &EndpointId) -> Vec<String> {
        let secrets = self
            .webhooks
            .signing_secrets(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("reading the signing secrets of {id} failed: {e}"));
        exposed(&secrets.iter().collect::<Vec<_>>())
    }

    async fn page(&self, filter: &EndpointFilter, request: &PageRequest) -> Page<Endpoint> {
        self.webhooks
            .list_endpoints(&self.tenant, filter, request)
            .await
            .unwrap_or_else(|e| panic!("listing endpoints ({filter:?}, {request:?}) failed: {e}"))
    }

    /// Every endpoint of `tenant` passing `filter`, newest first, in one page.
    async fn list_in(&self, tenant: &TenantId, filter: &EndpointFilter) -> Vec<EndpointId> {
        let request = PageRequest::first().limit(PageRequest::MAX_LIMIT);
        let page = self
            .webhooks
            .list_endpoints(tenant, filter, &request)
            .await
            .unwrap_or_else(|e| panic!("listing endpoints of {tenant} failed: {e}"));
        assert!(
            page.next_cursor.is_none(),
            "a listing of fewer than {} endpoints has a next page",
            PageRequest::MAX_LIMIT
        );
        ids(&page.data)
    }

    async fn list(&self, filter: &EndpointFilter) -> Vec<EndpointId> {
        self.list_in(&self.tenant, filter).await
    }

    async fn list_all(&self) -> Vec<EndpointId> {
        self.list(&EndpointFilter::default()).await
    }

    async fn subscribers_in(&self, tenant: &TenantId, event_type: &str) -> Vec<EndpointId> {
        self.store()
            .subscribers(tenant, event_type)
            .await
            .unwrap_or_else(|e| panic!("subscribers of {event_type} failed: {e}"))
    }

    async fn subscribers(&self, event_type: &str) -> Vec<EndpointId> {
        self.subscribers_in(&self.tenant, event_type).await
    }

    /// Every endpoint page of `filter`, first to last.
    async fn walk_forward(&self, filter: &EndpointFilter, limit: usize) -> Vec<Page<Endpoint>> {
        follow_next(
            limit,
            |request| async move { self.page(filter, &request).await },
        )
        .await
    }

    /// The unfiltered endpoint pages before `from`, in the order visited.
    async fn walk_back(&self, from: &Page<Endpoint>, limit: usize) -> Vec<Page<Endpoint>> {
        let all = &EndpointFilter::default();
        follow_prev(from, limit, |request| async move {
            self.page(all, &request).await
        })
        .await
    }
}

/// Follows `next_cursor` (through its text form, as an HTTP client would)
/// from the first page of `limit` items to the last.
async fn follow_next<T, F, Fut>(limit: usize, fetch: F) -> Vec<Page<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: Future<Output = Page<T>>,
{
    let mut pages = Vec::new();
    let mut request = PageRequest::first().limit(limit);
    loop {
        let page = fetch(request).await;
        let next = page.next_cursor.clone();
        pages.push(page);
        assert!(pages.len() <= 1_000, "following next_cursor never ends");
        match next {
            Some(cursor) => request = reparse(&cursor, limit),
            None => return pages,
        }
    }
}

/// Follows `prev_cursor` from `from` back to the first page; the pages in
/// the order visited.
async fn follow_prev<T, F, Fut>(from: &Page<T>, limit: usize, fetch: F) -> Vec<Page<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: Future<Output = Page<T>>,
{
    let mut pages = Vec::new();
    let mut prev = from.prev_cursor.clone();
    while let Some(cursor) = prev {
        let page = fetch(reparse(&cursor, limit)).await;
        prev = page.prev_cursor.clone();
        pages.push(page);
        assert!(pages.len() <= 1_000, "following prev_cursor never ends");
    }
    pages
}

/// Cursors only where there is more: a `prev_cursor` on every page but the
/// first, a `next_cursor` on every page but the last.
#[track_caller]
fn check_forward_cursors<T>(pages: &[Page<T>]) {
    for (n, page) in pages.iter().enumerate() {
        let last = n + 1 == pages.len();
        assert_eq!(page.prev_cursor.is_some(), n > 0, "prev_cursor of page {n}");
        assert_eq!(page.next_cursor.is_some(), !last, "next_cursor of page {n}");
    }
}

/// Walking back from the last of `forward` visited the other pages in
/// reverse, each with a `next_cursor`, the first without a `prev_cursor`.
#[track_caller]
fn check_walked_back<T, K>(forward: &[Page<T>], back: &[Page<T>], key: impl Fn(&T) -> K)
where
    K: PartialEq + fmt::Debug,
{
    let keys = |page: &Page<T>| page.data.iter().map(&key).collect::<Vec<K>>();
    let back_keys: Vec<Vec<K>> = back.iter().map(keys).collect();
    let (_, before_last) = forward.split_last().expect("at least one page");
    let forward_keys: Vec<Vec<K>> = before_last.iter().rev().map(keys).collect();
    assert_eq!(back_keys, forward_keys, "walking back gave other pages");
    for page in back {
        assert!(
            page.next_cursor.is_some(),
            "a page reached backwards has no next"
        );
    }
    if let Some(first_again) = back.last() {
        assert!(
            first_again.prev_cursor.is_none(),
            "the first page has a prev_cursor"
        );
    }
}

fn reparse(cursor: &Cursor, limit: usize) -> PageRequest {
    PageRequest::parse(Some(&cursor.encode()), Some(limit))
        .unwrap_or_else(|e| panic!("a cursor from a listing does not parse: {e}"))
}

#[track_caller]
fn assert_invalid<T: fmt::Debug>(result: Result<T, Error>, field: &str, what: &str) -> String {
    match result {
        Err(Error::InvalidInput { field: got, reason }) => {
            let named = got == field || got.starts_with(&format!("{field}."));
            assert!(
                named,
                "{what}: InvalidInput names field {got:?}, expected {field:?} ({reason})"
            );
            reason
        }
        other => panic!("{what}: expected InvalidInput naming {field:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_not_found<T: fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(Error::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn assert_conflict<T: fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(Error::Conflict { .. }) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Endpoints: create, read, update, enable, delete
// ---------------------------------------------------------------------------

/// Create returns the secret once; reads return the endpoint as created and
/// never the secret.
pub async fn create_get_round_trip(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(full_request()).await;
    let expected = Endpoint {
        id: created.endpoint.id.clone(),
        tenant: h.tenant.clone(),
        name: "Billing".into(),
        description: "Invoices for accounting".into(),
        url: "https://billing.example.com/hooks".into(),
        event_types: Some(set(&["customer.*", "invoice.paid"])),
        status: EndpointStatus::Active,
        timeout: Duration::from_secs(10),
        rate_limit: Some(50),
        headers: map(&[("x-trace", "abc")]),
        metadata: map(&[("plan", "pro")]),
        has_signing_secret: true,
        created_at: START,
        updated_at: START,
        last_triggered_at: None,
    };
    assert_eq!(created.endpoint, expected, "create returned other fields");
    let secret = created.signing_secret.expose();
    assert!(
        secret.starts_with("whsec_"),
        "secret {secret:?} is not whsec_"
    );

    let read = h.get(&expected.id).await;
    assert_eq!(read, expected, "a read differs from what create returned");
    let json = serde_json::to_string(&read).expect("an endpoint serialises");
    assert!(
        !json.contains(&secret["whsec_".len()..]),
        "a read endpoint carries its secret: {json}"
    );
    assert_eq!(
        h.secrets(&expected.id).await,
        [secret],
        "the stored secret differs"
    );
    check_defaults_and_supplied_secret(&h, &created).await;
}

async fn check_defaults_and_supplied_secret(h: &Harness, first: &CreatedEndpoint) {
    let supplied = SigningSecret::generate().expect("a secret");
    let second = h.create(request(2).secret(supplied.clone())).await;
    assert_ne!(
        second.endpoint.id, first.endpoint.id,
        "two creates gave one id"
    );
    assert_eq!(
        second.signing_secret, supplied,
        "a supplied secret was replaced"
    );
    assert_eq!(h.secrets(&second.endpoint.id).await, [supplied.expose()]);
    assert_eq!(
        second.endpoint.timeout,
        Duration::from_secs(15),
        "default timeout"
    );
    assert_eq!(
        second.endpoint.event_types, None,
        "no filter means every event"
    );
    let third = h.create(request(3)).await;
    assert_ne!(
        third.signing_secret, first.signing_secret,
        "two generated secrets are equal"
    );
}

/// An update changes exactly the supplied fields, replaces the event filter
/// and advances `updated_at`.
pub async fn update_changes_only_supplied_fields(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(full_request()).await;
    let id = created.endpoint.id.clone();
    let mut expected = created.endpoint.clone();

    h.advance(SECOND);
    expected.name = "Renamed".into();
    expected.updated_at = h.now();
    let updated = h.update(&id, UpdateEndpoint::new().name("Renamed")).await;
    assert_eq!(
        updated, expected,
        "a name-only update changed more than the name"
    );

    h.advance(SECOND);
    expected.event_types = Some(set(&["refund.issued"]));
    expected.updated_at = h.now();
    let updated = h
        .update(&id, UpdateEndpoint::new().event_types(["refund.issued"]))
        .await;
    assert_eq!(updated, expected, "the event filter was not replaced");

    h.advance(SECOND);
    expected.event_types = None;
    expected.updated_at = h.now();
    let updated = h.update(&id, UpdateEndpoint::new().all_event_types()).await;
    assert_eq!(
        updated, expected,
        "all_event_types did not clear the filter"
    );

    h.advance(SECOND);
    let rest = update_every_other_field(&mut expected, h.now());
    assert_eq!(h.update(&id, rest).await, expected, "a full update");
    assert_eq!(h.get(&id).await, expected, "a read after the updates");
    let secret = created.signing_secret.expose();
    assert_eq!(
        h.secrets(&id).await,
        [secret],
        "an update touched the secret"
    );
}

fn update_every_other_field(expected: &mut Endpoint, now: Timestamp) -> UpdateEndpoint {
    expected.url = "https://new.example.com/in".into();
    expected.description = "moved".into();
    expected.timeout = Duration::from_secs(30);
    expected.headers = map(&[("x-new", "1")]);
    expected.metadata = map(&[("team", "ops")]);
    expected.updated_at = now;
    UpdateEndpoint::new()
        .url("https://new.example.com/in")
        .description("moved")
        .timeout(Duration::from_secs(30))
        .headers(map(&[("X-New", "1")]))
        .metadata(map(&[("team", "ops")]))
}

/// Disabling and enabling change the status and what status filters list.
pub async fn enable_and_disable(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let id = h.create(request(1)).await.endpoint.id;
    h.advance(SECOND);
    let disabled_at = h.now();
    let endpoint = h.update(&id, UpdateEndpoint::new().enabled(false)).await;
    assert!(
        matches!(&endpoint.status, EndpointStatus::Disabled { since, .. } if *since == disabled_at),
        "disabling gave {:?}",
        endpoint.status
    );
    assert_eq!(
        h.get(&id).await,
        endpoint,
        "the disabled state was not stored"
    );
    assert_eq!(h.list(&status(StatusFilter::Disabled)).await, one(&id));
    assert!(
        h.list(&status(StatusFilter::Active)).await.is_empty(),
        "active"
    );

    h.advance(SECOND);
    let again = h.update(&id, UpdateEndpoint::new().enabled(false)).await;
    assert_eq!(
        again.status, endpoint.status,
        "disabling twice moved `since`"
    );

    let enabled = h.update(&id, UpdateEndpoint::new().enabled(true)).await;
    assert_eq!(enabled.status, EndpointStatus::Active, "enabling");
    assert_eq!(
        h.get(&id).await.status,
        EndpointStatus::Active,
        "enabled state"
    );
    assert_eq!(h.list(&status(StatusFilter::Active)).await, [id]);

    let off = h.create(request(2).enabled(false)).await.endpoint;
    assert!(
        matches!(off.status, EndpointStatus::Disabled { since, .. } if since == h.now()),
        "created disabled gave {:?}",
        off.status
    );
    assert_eq!(h.list(&status(StatusFilter::Disabled)).await, [off.id]);
}

/// Delete hides the endpoint from every read and change, and only it.
pub async fn delete_is_soft_and_final(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let gone = h.create(request(1)).await.endpoint.id;
    let kept = h.create(request(2)).await.endpoint;
    h.advance(SECOND);
    h.delete(&gone).await;

    let (w, t) = (&h.webhooks, &h.tenant);
    assert_not_found(w.endpoint(t, &gone).await, "reading a deleted endpoint");
    let rename = UpdateEndpoint::new().name("x");
    assert_not_found(w.update_endpoint(t, &gone, rename).await, "updating it");
    assert_not_found(w.rotate_secret(t, &gone).await, "rotating its secret");
    assert_not_found(w.signing_secrets(t, &gone).await, "reading its secrets");
    assert_not_found(w.delete_endpoint(t, &gone).await, "deleting it twice");
    let direct = read(h.store(), t, &gone).await;
    assert!(direct.is_none(), "the store returns a deleted endpoint");

    assert_eq!(h.list_all().await, one(&kept.id), "list after delete");
    assert_eq!(h.subscribers("invoice.paid").await, one(&kept.id));
    assert_eq!(h.get(&kept.id).await, kept, "deleting one changed another");
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

const UNKNOWN_TYPES: [&str; 3] = ["user.created", "shipment.*", "invoice.refunded"];

/// Requests every create must refuse: what, the field named, the request.
fn rejected_creates() -> Vec<(&'static str, &'static str, NewEndpoint)> {
    let ok = || NewEndpoint::new("https://example.com/hooks");
    let mut unknown = vec!["invoice.paid"];
    unknown.extend(UNKNOWN_TYPES);
    vec![
        (
            "plain http",
            "url",
            NewEndpoint::new("http://example.com/hooks"),
        ),
        (
            "user info",
            "url",
            NewEndpoint::new("https://u:p@example.com/hooks"),
        ),
        (
            "fragment",
            "url",
            NewEndpoint::new("https://example.com/hooks#top"),
        ),
        ("not a URL", "url", NewEndpoint::new("example.com/hooks")),
        ("zero timeout", "timeout_secs", ok().timeout(Duration::ZERO)),
        (
            "31 s timeout",
            "timeout_secs",
            ok().timeout(Duration::from_secs(31)),
        ),
        (
            "reserved header",
            "headers",
            ok().header("Content-Type", "x"),
        ),
        (
            "signature header",
            "headers",
            ok().header("webhook-signature", "v1,x"),
        ),
        (
            "unknown event types",
            "event_types",
            ok().event_types(unknown),
        ),
        (
            "empty event filter",
            "event_types",
            ok().event_types(Vec::<String>::new()),
        ),
        ("zero rate limit", "rate_limit_per_sec", ok().rate_limit(0)),
        (
            "rate limit over 10,000",
            "rate_limit_per_sec",
            ok().rate_limit(10_001),
        ),
        ("oversize name", "name", ok().name("n".repeat(257))),
        (
            "oversize description",
            "description",
            ok().description("d".repeat(1025)),
        ),
    ]
}

/// Updates every update must refuse.
fn rejected_updates() -> Vec<(&'static str, &'static str, UpdateEndpoint)> {
    let ok = UpdateEndpoint::new;
    vec![
        ("plain http", "url", ok().url("http://example.com/hooks")),
        (
            "user info",
            "url",
            ok().url("https://u:p@example.com/hooks"),
        ),
        ("fragment", "url", ok().url("https://example.com/hooks#top")),
        ("zero timeout", "timeout_secs", ok().timeout(Duration::ZERO)),
        (
            "31 s timeout",
            "timeout_secs",
            ok().timeout(Duration::from_secs(31)),
        ),
        (
            "reserved header",
            "headers",
            ok().headers(map(&[("Host", "x")])),
        ),
        (
            "unknown event types",
            "event_types",
            ok().event_types(UNKNOWN_TYPES),
        ),
        (
            "zero rate limit",
            "rate_limit_per_sec",
            ok().rate_limit(Some(0)),
        ),
        ("oversize name", "name", ok().name("n".repeat(257))),
        (
            "valid name, bad url",
            "url",
            ok().name("changed").url("http://x.example"),
        ),
    ]
}

/// Every refused create names its field and stores nothing, not even its
/// idempotency key.
pub async fn create_rejects_invalid_input(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    const KEY: &str = "retried-after-fixing";
    for (what, field, new) in rejected_creates() {
        let result = h.webhooks.create_endpoint(&h.tenant, new, Some(KEY)).await;
        assert_invalid(result, field, what);
        let listed = h.list_all().await;
        assert!(
            listed.is_empty(),
            "a refused create ({what}) stored {listed:?}"
        );
    }
    let at_limits = NewEndpoint::new("https://example.com/hooks")
        .name("n".repeat(256))
        .timeout(Duration::from_secs(30));
    let created = h.create_keyed(at_limits, KEY).await;
    assert_eq!(
        h.list_all().await,
        [created.endpoint.id],
        "after fixing the request"
    );
    let one = h.create(request(1).timeout(SECOND)).await;
    assert_eq!(one.endpoint.timeout, SECOND, "a 1 s timeout is allowed");
}

/// Every refused update names its field and leaves the endpoint unchanged.
pub async fn update_rejects_invalid_input(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(full_request()).await;
    let id = &created.endpoint.id;
    let secret = created.signing_secret.expose();
    for (what, field, update) in rejected_updates() {
        h.advance(SECOND);
        let result = h.webhooks.update_endpoint(&h.tenant, id, update).await;
        assert_invalid(result, field, what);
        assert_eq!(
            h.get(id).await,
            created.endpoint,
            "a refused update ({what}) changed it"
        );
    }
    assert_eq!(
        h.secrets(id).await,
        [secret],
        "a refused update touched the secret"
    );
}

/// Unknown event types are refused with every unknown name in the message.
pub async fn unknown_event_types_are_all_named(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let mut patterns = vec!["invoice.paid", "refund.*"];
    patterns.extend(UNKNOWN_TYPES);
    let result = h
        .webhooks
        .create_endpoint(&h.tenant, request(1).event_types(patterns.clone()), None)
        .await;
    check_unknown_named(&assert_invalid(result, "event_types", "create"));

    let created = h.create(request(2)).await.endpoint;
    let update = UpdateEndpoint::new().event_types(patterns);
    let result = h
        .webhooks
        .update_endpoint(&h.tenant, &created.id, update)
        .await;
    check_unknown_named(&assert_invalid(result, "event_types", "update"));
    assert_eq!(
        h.get(&created.id).await,
        created,
        "a refused filter was stored"
    );
    assert_eq!(
        h.list_all().await,
        [created.id],
        "a refused create was stored"
    );
}

#[track_caller]
fn check_unknown_named(reason: &str) {
    for name in UNKNOWN_TYPES {
        assert!(reason.contains(name), "{name} is not named in {reason:?}");
    }
    for known in ["invoice.paid", "refund.*"] {
        assert!(
            !reason.contains(known),
            "known {known} is named in {reason:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------

const KEY: &str = "create-billing-endpoint";

/// A retry with the same key and request returns the first answer, secret
/// included, and creates nothing.
pub async fn idempotent_retry_returns_first_answer(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let first = h.create_keyed(full_request(), KEY).await;
    h.advance(HOUR);
    let retry = h.create_keyed(full_request(), KEY).await;
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
    let first = h.create_keyed(full_request(), KEY).await;
    let others = [
        request(1),
        full_request().name("Other name"),
        full_request().secret(SigningSecret::generate().expect("a secret")),
    ];
    for other in others {
        let result = h
            .webhooks
            .create_endpoint(&h.tenant, other, Some(KEY))
            .await;
        assert_conflict(result, "a key reused for another request");
    }
    assert_eq!(
        h.list_all().await,
        one(&first.endpoint.id),
        "a conflict created one"
    );
    let retry = h.create_keyed(full_request(), KEY).await;
    assert_eq!(retry, first, "a conflict replaced the remembered answer");
}

/// Once the window has passed, the key creates again, and then remembers
/// the new answer.
pub async fn idempotency_key_expires_after_window(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let first = h.create_keyed(full_request(), KEY).await;
    h.advance(DEFAULT_IDEMPOTENCY_WINDOW - MS);
    let retry = h.create_keyed(full_request(), KEY).await;
    assert_eq!(retry, first, "the key was forgotten inside its window");

    h.advance(MS);
    let second = h.create_keyed(request(1), KEY).await;
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
        h.create_keyed(request(1), KEY).await,
        second,
        "the new answer"
    );
    let result = h
        .webhooks
        .create_endpoint(&h.tenant, full_request(), Some(KEY))
        .await;
    assert_conflict(result, "the old request against the renewed key");
}

/// The same key in two tenants is two keys.
pub async fn idempotency_keys_are_per_tenant(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let other = tenant("globex");
    let mine = h.create_keyed(full_request(), KEY).await;
    let theirs = h
        .webhooks
        .create_endpoint(&other, request(1), Some(KEY))
        .await
        .unwrap_or_else(|e| panic!("the same key in another tenant: {e}"));
    assert_ne!(
        theirs.endpoint.id, mine.endpoint.id,
        "tenants shared an answer"
    );
    assert_eq!(theirs.endpoint.tenant, other);
    assert_eq!(h.list_all().await, one(&mine.endpoint.id));
    assert_eq!(
        h.list_in(&other, &EndpointFilter::default()).await,
        [theirs.endpoint.id]
    );
    assert_eq!(h.create_keyed(full_request(), KEY).await, mine, "own retry");
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
                    .create_endpoint(&tenant, full_request(), Some(KEY))
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
        one(&first.endpoint.id),
        "endpoints made"
    );
}

// ---------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------

/// Pages of 5 over 23 endpoints, forward then back: newest first, each
/// endpoint once, cursors only where there is more.
pub async fn pagination_walks_forward_and_back(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let expected = newest_first(&h.create_many(23).await);
    let pages = h.walk_forward(&EndpointFilter::default(), 5).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.data.len()).collect();
    assert_eq!(sizes, [5, 5, 5, 5, 3], "page sizes");
    assert_eq!(page_ids(&pages), expected, "forward walk");
    check_forward_cursors(&pages);

    let back = h.walk_back(&pages[4], 5).await;
    assert_eq!(back.len(), 4, "pages behind the last one");
    check_walked_back(&pages, &back, |e| e.id.clone());
}

/// Empty listings, page-size multiples, and the 1 to 250 limit.
pub async fn pagination_edges_and_limits(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let all = EndpointFilter::default();
    let empty = h.page(&all, &PageRequest::first()).await;
    assert!(empty.data.is_empty(), "an empty tenant lists endpoints");
    assert!(
        empty.next_cursor.is_none() && empty.prev_cursor.is_none(),
        "empty cursors"
    );

    let expected = newest_first(&h.create_many(10).await);
    let pages = h.walk_forward(&all, 5).await;
    assert_eq!(pages.len(), 2, "10 endpoints in pages of 5");
    assert_eq!(page_ids(&pages), expected);
    let whole = h.page(&all, &PageRequest::first().limit(10)).await;
    assert_eq!(ids(&whole.data), expected, "one page of exactly the limit");
    assert!(
        whole.next_cursor.is_none(),
        "a full last page has a next_cursor"
    );
    let max = h.page(&all, &PageRequest::first().limit(250)).await;
    assert_eq!(ids(&max.data), expected, "limit 250");

    for limit in [0, 251] {
        let request = PageRequest::first().limit(limit);
        let result = h.webhooks.list_endpoints(&h.tenant, &all, &request).await;
        assert_invalid(result, "limit", &format!("limit {limit}"));
    }
}

/// What each endpoint of the filter fixture is, and how it is created.
fn filter_kinds(round: usize) -> Vec<(&'static str, NewEndpoint)> {
    let n = |k: usize| request(round * 10 + k);
    vec![
        ("all", n(0)),
        ("all-off", n(1).enabled(false)),
        ("paid", n(2).event_types(["invoice.paid"])),
        (
            "paid-off",
            n(3).event_types(["invoice.paid"]).enabled(false),
        ),
        ("invoice-group", n(4).event_types(["invoice.*"])),
        ("customer-group", n(5).event_types(["customer.*"])),
        ("refund", n(6).event_types(["refund.issued"])),
        ("deleted", n(7)),
    ]
}

type Labelled = Vec<(&'static str, EndpointId)>;

async fn create_filter_fixture(h: &Harness) -> Labelled {
    let mut made = Vec::new();
    for round in 0..3 {
        for (kind, new) in filter_kinds(round) {
            let id = h.create(new).await.endpoint.id;
            if kind == "deleted" {
                h.delete(&id).await;
            }
            made.push((kind, id));
        }
    }
    made
}

fn of_kinds(made: &Labelled, kinds: &[&str]) -> Vec<EndpointId> {
    let ids: Vec<EndpointId> = made
        .iter()
        .filter(|(kind, _)| kinds.contains(kind))
        .map(|(_, id)| id.clone())
        .collect();
    newest_first(&ids)
}

/// Each query of the filter fixture: what, the filter, the kinds it lists.
fn filter_queries() -> Vec<(&'static str, EndpointFilter, Vec<&'static str>)> {
    let both = EndpointFilter {
        status: Some(StatusFilter::Disabled),
        event_type: Some("invoice.paid".into()),
    };
    let active = ["all", "paid", "invoice-group", "customer-group", "refund"];
    let mut live = active.to_vec();
    live.extend(["all-off", "paid-off"]);
    vec![
        ("no filter", EndpointFilter::default(), live),
        ("active", status(StatusFilter::Active), active.to_vec()),
        (
            "disabled",
            status(StatusFilter::Disabled),
            vec!["all-off", "paid-off"],
        ),
        (
            "invoice.paid",
            subscribed_to("invoice.paid"),
            vec!["all", "all-off", "paid", "paid-off", "invoice-group"],
        ),
        (
            "invoice.created",
            subscribed_to("invoice.created"),
            vec!["all", "all-off", "invoice-group"],
        ),
        (
            "customer.deleted",
            subscribed_to("customer.deleted"),
            vec!["all", "all-off", "customer-group"],
        ),
        ("disabled invoice.paid", both, vec!["all-off", "paid-off"]),
    ]
}

/// Status and event-type filters (names, `group.*`, no filter), also across
/// pages: every page but the last is full.
pub async fn pagination_applies_filters(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let made = create_filter_fixture(&h).await;
    for (what, filter, kinds) in filter_queries() {
        let pages = h.walk_forward(&filter, 2).await;
        assert_eq!(page_ids(&pages), of_kinds(&made, &kinds), "filter {what}");
        let (last, full) = pages.split_last().expect("at least one page");
        assert!(
            last.data.len() <= 2,
            "filter {what}: the last page is over the limit"
        );
        for page in full {
            assert_eq!(
                page.data.len(),
                2,
                "filter {what}: a page short of its limit"
            );
        }
    }
}

/// A cursor still works after the endpoint it points at is deleted.
pub async fn pagination_cursor_survives_anchor_deletion(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let expected = newest_first(&h.create_many(10).await);
    let all = EndpointFilter::default();
    let first = h.page(&all, &PageRequest::first().limit(4)).await;
    h.delete(&expected[3]).await;
    let next = first.next_cursor.expect("a next page");
    let second = h.page(&all, &reparse(&next, 4)).await;
    assert_eq!(
        ids(&second.data),
        expected[4..8],
        "the page after a deleted anchor"
    );

    h.delete(&expected[4]).await;
    let prev = second.prev_cursor.expect("a previous page");
    let back = h.page(&all, &reparse(&prev, 4)).await;
    assert_eq!(
        ids(&back.data),
        expected[..3],
        "the page before a deleted anchor"
    );
    assert!(
        back.prev_cursor.is_none(),
        "nothing is newer than the first page"
    );
}

fn spawn_inserter(h: &Harness, urls: std::ops::Range<usize>) -> JoinHandle<Vec<EndpointId>> {
    let (webhooks, tenant) = (Arc::clone(&h.webhooks), h.tenant.clone());
    tokio::spawn(async move {
        let mut made = Vec::new();
        for n in urls {
            let created = webhooks.create_endpoint(&tenant, request(n), None).await;
            made.push(created.expect("a concurrent insert").endpoint.id);
            tokio::task::yield_now().await;
        }
        made
    })
}

/// Walking pages while other tasks insert: every endpoint that existed
/// before is seen exactly once, nothing twice, newest first throughout.
pub async fn pagination_stable_under_concurrent_inserts(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let before = h.create_many(30).await;
    let racers: Vec<_> = (1..=3)
        .map(|r| spawn_inserter(&h, r * 1000..r * 1000 + 10))
        .collect();
    let (mut seen, mut inserted) = (Vec::new(), Vec::new());
    let mut request = PageRequest::first().limit(4);
    loop {
        let page = h.page(&EndpointFilter::default(), &request).await;
        seen.extend(ids(&page.data));
        // Inserts certainly land between this page and the next one.
        let batch = spawn_inserter(&h, 5000 + seen.len()..5002 + seen.len());
        inserted.extend(batch.await.expect("an inserter panicked"));
        match page.next_cursor {
            Some(cursor) => request = reparse(&cursor, 4),
            None => break,
        }
        assert!(seen.len() < 1_000, "the walk never ends");
    }
    for racer in racers {
        inserted.extend(racer.await.expect("an inserter panicked"));
    }
    check_concurrent_walk(&seen, &before, &inserted);
    assert_eq!(
        h.list_all().await.len(),
        before.len() + inserted.len(),
        "endpoints kept"
    );
}

#[track_caller]
fn check_concurrent_walk(seen: &[EndpointId], before: &[EndpointId], inserted: &[EndpointId]) {
    let unique: HashSet<&EndpointId> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "an endpoint was listed twice: {seen:?}"
    );
    for id in before {
        assert!(
            unique.contains(id),
            "{id}, present before the walk, was never listed"
        );
    }
    let known: HashSet<&EndpointId> = before.iter().chain(inserted).collect();
    assert!(
        unique.is_subset(&known),
        "the walk listed an endpoint never created"
    );
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "the walk is not newest first: {seen:?}"
    );
}

// ---------------------------------------------------------------------------
// Tenants and subscribers
// ---------------------------------------------------------------------------

/// Another tenant's endpoints cannot be read, changed, deleted, rotated,
/// listed or subscribed.
pub async fn tenants_are_isolated(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let other = tenant("globex");
    let mine = h.create(full_request()).await;
    let id = &mine.endpoint.id;
    let w = &h.webhooks;
    assert_not_found(w.endpoint(&other, id).await, "reading across tenants");
    let rename = UpdateEndpoint::new().name("stolen");
    assert_not_found(w.update_endpoint(&other, id, rename).await, "updating");
    assert_not_found(w.rotate_secret(&other, id).await, "rotating");
    assert_not_found(w.signing_secrets(&other, id).await, "reading secrets");
    assert_not_found(w.delete_endpoint(&other, id).await, "deleting");
    let direct = read(h.store(), &other, id).await;
    assert!(direct.is_none(), "the store reads across tenants");
    let listed = h.list_in(&other, &EndpointFilter::default()).await;
    assert!(listed.is_empty(), "listing across tenants: {listed:?}");
    let subscribed = h.subscribers_in(&other, "invoice.paid").await;
    assert!(
        subscribed.is_empty(),
        "subscribers across tenants: {subscribed:?}"
    );
    assert_eq!(h.get(id).await, mine.endpoint, "another tenant changed it");
    assert_eq!(
        h.secrets(id).await,
        [mine.signing_secret.expose()],
        "secret"
    );

    let theirs = h
        .create_in(&other, request(1).event_types(["invoice.paid"]))
        .await;
    let their_id = &theirs.endpoint.id;
    assert_not_found(w.endpoint(&h.tenant, their_id).await, "the other way round");
    assert_eq!(h.list_all().await, one(id), "own listing");
    assert_eq!(
        h.list_in(&other, &EndpointFilter::default()).await,
        one(their_id)
    );
    assert_eq!(
        h.subscribers("invoice.paid").await,
        one(id),
        "own subscribers"
    );
    assert_eq!(
        h.subscribers_in(&other, "invoice.paid").await,
        one(their_id)
    );
}

/// Subscribers by exact name, `group.*` and no filter; disabled and deleted
/// endpoints excluded; ascending ids without duplicates.
pub async fn subscribers_follow_filters(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let make = async |new: NewEndpoint| h.create(new).await.endpoint.id;
    let paid = make(request(1).event_types(["invoice.paid"])).await;
    let group = make(request(2).event_types(["invoice.*"])).await;
    let every = make(request(3)).await;
    let both = make(request(4).event_types(["invoice.*", "invoice.paid"])).await;
    let customer = make(request(5).event_types(["customer.created"])).await;
    let _off = make(request(6).enabled(false)).await;
    let deleted = make(request(7).event_types(["invoice.paid"])).await;
    let billing = make(request(8).event_types(["billing.*"])).await;
    h.delete(&deleted).await;

    let cases: [(&str, Vec<&EndpointId>); 7] = [
        ("invoice.paid", vec![&paid, &group, &every, &both]),
        ("invoice.created", vec![&group, &every, &both]),
        ("customer.created", vec![&every, &customer]),
        ("billing.invoice.paid", vec![&every, &billing]),
        ("refund.issued", vec![&every]),
        ("invoice", vec![&every]),
        ("invoices.paid", vec![&every]),
    ];
    for (event_type, expected) in cases {
        let expected = sorted(expected.into_iter().cloned().collect());
        assert_eq!(
            h.subscribers(event_type).await,
            expected,
            "subscribers of {event_type}"
        );
    }
}

/// Subscriber lookups follow filter changes, disabling, enabling, rotation
/// and deletion.
pub async fn subscribers_track_changes(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let e1 = h
        .create(request(1).event_types(["customer.created"]))
        .await
        .endpoint
        .id;
    let e2 = h.create(request(2)).await.endpoint.id;
    let both = vec![e1.clone(), e2.clone()];
    assert_eq!(h.subscribers("customer.created").await, both);

    h.update(&e1, UpdateEndpoint::new().event_types(["refund.issued"]))
        .await;
    assert_eq!(
        h.subscribers("customer.created").await,
        one(&e2),
        "old filter"
    );
    assert_eq!(h.subscribers("refund.issued").await, both, "new filter");
    h.update(&e1, UpdateEndpoint::new().all_event_types()).await;
    assert_eq!(h.subscribers("invoice.paid").await, both, "filter cleared");

    h.update(&e1, UpdateEndpoint::new().enabled(false)).await;
    assert_eq!(h.subscribers("invoice.paid").await, one(&e2), "disabled");
    h.update(&e1, UpdateEndpoint::new().enabled(true)).await;
    assert_eq!(h.subscribers("invoice.paid").await, both, "enabled again");
    h.rotate(&e1).await;
    h.update(&e1, UpdateEndpoint::new().name("renamed")).await;
    assert_eq!(
        h.subscribers("invoice.paid").await,
        both,
        "rotated and renamed"
    );
    h.delete(&e1).await;
    assert_eq!(h.subscribers("invoice.paid").await, [e2], "deleted");
}

// ---------------------------------------------------------------------------
// Secret rotation
// ---------------------------------------------------------------------------

/// Rotated-out secrets sign alongside the new one, newest first, until their
/// grace ends.
pub async fn rotation_keeps_old_secret_for_grace(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(request(1)).await;
    let id = &created.endpoint.id;
    let s0 = created.signing_secret.expose();
    h.advance(SECOND);
    let s1 = h.rotate(id).await;
    assert_ne!(s1, s0, "rotation kept the secret");
    assert_eq!(
        h.secrets(id).await,
        [s1.clone(), s0.clone()],
        "after a rotation"
    );
    let endpoint = h.get(id).await;
    assert!(
        endpoint.has_signing_secret,
        "has_signing_secret after rotation"
    );
    assert_eq!(
        endpoint.updated_at,
        h.now(),
        "rotation did not advance updated_at"
    );

    let half = DEFAULT_ROTATION_GRACE / 2;
    h.advance(half);
    let s2 = h.rotate(id).await;
    assert_eq!(
        h.secrets(id).await,
        [s2.clone(), s1.clone(), s0],
        "two rotations"
    );
    h.advance(half - MS);
    assert_eq!(h.secrets(id).await.len(), 3, "the first grace ended early");
    h.advance(MS);
    assert_eq!(
        h.secrets(id).await,
        [s2.clone(), s1],
        "the first grace is over"
    );
    h.advance(half);
    assert_eq!(h.secrets(id).await, [s2], "every grace is over");
}

/// With no grace the old secret stops at once; earlier retired ones keep
/// theirs.
pub async fn rotation_with_zero_grace(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b.rotation_grace(Duration::ZERO)).await;
    let created = h.create(request(1)).await;
    let id = &created.endpoint.id;
    let s1 = h.rotate(id).await;
    assert_eq!(h.secrets(id).await, [s1.as_str()], "configured zero grace");

    let with = async |grace| {
        let secret = h
            .webhooks
            .rotate_secret_with_grace(&h.tenant, id, grace)
            .await;
        secret.expect("rotating with a grace").expose()
    };
    let s2 = with(HOUR).await;
    assert_eq!(h.secrets(id).await, [s2, s1.clone()], "an hour's grace");
    let s3 = with(Duration::ZERO).await;
    assert_eq!(
        h.secrets(id).await,
        [s3, s1],
        "zero grace keeps earlier retired"
    );
}

/// However often it rotates, an endpoint keeps at most ten retired secrets,
/// the newest.
pub async fn rotation_keeps_at_most_ten_retired(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(request(1)).await;
    let id = &created.endpoint.id;
    let mut all = vec![created.signing_secret.expose()];
    for _ in 0..12 {
        h.advance(SECOND);
        all.push(h.rotate(id).await);
    }
    let newest: Vec<String> = all.iter().rev().take(11).cloned().collect();
    assert_eq!(
        h.secrets(id).await,
        newest,
        "current and the ten newest retired"
    );
    let retired = h.stored(id).await.secrets.retired.len();
    assert_eq!(
        retired,
        EndpointSecrets::MAX_RETIRED,
        "retired secrets stored"
    );
}

/// A grace over 7 days is refused, changing nothing; 7 days is allowed.
pub async fn rotation_grace_over_seven_days_rejected(store: Arc<dyn Store>) {
    let too_long = MAX_ROTATION_GRACE + SECOND;
    let built = Webhooks::builder(Arc::clone(&store))
        .rotation_grace(too_long)
        .build()
        .await;
    assert_invalid(built, "rotation_grace", "building with an 8-day grace");

    let h = Harness::new(store).await;
    let created = h.create(request(1)).await;
    let (id, s0) = (&created.endpoint.id, created.signing_secret.expose());
    let rotate = |grace| h.webhooks.rotate_secret_with_grace(&h.tenant, id, grace);
    assert_invalid(
        rotate(too_long).await,
        "rotation_grace",
        "rotating with 8 days",
    );
    assert_eq!(
        h.secrets(id).await,
        [s0.as_str()],
        "a refused rotation rotated"
    );
    assert_eq!(
        h.get(id).await,
        created.endpoint,
        "a refused rotation changed it"
    );

    let s1 = rotate(MAX_ROTATION_GRACE)
        .await
        .expect("a 7-day grace")
        .expose();
    h.advance(MAX_ROTATION_GRACE - MS);
    assert_eq!(h.secrets(id).await, [s1.clone(), s0], "inside 7 days");
    h.advance(MS);
    assert_eq!(h.secrets(id).await, [s1], "after 7 days");
}

// ---------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------

async fn declare(h: &Harness, types: Vec<EventType>) {
    h.webhooks
        .declare_event_types(types)
        .await
        .unwrap_or_else(|e| panic!("declaring event types failed: {e}"));
}

async fn catalog_of(h: &Harness, group: Option<&str>) -> Vec<EventType> {
    h.webhooks
        .event_types(group)
        .await
        .unwrap_or_else(|e| panic!("reading the catalog failed: {e}"))
}

/// Looks an event type up, checking `has_event_type` agrees.
async fn lookup(h: &Harness, name: &str) -> Option<EventType> {
    let found = h
        .store()
        .event_type(name)
        .await
        .unwrap_or_else(|e| panic!("looking up {name} failed: {e}"));
    let declared = h
        .store()
        .has_event_type(name)
        .await
        .unwrap_or_else(|e| panic!("checking for {name} failed: {e}"));
    assert_eq!(
        declared,
        found.is_some(),
        "has_event_type and event_type disagree on {name}"
    );
    found
}

/// The catalog lists by name, filters by group, and looks names up.
pub async fn catalog_lists_sorted_and_by_group(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b).await;
    assert_eq!(
        catalog_of(&h, None).await,
        NO_TYPES,
        "a new store has a catalog"
    );
    let nested = event_type("billing.invoice.paid").group("invoice");
    let paid = event_type("invoice.paid")
        .title("Invoice paid")
        .description("Paid in full.")
        .example(serde_json::json!({"invoice": "in_1", "amount": 4200}));
    let declared = vec![
        event_type("refund.issued"),
        paid.clone(),
        event_type("customer.created"),
        nested.clone(),
        event_type("invoice.created"),
    ];
    declare(&h, declared.clone()).await;
    let mut by_name = declared;
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        catalog_of(&h, None).await,
        by_name,
        "the whole catalog by name"
    );
    let invoice = vec![nested, event_type("invoice.created"), paid.clone()];
    assert_eq!(
        catalog_of(&h, Some("invoice")).await,
        invoice,
        "group invoice"
    );
    assert_eq!(
        catalog_of(&h, Some("shipment")).await,
        NO_TYPES,
        "an unknown group"
    );
    assert_eq!(
        lookup(&h, "invoice.paid").await,
        Some(paid),
        "event_type(name)"
    );
    assert_eq!(
        lookup(&h, "invoice.voided").await,
        None,
        "an undeclared name"
    );
}

/// Declaring a name again replaces its entry, and only it.
pub async fn catalog_upsert_replaces(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b).await;
    let v1 = event_type("invoice.paid")
        .title("Invoice paid")
        .example(serde_json::json!({"v": 1}));
    let customer = event_type("customer.created");
    declare(&h, vec![v1, customer.clone()]).await;
    let v2 = event_type("invoice.paid")
        .group("billing")
        .title("Paid in full")
        .description("Every cent arrived.")
        .deprecated(true);
    declare(&h, vec![v2.clone()]).await;
    assert_eq!(
        catalog_of(&h, None).await,
        [customer.clone(), v2.clone()],
        "after upsert"
    );
    assert_eq!(
        lookup(&h, "invoice.paid").await,
        Some(v2.clone()),
        "the new entry"
    );
    assert_eq!(
        catalog_of(&h, Some("invoice")).await,
        NO_TYPES,
        "the old group"
    );
    assert_eq!(catalog_of(&h, Some("billing")).await, [v2], "the new group");

    let direct = event_type("customer.created").title("Signed up");
    h.store()
        .upsert_event_types(std::slice::from_ref(&direct))
        .await
        .expect("a direct upsert");
    assert_eq!(
        lookup(&h, "customer.created").await,
        Some(direct),
        "direct upsert"
    );
}

/// A malformed entry stores none of its batch; endpoints may only use
/// declared types.
pub async fn catalog_rejects_malformed_entries(store: Arc<dyn Store>) {
    let no_group = EventType {
        group: String::new(),
        ..event_type("shipment.lost")
    };
    let built = Webhooks::builder(Arc::clone(&store))
        .event_type(no_group.clone())
        .build()
        .await;
    assert_invalid(built, "event_type", "building with a malformed entry");

    let h = Harness::configured(store, |b| b).await;
    assert_eq!(
        catalog_of(&h, None).await,
        NO_TYPES,
        "a refused build stored its catalog"
    );
    let batch = vec![event_type("shipment.sent"), no_group];
    let result = h.webhooks.declare_event_types(batch).await;
    assert_invalid(result, "event_type", "a batch with a malformed entry");
    assert_eq!(
        catalog_of(&h, None).await,
        NO_TYPES,
        "a refused batch was stored in part"
    );

    let early = h
        .webhooks
        .create_endpoint(&h.tenant, request(1).event_types(["shipment.sent"]), None)
        .await;
    assert_invalid(early, "event_types", "subscribing to an undeclared type");
    declare(&h, vec![event_type("shipment.sent")]).await;
    let created = h.create(request(1).event_types(["shipment.sent"])).await;
    assert_eq!(created.endpoint.event_types, Some(set(&["shipment.sent"])));
}

// ---------------------------------------------------------------------------
// The backend itself
// ---------------------------------------------------------------------------

/// `prefix` and 26 base32 digits of `n`, so ids sort by `n`.
fn numbered<T>(prefix: &str, n: u32) -> T
where
    T: FromStr<Err = Error>,
{
    format!("{prefix}{n:026}")
        .parse()
        .unwrap_or_else(|e| panic!("id {prefix}{n}: {e}"))
}

/// Endpoint id `n`.
fn raw_id(n: u32) -> EndpointId {
    numbered("ep_", n)
}

/// A minimal stored endpoint as the facade would hand it to a backend.
fn raw_endpoint(tenant: &TenantId, n: u32) -> StoredEndpoint {
    StoredEndpoint {
        endpoint: Endpoint {
            id: raw_id(n),
            tenant: tenant.clone(),
            name: format!("endpoint {n}"),
            description: String::new(),
            url: url(n as usize),
            event_types: None,
            status: EndpointStatus::Active,
            timeout: Duration::from_secs(15),
            rate_limit: None,
            headers: BTreeMap::new(),
            metadata: BTreeMap::new(),
            has_signing_secret: true,
            created_at: START,
            updated_at: START,
            last_triggered_at: None,
        },
        secrets: EndpointSecrets::new(SigningSecret::generate().expect("a secret")),
        deleted_at: None,
        failing_since: None,
    }
}

/// A stored endpoint with every optional field set.
fn rich_endpoint(tenant: &TenantId) -> StoredEndpoint {
    let mut stored = raw_endpoint(tenant, 7);
    let e = &mut stored.endpoint;
    e.name = "Zahlungseingänge ✓".into();
    e.description = "line one\tand \"quotes\" 'n' \\ backslash".into();
    e.event_types = Some(set(&["invoice.*", "refund.issued"]));
    e.status = EndpointStatus::Disabled {
        reason: "failing since Monday".into(),
        since: START.saturating_add(HOUR),
    };
    e.timeout = Duration::from_secs(30);
    e.rate_limit = Some(7);
    e.headers = map(&[("x-a", "1"), ("x-b", "two")]);
    e.metadata = map(&[("région", "eu-west"), ("empty", "")]);
    e.updated_at = START.saturating_add(HOUR);
    e.last_triggered_at = Some(START.saturating_add(SECOND));
    stored.secrets.retired = (0..2)
        .map(|i| RetiredSecret {
            secret: SigningSecret::generate().expect("a secret"),
            expires_at: START.saturating_add(HOUR * (i + 1)),
        })
        .collect();
    stored.failing_since = Some(START.saturating_add(SECOND));
    stored
}

fn record(tenant: &TenantId, scope: &str, key: &str, at: Timestamp) -> IdempotencyRecord {
    IdempotencyRecord {
        tenant: tenant.clone(),
        scope: scope.to_owned(),
        key: key.to_owned(),
        fingerprint: format!("fingerprint {at}"),
        response: format!("{{\"answered_at\":\"{at}\"}}"),
        created_at: at,
        expires_at: at.saturating_add(HOUR),
    }
}

async fn insert(
    store: &Arc<dyn Store>,
    endpoint: StoredEndpoint,
    record: Option<IdempotencyRecord>,
) -> Result<Inserted, Error> {
    store.insert_endpoint(endpoint, record).await
}

/// Reads an endpoint both ways, copied and shared, which must agree.
async fn read(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    id: &EndpointId,
) -> Option<StoredEndpoint> {
    let copied = store
        .endpoint(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("reading {id} failed: {e}"));
    let shared = store
        .shared_endpoint(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("reading {id} shared failed: {e}"));
    assert_eq!(
        shared.as_deref(),
        copied.as_ref(),
        "shared_endpoint and endpoint disagree on {id}"
    );
    copied
}

/// Every field of a stored endpoint, secrets included, comes back as stored.
pub async fn backend_round_trips_every_field(store: Arc<dyn Store>) {
    let t = tenant("acme");
    let rich = rich_endpoint(&t);
    let plain = raw_endpoint(&t, 3);
    for stored in [&rich, &plain] {
        let inserted = insert(&store, stored.clone(), None).await;
        assert_eq!(inserted.expect("insert"), Inserted::Created, "inserting");
    }
    let id = &rich.endpoint.id;
    assert_eq!(
        read(&store, &t, id).await.as_ref(),
        Some(&rich),
        "read back"
    );
    let page = PageRequest::first().limit(10);
    let listed = store
        .list_endpoints(&t, &EndpointFilter::default(), &page)
        .await;
    assert_eq!(
        listed.expect("list"),
        [rich, plain],
        "listed back, id descending"
    );
}

/// Idempotency records hold their key from `created_at` until `expires_at`
/// as passed in, per tenant and scope, never by the wall clock.
pub async fn backend_idempotency_expiry_uses_given_times(store: Arc<dyn Store>) {
    let (t, other) = (tenant("acme"), tenant("globex"));
    let at = |offset: Duration| START.saturating_add(offset);
    let claim = async |n: u32, tenant: &TenantId, scope: &str, offset: Duration| {
        let rec = record(tenant, scope, "k", at(offset));
        let result = insert(&store, raw_endpoint(tenant, n), Some(rec)).await;
        result.unwrap_or_else(|e| panic!("insert {n} with a key failed: {e}"))
    };
    let first = record(&t, SCOPE, "k", at(Duration::ZERO));
    assert_eq!(claim(1, &t, SCOPE, Duration::ZERO).await, Inserted::Created);
    for offset in [HOUR / 2, HOUR - MS] {
        let answer = claim(2, &t, SCOPE, offset).await;
        assert_eq!(
            answer,
            Inserted::Existing(first.clone()),
            "a live key at {offset:?}"
        );
    }
    assert!(
        read(&store, &t, &raw_id(2)).await.is_none(),
        "a live key stored anyway"
    );

    assert_eq!(
        claim(3, &t, SCOPE, HOUR).await,
        Inserted::Created,
        "at expires_at"
    );
    assert!(
        read(&store, &t, &raw_id(3)).await.is_some(),
        "the renewed insert"
    );
    let renewed = record(&t, SCOPE, "k", at(HOUR));
    let answer = claim(4, &t, SCOPE, HOUR + MS).await;
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
        claim(6, &other, SCOPE, HOUR + MS).await,
        Inserted::Created,
        "tenant"
    );
}

/// An id that exists (even deleted) is a Conflict, which stores neither the
/// endpoint nor its idempotency record.
pub async fn backend_duplicate_id_conflicts(store: Arc<dyn Store>) {
    let t = tenant("acme");
    let original = raw_endpoint(&t, 1);
    insert(&store, original.clone(), None)
        .await
        .expect("first insert");
    let mut twin = raw_endpoint(&t, 1);
    twin.endpoint.name = "twin".into();
    let key = record(&t, SCOPE, "k", START);
    assert_conflict(
        insert(&store, twin, Some(key.clone())).await,
        "a duplicate id",
    );
    assert_eq!(
        read(&store, &t, &raw_id(1)).await,
        Some(original),
        "after the conflict"
    );
    let fresh = insert(&store, raw_endpoint(&t, 2), Some(key)).await;
    assert_eq!(
        fresh.expect("insert"),
        Inserted::Created,
        "the failed insert kept its key"
    );

    let delete = |s: &mut StoredEndpoint| -> Result<(), Error> {
        s.deleted_at = Some(START);
        Ok(())
    };
    store
        .update_endpoint(&t, &raw_id(2), &delete)
        .await
        .expect("soft delete");
    let again = insert(&store, raw_endpoint(&t, 2), None).await;
    assert_conflict(again, "reusing a deleted endpoint's id");
}

/// A change that fails stores nothing; one that succeeds is returned and
/// stored; missing or foreign ids are NotFound.
pub async fn backend_failed_change_stores_nothing(store: Arc<dyn Store>) {
    let t = tenant("acme");
    let original = raw_endpoint(&t, 1);
    insert(&store, original.clone(), None)
        .await
        .expect("insert");
    let refuse = |s: &mut StoredEndpoint| -> Result<(), Error> {
        s.endpoint.name = "half-done".into();
        Err(Error::invalid("name", "refused by the change"))
    };
    match store.update_endpoint(&t, &raw_id(1), &refuse).await {
        Err(Error::InvalidInput { reason, .. }) => assert_eq!(reason, "refused by the change"),
        other => panic!("a failing change returned {other:?}"),
    }
    assert_eq!(
        read(&store, &t, &raw_id(1)).await,
        Some(original),
        "after a failed change"
    );

    let rename = |s: &mut StoredEndpoint| -> Result<(), Error> {
        s.endpoint.name = "renamed".into();
        Ok(())
    };
    let changed = store
        .update_endpoint(&t, &raw_id(1), &rename)
        .await
        .expect("update");
    assert_eq!(changed.endpoint.name, "renamed", "the returned record");
    assert_eq!(
        read(&store, &t, &raw_id(1)).await,
        Some(changed),
        "the stored record"
    );
    let missing = store.update_endpoint(&t, &raw_id(9), &rename).await;
    assert_not_found(missing, "changing a missing id");
    let foreign = store
        .update_endpoint(&tenant("globex"), &raw_id(1), &rename)
        .await;
    assert_not_found(foreign, "changing another tenant's endpoint");
}

/// A listing reads up to `limit + 1` live rows of the tenant, both ways from
/// an exclusive anchor.
pub async fn backend_list_reads_one_extra_row(store: Arc<dyn Store>) {
    let t = tenant("acme");
    for n in 1..=6 {
        insert(&store, raw_endpoint(&t, n), None)
            .await
            .expect("insert");
    }
    insert(&store, raw_endpoint(&tenant("globex"), 7), None)
        .await
        .expect("insert");
    let delete = |s: &mut StoredEndpoint| -> Result<(), Error> {
        s.deleted_at = Some(START);
        Ok(())
    };
    store
        .update_endpoint(&t, &raw_id(6), &delete)
        .await
        .expect("delete");

    let list = async |cursor: Option<Cursor>, limit: usize| {
        let page = PageRequest { cursor, limit };
        let rows = store
            .list_endpoints(&t, &EndpointFilter::default(), &page)
            .await;
        let rows = rows.unwrap_or_else(|e| panic!("listing {page:?} failed: {e}"));
        rows.into_iter().map(|s| s.endpoint.id).collect::<Vec<_>>()
    };
    let expect = |ns: &[u32]| ns.iter().map(|n| raw_id(*n)).collect::<Vec<_>>();
    let older = |n| Some(Cursor::new(Direction::Older, raw_id(n).as_str()));
    let newer = |n| Some(Cursor::new(Direction::Newer, raw_id(n).as_str()));
    assert_eq!(
        list(None, 2).await,
        expect(&[5, 4, 3]),
        "the newest, one extra"
    );
    assert_eq!(list(older(4), 2).await, expect(&[3, 2, 1]), "older than 4");
    assert_eq!(
        list(older(3), 5).await,
        expect(&[2, 1]),
        "older than 3, all"
    );
    assert_eq!(
        list(newer(2), 2).await,
        expect(&[3, 4, 5]),
        "newer than 2, ascending"
    );
    assert_eq!(list(newer(4), 5).await, expect(&[5]), "newer than 4, all");
}

/// Subscriber ids come out ascending and once each, whatever order the
/// endpoints were stored in.
pub async fn backend_subscribers_ascending_whatever_the_insert_order(store: Arc<dyn Store>) {
    let t = tenant("acme");
    for n in [5, 2, 4, 1, 3] {
        let mut stored = raw_endpoint(&t, n);
        if n % 2 == 0 {
            stored.endpoint.event_types = Some(set(&["invoice.*", "invoice.paid"]));
        }
        insert(&store, stored, None).await.expect("insert");
    }
    let subscribers = store
        .subscribers(&t, "invoice.paid")
        .await
        .expect("subscribers");
    assert_eq!(
        subscribers,
        (1..=5).map(raw_id).collect::<Vec<_>>(),
        "ascending, once each"
    );
}

// ---------------------------------------------------------------------------
// Deliveries: fixtures
// ---------------------------------------------------------------------------

/// How long the leases of these cases last.
const LEASE: Duration = Duration::from_secs(30);
/// When a fixture's failed attempt schedules the next one.
const RETRY_AFTER: Duration = Duration::from_secs(60);
const MINUTE: Duration = Duration::from_secs(60);
const SEND_KEY: &str = "send-invoice-in_1";
const PAYLOAD: &str = r#"{"invoice":"in_1","amount":4200}"#;
const EXHAUSTED: &str = "retries exhausted";

fn after(offset: Duration) -> Timestamp {
    START.saturating_add(offset)
}

fn secs(n: u64) -> Timestamp {
    after(Duration::from_secs(n))
}

fn parse_json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"))
}

fn no_filter() -> DeliveryFilter {
    DeliveryFilter::default()
}

impl Harness {
    async fn send(&self, event_type: &str, payload: impl Into<Payload>) -> Sent {
        self.send_as(&self.tenant, event_type, payload, None).await
    }

    async fn send_keyed(&self, event_type: &str, payload: impl Into<Payload>, key: &str) -> Sent {
        self.send_as(&self.tenant, event_type, payload, Some(key))
            .await
    }

    async fn send_as(
        &self,
        tenant: &TenantId,
        event_type: &str,
        payload: impl Into<Payload>,
        key: Option<&str>,
    ) -> Sent {
        self.webhooks
            .send(tenant, event_type, payload, key)
            .await
            .unwrap_or_else(|e| panic!("sending {event_type} for {tenant} failed: {e}"))
    }

    async fn event(&self, id: &EventId) -> Event {
        self.webhooks
            .event(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("reading event {id} failed: {e}"))
    }

    async fn delivery_page(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        request: &PageRequest,
    ) -> Page<Delivery> {
        self.webhooks
            .list_deliveries(tenant, filter, request)
            .await
            .unwrap_or_else(|e| panic!("listing deliveries ({filter:?}, {request:?}) failed: {e}"))
    }

    /// Every delivery of `tenant` passing `filter`, newest first, in one page.
    async fn deliveries_in(&self, tenant: &TenantId, filter: &DeliveryFilter) -> Vec<Delivery> {
        let request = PageRequest::first().limit(PageRequest::MAX_LIMIT);
        let page = self.delivery_page(tenant, filter, &request).await;
        assert!(
            page.next_cursor.is_none(),
            "a listing of fewer than {} deliveries has a next page",
            PageRequest::MAX_LIMIT
        );
        page.data
    }

    async fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries_in(&self.tenant, &no_filter()).await
    }

    /// Claims what is due now for `worker`.
    async fn claim(&self, worker: &str, limit: usize) -> Vec<Claim> {
        claim_at(self.store(), worker, self.now(), limit).await
    }

    /// Nothing is listed, claimable or due.
    async fn assert_nothing_queued(&self, what: &str) {
        let listed = self.deliveries().await;
        assert!(listed.is_empty(), "{what}: deliveries listed: {listed:?}");
        let claims = self.claim("checker", 100).await;
        assert!(claims.is_empty(), "{what}: deliveries claimed: {claims:?}");
        let due = next_due(self.store()).await;
        assert_eq!(due, None, "{what}: something is due");
    }

    /// Sends the catalog's `invoice.paid` to the tenant's subscribers with
    /// `key`, checking the answer against `expected` when given.
    async fn keyed_paid(&self, expected: Option<&Sent>) -> Sent {
        let sent = self.send_keyed("invoice.paid", PAYLOAD, SEND_KEY).await;
        if let Some(expected) = expected {
            assert_eq!(&sent, expected, "a retry answered otherwise");
        }
        sent
    }

    /// Two endpoints that receive every event.
    async fn two_receivers(&self) {
        self.create(request(1)).await;
        self.create(request(2)).await;
    }
}

/// Claims what is due at `now` for `worker`, leased until `now + LEASE`.
async fn claim_at(
    store: &Arc<dyn Store>,
    worker: &str,
    now: Timestamp,
    limit: usize,
) -> Vec<Claim> {
    store
        .claim_due(worker, now, now.saturating_add(LEASE), limit)
        .await
        .unwrap_or_else(|e| panic!("claim_due for {worker} at {now} failed: {e}"))
}

/// Claims exactly one delivery due at `now`.
async fn claim_one(store: &Arc<dyn Store>, worker: &str, now: Timestamp) -> Claim {
    let mut claims = claim_at(store, worker, now, 10).await;
    assert_eq!(claims.len(), 1, "claims at {now}: {claims:?}");
    claims.remove(0)
}

fn claimed(claims: &[Claim]) -> Vec<DeliveryId> {
    claims.iter().map(|c| c.delivery.id.clone()).collect()
}

async fn stored_delivery(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    id: &DeliveryId,
) -> Option<Delivery> {
    store
        .delivery(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("reading delivery {id} failed: {e}"))
}

async fn attempts_of(store: &Arc<dyn Store>, tenant: &TenantId, id: &DeliveryId) -> Vec<Attempt> {
    store
        .attempts(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("reading the attempts at {id} failed: {e}"))
}

async fn next_due(store: &Arc<dyn Store>) -> Option<Timestamp> {
    store
        .next_due()
        .await
        .unwrap_or_else(|e| panic!("next_due failed: {e}"))
}

/// Delivery ids `ns`.
fn dlv(ns: &[u32]) -> Vec<DeliveryId> {
    ns.iter().map(|n| numbered("dlv_", *n)).collect()
}

/// Event `n` of `tenant`, sent at [`START`].
fn raw_event(tenant: &TenantId, n: u32) -> Event {
    Event {
        id: numbered("msg_", n),
        tenant: tenant.clone(),
        event_type: "invoice.paid".into(),
        body: format!(r#"{{"n":{n}}}"#).into(),
        created_at: START,
    }
}

/// Delivery `n` of `event`, to endpoint `n`, due at `due`.
fn raw_delivery(event: &Event, n: u32, due: Timestamp) -> Delivery {
    let mut delivery = Delivery::new(numbered("dlv_", n), event, raw_id(n));
    delivery.next_attempt_at = Some(due);
    delivery
}

/// Stores event `n` of `tenant` with one delivery per `(number, due)`.
async fn queue_raw(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    n: u32,
    dues: &[(u32, Timestamp)],
) -> Event {
    let event = raw_event(tenant, n);
    let deliveries = dues
        .iter()
        .map(|(d, due)| raw_delivery(&event, *d, *due))
        .collect();
    let inserted = store
        .enqueue(event.clone(), deliveries, None)
        .await
        .unwrap_or_else(|e| panic!("enqueuing event {n} failed: {e}"));
    assert_eq!(inserted, Inserted::Created, "enqueuing event {n}");
    event
}

/// How a fixture's attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// 2xx.
    Delivered,
    /// 503, another attempt [`RETRY_AFTER`] later.
    Retrying,
    /// 503, no attempt left.
    Failed,
    /// Still in flight: the claim is kept.
    Held,
}

/// The attempt at `claimed`, started at `at` and ending as `end`, and the
/// delivery's state after it, as a worker would record them.
fn attempt_result(claimed: &Delivery, end: End, at: Timestamp) -> (Attempt, Delivery) {
    let status = if end == End::Delivered { 200 } else { 503 };
    let attempt = Attempt {
        delivery_id: claimed.id.clone(),
        number: claimed.attempts + 1,
        trigger: claimed.next_trigger,
        started_at: at,
        duration: Duration::from_millis(120),
        outcome: AttemptOutcome::Response {
            status,
            body: format!("answered {status}"),
            body_truncated: false,
        },
    };
    let mut next = claimed.clone();
    next.attempts += 1;
    next.scheduled_attempts += u32::from(claimed.next_trigger == Trigger::Scheduled);
    next.next_trigger = Trigger::Scheduled;
    next.last_attempt_at = Some(at);
    next.last_response_status = Some(status);
    match end {
        End::Delivered => {
            next.status = DeliveryStatus::Delivered;
            next.next_attempt_at = None;
        }
        End::Retrying => {
            next.status = DeliveryStatus::Retrying;
            next.next_attempt_at = Some(at.saturating_add(RETRY_AFTER));
        }
        End::Failed => next.fail(EXHAUSTED),
        End::Held => panic!("an attempt still in flight has no result"),
    }
    (attempt, next)
}

/// Records the end of the attempt at `claim` under its lease, which must be
/// accepted; returns what was recorded.
async fn finish(
    store: &Arc<dyn Store>,
    claim: &Claim,
    end: End,
    at: Timestamp,
) -> (Attempt, Delivery) {
    let (attempt, next) = attempt_result(&claim.delivery, end, at);
    let recorded = store
        .finish_attempt(&claim.lease, attempt.clone(), next.clone())
        .await
        .unwrap_or_else(|e| panic!("finishing {} failed: {e}", claim.delivery.id));
    assert!(
        recorded,
        "finishing {} under its live lease was refused",
        claim.delivery.id
    );
    (attempt, next)
}

/// Claims everything due at `at` and ends each attempt as `plan` says;
/// returns the claims left [`End::Held`].
async fn settle(
    store: &Arc<dyn Store>,
    at: Timestamp,
    plan: impl Fn(&Delivery) -> End,
) -> Vec<Claim> {
    let mut held = Vec::new();
    for claim in claim_at(store, "fixture", at, 1_000).await {
        match plan(&claim.delivery) {
            End::Held => held.push(claim),
            end => {
                finish(store, &claim, end, at).await;
            }
        }
    }
    held
}

/// `before` queued by hand at `now`.
fn requeued(before: &Delivery, now: Timestamp) -> Delivery {
    Delivery {
        status: DeliveryStatus::Pending,
        next_trigger: Trigger::Manual,
        next_attempt_at: Some(now),
        failure_reason: None,
        ..before.clone()
    }
}

/// `before` ended without another attempt for `reason`.
fn ended(before: &Delivery, reason: &str) -> Delivery {
    Delivery {
        status: DeliveryStatus::Failed,
        next_attempt_at: None,
        failure_reason: Some(reason.to_owned()),
        ..before.clone()
    }
}

/// The events of the history fixture, one a second.
const HISTORY: [&str; 5] = [
    "invoice.paid",
    "customer.created",
    "invoice.created",
    "refund.issued",
    "invoice.paid",
];

/// Every label of the history fixture, sorted.
const HISTORY_LABELS: [&str; 9] = ["A0", "A2", "A4", "B0", "B1", "B2", "B3", "B4", "G0"];

/// How the history fixture's attempts end, by label.
fn history_end(label: &str) -> End {
    match label {
        "A0" | "B1" | "A2" | "G0" => End::Failed,
        "B0" => End::Delivered,
        "B2" => End::Retrying,
        "B3" => End::Held,
        other => panic!("the history fixture has no delivery {other}"),
    }
}

/// acme's endpoints A (`invoice.*`) and B (every type), globex's G, and the
/// deliveries of the [`HISTORY`] events sent one a second, labelled by
/// endpoint and event number: A0 B0 B1 A2 B2 B3 A4 B4, and G0 for globex's
/// event sent with event 0.
///
/// Right after event 3, everything due was attempted: A0, B1, A2 and G0
/// failed, B0 was delivered, B2 is retrying and B3 is in flight under
/// `held`. A4 and B4 are pending. The clock stands at event 4.
struct History {
    h: Harness,
    other: TenantId,
    a: EndpointId,
    b: EndpointId,
    g: EndpointId,
    /// When event n was sent.
    times: Vec<Timestamp>,
    held: Option<Lease>,
    labels: BTreeMap<String, DeliveryId>,
}

impl History {
    async fn new(store: Arc<dyn Store>) -> Self {
        let h = Harness::new(store).await;
        let other = tenant("globex");
        let a = h.create(request(1).event_types(["invoice.*"])).await;
        let b = h.create(request(2)).await;
        let g = h.create_in(&other, request(3)).await;
        let mut f = Self {
            h,
            other,
            a: a.endpoint.id,
            b: b.endpoint.id,
            g: g.endpoint.id,
            times: Vec::new(),
            held: None,
            labels: BTreeMap::new(),
        };
        for n in 0..HISTORY.len() {
            f.send_event(n).await;
        }
        f.labels = f.read_labels().await;
        f
    }

    async fn send_event(&mut self, n: usize) {
        self.h.advance(SECOND);
        self.times.push(self.h.now());
        self.h.send(HISTORY[n], json!({ "n": n })).await;
        if n == 0 {
            let other = self.other.clone();
            self.h
                .send_as(&other, HISTORY[n], json!({ "n": n }), None)
                .await;
        }
        if n == 3 {
            let now = self.h.now();
            let held = settle(self.h.store(), now, |d| history_end(&self.label(d))).await;
            assert_eq!(held.len(), 1, "the history fixture holds B3 only");
            self.held = held.into_iter().next().map(|claim| claim.lease);
        }
    }

    /// Endpoint letter and event number.
    fn label(&self, delivery: &Delivery) -> String {
        let endpoints = [(&self.a, 'A'), (&self.b, 'B'), (&self.g, 'G')];
        let letter = endpoints
            .iter()
            .find(|(id, _)| **id == delivery.endpoint_id)
            .map_or('?', |(_, letter)| *letter);
        let n = self.times.iter().position(|t| *t == delivery.created_at);
        format!("{letter}{}", n.map_or("?".to_owned(), |n| n.to_string()))
    }

    async fn read_labels(&self) -> BTreeMap<String, DeliveryId> {
        let all = self.everything().await;
        let labels: BTreeMap<String, DeliveryId> = all
            .values()
            .map(|d| (self.label(d), d.id.clone()))
            .collect();
        let names: Vec<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(names, HISTORY_LABELS, "the history fixture's deliveries");
        assert_eq!(all.len(), HISTORY_LABELS.len(), "history deliveries");
        labels
    }

    fn held(&self) -> &Lease {
        self.held.as_ref().expect("the history fixture holds B3")
    }

    fn id(&self, label: &str) -> DeliveryId {
        self.labels
            .get(label)
            .cloned()
            .unwrap_or_else(|| panic!("the history fixture has no delivery {label}"))
    }

    /// The deliveries `labels`, newest first.
    fn ids(&self, labels: &[&str]) -> Vec<DeliveryId> {
        let mut ids = sorted(labels.iter().map(|l| self.id(l)).collect());
        ids.reverse();
        ids
    }

    /// Every delivery of both tenants, by id.
    async fn everything(&self) -> BTreeMap<DeliveryId, Delivery> {
        let mut all = BTreeMap::new();
        for tenant in [&self.h.tenant, &self.other] {
            for delivery in self.h.deliveries_in(tenant, &no_filter()).await {
                all.insert(delivery.id.clone(), delivery);
            }
        }
        all
    }

    /// Since `before`, exactly the deliveries `labels` changed, each into
    /// `expected` of what it was.
    async fn check_only_changed(
        &self,
        before: &BTreeMap<DeliveryId, Delivery>,
        labels: &[&str],
        expected: impl Fn(&Delivery) -> Delivery,
        what: &str,
    ) {
        let after = self.everything().await;
        let keys = |m: &BTreeMap<DeliveryId, Delivery>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&after),
            keys(before),
            "{what}: deliveries came or went"
        );
        let changed: Vec<DeliveryId> = after
            .iter()
            .filter(|(id, d)| before.get(*id) != Some(*d))
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(changed, sorted(self.ids(labels)), "{what}: what changed");
        for label in labels {
            let id = self.id(label);
            assert_eq!(after[&id], expected(&before[&id]), "{what}: {label}");
        }
    }
}

// ---------------------------------------------------------------------------
// Deliveries: sending
// ---------------------------------------------------------------------------

/// Endpoints of every kind; the ids of those subscribed to `invoice.paid`,
/// ascending.
async fn create_fan_out_fixture(h: &Harness) -> Vec<EndpointId> {
    let make = async |new: NewEndpoint| h.create(new).await.endpoint.id;
    let subscribed = vec![
        make(request(1).event_types(["invoice.paid"])).await,
        make(request(2).event_types(["invoice.*"])).await,
        make(request(3)).await,
    ];
    make(request(4).event_types(["customer.*", "invoice.created"])).await;
    make(request(5).enabled(false)).await;
    make(request(6).event_types(["invoice.paid"]).enabled(false)).await;
    let deleted = make(request(7).event_types(["invoice.paid"])).await;
    h.delete(&deleted).await;
    h.create_in(&tenant("globex"), request(8)).await;
    sorted(subscribed)
}

/// A delivery of `event` as sent: pending, due at once, never attempted.
fn fresh(delivery: &Delivery, event: &Event) -> Delivery {
    Delivery::new(delivery.id.clone(), event, delivery.endpoint_id.clone())
}

/// A send queues one delivery per active subscriber of the tenant (exact
/// name, `group.*`, no filter), all of one stored event, pending and due now.
pub async fn send_fans_out_to_active_subscribers(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let subscribed = create_fan_out_fixture(&h).await;
    h.advance(SECOND);
    let sent = h.send("invoice.paid", json!({"invoice": "in_1"})).await;
    assert_eq!(sent.deliveries, 3, "deliveries counted");
    let event = h.event(&sent.event_id).await;
    let stored = (&event.tenant, &*event.event_type, event.created_at);
    assert_eq!(stored, (&h.tenant, "invoice.paid", h.now()), "the event");

    let listed = h.deliveries().await;
    let to = sorted(listed.iter().map(|d| d.endpoint_id.clone()).collect());
    assert_eq!(to, subscribed, "the endpoints delivered to");
    for delivery in &listed {
        assert_eq!(delivery, &fresh(delivery, &event), "a new delivery");
    }
    let theirs = h.deliveries_in(&tenant("globex"), &no_filter()).await;
    assert!(
        theirs.is_empty(),
        "another tenant got deliveries: {theirs:?}"
    );

    let claims = h.claim("worker", 100).await;
    let listed_ids = sorted(listed.iter().map(|d| d.id.clone()).collect());
    assert_eq!(sorted(claimed(&claims)), listed_ids, "what is due");
    for claim in &claims {
        assert_eq!(claim.event, event, "the event a claim carries");
    }
}

/// The body's envelope: exactly `type`, `timestamp` (RFC 3339) and `data`.
#[track_caller]
fn check_envelope(body: &str, event_type: &str, at: Timestamp) -> serde_json::Value {
    let parsed = parse_json(body);
    let keys: Vec<&str> = parsed
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        sorted(keys),
        ["data", "timestamp", "type"],
        "keys of {body}"
    );
    assert_eq!(parsed["type"], event_type, "type in {body}");
    assert_eq!(parsed["timestamp"], at.to_string(), "timestamp in {body}");
    parsed
}

/// The body is the Standard Webhooks envelope around the payload, which
/// goes in byte for byte, and is what a claim carries.
pub async fn send_wraps_payload_in_envelope(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.create(request(1)).await;
    h.advance(Duration::from_millis(1_234));
    let text = r#"{ "invoice": "in_1",  "amount": 42.50, "lines": [1, "x"] }"#;
    let event = h.event(&h.send("invoice.paid", text).await.event_id).await;
    let envelope = check_envelope(&event.body, "invoice.paid", h.now());
    assert_eq!(envelope["data"], parse_json(text), "data");
    assert!(
        event.body.contains(text),
        "data not verbatim: {}",
        event.body
    );
    let claim = claim_one(h.store(), "worker", h.now()).await;
    assert_eq!(claim.event.body, event.body, "the body delivered");

    h.advance(SECOND);
    let value = json!({"customer": "cus_1", "tags": ["a", "b"]});
    let sent = h.send("customer.created", value.clone()).await;
    let event = h.event(&sent.event_id).await;
    let envelope = check_envelope(&event.body, "customer.created", h.now());
    assert_eq!(envelope["data"], value, "data given as a value");
}

/// With the envelope off, the body is the payload as given.
pub async fn send_without_envelope_delivers_payload_as_is(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b.event_types(catalog()).envelope(false)).await;
    h.create(request(1)).await;
    let text = r#"[1, 2.50, {"a": null}]"#;
    let event = h.event(&h.send("invoice.paid", text).await.event_id).await;
    assert_eq!(&*event.body, text, "the body of a text payload");
    let claim = claim_one(h.store(), "worker", h.now()).await;
    assert_eq!(&*claim.event.body, text, "the body delivered");

    let value = json!({"k": true, "n": [1, 2]});
    let event = h
        .event(&h.send("invoice.paid", value.clone()).await.event_id)
        .await;
    assert_eq!(
        parse_json(&event.body),
        value,
        "the body of a value payload"
    );
}

/// The payload limit of [`send_refusals_store_nothing`].
const SMALL_LIMIT: usize = 64;

/// A JSON object exactly `len` bytes long (at least 10).
fn padded(len: usize) -> String {
    format!(r#"{{"pad":"{}"}}"#, "x".repeat(len - 10))
}

/// A send that must be refused, naming `field`.
struct RefusedSend {
    what: &'static str,
    field: &'static str,
    event_type: &'static str,
    payload: String,
    key: String,
}

fn refused(what: &'static str, field: &'static str, event_type: &'static str) -> RefusedSend {
    RefusedSend {
        what,
        field,
        event_type,
        payload: padded(20),
        key: SEND_KEY.to_owned(),
    }
}

fn refused_sends() -> Vec<RefusedSend> {
    let payload = |r: RefusedSend, payload: &str| RefusedSend {
        payload: payload.to_owned(),
        ..r
    };
    let key = |r: RefusedSend, key: &str| RefusedSend {
        key: key.to_owned(),
        ..r
    };
    let bad_key = |what| refused(what, "idempotency_key", "invoice.paid");
    let bad_payload = |what| refused(what, "payload", "invoice.paid");
    vec![
        refused("an undeclared type", "event_type", "invoice.refunded"),
        refused("a pattern as the type", "event_type", "invoice.*"),
        payload(bad_payload("cut-off JSON"), r#"{"a":"#),
        payload(bad_payload("trailing text"), "{} {}"),
        payload(bad_payload("one byte over"), &padded(SMALL_LIMIT + 1)),
        key(bad_key("an empty key"), ""),
        key(bad_key("a non-ASCII key"), "clé"),
        key(bad_key("a key with a newline"), "a\nb"),
        key(bad_key("a 256-character key"), &"k".repeat(256)),
    ]
}

/// Every refused send names its field and stores nothing: no event, no
/// delivery, not even its idempotency key.
pub async fn send_refusals_store_nothing(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| {
        b.event_types(catalog()).max_payload_bytes(SMALL_LIMIT)
    })
    .await;
    h.create(request(1)).await;
    for r in refused_sends() {
        let result = h
            .webhooks
            .send(&h.tenant, r.event_type, r.payload, Some(&r.key))
            .await;
        assert_invalid(result, r.field, r.what);
        h.assert_nothing_queued(r.what).await;
    }
    let at_limit = padded(SMALL_LIMIT);
    let sent = h
        .send_keyed("invoice.paid", at_limit.as_str(), SEND_KEY)
        .await;
    assert_eq!(sent.deliveries, 1, "a payload at the limit, with the key");
    let retry = h
        .send_keyed("invoice.paid", at_limit.as_str(), SEND_KEY)
        .await;
    assert_eq!(retry, sent, "the key after the refusals");
}

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
    h.two_receivers().await;
    let first = h.keyed_paid(None).await;
    assert_eq!(first.deliveries, 2, "the first send");
    h.advance(HOUR);
    h.keyed_paid(Some(&first)).await;
    check_events_queued(&h, &[&first], 2).await;
    let claims = h.claim("worker", 100).await;
    assert_eq!(claims.len(), 2, "deliveries due after the retry");
}

/// A key reused with another type or payload is a Conflict that queues
/// nothing and keeps the first answer.
pub async fn send_key_reuse_with_other_event_conflicts(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.two_receivers().await;
    let first = h.keyed_paid(None).await;
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
            .send(&h.tenant, event_type, payload, Some(SEND_KEY))
            .await;
        assert_conflict(result, what);
    }
    check_events_queued(&h, &[&first], 2).await;
    h.keyed_paid(Some(&first)).await;
}

/// Once the idempotency window has passed, the key sends again, and then
/// remembers the new answer.
pub async fn send_key_expires_after_window(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.two_receivers().await;
    let first = h.keyed_paid(None).await;
    h.advance(DEFAULT_IDEMPOTENCY_WINDOW - MS);
    h.keyed_paid(Some(&first)).await;
    h.advance(MS);
    let second = h.keyed_paid(None).await;
    assert_ne!(second.event_id, first.event_id, "an expired key answered");
    check_events_queued(&h, &[&first, &second], 2).await;
    h.advance(SECOND);
    h.keyed_paid(Some(&second)).await;
}

/// The same key in two tenants, or for an endpoint and an event, is
/// different keys.
pub async fn send_keys_are_per_tenant_and_operation(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let other = tenant("globex");
    let created = h.create_keyed(request(1), SEND_KEY).await;
    h.create_in(&other, request(2)).await;
    let mine = h.keyed_paid(None).await;
    let theirs = h
        .send_as(&other, "invoice.paid", PAYLOAD, Some(SEND_KEY))
        .await;
    assert_ne!(theirs.event_id, mine.event_id, "tenants shared an answer");
    assert_eq!((mine.deliveries, theirs.deliveries), (1, 1), "deliveries");
    check_events_queued(&h, &[&mine], 1).await;
    let listed = h.deliveries_in(&other, &no_filter()).await;
    let events: Vec<&EventId> = listed.iter().map(|d| &d.event_id).collect();
    assert_eq!(events, [&theirs.event_id], "the other tenant's deliveries");

    h.keyed_paid(Some(&mine)).await;
    let again = h.create_keyed(request(1), SEND_KEY).await;
    assert_eq!(again, created, "the endpoint's key after a send with it");
}

/// Twenty simultaneous sends with one key queue one event and all get its
/// answer.
pub async fn concurrent_idempotent_sends_queue_one_event(store: Arc<dyn Store>) {
    const TASKS: usize = 20;
    let h = Harness::new(store).await;
    h.two_receivers().await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<JoinHandle<Result<Sent, Error>>> = (0..TASKS)
        .map(|_| {
            let (webhooks, tenant) = (Arc::clone(&h.webhooks), h.tenant.clone());
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                let key = Some(SEND_KEY);
                webhooks.send(&tenant, "invoice.paid", PAYLOAD, key).await
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

/// An event nobody subscribes to is sent to nobody and still kept.
pub async fn send_without_subscribers_keeps_the_event(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    h.create(request(1).event_types(["customer.*"])).await;
    h.create(request(2).enabled(false)).await;
    let sent = h.send("invoice.paid", PAYLOAD).await;
    assert_eq!(sent.deliveries, 0, "deliveries counted");
    let event = h.event(&sent.event_id).await;
    assert_eq!(event.id, sent.event_id, "the event read back");
    let envelope = check_envelope(&event.body, "invoice.paid", h.now());
    assert_eq!(envelope["data"], parse_json(PAYLOAD), "its data");
    h.assert_nothing_queued("an event without subscribers")
        .await;
}

// ---------------------------------------------------------------------------
// Deliveries: claims, leases and attempts (the backend itself)
// ---------------------------------------------------------------------------

/// Each claim is `delivering` as stored, carries `event`, and is leased to
/// `worker` until `now + LEASE`.
async fn check_claims(
    store: &Arc<dyn Store>,
    claims: &[Claim],
    event: &Event,
    worker: &str,
    now: Timestamp,
) {
    for claim in claims {
        let id = &claim.delivery.id;
        let status = claim.delivery.status;
        assert_eq!(status, DeliveryStatus::Delivering, "{id} as claimed");
        let stored = stored_delivery(store, &event.tenant, id).await;
        assert_eq!(stored.as_ref(), Some(&claim.delivery), "{id} as stored");
        assert_eq!(&claim.event, event, "the event of {id}");
        let lease = Lease {
            delivery_id: id.clone(),
            worker: worker.to_owned(),
            expires_at: now.saturating_add(LEASE),
        };
        assert_eq!(claim.lease, lease, "the lease on {id}");
    }
}

/// Only due deliveries are claimed, the longest overdue first, at most
/// `limit`, and none twice while its lease holds.
pub async fn claim_due_takes_due_deliveries_oldest_first(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let dues = [
        (1, secs(3)),
        (2, secs(1)),
        (3, secs(6)),
        (4, secs(2)),
        (5, secs(4)),
    ];
    let event = queue_raw(s, t, 1, &dues).await;
    let first = claim_at(s, "w1", secs(4), 2).await;
    assert_eq!(claimed(&first), dlv(&[2, 4]), "the two longest overdue");
    check_claims(s, &first, &event, "w1", secs(4)).await;
    let rest = claim_at(s, "w2", secs(4), 10).await;
    assert_eq!(claimed(&rest), dlv(&[1, 5]), "the rest of what is due");
    check_claims(s, &rest, &event, "w2", secs(4)).await;
    let none = claim_at(s, "w3", secs(6).saturating_sub(MS), 10).await;
    assert!(none.is_empty(), "claimed while leased or not due: {none:?}");
    let last = claim_at(s, "w3", secs(6), 10).await;
    assert_eq!(claimed(&last), dlv(&[3]), "due exactly now");
}

/// Once a lease has run out, another worker claims the delivery.
pub async fn claim_due_again_after_lease_expiry(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let event = queue_raw(s, t, 1, &[(1, START), (2, START)]).await;
    let first = claim_at(s, "w1", START, 10).await;
    assert_eq!(claimed(&first), dlv(&[1, 2]), "the first claim");
    let expiry = START.saturating_add(LEASE);
    let early = claim_at(s, "w2", expiry.saturating_sub(MS), 10).await;
    assert!(early.is_empty(), "claimed under a live lease: {early:?}");
    let again = claim_at(s, "w2", expiry, 10).await;
    assert_eq!(claimed(&again), dlv(&[1, 2]), "claimed after the lease");
    check_claims(s, &again, &event, "w2", expiry).await;
    let third = claim_at(s, "w3", expiry, 10).await;
    assert!(third.is_empty(), "claimed under the new lease: {third:?}");
    let released_at = expiry.saturating_add(SECOND);
    s.release(&again[0].lease, released_at)
        .await
        .expect("release");
    // Pending as before the first claim, not `delivering` from the lapsed one.
    check_released(s, &again[0], DeliveryStatus::Pending, released_at).await;
}

/// A worker claiming up to 7 at a time until nothing is due; what it got.
fn spawn_claimer(
    store: Arc<dyn Store>,
    worker: String,
    barrier: Arc<Barrier>,
    total: usize,
) -> JoinHandle<Vec<DeliveryId>> {
    tokio::spawn(async move {
        barrier.wait().await;
        let mut got = Vec::new();
        loop {
            let claims = claim_at(&store, &worker, START, 7).await;
            if claims.is_empty() {
                return got;
            }
            got.extend(claimed(&claims));
            assert!(got.len() <= total, "{worker} claimed more than there is");
            tokio::task::yield_now().await;
        }
    })
}

/// Eight workers claiming 200 due deliveries at once claim each exactly
/// once.
pub async fn concurrent_claims_never_share_a_delivery(store: Arc<dyn Store>) {
    const CLAIMERS: usize = 8;
    const PER_EVENT: u32 = 20;
    let h = Harness::new(store).await;
    let mut expected = Vec::new();
    for e in 0..10 {
        let dues: Vec<(u32, Timestamp)> =
            (0..PER_EVENT).map(|d| (e * PER_EVENT + d, START)).collect();
        queue_raw(h.store(), &h.tenant, e, &dues).await;
        expected.extend(dues.iter().map(|(n, _)| numbered::<DeliveryId>("dlv_", *n)));
    }
    let barrier = Arc::new(Barrier::new(CLAIMERS));
    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|w| {
            let (store, barrier) = (Arc::clone(h.store()), Arc::clone(&barrier));
            spawn_claimer(store, format!("w{w}"), barrier, expected.len())
        })
        .collect();
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.expect("a claimer panicked"));
    }
    assert_eq!(all.len(), expected.len(), "claims made");
    assert_eq!(sorted(all), expected, "every delivery claimed exactly once");
}

/// finish_attempt under the live lease stores the new state, appends the
/// attempt (oldest first) and drops the lease.
pub async fn finish_attempt_stores_state_and_attempts(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let event = queue_raw(s, t, 1, &[(1, START), (2, START)]).await;
    let id = &dlv(&[1])[0];
    let first = claim_at(s, "w1", START, 1).await;
    assert_eq!(claimed(&first), dlv(&[1]), "the first claim");
    let (a1, retrying) = finish(s, &first[0], End::Retrying, START).await;
    assert_eq!(stored_delivery(s, t, id).await, Some(retrying), "retrying");
    assert_eq!(
        attempts_of(s, t, id).await,
        std::slice::from_ref(&a1),
        "one attempt"
    );

    let due = START.saturating_add(RETRY_AFTER);
    let sibling = claim_at(s, "w1", due.saturating_sub(MS), 10).await;
    assert_eq!(claimed(&sibling), dlv(&[2]), "before the retry is due");
    let second = claim_one(s, "w2", due).await;
    let (a2, delivered) = finish(s, &second, End::Delivered, due).await;
    let detail = h.webhooks.delivery(t, id).await.expect("the delivery");
    let expected = DeliveryDetail {
        delivery: delivered,
        attempt_log: vec![a1, a2],
        event,
    };
    assert_eq!(detail, expected, "the delivery, its attempts and its event");

    let (a3, again) = attempt_result(&second.delivery, End::Failed, due);
    let reused = s.finish_attempt(&second.lease, a3, again).await;
    assert!(!reused.expect("finish"), "a lease recorded twice");
    assert_eq!(attempts_of(s, t, id).await.len(), 2, "attempts after reuse");
    let later = claim_at(s, "w3", after(HOUR), 10).await;
    assert_eq!(
        claimed(&later),
        dlv(&[2]),
        "a delivered delivery is claimed"
    );
}

/// A worker whose lease was taken over records nothing and releases
/// nothing; the new holder records.
pub async fn finish_attempt_after_takeover_is_refused(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    queue_raw(s, t, 1, &[(1, START)]).await;
    let id = &dlv(&[1])[0];
    let stale = claim_one(s, "w1", START).await;
    let takeover = START.saturating_add(LEASE);
    let live = claim_one(s, "w2", takeover).await;
    let late = takeover.saturating_add(SECOND);
    let (attempt, next) = attempt_result(&stale.delivery, End::Delivered, late);
    let recorded = s.finish_attempt(&stale.lease, attempt, next).await;
    assert!(!recorded.expect("finish"), "a taken-over lease recorded");
    s.release(&stale.lease, late).await.expect("release");
    let stored = stored_delivery(s, t, id).await;
    assert_eq!(
        stored,
        Some(live.delivery.clone()),
        "after the stale worker"
    );
    assert!(
        attempts_of(s, t, id).await.is_empty(),
        "a stale attempt kept"
    );
    let freed = claim_at(s, "w3", late, 10).await;
    assert!(freed.is_empty(), "a stale release freed it: {freed:?}");
    let (attempt, delivered) = finish(s, &live, End::Delivered, late).await;
    assert_eq!(stored_delivery(s, t, id).await, Some(delivered), "recorded");
    assert_eq!(attempts_of(s, t, id).await, [attempt], "the new holder's");
}

/// After release, the delivery as claimed but back in `status`, due at `at`;
/// the released lease records nothing.
async fn check_released(
    store: &Arc<dyn Store>,
    claim: &Claim,
    status: DeliveryStatus,
    at: Timestamp,
) {
    let id = &claim.delivery.id;
    let expected = Delivery {
        status,
        next_attempt_at: Some(at),
        ..claim.delivery.clone()
    };
    let stored = stored_delivery(store, &claim.delivery.tenant, id).await;
    assert_eq!(stored, Some(expected), "{id} after release");
    let (attempt, next) = attempt_result(&claim.delivery, End::Delivered, at);
    let recorded = store.finish_attempt(&claim.lease, attempt, next).await;
    assert!(!recorded.expect("finish"), "a released lease recorded");
}

/// Release gives a delivery back with its status before the claim, due at
/// the given time.
pub async fn release_puts_delivery_back(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    queue_raw(s, t, 1, &[(1, START), (2, START)]).await;
    let claims = claim_at(s, "w1", START, 10).await;
    assert_eq!(claimed(&claims), dlv(&[1, 2]), "the first claim");
    finish(s, &claims[0], End::Retrying, START).await;
    let back_at = secs(10);
    s.release(&claims[1].lease, back_at).await.expect("release");
    check_released(s, &claims[1], DeliveryStatus::Pending, back_at).await;
    let early = claim_at(s, "w2", back_at.saturating_sub(MS), 10).await;
    assert!(early.is_empty(), "claimed before it is due: {early:?}");
    let pending = claim_one(s, "w2", back_at).await;
    finish(s, &pending, End::Delivered, back_at).await;

    let retry_at = START.saturating_add(RETRY_AFTER);
    let retrying = claim_one(s, "w3", retry_at).await;
    let back_at = retry_at.saturating_add(SECOND);
    s.release(&retrying.lease, back_at).await.expect("release");
    check_released(s, &retrying, DeliveryStatus::Retrying, back_at).await;
    assert_eq!(next_due(s).await, Some(back_at), "due again");
}

/// next_due is the earliest due time or lease expiry, or None.
pub async fn next_due_tracks_queue_and_leases(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    assert_eq!(next_due(s).await, None, "an empty store");
    queue_raw(s, t, 1, &[(1, secs(10)), (2, secs(5))]).await;
    assert_eq!(next_due(s).await, Some(secs(5)), "the earlier of two");
    let second = claim_one(s, "w1", secs(5)).await;
    assert_eq!(next_due(s).await, Some(secs(10)), "the one left queued");
    let first = claim_one(s, "w1", secs(10)).await;
    assert_eq!(next_due(s).await, Some(secs(35)), "the first lease's end");
    finish(s, &second, End::Delivered, secs(11)).await;
    assert_eq!(next_due(s).await, Some(secs(40)), "the other lease's end");
    finish(s, &first, End::Retrying, secs(12)).await;
    assert_eq!(next_due(s).await, Some(secs(72)), "the retry");
    let retry = claim_one(s, "w2", secs(72)).await;
    finish(s, &retry, End::Failed, secs(72)).await;
    assert_eq!(next_due(s).await, None, "everything final");
}

/// An enqueue that clashes with stored ids stores nothing, not even its
/// key; keys hold by the times passed in.
pub async fn backend_enqueue_is_all_or_nothing(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    let first = queue_raw(s, t, 1, &[(1, START), (2, START)]).await;
    let key = record(t, "event.send", "k", START);
    let second = raw_event(t, 2);
    let clash = vec![
        raw_delivery(&second, 3, START),
        raw_delivery(&second, 2, START),
    ];
    let result = s.enqueue(second.clone(), clash, Some(key.clone())).await;
    assert!(result.is_err(), "a duplicate delivery id: {result:?}");
    let again = vec![raw_delivery(&first, 4, START)];
    let result = s.enqueue(first.clone(), again, None).await;
    assert!(result.is_err(), "a duplicate event id: {result:?}");
    let event = s.event(t, &second.id).await.expect("event");
    assert_eq!(event, None, "a refused enqueue stored its event");
    for (n, event_id) in [(2, Some(&first.id)), (3, None), (4, None)] {
        let stored = stored_delivery(s, t, &dlv(&[n])[0]).await;
        assert_eq!(
            stored.as_ref().map(|d| &d.event_id),
            event_id,
            "delivery {n}"
        );
    }
    check_enqueue_keys(s, t, &key).await;
}

async fn check_enqueue_keys(s: &Arc<dyn Store>, t: &TenantId, key: &IdempotencyRecord) {
    let enqueue = async |n: u32, record: IdempotencyRecord| {
        let event = raw_event(t, n);
        let deliveries = vec![raw_delivery(&event, n, START)];
        s.enqueue(event, deliveries, Some(record))
            .await
            .expect("enqueue")
    };
    assert_eq!(
        enqueue(5, key.clone()).await,
        Inserted::Created,
        "the key is free"
    );
    let live = record(t, "event.send", "k", START.saturating_add(HOUR - MS));
    assert_eq!(
        enqueue(6, live).await,
        Inserted::Existing(key.clone()),
        "live"
    );
    let event = s.event(t, &numbered("msg_", 6)).await.expect("event");
    assert_eq!(event, None, "stored under a live key");
    let renewed = record(t, "event.send", "k", START.saturating_add(HOUR));
    assert_eq!(
        enqueue(7, renewed).await,
        Inserted::Created,
        "at expires_at"
    );
}

// ---------------------------------------------------------------------------
// Deliveries: history
// ---------------------------------------------------------------------------

/// Sends `count` events, letting the clock tick now and then; their ids in
/// order.
async fn send_many(h: &Harness, count: usize) -> Vec<EventId> {
    let mut sent = Vec::with_capacity(count);
    for n in 0..count {
        if n % 3 == 0 {
            h.advance(MS);
        }
        sent.push(h.send("invoice.paid", json!({ "n": n })).await.event_id);
    }
    sent
}

/// `seen` holds each pair of `events` and `endpoints` once, newest first.
#[track_caller]
fn check_newest_first(seen: &[Delivery], events: &[EventId], endpoints: &[EndpointId]) {
    let ids: Vec<&DeliveryId> = seen.iter().map(|d| &d.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "not by id descending: {ids:?}"
    );
    let order = |d: &Delivery| events.iter().position(|e| *e == d.event_id);
    let later_first = seen.windows(2).all(|w| order(&w[0]) >= order(&w[1]));
    assert!(later_first, "an older event listed before a newer one");
    let pairs: BTreeSet<(EventId, EndpointId)> = seen
        .iter()
        .map(|d| (d.event_id.clone(), d.endpoint_id.clone()))
        .collect();
    let expected: BTreeSet<(EventId, EndpointId)> = events
        .iter()
        .flat_map(|e| endpoints.iter().map(move |p| (e.clone(), p.clone())))
        .collect();
    assert_eq!(pairs, expected, "the deliveries listed");
    assert_eq!(seen.len(), expected.len(), "a delivery listed twice");
}

/// Pages of 5 over 24 deliveries, forward then back: newest first, each
/// once, cursors only where there is more.
pub async fn delivery_pages_walk_forward_and_back(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let a = h.create(request(1)).await.endpoint.id;
    let b = h.create(request(2)).await.endpoint.id;
    let events = send_many(&h, 12).await;
    let (h, all) = (&h, &no_filter());
    let fetch =
        |request: PageRequest| async move { h.delivery_page(&h.tenant, all, &request).await };
    let pages = follow_next(5, fetch).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.data.len()).collect();
    assert_eq!(sizes, [5, 5, 5, 5, 4], "page sizes");
    check_forward_cursors(&pages);
    let seen: Vec<Delivery> = pages.iter().flat_map(|p| p.data.clone()).collect();
    check_newest_first(&seen, &events, &sorted(vec![a, b]));

    let back = follow_prev(&pages[4], 5, fetch).await;
    assert_eq!(back.len(), 4, "pages behind the last one");
    check_walked_back(&pages, &back, |d| d.id.clone());
}

/// Each query of the history fixture: what, the filter, the labels listed.
fn history_queries(f: &History) -> Vec<(&'static str, DeliveryFilter, Vec<&'static str>)> {
    let t = &f.times;
    let status = |status| DeliveryFilter {
        status: Some(status),
        ..no_filter()
    };
    let endpoint = |id: &EndpointId| DeliveryFilter {
        endpoint_id: Some(id.clone()),
        ..no_filter()
    };
    let paid = DeliveryFilter {
        event_type: Some("invoice.paid".into()),
        ..no_filter()
    };
    let between = |from: Option<Timestamp>, to: Option<Timestamp>| DeliveryFilter {
        created_from: from,
        created_to: to,
        ..no_filter()
    };
    let combined = DeliveryFilter {
        status: Some(DeliveryStatus::Failed),
        endpoint_id: Some(f.a.clone()),
        ..paid.clone()
    };
    vec![
        (
            "no filter",
            no_filter(),
            vec!["A0", "B0", "B1", "A2", "B2", "B3", "A4", "B4"],
        ),
        (
            "failed",
            status(DeliveryStatus::Failed),
            vec!["A0", "B1", "A2"],
        ),
        ("delivered", status(DeliveryStatus::Delivered), vec!["B0"]),
        ("retrying", status(DeliveryStatus::Retrying), vec!["B2"]),
        ("delivering", status(DeliveryStatus::Delivering), vec!["B3"]),
        ("pending", status(DeliveryStatus::Pending), vec!["A4", "B4"]),
        ("endpoint A", endpoint(&f.a), vec!["A0", "A2", "A4"]),
        ("globex's endpoint", endpoint(&f.g), vec![]),
        ("invoice.paid", paid, vec!["A0", "B0", "A4", "B4"]),
        (
            "from event 2",
            between(Some(t[2]), None),
            vec!["A2", "B2", "B3", "A4", "B4"],
        ),
        (
            "before event 2",
            between(None, Some(t[2])),
            vec!["A0", "B0", "B1"],
        ),
        (
            "events 1 to 3",
            between(Some(t[1]), Some(t[3])),
            vec!["B1", "A2", "B2"],
        ),
        ("failed invoice.paid to A", combined, vec!["A0"]),
    ]
}

/// Status, endpoint, event-type and time filters, also across pages.
pub async fn delivery_listing_applies_filters(store: Arc<dyn Store>) {
    let f = History::new(store).await;
    let h = &f.h;
    for (what, filter, labels) in history_queries(&f) {
        let filter = &filter;
        let fetch = |request: PageRequest| async move {
            h.delivery_page(&h.tenant, filter, &request).await
        };
        let pages = follow_next(2, fetch).await;
        let seen: Vec<DeliveryId> = pages
            .iter()
            .flat_map(|p| p.data.iter().map(|d| d.id.clone()))
            .collect();
        assert_eq!(seen, f.ids(&labels), "filter {what}");
        let (_, full) = pages.split_last().expect("at least one page");
        assert!(
            full.iter().all(|p| p.data.len() == 2),
            "filter {what}: a short page"
        );
    }
}

/// Another tenant's events and deliveries cannot be read, listed, retried
/// or ended, through the facade or the store.
pub async fn deliveries_are_isolated_by_tenant(store: Arc<dyn Store>) {
    let f = History::new(store).await;
    let (h, s, theirs) = (&f.h, f.h.store(), &f.other);
    let before = f.everything().await;
    let a0 = f.id("A0");
    let event = before[&a0].event_id.clone();
    assert_eq!(
        attempts_of(s, &h.tenant, &a0).await.len(),
        1,
        "A0's attempts"
    );
    assert_not_found(h.webhooks.event(theirs, &event).await, "an event");
    assert_not_found(h.webhooks.delivery(theirs, &a0).await, "a delivery");
    assert_eq!(
        s.event(theirs, &event).await.expect("event"),
        None,
        "store.event"
    );
    assert_eq!(
        stored_delivery(s, theirs, &a0).await,
        None,
        "store.delivery"
    );
    assert!(
        attempts_of(s, theirs, &a0).await.is_empty(),
        "store.attempts"
    );
    let listed: Vec<DeliveryId> = h
        .deliveries_in(theirs, &no_filter())
        .await
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, f.ids(&["G0"]), "the other tenant's listing");
    check_untouchable_by(&f, theirs, &a0).await;
    f.check_only_changed(&before, &[], Delivery::clone, "another tenant's writes")
        .await;

    let g0 = f.id("G0");
    assert_not_found(h.webhooks.delivery(&h.tenant, &g0).await, "the other way");
    let their_event = before[&g0].event_id.clone();
    assert_not_found(
        h.webhooks.event(&h.tenant, &their_event).await,
        "their event",
    );
}

/// `tenant` can neither requeue nor end delivery `id` nor its endpoint's.
async fn check_untouchable_by(f: &History, tenant: &TenantId, id: &DeliveryId) {
    let (w, s, now, since) = (&f.h.webhooks, f.h.store(), f.h.now(), f.times[0]);
    assert_not_found(w.retry_delivery(tenant, id).await, "retry_delivery");
    assert_not_found(s.requeue(tenant, id, now).await, "store.requeue");
    let bulk = w.retry_failed(tenant, Some(&f.a), since).await;
    assert_not_found(bulk, "retry_failed of another tenant's endpoint");
    let requeued = s.requeue_failed(tenant, Some(&f.a), since, now).await;
    assert_eq!(requeued.expect("requeue_failed"), 0, "store.requeue_failed");
    let ended = s.fail_queued(tenant, &f.a, "stolen").await;
    assert_eq!(ended.expect("fail_queued"), 0, "store.fail_queued");
}

// ---------------------------------------------------------------------------
// Deliveries: retries by hand and ending queued deliveries
// ---------------------------------------------------------------------------

/// retry_delivery queues a failed, delivered or retrying delivery by hand,
/// due now, and touches no other; unknown ids are NotFound.
pub async fn retry_delivery_requeues_only_it(store: Arc<dyn Store>) {
    let f = History::new(store).await;
    let h = &f.h;
    for label in ["A0", "B0", "B2"] {
        h.advance(SECOND);
        let (before, now) = (f.everything().await, h.now());
        let id = f.id(label);
        let returned = h.webhooks.retry_delivery(&h.tenant, &id).await;
        let returned = returned.unwrap_or_else(|e| panic!("retrying {label}: {e}"));
        assert_eq!(returned, requeued(&before[&id], now), "{label} as returned");
        let what = format!("retrying {label}");
        f.check_only_changed(&before, &[label], |d| requeued(d, now), &what)
            .await;
    }
    let unknown: DeliveryId = numbered("dlv_", 999);
    let result = h.webhooks.retry_delivery(&h.tenant, &unknown).await;
    assert_not_found(result, "retrying an unknown delivery");
}

/// While an attempt is in flight under a live lease, retry_delivery is a
/// Conflict; once the lease has ended it queues the delivery, and the old
/// lease records nothing more.
pub async fn retry_delivery_waits_for_the_lease(store: Arc<dyn Store>) {
    let f = History::new(store).await;
    let (h, b3, held) = (&f.h, f.id("B3"), f.held());
    let before = f.everything().await;
    for at in [h.now(), held.expires_at.saturating_sub(MS)] {
        h.clock.set(at);
        let result = h.webhooks.retry_delivery(&h.tenant, &b3).await;
        assert_conflict(result, &format!("retrying in flight at {at}"));
    }
    f.check_only_changed(&before, &[], Delivery::clone, "a refused retry")
        .await;
    h.clock.set(held.expires_at);
    let returned = h.webhooks.retry_delivery(&h.tenant, &b3).await;
    let returned = returned.expect("retrying once the lease ended");
    assert_eq!(returned, requeued(&before[&b3], h.now()), "B3 as returned");
    let (attempt, next) = attempt_result(&before[&b3], End::Delivered, h.now());
    let recorded = h.store().finish_attempt(held, attempt, next).await;
    assert!(!recorded.expect("finish"), "the old lease recorded");
    let stored = stored_delivery(h.store(), &h.tenant, &b3).await;
    assert_eq!(stored, Some(returned), "B3 after the old lease tried");
    assert!(
        attempts_of(h.store(), &h.tenant, &b3).await.is_empty(),
        "attempts"
    );
}

/// retry_failed queues the tenant's failed deliveries created at or after
/// `since`, of one endpoint if given, and counts them.
pub async fn retry_failed_requeues_failed_since(store: Arc<dyn Store>) {
    let f = History::new(store).await;
    let (h, t) = (&f.h, &f.times);
    let steps: [(Option<&EndpointId>, Timestamp, &[&str]); 5] = [
        (Some(&f.a), t[1], &["A2"]),
        (None, t[1].saturating_add(MS), &[]),
        (None, t[1], &["B1"]),
        (None, t[0], &["A0"]),
        (None, t[0], &[]),
    ];
    for (endpoint, since, labels) in steps {
        h.advance(SECOND);
        let (before, now) = (f.everything().await, h.now());
        let count = h.webhooks.retry_failed(&h.tenant, endpoint, since).await;
        let what = format!("retry_failed({endpoint:?}, {since})");
        assert_eq!(count.expect("retry_failed"), labels.len() as u64, "{what}");
        f.check_only_changed(&before, labels, |d| requeued(d, now), &what)
            .await;
    }
    let unknown = h
        .webhooks
        .retry_failed(&h.tenant, Some(&raw_id(999)), t[0])
        .await;
    assert_not_found(unknown, "retry_failed of an unknown endpoint");
    let before = f.everything().await;
    let theirs = h.webhooks.retry_failed(&f.other, None, t[0]).await;
    assert_eq!(theirs.expect("retry_failed"), 1, "the other tenant's");
    let now = h.now();
    f.check_only_changed(&before, &["G0"], |d| requeued(d, now), "G0")
        .await;
}

/// fail_queued ends the pending and retrying deliveries of one endpoint,
/// and only them.
pub async fn fail_queued_ends_only_queued_deliveries(store: Arc<dyn Store>) {
    const REASON: &str = "endpoint deleted";
    let f = History::new(store).await;
    let (s, t) = (f.h.store(), &f.h.tenant);
    let before = f.everything().await;
    let count = s.fail_queued(t, &f.b, REASON).await.expect("fail_queued");
    assert_eq!(count, 2, "deliveries ended");
    f.check_only_changed(&before, &["B2", "B4"], |d| ended(d, REASON), "B")
        .await;
    let again = s.fail_queued(t, &f.b, REASON).await.expect("fail_queued");
    assert_eq!(again, 0, "a second time");
    let late = f.times[3].saturating_add(RETRY_AFTER + MINUTE);
    let claims = claim_at(s, "worker", late, 100).await;
    assert_eq!(
        sorted(claimed(&claims)),
        sorted(f.ids(&["A4", "B3"])),
        "still due"
    );
}

// ---------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------

/// Purging removes finished deliveries older than the cut-off with their
/// attempts, an event once none of its deliveries is left, and expired
/// idempotency records. Queued and leased deliveries stay, however old.
pub async fn purge_finished_removes_only_old_finished_history(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let (s, t) = (h.store(), &h.tenant);
    for n in 1..=3 {
        h.create(request(n)).await;
    }
    let sent = h.send_keyed("invoice.paid", PAYLOAD, "k1").await;
    let unheard = tenant("nobody-listens");
    let alone = h.send_as(&unheard, "invoice.paid", PAYLOAD, None).await;
    let claims = claim_at(s, "w", START, 10).await;
    let [done, queued, leased] = claims.as_slice() else {
        panic!("expected three claims, got {claims:?}");
    };
    finish(s, done, End::Delivered, START).await;
    s.release(&queued.lease, START).await.expect("release");
    let week_later = after(7 * 24 * HOUR);
    assert_eq!(purge(s, START).await, Purged::default(), "at the start");

    let first = purge(s, week_later).await;
    let expected = Purged {
        deliveries: 1,
        events: 1,
        idempotency_records: 1,
    };
    assert_eq!(
        first, expected,
        "the delivered one, the event without subscribers and the send's key"
    );
    let gone = h.webhooks.event(&unheard, &alone.event_id).await;
    assert!(matches!(gone, Err(Error::NotFound { .. })), "{gone:?}");
    assert_eq!(stored_delivery(s, t, &done.delivery.id).await, None);
    assert!(attempts_of(s, t, &done.delivery.id).await.is_empty());
    for kept in [queued, leased] {
        let id = &kept.delivery.id;
        assert!(stored_delivery(s, t, id).await.is_some(), "{id} kept");
    }

    s.fail_queued(t, &queued.delivery.endpoint_id, "gone")
        .await
        .unwrap_or_else(|e| panic!("fail_queued failed: {e}"));
    let second = purge(s, week_later).await;
    assert_eq!((second.deliveries, second.events), (1, 0), "still leased");
    finish(s, leased, End::Failed, START).await;
    let third = purge(s, week_later).await;
    assert_eq!((third.deliveries, third.events), (1, 1), "the last one");
    let event = h.webhooks.event(t, &sent.event_id).await;
    assert!(matches!(event, Err(Error::NotFound { .. })), "{event:?}");
}

async fn purge(store: &Arc<dyn Store>, before: Timestamp) -> Purged {
    store
        .purge_finished(before)
        .await
        .unwrap_or_else(|e| panic!("purge_finished({before}) failed: {e}"))
}
