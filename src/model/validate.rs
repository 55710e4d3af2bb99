//! Checks on what applications submit, shared by create and update so both
//! refuse the same things with the same words.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use super::event_type::{GROUP_ENTRY_PREFIX, MAX_GROUP_LEN};
use super::{EndpointLimits as Limits, EventType, validate_event_type_name};
use crate::error::Error;

/// Header names hookshot sets itself or that would break the request.
const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "expect",
    "host",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
];
/// Header name prefixes reserved for signatures and proxies.
const RESERVED_PREFIXES: &[&str] = &["webhook-", "svix-", "proxy-"];

/// Checks a destination URL and returns it in normal form.
pub(crate) fn url(text: &str, allow_http: bool) -> Result<String, Error> {
    let invalid = |reason: String| Error::invalid("url", reason);
    if text.len() > Limits::URL {
        return Err(invalid(format!("longer than {} bytes", Limits::URL)));
    }
    // The URL parser would drop some (tabs, line breaks, leading and
    // trailing ones) and percent-encode others: refused instead, so that
    // what is stored is what was meant.
    if text.chars().any(char::is_control) {
        return Err(invalid("contains control characters".into()));
    }
    let parsed = url::Url::parse(text)
        .map_err(|e| invalid(format!("{} is not a URL: {e}", quoted(text))))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(invalid(
                "must use https (plain http is only accepted where the operator allows it)".into(),
            ));
        }
        other => return Err(invalid(format!("scheme {other:?} is not https"))),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host".into()));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("must not carry a user name or password".into()));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("must not have a #fragment".into()));
    }
    Ok(parsed.into())
}

/// Checks a free-text field against its length cap.
pub(crate) fn text(field: &'static str, value: &str, max: usize) -> Result<(), Error> {
    if value.len() > max {
        return Err(Error::invalid(field, format!("longer than {max} bytes")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains control characters"));
    }
    Ok(())
}

/// Checks a subscription list against the catalog and returns it as a set.
///
/// An entry is known when it covers a declared type
/// ([`EventType::covering_entries`]), the same rule that decides who
/// subscribes: a name, a `prefix.*` of a name, a `group:` of a group.
/// Every unknown entry is reported at once, so a user fixes them in one go.
pub(crate) fn event_filter(
    patterns: Vec<String>,
    catalog: &[EventType],
) -> Result<BTreeSet<String>, Error> {
    const FIELD: &str = "event_types";
    if patterns.is_empty() {
        return Err(Error::invalid(
            FIELD,
            "names no event type; leave it out to receive every event type",
        ));
    }
    if patterns.len() > Limits::EVENT_TYPES {
        return Err(Error::invalid(
            FIELD,
            format!("more than {} entries", Limits::EVENT_TYPES),
        ));
    }
    for pattern in &patterns {
        filter_entry(pattern, FIELD)?;
    }
    let known: HashSet<String> = catalog
        .iter()
        .flat_map(EventType::covering_entries)
        .collect();
    let unknown: Vec<&str> = patterns
        .iter()
        .filter(|p| !known.contains(*p))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::invalid(
            FIELD,
            format!("not in the event-type catalog: {}", unknown.join(", ")),
        ));
    }
    Ok(patterns.into_iter().collect())
}

/// Checks the form of one filter entry: a name, `prefix.*`, or
/// `group:<group>` with a group of 1 to 128 bytes.
fn filter_entry(entry: &str, field: &'static str) -> Result<(), Error> {
    let Some(group) = entry.strip_prefix(GROUP_ENTRY_PREFIX) else {
        return validate_event_type_name(entry.strip_suffix(".*").unwrap_or(entry), field);
    };
    if group.is_empty() || group.len() > MAX_GROUP_LEN {
        return Err(Error::invalid(
            field,
            format!(
                "{entry:?} is not a group entry: group:<group>, the group 1 to {MAX_GROUP_LEN} bytes"
            ),
        ));
    }
    Ok(())
}

/// Checks an attempt timeout.
pub(crate) fn timeout(timeout: Duration) -> Result<Duration, Error> {
    if (Limits::MIN_TIMEOUT..=Limits::MAX_TIMEOUT).contains(&timeout) && timeout.subsec_nanos() == 0
    {
        Ok(timeout)
    } else {
        Err(Error::invalid(
            "timeout_secs",
            format!(
                "{timeout:?} is not a whole number of seconds from {} to {}",
                Limits::MIN_TIMEOUT.as_secs(),
                Limits::MAX_TIMEOUT.as_secs()
            ),
        ))
    }
}

