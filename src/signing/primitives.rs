//! The Standard Webhooks primitives everything else signs and verifies with:
//! header names, the keyed HMAC, the decimal timestamp and base64.
//!
//! This module is the bottom of the crate's dependency graph: it imports
//! nothing of hookshot's, so secrets, signing and verification can all sit
//! on it without importing each other.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Header carrying the message id, stable across retries: receivers
/// de-duplicate on it.
pub const WEBHOOK_ID: &str = "webhook-id";
/// Header carrying the Unix time, in seconds, at which the attempt was signed.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the space-separated list of signatures.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// Svix's name for [`WEBHOOK_ID`], accepted by the verifier.
pub const SVIX_ID: &str = "svix-id";
/// Svix's name for [`WEBHOOK_TIMESTAMP`], accepted by the verifier.
pub const SVIX_TIMESTAMP: &str = "svix-timestamp";
/// Svix's name for [`WEBHOOK_SIGNATURE`], accepted by the verifier.
pub const SVIX_SIGNATURE: &str = "svix-signature";

/// The version prefix of the symmetric HMAC-SHA256 scheme.
pub const SIGNATURE_VERSION: &str = "v1";

/// Length in bytes of an HMAC-SHA256 tag.
pub(crate) const TAG_LEN: usize = 32;

/// Standard base64 that decodes with or without padding, as secrets are
/// pasted by hand in both forms.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// HMAC-SHA256 with its key already absorbed, so that each message only pays
/// for hashing the message itself.
#[derive(Clone)]
pub(crate) struct KeyedMac(Hmac<Sha256>);

impl KeyedMac {
    /// Absorbs `key`. Callers enforce the specification's key-length range.
    pub(crate) fn new(key: &[u8]) -> Self {
        #[allow(clippy::expect_used)]
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .expect("HMAC takes keys of any length: longer ones are hashed, shorter padded");
        Self(mac)
    }

    /// The tag over `"{msg_id}.{timestamp}.{payload}"`, fed piecewise so the
    /// signed string is never built.
    pub(crate) fn tag(&self, msg_id: &[u8], timestamp: &[u8], payload: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.0.clone();
        mac.update(msg_id);
        mac.update(b".");
        mac.update(timestamp);
        mac.update(b".");
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }
}

/// Writes the decimal form of `value` into `buf` and returns it, without
/// allocating: signing sits on the delivery hot path.
pub(crate) fn decimal(value: i64, buf: &mut [u8; 20]) -> &[u8] {
    let negative = value < 0;
    let mut magnitude = value.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        // `magnitude % 10` is below 10, so the cast cannot truncate.
        buf[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if negative {
        // i64::MIN has 19 digits, so a slot is always left for the sign.
        start -= 1;
        buf[start] = b'-';
    }
    &buf[start..]
}

/// [`decimal`] as text, for header values.
#[cfg(any(test, feature = "dispatch"))]
pub(crate) fn decimal_str(value: i64, buf: &mut [u8; 20]) -> &str {
    #[allow(clippy::expect_used)]
    std::str::from_utf8(decimal(value, buf)).expect("decimal writes only ASCII digits and '-'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_to_string() {
        let mut buf = [0; 20];
        for value in [0, 7, 10, 1_700_000_000, -1, -42, i64::MAX, i64::MIN] {
            assert_eq!(decimal(value, &mut buf), value.to_string().as_bytes());
            assert_eq!(decimal_str(value, &mut buf), value.to_string());
        }
    }

    #[test]
    fn keyed_mac_matches_the_specification_vector() {
        use base64::Engine as _;
        let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let tag = KeyedMac::new(&key).tag(
            b"msg_p5jXN8AQM9LWM0D4loKWxJek",
            b"1614265330",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(tag),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
