//! What an application supplies to create or change an endpoint.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::signing::SigningSecret;

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
