//! The SSRF guard: which destinations a webhook may be delivered to.
//!
//! Endpoint URLs come from the platform's customers, so without a guard any
//! customer could make the platform post to its own internal network: cloud
//! metadata services, admin ports on loopback, databases on private ranges.
//! The guard refuses plain `http` and every address that is not globally
//! routable, unless an operator allow-lists a range.
//!
//! The guard's policy is here; which addresses are special and what an
//! IPv6 address embeds are in `ranges.rs`, allow-listed ranges in
//! `cidr.rs`.

mod cidr;
mod ranges;

use std::fmt;
use std::net::IpAddr;

use crate::error::Error;

use self::cidr::Cidr;
#[cfg(test)]
pub(super) use self::ranges::REFUSED_EMBEDDINGS;
use self::ranges::{classify, translated_ipv4};

/// Why the guard refuses an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockReason {
    /// `0.0.0.0` or `::`.
    Unspecified,
    /// `0.0.0.0/8`, "this network".
    ThisNetwork,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, or the deprecated
    /// IPv6 site-local `fec0::/10`.
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT.
    SharedAddressSpace,
    /// `169.254.0.0/16` (where cloud metadata services live) or `fe80::/10`.
    LinkLocal,
    /// `fc00::/7`, IPv6 unique local addresses.
    UniqueLocal,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`
    /// and `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15` or `2001:2::/48`.
    Benchmarking,
    /// `224.0.0.0/4` or `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4`, `192.88.99.0/24` (the retired 6to4 relay anycast) or
    /// `64:ff9b:1::/48` (local-use NAT64).
    Reserved,
    /// `192.0.0.0/24` or `2001::/23`, IETF protocol assignments; the latter
    /// holds Teredo, `2001::/32`.
    ProtocolAssignment,
    /// An IPv6 address outside global unicast `2000::/3`.
    NotGlobalUnicast,
}

impl BlockReason {
    /// The reason in words, as stored in attempt records.
    fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified address",
            Self::ThisNetwork => "\"this network\" address",
            Self::Loopback => "loopback address",
            Self::Private => "private network address",
            Self::SharedAddressSpace => "shared (carrier-grade NAT) address",
            Self::LinkLocal => "link-local address",
            Self::UniqueLocal => "unique local address",
            Self::Documentation => "documentation address",
            Self::Benchmarking => "benchmarking address",
            Self::Multicast => "multicast address",
            Self::Broadcast => "broadcast address",
            Self::Reserved => "reserved address",
            Self::ProtocolAssignment => "IETF protocol assignment address",
            Self::NotGlobalUnicast => "address outside IPv6 global unicast",
        }
    }
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Where webhooks may be delivered.
///
/// [`SsrfGuard::default`] is the guard to run in production: `https` only,
/// and every destination address that is not globally routable is refused
/// (private, loopback, link-local, carrier-grade NAT, multicast,
/// documentation and reserved ranges, and the same IPv4 ranges embedded in
/// IPv6; see [`check_ip`](SsrfGuard::check_ip)).
/// [`allow_cidr`](SsrfGuard::allow_cidr) opens ranges an operator wants to
/// reach. [`SsrfGuard::disabled`] turns every check off, for local
/// development only.
///
/// ```
/// use hookshot::transport::SsrfGuard;
///
/// let guard = SsrfGuard::default().allow_cidr("10.1.0.0/16")?;
/// assert!(guard.check_ip("10.1.2.3".parse()?).is_ok());
/// assert!(guard.check_ip("10.2.0.1".parse()?).is_err());
/// assert!(guard.check_ip("169.254.169.254".parse()?).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrfGuard {
    enabled: bool,
    allowed: Vec<Cidr>,
}

impl Default for SsrfGuard {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed: Vec::new(),
        }
    }
}

