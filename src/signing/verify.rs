//! Verifying webhook signatures, for receivers.
//!
//! Verify the raw body bytes exactly as they arrived. JSON that was parsed
//! and serialised again almost never has the same bytes, so its signature
//! will not match.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::primitives::{
    BASE64, KeyedMac, SIGNATURE_VERSION, SVIX_ID, SVIX_SIGNATURE, SVIX_TIMESTAMP, TAG_LEN,
    WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};
use super::secret::SigningSecret;
use crate::error::Error;

/// How far a timestamp may be from the receiver's clock, either way, by
/// default: five minutes, as the specification recommends.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a webhook was rejected.
///
/// The `Display` text is meant for the receiver's log and for the body of
/// the 401 it answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent or empty.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header is present but cannot be read.
    #[error("malformed {header} header: {reason}")]
    MalformedHeader {
        /// The header's canonical name.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is not a whole number of seconds since the Unix epoch.
    #[error("malformed webhook-timestamp header: expected whole seconds since the Unix epoch")]
    MalformedTimestamp,
    /// The message was signed longer ago than the tolerance allows: a replay,
    /// or a very late delivery.
    #[error("timestamp too old: signed {age_secs} s ago, tolerance is {tolerance_secs} s")]
    TimestampTooOld {
        /// Seconds between the timestamp and now.
        age_secs: u64,
        /// The configured tolerance in seconds.
        tolerance_secs: u64,
    },
    /// The timestamp is further in the future than the tolerance allows:
    /// usually a clock that is off on one side.
    #[error("timestamp too new: {ahead_secs} s in the future, tolerance is {tolerance_secs} s")]
    TimestampTooNew {
        /// Seconds between now and the timestamp.
        ahead_secs: u64,
        /// The configured tolerance in seconds.
        tolerance_secs: u64,
    },
    /// No `v1` signature matches any of the verifier's secrets: the body, id
    /// or timestamp were altered, or the secret is not the endpoint's.
    #[error("no matching signature: the body, id or timestamp was altered, or the secret is wrong")]
    NoMatchingSignature,
}

/// Checks that webhooks were signed by the sender holding the secret.
///
/// ```
/// use hookshot::{SigningSecret, Verifier};
///
/// let secret: SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let verifier = Verifier::new(secret);
/// let mut headers = http::HeaderMap::new();
/// headers.insert("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".parse()?);
/// headers.insert("webhook-timestamp", "1614265330".parse()?);
/// headers.insert("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".parse()?);
/// let body = br#"{"test": 2432232314}"#;
/// verifier.verify_at(&headers, body, 1614265330)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    macs: Vec<KeyedMac>,
    tolerance_secs: u64,
}

impl Verifier {
    /// A verifier for one secret, with the default tolerance of five minutes.
    pub fn new(secret: SigningSecret) -> Self {
        Self {
            macs: vec![secret.into_keyed_mac()],
            tolerance_secs: DEFAULT_TOLERANCE.as_secs(),
        }
    }

    /// A verifier accepting any of `secrets`, for a receiver in the middle of
    /// a rotation.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if `secrets` is empty.
    pub fn with_secrets(secrets: impl IntoIterator<Item = SigningSecret>) -> Result<Self, Error> {
        let macs: Vec<KeyedMac> = secrets
            .into_iter()
            .map(SigningSecret::into_keyed_mac)
            .collect();
        if macs.is_empty() {
            return Err(Error::invalid(
                "secrets",
                "a verifier needs at least one secret",
            ));
        }
        Ok(Self {
            macs,
            tolerance_secs: DEFAULT_TOLERANCE.as_secs(),
        })
    }

    /// Sets how far, in either direction, a timestamp may be from the clock.
    /// Sub-second parts are ignored.
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance_secs = tolerance.as_secs();
        self
    }

    /// Verifies a request's headers and raw body against the system clock.
    ///
    /// Reads `webhook-id`, `webhook-timestamp` and `webhook-signature`, or
    /// Svix's `svix-*` names when those are absent.
    ///
    /// # Errors
    /// A [`VerifyError`] saying why the request must be rejected.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        self.verify_at(headers, body, unix_now())
    }

    /// [`Verifier::verify`] against `now_unix_secs` instead of the system
    /// clock, for tests and replays of recorded requests.
    ///
    /// # Errors
    /// A [`VerifyError`] saying why the request must be rejected.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), VerifyError> {
        let [id, timestamp, signatures] = HeaderValues::read(headers)?;
        // Unlike a `&str`, a header value may hold bytes outside visible
        // ASCII. No sender of ours issues such an id, and one that matched
        // was signed with the secret anyway; so the id is only looked at once
        // verification failed, to name the real problem, which keeps the
        // check off the path of every valid request.
        self.verify_bytes([id, timestamp, signatures], body, now_unix_secs)
            .map_err(|e| {
                if id.iter().all(|b| (b' '..=b'~').contains(b)) {
                    e
                } else {
                    VerifyError::MalformedHeader {
                        header: WEBHOOK_ID,
                        reason: "not visible ASCII",
                    }
                }
            })
    }

    /// Verifies the three header values given as strings, for frameworks
    /// without [`http::HeaderMap`], against the system clock.
    ///
    /// # Errors
    /// A [`VerifyError`] saying why the request must be rejected.
    pub fn verify_parts(
        &self,
        msg_id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        self.verify_parts_at(msg_id, timestamp, signatures, body, unix_now())
    }

    /// [`Verifier::verify_parts`] against `now_unix_secs`.
    ///
    /// # Errors
    /// A [`VerifyError`] saying why the request must be rejected.
    pub fn verify_parts_at(
        &self,
        msg_id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), VerifyError> {
        let parts = [msg_id, timestamp, signatures].map(str::as_bytes);
        self.verify_bytes(parts, body, now_unix_secs)
    }

    /// The check itself, on raw header bytes: the MAC and the parsers only
    /// need bytes, so header values are never validated as text first.
    fn verify_bytes(
        &self,
        [msg_id, timestamp, signatures]: [&[u8]; 3],
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<(), VerifyError> {
        if msg_id.is_empty() {
            return Err(VerifyError::MissingHeader(WEBHOOK_ID));
        }
        if signatures.iter().all(|&b| b == b' ') {
            return Err(VerifyError::MissingHeader(WEBHOOK_SIGNATURE));
        }
        self.check_timestamp(parse_timestamp(timestamp)?, now_unix_secs)?;
        let mut malformed = None;
        for mac in &self.macs {
            let expected = mac.tag(msg_id, timestamp, body);
            for entry in signatures.split(|&b| b == b' ').filter(|e| !e.is_empty()) {
                match parse_entry(entry) {
                    Ok(Some(candidate)) if bool::from(candidate.ct_eq(&expected)) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => malformed = malformed.or(Some(e)),
                }
            }
        }
        Err(malformed.unwrap_or(VerifyError::NoMatchingSignature))
    }

    fn check_timestamp(&self, timestamp: i64, now: i64) -> Result<(), VerifyError> {
        // i128 so that no pair of i64 values can overflow the difference.
        let age = i128::from(now) - i128::from(timestamp);
        let tolerance = i128::from(self.tolerance_secs);
        let saturate = |secs: i128| u64::try_from(secs).unwrap_or(u64::MAX);
        if age > tolerance {
            Err(VerifyError::TimestampTooOld {
                age_secs: saturate(age),
                tolerance_secs: self.tolerance_secs,
            })
        } else if -age > tolerance {
            Err(VerifyError::TimestampTooNew {
                ahead_secs: saturate(-age),
                tolerance_secs: self.tolerance_secs,
            })
        } else {
            Ok(())
        }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &format_args!("<{} redacted>", self.macs.len()))
            .field("tolerance_secs", &self.tolerance_secs)
            .finish()
    }
}

