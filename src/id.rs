//! Prefixed, time-ordered, URL-safe identifiers: `ep_…`, `msg_…`, `dlv_…`.
//!
//! After the prefix come 26 characters of lowercase Crockford base32: 48 bits
//! of milliseconds since the epoch, then 80 bits that are random for the first
//! id of a millisecond and counted up after it. Ids therefore sort by creation
//! time, so newest-first listing and cursors follow from the id alone.
//!
//! Ids are shared, not copied: a delivery's id sits in several indexes and
//! an event's in every delivery, so cloning one only counts a reference.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::Timestamp;
use crate::error::Error;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters after the prefix.
const BODY_LEN: usize = 26;
const RANDOM_BITS: u32 = 80;
/// The longest prefix, checked when each kind of id is declared.
const MAX_PREFIX_LEN: usize = 4;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $resource:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        const _: () = assert!($prefix.len() <= MAX_PREFIX_LEN, "ids are encoded on the stack");

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub(crate) fn generate(ids: &IdGenerator, now: Timestamp) -> Self {
                Self(ids.next($prefix, now))
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self, Error> {
                validate(text, $prefix, $resource).map(|()| Self(text.into()))
            }
        }

        impl fmt::Display for $name {
            /// The id's text, padded and aligned as the format asks.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// Identifies an endpoint: `ep_` and 26 base32 characters.
    EndpointId,
    "ep_",
    "endpoint_id"
);
prefixed_id!(
    /// Identifies an event (a message sent once, delivered to many endpoints):
    /// `msg_` and 26 base32 characters. It is the `webhook-id` receivers
    /// de-duplicate on.
    EventId,
    "msg_",
    "event_id"
);
prefixed_id!(
    /// Identifies one delivery of an event to one endpoint: `dlv_` and 26
    /// base32 characters.
    DeliveryId,
    "dlv_",
    "delivery_id"
);

fn validate(text: &str, prefix: &str, field: &'static str) -> Result<(), Error> {
    let body = text
        .strip_prefix(prefix)
        .ok_or_else(|| Error::invalid(field, format!("{text:?} does not start with {prefix:?}")))?;
    let well_formed = body.len() == BODY_LEN
        && body.bytes().all(|b| ALPHABET.contains(&b))
        // 26 base32 characters hold 130 bits; the top two must be clear.
        && body.as_bytes()[0] <= b'7';
    if well_formed {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{text:?} is not {prefix} followed by 26 lowercase base32 characters"),
        ))
    }
}

/// Makes ids that sort in the order they were made within this process.
#[derive(Debug, Default)]
pub(crate) struct IdGenerator {
    last: Mutex<u128>,
}

impl IdGenerator {
    pub(crate) fn next(&self, prefix: &str, now: Timestamp) -> Arc<str> {
        let millis = u128::from(now.unix_millis().clamp(0, (1 << 48) - 1).unsigned_abs());
        let value = {
            // A poisoned lock only means another thread panicked mid-update of
            // a plain integer, which is still usable.
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let value = if millis <= *last >> RANDOM_BITS {
                // Same (or an earlier) millisecond: count up from the last id
                // so ids stay ordered even on a clock that stands still.
                *last + 1
            } else {
                (millis << RANDOM_BITS) | random_bits()
            };
            *last = value;
            value
        };
        encode(prefix, value)
    }
}

fn random_bits() -> u128 {
    let mut bytes = [0u8; 16];
    // Should the OS generator fail, the time bits and the per-process counter
    // still make ids unique within this process.
    let _ = getrandom::fill(&mut bytes);
    // Keep the top bit clear so counting up within a millisecond has room.
    u128::from_be_bytes(bytes) & ((1 << (RANDOM_BITS - 1)) - 1)
}

/// The id's text, built on the stack and allocated once: several ids are
/// made per event sent.
fn encode(prefix: &str, value: u128) -> Arc<str> {
    let body = (0..BODY_LEN)
        .rev()
        .map(|i| ALPHABET[((value >> (i * 5)) & 31) as usize]);
    let mut text = [0u8; MAX_PREFIX_LEN + BODY_LEN];
    let mut len = 0;
    for (slot, byte) in text.iter_mut().zip(prefix.bytes().chain(body)) {
        *slot = byte;
        len += 1;
    }
    #[allow(clippy::expect_used)]
    let text = std::str::from_utf8(&text[..len])
        .expect("the prefix is one of ours and the alphabet ASCII, so this is UTF-8");
    Arc::from(text)
}

