//! [`Harness`]: the facade over the store under test, as an application
//! uses it.

use std::sync::Arc;
use std::time::Duration;

use crate::Sent;
use crate::clock::{Clock, ManualClock, Timestamp};
use crate::id::{EndpointId, EventId};
use crate::model::{
    CreatedEndpoint, Delivery, DeliveryFilter, Endpoint, EndpointFilter, Event, NewEndpoint, Page,
    PageRequest, Payload, StoredEndpoint, TenantId, UpdateEndpoint,
};
use crate::signing::SigningSecret;
use crate::store::{Claim, Store};
use crate::webhooks::{CreateOptions, SendOptions, Webhooks, WebhooksBuilder};

use super::fixtures::{
    self, MS, PAYLOAD, SEND_KEY, START, any_delivery, catalog, endpoint_request, ids_of, tenant,
};
use super::paging::{follow_next, follow_prev};
use super::raw_records::read_endpoint;
use super::worker::{claim_at, next_due};

/// A [`Webhooks`] over the store under test, on a manual clock, for one
/// tenant.
pub(super) struct Harness {
    pub(super) webhooks: Arc<Webhooks>,
    pub(super) clock: Arc<ManualClock>,
    pub(super) tenant: TenantId,
}

// Endpoints, through the facade.
impl Harness {
    /// With the fixtures' `CATALOG` declared and the default settings.
    pub(super) async fn new(store: Arc<dyn Store>) -> Self {
        Self::configured(store, |b| b.event_types(catalog())).await
    }

    pub(super) async fn configured(
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

    pub(super) fn store(&self) -> &Arc<dyn Store> {
        self.webhooks.store()
    }

    pub(super) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub(super) fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub(super) async fn create(&self, new: NewEndpoint) -> CreatedEndpoint {
        self.create_in(&self.tenant, new).await
    }

    pub(super) async fn create_in(&self, tenant: &TenantId, new: NewEndpoint) -> CreatedEndpoint {
        self.webhooks
            .create_endpoint(tenant, new)
            .await
            .unwrap_or_else(|e| panic!("creating an endpoint for {tenant} failed: {e}"))
    }

    pub(super) async fn create_keyed(&self, new: NewEndpoint, key: &str) -> CreatedEndpoint {
        self.webhooks
            .create_endpoint_with(&self.tenant, new, CreateOptions::new().idempotency_key(key))
            .await
            .unwrap_or_else(|e| panic!("creating an endpoint with key {key:?} failed: {e}"))
    }

    /// Creates `count` endpoints, letting the clock tick now and then, and
    /// returns their ids in creation order.
    pub(super) async fn create_many(&self, count: usize) -> Vec<EndpointId> {
        let mut made = Vec::with_capacity(count);
        for n in 0..count {
            if n % 2 == 0 {
                self.advance(MS);
            }
            made.push(self.create(endpoint_request(n)).await.endpoint.id);
        }
        made
    }

    pub(super) async fn endpoint(&self, id: &EndpointId) -> Endpoint {
        self.webhooks
            .endpoint(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("reading endpoint {id} failed: {e}"))
    }

    pub(super) async fn stored_endpoint(&self, id: &EndpointId) -> StoredEndpoint {
        read_endpoint(self.store(), &self.tenant, id)
            .await
            .unwrap_or_else(|| panic!("the store lost endpoint {id}"))
    }

    pub(super) async fn update(&self, id: &EndpointId, update: UpdateEndpoint) -> Endpoint {
        self.webhooks
            .update_endpoint(&self.tenant, id, update)
            .await
            .unwrap_or_else(|e| panic!("updating endpoint {id} failed: {e}"))
    }

    pub(super) async fn delete(&self, id: &EndpointId) {
        self.webhooks
            .delete_endpoint(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("deleting endpoint {id} failed: {e}"));
    }

    pub(super) async fn rotate(&self, id: &EndpointId) -> String {
        self.webhooks
            .rotate_secret(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("rotating the secret of {id} failed: {e}"))
            .expose()
    }

    /// The secrets that sign now, exposed.
    pub(super) async fn signing_secrets(&self, id: &EndpointId) -> Vec<String> {
        let secrets = self
            .webhooks
            .signing_secrets(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("reading the signing secrets of {id} failed: {e}"));
        secrets.iter().map(SigningSecret::expose).collect()
    }

    pub(super) async fn endpoint_page(
        &self,
        filter: &EndpointFilter,
        request: &PageRequest,
    ) -> Page<Endpoint> {
        self.webhooks
            .list_endpoints(&self.tenant, filter, request)
            .await
            .unwrap_or_else(|e| panic!("listing endpoints ({filter:?}, {request:?}) failed: {e}"))
    }

    /// Every endpoint of `tenant` passing `filter`, newest first, in one page.
    pub(super) async fn list_in(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
    ) -> Vec<EndpointId> {
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
        ids_of(&page.data)
    }

    pub(super) async fn list(&self, filter: &EndpointFilter) -> Vec<EndpointId> {
        self.list_in(&self.tenant, filter).await
    }

    pub(super) async fn list_all(&self) -> Vec<EndpointId> {
        self.list(&EndpointFilter::default()).await
    }

    /// The backend's subscribers of `event_type`, asked with its catalog
    /// entry as a send asks; a name the catalog lacks (which no send would
    /// ask about) with the entry it would have if declared as is.
    pub(super) async fn subscribers_in(
        &self,
        tenant: &TenantId,
        event_type: &str,
    ) -> Vec<EndpointId> {
        let declared = self
            .store()
            .event_type(event_type)
            .await
            .unwrap_or_else(|e| panic!("looking up {event_type} failed: {e}"));
        let entry = declared.unwrap_or_else(|| fixtures::event_type(event_type));
        self.store()
            .subscribers(tenant, &entry)
            .await
            .unwrap_or_else(|e| panic!("subscribers of {event_type} failed: {e}"))
    }

    pub(super) async fn subscribers(&self, event_type: &str) -> Vec<EndpointId> {
        self.subscribers_in(&self.tenant, event_type).await
    }

    /// Every endpoint page of `filter`, first to last.
    pub(super) async fn walk_forward(
        &self,
        filter: &EndpointFilter,
        limit: usize,
    ) -> Vec<Page<Endpoint>> {
        follow_next(limit, |request| async move {
            self.endpoint_page(filter, &request).await
        })
        .await
    }

    /// The unfiltered endpoint pages before `from`, in the order visited.
    pub(super) async fn walk_back(
        &self,
        from: &Page<Endpoint>,
        limit: usize,
    ) -> Vec<Page<Endpoint>> {
        let all = &EndpointFilter::default();
        follow_prev(from, limit, |request| async move {
            self.endpoint_page(all, &request).await
        })
        .await
    }
}

// Events and deliveries, through the facade.
impl Harness {
    pub(super) async fn send(&self, event_type: &str, payload: impl Into<Payload>) -> Sent {
        self.send_as(&self.tenant, event_type, payload, SendOptions::new())
            .await
    }

