use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::TenantId;
use super::event_type::{EventType, covering_entries};
use crate::clock::Timestamp;
use crate::error::Error;
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
    /// (see [`NewEndpoint::event_types`](field@NewEndpoint::event_types)).
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
    fn subscribes_via(&self, entries: &[String]) -> bool {
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

/// Narrows an endpoint listing.
///
/// Deserialises from a request's `status` and `event_type`; the catalog
/// group of `event_type` is looked up by
/// [`Webhooks::list_endpoints`](crate::Webhooks::list_endpoints) before a
/// backend sees the filter, so a backend reads it through
/// [`EndpointFilter::matches`] or [`EndpointFilter::covering_entries`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct EndpointFilter {
    /// Only endpoints with this status.
    #[serde(default)]
    pub status: Option<StatusFilter>,
    /// Only endpoints whose filter lets this event type through (an
    /// event-type name, or the listing is refused): by its name, a
    /// `prefix.*` pattern, or `group:<group>` of its catalog group. A type
    /// missing from the catalog has no group.
    #[serde(default)]
    pub event_type: Option<String>,
    /// The catalog entry of `event_type`, for its group. Set by
    /// [`EndpointFilter::subscribed_to`], and by the facade from the
    /// catalog; ignored when it names another type than `event_type`, so
    /// a changed `event_type` never keeps a stale group.
    #[serde(skip)]
    pub(crate) catalog_entry: Option<EventType>,
}

impl EndpointFilter {
    /// A filter that lets every live endpoint through.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only endpoints with `status`.
    #[must_use]
    pub fn status(mut self, status: StatusFilter) -> Self {
        self.status = Some(status);
        self
    }

    /// Only endpoints whose filter lets `event_type` through.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only endpoints subscribed to `event_type`, a catalog entry: by its
    /// name, a `prefix.*` pattern or its group.
    #[must_use]
    pub fn subscribed_to(mut self, event_type: &EventType) -> Self {
        self.event_type = Some(event_type.name.clone());
        self.catalog_entry = Some(event_type.clone());
        self
    }

    /// The filter with `event_type`'s catalog entry as looked up (`None`
    /// for a type missing from the catalog), replacing any set before.
    pub(crate) fn with_catalog_entry(mut self, entry: Option<EventType>) -> Self {
        self.catalog_entry = entry;
        self
    }

    /// The endpoint filter entries any one of which lets an endpoint
    /// through `event_type` ([`EventType::covering_entries`]); `None` when
    /// the listing is not narrowed by type. Endpoints without a filter pass
    /// either way. A backend that queries an index uses these.
    pub fn covering_entries(&self) -> Option<Vec<String>> {
        let name = self.event_type.as_deref()?;
        Some(match &self.catalog_entry {
            Some(entry) if entry.name == name => entry.covering_entries(),
            _ => covering_entries(name, None),
        })
    }

    /// Whether `endpoint` passes (deleted endpoints never do).
    pub fn matches(&self, stored: &StoredEndpoint) -> bool {
        stored.is_live()
            && self
                .status
                .is_none_or(|status| status.matches(&stored.endpoint.status))
            && self
                .covering_entries()
                .is_none_or(|entries| stored.endpoint.subscribes_via(&entries))
    }
}

/// Selects endpoints by status in a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatusFilter {
    /// Only active endpoints.
    Active,
    /// Only disabled endpoints.
    Disabled,
}

impl StatusFilter {
    /// Whether `status` passes.
    pub fn matches(self, status: &EndpointStatus) -> bool {
        matches!(
            (self, status),
            (Self::Active, EndpointStatus::Active)
                | (Self::Disabled, EndpointStatus::Disabled { .. })
        )
    }
}

/// An endpoint's signing secrets: the current one and those retired by a
/// rotation that still sign until their grace period ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointSecrets {
    /// The secret shown at the last creation or rotation.
    pub current: SigningSecret,
    /// Earlier secrets still in their grace period, newest first.
    pub retired: Vec<RetiredSecret>,
}

/// A secret replaced by a rotation, signing alongside the new one until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetiredSecret {
    /// The old secret.
    pub secret: SigningSecret,
    /// When it stops signing.
    pub expires_at: Timestamp,
}

