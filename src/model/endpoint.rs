//! Endpoints: what reads return, what a backend stores, and the answer to
//! creating one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::EndpointSecrets;
use super::TenantId;
use super::event_type::EventType;
use crate::clock::Timestamp;
use crate::id::EndpointId;
use crate::signing::SigningSecret;

/// A customer's URL that receives webhooks, as every read returns it: never
/// with its signing secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Endpoint {
    /// The endpoint's id.
    pub id: EndpointId,
    /// The tenant that owns it.
    pub tenant: TenantId,
    /// A display name.
    pub name: String,
    /// Free text for the customer's own notes.
    pub description: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The event types it receives; `None` for every event type. Each entry
    /// is a name, `prefix.*` for every name that starts with `prefix.`, or
    /// `group:<group>` for every type the catalog files under `<group>`
    /// (see [`NewEndpoint::event_types`](field@super::NewEndpoint::event_types)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<BTreeSet<String>>,
    /// Whether it receives deliveries.
    #[serde(flatten)]
    pub status: EndpointStatus,
    /// How long one delivery attempt may take, 1 to 30 seconds.
    #[serde(rename = "timeout_secs", with = "secs")]
    pub timeout: Duration,
    /// At most this many attempts per second to it, if set (per dispatcher
    /// process).
    #[serde(
        default,
        rename = "rate_limit_per_sec",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_limit: Option<u32>,
    /// Extra headers sent with every delivery.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The application's own key-value data.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Whether a signing secret is configured (always, for endpoints hookshot
    /// created). The secret itself is only shown on creation and rotation.
    pub has_signing_secret: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When a delivery was last attempted to it, to within a second; absent
    /// until the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_triggered_at: Option<Timestamp>,
}

impl Endpoint {
    /// An active endpoint `id` of `tenant` at `url`, made at `created_at`,
    /// with every other field at its default (no name, every event type, the
    /// default timeout). [`crate::Webhooks::create_endpoint`] makes these
    /// from validated input; a backend builds one by hand only to read a
    /// stored row back, setting the other public fields from its columns.
    pub fn new(
        id: EndpointId,
        tenant: TenantId,
        url: impl Into<String>,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            tenant,
            name: String::new(),
            description: String::new(),
            url: url.into(),
            event_types: None,
            status: EndpointStatus::Active,
            timeout: EndpointLimits::DEFAULT_TIMEOUT,
            rate_limit: None,
            headers: BTreeMap::new(),
            metadata: BTreeMap::new(),
            has_signing_secret: true,
            created_at,
            updated_at: created_at,
            last_triggered_at: None,
        }
    }

    /// Whether the endpoint's filter lets `event_type`, a catalog entry,
    /// through (regardless of its status): it has no filter, or its filter
    /// holds one of [`EventType::covering_entries`].
    pub fn subscribes_to(&self, event_type: &EventType) -> bool {
        self.subscribes_via(&event_type.covering_entries())
    }

    /// Whether the endpoint has no filter or its filter holds one of
    /// `entries`, a type's covering entries.
    pub(super) fn subscribes_via(&self, entries: &[String]) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|filter| entries.iter().any(|entry| filter.contains(entry)))
    }

    /// Whether the endpoint is active.
    pub fn is_active(&self) -> bool {
        self.status == EndpointStatus::Active
    }
}

mod secs {
    use super::{Deserialize, Deserializer, Duration, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Whether an endpoint receives deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndpointStatus {
    /// It receives deliveries.
    Active,
    /// It receives nothing until enabled again.
    Disabled {
        /// Why: set by the application, or by hookshot (410 Gone, or failing
        /// for too long).
        #[serde(rename = "disabled_reason")]
        reason: String,
        /// Since when.
        #[serde(rename = "disabled_at")]
        since: Timestamp,
    },
}

/// An endpoint as a backend stores it: with its secrets and its deletion
/// mark. Backends persist every field; only hookshot interprets them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredEndpoint {
    /// What reads return.
    pub endpoint: Endpoint,
    /// Its signing secrets.
    pub secrets: EndpointSecrets,
    /// When it was deleted. Deleted endpoints are never returned by reads,
    /// listings or subscriber lookups, but their deliveries stay queryable.
    pub deleted_at: Option<Timestamp>,
    /// Since when attempts to it have failed without a success in between;
    /// `None` while it is healthy. Drives auto-disable.
    pub failing_since: Option<Timestamp>,
}

impl StoredEndpoint {
    /// A live, healthy endpoint with `secrets`.
    pub fn new(endpoint: Endpoint, secrets: EndpointSecrets) -> Self {
        Self {
            endpoint,
            secrets,
            deleted_at: None,
            failing_since: None,
        }
    }

    /// Whether it has not been deleted.
    pub fn is_live(&self) -> bool {
        self.deleted_at.is_none()
    }
}

/// The answer to creating an endpoint: the endpoint and, this once, its
/// signing secret.
///
/// Serialises with the secret in `signing_secret`, as an HTTP API returns it
/// from its create call; `Debug` keeps it redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreatedEndpoint {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// Its signing secret. Show it to the customer now: reads never return it.
    #[serde(serialize_with = "expose_secret")]
    pub signing_secret: SigningSecret,
}

fn expose_secret<S: Serializer>(secret: &SigningSecret, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&secret.expose())
}

/// Bounds on what an endpoint may hold.
pub(crate) struct EndpointLimits;

impl EndpointLimits {
    pub(crate) const NAME: usize = 256;
    pub(crate) const DESCRIPTION: usize = 1024;
    pub(crate) const URL: usize = 2048;
    pub(crate) const EVENT_TYPES: usize = 256;
    pub(crate) const HEADERS: usize = 32;
    pub(crate) const HEADER_VALUE: usize = 1024;
    pub(crate) const METADATA: usize = 64;
    pub(crate) const METADATA_KEY: usize = 128;
    pub(crate) const METADATA_VALUE: usize = 1024;
    pub(crate) const MIN_TIMEOUT: Duration = Duration::from_secs(1);
    pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(30);
    pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
}
