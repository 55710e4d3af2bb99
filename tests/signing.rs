#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Standard Webhooks signing and verification: known-answer vectors, an
//! independent HMAC computation, `sign_all`, malformed input and properties.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use hookshot::signature::{
    self, SVIX_ID, SVIX_SIGNATURE, SVIX_TIMESTAMP, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
};
use hookshot::{Error, MAX_KEY_LEN, MIN_KEY_LEN, SigningSecret, Verifier, VerifyError};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use sha2::Sha256;

// ---------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------

/// The example from the Standard Webhooks specification.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TS: i64 = 1_614_265_330;
const SPEC_TS_TEXT: &str = "1614265330";
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// The default tolerance, in seconds.
const TOLERANCE: i64 = 300;

const WEBHOOK_NAMES: [&str; 3] = [WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE];
const SVIX_NAMES: [&str; 3] = [SVIX_ID, SVIX_TIMESTAMP, SVIX_SIGNATURE];

/// A header value that is valid in HTTP but not visible ASCII.
const NON_ASCII: &[u8] = "caf\u{e9}".as_bytes();

fn spec_secret() -> SigningSecret {
    SPEC_SECRET.parse().unwrap()
}

fn spec_verifier() -> Verifier {
    Verifier::new(spec_secret())
}

/// A deterministic secret of `len` bytes; different seeds give different keys.
fn keyed(len: usize, seed: u8) -> SigningSecret {
    let key: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    SigningSecret::from_bytes(key).unwrap()
}

/// Verifies with the timestamp given as a number, as a sender would send it.
fn check(
    verifier: &Verifier,
    msg_id: &str,
    timestamp: i64,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    verifier.verify_parts_at(msg_id, &timestamp.to_string(), signatures, body, now)
}

/// Verifies the specification's message with `verifier`, as signed, at `now`.
fn check_spec_at(verifier: &Verifier, now: i64) -> Result<(), VerifyError> {
    verifier.verify_parts_at(SPEC_ID, SPEC_TS_TEXT, SPEC_SIGNATURE, SPEC_BODY, now)
}

/// Verifies the specification's message with one part replaced.
fn check_spec_parts(msg_id: &str, timestamp: &str, signatures: &str) -> Result<(), VerifyError> {
    spec_verifier().verify_parts_at(msg_id, timestamp, signatures, SPEC_BODY, SPEC_TS)
}

/// The specification's message with its signature header replaced, at `now`.
fn check_spec_signatures_at(signatures: &str, now: i64) -> Result<(), VerifyError> {
    spec_verifier().verify_parts_at(SPEC_ID, SPEC_TS_TEXT, signatures, SPEC_BODY, now)
}

