//! The facade an application holds: every management operation, validated,
//! over any [`Store`].

mod events;
mod options;
#[cfg(test)]
mod tests;

pub use options::{CreateOptions, SendOptions};

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::error::Error;
use crate::id::{EndpointId, IdGenerator};
use crate::model::validate;
use crate::model::{
    CreatedEndpoint, Endpoint, EndpointFilter, EndpointLimits, EndpointSecrets, EndpointStatus,
    EventType, NewEndpoint, Page, PageRequest, StoredEndpoint, TenantId, UpdateEndpoint,
};
use crate::signing::SigningSecret;
use crate::store::{IdempotencyRecord, MemoryStore, Store, Wake};

/// How long an idempotency key is remembered by default.
pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long a rotated-out secret keeps signing by default.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The longest rotation grace period allowed.
pub const MAX_ROTATION_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The largest event payload accepted by default: 256 KiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024;

const CREATE_ENDPOINT_SCOPE: &str = "endpoint.create";

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

fn check_grace(grace: Duration) -> Result<(), Error> {
    if grace > MAX_ROTATION_GRACE {
        return Err(Error::invalid(
            "rotation_grace",
            format!("{grace:?} is longer than the 7 days allowed"),
        ));
    }
    Ok(())
}

/// Manages endpoints and the event-type catalog for every tenant.
///
/// ```
/// use hookshot::Webhooks;
/// use hookshot::model::{EventType, NewEndpoint, TenantId};
///
/// # tokio_test_block_on(async {
/// let webhooks = Webhooks::in_memory()
///     .event_type(EventType::new("invoice.paid")?)
///     .build()
///     .await?;
/// let tenant = TenantId::new("acme")?;
/// let created = webhooks
///     .create_endpoint(&tenant, NewEndpoint::new("https://acme.example/hooks").event_types(["invoice.paid"]))
///     .await?;
/// // Show created.signing_secret.expose() to the customer once.
/// let endpoint = webhooks.endpoint(&tenant, &created.endpoint.id).await?;
/// assert!(endpoint.has_signing_secret);
/// # Ok::<(), hookshot::Error>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ids: IdGenerator,
    config: WebhooksConfig,
    wakers: Wakers,
}

/// Callbacks run after `send` queued deliveries, so a worker in this
/// process starts on them at once instead of at its next poll. One that
/// returns `false` (its worker has stopped) is dropped.
#[derive(Default)]
struct Wakers(std::sync::Mutex<Vec<Wake>>);

impl Wakers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Wake>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, waker: Wake) {
        self.lock().push(waker);
    }

    fn wake(&self) {
        self.lock().retain(|waker| waker());
    }
}

impl std::fmt::Debug for Wakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wakers")
    }
}

impl Webhooks {
    /// Starts building an instance over `store`.
    pub fn builder(store: Arc<dyn Store>) -> WebhooksBuilder {
        WebhooksBuilder {
            store,
            clock: Arc::new(SystemClock),
            config: WebhooksConfig::default(),
            event_types: Vec::new(),
        }
    }

    /// Starts building an instance over a new [`MemoryStore`].
    pub fn in_memory() -> WebhooksBuilder {
        Self::builder(Arc::new(MemoryStore::new()))
    }

    /// The store behind this instance. Crate-private so that it is no way
    /// around the validation the methods here do: an application that needs
    /// the store keeps the handle it built this instance from.
    #[cfg(any(feature = "dispatch", feature = "test-support"))]
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock this instance reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The settings.
    pub fn config(&self) -> &WebhooksConfig {
        &self.config
    }

    /// Creates an endpoint and returns it with its signing secret, the only
    /// time the secret is shown apart from rotation.
    ///
    /// [`Webhooks::create_endpoint_with`] takes [`CreateOptions`], such as an
    /// idempotency key.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field at fault (URL, lengths, event
    /// types not in the catalog, timeout, headers, metadata).
    pub async fn create_endpoint(
        &self,
        tenant: &TenantId,
        new: NewEndpoint,
    ) -> Result<CreatedEndpoint, Error> {
        self.create_endpoint_with(tenant, new, CreateOptions::default())
            .await
    }

