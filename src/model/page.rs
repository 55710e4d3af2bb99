use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use crate::error::Error;

/// Which way a page runs from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Older items than the cursor (the next page, newest first).
    Older,
    /// Newer items than the cursor (the previous page).
    Newer,
}

/// An opaque position in a newest-first listing, as returned in
/// [`Page::next_cursor`] and [`Page::prev_cursor`].
///
/// Callers pass it back as they got it; its text form is stable and URL-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    direction: Direction,
    anchor: String,
}

impl Cursor {
    pub(crate) fn new(direction: Direction, anchor: impl Into<String>) -> Self {
        Self {
            direction,
            anchor: anchor.into(),
        }
    }

    /// Which way the page runs.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The id of the item the page starts after (exclusive).
    pub fn anchor(&self) -> &str {
        &self.anchor
    }

    /// Reads a cursor from its text form.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `cursor` when `text` is not a cursor
    /// hookshot made.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid("cursor", "not a cursor returned by a listing");
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let raw = String::from_utf8(raw).map_err(|_| invalid())?;
        let (direction, anchor) = match raw.split_once(':') {
            Some(("o", anchor)) => (Direction::Older, anchor),
            Some(("n", anchor)) => (Direction::Newer, anchor),
            _ => return Err(invalid()),
        };
        // Anchors are ids, which are visible ASCII; anything else was forged,
        // and could be text a store cannot compare (a NUL, on PostgreSQL).
        let visible = |b: u8| (b'!'..=b'~').contains(&b);
        if anchor.is_empty() || anchor.len() > 64 || !anchor.bytes().all(visible) {
            return Err(invalid());
        }
        Ok(Self::new(direction, anchor))
    }

    /// The cursor's opaque text form.
    pub fn encode(&self) -> String {
        let tag = match self.direction {
            Direction::Older => "o",
            Direction::Newer => "n",
        };
        URL_SAFE_NO_PAD.encode(format!("{tag}:{}", self.anchor))
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

/// Which slice of a listing to read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageRequest {
    /// Where to start; `None` for the newest items.
    pub cursor: Option<Cursor>,
    /// At most this many items (1 to [`PageRequest::MAX_LIMIT`]).
    pub limit: usize,
}

impl PageRequest {
    /// Items per page when the caller does not say.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The largest page a caller may ask for.
    pub const MAX_LIMIT: usize = 250;

    /// The first page with the default limit.
    pub fn first() -> Self {
        Self::default()
    }

    /// A page of `limit` items starting at `cursor` (the text of a cursor
    /// from an earlier page), as an HTTP layer receives them.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a limit outside 1 to 250 or a cursor
    /// hookshot did not make.
    pub fn parse(cursor: Option<&str>, limit: Option<usize>) -> Result<Self, Error> {
        let request = Self {
            cursor: cursor.map(Cursor::parse).transpose()?,
            limit: limit.unwrap_or(Self::DEFAULT_LIMIT),
        };
        request.validate()?;
        Ok(request)
    }

    /// The page after `cursor` (or before it, as the cursor says).
    #[must_use]
    pub fn at(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// The same request with `limit` items per page.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if (1..=Self::MAX_LIMIT).contains(&self.limit) {
            Ok(())
        } else {
            Err(Error::invalid(
                "limit",
                format!("{} is outside 1 to {}", self.limit, Self::MAX_LIMIT),
            ))
        }
    }

    /// Which way rows are read from the anchor.
    pub fn direction(&self) -> Direction {
        self.cursor
            .as_ref()
            .map_or(Direction::Older, |c| c.direction)
    }

    /// The exclusive anchor id, if any.
    pub fn anchor(&self) -> Option<&str> {
        self.cursor.as_ref().map(|c| c.anchor.as_str())
    }

    /// Whether the row with `id` lies beyond the anchor in the page's
    /// direction.
    pub fn admits(&self, id: &str) -> bool {
        match (self.anchor(), self.direction()) {
            (None, _) => true,
            (Some(anchor), Direction::Older) => id < anchor,
            (Some(anchor), Direction::Newer) => id > anchor,
        }
    }

    /// What a store returns for this page out of `rows`, in any order: the
    /// rows beyond the anchor, in the page's order, and at most
    /// `limit + 1` of them (the extra one tells the caller more lie beyond).
    /// For a backend without an index of its own; one with an index reads
    /// the same rows straight from it.
    pub fn rows_of<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
        rows.retain(|row| self.admits(id(row)));
        rows.sort_by(|a, b| id(a).cmp(id(b)));
        if self.direction() == Direction::Older {
            rows.reverse();
        }
        rows.truncate(self.limit.saturating_add(1));
        rows
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            cursor: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// One page of a newest-first listing.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items, newest first.
    pub data: Vec<T>,
    /// Where the next (older) page starts, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Cursor>,
    /// Where the previous (newer) page starts, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from what a backend read for `request`: up to
    /// `limit + 1` rows in the request's direction (newest first for
    /// [`Direction::Older`], oldest first for [`Direction::Newer`]), the extra
    /// row telling whether more lie beyond.
    pub fn from_rows(request: &PageRequest, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> Self {
        let more_beyond = rows.len() > request.limit;
        rows.truncate(request.limit);
        let direction = request.direction();
        if direction == Direction::Newer {
            rows.reverse();
        }
        let has_older = match direction {
            Direction::Older => more_beyond,
            Direction::Newer => true,
        };
        let has_newer = match direction {
            Direction::Older => request.cursor.is_some(),
            Direction::Newer => more_beyond,
        };
        let edge = |row: Option<&T>, dir, wanted: bool| {
            row.filter(|_| wanted).map(|r| Cursor::new(dir, id(r)))
        };
        let next_cursor = edge(rows.last(), Direction::Older, has_older);
        let prev_cursor = edge(rows.first(), Direction::Newer, has_newer);
        Self {
            data: rows,
            next_cursor,
            prev_cursor,
        }
    }

    /// Converts every item, keeping the cursors.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            prev_cursor: self.prev_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_text_round_trips_and_rejects_garbage() {
        let cursor = Cursor::new(Direction::Newer, "ep_01");
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
        let forged = ["o:", "o:ep_\0", "n:ep 1", "o:\u{e9}", "o:a\r\nb"]
            .map(|raw| URL_SAFE_NO_PAD.encode(raw));
        for bad in ["", "!!", "eDplcF8wMQ"]
            .iter()
            .copied()
            .chain(forged.iter().map(String::as_str))
        {
            assert!(Cursor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        assert!(PageRequest::parse(None, Some(0)).is_err());
        assert!(PageRequest::parse(None, Some(251)).is_err());
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 50);
    }
}
