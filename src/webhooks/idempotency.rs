//! Idempotency keys: the remembered answer to a request made with one.

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Webhooks;
use crate::clock::Timestamp;
use crate::error::Error;
use crate::model::TenantId;
use crate::store::IdempotencyRecord;

/// A request made with an (optional) idempotency key.
pub(super) struct Idempotency<'a> {
    pub(super) tenant: &'a TenantId,
    pub(super) scope: &'static str,
    pub(super) key: Option<&'a str>,
    pub(super) fingerprint: String,
    pub(super) now: Timestamp,
}

impl Webhooks {
    /// The record that remembers `response` under the caller's key, if any.
    pub(super) fn idempotency_record(
        &self,
        claim: &Idempotency<'_>,
        response: &impl Serialize,
    ) -> Result<Option<IdempotencyRecord>, Error> {
        let Some(key) = claim.key else {
            return Ok(None);
        };
        Ok(Some(IdempotencyRecord {
            tenant: claim.tenant.clone(),
            scope: claim.scope.to_owned(),
            key: key.to_owned(),
            fingerprint: claim.fingerprint.clone(),
            response: serde_json::to_string(response).map_err(internal)?,
            created_at: claim.now,
            expires_at: claim.now.saturating_add(self.config.idempotency_window),
        }))
    }
}

/// A serialised answer that cannot be written or read back is a fault of the
/// store's contents, not of the caller.
pub(super) fn internal(e: serde_json::Error) -> Error {
    Error::backend("stored idempotent response is unreadable", false, e)
}

/// The SHA-256 of the parts, one after the other, in URL-safe base64.
pub(super) fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize())
}
