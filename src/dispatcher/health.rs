//! What attempts do to their endpoint: when it was last tried, how long it
//! has been failing, and disabling it (which ends its queue) once it has
//! failed for the whole window or answered 410 Gone.

use std::time::Duration;

use super::Inner;
use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::{DeliveryId, EndpointId};
use crate::model::{EndpointStatus, StoredEndpoint, TenantId};
use crate::observer::{Notice, StoreOperation};

impl Inner {
    /// Records when the endpoint was last tried (by the attempt at
    /// `delivery_id`) and how long it has been failing; disables it once it
    /// has failed for the whole window.
    pub(super) async fn track_health(
        &self,
        before: &StoredEndpoint,
        success: bool,
        started_at: Timestamp,
        delivery_id: &DeliveryId,
    ) {
        // A healthy endpoint tried again within a second changes nothing
        // worth a store write: `last_triggered_at` is kept to the second.
        let recently = before
            .endpoint
            .last_triggered_at
            .is_some_and(|at| started_at.duration_since(at) < Duration::from_secs(1));
        if success && before.failing_since.is_none() && recently {
            return;
        }
        let window = self.config.auto_disable_after;
        let change = move |stored: &mut StoredEndpoint| {
            stored.endpoint.last_triggered_at = Some(started_at);
            if success {
                stored.failing_since = None;
            } else {
                let since = *stored.failing_since.get_or_insert(started_at);
                if started_at.duration_since(since) >= window && stored.endpoint.is_active() {
                    stored.endpoint.status = EndpointStatus::Disabled {
                        reason: format!("failing without a success since {since}"),
                        since: started_at,
                    };
                }
            }
            Ok(())
        };
        let endpoint = &before.endpoint;
        let after = match self
            .store
            .update_endpoint(&endpoint.tenant, &endpoint.id, &change)
            .await
        {
            Ok(after) => after,
            Err(error) => {
                self.endpoint_update_failed(&error, delivery_id).await;
                return;
            }
        };
        if before.failing_since.is_some() && after.failing_since.is_none() {
            self.notify(Notice::EndpointRecovered {
                tenant: endpoint.tenant.clone(),
                endpoint_id: endpoint.id.clone(),
            })
            .await;
        }
        if let (true, EndpointStatus::Disabled { reason, .. }) =
            (endpoint.is_active(), &after.endpoint.status)
        {
            self.end_queue(&endpoint.tenant, &endpoint.id, reason, delivery_id)
                .await;
            self.notify(Notice::EndpointDisabled {
                tenant: endpoint.tenant.clone(),
                endpoint_id: endpoint.id.clone(),
                reason: reason.clone(),
            })
            .await;
        }
    }

    /// Disables an endpoint because of its answer to the attempt (at
    /// `delivery_id`) started at `tried_at`, ends its queued deliveries and
    /// says so.
    pub(super) async fn disable(
        &self,
        tenant: TenantId,
        endpoint_id: EndpointId,
        reason: String,
        tried_at: Timestamp,
        delivery_id: &DeliveryId,
    ) {
        let now = self.clock.now();
        let status_reason = reason.clone();
        let change = move |stored: &mut StoredEndpoint| {
            stored.endpoint.status = EndpointStatus::Disabled {
                reason: status_reason.clone(),
                since: now,
            };
            stored.endpoint.last_triggered_at = Some(tried_at);
            stored.endpoint.updated_at = now;
            Ok(())
        };
        let updated = self
            .store
            .update_endpoint(&tenant, &endpoint_id, &change)
            .await;
        if let Err(error) = updated {
            self.endpoint_update_failed(&error, delivery_id).await;
            return;
        }
        self.end_queue(&tenant, &endpoint_id, &reason, delivery_id)
            .await;
        self.notify(Notice::EndpointDisabled {
            tenant,
            endpoint_id,
            reason,
        })
        .await;
    }

    async fn end_queue(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
        reason: &str,
        delivery_id: &DeliveryId,
    ) {
        let reason = format!("endpoint disabled: {reason}");
        // On failure the deliveries stay queued and end when next claimed.
        if let Err(error) = self.store.fail_queued(tenant, endpoint_id, &reason).await {
            self.store_failed(StoreOperation::EndQueue, Some(delivery_id), &error)
                .await;
        }
    }

    /// Reports a failed change to an endpoint, unless it failed only
    /// because the endpoint was deleted meanwhile.
    async fn endpoint_update_failed(&self, error: &Error, delivery_id: &DeliveryId) {
        if !matches!(error, Error::NotFound { .. }) {
            self.store_failed(StoreOperation::UpdateEndpoint, Some(delivery_id), error)
                .await;
        }
    }
}
