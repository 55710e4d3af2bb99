//! `Debug` for the model types that carry secrets of the endpoint's owner:
//! custom header values and payloads are shown by name and size only.
//!
//! Each impl destructures its type without `..`, so a field added later
//! does not compile until someone decides how it is shown.

use std::collections::BTreeMap;
use std::fmt;

use super::{Endpoint, Event, NewEndpoint, UpdateEndpoint};

/// Header names with their values withheld.
struct HeaderNames<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|name| (name, format_args!("<redacted>"))))
            .finish()
    }
}

/// A body shown as its length.
pub(super) struct BodyLen(pub(super) usize);

impl fmt::Debug for BodyLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes redacted>", self.0)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            id,
            tenant,
            name,
            description,
            url,
            event_types,
            status,
            timeout,
            rate_limit,
            headers,
            metadata,
            has_signing_secret,
            created_at,
            updated_at,
            last_triggered_at,
        } = self;
        f.debug_struct("Endpoint")
            .field("id", id)
            .field("tenant", tenant)
            .field("name", name)
            .field("description", description)
            .field("url", url)
            .field("event_types", event_types)
            .field("status", status)
            .field("timeout", timeout)
            .field("rate_limit", rate_limit)
            .field("headers", &HeaderNames(headers))
            .field("metadata", metadata)
            .field("has_signing_secret", has_signing_secret)
            .field("created_at", created_at)
            .field("updated_at", updated_at)
            .field("last_triggered_at", last_triggered_at)
            .finish()
    }
}

impl fmt::Debug for NewEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            url,
            name,
            description,
            event_types,
            timeout,
            rate_limit,
            headers,
            metadata,
            enabled,
            secret,
        } = self;
        f.debug_struct("NewEndpoint")
            .field("url", url)
            .field("name", name)
            .field("description", description)
            .field("event_types", event_types)
            .field("timeout", timeout)
            .field("rate_limit", rate_limit)
            .field("headers", &HeaderNames(headers))
            .field("metadata", metadata)
            .field("enabled", enabled)
            .field("secret", secret)
            .finish()
    }
}

impl fmt::Debug for UpdateEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            url,
            name,
            description,
            event_types,
            timeout,
            rate_limit,
            headers,
            metadata,
            enabled,
        } = self;
        f.debug_struct("UpdateEndpoint")
            .field("url", url)
            .field("name", name)
            .field("description", description)
            .field("event_types", event_types)
            .field("timeout", timeout)
            .field("rate_limit", rate_limit)
            .field("headers", &headers.as_ref().map(HeaderNames))
            .field("metadata", metadata)
            .field("enabled", enabled)
            .finish()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            id,
            tenant,
            event_type,
            body,
            created_at,
        } = self;
        f.debug_struct("Event")
            .field("id", id)
            .field("tenant", tenant)
            .field("event_type", event_type)
            .field("body", &BodyLen(body.len()))
            .field("created_at", created_at)
            .finish()
    }
}