/// The highest per-endpoint rate limit accepted, in attempts per second.
pub(crate) const MAX_RATE_LIMIT: u32 = 10_000;

/// Checks a per-endpoint rate limit.
pub(crate) fn rate_limit(per_second: u32) -> Result<u32, Error> {
    if (1..=MAX_RATE_LIMIT).contains(&per_second) {
        Ok(per_second)
    } else {
        Err(Error::invalid(
            "rate_limit_per_sec",
            format!("{per_second} is outside 1 to {MAX_RATE_LIMIT}"),
        ))
    }
}

/// Checks custom headers and returns them with lowercase names.
pub(crate) fn headers(
    headers: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, Error> {
    if headers.len() > Limits::HEADERS {
        return Err(Error::invalid(
            "headers",
            format!("more than {} headers", Limits::HEADERS),
        ));
    }
    let mut checked = BTreeMap::new();
    for (name, value) in headers {
        let parsed = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::invalid(
                "headers",
                format!("{} is not a valid header name", quoted(&name)),
            )
        })?;
        // A valid name is a token: nothing in it needs escaping.
        let field = || format!("headers.{name}");
        let lower = parsed.as_str();
        if RESERVED_HEADERS.contains(&lower)
            || RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p))
        {
            return Err(Error::invalid(field(), "is reserved: hookshot sets it"));
        }
        if value.len() > Limits::HEADER_VALUE {
            return Err(Error::invalid(
                field(),
                format!("value longer than {} bytes", Limits::HEADER_VALUE),
            ));
        }
        // Never repeated in the message: a header value may be a credential.
        if !sendable_header_value(&value) {
            return Err(Error::invalid(
                field(),
                "value must be visible ASCII, with spaces or tabs only between characters",
            ));
        }
        if checked.insert(lower.to_owned(), value).is_some() {
            return Err(Error::invalid(
                field(),
                "is given twice (names ignore case)",
            ));
        }
    }
    Ok(checked)
}

/// Whether `value` goes out as a header value just as it is: visible ASCII,
/// with spaces and tabs only between visible characters (HTTP trims them at
/// the ends, and refuses control characters and line breaks). Empty is
/// allowed.
fn sendable_header_value(value: &str) -> bool {
    let visible = |b: &u8| (b'!'..=b'~').contains(b);
    let bytes = value.as_bytes();
    bytes
        .iter()
        .all(|b| visible(b) || *b == b' ' || *b == b'\t')
        && bytes.first().is_none_or(visible)
        && bytes.last().is_none_or(visible)
}

/// Checks the application's metadata map: keys without control characters,
/// values without control characters other than tabs and line breaks.
pub(crate) fn metadata(metadata: &BTreeMap<String, String>) -> Result<(), Error> {
    if metadata.len() > Limits::METADATA {
        return Err(Error::invalid(
            "metadata",
            format!("more than {} entries", Limits::METADATA),
        ));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.len() > Limits::METADATA_KEY {
            return Err(Error::invalid(
                "metadata",
                format!(
                    "key {} is not 1 to {} bytes",
                    quoted(key),
                    Limits::METADATA_KEY
                ),
            ));
        }
        if key.chars().any(char::is_control) {
            return Err(Error::invalid(
                "metadata",
                format!("key {} contains control characters", quoted(key)),
            ));
        }
        let field = || field_path("metadata", key);
        if value.len() > Limits::METADATA_VALUE {
            return Err(Error::invalid(
                field(),
                format!("longer than {} bytes", Limits::METADATA_VALUE),
            ));
        }
        let allowed = |c: char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
        if !value.chars().all(allowed) {
            return Err(Error::invalid(
                field(),
                "contains control characters other than tabs and line breaks",
            ));
        }
    }
    Ok(())
}

/// Checks the event type of a listing filter: a name that can match is an
/// event-type name, and one that is not could be text the store cannot
/// hold.
pub(crate) fn filter_event_type(event_type: Option<&str>) -> Result<(), Error> {
    event_type.map_or(Ok(()), |name| validate_event_type_name(name, "event_type"))
}

/// Outside text as an error message shows it: quoted, with control
/// characters escaped (so it cannot start a line of its own in a log), and
/// cut short after 64 characters.
pub(crate) fn quoted(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// The field `parent.key`, with `key` quoted when it holds anything
/// quoting would escape.
fn field_path(parent: &str, key: &str) -> String {
    let plain = key.chars().all(|c| c.escape_debug().len() == 1);
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}.{}", quoted(key))
    }
}

