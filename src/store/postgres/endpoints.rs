//! Endpoints and the event-type catalog in PostgreSQL.
//!
//! An endpoint is kept as a JSON document of its own shape
//! ([`super::records`]) beside its key and the columns that listings and
//! the subscriber lookup filter on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Postgres, QueryBuilder};

use super::deliveries::push_page;
use super::schema::ENDPOINT_COLUMNS;
use super::{PostgresStore, backend, corrupt, idempotency, is_unique_violation, records};
use crate::error::{ConflictKind, Error};
use crate::id::EndpointId;
use crate::model::{
    EndpointFilter, EventType, PageRequest, StatusFilter, StoredEndpoint, TenantId,
};
use crate::store::{
    CatalogStore, EndpointChange, EndpointStore, IdempotencyRecord, Inserted, apply_endpoint_change,
};

/// An endpoint row as read: its id, tenant and record.
type EndpointRow = (String, String, String);

fn decode((id, tenant, record): &EndpointRow) -> Result<StoredEndpoint, Error> {
    records::endpoint_from_row(id, tenant, record)
}

/// The filter column: `NULL` for every type, else the entries as written
/// (names, `prefix.*` patterns, `group:<group>`). The subscriber lookup and
/// the listing filter match it with `&&` against a type's
/// [`EventType::covering_entries`], which its GIN index answers directly.
fn event_types_column(stored: &StoredEndpoint) -> Option<Vec<String>> {
    stored
        .endpoint
        .event_types
        .as_ref()
        .map(|types| types.iter().cloned().collect())
}

#[async_trait]
impl EndpointStore for PostgresStore {
    async fn insert_endpoint(
        &self,
        endpoint: StoredEndpoint,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        let failed = backend("creating an endpoint");
        let mut tx = self.pool().begin().await.map_err(failed)?;
        if let Some(record) = &idempotency
            && let Some(existing) = idempotency::claim(&mut tx, self.sql(), record).await?
        {
            return Ok(Inserted::Existing(existing));
        }
        sqlx::query(&self.sql().insert_endpoint)
            .bind(endpoint.endpoint.id.as_str())
            .bind(endpoint.endpoint.tenant.as_str())
            .bind(endpoint.endpoint.is_active())
            .bind(endpoint.deleted_at.is_some())
            .bind(event_types_column(&endpoint))
            .bind(records::endpoint_to_json(&endpoint)?)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::conflict(
                        ConflictKind::DuplicateId,
                        format!("endpoint {} already exists", endpoint.endpoint.id),
                    )
                } else {
                    backend("creating an endpoint")(e)
                }
            })?;
        tx.commit().await.map_err(backend("creating an endpoint"))?;
        Ok(Inserted::Created)
    }

    async fn endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<StoredEndpoint>, Error> {
        let row: Option<EndpointRow> = sqlx::query_as(&self.sql().endpoint)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(backend("reading an endpoint"))?;
        row.as_ref().map(decode).transpose()
    }

    /// Reads of concurrent attempts are merged into one statement, and an
    /// endpoint read by several of them is decoded once and shared.
    async fn shared_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
    ) -> Result<Option<Arc<StoredEndpoint>>, Error> {
        let request = (tenant.clone(), id.clone());
        self.shared
            .endpoint_reads
            .call(request, |requests| self.read_endpoints(requests))
            .await
    }

    async fn update_endpoint(
        &self,
        tenant: &TenantId,
        id: &EndpointId,
        change: EndpointChange<'_>,
    ) -> Result<StoredEndpoint, Error> {
        let failed = backend("updating an endpoint");
        let mut tx = self.pool().begin().await.map_err(failed)?;
        let row: Option<EndpointRow> = sqlx::query_as(&self.sql().endpoint_for_update)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend("updating an endpoint"))?;
        let row = row.ok_or_else(|| Error::not_found("endpoint", id.as_str()))?;
        let updated = apply_endpoint_change(&decode(&row)?, tenant, id, change)?;
        sqlx::query(&self.sql().update_endpoint)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(updated.endpoint.is_active())
            .bind(updated.deleted_at.is_some())
            .bind(event_types_column(&updated))
            .bind(records::endpoint_to_json(&updated)?)
            .execute(&mut *tx)
            .await
            .map_err(backend("updating an endpoint"))?;
        tx.commit().await.map_err(backend("updating an endpoint"))?;
        Ok(updated)
    }

    async fn list_endpoints(
        &self,
        tenant: &TenantId,
        filter: &EndpointFilter,
        page: &PageRequest,
    ) -> Result<Vec<StoredEndpoint>, Error> {
        let mut query = QueryBuilder::<Postgres>::new(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM {}.endpoints WHERE NOT deleted AND tenant = ",
            self.sql().schema
        ));
        query.push_bind(tenant.as_str());
        match filter.status {
            Some(StatusFilter::Active) => query.push(" AND active"),
            Some(StatusFilter::Disabled) => query.push(" AND NOT active"),
            None => &mut query,
        };
        if let Some(covering) = filter.covering_entries() {
            query
                .push(" AND (event_types IS NULL OR event_types && ")
                .push_bind(covering)
                .push(")");
        }
        push_page(&mut query, page);
        let rows: Vec<EndpointRow> = query
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .map_err(backend("listing endpoints"))?;
        rows.iter().map(decode).collect()
    }

    async fn subscribers(
        &self,
        tenant: &TenantId,
        event_type: &EventType,
    ) -> Result<Vec<EndpointId>, Error> {
        let ids: Vec<String> = sqlx::query_scalar(&self.sql().subscribers)
            .bind(tenant.as_str())
            .bind(event_type.covering_entries())
            .fetch_all(self.pool())
            .await
            .map_err(backend("looking up subscribers"))?;
        ids.iter()
            .map(|id| id.parse().map_err(|e| corrupt("endpoint id", e)))
            .collect()
    }
}

