//! Time: the [`Timestamp`] type and the injected [`Clock`].
//!
//! Nothing in hookshot reads the wall clock directly: the facade, the
//! backends and the dispatcher all ask a [`Clock`], so tests can run on
//! [`ManualClock`] and never sleep.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// A point in time with millisecond precision, in UTC.
///
/// Serialises as RFC 3339 (`2024-05-01T12:30:00.250Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Self = Self(0);

    /// The time `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch, rounded down.
    pub const fn unix_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `self + duration`, saturating at the far future.
    #[must_use]
    pub fn saturating_add(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(millis))
    }

    /// `self - duration`, saturating at the far past.
    #[must_use]
    pub fn saturating_sub(self, duration: Duration) -> Self {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(millis))
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn duration_since(self, earlier: Self) -> Duration {
        let millis = self.0.saturating_sub(earlier.0).max(0);
        Duration::from_millis(millis.unsigned_abs())
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`), for `month` 1 to 12 and `day` 1 to 31; `None` if
/// the year is too far from ours for an `i64` of days.
///
/// Years can come from outside (a receiver's `Retry-After` date), so the
/// arithmetic on the year is checked; the rest stays within a 400-year
/// era and cannot overflow.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400_000);
        let in_day = self.0.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let (secs, millis) = (in_day / 1000, in_day % 1000);
        let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
        if !(0..=9999).contains(&year) {
            return write!(
                f,
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"
            );
        }
        // Four-digit years, filled in by hand: every event sent carries
        // one, and the formatting machinery costs several times more.
        let mut text = *b"0000-00-00T00:00:00.000Z";
        put_digits(&mut text[0..4], year);
        put_digits(&mut text[5..7], month);
        put_digits(&mut text[8..10], day);
        put_digits(&mut text[11..13], hour);
        put_digits(&mut text[14..16], minute);
        put_digits(&mut text[17..19], second);
        put_digits(&mut text[20..23], millis);
        #[allow(clippy::expect_used)]
        let text = std::str::from_utf8(&text).expect("the template and its digits are ASCII");
        f.write_str(text)
    }
}

/// Writes the last `field.len()` decimal digits of `value` (not negative)
/// into `field`, zero-padded.
fn put_digits(field: &mut [u8], mut value: i64) {
    for byte in field.iter_mut().rev() {
        // A digit: `value` is not negative, so the remainder is 0 to 9.
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Reads a fixed number of ASCII digits.
fn digits(text: &[u8], range: std::ops::Range<usize>) -> Option<i64> {
    let field = text.get(range)?;
    field.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let separators_ok = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && matches!(b.get(10), Some(b'T' | b't' | b' '))
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (digits(b, 0..4)?, digits(b, 5..7)?, digits(b, 8..10)?);
    let (hour, minute, second) = (digits(b, 11..13)?, digits(b, 14..16)?, digits(b, 17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        // Digits past the third are below our precision and are dropped.
        for (i, &c) in fraction[..len.min(3)].iter().enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (digits(rest, 1..3)?, digits(rest, 4..6)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    // A leap second is read as the last second of its minute.
    let second = second.min(59);
    // Four-digit years: none of this can overflow.
    let secs = days_from_civil(year, month, day)? * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Some(Timestamp(secs * 1000 + millis))
}

impl FromStr for Timestamp {
    type Err = Error;

    /// Parses RFC 3339, such as `2024-05-01T12:30:00Z` or
    /// `2024-05-01T14:30:00.5+02:00`.
    fn from_str(text: &str) -> Result<Self, Error> {
        parse_rfc3339(text).ok_or_else(|| {
            Error::invalid(
                "timestamp",
                format!("{text:?} is not an RFC 3339 date-time such as 2024-05-01T12:30:00Z"),
            )
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 date-time"))
    }
}

/// The source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp(millis)
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicI64::new(start.0))
    }

    /// Moves the clock forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let millis = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: Timestamp) {
        self.0.store(now.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

/// Wall time that advances with tokio's clock: the wall time at creation
/// plus the tokio time elapsed since.
///
/// Under `tokio::time::pause` (tests with `start_paused`), it moves only as
/// tokio's virtual clock does, so the dispatcher's schedules run on virtual
/// time and tests never sleep for real.
#[cfg(feature = "dispatch")]
#[derive(Debug, Clone)]
pub struct TokioClock {
    start_wall: Timestamp,
    start: tokio::time::Instant,
}

#[cfg(feature = "dispatch")]
impl TokioClock {
    /// A clock reading the system's wall time now, advancing with tokio.
    pub fn new() -> Self {
        Self::starting_at(SystemClock.now())
    }

    /// A clock reading `start` now, advancing with tokio.
    pub fn starting_at(start: Timestamp) -> Self {
        Self {
            start_wall: start,
            start: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "dispatch")]
impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "dispatch")]
impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.start_wall.saturating_add(self.start.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ];
        for (millis, text) in cases {
            let ts = Timestamp::from_unix_millis(millis);
            assert_eq!(ts.to_string(), text);
            assert_eq!(text.parse::<Timestamp>().unwrap(), ts);
        }
    }

    #[test]
    fn four_digit_years_format_like_the_rest() {
        let general = |ts: Timestamp| {
            let days = ts.0.div_euclid(86_400_000);
            let in_day = ts.0.rem_euclid(86_400_000);
            let (y, mo, d) = civil_from_days(days);
            let s = in_day / 1000;
            format!(
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
                s / 3600,
                s / 60 % 60,
                s % 60,
                in_day % 1000
            )
        };
        let year_10000 = 253_402_300_800_000;
        let mut millis = -62_167_219_200_000 - 1; // just before year 0
        while millis < year_10000 + 86_400_000 {
            let ts = Timestamp::from_unix_millis(millis);
            assert_eq!(ts.to_string(), general(ts));
            millis += 7_777_777_777;
        }
        let far = Timestamp::from_unix_millis(year_10000);
        assert_eq!(far.to_string(), "10000-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let utc: Timestamp = "2024-05-01T12:30:00Z".parse().unwrap();
        assert_eq!(
            "2024-05-01T14:30:00+02:00".parse::<Timestamp>().unwrap(),
            utc
        );
        assert_eq!(
            "2024-05-01T10:00:00-02:30".parse::<Timestamp>().unwrap(),
            utc
        );
        let frac: Timestamp = "2024-05-01T12:30:00.123456Z".parse().unwrap();
        assert_eq!(frac.unix_millis() - utc.unix_millis(), 123);
    }

    #[test]
    fn rejects_malformed_dates() {
        for text in [
            "",
            "2024-05-01",
            "2024-05-01T12:30:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:30:00.Z",
            "2024-05-01T12:30:00+2:00",
            "2024-05-01T12:30:00Zjunk",
            "２024-05-01T12:30:00Z",
        ] {
            assert!(text.parse::<Timestamp>().is_err(), "{text:?} was accepted");
        }
    }

    #[cfg(feature = "dispatch")]
    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let start = Timestamp::from_unix_millis(1_700_000_000_000);
        let clock = TokioClock::starting_at(start);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now(), start.saturating_add(Duration::from_secs(3600)));
    }

    #[test]
    fn days_from_civil_of_any_year_does_not_overflow() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(0, 1, 1), Some(-719_528));
        assert_eq!(days_from_civil(-1, 12, 31), Some(-719_529));
        for (year, month) in [(i64::MAX, 1), (i64::MAX, 12), (i64::MIN, 1), (i64::MIN, 12)] {
            assert_eq!(days_from_civil(year, month, 1), None, "{year}-{month}");
        }
        // Far years that fit still come out right.
        let far = 999_999_999_999;
        let days = days_from_civil(far, 11, 6).unwrap();
        assert_eq!(civil_from_days(days), (far, 11, 6));
        assert!(days_from_civil(i64::MAX / 146_097 * 400 - 1, 12, 31).is_some());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_unix_millis(1_000));
        assert_eq!(clock.now().unix_millis(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now().unix_millis(), 3_000);
    }
}
