//! Managing endpoints: create, read, list, update, delete, rotate secrets.

use std::time::Duration;

use serde::Serialize;

use super::builder::check_grace;
use super::idempotency::{Idempotency, digest, internal};
use super::{CreateOptions, Webhooks};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::EndpointId;
use crate::model::validate;
use crate::model::{
    CreatedEndpoint, Endpoint, EndpointFilter, EndpointLimits, EndpointSecrets, EndpointStatus,
    NewEndpoint, Page, PageRequest, StoredEndpoint, TenantId, UpdateEndpoint,
};
use crate::signing::SigningSecret;

const CREATE_ENDPOINT_SCOPE: &str = "endpoint.create";

impl Webhooks {
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
}

/// Overwrites `field` when an update supplies a value.
fn set<T: Clone>(field: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        field.clone_from(value);
    }
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
