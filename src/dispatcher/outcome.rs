//! What one attempt's result means for its delivery: the attempt record,
//! the delivery's next state, and what else must follow.

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::clock::{Timestamp, days_from_civil};
use crate::model::{Attempt, AttemptOutcome, Delivery, DeliveryStatus, Trigger};
use crate::retry::{RetrySchedule, honour_retry_after};
use crate::transport::{TransportError, WebhookResponse};

/// What must follow an attempt besides storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The endpoint answered 2xx.
    Delivered,
    /// Another attempt is scheduled.
    Retry,
    /// No scheduled attempt is left.
    Exhausted,
    /// The endpoint answered 410 Gone: disable it and end its queue.
    Gone,
}

/// How retries are scheduled.
#[derive(Debug, Clone)]
pub(super) struct RetryRules {
    pub(super) schedule: RetrySchedule,
    /// The longest wait a `Retry-After` may ask for.
    pub(super) retry_after_cap: Duration,
}

/// The attempt's record and, for 429 or 503, how long the endpoint asked us
/// to wait. `result` is borrowed so that the record can be made again,
/// should the store fail to take it the first time.
pub(super) fn record(
    result: &Result<WebhookResponse, TransportError>,
    now: Timestamp,
) -> (AttemptOutcome, Option<Duration>) {
    match result {
        Ok(response) => {
            let asks_to_wait = matches!(
                response.status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            let retry_after = asks_to_wait
                .then(|| retry_after(&response.headers, now))
                .flatten();
            let outcome = AttemptOutcome::Response {
                status: response.status.as_u16(),
                body: storable(String::from_utf8_lossy(&response.body).into_owned()),
                body_truncated: response.body_truncated,
            };
            (outcome, retry_after)
        }
        Err(error) => {
            let outcome = AttemptOutcome::Error {
                kind: error.kind().to_owned(),
                message: storable(error.to_string()),
            };
            (outcome, None)
        }
    }
}

/// Text from a receiver with NUL replaced by U+FFFD: PostgreSQL's text
/// cannot hold NUL, and every store should keep the same record.
fn storable(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

/// The delivery after an attempt that started at `started_at`, took
/// `duration` and ended at `now`, with its attempt record.
pub(super) fn settle(
    claimed: &Delivery,
    (outcome, retry_after): (AttemptOutcome, Option<Duration>),
    started_at: Timestamp,
    duration: Duration,
    now: Timestamp,
    rules: &RetryRules,
    random: f64,
) -> (Delivery, Attempt, Verdict) {
    let trigger = claimed.next_trigger;
    let mut delivery = claimed.clone();
    // The counts come from the store: saturate rather than trust them.
    delivery.attempts = delivery.attempts.saturating_add(1);
    if trigger == Trigger::Scheduled {
        delivery.scheduled_attempts = delivery.scheduled_attempts.saturating_add(1);
    }
    delivery.next_trigger = Trigger::Scheduled;
    delivery.last_attempt_at = Some(started_at);
    delivery.last_response_status = outcome.status();
    delivery.failure_reason = None;
    let verdict = if outcome.is_success() {
        delivery.status = DeliveryStatus::Delivered;
        delivery.next_attempt_at = None;
        Verdict::Delivered
    } else if outcome.status() == Some(StatusCode::GONE.as_u16()) {
        delivery.fail("the endpoint answered 410 Gone");
        Verdict::Gone
    } else {
        // A manual attempt before any scheduled one counts as the first, so
        // the schedule picks up from its start.
        let made = delivery.scheduled_attempts.max(1);
        match rules.schedule.delay_after(made, random) {
            Some(delay) => {
                let delay = retry_after.map_or(delay, |asked| {
                    honour_retry_after(delay, asked, rules.retry_after_cap)
                });
                delivery.status = DeliveryStatus::Retrying;
                delivery.next_attempt_at = Some(now.saturating_add(delay));
                Verdict::Retry
            }
            None => {
                delivery.fail(format!(
                    "exhausted: all {} scheduled attempts failed",
                    rules.schedule.max_attempts()
                ));
                Verdict::Exhausted
            }
        }
    };
    let attempt = Attempt {
        delivery_id: delivery.id.clone(),
        number: delivery.attempts,
        trigger,
        started_at,
        duration,
        outcome,
    };
    (delivery, attempt, verdict)
}

/// `Retry-After` as a wait from `now`: delay-seconds or an HTTP date
/// (IMF-fixdate). A date in the past asks for no wait.
///
/// The value is the receiver's to choose, so nothing here may overflow:
/// waits too long for a `Duration` or dates beyond any timestamp saturate,
/// and the caller caps what it honours at `retry_after_cap`.
fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Some(secs) = decimal(value) {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now))
}

