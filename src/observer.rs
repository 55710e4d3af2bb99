//! Hearing what the dispatcher does, to tell customers about it (deliveries
//! that failed for good, endpoints disabled or recovered) and operators
//! (a store that fails).

use async_trait::async_trait;

use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::TenantId;

/// Something that happened to a delivery or an endpoint that the
/// application may want to tell its customer about, or to its store that
/// its operators want to hear of.
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
    /// A call the dispatcher made to its store failed (or the store
    /// panicked), and the dispatcher has done what it does about it:
    ///
    /// - claiming work ([`StoreOperation::Claim`]): the dispatcher backs
    ///   off, polling less and less often while the store keeps failing.
    ///   The outage is reported once, when it starts; a
    ///   [`Notice::StoreRecovered`] follows when claims succeed again,
    ///   and the dispatcher looks for work at once.
    /// - renewing the leases of attempts in flight
    ///   ([`StoreOperation::RenewLeases`]): tried again every third of a
    ///   lease. Reported once, when the failures start, with a
    ///   [`Notice::StoreRecovered`] when a renewal succeeds again. Leases
    ///   not renewed in time run out, and their deliveries are attempted
    ///   again by whoever claims them: the receiver may see them twice.
    /// - recording an attempt ([`StoreOperation::RecordAttempt`]): retried
    ///   a few times within a second or so; reported only when given up.
    ///   The delivery then stays leased until its lease runs out, and is
    ///   attempted again: the receiver may see it twice.
    /// - anything else: reported at once; what was not stored is left to
    ///   the lease or the next attempt, as the operation's docs say.
    StoreFailed {
        /// What the dispatcher was doing.
        operation: StoreOperation,
        /// The delivery the call was about, if it was about one.
        delivery_id: Option<DeliveryId>,
        /// The store's error, as its `Display` renders it. hookshot's own
        /// backends put no payloads, secrets or header values in their
        /// errors; a backend of your own should not either.
        error: String,
    },
    /// Claims, or lease renewals, succeed again after a
    /// [`Notice::StoreFailed`] for [`StoreOperation::Claim`] or
    /// [`StoreOperation::RenewLeases`].
    StoreRecovered {
        /// The operation that failed: [`StoreOperation::Claim`] or
        /// [`StoreOperation::RenewLeases`].
        operation: StoreOperation,
        /// How many calls failed in a row before this success.
        failures: u64,
    },
}

/// The store calls a dispatcher makes, as [`Notice::StoreFailed`] names
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreOperation {
    /// Claiming due deliveries, or asking when the next one is due.
    Claim,
    /// Reading the endpoint of a claimed delivery.
    ReadEndpoint,
    /// Giving a claimed delivery back without an attempt (its endpoint was
    /// busy or rate limited, or the dispatcher was shutting down).
    Release,
    /// Recording an attempt and the delivery's new state.
    RecordAttempt,
    /// Renewing the leases of the attempts in flight, so that nobody takes
    /// their deliveries over while they run.
    RenewLeases,
    /// Recording how an endpoint fares: when it was last tried, since when
    /// it has been failing, and disabling it.
    UpdateEndpoint,
    /// Ending the queued deliveries of a disabled or deleted endpoint.
    EndQueue,
    /// Purging finished history.
    Purge,
}

impl StoreOperation {
    /// A stable snake_case name, for logs and metrics: `claim`,
    /// `read_endpoint`, `release`, `record_attempt`, `renew_leases`,
    /// `update_endpoint`, `end_queue` or `purge`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::ReadEndpoint => "read_endpoint",
            Self::Release => "release",
            Self::RecordAttempt => "record_attempt",
            Self::RenewLeases => "renew_leases",
            Self::UpdateEndpoint => "update_endpoint",
            Self::EndQueue => "end_queue",
            Self::Purge => "purge",
        }
    }
}

impl std::fmt::Display for StoreOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