    pub(super) async fn send_keyed(
        &self,
        event_type: &str,
        payload: impl Into<Payload>,
        key: &str,
    ) -> Sent {
        let keyed = SendOptions::new().idempotency_key(key);
        self.send_as(&self.tenant, event_type, payload, keyed).await
    }

    pub(super) async fn send_as(
        &self,
        tenant: &TenantId,
        event_type: &str,
        payload: impl Into<Payload>,
        options: SendOptions,
    ) -> Sent {
        self.webhooks
            .send_with(tenant, event_type, payload, options)
            .await
            .unwrap_or_else(|e| panic!("sending {event_type} for {tenant} failed: {e}"))
    }

    pub(super) async fn event(&self, id: &EventId) -> Event {
        self.webhooks
            .event(&self.tenant, id)
            .await
            .unwrap_or_else(|e| panic!("reading event {id} failed: {e}"))
    }

    pub(super) async fn delivery_page(
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
    pub(super) async fn deliveries_in(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
    ) -> Vec<Delivery> {
        let request = PageRequest::first().limit(PageRequest::MAX_LIMIT);
        let page = self.delivery_page(tenant, filter, &request).await;
        assert!(
            page.next_cursor.is_none(),
            "a listing of fewer than {} deliveries has a next page",
            PageRequest::MAX_LIMIT
        );
        page.data
    }

    pub(super) async fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries_in(&self.tenant, &any_delivery()).await
    }

    /// Claims what is due now for `worker`.
    pub(super) async fn claim_due_now(&self, worker: &str, limit: usize) -> Vec<Claim> {
        claim_at(self.store(), worker, self.now(), limit).await
    }

    /// Nothing is listed, claimable or due.
    pub(super) async fn assert_nothing_queued(&self, what: &str) {
        let listed = self.deliveries().await;
        assert!(listed.is_empty(), "{what}: deliveries listed: {listed:?}");
        let claims = self.claim_due_now("checker", 100).await;
        assert!(claims.is_empty(), "{what}: deliveries claimed: {claims:?}");
        let due = next_due(self.store()).await;
        assert_eq!(due, None, "{what}: something is due");
    }

    /// Sends `PAYLOAD` as `invoice.paid` to the tenant's subscribers under
    /// `SEND_KEY`, checking the answer against `expected` when given.
    pub(super) async fn send_paid_with_key(&self, expected: Option<&Sent>) -> Sent {
        let sent = self.send_keyed("invoice.paid", PAYLOAD, SEND_KEY).await;
        if let Some(expected) = expected {
            assert_eq!(&sent, expected, "a retry answered otherwise");
        }
        sent
    }

    /// Two endpoints that receive every event.
    pub(super) async fn create_two_receivers(&self) {
        self.create(endpoint_request(1)).await;
        self.create(endpoint_request(2)).await;
    }
}