/// A non-empty run of ASCII digits (no sign, no spaces), saturating at
/// `u64::MAX`.
fn decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT`. Any number of year digits is
/// read; a date beyond the furthest timestamp is that timestamp.
fn parse_http_date(text: &str) -> Option<Timestamp> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rest = text.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day = decimal(parts.next()?)?;
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)?;
    let year = decimal(parts.next()?)?;
    let mut clock = parts.next()?.split(':').map(decimal);
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if clock.next().is_some() || parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Small, range-checked numbers: the conversions cannot fail.
    let [month, day, hour, minute, second] =
        [month as u64 + 1, day, hour, minute, second].map(|n| i64::try_from(n).unwrap_or(0));
    // The year is not negative, so the only way out of range is up.
    let far_future = Timestamp::from_unix_millis(i64::MAX);
    let Ok(year) = i64::try_from(year) else {
        return Some(far_future);
    };
    let millis = days_from_civil(year, month, day)
        .and_then(|days| days.checked_mul(86_400))
        .and_then(|secs| secs.checked_add(hour * 3600 + minute * 60 + second))
        .and_then(|secs| secs.checked_mul(1000));
    Some(millis.map_or(far_future, Timestamp::from_unix_millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_in_the_answer_is_recorded_as_every_store_can_keep_it() {
        let response =
            WebhookResponse::new(StatusCode::BAD_GATEWAY).body(b"up\0stream".to_vec(), false);
        let (outcome, _) = record(&Ok(response), Timestamp::from_unix_millis(0));
        match outcome {
            AttemptOutcome::Response { body, .. } => assert_eq!(body, "up\u{fffd}stream"),
            other => panic!("expected a response, got {other:?}"),
        }
        let error = TransportError::Other("bad\0byte".into());
        let (outcome, _) = record(&Err(error), Timestamp::from_unix_millis(0));
        match outcome {
            AttemptOutcome::Error { message, .. } => assert!(!message.contains('\0'), "{message}"),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn http_dates_parse() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(t.to_string(), "1994-11-06T08:49:37.000Z");
        for bad in [
            "",
            "06 Nov 1994",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
        ] {
            assert!(parse_http_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now: Timestamp = "1994-11-06T08:49:00Z".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        headers.insert(
            http::header::RETRY_AFTER,
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(37)));
        headers.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }

    /// The far future: as far as a timestamp reaches.
    const FOREVER: Timestamp = Timestamp::from_unix_millis(i64::MAX);

    #[test]
    fn http_dates_of_any_year_parse_without_overflowing() {
        let date = |year: &str| parse_http_date(&format!("Sun, 06 Nov {year} 08:49:37 GMT"));
        let text = |year: &str| date(year).map(|t| t.to_string());
        assert_eq!(text("0").as_deref(), Some("0000-11-06T08:49:37.000Z"));
        assert_eq!(text("0000").as_deref(), Some("0000-11-06T08:49:37.000Z"));
        assert_eq!(text("9999").as_deref(), Some("9999-11-06T08:49:37.000Z"));
        assert_eq!(text("10000").as_deref(), Some("10000-11-06T08:49:37.000Z"));
        // Past what a timestamp holds (about 292 million years): the far
        // future, which a `Retry-After` cap then bounds.
        for year in [
            "292278994",
            "999999999999",
            "9223372036854775807",
            "99999999999999999999999999999999",
        ] {
            assert_eq!(date(year), Some(FOREVER), "{year}");
        }
        for year in ["-1994", "+1994", "-1", "19 94", "１９９４", "1994.5", ""] {
            assert_eq!(date(year), None, "{year:?}");
        }
    }

    #[test]
    fn malformed_http_dates_are_refused() {
        for bad in [
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994  08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            "Sun, 06\tNov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 GMT junk",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, -6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 -1:49:37 GMT",
            "Sun, 06 Nov 1994 08:-1:37 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37:00 GMT",
            "Sun, 99999999999999999999 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 99999999999999999999:49:37 GMT",
            ", , , ,",
            "\u{0}",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_of_any_size_is_read_without_overflowing() {
        let now: Timestamp = "1994-11-06T08:49:00Z".parse().unwrap();
        let read = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::RETRY_AFTER, value.parse().unwrap());
            retry_after(&headers, now)
        };
        assert_eq!(read(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(read("0"), Some(Duration::ZERO));
        let longest = Some(Duration::from_secs(u64::MAX));
        assert_eq!(read("18446744073709551615"), longest);
        assert_eq!(read("18446744073709551616"), longest, "saturates");
        assert_eq!(read(&"9".repeat(200)), longest, "saturates");
        for bad in ["-5", "+5", "1.5", "1e3", "0x10", "", "12 0"] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
        // A date in the past asks for no wait; one beyond any timestamp,
        // for the longest wait there is.
        assert_eq!(read("Sun, 06 Nov 0 08:49:37 GMT"), Some(Duration::ZERO));
        let far = read("Sun, 06 Nov 999999999999 08:49:37 GMT").unwrap();
        assert_eq!(far, FOREVER.duration_since(now));
    }

    #[test]
    fn an_absurd_retry_after_waits_the_cap() {
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let rules = RetryRules {
            schedule: RetrySchedule::standard(),
            retry_after_cap: Duration::from_secs(3600),
        };
        let claimed = delivery(now);
        for value in [
            "Sun, 06 Nov 999999999999 08:49:37 GMT",
            "99999999999999999999999",
            "18446744073709551615",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::RETRY_AFTER, value.parse().unwrap());
            let response = WebhookResponse::new(StatusCode::SERVICE_UNAVAILABLE).headers(headers);
            let recorded = record(&Ok(response), now);
            let (after, _, verdict) =
                settle(&claimed, recorded, now, Duration::ZERO, now, &rules, 0.5);
            assert_eq!(verdict, Verdict::Retry);
            let due = after.next_attempt_at.unwrap();
            assert_eq!(
                due,
                now.saturating_add(Duration::from_secs(3600)),
                "{value}"
            );
        }
    }

    #[test]
    fn attempt_counts_from_the_store_saturate() {
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let rules = RetryRules {
            schedule: RetrySchedule::standard(),
            retry_after_cap: Duration::from_secs(3600),
        };
        let mut claimed = delivery(now);
        claimed.attempts = u32::MAX;
        claimed.scheduled_attempts = u32::MAX;
        let failed = (
            AttemptOutcome::Response {
                status: 500,
                body: String::new(),
                body_truncated: false,
            },
            None,
        );
        let (after, attempt, verdict) =
            settle(&claimed, failed, now, Duration::ZERO, now, &rules, 0.5);
        assert_eq!(after.attempts, u32::MAX);
        assert_eq!(attempt.number, u32::MAX);
        assert_eq!(verdict, Verdict::Exhausted);
    }

    /// A delivery as claimed at `now`, before any attempt.
    fn delivery(now: Timestamp) -> Delivery {
        let tenant = crate::model::TenantId::new("acme").unwrap();
        let event_id = "msg_00000000000000000000000001".parse().unwrap();
        let event = crate::model::Event::new(event_id, tenant, "invoice.paid", "{}", now);
        let endpoint = "ep_00000000000000000000000001".parse().unwrap();
        let id = "dlv_00000000000000000000000001".parse().unwrap();
        let mut delivery = Delivery::new(id, &event, endpoint);
        delivery.status = DeliveryStatus::Delivering;
        delivery
    }
}
