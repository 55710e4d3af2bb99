//! Endpoints and idempotency records built by hand, as the facade would hand
//! them to a backend, for the cases that call the store directly.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::EndpointId;
use crate::model::{
    Endpoint, EndpointSecrets, EndpointStatus, RetiredSecret, StoredEndpoint, TenantId,
};
use crate::signing::SigningSecret;
use crate::store::{IdempotencyRecord, Inserted, Store};

use super::fixtures::{HOUR, SECOND, START, receiver_url, string_map, string_set};

/// `prefix` and 26 base32 digits of `n`, so ids sort by `n`.
pub(super) fn numbered_id<T>(prefix: &str, n: u32) -> T
where
    T: FromStr<Err = Error>,
{
    format!("{prefix}{n:026}")
        .parse()
        .unwrap_or_else(|e| panic!("id {prefix}{n}: {e}"))
}

/// Endpoint id `n`.
pub(super) fn raw_endpoint_id(n: u32) -> EndpointId {
    numbered_id("ep_", n)
}

/// A minimal stored endpoint as the facade would hand it to a backend.
pub(super) fn raw_endpoint(tenant: &TenantId, n: u32) -> StoredEndpoint {
    StoredEndpoint {
        endpoint: Endpoint {
            id: raw_endpoint_id(n),
            tenant: tenant.clone(),
            name: format!("endpoint {n}"),
            description: String::new(),
            url: receiver_url(n as usize),
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
pub(super) fn rich_endpoint(tenant: &TenantId) -> StoredEndpoint {
    let mut stored = raw_endpoint(tenant, 7);
    let e = &mut stored.endpoint;
    e.name = "Zahlungseingänge ✓".into();
    e.description = "line one\tand \"quotes\" 'n' \\ backslash".into();
    e.event_types = Some(string_set(&["invoice.*", "refund.issued"]));
    e.status = EndpointStatus::Disabled {
        reason: "failing since Monday".into(),
        since: START.saturating_add(HOUR),
    };
    e.timeout = Duration::from_secs(30);
    e.rate_limit = Some(7);
    e.headers = string_map(&[("x-a", "1"), ("x-b", "two")]);
    e.metadata = string_map(&[("région", "eu-west"), ("empty", "")]);
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

pub(super) fn idempotency_record(
    tenant: &TenantId,
    scope: &str,
    key: &str,
    at: Timestamp,
) -> IdempotencyRecord {
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

pub(super) async fn insert_raw_endpoint(
    store: &Arc<dyn Store>,
    endpoint: StoredEndpoint,
    record: Option<IdempotencyRecord>,
) -> Result<Inserted, Error> {
    store.insert_endpoint(endpoint, record).await
}

/// Reads an endpoint both ways, copied and shared, which must agree.
pub(super) async fn read_endpoint(
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
