use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// The owner of endpoints, events and deliveries: a customer, organization
/// or app of the embedding service.
///
/// Every operation is scoped to one tenant. A single-tenant application uses
/// [`TenantId::default`] (`"default"`).
///
/// A tenant id is 1 to 128 characters of ASCII letters, digits and
/// `_ - . :`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(Arc<str>);

/// Longest tenant id accepted.
const MAX_LEN: usize = 128;

impl TenantId {
    /// The tenant id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses `id`, as [`FromStr`] does.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `tenant` if `id` is empty, too long or
    /// has characters outside `[A-Za-z0-9_.:-]`.
    pub fn new(id: impl Into<String>) -> Result<Self, Error> {
        let id = id.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
        if id.is_empty() || id.len() > MAX_LEN || !id.chars().all(allowed) {
            return Err(Error::invalid(
                "tenant",
                format!("{id:?} is not 1 to {MAX_LEN} characters of [A-Za-z0-9_.:-]"),
            ));
        }
        Ok(Self(id.into()))
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self("default".into())
    }
}

impl FromStr for TenantId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::new(text)
    }
}

impl fmt::Display for TenantId {
    /// The tenant's text, padded and aligned as the format asks.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_honours_width_and_alignment() {
        let tenant = TenantId::new("acme").unwrap();
        assert_eq!(format!("[{tenant:<6}]"), "[acme  ]");
        assert_eq!(format!("[{tenant:>6}]"), "[  acme]");
    }
}