impl RetiredSecret {
    /// `secret`, signing until `expires_at`.
    pub fn new(secret: SigningSecret, expires_at: Timestamp) -> Self {
        Self { secret, expires_at }
    }
}

impl EndpointSecrets {
    /// At most this many retired secrets are kept; the oldest goes first.
    pub const MAX_RETIRED: usize = 10;

    /// Secrets of a new endpoint.
    pub fn new(current: SigningSecret) -> Self {
        Self {
            current,
            retired: Vec::new(),
        }
    }

    /// Makes `new` current; the old current secret keeps signing until
    /// `now + grace` (not at all for a zero grace).
    pub fn rotate(&mut self, new: SigningSecret, grace: Duration, now: Timestamp) {
        let old = std::mem::replace(&mut self.current, new);
        self.retired.retain(|r| r.expires_at > now);
        if !grace.is_zero() {
            self.retired.insert(
                0,
                RetiredSecret {
                    secret: old,
                    expires_at: now.saturating_add(grace),
                },
            );
        }
        self.retired.truncate(Self::MAX_RETIRED);
    }

    /// Every secret that signs a delivery made at `now`: the current one
    /// first, then the retired ones still in their grace period.
    pub fn signing_at(&self, now: Timestamp) -> impl Iterator<Item = &SigningSecret> {
        std::iter::once(&self.current).chain(
            self.retired
                .iter()
                .filter(move |r| r.expires_at > now)
                .map(|r| &r.secret),
        )
    }
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

/// What an application supplies to create an endpoint.
///
/// ```
/// use hookshot::model::NewEndpoint;
///
/// let new = NewEndpoint::new("https://example.com/webhooks")
///     .name("Billing")
///     .event_types(["invoice.paid", "customer.*", "group:wallet"]);
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewEndpoint {
    /// Where deliveries go: `https://` (or `http://` where the operator
    /// allowed it), with no user name, password, fragment or control
    /// characters.
    pub url: String,
    /// A display name (at most 256 bytes).
    #[serde(default)]
    pub name: String,
    /// Free text (at most 1024 bytes).
    #[serde(default)]
    pub description: String,
    /// The event types to receive; `None` for every event type. Each entry
    /// is one of:
    ///
    /// - a name from the catalog, such as `invoice.paid`;
    /// - `prefix.*`, every name that starts with `prefix.` (at least one
    ///   declared name must), such as `invoice.*` for `invoice.paid` and
    ///   `invoice.paid.late`;
    /// - `group:<group>`, every type the catalog files under the group
    ///   ([`EventType::group`](field@crate::model::EventType::group)), whatever
    ///   its name, including types declared or moved there later (at least
    ///   one declared type must be in it now). A group is not a name
    ///   prefix: `transaction.confirmed` filed under `wallet` is in
    ///   `group:wallet` but not in `wallet.*`.
    ///
    /// Entries not in the catalog are refused, all named in one error.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Attempt timeout, 1 to 30 s; 15 s when absent.
    #[serde(default, rename = "timeout_secs", with = "opt_secs")]
    pub timeout: Option<Duration>,
    /// At most this many attempts per second (1 to 10,000); none when absent.
    #[serde(default, rename = "rate_limit_per_sec")]
    pub rate_limit: Option<u32>,
    /// Extra headers for every delivery; reserved names are refused, and
    /// values must be visible ASCII with spaces or tabs only between
    /// characters, as they are sent.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The application's own key-value data: keys of 1 to 128 bytes without
    /// control characters, values of at most 1024 bytes without control
    /// characters other than tabs and line breaks.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Whether the endpoint starts active (`true`, the default) or
    /// disabled; the same name and sense as [`UpdateEndpoint::enabled`].
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Use this secret instead of generating one, for a customer moving an
    /// existing receiver.
    #[serde(default)]
    pub secret: Option<SigningSecret>,
}

/// What `enabled` is when a request leaves it out.
fn enabled_by_default() -> bool {
    true
}

/// An empty URL (which creating refuses), every other field at its
/// default: enabled, receiving every event type.
impl Default for NewEndpoint {
    fn default() -> Self {
        Self {
            url: String::new(),
            name: String::new(),
            description: String::new(),
            event_types: None,
            timeout: None,
            rate_limit: None,
            headers: BTreeMap::new(),
            metadata: BTreeMap::new(),
            enabled: enabled_by_default(),
            secret: None,
        }
    }
}

impl NewEndpoint {
    /// An enabled endpoint for `url` receiving every event type.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Sets the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Subscribes to these names, `prefix.*` patterns and `group:<group>`
    /// groups only (see [`NewEndpoint::event_types`](field@NewEndpoint::event_types)).
    #[must_use]
    pub fn event_types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.event_types = Some(types.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the attempt timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Limits attempts to this many per second.
    #[must_use]
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Adds a header sent with every delivery.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Adds a metadata entry.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Uses `secret` instead of a generated one.
    #[must_use]
    pub fn secret(mut self, secret: SigningSecret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Creates the endpoint enabled (`true`, the default) or disabled
    /// (`false`).
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }
}

mod opt_secs {
    use super::{Deserialize, Deserializer, Duration};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|s| s.map(Duration::from_secs))
    }
}