impl SsrfGuard {
    /// A guard that checks nothing: `http` and every address are allowed.
    ///
    /// Only for local development and tests, where receivers listen on
    /// loopback over plain `http`. Never use it where endpoint URLs come from
    /// untrusted users.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            allowed: Vec::new(),
        }
    }

    /// Allows the addresses in `cidr`, such as `10.1.0.0/16` or
    /// `fd00:1::/64`; a bare address allows that one address.
    ///
    /// Allowed addresses are reached even if they are private or loopback.
    /// An IPv4 range also allows the IPv4-mapped, IPv4-compatible and NAT64
    /// (`64:ff9b::/96`) forms of its addresses, which connect to that IPv4
    /// address; not their 6to4 form, which a relay on someone else's
    /// network would tunnel to. The scheme rule stays: URLs must still be
    /// `https`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] on field `allow_cidr` if `cidr` is not an
    /// address with an optional prefix length, or if it has bits set past
    /// the prefix (`10.1.2.0/16`), which usually means a typo.
    pub fn allow_cidr(mut self, cidr: &str) -> Result<Self, Error> {
        self.allowed.push(cidr.parse()?);
        Ok(self)
    }

    /// Whether the guard checks anything (false only for
    /// [`SsrfGuard::disabled`]).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether a connection to `ip` is allowed.
    ///
    /// An IPv6 address that carries an IPv4 address is refused if that IPv4
    /// address would be, or refused outright where the form has no use for
    /// a webhook:
    ///
    /// | Form | Range | Judged |
    /// |------|-------|--------|
    /// | IPv4-mapped ([RFC 4291 §2.5.5.2]) | `::ffff:0:0/96` | as its IPv4 address |
    /// | IPv4-compatible ([RFC 4291 §2.5.5.1], deprecated) | `::/96` | as its IPv4 address |
    /// | NAT64 well-known prefix ([RFC 6052 §2.1]) | `64:ff9b::/96` | as its IPv4 address |
    /// | 6to4 ([RFC 3056 §2]) | `2002::/16` | as its IPv4 address, bits 16 to 47 |
    /// | NAT64 local-use prefix ([RFC 8215]) | `64:ff9b:1::/48` | refused |
    /// | IPv4-translated, SIIT ([RFC 2765 §2.1], obsolete) | `::ffff:0:0:0/96` | refused |
    /// | Teredo ([RFC 4380 §4]) | `2001::/32` | refused |
    ///
    /// [RFC 4291 §2.5.5.2]: https://www.rfc-editor.org/rfc/rfc4291#section-2.5.5.2
    /// [RFC 4291 §2.5.5.1]: https://www.rfc-editor.org/rfc/rfc4291#section-2.5.5.1
    /// [RFC 6052 §2.1]: https://www.rfc-editor.org/rfc/rfc6052#section-2.1
    /// [RFC 3056 §2]: https://www.rfc-editor.org/rfc/rfc3056#section-2
    /// [RFC 8215]: https://www.rfc-editor.org/rfc/rfc8215
    /// [RFC 2765 §2.1]: https://www.rfc-editor.org/rfc/rfc2765#section-2.1
    /// [RFC 4380 §4]: https://www.rfc-editor.org/rfc/rfc4380#section-4
    ///
    /// # Errors
    ///
    /// The [`BlockReason`] if the guard refuses `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), BlockReason> {
        if !self.enabled || self.is_allow_listed(ip) {
            return Ok(());
        }
        match classify(ip) {
            Some(reason) => Err(reason),
            None => Ok(()),
        }
    }

    /// Whether plain `http` URLs are allowed (only with the guard off: plain
    /// http can be read and redirected by anyone on the path).
    pub(crate) fn allows_http(&self) -> bool {
        !self.enabled
    }

    /// Whether an operator allow-listed `ip`, directly or through the IPv4
    /// address it connects to.
    fn is_allow_listed(&self, ip: IpAddr) -> bool {
        let embedded = match ip {
            IpAddr::V6(v6) => translated_ipv4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .any(|cidr| cidr.contains(ip) || embedded.is_some_and(|v4| cidr.contains(v4)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn default_guard() -> SsrfGuard {
        SsrfGuard::default()
    }

    #[track_caller]
    fn assert_blocked(text: &str, reason: BlockReason) {
        assert_eq!(default_guard().check_ip(ip(text)), Err(reason), "{text}");
    }

    #[track_caller]
    fn assert_global(text: &str) {
        assert_eq!(default_guard().check_ip(ip(text)), Ok(()), "{text}");
    }

    #[test]
    fn ipv4_special_ranges_are_refused() {
        use BlockReason::*;
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", ThisNetwork),
            ("0.255.255.255", ThisNetwork),
            ("10.0.0.0", Private),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("100.64.0.0", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("169.254.0.1", LinkLocal),
            ("169.254.169.254", LinkLocal),
            ("172.16.0.0", Private),
            ("172.31.255.255", Private),
            ("192.0.0.1", ProtocolAssignment),
            ("192.0.2.1", Documentation),
            ("192.88.99.1", Reserved),
            ("192.168.0.1", Private),
            ("192.168.255.255", Private),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("254.1.2.3", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Broadcast),
        ];
        for (text, reason) in cases {
            assert_blocked(text, reason);
        }
    }

    #[test]
    fn ipv4_range_edges_are_global() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "203.0.114.0",
            "223.255.255.255",
        ] {
            assert_global(text);
        }
    }

    #[test]
    fn ipv6_special_ranges_are_refused() {
        use BlockReason::*;
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fec0::1", Private),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("ff02::1", Multicast),
            ("ff0e::1", Multicast),
            ("2001:db8::1", Documentation),
            ("2001:db8:ffff::1", Documentation),
            ("3fff::1", Documentation),
            ("2001:2::1", Benchmarking),
            ("2001::1", ProtocolAssignment),
            ("2001:1ff::1", ProtocolAssignment),
            ("64:ff9b:1::1", Reserved),
            ("100::1", NotGlobalUnicast),
            ("5f00::1", NotGlobalUnicast),
            ("4000::1", NotGlobalUnicast),
            ("1::1", NotGlobalUnicast),
        ];
        for (text, reason) in cases {
            assert_blocked(text, reason);
        }
    }

    #[test]
    fn ipv6_global_unicast_is_allowed() {
        for text in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2a00:1450::1",
            "3ffe::1",
        ] {
            assert_global(text);
        }
    }

    #[test]
    fn embedded_ipv4_is_judged_as_ipv4() {
        use BlockReason::*;
        assert_blocked("::ffff:127.0.0.1", Loopback);
        assert_blocked("::ffff:10.0.0.1", Private);
        assert_blocked("::ffff:169.254.169.254", LinkLocal);
        assert_blocked("::ffff:0.0.0.0", Unspecified);
        assert_blocked("::127.0.0.1", Loopback);
        assert_blocked("::192.168.1.1", Private);
        assert_blocked("::0.0.0.2", ThisNetwork);
        assert_blocked("64:ff9b::127.0.0.1", Loopback);
        assert_blocked("64:ff9b::a9fe:a9fe", LinkLocal);
        assert_global("::ffff:8.8.8.8");
        assert_global("64:ff9b::1.1.1.1");
        assert_global("::8.8.8.8");
    }

    /// Every form of IPv6 that carries an internal IPv4 address is refused,
    /// each for the reason its IPv4 address is (or its range is).
    #[test]
    fn every_embedding_of_internal_ipv4_is_refused() {
        for (text, reason) in REFUSED_EMBEDDINGS {
            assert_blocked(text, *reason);
        }
    }

    /// The forms whose embedded address is judged let a global one through.
    #[test]
    fn embeddings_of_global_ipv4_are_allowed() {
        for text in [
            "2002:808:808::",
            "2002:808:808:1:2:3:4:5",
            "2002:101:101::1",
            "::ffff:1.1.1.1",
            "::8.8.8.8",
            "64:ff9b::8.8.8.8",
        ] {
            assert_global(text);
        }
    }

    /// Whatever std's stable predicates call special is refused too, across
    /// a spread of the whole IPv4 space.
    #[test]
    fn disabled_guard_allows_everything() {
        let guard = SsrfGuard::disabled();
        assert!(!guard.is_enabled());
        assert!(guard.allows_http());
        for text in ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "ff02::1"] {
            assert_eq!(guard.check_ip(ip(text)), Ok(()), "{text}");
        }
        assert!(default_guard().is_enabled());
        assert!(!default_guard().allows_http());
    }

    #[test]
    fn allow_list_opens_only_its_ranges() {
        let guard = SsrfGuard::default()
            .allow_cidr("10.1.0.0/16")
            .unwrap()
            .allow_cidr("fd00:1::/32")
            .unwrap()
            .allow_cidr("192.168.7.7")
            .unwrap();
        for allowed in [
            "10.1.0.0",
            "10.1.255.255",
            "::ffff:10.1.2.3",
            "fd00:1::5",
            "fd00:1:ffff::1",
            "192.168.7.7",
        ] {
            assert_eq!(guard.check_ip(ip(allowed)), Ok(()), "{allowed}");
        }
        for refused in [
            "10.0.255.255",
            "10.2.0.0",
            "fd00:2::1",
            "192.168.7.8",
            "127.0.0.1",
        ] {
            assert!(guard.check_ip(ip(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn allow_list_covers_loopback_and_whole_spaces() {
        let loopback = SsrfGuard::default().allow_cidr("127.0.0.0/8").unwrap();
        assert_eq!(loopback.check_ip(ip("127.0.0.1")), Ok(()));
        assert_eq!(loopback.check_ip(ip("127.9.9.9")), Ok(()));
        assert_eq!(loopback.check_ip(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(loopback.check_ip(ip("::1")), Err(BlockReason::Loopback));

        let everything = SsrfGuard::default()
            .allow_cidr("0.0.0.0/0")
            .unwrap()
            .allow_cidr("::/0")
            .unwrap();
        for text in ["10.0.0.1", "255.255.255.255", "::1", "fe80::1"] {
            assert_eq!(everything.check_ip(ip(text)), Ok(()), "{text}");
        }
        assert!(!everything.allows_http());
    }

    /// An IPv4 range opens the forms that connect to its addresses, not
    /// their 6to4 form, which goes to a relay; an IPv6 range opens any form.
    #[test]
    fn allow_list_and_embedded_ipv4() {
        let v4 = SsrfGuard::default().allow_cidr("10.0.0.0/8").unwrap();
        for text in [
            "10.0.0.1",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::10.0.0.1",
        ] {
            assert_eq!(v4.check_ip(ip(text)), Ok(()), "{text}");
        }
        assert_eq!(v4.check_ip(ip("2002:a00:1::")), Err(BlockReason::Private));

        let v6 = SsrfGuard::default()
            .allow_cidr("2002:a00::/24")
            .unwrap()
            .allow_cidr("2001::/32")
            .unwrap();
        for text in ["2002:a00:1::", "2002:aff:ffff::1", "2001:0:7f00:1::"] {
            assert_eq!(v6.check_ip(ip(text)), Ok(()), "{text}");
        }
        assert_eq!(
            v6.check_ip(ip("2002:c0a8:101::")),
            Err(BlockReason::Private)
        );
    }

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(BlockReason::Loopback.to_string(), "loopback address");
        assert_eq!(BlockReason::LinkLocal.to_string(), "link-local address");
    }
}
