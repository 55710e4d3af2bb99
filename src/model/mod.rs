//! The data hookshot manages: tenants, endpoints, the event-type catalog and
//! the pages they are listed in.

mod delivery;
mod endpoint;
mod event_type;
pub(crate) mod json;
mod page;
mod payload;
mod redact;
pub(crate) mod sent;
mod tenant;
pub(crate) mod validate;

pub use delivery::{
    Attempt, AttemptOutcome, Delivery, DeliveryDetail, DeliveryFilter, DeliveryStatus, Event,
    Trigger,
};
pub use endpoint::{
    CreatedEndpoint, Endpoint, EndpointFilter, EndpointSecrets, EndpointStatus, NewEndpoint,
    RetiredSecret, StatusFilter, StoredEndpoint, UpdateEndpoint,
};
pub use event_type::EventType;
pub use page::{Cursor, Direction, Page, PageRequest};
pub use payload::Payload;
pub use tenant::TenantId;

pub(crate) use endpoint::{EndpointLimits, validate_event_type_name};
pub(crate) use payload::render_body;