    /// [`Webhooks::create_endpoint`] with `options`.
    ///
    /// With an [`idempotency_key`](CreateOptions::idempotency_key), a retry
    /// of the same request within the idempotency window returns the first
    /// answer unchanged (same id, same secret) and creates nothing.
    ///
    /// # Errors
    /// As [`Webhooks::create_endpoint`], and [`Error::InvalidInput`] for a
    /// malformed key (field `idempotency_key`); [`Error::Conflict`] if the
    /// key was used for a different request. Nothing is created in either
    /// case.
    pub async fn create_endpoint_with(
        &self,
        tenant: &TenantId,
        new: NewEndpoint,
        options: CreateOptions,
    ) -> Result<CreatedEndpoint, Error> {
        let idempotency_key = options.idempotency_key.as_deref();
        if let Some(key) = idempotency_key {
            validate::idempotency_key(key)?;
        }
        let fingerprint = fingerprint(&new)?;
        let now = self.clock.now();
        let secret = match new.secret.clone() {
            Some(secret) => secret,
            None => SigningSecret::generate()?,
        };
        let endpoint = self.validated_endpoint(tenant, new, now).await?;
        let created = CreatedEndpoint {
            endpoint,
            signing_secret: secret.clone(),
        };
        let claim = Idempotency {
            tenant,
            scope: CREATE_ENDPOINT_SCOPE,
            key: idempotency_key,
            fingerprint,
            now,
        };
        let record = self.idempotency_record(&claim, &created)?;
        let stored = StoredEndpoint {
            endpoint: created.endpoint.clone(),
            secrets: EndpointSecrets::new(secret),
            deleted_at: None,
            failing_since: None,
        };
        let inserted = self.store.insert_endpoint(stored, record).await?;
        inserted.answer(&claim.fingerprint, created)
    }

    /// The record that remembers `response` under the caller's key, if any.
    fn idempotency_record(
        &self,
        claim: &Idempotency<'_>,
        response: &impl Serialize,
    ) -> Result<Option<IdempotencyRecord>, Error> {
        let Some(key) = claim.key else {
            return Ok(None);
        };
        Ok(Some(IdempotencyRecord {
            tenant: claim.tenant.clone(),
            scope: claim.scope.to_owned(),
            key: key.to_owned(),
            fingerprint: claim.fingerprint.clone(),
            response: serde_json::to_string(response).map_err(internal)?,
            created_at: claim.now,
            expires_at: claim.now.saturating_add(self.config.idempotency_window),
        }))
    }

    async fn validated_endpoint(
        &self,
        tenant: &TenantId,
        new: NewEndpoint,
        now: Timestamp,
    ) -> Result<Endpoint, Error> {
        let url = validate::url(&new.url, self.config.local_development)?;
        validate::text("name", &new.name, EndpointLimits::NAME)?;
        validate::text("description", &new.description, EndpointLimits::DESCRIPTION)?;
        let event_types = match new.event_types {
            Some(patterns) => Some(self.validated_filter(patterns).await?),
            None => None,
        };
        let timeout = new
            .timeout
            .map(validate::timeout)
            .transpose()?
            .unwrap_or(EndpointLimits::DEFAULT_TIMEOUT);
        let rate_limit = new.rate_limit.map(validate::rate_limit).transpose()?;
        let headers = validate::headers(new.headers)?;
        validate::metadata(&new.metadata)?;
        let status = if !new.enabled {
            EndpointStatus::Disabled {
                reason: "created disabled".into(),
                since: now,
            }
        } else {
            EndpointStatus::Active
        };
        Ok(Endpoint {
            id: EndpointId::generate(&self.ids, now),
            tenant: tenant.clone(),
            name: new.name,
            description: new.description,
            url,
            event_types,
            status,
            timeout,
            rate_limit,
            headers,
            metadata: new.metadata,
            has_signing_secret: true,
            created_at: now,
            updated_at: now,
            last_triggered_at: None,
        })
    }

    async fn validated_filter(
        &self,
        patterns: Vec<String>,
    ) -> Result<std::collections::BTreeSet<String>, Error> {
        let catalog = self.store.event_types().await?;
        validate::event_filter(patterns, &catalog)
    }

    /// The endpoint `id` of `tenant`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if it does not exist, was deleted, or belongs to
    /// another tenant.
    pub async fn endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<Endpoint, Error> {
        self.store
            .endpoint(tenant, id)
            .await?
            .map(|stored| stored.endpoint)
            .ok_or_else(|| Error::not_found("endpoint", id.as_str()))
    }