/// A header map holding each `(name, value)` pair.
fn header_map(entries: &[(&'static str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in entries {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    map
}

/// The specification's headers under `names` (id, timestamp, signature).
fn spec_header_entries(names: [&'static str; 3]) -> Vec<(&'static str, &'static [u8])> {
    let values = [
        SPEC_ID.as_bytes(),
        SPEC_TS_TEXT.as_bytes(),
        SPEC_SIGNATURE.as_bytes(),
    ];
    names.into_iter().zip(values).collect()
}

fn check_spec_headers(entries: &[(&'static str, &[u8])]) -> Result<(), VerifyError> {
    spec_verifier().verify_at(&header_map(entries), SPEC_BODY, SPEC_TS)
}

/// The signature computed by hand from the specification's definition: HMAC-SHA256
/// keyed with the raw key over the single buffer `"{id}.{ts}.{payload}"`.
fn hand_signature(key: &[u8], msg_id: &str, timestamp: &str, payload: &[u8]) -> String {
    let mut signed = Vec::with_capacity(msg_id.len() + timestamp.len() + payload.len() + 2);
    signed.extend_from_slice(msg_id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(payload);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(&signed);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

fn too_old(age_secs: u64, tolerance_secs: u64) -> Result<(), VerifyError> {
    Err(VerifyError::TimestampTooOld {
        age_secs,
        tolerance_secs,
    })
}

fn too_new(ahead_secs: u64, tolerance_secs: u64) -> Result<(), VerifyError> {
    Err(VerifyError::TimestampTooNew {
        ahead_secs,
        tolerance_secs,
    })
}

#[track_caller]
fn assert_invalid_input<T: std::fmt::Debug>(result: Result<T, Error>, expected_field: &str) {
    match result {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, expected_field);
            assert!(!reason.is_empty());
        }
        other => panic!("expected InvalidInput for {expected_field}, got {other:?}"),
    }
}

#[track_caller]
fn assert_malformed(result: Result<(), VerifyError>, expected_header: &str) {
    match result {
        Err(VerifyError::MalformedHeader { header, reason }) => {
            assert_eq!(header, expected_header);
            assert!(!reason.is_empty());
        }
        other => panic!("expected MalformedHeader for {expected_header}, got {other:?}"),
    }
}

#[track_caller]
fn assert_display_mentions(result: Result<(), VerifyError>, words: &[&str]) {
    let text = result.unwrap_err().to_string();
    assert!(!text.is_empty());
    for word in words {
        assert!(text.contains(word), "{text:?} should mention {word:?}");
    }
}

// ---------------------------------------------------------------------------
// 1. Vectors
// ---------------------------------------------------------------------------

#[test]
fn spec_vector_signs() {
    let secret = spec_secret();
    assert_eq!(secret.sign(SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIGNATURE);
    assert_eq!(
        signature::sign_all([&secret], SPEC_ID, SPEC_TS, SPEC_BODY),
        SPEC_SIGNATURE
    );
}

#[test]
fn spec_vector_verifies_with_parts() {
    assert_eq!(check_spec_at(&spec_verifier(), SPEC_TS), Ok(()));
}

#[test]
fn spec_vector_verifies_with_webhook_headers() {
    assert_eq!(
        check_spec_headers(&spec_header_entries(WEBHOOK_NAMES)),
        Ok(())
    );
}

#[test]
fn spec_vector_verifies_with_svix_headers() {
    assert_eq!(check_spec_headers(&spec_header_entries(SVIX_NAMES)), Ok(()));
}

#[test]
fn webhook_headers_take_precedence_over_svix_headers() {
    let mut entries = spec_header_entries(WEBHOOK_NAMES);
    entries.push((SVIX_ID, b"msg_other"));
    assert_eq!(check_spec_headers(&entries), Ok(()));

    let mut entries = spec_header_entries(SVIX_NAMES);
    entries.push((WEBHOOK_ID, b"msg_other"));
    assert_eq!(
        check_spec_headers(&entries),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[derive(Clone, Copy, Debug)]
enum Payload {
    Empty,
    Unicode,
    Big,
    NonUtf8,
}

impl Payload {
    fn bytes(self) -> Vec<u8> {
        match self {
            Self::Empty => Vec::new(),
            Self::Unicode => "{\"name\": \"Zo\u{eb} \u{65e5}\u{672c}\u{8a9e} \u{1f680}\"}"
                .as_bytes()
                .to_vec(),
            Self::Big => (0..65_536u32).map(|i| (i % 251) as u8).collect(),
            Self::NonUtf8 => vec![0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, b'{'],
        }
    }
}

const PAYLOADS: [Payload; 4] = [
    Payload::Empty,
    Payload::Unicode,
    Payload::Big,
    Payload::NonUtf8,
];
const ID_UNICODE: &str = "msg_\u{fc}n\u{ef}code";
const VECTOR_TS: i64 = 1_700_000_000;

/// Known answers, computed with Python's `hmac` module, for one secret and
/// id signed at [`VECTOR_TS`] over each of [`PAYLOADS`] in order.
struct KeyVectors {
    secret: &'static str,
    key_len: usize,
    msg_id: &'static str,
    signatures: [&'static str; 4],
}

const VECTORS: [KeyVectors; 3] = [
    KeyVectors {
        secret: "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
        key_len: 24,
        msg_id: "msg_empty",
        signatures: [
            "v1,40wnwbYWAthDdtxLpXvGtDYqwozxys0+Cy7GtvX9AtU=",
            "v1,wwBRu3tgXmDDtFfhhiHJBm0eFOPw+G4V/dCffpzvx8w=",
            "v1,Y39XG+2ivEgPh/rpWdjldrHD6EjRdB5eULK9oBVoAPA=",
            "v1,CO9TreUm6txdOYlcX6SdkrHb17YkjPog0qoWtnYKkqU=",
        ],
    },
    KeyVectors {
        secret: "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=",
        key_len: 32,
        msg_id: ID_UNICODE,
        signatures: [
            "v1,6KJotOPh3b9Zd0++MHgKsRKl6wKt3vRN/Zp1RM56znM=",
            "v1,r1gn0ixMhGUaivgwfe9+cxLsTVBdECWaSurCQCihJf4=",
            "v1,yPjFTYM8mUT29JFDIZN+RjTf8fuOI4y7V/KL6X0Ogbg=",
            "v1,UYvzO0BQh6Khn5UMCnxITAMfUflfGfjkoWN3sF/uzrY=",
        ],
    },
    KeyVectors {
        secret: concat!(
            "whsec_AwoRGB8mLTQ7QklQV15lbHN6gYiPlp2kq7K5wMfO1dzj6vH4",
            "/wYNFBsiKTA3PkVMU1phaG92fYSLkpmgp661vA=="
        ),
        key_len: 64,
        msg_id: "msg_2",
        signatures: [
            "v1,/sDjOuGZnoi0qpk2SiV2X2kPnrljsHfIUO/yO4SVdL8=",
            "v1,+31mKQSfx24qINLtA1rNfYk4Ag5cvt01/4MRzTzKDW4=",
            "v1,72rFrpzZWh5Ebec0/NsgXhxmBpJOW0L9EVSOSrM92as=",
            "v1,LHlAaRjdXqzvvzF/zi2OQ9UnTm6wN/FT7uRrRo7iz8M=",
        ],
    },
];

#[test]
fn vector_payloads_are_what_they_claim() {
    assert!(Payload::Empty.bytes().is_empty());
    assert!(!Payload::Unicode.bytes().is_ascii());
    assert!(std::str::from_utf8(&Payload::Unicode.bytes()).is_ok());
    assert_eq!(Payload::Big.bytes().len(), 64 * 1024);
    assert!(std::str::from_utf8(&Payload::NonUtf8.bytes()).is_err());
}

#[test]
fn own_vectors_sign_and_verify() {
    for vectors in &VECTORS {
        let secret: SigningSecret = vectors.secret.parse().unwrap();
        assert_eq!(secret.as_bytes().len(), vectors.key_len);
        assert_eq!(secret.expose(), vectors.secret);
        let verifier = Verifier::new(secret.clone());
        for (payload, expected) in PAYLOADS.into_iter().zip(vectors.signatures) {
            let context = format!("{}-byte key, {payload:?}", vectors.key_len);
            let body = payload.bytes();
            let signature = secret.sign(vectors.msg_id, VECTOR_TS, &body);
            assert_eq!(signature, expected, "{context}");
            let result = check(
                &verifier,
                vectors.msg_id,
                VECTOR_TS,
                expected,
                &body,
                VECTOR_TS,
            );
            assert_eq!(result, Ok(()), "{context}");
        }
    }
}

#[test]
fn key_lengths_outside_24_to_64_bytes_are_rejected() {
    assert_eq!((MIN_KEY_LEN, MAX_KEY_LEN), (24, 64));
    for len in [MIN_KEY_LEN, 32, MAX_KEY_LEN] {
        let key = vec![0x5a; len];
        assert!(SigningSecret::from_bytes(key.clone()).is_ok(), "{len}");
        let text = format!("whsec_{}", STANDARD.encode(&key));
        assert!(text.parse::<SigningSecret>().is_ok(), "{len}");
    }
    for len in [0, MIN_KEY_LEN - 1, MAX_KEY_LEN + 1, 128] {
        let key = vec![0x5a; len];
        assert_invalid_input(SigningSecret::from_bytes(key.clone()), "signing_secret");
        let text = format!("whsec_{}", STANDARD.encode(&key));
        assert_invalid_input(text.parse::<SigningSecret>(), "signing_secret");
    }
}

#[test]
fn one_matching_signature_among_several_is_accepted_in_any_position() {
    let secret = keyed(32, 1);
    let (msg_id, body) = ("msg_multi", b"{\"a\":1}");
    let good = secret.sign(msg_id, VECTOR_TS, body);
    let decoys = [
        keyed(32, 2).sign(msg_id, VECTOR_TS, body),
        format!("v2,{}", STANDARD.encode([9u8; 64])),
        keyed(24, 3).sign(msg_id, VECTOR_TS, body),
        format!("v1a,{}", &good[3..]),
    ];
    let verifier = Verifier::new(secret);
    for position in 0..=decoys.len() {
        let mut entries = decoys.to_vec();
        entries.insert(position, good.clone());
        let header = entries.join(" ");
        assert_eq!(
            check(&verifier, msg_id, VECTOR_TS, &header, body, VECTOR_TS),
            Ok(()),
            "{header}"
        );
    }
    let only_decoys = decoys.join(" ");
    assert_eq!(
        check(&verifier, msg_id, VECTOR_TS, &only_decoys, body, VECTOR_TS),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn a_malformed_entry_does_not_hide_a_matching_one() {
    for header in [
        format!("garbage {SPEC_SIGNATURE}"),
        format!("{SPEC_SIGNATURE} v1,!!!"),
        format!("  {SPEC_SIGNATURE}  "),
    ] {
        assert_eq!(
            check_spec_parts(SPEC_ID, SPEC_TS_TEXT, &header),
            Ok(()),
            "{header}"
        );
    }
}

#[test]
fn only_unknown_versions_match_nothing() {
    let unknown = format!("v2,{}", &SPEC_SIGNATURE[3..]);
    assert_eq!(
        check_spec_parts(SPEC_ID, SPEC_TS_TEXT, &unknown),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn with_secrets_accepts_a_message_signed_by_any_of_them() {
    let (first, second, stranger) = (keyed(32, 1), keyed(64, 2), keyed(32, 3));
    let verifier = Verifier::with_secrets([first.clone(), second.clone()]).unwrap();
    let (msg_id, body) = ("msg_rotation", b"rotate");
    for signer in [&first, &second] {
        let header = signer.sign(msg_id, VECTOR_TS, body);
        assert_eq!(
            check(&verifier, msg_id, VECTOR_TS, &header, body, VECTOR_TS),
            Ok(())
        );
    }
    let header = stranger.sign(msg_id, VECTOR_TS, body);
    assert_eq!(
        check(&verifier, msg_id, VECTOR_TS, &header, body, VECTOR_TS),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn with_secrets_rejects_an_empty_list() {
    assert_invalid_input(Verifier::with_secrets(Vec::new()), "secrets");
    let error = Verifier::with_secrets(std::iter::empty()).unwrap_err();
    assert!(error.to_string().contains("secrets"), "{error}");
}

#[test]
fn tampered_payload_id_or_timestamp_match_nothing() {
    let verifier = spec_verifier();
    let mut body = SPEC_BODY.to_vec();
    body[2] ^= 1;
    let cases: [(&str, &str, &[u8]); 5] = [
        (SPEC_ID, SPEC_TS_TEXT, &body),
        (SPEC_ID, SPEC_TS_TEXT, br#"{"test": 2432232314} "#),
        ("msg_p5jXN8AQM9LWM0D4loKWxJeK", SPEC_TS_TEXT, SPEC_BODY),
        (SPEC_ID, "1614265331", SPEC_BODY),
        // Same number, different text: the header is signed as sent.
        (SPEC_ID, "01614265330", SPEC_BODY),
    ];
    for (msg_id, timestamp, body) in cases {
        assert_eq!(
            verifier.verify_parts_at(msg_id, timestamp, SPEC_SIGNATURE, body, SPEC_TS),
            Err(VerifyError::NoMatchingSignature),
            "{msg_id} {timestamp}"
        );
    }
}

#[test]
fn a_wrong_secret_matches_nothing() {
    let verifier = Verifier::new(keyed(32, 7));
    assert_eq!(
        check_spec_at(&verifier, SPEC_TS),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn default_tolerance_is_inclusive_300_seconds() {
    let verifier = spec_verifier();
    for age in [0, 1, -1, TOLERANCE, -TOLERANCE] {
        assert_eq!(check_spec_at(&verifier, SPEC_TS + age), Ok(()), "{age}");
    }
    assert_eq!(check_spec_at(&verifier, SPEC_TS + 301), too_old(301, 300));
    assert_eq!(check_spec_at(&verifier, SPEC_TS - 301), too_new(301, 300));
    assert_eq!(
        check_spec_at(&verifier, SPEC_TS + 86_400),
        too_old(86_400, 300)
    );
}

#[test]
fn extreme_clocks_saturate_instead_of_overflowing() {
    let verifier = spec_verifier();
    let ts = SPEC_TS.unsigned_abs();
    assert_eq!(
        check_spec_at(&verifier, i64::MAX),
        too_old(i64::MAX.unsigned_abs() - ts, 300)
    );
    assert_eq!(
        check_spec_at(&verifier, i64::MIN),
        too_new(i64::MIN.unsigned_abs() + ts, 300)
    );
    let huge = spec_verifier().tolerance(Duration::MAX);
    for now in [i64::MIN, -1, 0, i64::MAX] {
        assert_eq!(check_spec_at(&huge, now), Ok(()), "{now}");
    }
}

#[test]
fn tolerance_changes_the_window() {
    let ten = spec_verifier().tolerance(Duration::from_secs(10));
    assert_eq!(check_spec_at(&ten, SPEC_TS + 10), Ok(()));
    assert_eq!(check_spec_at(&ten, SPEC_TS - 10), Ok(()));
    assert_eq!(check_spec_at(&ten, SPEC_TS + 11), too_old(11, 10));
    assert_eq!(check_spec_at(&ten, SPEC_TS - 11), too_new(11, 10));

    let sub_second = spec_verifier().tolerance(Duration::from_millis(10_999));
    assert_eq!(check_spec_at(&sub_second, SPEC_TS + 11), too_old(11, 10));

    let hour = spec_verifier().tolerance(Duration::from_secs(3600));
    assert_eq!(check_spec_at(&hour, SPEC_TS + 301), Ok(()));
    assert_eq!(check_spec_at(&hour, SPEC_TS - 3600), Ok(()));
    assert_eq!(check_spec_at(&hour, SPEC_TS + 3601), too_old(3601, 3600));

    let zero = spec_verifier().tolerance(Duration::ZERO);
    assert_eq!(check_spec_at(&zero, SPEC_TS), Ok(()));
    assert_eq!(check_spec_at(&zero, SPEC_TS + 1), too_old(1, 0));
    assert_eq!(check_spec_at(&zero, SPEC_TS - 1), too_new(1, 0));
}

#[test]
fn verify_and_verify_parts_use_the_system_clock() {
    let secret = keyed(32, 4);
    let verifier = Verifier::new(secret.clone());
    let (msg_id, body) = ("msg_now", b"now");
    let now = unix_now();
    let header = secret.sign(msg_id, now, body);
    let ts = now.to_string();
    assert_eq!(verifier.verify_parts(msg_id, &ts, &header, body), Ok(()));
    let headers = header_map(&[
        (WEBHOOK_ID, msg_id.as_bytes()),
        (WEBHOOK_TIMESTAMP, ts.as_bytes()),
        (WEBHOOK_SIGNATURE, header.as_bytes()),
    ]);
    assert_eq!(verifier.verify(&headers, body), Ok(()));
    assert_eq!(
        spec_verifier().verify_parts(SPEC_ID, SPEC_TS_TEXT, SPEC_SIGNATURE, SPEC_BODY),
        too_old((now - SPEC_TS).unsigned_abs(), 300)
    );
}

#[test]
fn malformed_signature_entries_are_reported_as_malformed() {
    let encoded = &SPEC_SIGNATURE[3..];
    let cases = [
        format!("v1{encoded}"),
        "v1".to_owned(),
        SPEC_SIGNATURE[..SPEC_SIGNATURE.len() - 2].to_owned(),
        SPEC_SIGNATURE[..20].to_owned(),
        "v1,".to_owned(),
        format!("{SPEC_SIGNATURE}AAAA"),
        format!("v1,{}", "*".repeat(44)),
        format!("v1,!{}", &encoded[1..]),
        // 44 unpadded characters decode to 33 bytes.
        format!("v1,{}A", encoded.trim_end_matches('=')),
        format!("v1,{}", STANDARD.encode([7u8; 31])),
    ];
    for header in &cases {
        assert_malformed(
            check_spec_parts(SPEC_ID, SPEC_TS_TEXT, header),
            WEBHOOK_SIGNATURE,
        );
    }
}

#[test]
fn malformed_timestamps_are_rejected() {
    for timestamp in [
        "abc",
        "1614265330.5",
        "1614265330.0",
        "+5",
        "+1614265330",
        "-5",
        "-1614265330",
        " 1614265330",
        "1614265330 ",
        "1e9",
        "0x60375f72",
        "99999999999999999999",
        "9223372036854775808",
        "\u{661}\u{662}\u{663}",
    ] {
        assert_eq!(
            check_spec_parts(SPEC_ID, timestamp, SPEC_SIGNATURE),
            Err(VerifyError::MalformedTimestamp),
            "{timestamp:?}"
        );
    }
    assert_eq!(
        check_spec_parts(SPEC_ID, "", SPEC_SIGNATURE),
        Err(VerifyError::MissingHeader(WEBHOOK_TIMESTAMP))
    );
}

#[test]
fn empty_parts_are_missing_headers() {
    assert_eq!(
        check_spec_parts("", SPEC_TS_TEXT, SPEC_SIGNATURE),
        Err(VerifyError::MissingHeader(WEBHOOK_ID))
    );
    assert_eq!(
        check_spec_parts(SPEC_ID, SPEC_TS_TEXT, ""),
        Err(VerifyError::MissingHeader(WEBHOOK_SIGNATURE))
    );
}

/// Calls `check` with the specification's header entries and the index of the
/// one to alter, for each of the three headers under both naming schemes.
fn for_each_header(mut check: impl FnMut(Vec<(&'static str, &'static [u8])>, usize)) {
    for names in [WEBHOOK_NAMES, SVIX_NAMES] {
        for index in 0..3 {
            check(spec_header_entries(names), index);
        }
    }
}

#[test]
fn absent_headers_are_missing() {
    for_each_header(|mut entries, index| {
        entries.remove(index);
        assert_eq!(
            check_spec_headers(&entries),
            Err(VerifyError::MissingHeader(WEBHOOK_NAMES[index]))
        );
    });
}

#[test]
fn empty_headers_are_missing() {
    for_each_header(|mut entries, index| {
        entries[index].1 = b"";
        assert_eq!(
            check_spec_headers(&entries),
            Err(VerifyError::MissingHeader(WEBHOOK_NAMES[index]))
        );
    });
}

#[test]
fn non_ascii_headers_are_malformed() {
    for_each_header(|mut entries, index| {
        entries[index].1 = NON_ASCII;
        let result = check_spec_headers(&entries);
        if WEBHOOK_NAMES[index] == WEBHOOK_TIMESTAMP {
            assert_eq!(result, Err(VerifyError::MalformedTimestamp));
        } else {
            assert_malformed(result, WEBHOOK_NAMES[index]);
        }
    });
}

#[test]
fn error_messages_name_the_problem() {
    let mut without_timestamp = spec_header_entries(WEBHOOK_NAMES);
    without_timestamp.remove(1);
    let mut non_ascii_id = spec_header_entries(WEBHOOK_NAMES);
    non_ascii_id[0].1 = NON_ASCII;
    let verifier = spec_verifier();
    let cases: [(Result<(), VerifyError>, &[&str]); 9] = [
        (
            check_spec_parts("", SPEC_TS_TEXT, SPEC_SIGNATURE),
            &["missing", WEBHOOK_ID],
        ),
        (
            check_spec_headers(&without_timestamp),
            &["missing", WEBHOOK_TIMESTAMP],
        ),
        (
            check_spec_parts(SPEC_ID, SPEC_TS_TEXT, ""),
            &["missing", WEBHOOK_SIGNATURE],
        ),
        (
            check_spec_parts(SPEC_ID, SPEC_TS_TEXT, "v1"),
            &["malformed", WEBHOOK_SIGNATURE],
        ),
        (
            check_spec_headers(&non_ascii_id),
            &["malformed", WEBHOOK_ID],
        ),
        (
            check_spec_parts(SPEC_ID, "1.5", SPEC_SIGNATURE),
            &["malformed", WEBHOOK_TIMESTAMP],
        ),
        (
            check_spec_at(&verifier, SPEC_TS + 301),
            &["too old", "301", "300"],
        ),
        (
            check_spec_at(&verifier, SPEC_TS - 302),
            &["too new", "302", "300"],
        ),
        (
            check_spec_parts(SPEC_ID, SPEC_TS_TEXT, "v2,x"),
            &["no matching signature"],
        ),
    ];
    for (result, words) in cases {
        assert_display_mentions(result, words);
    }
}

// ---------------------------------------------------------------------------
// 2. Independent HMAC computation
// ---------------------------------------------------------------------------

#[test]
fn hand_computed_hmac_reproduces_the_spec_vector() {
    let key = spec_secret().as_bytes().to_vec();
    assert_eq!(
        hand_signature(&key, SPEC_ID, SPEC_TS_TEXT, SPEC_BODY),
        SPEC_SIGNATURE
    );
}

#[test]
fn sign_matches_a_hand_computed_hmac_both_ways() {
    let big = Payload::Big.bytes();
    let cases: [(SigningSecret, &str, i64, &[u8]); 8] = [
        (keyed(24, 1), "msg_1", 0, b""),
        (keyed(32, 2), "msg.with.dots", 1_700_000_000, b"a.b.c"),
        (keyed(64, 3), ID_UNICODE, 4_102_444_800, &big),
        (keyed(32, 4), "", 1, b"{}"),
        (keyed(32, 5), "msg_neg", -1, b"x"),
        (keyed(32, 6), "msg_max", i64::MAX, b"\xff\x00"),
        (keyed(32, 7), "msg_min", i64::MIN, b"y"),
        (spec_secret(), SPEC_ID, SPEC_TS, SPEC_BODY),
    ];
    for (secret, msg_id, timestamp, payload) in cases {
        let by_hand = hand_signature(secret.as_bytes(), msg_id, &timestamp.to_string(), payload);
        assert_eq!(
            secret.sign(msg_id, timestamp, payload),
            by_hand,
            "{msg_id} {timestamp}"
        );
        if timestamp >= 0 && !msg_id.is_empty() {
            let verifier = Verifier::new(secret);
            assert_eq!(
                check(&verifier, msg_id, timestamp, &by_hand, payload, timestamp),
                Ok(()),
                "{msg_id} {timestamp}"
            );
        }
    }
}

#[test]
fn hand_computed_hmac_with_another_key_is_rejected() {
    let key = keyed(32, 9).as_bytes().to_vec();
    let header = hand_signature(&key, SPEC_ID, SPEC_TS_TEXT, SPEC_BODY);
    assert_eq!(
        check_spec_parts(SPEC_ID, SPEC_TS_TEXT, &header),
        Err(VerifyError::NoMatchingSignature)
    );
}

// ---------------------------------------------------------------------------
// 3. sign_all
// ---------------------------------------------------------------------------

#[test]
fn sign_all_lists_one_signature_per_secret_in_order() {
    let secrets = [keyed(32, 1), keyed(24, 2), keyed(64, 3), keyed(32, 1)];
    let (msg_id, body) = ("msg_all", b"{\"all\":true}");
    let header = signature::sign_all(&secrets, msg_id, VECTOR_TS, body);
    let expected: Vec<String> = secrets
        .iter()
        .map(|secret| secret.sign(msg_id, VECTOR_TS, body))
        .collect();
    assert_eq!(header, expected.join(" "));
    assert_eq!(header.split(' ').collect::<Vec<_>>(), expected);
    assert_eq!(header.matches(' ').count(), secrets.len() - 1);
    assert!(!header.contains("  ") && header.trim() == header);
    for secret in &secrets {
        let verifier = Verifier::new(secret.clone());
        assert_eq!(
            check(&verifier, msg_id, VECTOR_TS, &header, body, VECTOR_TS),
            Ok(())
        );
    }
}

#[test]
fn sign_all_of_one_or_no_secret() {
    let one = keyed(32, 1);
    assert_eq!(
        signature::sign_all([&one], "msg", 5, b"x"),
        one.sign("msg", 5, b"x")
    );
    assert_eq!(signature::sign_all([], "msg", 5, b"x"), "");
}

// ---------------------------------------------------------------------------
// 4. Properties
// ---------------------------------------------------------------------------

const ID_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
const BASE64_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
const DIGITS: &str = "0123456789";
const PIECES: &[&str] = &[
    "v1,",
    "v2,",
    "v1",
    ",",
    " ",
    "  ",
    "=",
    "==",
    "+",
    "-",
    ".",
    "0",
    "1614265330",
    "99999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "whsec_",
    "\u{0}",
    "\t",
    "\u{e9}",
    "\u{1f680}",
    SPEC_SIGNATURE,
];

/// A string of `len` characters drawn from `alphabet`.
fn string_from(alphabet: &str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    prop::collection::vec(prop::sample::select(chars), len).prop_map(String::from_iter)
}

fn id_strategy() -> impl Strategy<Value = String> {
    string_from(ID_ALPHABET, 1..40)
}

fn key_strategy() -> impl Strategy<Value = SigningSecret> {
    prop::collection::vec(any::<u8>(), MIN_KEY_LEN..=MAX_KEY_LEN)
        .prop_map(|key| SigningSecret::from_bytes(key).unwrap())
}

fn payload_strategy(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), len)
}

fn fuzz_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(PIECES).prop_map(str::to_owned),
        string_from(BASE64_ALPHABET, 0..48),
        (
            prop::sample::select(&["v1,", "v2,", "v1,="][..]),
            string_from(BASE64_ALPHABET, 42..46)
        )
            .prop_map(|(version, encoded)| format!("{version}{encoded}")),
        string_from(DIGITS, 1..24),
        any::<char>().prop_map(String::from),
    ]
}

/// Strings made of pieces that exercise the parsers' edge cases, or anything.
fn fuzz_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(fuzz_piece(), 0..8).prop_map(|pieces| pieces.concat()),
        1 => any::<String>(),
    ]
}

/// Either the specification's `valid` value or a fuzzed string.
fn part(valid: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![Just(valid.to_owned()), fuzz_string()]
}

/// The specification's body or arbitrary bytes.
fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![Just(SPEC_BODY.to_vec()), payload_strategy(0..64)]
}

/// An absent header, or the specification's `valid` value, a fuzzed string or
/// arbitrary bytes.
fn header_value(valid: &'static str) -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::weighted(
        0.9,
        prop_oneof![
            3 => part(valid).prop_map(String::into_bytes),
            1 => payload_strategy(0..64),
        ],
    )
}

/// Clocks near the specification's timestamp, where signatures get checked,
/// and extreme ones.
fn now_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => SPEC_TS - TOLERANCE..=SPEC_TS + TOLERANCE,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(0i64),
        1 => 0i64..4_000_000_000,
        1 => any::<i64>(),
    ]
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(
        secret in key_strategy(),
        msg_id in id_strategy(),
        timestamp in 0i64..4_000_000_000,
        payload in payload_strategy(0..4096),
        skew in -TOLERANCE..=TOLERANCE,
    ) {
        let header = secret.sign(&msg_id, timestamp, &payload);
        prop_assert_eq!(
            &header,
            &hand_signature(secret.as_bytes(), &msg_id, &timestamp.to_string(), &payload)
        );
        let verifier = Verifier::new(secret);
        prop_assert_eq!(
            check(&verifier, &msg_id, timestamp, &header, &payload, timestamp + skew),
            Ok(())
        );
    }

    #[test]
    fn any_single_byte_change_of_the_payload_is_detected(
        secret in key_strategy(),
        msg_id in id_strategy(),
        timestamp in 0i64..4_000_000_000,
        payload in payload_strategy(1..4096),
        index in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let header = secret.sign(&msg_id, timestamp, &payload);
        let mut tampered = payload;
        let at = index.index(tampered.len());
        tampered[at] ^= mask;
        prop_assert_eq!(
            check(&Verifier::new(secret), &msg_id, timestamp, &header, &tampered, timestamp),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn any_change_of_the_id_is_detected(
        secret in key_strategy(),
        msg_id in id_strategy(),
        other_id in id_strategy(),
        timestamp in 0i64..4_000_000_000,
        payload in payload_strategy(0..256),
    ) {
        prop_assume!(msg_id != other_id);
        let header = secret.sign(&msg_id, timestamp, &payload);
        prop_assert_eq!(
            check(&Verifier::new(secret), &other_id, timestamp, &header, &payload, timestamp),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn any_change_of_the_timestamp_within_tolerance_is_detected(
        secret in key_strategy(),
        msg_id in id_strategy(),
        timestamp in TOLERANCE..4_000_000_000,
        delta in prop_oneof![-TOLERANCE..=-1, 1..=TOLERANCE],
        payload in payload_strategy(0..256),
    ) {
        let header = secret.sign(&msg_id, timestamp, &payload);
        prop_assert_eq!(
            check(&Verifier::new(secret), &msg_id, timestamp + delta, &header, &payload, timestamp),
            Err(VerifyError::NoMatchingSignature)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn a_matching_signature_among_garbage_still_verifies(
        before in fuzz_string(),
        after in fuzz_string(),
        now in SPEC_TS - TOLERANCE..=SPEC_TS + TOLERANCE,
    ) {
        let header = format!("{before} {SPEC_SIGNATURE} {after}");
        prop_assert_eq!(check_spec_signatures_at(&header, now), Ok(()));
    }

    #[test]
    fn verify_parts_at_never_panics_nor_accepts_a_forgery(
        msg_id in part(SPEC_ID),
        timestamp in part(SPEC_TS_TEXT),
        signatures in part(SPEC_SIGNATURE),
        body in body_strategy(),
        now in now_strategy(),
    ) {
        let verifier = spec_verifier();
        let result = verifier.verify_parts_at(&msg_id, &timestamp, &signatures, &body, now);
        if result.is_ok() {
            prop_assert_eq!(msg_id.as_str(), SPEC_ID);
            prop_assert_eq!(timestamp.as_str(), SPEC_TS_TEXT);
            prop_assert_eq!(body.as_slice(), SPEC_BODY);
            prop_assert!(signatures.split(' ').any(|entry| entry == SPEC_SIGNATURE));
        }
    }

    #[test]
    fn verify_at_never_panics_nor_accepts_a_forgery(
        id in header_value(SPEC_ID),
        timestamp in header_value(SPEC_TS_TEXT),
        signatures in header_value(SPEC_SIGNATURE),
        svix in [any::<bool>(), any::<bool>(), any::<bool>()],
        body in body_strategy(),
        now in now_strategy(),
    ) {
        let values = [id, timestamp, signatures];
        let mut headers = HeaderMap::new();
        for index in 0..3 {
            let names = if svix[index] { SVIX_NAMES } else { WEBHOOK_NAMES };
            let value = values[index].as_deref().map(HeaderValue::from_bytes);
            if let Some(Ok(value)) = value {
                headers.insert(HeaderName::from_static(names[index]), value);
            }
        }
        let result = spec_verifier().verify_at(&headers, &body, now);
        if result.is_ok() {
            prop_assert_eq!(values[0].as_deref(), Some(SPEC_ID.as_bytes()));
            prop_assert_eq!(values[1].as_deref(), Some(SPEC_TS_TEXT.as_bytes()));
            prop_assert_eq!(body.as_slice(), SPEC_BODY);
        }
    }
}
