use serde::{Deserialize, Serialize};

use super::Payload;
use super::json::{self, Fault};
use crate::error::Error;

/// How a filter entry names a catalog group: `group:<group>`. No name or
/// `prefix.*` pattern contains a `:`, so the two kinds never collide.
pub(crate) const GROUP_ENTRY_PREFIX: &str = "group:";

/// The longest group name, in bytes.
pub(crate) const MAX_GROUP_LEN: usize = 128;

/// An entry of the event-type catalog: a kind of event the application
/// sends and endpoints subscribe to.
///
/// ```
/// use hookshot::model::EventType;
///
/// let paid = EventType::new("invoice.paid")?
///     .title("Invoice paid")
///     .description("An invoice was paid in full.")
///     .example(serde_json::json!({"invoice": "in_1", "amount": 4200}));
/// assert_eq!(paid.group, "invoice");
/// # Ok::<(), hookshot::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventType {
    /// Dot-separated segments of `[A-Za-z0-9_-]`, such as `invoice.paid`.
    pub name: String,
    /// The group it is listed under; the first segment of the name unless
    /// set otherwise. An endpoint subscribes to every type of a group, those
    /// declared later included, with the filter entry `group:<group>`; a
    /// `prefix.*` entry goes by names instead.
    pub group: String,
    /// A human-readable name.
    pub title: String,
    /// What triggers the event.
    pub description: String,
    /// An example of the `data` the event carries, nested at most
    /// [`Payload::MAX_DEPTH`] deep, with no NUL in its strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<serde_json::Value>,
    /// Still sent, but on its way out: new subscribers should not use it.
    #[serde(default)]
    pub deprecated: bool,
}

impl EventType {
    /// An event type named `name`, grouped under its first segment.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `event_type` if the name is malformed.
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        validate_event_type_name(&name, "event_type")?;
        // The group defaults to the name's first dotted part.
        let group = name
            .split_once('.')
            .map_or(name.as_str(), |(first, _)| first);
        let group = group.to_owned();
        Ok(Self {
            title: name.clone(),
            name,
            group,
            description: String::new(),
            example: None,
            deprecated: false,
        })
    }

    /// Sets the group.
    #[must_use]
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Sets the title.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the example payload.
    #[must_use]
    pub fn example(mut self, example: serde_json::Value) -> Self {
        self.example = Some(example);
        self
    }

    /// Marks the event type deprecated.
    #[must_use]
    pub fn deprecated(mut self, deprecated: bool) -> Self {
        self.deprecated = deprecated;
        self
    }

    /// Every endpoint filter entry that lets this event type through: its
    /// name, `prefix.*` for each of its dotted prefixes, and
    /// `group:<group>` for its catalog group.
    ///
    /// This is the one rule for which endpoints subscribe to a type: an
    /// endpoint does when its filter holds any of these entries (or when it
    /// has no filter), so a backend can answer with a set intersection,
    /// such as `&&` on an indexed array column.
    ///
    /// ```
    /// use hookshot::model::EventType;
    ///
    /// let late = EventType::new("invoice.paid.late")?.group("billing");
    /// assert_eq!(
    ///     late.covering_entries(),
    ///     ["invoice.paid.late", "invoice.*", "invoice.paid.*", "group:billing"]
    /// );
    /// # Ok::<(), hookshot::Error>(())
    /// ```
    pub fn covering_entries(&self) -> Vec<String> {
        covering_entries(&self.name, Some(&self.group))
    }

    /// Checks a catalog entry that may have been built field by field.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        validate_event_type_name(&self.name, "event_type")?;
        if self.group.is_empty() || self.group.len() > MAX_GROUP_LEN {
            return Err(Error::invalid(
                "event_type.group",
                format!("the group of {} must be 1 to 128 characters", self.name),
            ));
        }
        if self.title.len() > 256 || self.description.len() > 4096 {
            return Err(Error::invalid(
                "event_type",
                format!(
                    "the title (256) or description (4096 bytes) of {} is too long",
                    self.name
                ),
            ));
        }
        // The name is checked above, so it can go into messages as it is.
        let control = |field: &'static str, what: &str| {
            Error::invalid(
                field,
                format!("the {what} of {} contains control characters", self.name),
            )
        };
        if self.group.chars().any(char::is_control) {
            return Err(control("event_type.group", "group"));
        }
        if self.title.chars().any(char::is_control) {
            return Err(control("event_type.title", "title"));
        }
        let in_text = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
        if !self.description.chars().all(in_text) {
            return Err(control("event_type.description", "description"));
        }
        if let Some(example) = &self.example {
            // A stored example is read back with serde_json's recursion
            // limit, inside one more level of its record, and a NUL cannot
            // be held by every store (PostgreSQL's jsonb refuses it).
            let problem = match json::fault(example, Payload::MAX_DEPTH, true) {
                None => return Ok(()),
                Some(Fault::TooDeep) => format!(
                    "nests arrays and objects more than {} levels deep",
                    Payload::MAX_DEPTH
                ),
                Some(Fault::Nul) => "holds a NUL character".to_owned(),
            };
            return Err(Error::invalid(
                "event_type.example",
                format!("the example of {} {problem}", self.name),
            ));
        }
        Ok(())
    }

    /// Checks a batch of catalog entries. A refused batch is let go of
    /// without recursion, since an example may nest deeper than a recursive
    /// drop can go.
    pub(crate) fn validate_all(mut entries: Vec<Self>) -> Result<Vec<Self>, Error> {
        match entries.iter().try_for_each(Self::validate) {
            Ok(()) => Ok(entries),
            Err(e) => {
                for entry in &mut entries {
                    if let Some(example) = entry.example.take() {
                        json::dismantle(example);
                    }
                }
                Err(e)
            }
        }
    }
}

/// The filter entries that let a type named `name` through: the name,
/// `prefix.*` for each dotted prefix, and `group:<group>` if it has a
/// (non-empty) group. [`EventType::covering_entries`] and the listing of a
/// type missing from the catalog (no group) both come here.
pub(crate) fn covering_entries(name: &str, group: Option<&str>) -> Vec<String> {
    let prefixes = name
        .match_indices('.')
        .map(|(dot, _)| format!("{}*", &name[..=dot]));
    let group = group
        .filter(|g| !g.is_empty())
        .map(|g| format!("{GROUP_ENTRY_PREFIX}{g}"));
    std::iter::once(name.to_owned())
        .chain(prefixes)
        .chain(group)
        .collect()
}

/// Checks an event-type name: dot-separated segments of `[A-Za-z0-9_-]`.
pub(crate) fn validate_event_type_name(name: &str, field: &'static str) -> Result<(), Error> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if name.len() <= 128 && name.split('.').all(segment_ok) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{name:?} is not an event-type name: dot-separated segments of [A-Za-z0-9_-], at most 128 characters"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_cover_name_prefixes_and_group() {
        let ping = EventType::new("ping").unwrap();
        assert_eq!(ping.covering_entries(), ["ping", "group:ping"]);
        let late = EventType::new("invoice.paid.late").unwrap().group("wallet");
        assert_eq!(
            late.covering_entries(),
            [
                "invoice.paid.late",
                "invoice.*",
                "invoice.paid.*",
                "group:wallet"
            ]
        );
        assert_eq!(
            covering_entries("invoice.paid", None),
            ["invoice.paid", "invoice.*"]
        );
        assert_eq!(covering_entries("ping", Some("")), ["ping"]);
    }
}