    /// A page of `tenant`'s endpoints, newest first.
    ///
    /// A filter by event type looks the type up in the catalog, so that
    /// endpoints subscribed to its group (`group:<group>`) are listed too;
    /// for a type not in the catalog, names and `prefix.*` patterns count.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a limit outside 1 to 250, or a filter
    /// whose event type is not an event-type name (field `event_type`).
    pub async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Page<Endpoint>, Error> {
        page.validate()?;
        validate::filter_event_type(filter.event_type.as_deref())?;
        let filter = match &filter.event_type {
            // The catalog's entry, not one the caller set: only the
            // catalog says which group a type is in.
            Some(name) => {
                let entry = self.store.event_type(name).await?;
                filter.clone().with_catalog_entry(entry)
            }
            None => filter.clone(),
        };
        let rows = self.store.list_endpoints(tenant, &filter, page).await?;
        Ok(Page::from_rows(page, rows, |s| s.endpoint.id.as_str()).map(|s| s.endpoint))
    }

    /// Changes the fields `update` supplies. `updated_at` advances only if
    /// the endpoint actually changed: an empty update, or one that sets
    /// fields to the values they already have, returns the endpoint as it
    /// was.
    ///
    /// # Errors
    /// [`Error::NotFound`] as for [`Webhooks::endpoint`];
    /// [`Error::InvalidInput`] as for [`Webhooks::create_endpoint`], with
    /// nothing changed.
    pub async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        update: UpdateEndpoint,
    ) -> Result<Endpoint, Error> {
        let url = update
            .url
            .map(|url| validate::url(&url, self.config.local_development))
            .transpose()?;
        if let Some(name) = &update.name {
            validate::text("name", name, EndpointLimits::NAME)?;
        }
        if let Some(description) = &update.description {
            validate::text("description", description, EndpointLimits::DESCRIPTION)?;
        }
        let event_types = match update.event_types {
            Some(Some(patterns)) => Some(Some(self.validated_filter(patterns).await?)),
            Some(None) => Some(None),
            None => None,
        };
        let timeout = update.timeout.map(validate::timeout).transpose()?;
        let rate_limit = match update.rate_limit {
            Some(Some(limit)) => Some(Some(validate::rate_limit(limit)?)),
            other => other,
        };
        let headers = update.headers.map(validate::headers).transpose()?;
        if let Some(metadata) = &update.metadata {
            validate::metadata(metadata)?;
        }
        let now = self.clock.now();
        let change = move |stored: &mut StoredEndpoint| {
            // Compared afterwards: `updated_at` says when the endpoint last
            // changed, so an update that supplies nothing, or only the
            // values already stored, must leave it alone.
            let before = stored.clone();
            let endpoint = &mut stored.endpoint;
            set(&mut endpoint.url, &url);
            set(&mut endpoint.name, &update.name);
            set(&mut endpoint.description, &update.description);
            set(&mut endpoint.event_types, &event_types);
            set(&mut endpoint.timeout, &timeout);
            set(&mut endpoint.rate_limit, &rate_limit);
            set(&mut endpoint.headers, &headers);
            set(&mut endpoint.metadata, &update.metadata);
            match (update.enabled, endpoint.is_active()) {
                (Some(true), false) => {
                    endpoint.status = EndpointStatus::Active;
                    // Whatever failures disabled it are its owner's to have
                    // dealt with: from now it gets a whole failure window.
                    stored.failing_since = None;
                }
                (Some(false), true) => {
                    endpoint.status = EndpointStatus::Disabled {
                        reason: "disabled by the application".into(),
                        since: now,
                    };
                }
                _ => {}
            }
            if *stored != before {
                stored.endpoint.updated_at = now;
            }
            Ok(())
        };
        let stored = self.store.update_endpoint(tenant, id, &change).await?;
        Ok(stored.endpoint)
    }

    /// Deletes the endpoint: it disappears from reads and receives nothing
    /// more, while its delivery history stays queryable.
    ///
    /// # Errors
    /// [`Error::NotFound`] as for [`Webhooks::endpoint`] (so deleting twice
    /// is an error the second time).
    pub async fn delete_endpoint(&self, tenant: &TenantId, id: &EndpointId) -> Result<(), Error> {
        let now = self.clock.now();
        let change = move |stored: &mut StoredEndpoint| {
            stored.deleted_at = Some(now);
            stored.endpoint.updated_at = now;
            Ok(())
        };
        self.store.update_endpoint(tenant, id, &change).await?;
        Ok(())
    }

    /// Replaces the endpoint's signing secret and returns the new one, shown
    /// this once. The old secret keeps signing alongside it for the
    /// configured grace period, so receivers can switch without downtime.
    ///
    /// # Errors
    /// [`Error::NotFound`] as for [`Webhooks::endpoint`].
    pub async fn rotate_secret(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<SigningSecret, Error> {
        self.rotate_secret_with_grace(tenant, id, self.config.rotation_grace)
            .await
    }

    /// [`Webhooks::rotate_secret`] with its own grace period, from zero (the
    /// old secret stops at once) to 7 days.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a grace over 7 days; [`Error::NotFound`]
    /// as for [`Webhooks::endpoint`].
    pub async fn rotate_secret_with_grace(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        grace: Duration,
    ) -> Result<SigningSecret, Error> {
        check_grace(grace)?;
        let secret = SigningSecret::generate()?;
        let now = self.clock.now();
        let new = secret.clone();
        let change = move |stored: &mut StoredEndpoint| {
            stored.secrets.rotate(new.clone(), grace, now);
            stored.endpoint.has_signing_secret = true;
            stored.endpoint.updated_at = now;
            Ok(())
        };
        self.store.update_endpoint(tenant, id, &change).await?;
        Ok(secret)
    }

    /// The secrets that sign a delivery to the endpoint now: the current one
    /// first, then those still in their rotation grace period.
    ///
    /// # Errors
    /// [`Error::NotFound`] as for [`Webhooks::endpoint`].
    pub async fn signing_secrets(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Vec<SigningSecret>, Error> {
        let stored = self
            .store
            .endpoint(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("endpoint", id.as_str()))?;
        Ok(stored
            .secrets
            .signing_at(self.clock.now())
            .cloned()
            .collect())
    }

    /// Adds event types to the catalog, replacing any with the same name.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed entry (a bad name, control
    /// characters in its group, title or description, an example nested
    /// deeper than [`Payload::MAX_DEPTH`](crate::model::Payload::MAX_DEPTH)
    /// or holding a NUL), with nothing stored.
    pub async fn declare_event_types(
        &self,
        event_types: impl IntoIterator<Item = EventType>,
    ) -> Result<(), Error> {
        let event_types = EventType::validate_all(event_types.into_iter().collect())?;
        self.store.upsert_event_types(&event_types).await
    }

    /// The catalog by name, or one group of it.
    ///
    /// # Errors
    /// [`Error::Backend`] if the store fails.
    pub async fn event_types(&self, group: Option<&str>) -> Result<Vec<EventType>, Error> {
        let mut types = self.store.event_types().await?;
        if let Some(group) = group {
            types.retain(|t| t.group == group);
        }
        Ok(types)
    }
}

/// A request made with an (optional) idempotency key.
struct Idempotency<'a> {
    tenant: &'a TenantId,
    scope: &'static str,
    key: Option<&'a str>,
    fingerprint: String,
    now: Timestamp,
}

