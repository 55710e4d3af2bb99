use std::fmt::Write as _;

use serde::de::IgnoredAny;

use super::json;
use crate::clock::Timestamp;
use crate::error::Error;

/// The `data` of an event: JSON given as a value or as text.
///
/// ```
/// use hookshot::model::Payload;
///
/// let from_value = Payload::from(serde_json::json!({"invoice": "in_1"}));
/// let from_text = Payload::from(r#"{"invoice": "in_1"}"#);
/// # let _ = (from_value, from_text);
/// ```
#[derive(Clone, PartialEq)]
pub struct Payload(Repr);

#[derive(Clone, PartialEq)]
enum Repr {
    Value(serde_json::Value),
    Text(String),
}

impl From<serde_json::Value> for Payload {
    fn from(value: serde_json::Value) -> Self {
        Self(Repr::Value(value))
    }
}

impl From<String> for Payload {
    /// JSON text, checked when sent.
    fn from(text: String) -> Self {
        Self(Repr::Text(text))
    }
}

impl From<&str> for Payload {
    /// JSON text, checked when sent.
    fn from(text: &str) -> Self {
        Self(Repr::Text(text.to_owned()))
    }
}

impl Payload {
    /// The deepest a payload may nest arrays and objects: `[]` and `{}` are
    /// 1 deep, `{"a": [1]}` is 2, a string or number 0. A deeper payload is
    /// refused with [`Error::InvalidInput`] on field `payload`.
    ///
    /// 126 keeps every body within what receivers can read: serde_json's
    /// default recursion limit (128) parses at most 127 levels, and the
    /// Standard Webhooks envelope adds one. Event-type examples have the
    /// same limit, for the same reason and because a stored catalog entry
    /// wraps its example in one more level.
    ///
    /// The check itself never recurses, so a payload of any depth is
    /// refused without overflowing the stack, and a refused
    /// [`serde_json::Value`] is taken apart iteratively. It protects
    /// hookshot's own handling only: serde_json drops, clones, compares and
    /// formats a `Value` recursively, so code of the caller's that does so
    /// with a value thousands of levels deep may overflow its own stack
    /// before hookshot sees it.
    pub const MAX_DEPTH: usize = 126;

    /// The JSON text, checked to be JSON, to nest at most
    /// [`Payload::MAX_DEPTH`] deep and to be at most `max_bytes` long.
    pub(crate) fn into_json(mut self, max_bytes: usize) -> Result<String, Error> {
        let too_deep = || {
            Error::invalid(
                "payload",
                format!(
                    "nests arrays and objects more than {} levels deep",
                    Self::MAX_DEPTH
                ),
            )
        };
        // `Payload` takes its value apart when dropped, so it cannot be
        // moved out of; an empty text is left behind instead.
        let text = match std::mem::replace(&mut self.0, Repr::Text(String::new())) {
            Repr::Value(value) => {
                if json::fault(&value, Self::MAX_DEPTH, false).is_some() {
                    json::dismantle(value);
                    return Err(too_deep());
                }
                serde_json::to_string(&value)
                    .map_err(|e| Error::invalid("payload", format!("cannot be serialised: {e}")))?
            }
            Repr::Text(text) => {
                // Cheapest first: the length, then a scan of the bytes, and
                // only then a parse.
                check_size(&text, max_bytes)?;
                if !json::text_nests_within(&text, Self::MAX_DEPTH) {
                    return Err(too_deep());
                }
                serde_json::from_str::<IgnoredAny>(&text)
                    .map_err(|e| Error::invalid("payload", format!("is not valid JSON: {e}")))?;
                text
            }
        };
        check_size(&text, max_bytes)?;
        Ok(text)
    }
}

/// A value given by the caller may nest deeper than the stack allows a
/// recursive drop to go, and `send` may drop it unchecked (when refusing an
/// idempotency key, say): it is taken apart one level at a time instead.
impl Drop for Payload {
    fn drop(&mut self) {
        if let Repr::Value(value) = &mut self.0 {
            json::dismantle(std::mem::take(value));
        }
    }
}

fn check_size(text: &str, max_bytes: usize) -> Result<(), Error> {
    if text.len() > max_bytes {
        return Err(Error::invalid(
            "payload",
            format!("is {} bytes; the limit is {max_bytes}", text.len()),
        ));
    }
    Ok(())
}

/// The body delivered for an event: the Standard Webhooks envelope
/// `{"type", "timestamp", "data"}`, or the payload as it is.
pub(crate) fn render_body(
    envelope: bool,
    event_type: &str,
    created_at: Timestamp,
    data: String,
) -> String {
    if !envelope {
        return data;
    }
    // Event-type names are [A-Za-z0-9_.-] only, so they need no escaping;
    // the data is already checked JSON and goes in verbatim. Sized up
    // front: this runs for every event sent.
    const FRAME: usize = r#"{"type":"","timestamp":"0000-00-00T00:00:00.000Z","data":}"#.len();
    let mut body = String::with_capacity(FRAME + event_type.len() + data.len());
    body.push_str(r#"{"type":""#);
    body.push_str(event_type);
    body.push_str(r#"","timestamp":""#);
    // Writing to a String cannot fail.
    let _ = write!(body, "{created_at}");
    body.push_str(r#"","data":"#);
    body.push_str(&data);
    body.push('}');
    body
}

impl std::fmt::Debug for Payload {
    /// The kind only: a payload is the endpoint owner's data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Repr::Value(_) => f.write_str("Payload(<JSON value redacted>)"),
            Repr::Text(text) => f
                .debug_tuple("Payload")
                .field(&super::redact::BodyLen(text.len()))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_wraps_data_verbatim() {
        let at = Timestamp::from_unix_millis(0);
        let body = render_body(true, "invoice.paid", at, r#"{"a": 1}"#.into());
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["type"], "invoice.paid");
        assert_eq!(parsed["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(parsed["data"]["a"], 1);
        assert!(
            body.contains(r#""data":{"a": 1}"#),
            "data kept byte for byte"
        );
        assert_eq!(render_body(false, "x", at, "[1]".into()), "[1]");
    }

    #[test]
    fn text_must_be_json_within_the_cap() {
        assert!(Payload::from("{").into_json(100).is_err());
        assert!(Payload::from("\"abc\"").into_json(3).is_err());
        assert_eq!(Payload::from("[1, 2]").into_json(100).unwrap(), "[1, 2]");
        assert_eq!(
            Payload::from(serde_json::json!({"k": true}))
                .into_json(100)
                .unwrap(),
            r#"{"k":true}"#
        );
    }
}