impl PostgresStore {
    /// The live endpoints asked for, in order, each decoded once.
    async fn read_endpoints(
        &self,
        requests: Vec<(TenantId, EndpointId)>,
    ) -> Result<Vec<Option<Arc<StoredEndpoint>>>, Error> {
        let ids: Vec<&str> = requests.iter().map(|(_, id)| id.as_str()).collect();
        let rows: Vec<EndpointRow> = sqlx::query_as(&self.sql().endpoints_by_id)
            .bind(ids)
            .fetch_all(self.pool())
            .await
            .map_err(backend("reading endpoints"))?;
        let found: HashMap<EndpointId, Arc<StoredEndpoint>> = rows
            .iter()
            .map(|row| decode(row).map(|e| (e.endpoint.id.clone(), Arc::new(e))))
            .collect::<Result<_, _>>()?;
        Ok(requests
            .iter()
            .map(|(tenant, id)| {
                found
                    .get(id)
                    .filter(|e| e.endpoint.tenant == *tenant)
                    .cloned()
            })
            .collect())
    }
}

#[async_trait]
impl CatalogStore for PostgresStore {
    async fn upsert_event_types(&self, types: &[EventType]) -> Result<(), Error> {
        // One row per name, the last given winning, as one statement cannot
        // update the same row twice.
        let unique: BTreeMap<&str, &EventType> =
            types.iter().map(|t| (t.name.as_str(), t)).collect();
        let names: Vec<&str> = unique.keys().copied().collect();
        let records = unique
            .values()
            .map(|t| records::event_type_to_json(t))
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query(&self.sql().upsert_event_types)
            .bind(names)
            .bind(records)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(backend("declaring event types"))
    }

    async fn event_types(&self) -> Result<Vec<EventType>, Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(&self.sql().event_types)
            .fetch_all(self.pool())
            .await
            .map_err(backend("reading the event-type catalog"))?;
        rows.iter()
            .map(|(name, record)| records::event_type_from_row(name, record))
            .collect()
    }

    async fn event_type(&self, name: &str) -> Result<Option<EventType>, Error> {
        let record: Option<String> = sqlx::query_scalar(&self.sql().event_type)
            .bind(name)
            .fetch_optional(self.pool())
            .await
            .map_err(backend("reading an event type"))?;
        record
            .as_deref()
            .map(|r| records::event_type_from_row(name, r))
            .transpose()
    }
}
