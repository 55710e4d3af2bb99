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
/// to wait.
pub(super) fn record(
    result: Result<WebhookResponse, TransportError>,
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
                body: String::from_utf8_lossy(&response.body).into_owned(),
                body_truncated: response.body_truncated,
            };
            (outcome, retry_after)
        }
        Err(error) => {
            let outcome = AttemptOutcome::Error {
                kind: error.kind().to_owned(),
                message: error.to_string(),
            };
            (outcome, None)
        }
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
    delivery.attempts += 1;
    if trigger == Trigger::Scheduled {
        delivery.scheduled_attempts += 1;
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
fn retry_after(headers: &HeaderMap, now: Timestamp) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now))
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(text: &str) -> Option<Timestamp> {
    let rest = text.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: i64 = parts.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)?;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let month = i64::try_from(month).ok()? + 1;
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(Timestamp::from_unix_millis(secs.checked_mul(1000)?))
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