/// Checks an idempotency key: 1 to 255 printable ASCII characters.
pub(crate) fn idempotency_key(key: &str) -> Result<(), Error> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        Ok(())
    } else {
        Err(Error::invalid(
            "idempotency_key",
            "must be 1 to 255 printable ASCII characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            url("https://example.com", false).unwrap(),
            "https://example.com/"
        );
        assert!(url("http://example.com/", true).is_ok());
        for (bad, why) in [
            ("http://example.com/", "https"),
            ("ftp://example.com/", "scheme"),
            ("https://user:pw@example.com/", "user name"),
            ("https://example.com/#top", "fragment"),
            ("not a url", "not a URL"),
        ] {
            let err = url(bad, false).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn event_filters_report_every_unknown_name() {
        let catalog = [
            EventType::new("invoice.paid").unwrap(),
            EventType::new("invoice.created").unwrap(),
        ];
        let ok = event_filter(vec!["invoice.*".into(), "invoice.paid".into()], &catalog);
        assert_eq!(ok.unwrap().len(), 2);
        let err = event_filter(
            vec![
                "invoice.paid".into(),
                "user.created".into(),
                "refund.*".into(),
            ],
            &catalog,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("user.created") && err.contains("refund.*"),
            "{err}"
        );
        assert!(event_filter(vec![], &catalog).is_err());
        assert!(event_filter(vec!["group:".into()], &catalog).is_err());
        assert!(event_filter(vec!["invoice..paid".into()], &catalog).is_err());
        assert!(event_filter(vec!["invoice*".into()], &catalog).is_err());
    }

    #[test]
    fn event_filters_take_groups_apart_from_prefixes() {
        let catalog = [
            EventType::new("transaction.confirmed")
                .unwrap()
                .group("wallet"),
            EventType::new("invoice.paid").unwrap(),
        ];
        let ok = event_filter(
            vec!["group:wallet".into(), "group:invoice".into()],
            &catalog,
        );
        assert_eq!(ok.unwrap().len(), 2);
        let err = event_filter(
            vec![
                "group:wallet".into(),
                "wallet.*".into(),
                "group:transaction".into(),
                "group:ledger".into(),
            ],
            &catalog,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "not in the event-type catalog: wallet.*, group:transaction, group:ledger"
            ),
            "{err}"
        );
    }

    #[test]
    fn headers_refuse_reserved_and_duplicate_names() {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            headers(map(&[("X-Trace", "1")])).unwrap(),
            map(&[("x-trace", "1")])
        );
        for bad in [
            map(&[("Content-Type", "x")]),
            map(&[("webhook-id", "x")]),
            map(&[("bad name", "x")]),
            map(&[("x-a", "line\nbreak")]),
            map(&[("X-A", "1"), ("x-a", "2")]),
        ] {
            assert!(headers(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn header_values_are_checked_as_sent() {
        for good in ["", "x", "a b\tc", "!~", "v1,abc=="] {
            assert!(sendable_header_value(good), "{good:?}");
        }
        for bad in [
            " a",
            "a ",
            "\ta",
            "a\t",
            " ",
            "caf\u{e9}",
            "a\0b",
            "a\r\nb",
            "a\u{7f}",
        ] {
            assert!(!sendable_header_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn metadata_keys_and_values_refuse_control_characters() {
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
        assert!(metadata(&one("plan", "pro\nline two\ttab")).is_ok());
        for (key, value, field) in [
            ("a\0b", "1", "metadata"),
            ("a\r\nb", "1", "metadata"),
            ("k", "a\0b", "metadata.k"),
            ("k", "a\u{1b}[31m", "metadata.k"),
            ("we\u{2028}ird", "a\0b", "metadata.\"we\\u{2028}ird\""),
        ] {
            match metadata(&one(key, value)) {
                Err(Error::InvalidInput { field: got, .. }) => {
                    assert_eq!(got, field, "{key:?}: {value:?}");
                }
                other => panic!("{key:?}: {value:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn outside_text_is_quoted_escaped_and_cut_short() {
        assert_eq!(quoted("a\r\nb"), r#""a\r\nb""#);
        let long = quoted(&"\u{e9}".repeat(100));
        assert_eq!(long, format!("{:?}…", "\u{e9}".repeat(64)));
        assert_eq!(field_path("metadata", "plan"), "metadata.plan");
        assert_eq!(field_path("metadata", "a\nb"), r#"metadata."a\nb""#);
    }
}