/// The first value of each of the three headers, under either naming.
///
/// One pass over the map compares names by length and bytes, which costs
/// less than the three to six hashed lookups `HeaderMap::get` would make:
/// at small bodies those lookups were a fifth of the whole verification.
#[derive(Default)]
struct HeaderValues<'h> {
    standard: [Option<&'h [u8]>; 3],
    svix: [Option<&'h [u8]>; 3],
}

impl<'h> HeaderValues<'h> {
    fn read(headers: &'h HeaderMap) -> Result<[&'h [u8]; 3], VerifyError> {
        let mut found = Self::default();
        for (name, value) in headers {
            let (slots, index) = match name.as_str() {
                WEBHOOK_ID => (&mut found.standard, 0),
                WEBHOOK_TIMESTAMP => (&mut found.standard, 1),
                WEBHOOK_SIGNATURE => (&mut found.standard, 2),
                SVIX_ID => (&mut found.svix, 0),
                SVIX_TIMESTAMP => (&mut found.svix, 1),
                SVIX_SIGNATURE => (&mut found.svix, 2),
                _ => continue,
            };
            // `get` semantics: the first value of a repeated header counts.
            slots[index].get_or_insert(value.as_bytes());
        }
        let pick = |index: usize, name: &'static str| {
            found.standard[index]
                .or(found.svix[index])
                .ok_or(VerifyError::MissingHeader(name))
        };
        Ok([
            pick(0, WEBHOOK_ID)?,
            pick(1, WEBHOOK_TIMESTAMP)?,
            pick(2, WEBHOOK_SIGNATURE)?,
        ])
    }
}

/// Whole non-negative seconds: digits only, so `+5`, `1.5` and `1e9` are
/// rejected rather than read loosely.
fn parse_timestamp(text: &[u8]) -> Result<i64, VerifyError> {
    if text.is_empty() {
        return Err(VerifyError::MissingHeader(WEBHOOK_TIMESTAMP));
    }
    text.iter().try_fold(0i64, |value, &b| {
        let digit = b.is_ascii_digit().then(|| i64::from(b - b'0'));
        value
            .checked_mul(10)
            .zip(digit)
            .and_then(|(value, digit)| value.checked_add(digit))
            .ok_or(VerifyError::MalformedTimestamp)
    })
}

/// One `version,base64` entry: the tag of a `v1` entry, `None` for another
/// version (which this verifier does not understand and so ignores).
fn parse_entry(entry: &[u8]) -> Result<Option<[u8; TAG_LEN]>, VerifyError> {
    let malformed = |reason| VerifyError::MalformedHeader {
        header: WEBHOOK_SIGNATURE,
        reason,
    };
    let comma = entry
        .iter()
        .position(|&b| b == b',')
        .ok_or_else(|| malformed("an entry lacks the `version,` prefix"))?;
    let (version, encoded) = (&entry[..comma], &entry[comma + 1..]);
    if version != SIGNATURE_VERSION.as_bytes() {
        return Ok(None);
    }
    // 32 bytes are 43 base64 characters, 44 with padding.
    if !(43..=44).contains(&encoded.len()) {
        return Err(malformed("a v1 signature is not 32 bytes of base64"));
    }
    let mut tag = [0; 33];
    match BASE64.decode_slice(encoded, &mut tag) {
        Ok(TAG_LEN) => {
            let mut out = [0; TAG_LEN];
            out.copy_from_slice(&tag[..TAG_LEN]);
            Ok(Some(out))
        }
        Ok(_) => Err(malformed("a v1 signature is not 32 bytes of base64")),
        Err(_) => Err(malformed("a v1 signature is not valid base64")),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
