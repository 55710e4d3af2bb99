//! Standard Webhooks signatures: the header names and the signing scheme.
//!
//! A signature is `v1,` followed by the base64 of HMAC-SHA256, keyed with the
//! secret, over `"{webhook-id}.{webhook-timestamp}.{body}"`. A header may carry
//! several signatures separated by single spaces; a receiver accepts the
//! message when any one of them matches one of its secrets.

use super::secret::SigningSecret;

pub use super::primitives::{
    SIGNATURE_VERSION, SVIX_ID, SVIX_SIGNATURE, SVIX_TIMESTAMP, WEBHOOK_ID, WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP,
};

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
