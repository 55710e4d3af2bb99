//! Settings and the builder of a [`Webhooks`].

use std::sync::Arc;
use std::time::Duration;

use super::{Wakers, Webhooks};
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::id::IdGenerator;
use crate::model::EventType;
use crate::store::Store;

/// How long an idempotency key is remembered by default.
pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long a rotated-out secret keeps signing by default.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The longest rotation grace period allowed.
pub const MAX_ROTATION_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The largest event payload accepted by default: 256 KiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Settings of a [`Webhooks`] instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhooksConfig {
    /// **For local development only.** Accepts `http://` endpoint URLs, and
    /// a dispatcher built without an explicit transport sends through an
    /// [`HttpTransport`](crate::transport::HttpTransport) whose SSRF guard is
    /// off, so loopback and private addresses are reached too. `false`, the
    /// default, allows `https://` only; see
    /// [`WebhooksBuilder::local_development`].
    pub local_development: bool,
    /// How long an idempotency key is remembered.
    pub idempotency_window: Duration,
    /// How long a secret replaced by [`Webhooks::rotate_secret`] keeps signing.
    pub rotation_grace: Duration,
    /// The largest payload [`Webhooks::send`] accepts, in bytes.
    pub max_payload_bytes: usize,
    /// Wrap payloads in the Standard Webhooks envelope
    /// `{"type", "timestamp", "data"}` (the default), or deliver them as
    /// they are.
    pub envelope: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            local_development: false,
            idempotency_window: DEFAULT_IDEMPOTENCY_WINDOW,
            rotation_grace: DEFAULT_ROTATION_GRACE,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            envelope: true,
        }
    }
}

/// Builds a [`Webhooks`]; see [`Webhooks::builder`].
#[derive(Debug)]
#[must_use]
pub struct WebhooksBuilder {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: WebhooksConfig,
    event_types: Vec<EventType>,
}

impl WebhooksBuilder {
    /// Defaults over `store`: the system clock, the default settings and no
    /// catalog.
    pub(super) fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            config: WebhooksConfig::default(),
            event_types: Vec::new(),
        }
    }

    /// Uses `clock` instead of the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The one switch for local development, where receivers listen on
    /// loopback over plain `http`. Off by default.
    ///
    /// **Never turn it on where endpoint URLs come from untrusted users.**
    /// When on:
    ///
    /// - `http://` endpoint URLs are accepted, besides `https://`;
    /// - a [`Dispatcher`](crate::Dispatcher) built over this instance
    ///   *without* an explicit
    ///   [`transport`](crate::dispatcher::DispatcherBuilder::transport)
    ///   sends through an [`HttpTransport`](crate::transport::HttpTransport)
    ///   with [`SsrfGuard::disabled`](crate::transport::SsrfGuard::disabled):
    ///   plain `http` and loopback, private and link-local addresses are all
    ///   reached.
    ///
    /// A transport given explicitly is used as given, guard and all, so a
    /// guarded transport still refuses `http://` URLs stored here.
    pub fn local_development(mut self, on: bool) -> Self {
        self.config.local_development = on;
        self
    }

    /// How long idempotency keys are remembered (24 h by default).
    pub fn idempotency_window(mut self, window: Duration) -> Self {
        self.config.idempotency_window = window;
        self
    }

    /// How long rotated-out secrets keep signing (24 h by default, at most
    /// 7 days).
    pub fn rotation_grace(mut self, grace: Duration) -> Self {
        self.config.rotation_grace = grace;
        self
    }

    /// The largest payload `send` accepts (256 KiB by default).
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.config.max_payload_bytes = bytes;
        self
    }

    /// Whether payloads are wrapped in the Standard Webhooks envelope
    /// (`true`, the default) or delivered as they are.
    pub fn envelope(mut self, envelope: bool) -> Self {
        self.config.envelope = envelope;
        self
    }

    /// Declares an event type in the catalog.
    pub fn event_type(mut self, event_type: EventType) -> Self {
        self.event_types.push(event_type);
        self
    }

    /// Declares several event types in the catalog.
    pub fn event_types(mut self, event_types: impl IntoIterator<Item = EventType>) -> Self {
        self.event_types.extend(event_types);
        self
    }

    /// Checks the settings and stores the declared catalog.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a rotation grace over 7 days, a zero
    /// idempotency window or a malformed event type; [`Error::Backend`] if the
    /// catalog cannot be stored.
    pub async fn build(self) -> Result<Webhooks, Error> {
        // First, so that a refused example is let go of without recursion
        // whatever else is wrong.
        let event_types = EventType::validate_all(self.event_types)?;
        check_grace(self.config.rotation_grace)?;
        if self.config.idempotency_window.is_zero() {
            return Err(Error::invalid(
                "idempotency_window",
                "must be longer than zero",
            ));
        }
        let webhooks = Webhooks {
            store: self.store,
            clock: self.clock,
            ids: IdGenerator::default(),
            config: self.config,
            wakers: Wakers::default(),
        };
        if !event_types.is_empty() {
            webhooks.declare_event_types(event_types).await?;
        }
        Ok(webhooks)
    }
}

pub(super) fn check_grace(grace: Duration) -> Result<(), Error> {
    if grace > MAX_ROTATION_GRACE {
        return Err(Error::invalid(
            "rotation_grace",
            format!("{grace:?} is longer than the 7 days allowed"),
        ));
    }
    Ok(())
}
