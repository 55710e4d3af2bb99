//! The crate's error type.
//!
//! Every fallible management operation returns [`Error`]. Its variants are the
//! kinds an HTTP layer maps to status codes: [`Error::NotFound`] to 404,
//! [`Error::InvalidInput`] to 400/422, [`Error::Conflict`] to 409 (its
//! [`ConflictKind`] says which conflict) and
//! [`Error::Backend`] to 500/503. A failed delivery attempt is never an
//! `Error`: it is recorded as data.

use std::borrow::Cow;

/// A boxed error from a storage backend or the operating system.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong in a hookshot operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource does not exist for this tenant (or was deleted).
    ///
    /// An id that belongs to another tenant is reported the same way, so
    /// callers cannot learn that it exists.
    #[error("{resource} {id} not found")]
    NotFound {
        /// The kind of resource, such as `endpoint` or `delivery`.
        resource: &'static str,
        /// The id that was looked up.
        id: String,
    },
    /// The input was rejected; nothing was stored.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field at fault, such as `url` or `headers.X-Trace`.
        field: Cow<'static, str>,
        /// Why the value was rejected, in words a user can act on.
        reason: String,
    },
    /// The request conflicts with stored state; `kind` says which conflict
    /// it is, so a caller or an HTTP layer can act on it without reading the
    /// message.
    #[error("conflict: {message}")]
    Conflict {
        /// Which conflict.
        kind: ConflictKind,
        /// What conflicted, in words.
        message: String,
    },
    /// The storage backend or the operating system failed.
    ///
    /// Check [`Error::is_transient`] before retrying.
    #[error("backend error: {message}")]
    Backend {
        /// What the backend was doing.
        message: String,
        /// Whether the same call may succeed if tried again later.
        transient: bool,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Conflict`] of `kind`.
    pub fn conflict(kind: ConflictKind, message: impl Into<String>) -> Self {
        Self::Conflict {
            kind,
            message: message.into(),
        }
    }

    /// An [`Error::NotFound`] for a resource of kind `resource` with `id`.
    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: id.into(),
        }
    }

    /// An [`Error::Backend`] wrapping `source`.
    pub fn backend(
        message: impl Into<String>,
        transient: bool,
        source: impl Into<BoxError>,
    ) -> Self {
        Self::Backend {
            message: message.into(),
            transient,
            source: Some(source.into()),
        }
    }

    /// Whether retrying the same call later may succeed.
    ///
    /// Only backend failures marked transient (a dropped connection, a
    /// serialization failure) are; bad input, a missing resource and a
    /// conflict stay that way however often they are retried.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Backend {
                transient: true,
                ..
            }
        )
    }
}

/// Which stored state an [`Error::Conflict`] ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The idempotency key was used, within its window, for a different
    /// request. Use a new key for a new request.
    IdempotencyKeyReused,
    /// The delivery has an attempt in flight. Asking again once the attempt
    /// has ended may succeed.
    DeliveryInFlight,
    /// A record with the same id already exists.
    DuplicateId,
}

impl ConflictKind {
    /// A stable snake_case name, for error codes in API responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::DeliveryInFlight => "delivery_in_flight",
            Self::DuplicateId => "duplicate_id",
        }
    }
}

impl std::fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_names_its_kind_apart_from_the_message() {
        let e = Error::conflict(
            ConflictKind::DeliveryInFlight,
            "delivery dlv_1 is being attempted",
        );
        assert!(matches!(
            e,
            Error::Conflict {
                kind: ConflictKind::DeliveryInFlight,
                ..
            }
        ));
        assert_eq!(e.to_string(), "conflict: delivery dlv_1 is being attempted");
        assert_eq!(
            ConflictKind::IdempotencyKeyReused.as_str(),
            "idempotency_key_reused"
        );
    }
}
