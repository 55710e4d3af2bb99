//! Hearing what the dispatcher does, to tell customers about it.

use async_trait::async_trait;

use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::TenantId;

/// Something that happened to a delivery or an endpoint that the
/// application may want to tell its customer about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A delivery failed its last scheduled attempt.
    DeliveryExhausted {
        /// The tenant.
        tenant: TenantId,
        /// The delivery that failed for good.
        delivery_id: DeliveryId,
        /// Its event.
        event_id: EventId,
        /// Its endpoint.
        endpoint_id: EndpointId,
    },
    /// hookshot disabled an endpoint: it answered 410 Gone, or it failed
    /// without a single success for the auto-disable window.
    EndpointDisabled {
        /// The tenant.
        tenant: TenantId,
        /// The endpoint.
        endpoint_id: EndpointId,
        /// Why.
        reason: String,
    },
    /// An endpoint that had been failing delivered successfully again.
    EndpointRecovered {
        /// The tenant.
        tenant: TenantId,
        /// The endpoint.
        endpoint_id: EndpointId,
    },
}

/// Receives [`Notice`]s from the dispatcher.
///
/// Calls come from delivery workers: return quickly and do slow work (an
/// email to the customer) elsewhere.
#[async_trait]
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// Called once per notice.
    async fn notice(&self, notice: Notice);
}

/// An observer that ignores everything: the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreNotices;

#[async_trait]
impl Observer for IgnoreNotices {
    async fn notice(&self, _notice: Notice) {}
}
