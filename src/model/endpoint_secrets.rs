//! An endpoint's signing secrets and their rotation.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::signing::SigningSecret;

/// An endpoint's signing secrets: the current one and those retired by a
/// rotation that still sign until their grace period ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointSecrets {
    /// The secret shown at the last creation or rotation.
    pub current: SigningSecret,
    /// Earlier secrets still in their grace period, newest first.
    pub retired: Vec<RetiredSecret>,
}

/// A secret replaced by a rotation, signing alongside the new one until
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetiredSecret {
    /// The old secret.
    pub secret: SigningSecret,
    /// When it stops signing.
    pub expires_at: Timestamp,
}

impl RetiredSecret {
    /// `secret`, signing until `expires_at`.
    pub fn new(secret: SigningSecret, expires_at: Timestamp) -> Self {
        Self { secret, expires_at }
    }
}

impl EndpointSecrets {
    /// At most this many retired secrets are kept; the oldest goes first.
    pub const MAX_RETIRED: usize = 10;

    /// Secrets of a new endpoint.
    pub fn new(current: SigningSecret) -> Self {
        Self {
            current,
            retired: Vec::new(),
        }
    }

    /// Makes `new` current; the old current secret keeps signing until
    /// `now + grace` (not at all for a zero grace).
    pub fn rotate(&mut self, new: SigningSecret, grace: Duration, now: Timestamp) {
        let old = std::mem::replace(&mut self.current, new);
        self.retired.retain(|r| r.expires_at > now);
        if !grace.is_zero() {
            self.retired.insert(
                0,
                RetiredSecret {
                    secret: old,
                    expires_at: now.saturating_add(grace),
                },
            );
        }
        self.retired.truncate(Self::MAX_RETIRED);
    }

    /// Every secret that signs a delivery made at `now`: the current one
    /// first, then the retired ones still in their grace period.
    pub fn signing_at(&self, now: Timestamp) -> impl Iterator<Item = &SigningSecret> {
        std::iter::once(&self.current).chain(
            self.retired
                .iter()
                .filter(move |r| r.expires_at > now)
                .map(|r| &r.secret),
        )
    }
}
