//! The conformance suite every storage backend runs.
//!
//! A backend keeps the [`Store`] contract when every case here passes on it.
//! The cases drive the [`Webhooks`] facade over the backend, as an
//! application would, plus direct trait calls where the contract is about the
//! backend itself (idempotency records expiring by the times passed in,
//! duplicate ids, failed changes, the extra row of a listing). Time comes
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
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::clock::{Clock, ManualClock, Timestamp};
use crate::error::Error;
use crate::id::EndpointId;
use crate::model::{
    CreatedEndpoint, Cursor, Direction, Endpoint, EndpointFilter, EndpointSecrets, EndpointStatus,
    EventType, NewEndpoint, Page, PageRequest, RetiredSecret, StatusFilter, StoredEndpoint,
    TenantId, UpdateEndpoint,
};
use crate::secret::SigningSecret;
use crate::store::{IdempotencyRecord, Inserted, Store};
use crate::webhooks::{
    DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_ROTATION_GRACE, MAX_ROTATION_GRACE, Webhooks,
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

fn sorted(mut ids: Vec<EndpointId>) -> Vec<EndpointId> {
    ids.sort();
    ids
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
            .allow_http(false);
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
        self.store()
            .endpoint(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("reading stored endpoint {id} failed: {e}"))
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

    /// Follows `next_cursor` (through its text form, as an HTTP client
    /// would) from the first page to the last.
    async fn walk_forward(&self, filter: &EndpointFilter, limit: usize) -> Vec<Page<Endpoint>> {
        let mut pages = Vec::new();
        let mut request = PageRequest::first().limit(limit);
        loop {
            let page = self.page(filter, &request).await;
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
    async fn walk_back(&self, from: &Page<Endpoint>, limit: usize) -> Vec<Page<Endpoint>> {
        let mut pages = Vec::new();
        let mut prev = from.prev_cursor.clone();
        while let Some(cursor) = prev {
            let page = self
                .page(&EndpointFilter::default(), &reparse(&cursor, limit))
                .await;
            prev = page.prev_cursor.clone();
            pages.push(page);
            assert!(pages.len() <= 1_000, "following prev_cursor never ends");
        }
        pages
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
        Err(Error::Conflict(_)) => {}
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

    let off = h.create(request(2).disabled()).await.endpoint;
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
    let direct = h.store().endpoint(t, &gone).await.expect("store read");
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
    for (n, page) in pages.iter().enumerate() {
        let last = n + 1 == pages.len();
        assert_eq!(page.prev_cursor.is_some(), n > 0, "prev_cursor of page {n}");
        assert_eq!(page.next_cursor.is_some(), !last, "next_cursor of page {n}");
    }

    let back = h.walk_back(&pages[4], 5).await;
    let back_ids: Vec<Vec<EndpointId>> = back.iter().map(|p| ids(&p.data)).collect();
    let forward_ids: Vec<Vec<EndpointId>> = pages[..4].iter().rev().map(|p| ids(&p.data)).collect();
    assert_eq!(back_ids, forward_ids, "walking back gave other pages");
    for page in &back {
        assert!(
            page.next_cursor.is_some(),
            "a page reached backwards has no next"
        );
    }
    let first_again = back.last().expect("pages behind the last one");
    assert!(
        first_again.prev_cursor.is_none(),
        "the first page has a prev_cursor"
    );
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
        ("all-off", n(1).disabled()),
        ("paid", n(2).event_types(["invoice.paid"])),
        ("paid-off", n(3).event_types(["invoice.paid"]).disabled()),
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
    let _off = make(request(6).disabled()).await;
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

async fn lookup(h: &Harness, name: &str) -> Option<EventType> {
    h.store()
        .event_type(name)
        .await
        .unwrap_or_else(|e| panic!("looking up {name} failed: {e}"))
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

/// `ep_` and 26 base32 digits of `n`, so ids sort by `n`.
fn raw_id(n: u32) -> EndpointId {
    format!("ep_{n:026}").parse().expect("a well-formed id")
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
            headers: BTreeMap::new(),
            metadata: BTreeMap::new(),
            has_signing_secret: true,
            created_at: START,
            updated_at: START,
            last_triggered_at: None,
        },
        secrets: EndpointSecrets::new(SigningSecret::generate().expect("a secret")),
        deleted_at: None,
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

async fn read(
    store: &Arc<dyn Store>,
    tenant: &TenantId,
    id: &EndpointId,
) -> Option<StoredEndpoint> {
    store
        .endpoint(tenant, id)
        .await
        .unwrap_or_else(|e| panic!("reading {id} failed: {e}"))
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
        Err(Error::Conflict("refused by the change".into()))
    };
    match store.update_endpoint(&t, &raw_id(1), &refuse).await {
        Err(Error::Conflict(message)) => assert_eq!(message, "refused by the change"),
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
