//! The event-type catalog, shared by every tenant.

use super::Webhooks;
use crate::error::Error;
use crate::model::EventType;

impl Webhooks {
    /// Adds event types to the catalog, replacing any with the same name.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed entry (a bad name, control
    /// characters in its group, title or description, an example nested
    /// deeper than [`Payload::MAX_DEPTH`](crate::model::Payload::MAX_DEPTH)
    /// or holding a NUL), with nothing stored.
    pub async fn declare_event_types(
        &self,
        event_types: impl IntoIterator<Item = EventType>,
    ) -> Result<(), Error> {
        let event_types = EventType::validate_all(event_types.into_iter().collect())?;
        self.store.upsert_event_types(&event_types).await
    }

    /// The catalog by name, or one group of it.
    ///
    /// # Errors
    /// [`Error::Backend`] if the store fails.
    pub async fn event_types(&self, group: Option<&str>) -> Result<Vec<EventType>, Error> {
        let mut types = self.store.event_types().await?;
        if let Some(group) = group {
            types.retain(|t| t.group == group);
        }
        Ok(types)
    }
}
