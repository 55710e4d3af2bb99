//! Standard Webhooks signing, the part of hookshot a receiver needs.
//!
//! The primitives (header names, the keyed HMAC, number formatting, base64)
//! import nothing of ours; [`SigningSecret`], [`signature`] and
//! [`Verifier`] sit on them and never on each other's internals.

mod primitives;
mod secret;
pub mod signature;
mod verify;

pub use secret::{GENERATED_KEY_LEN, MAX_KEY_LEN, MIN_KEY_LEN, SECRET_PREFIX, SigningSecret};
pub use verify::{DEFAULT_TOLERANCE, Verifier, VerifyError};

// Only the dispatcher writes a timestamp header.
#[cfg(feature = "dispatch")]
pub(crate) use primitives::decimal_str;