/// A partial update: only the fields that are `Some` change.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UpdateEndpoint {
    /// New URL.
    #[serde(default)]
    pub url: Option<String>,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// Replaces the event filter: `Some(None)` for every event type. The
    /// entries are as for [`NewEndpoint::event_types`](field@NewEndpoint::event_types).
    #[serde(default, deserialize_with = "present")]
    pub event_types: Option<Option<Vec<String>>>,
    /// New attempt timeout.
    #[serde(default, rename = "timeout_secs", with = "opt_secs")]
    pub timeout: Option<Duration>,
    /// New rate limit: `Some(None)` removes it.
    #[serde(default, rename = "rate_limit_per_sec", deserialize_with = "present")]
    pub rate_limit: Option<Option<u32>>,
    /// Replaces the custom headers.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Replaces the metadata.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// `Some(true)` enables the endpoint, `Some(false)` disables it.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl UpdateEndpoint {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes the URL.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Changes the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Changes the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Replaces the event filter with these names, `prefix.*` patterns and
    /// `group:<group>` groups.
    #[must_use]
    pub fn event_types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.event_types = Some(Some(types.into_iter().map(Into::into).collect()));
        self
    }

    /// Subscribes to every event type.
    #[must_use]
    pub fn all_event_types(mut self) -> Self {
        self.event_types = Some(None);
        self
    }

    /// Changes the timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets (`Some`) or removes (`None`) the rate limit.
    #[must_use]
    pub fn rate_limit(mut self, per_second: Option<u32>) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Replaces the custom headers.
    #[must_use]
    pub fn headers(mut self, headers: BTreeMap<String, String>) -> Self {
        self.headers = Some(headers);
        self
    }

    /// Replaces the metadata.
    #[must_use]
    pub fn metadata(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Enables (`true`) or disables (`false`) the endpoint.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
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

/// Checks an event-type name: dot-separated segments of `[A-Za-z0-9_-]`.
pub(crate) fn validate_event_type_name(name: &str, field: &'static str) -> Result<(), Error> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if name.len() <= 128 && name.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{name:?} is not an event-type name: dot-separated segments of [A-Za-z0-9_-], at most 128 characters"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_filter_covers_the_group_of_its_catalog_entry_only() {
        let confirmed = EventType::new("transaction.confirmed")
            .unwrap()
            .group("wallet");
        let filter = EndpointFilter::default().subscribed_to(&confirmed);
        assert_eq!(
            filter.covering_entries().unwrap(),
            confirmed.covering_entries()
        );
        // Not looked up, or not in the catalog: names and patterns only.
        let by_name = EndpointFilter {
            event_type: Some("transaction.confirmed".into()),
            ..EndpointFilter::default()
        };
        let name_only = ["transaction.confirmed", "transaction.*"];
        assert_eq!(by_name.covering_entries().unwrap(), name_only);
        // Another type set afterwards does not keep the old group.
        let mut changed = filter;
        changed.event_type = Some("invoice.paid".into());
        let invoice = ["invoice.paid", "invoice.*"];
        assert_eq!(changed.covering_entries().unwrap(), invoice);
        assert_eq!(EndpointFilter::default().covering_entries(), None);
    }
}
