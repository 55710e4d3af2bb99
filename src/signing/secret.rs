//! Signing secrets: generation, parsing, and signing.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::primitives::{BASE64, KeyedMac, SIGNATURE_VERSION, decimal};
use crate::error::Error;

/// The prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// Shortest key the Standard Webhooks specification allows, in bytes.
pub const MIN_KEY_LEN: usize = 24;
/// Longest key the Standard Webhooks specification allows, in bytes.
pub const MAX_KEY_LEN: usize = 64;
/// Length in bytes of a key made by [`SigningSecret::generate`].
pub const GENERATED_KEY_LEN: usize = 32;

/// A symmetric key that signs webhooks (sender) or verifies them (receiver).
///
/// Its text form is `whsec_` followed by the standard base64 of 24 to 64 key
/// bytes. The text is only available through [`SigningSecret::expose`]:
/// `Debug` is redacted and there is no `Display`, so a secret cannot reach a
/// log by accident.
///
/// ```
/// use hookshot::SigningSecret;
///
/// let secret: SigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// assert_eq!(format!("{secret:?}"), "SigningSecret(<redacted>)");
/// let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
/// assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// # Ok::<(), hookshot::Error>(())
/// ```
#[derive(Clone)]
pub struct SigningSecret {
    key: Vec<u8>,
    mac: KeyedMac,
}

impl SigningSecret {
    /// A new secret of 32 bytes from the operating system's random number
    /// generator.
    ///
    /// # Errors
    /// [`Error::Backend`] if the operating system cannot supply randomness.
    pub fn generate() -> Result<Self, Error> {
        let mut key = vec![0; GENERATED_KEY_LEN];
        getrandom::fill(&mut key)
            .map_err(|e| Error::backend("reading the OS random number generator", true, e))?;
        Self::from_bytes(key)
    }

    /// A secret made of `key` as it is.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if `key` is shorter than 24 or longer than 64
    /// bytes.
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let key = key.into();
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len()) {
            return Err(Error::invalid(
                "signing_secret",
                format!(
                    "the key is {} bytes long; it must be {MIN_KEY_LEN} to {MAX_KEY_LEN} bytes",
                    key.len()
                ),
            ));
        }
        let mac = KeyedMac::new(&key);
        Ok(Self { key, mac })
    }

    /// The secret's text form, `whsec_<base64>`, to show the user once or to
    /// store.
    pub fn expose(&self) -> String {
        let mut text = String::with_capacity(SECRET_PREFIX.len() + self.key.len().div_ceil(3) * 4);
        text.push_str(SECRET_PREFIX);
        base64::engine::general_purpose::STANDARD.encode_string(&self.key, &mut text);
        text
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.key
    }

    /// The signature `v1,<base64>` of one message.
    ///
    /// `payload` is the exact body bytes sent, UTF-8 or not.
    pub fn sign(&self, msg_id: &str, timestamp: i64, payload: &[u8]) -> String {
        let mut out = String::with_capacity(SIGNATURE_VERSION.len() + 45);
        self.sign_into(msg_id, timestamp, payload, &mut out);
        out
    }

    /// Appends the signature of one message to `out`.
    pub(crate) fn sign_into(&self, msg_id: &str, timestamp: i64, payload: &[u8], out: &mut String) {
        let mut buf = [0; 20];
        let tag = self
            .mac
            .tag(msg_id.as_bytes(), decimal(timestamp, &mut buf), payload);
        out.push_str(SIGNATURE_VERSION);
        out.push(',');
        base64::engine::general_purpose::STANDARD.encode_string(tag, out);
    }

    /// The keyed HMAC state, for the verifier.
    pub(crate) fn into_keyed_mac(self) -> KeyedMac {
        self.mac
    }
}

impl FromStr for SigningSecret {
    type Err = Error;

    /// Parses `whsec_<base64>` or bare base64, padded or not.
    fn from_str(text: &str) -> Result<Self, Error> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(Error::invalid("signing_secret", "the secret is empty"));
        }
        let key = BASE64.decode(encoded).map_err(|e| {
            Error::invalid(
                "signing_secret",
                format!("expected `whsec_` followed by standard base64: {e}"),
            )
        })?;
        Self::from_bytes(key)
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// Reads a secret from its `whsec_…` text, so request bodies can carry one.
#[cfg(feature = "registry")]
impl<'de> serde::Deserialize<'de> for SigningSecret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl PartialEq for SigningSecret {
    /// Compares the keys in constant time.
    fn eq(&self, other: &Self) -> bool {
        self.key.ct_eq(&other.key).into()
    }
}

impl Eq for SigningSecret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixed_and_bare_padded_and_unpadded() {
        let secret = SigningSecret::from_bytes(vec![7u8; 32]).unwrap();
        let text = secret.expose();
        assert!(text.ends_with('='), "32 bytes encode with padding: {text}");
        let bare = text.strip_prefix(SECRET_PREFIX).unwrap();
        for form in [text.as_str(), bare, bare.trim_end_matches('=')] {
            assert_eq!(form.parse::<SigningSecret>().unwrap(), secret, "{form}");
        }
    }

    #[test]
    fn rejects_bad_base64_and_key_lengths() {
        let reason = |text: &str| match text.parse::<SigningSecret>() {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "signing_secret");
                reason
            }
            other => panic!("{text}: expected InvalidInput, got {other:?}"),
        };
        assert!(reason("whsec_not*base64").contains("base64"));
        assert!(reason("whsec_").contains("empty"));
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 23]);
        assert!(reason(&short).contains("23 bytes"));
        let long = base64::engine::general_purpose::STANDARD.encode([1u8; 65]);
        assert!(reason(&format!("whsec_{long}")).contains("65 bytes"));
    }

    #[test]
    fn generated_secrets_are_32_random_bytes() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        assert_eq!(a.as_bytes().len(), GENERATED_KEY_LEN);
        assert_ne!(a, b);
        assert_eq!(a.expose().parse::<SigningSecret>().unwrap(), a);
    }

    #[test]
    fn debug_is_redacted() {
        let secret = SigningSecret::generate().unwrap();
        let debug = format!("{secret:?}");
        assert!(!debug.contains(&secret.expose()[SECRET_PREFIX.len()..]));
    }
}
