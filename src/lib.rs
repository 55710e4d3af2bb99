//! Send webhooks the way the best platforms do.
//!
//! hookshot signs with the [Standard Webhooks] scheme (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`; `whsec_` secrets; `v1,`
//! HMAC-SHA256), so receivers that already verify Svix-style webhooks verify
//! hookshot's unchanged.
//!
//! Built with `default-features = false`, the crate is only the signing and
//! verification part a receiver needs: [`SigningSecret`] and [`Verifier`].
//!
//! ```
//! use hookshot::{SigningSecret, Verifier};
//!
//! let secret = SigningSecret::generate()?;
//! let body = br#"{"type":"invoice.paid"}"#;
//! let signature = secret.sign("msg_1", 1_700_000_000, body);
//!
//! let verifier = Verifier::new(secret);
//! verifier.verify_parts_at("msg_1", "1700000000", &signature, body, 1_700_000_010)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

#[cfg(feature = "registry")]
pub mod clock;
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
pub mod retry;
mod secret;
pub mod signature;
#[cfg(feature = "registry")]
pub mod store;
#[cfg(feature = "dispatch")]
pub mod transport;
mod verify;
#[cfg(feature = "registry")]
mod webhooks;

#[cfg(feature = "dispatch")]
pub use dispatcher::{Dispatcher, DispatcherConfig, DispatcherHandle};
pub use error::{BoxError, Error};
#[cfg(feature = "registry")]
pub use id::{DeliveryId, EndpointId, EventId};
#[cfg(feature = "registry")]
pub use model::sent::Sent;
pub use secret::{GENERATED_KEY_LEN, MAX_KEY_LEN, MIN_KEY_LEN, SECRET_PREFIX, SigningSecret};
#[cfg(feature = "registry")]
pub use store::prepared::PreparedSend;
pub use verify::{DEFAULT_TOLERANCE, Verifier, VerifyError};
#[cfg(feature = "registry")]
pub use webhooks::{
    Config, DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_ROTATION_GRACE,
    MAX_ROTATION_GRACE, Webhooks, WebhooksBuilder,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
