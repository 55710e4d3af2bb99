//! The data hookshot manages: tenants, endpoints, the event-type catalog and
//! the pages they are listed in.

mod delivery;
mod endpoint;
mod endpoint_filter;
mod endpoint_request;
mod endpoint_secrets;
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
pub use endpoint::{CreatedEndpoint, Endpoint, EndpointStatus, StoredEndpoint};
pub use endpoint_filter::{EndpointFilter, StatusFilter};
pub use endpoint_request::{NewEndpoint, UpdateEndpoint};
pub use endpoint_secrets::{EndpointSecrets, RetiredSecret};
pub use event_type::EventType;
pub use page::{Cursor, Direction, Page, PageRequest};
pub use payload::Payload;
pub use tenant::TenantId;

pub(crate) use endpoint::EndpointLimits;
pub(crate) use event_type::validate_event_type_name;
pub(crate) use payload::render_body;
