//! Constants, small builders and assertions that several areas share.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::EndpointId;
use crate::model::{
    DeliveryFilter, Endpoint, EndpointFilter, EventType, NewEndpoint, StatusFilter, TenantId,
};

// Time

/// When every case's clock starts: 2001-09-09, far from the wall clock.
pub(super) const START: Timestamp = Timestamp::from_unix_millis(1_000_000_000_000);
pub(super) const MS: Duration = Duration::from_millis(1);
pub(super) const SECOND: Duration = Duration::from_secs(1);
pub(super) const HOUR: Duration = Duration::from_secs(3600);

/// The moment `offset` after [`START`].
pub(super) fn start_plus(offset: Duration) -> Timestamp {
    START.saturating_add(offset)
}

// The catalog, tenants and endpoints

/// The catalog most cases declare.
pub(super) const CATALOG: [&str; 7] = [
    "billing.invoice.paid",
    "customer.created",
    "customer.deleted",
    "invoice.created",
    "invoice.paid",
    "invoice.voided",
    "refund.issued",
];

pub(super) fn catalog() -> Vec<EventType> {
    CATALOG.iter().map(|name| event_type(name)).collect()
}

pub(super) fn event_type(name: &str) -> EventType {
    EventType::new(name).unwrap_or_else(|e| panic!("event type {name}: {e}"))
}

pub(super) fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap_or_else(|e| panic!("tenant {name}: {e}"))
}

/// The scope under which the facade keeps the idempotency keys of creates.
pub(super) const CREATE_SCOPE: &str = "endpoint.create";

/// A distinct receiver for each `n`.
pub(super) fn receiver_url(n: usize) -> String {
    format!("https://receiver-{n}.example.com/hooks")
}

/// A request for an endpoint at receiver `n`, with every default.
pub(super) fn endpoint_request(n: usize) -> NewEndpoint {
    NewEndpoint::new(receiver_url(n))
}

/// A request that sets every field.
pub(super) fn full_endpoint_request() -> NewEndpoint {
    NewEndpoint::new("https://billing.example.com/hooks")
        .name("Billing")
        .description("Invoices for accounting")
        .event_types(["invoice.paid", "customer.*"])
        .timeout(Duration::from_secs(10))
        .rate_limit(50)
        .header("X-Trace", "abc")
        .metadata("plan", "pro")
}

pub(super) fn ids_of(endpoints: &[Endpoint]) -> Vec<EndpointId> {
    endpoints.iter().map(|e| e.id.clone()).collect()
}

/// The expected listing when `id` is the only endpoint.
pub(super) fn only(id: &EndpointId) -> Vec<EndpointId> {
    vec![id.clone()]
}

/// Ids in creation order, as listings show them.
pub(super) fn newest_first(ids: &[EndpointId]) -> Vec<EndpointId> {
    ids.iter().rev().cloned().collect()
}

pub(super) fn status_filter(status: StatusFilter) -> EndpointFilter {
    EndpointFilter {
        status: Some(status),
        ..EndpointFilter::default()
    }
}

// Sends and deliveries

pub(super) const SEND_KEY: &str = "send-invoice-in_1";
pub(super) const PAYLOAD: &str = r#"{"invoice":"in_1","amount":4200}"#;

pub(super) fn any_delivery() -> DeliveryFilter {
    DeliveryFilter::default()
}

// Collections

pub(super) fn string_set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

// Assertions

#[track_caller]
pub(super) fn assert_not_found<T: fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(Error::NotFound { .. }) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

/// `result` is `InvalidInput` naming `field` or a part of it (`field.…`).
#[track_caller]
pub(super) fn assert_invalid<T: fmt::Debug>(result: Result<T, Error>, field: &str, what: &str) {
    match result {
        Err(Error::InvalidInput { field: got, .. })
            if got == field || got.starts_with(&format!("{field}.")) => {}
        other => panic!("{what}: expected InvalidInput naming {field:?}, got {other:?}"),
    }
}

/// `depth` arrays, one inside the next. Built in a loop: dropping one is
/// recursive, so only depths that are safe to drop are built.
pub(super) fn nested_value(depth: usize) -> serde_json::Value {
    let mut value = serde_json::Value::Null;
    for _ in 0..depth {
        value = serde_json::Value::Array(vec![value]);
    }
    value
}

#[track_caller]
pub(super) fn assert_conflict<T: fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(Error::Conflict { .. }) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}