/// An id's value as a number: what follows its prefix, decoded. Ids of one
/// kind sort the same way as their text, but comparing and hashing a number
/// reads no memory behind a pointer, which matters in large indexes.
pub(crate) fn key(id: &str) -> u128 {
    let body = id.rsplit_once('_').map_or(id, |(_, body)| body);
    body.bytes().fold(0, |value, byte| {
        #[allow(clippy::expect_used)]
        let digit = DIGITS
            .get(usize::from(byte))
            .copied()
            .expect("every id was checked against the alphabet when made or parsed");
        (value << 5) | u128::from(digit)
    })
}

/// Each ASCII character's value as a digit of [`ALPHABET`].
const DIGITS: [u8; 128] = {
    let mut digits = [0; 128];
    let mut value = 0;
    while value < ALPHABET.len() {
        digits[ALPHABET[value] as usize] = value as u8;
        value += 1;
    }
    digits
};

/// A map keyed by ids this crate generated, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A fast hasher for maps keyed by generated ids, which are looked up
/// several times per delivery attempt.
///
/// SipHash's protection against chosen keys is not needed there: the keys
/// inserted are ids hookshot generated (time, then random bits or a
/// counter), never text from the platform's customers. A multiply-rotate
/// step per 8 bytes, then a full avalanche at the end, because ids made in
/// the same millisecond differ only in their last characters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl IdHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            #[allow(clippy::expect_used)]
            let word = word.try_into().expect("chunks_exact(8) yields 8 bytes");
            self.add(u64::from_le_bytes(word));
        }
        let mut last = [0u8; 8];
        let rest = words.remainder();
        if !rest.is_empty() {
            for (to, from) in last.iter_mut().zip(rest) {
                *to = *from;
            }
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    /// MurmurHash3's finaliser: every input bit moves every output bit, so
    /// the low bits that pick a bucket see the id's last characters.
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_one_millisecond_spread_over_buckets() {
        use std::collections::HashSet;
        use std::hash::BuildHasher;

        let ids = IdGenerator::default();
        let t = Timestamp::from_unix_millis(1_700_000_000_000);
        let build = BuildHasherDefault::<IdHasher>::default();
        let buckets: HashSet<u64> = (0..1024)
            .map(|_| build.hash_one(DeliveryId::generate(&ids, t)) & 1023)
            .collect();
        // Uniform hashing fills about 63 % of 1024 buckets with 1024 keys.
        assert!(buckets.len() > 550, "{} buckets used", buckets.len());
    }

    #[test]
    fn ids_sort_by_time_and_by_creation_within_a_millisecond() {
        let ids = IdGenerator::default();
        let t = Timestamp::from_unix_millis(1_700_000_000_000);
        let a = EndpointId::generate(&ids, t);
        let b = EndpointId::generate(&ids, t);
        let c = EndpointId::generate(&ids, t.saturating_add(std::time::Duration::from_millis(1)));
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.as_str().len(), 3 + BODY_LEN);
        assert_eq!(a.as_str().parse::<EndpointId>().unwrap(), a);
    }

    #[test]
    fn keys_sort_like_the_ids_they_decode() {
        let ids = IdGenerator::default();
        let t = Timestamp::from_unix_millis(1_700_000_000_000);
        let mut made: Vec<DeliveryId> = (0..100)
            .map(|i| {
                DeliveryId::generate(
                    &ids,
                    t.saturating_add(std::time::Duration::from_millis(i % 7)),
                )
            })
            .collect();
        made.sort();
        let keys: Vec<u128> = made.iter().map(|id| key(id.as_str())).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
        assert_eq!(key("dlv_0000000000000000000000001z"), 63);
    }

    #[test]
    fn display_honours_width_and_alignment() {
        let id: EndpointId = "ep_00000000000000000000000001".parse().unwrap();
        assert_eq!(format!("[{id:<32}]"), "[ep_00000000000000000000000001   ]");
        assert_eq!(format!("[{id:>32}]"), "[   ep_00000000000000000000000001]");
        assert_eq!(format!("[{id:.5}]"), "[ep_00]");
    }

    #[test]
    fn parsing_checks_prefix_alphabet_and_length() {
        let ids = IdGenerator::default();
        let good = EventId::generate(&ids, Timestamp::from_unix_millis(5)).to_string();
        assert!(good.parse::<EventId>().is_ok());
        assert!(good.parse::<EndpointId>().is_err());
        for bad in [
            "msg_",
            "msg_0000000000000000000000000",
            "msg_000000000000000000000000I",
            "msg_8zzzzzzzzzzzzzzzzzzzzzzzzz",
            "MSG_00000000000000000000000000",
        ] {
            assert!(bad.parse::<EventId>().is_err(), "{bad}");
        }
    }
}
