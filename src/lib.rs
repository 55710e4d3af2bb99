#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "registry")]
pub mod clock;
#[cfg(feature = "test-support")]
pub mod conformance;
#[cfg(feature = "dispatch")]
pub mod dispatcher;
mod error;
#[cfg(feature = "registry")]
mod id;
#[cfg(feature = "registry")]
pub mod model;
#[cfg(feature = "dispatch")]
pub mod observer;
#[cfg(feature = "registry")]
pub mod prelude;
#[cfg(feature = "registry")]
pub mod retry;
mod signing;
#[cfg(feature = "registry")]
pub mod store;
#[cfg(feature = "dispatch")]
pub mod transport;
#[cfg(feature = "registry")]
mod webhooks;

#[cfg(feature = "dispatch")]
pub use dispatcher::{Dispatcher, DispatcherConfig, DispatcherHandle};
pub use error::{BoxError, ConflictKind, Error};
#[cfg(feature = "registry")]
pub use id::{DeliveryId, EndpointId, EventId};
#[cfg(feature = "registry")]
pub use model::sent::Sent;
pub use signing::signature;
pub use signing::{
    DEFAULT_TOLERANCE, GENERATED_KEY_LEN, MAX_KEY_LEN, MIN_KEY_LEN, SECRET_PREFIX, SigningSecret,
    Verifier, VerifyError,
};
#[cfg(feature = "registry")]
pub use store::prepared::PreparedSend;
#[cfg(feature = "registry")]
pub use webhooks::{
    CreateOptions, DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_ROTATION_GRACE,
    MAX_ROTATION_GRACE, SendOptions, Webhooks, WebhooksBuilder, WebhooksConfig,
};
