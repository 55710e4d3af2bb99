//! Standard Webhooks signatures: the header names and the signing scheme.
//!
//! A signature is `v1,` followed by the base64 of HMAC-SHA256, keyed with the
//! secret, over `"{webhook-id}.{webhook-timestamp}.{body}"`. A header may carry
//! several signatures separated by single spaces; a receiver accepts the
//! message when any one of them matches one of its secrets.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::Error;
use crate::secret::SigningSecret;

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

/// HMAC-SHA256 with its key already absorbed, so that each message only pays
/// for hashing the message itself.
#[derive(Clone)]
pub(crate) struct KeyedMac(Hmac<Sha256>);

impl KeyedMac {
    /// Absorbs `key`. Callers enforce the specification's key-length range;
    /// HMAC itself accepts any length.
    pub(crate) fn new(key: &[u8]) -> Result<Self, Error> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .map(Self)
            .map_err(|_| Error::invalid("signing_secret", "HMAC-SHA256 refused the key length"))
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

/// Signs one message with every secret in `secrets` and returns the
/// `webhook-signature` header value: `v1,<sig>` entries separated by single
/// spaces, in the order given.
///
/// Use it while a secret is being rotated: list the new secret first and the
/// old ones still in their grace period after it.
///
/// ```
/// use hookshot::{signature, SigningSecret};
///
/// let new: SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let old: SigningSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".parse()?;
/// let header = signature::sign_all([&new, &old], "msg_1", 1_700_000_000, b"{}");
/// assert_eq!(header.split(' ').count(), 2);
/// # Ok::<(), hookshot::Error>(())
/// ```
pub fn sign_all<'a>(
    secrets: impl IntoIterator<Item = &'a SigningSecret>,
    msg_id: &str,
    timestamp: i64,
    payload: &[u8],
) -> String {
    let mut header = String::new();
    for secret in secrets {
        if !header.is_empty() {
            header.push(' ');
        }
        secret.sign_into(msg_id, timestamp, payload, &mut header);
    }
    header
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_to_string() {
        let mut buf = [0; 20];
        for value in [0, 7, 10, 1_700_000_000, -1, -42, i64::MAX, i64::MIN] {
            assert_eq!(decimal(value, &mut buf), value.to_string().as_bytes());
        }
    }
}