/// Overwrites `field` when an update supplies a value.
fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        field.clone_from(value);
    }
}

/// A serialised answer that cannot be written or read back is a fault of the
/// store's contents, not of the caller.
pub(crate) fn internal(e: serde_json::Error) -> Error {
    Error::backend("stored idempotent response is unreadable", false, e)
}

/// A digest of everything in the request, the secret included (hashed), so
/// that any difference makes a different fingerprint.
fn fingerprint(new: &NewEndpoint) -> Result<String, Error> {
    #[derive(Serialize)]
    struct View<'a> {
        url: &'a str,
        name: &'a str,
        description: &'a str,
        event_types: Option<std::collections::BTreeSet<&'a str>>,
        timeout_ms: Option<u128>,
        rate_limit: Option<u32>,
        headers: &'a std::collections::BTreeMap<String, String>,
        metadata: &'a std::collections::BTreeMap<String, String>,
        enabled: bool,
        secret: Option<String>,
    }
    let view = View {
        url: &new.url,
        name: &new.name,
        description: &new.description,
        event_types: new
            .event_types
            .as_ref()
            .map(|types| types.iter().map(String::as_str).collect()),
        timeout_ms: new.timeout.map(|t| t.as_millis()),
        rate_limit: new.rate_limit,
        headers: &new.headers,
        metadata: &new.metadata,
        enabled: new.enabled,
        secret: new.secret.as_ref().map(|s| digest(&[s.as_bytes()])),
    };
    let json = serde_json::to_vec(&view).map_err(internal)?;
    Ok(digest(&[&json]))
}

/// The SHA-256 of the parts, one after the other, in URL-safe base64.
pub(crate) fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize())
}
