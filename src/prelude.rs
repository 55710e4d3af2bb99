//! One import for an application that sends webhooks and manages endpoints:
//! `use hookshot::prelude::*;`.
//!
//! It brings the facade and its builder, the dispatcher, ids, the error and
//! the model types an application constructs or reads. Storage traits,
//! transports and the conformance suite, which only backend and transport
//! authors need, stay in their modules.

#[cfg(feature = "dispatch")]
pub use crate::dispatcher::{
    Dispatcher, DispatcherBuilder, DispatcherConfig, DispatcherHandle, PingOutcome,
};
pub use crate::error::{ConflictKind, Error};
pub use crate::id::{DeliveryId, EndpointId, EventId};
pub use crate::model::{
    CreatedEndpoint, Delivery, DeliveryDetail, DeliveryFilter, DeliveryStatus, Endpoint,
    EndpointFilter, EndpointStatus, Event, EventType, NewEndpoint, Page, PageRequest, Payload,
    StatusFilter, TenantId, UpdateEndpoint,
};
pub use crate::signing::{SigningSecret, Verifier};
pub use crate::webhooks::{CreateOptions, SendOptions, Webhooks, WebhooksBuilder, WebhooksConfig};
pub use crate::{PreparedSend, Sent};
