//! The answer to sending an event.

use serde::{Deserialize, Serialize};

use crate::id::EventId;

/// What [`Webhooks::send`](crate::Webhooks::send) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sent {
    /// The event's id: the `webhook-id` of every delivery.
    pub event_id: EventId,
    /// How many endpoints it is being delivered to.
    pub deliveries: usize,
}
