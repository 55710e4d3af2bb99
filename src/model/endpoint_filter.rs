//! Narrowing an endpoint listing.

use serde::{Deserialize, Serialize};

use super::endpoint::{EndpointStatus, StoredEndpoint};
use super::event_type::{EventType, covering_entries};

/// Narrows an endpoint listing.
///
/// Deserialises from a request's `status` and `event_type`; the catalog
/// group of `event_type` is looked up by
/// [`Webhooks::list_endpoints`](crate::Webhooks::list_endpoints) before a
/// backend sees the filter, so a backend reads it through
/// [`EndpointFilter::matches`] or [`EndpointFilter::covering_entries`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct EndpointFilter {
    /// Only endpoints with this status.
    #[serde(default)]
    pub status: Option<StatusFilter>,
    /// Only endpoints whose filter lets this event type through (an
    /// event-type name, or the listing is refused): by its name, a
    /// `prefix.*` pattern, or `group:<group>` of its catalog group. A type
    /// missing from the catalog has no group.
    #[serde(default)]
    pub event_type: Option<String>,
    /// The catalog entry of `event_type`, for its group. Set by
    /// [`EndpointFilter::subscribed_to`], and by the facade from the
    /// catalog; ignored when it names another type than `event_type`, so
    /// a changed `event_type` never keeps a stale group.
    #[serde(skip)]
    pub(crate) catalog_entry: Option<EventType>,
}

impl EndpointFilter {
    /// A filter that lets every live endpoint through.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only endpoints with `status`.
    #[must_use]
    pub fn status(mut self, status: StatusFilter) -> Self {
        self.status = Some(status);
        self
    }

    /// Only endpoints whose filter lets `event_type` through.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only endpoints subscribed to `event_type`, a catalog entry: by its
    /// name, a `prefix.*` pattern or its group.
    #[must_use]
    pub fn subscribed_to(mut self, event_type: &EventType) -> Self {
        self.event_type = Some(event_type.name.clone());
        self.catalog_entry = Some(event_type.clone());
        self
    }

    /// The filter with `event_type`'s catalog entry as looked up (`None`
    /// for a type missing from the catalog), replacing any set before.
    pub(crate) fn with_catalog_entry(mut self, entry: Option<EventType>) -> Self {
        self.catalog_entry = entry;
        self
    }

    /// The endpoint filter entries any one of which lets an endpoint
    /// through `event_type` ([`EventType::covering_entries`]); `None` when
    /// the listing is not narrowed by type. Endpoints without a filter pass
    /// either way. A backend that queries an index uses these.
    pub fn covering_entries(&self) -> Option<Vec<String>> {
        let name = self.event_type.as_deref()?;
        Some(match &self.catalog_entry {
            Some(entry) if entry.name == name => entry.covering_entries(),
            _ => covering_entries(name, None),
        })
    }

    /// Whether `endpoint` passes (deleted endpoints never do).
    pub fn matches(&self, stored: &StoredEndpoint) -> bool {
        stored.is_live()
            && self
                .status
                .is_none_or(|status| status.matches(&stored.endpoint.status))
            && self
                .covering_entries()
                .is_none_or(|entries| stored.endpoint.subscribes_via(&entries))
    }
}

/// Selects endpoints by status in a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StatusFilter {
    /// Only active endpoints.
    Active,
    /// Only disabled endpoints.
    Disabled,
}

impl StatusFilter {
    /// Whether `status` passes.
    pub fn matches(self, status: &EndpointStatus) -> bool {
        matches!(
            (self, status),
            (Self::Active, EndpointStatus::Active)
                | (Self::Disabled, EndpointStatus::Disabled { .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_filter_covers_the_group_of_its_catalog_entry_only() {
        let confirmed = EventType::new("transaction.confirmed")
            .unwrap()
            .group("wallet");
        let filter = EndpointFilter::default().subscribed_to(&confirmed);
        assert_eq!(
            filter.covering_entries().unwrap(),
            confirmed.covering_entries()
        );
        // Not looked up, or not in the catalog: names and patterns only.
        let by_name = EndpointFilter {
            event_type: Some("transaction.confirmed".into()),
            ..EndpointFilter::default()
        };
        let name_only = ["transaction.confirmed", "transaction.*"];
        assert_eq!(by_name.covering_entries().unwrap(), name_only);
        // Another type set afterwards does not keep the old group.
        let mut changed = filter;
        changed.event_type = Some("invoice.paid".into());
        let invoice = ["invoice.paid", "invoice.*"];
        assert_eq!(changed.covering_entries().unwrap(), invoice);
        assert_eq!(EndpointFilter::default().covering_entries(), None);
    }
}
