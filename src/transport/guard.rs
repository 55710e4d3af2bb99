//! The SSRF guard: which destinations a webhook may be delivered to.
//!
//! Endpoint URLs come from the platform's customers, so without a guard any
//! customer could make the platform post to its own internal network: cloud
//! metadata services, admin ports on loopback, databases on private ranges.
//! The guard refuses plain `http` and every address that is not globally
//! routable, unless an operator allow-lists a range.
//!
//! Addresses are classified here with `std::net` alone; the ranges are those
//! of the IANA special-purpose address registries.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::Error;

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

/// An address range: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the range. An IPv4 range never contains an
    /// IPv6 address, nor the reverse.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask_u32(self.prefix);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask_u128(self.prefix);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::invalid("allow_cidr", format!("{input:?} {why}"));
        let (address, prefix) = match input.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (input, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| invalid("is not an IP address with an optional /prefix"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(text) => parse_prefix(text, max)
                .ok_or_else(|| invalid(&format!("has a bad prefix length: expected 0 to {max}")))?,
        };
        let cidr = Self { network, prefix };
        let truncated = truncate(network, prefix);
        if truncated != network {
            return Err(invalid(&format!(
                "has bits set past the prefix; did you mean {truncated}/{prefix}?"
            )));
        }
        Ok(cidr)
    }
}

/// A prefix length of plain decimal digits no greater than `max`.
fn parse_prefix(text: &str, max: u8) -> Option<u8> {
    // `u8::from_str` also takes a leading `+`, which no CIDR notation has.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|prefix| *prefix <= max)
}

/// `ip` with every bit past `prefix` cleared.
fn truncate(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_u32(prefix))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_u128(prefix))),
    }
}

/// The netmask of a `prefix`-bit IPv4 prefix; all ones past 32.
fn mask_u32(prefix: u8) -> u32 {
    // A shift by the full width overflows, which `checked_shl` reports: that
    // is the /0 case, whose mask is empty.
    u32::MAX
        .checked_shl(32_u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

/// The netmask of a `prefix`-bit IPv6 prefix; all ones past 128.
fn mask_u128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128_u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

/// Why `ip` is not globally routable, or `None` if it is.
pub(crate) fn classify(ip: IpAddr) -> Option<BlockReason> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// IPv4 special-purpose ranges, most specific first: the first match wins.
const V4_RANGES: &[(u32, u8, BlockReason)] = &[
    (0x0000_0000, 32, BlockReason::Unspecified), // 0.0.0.0
    (0x0000_0000, 8, BlockReason::ThisNetwork),  // 0.0.0.0/8
    (0x0A00_0000, 8, BlockReason::Private),      // 10.0.0.0/8
    (0x6440_0000, 10, BlockReason::SharedAddressSpace), // 100.64.0.0/10
    (0x7F00_0000, 8, BlockReason::Loopback),     // 127.0.0.0/8
    (0xA9FE_0000, 16, BlockReason::LinkLocal),   // 169.254.0.0/16
    (0xAC10_0000, 12, BlockReason::Private),     // 172.16.0.0/12
    (0xC000_0000, 24, BlockReason::ProtocolAssignment), // 192.0.0.0/24
    (0xC000_0200, 24, BlockReason::Documentation), // 192.0.2.0/24
    (0xC058_6300, 24, BlockReason::Reserved),    // 192.88.99.0/24
    (0xC0A8_0000, 16, BlockReason::Private),     // 192.168.0.0/16
    (0xC612_0000, 15, BlockReason::Benchmarking), // 198.18.0.0/15
    (0xC633_6400, 24, BlockReason::Documentation), // 198.51.100.0/24
    (0xCB00_7100, 24, BlockReason::Documentation), // 203.0.113.0/24
    (0xE000_0000, 4, BlockReason::Multicast),    // 224.0.0.0/4
    (0xFFFF_FFFF, 32, BlockReason::Broadcast),   // 255.255.255.255
    (0xF000_0000, 4, BlockReason::Reserved),     // 240.0.0.0/4
];

/// IPv6 special-purpose ranges inside or beside global unicast, most
/// specific first. Anything else outside `2000::/3` is refused as
/// [`BlockReason::NotGlobalUnicast`]: only that block is routed publicly.
///
/// Three forms that carry an IPv4 address are refused whole rather than
/// judged by it, as nothing a webhook is for lives there. Local-use NAT64
/// (RFC 8215) puts the IPv4 address where the local operator's prefix
/// length says, which cannot be known here. SIIT's IPv4-translated form
/// (RFC 2765, obsoleted by RFC 6145) names IPv6 hosts behind a translator,
/// not IPv4 ones. Teredo (RFC 4380) reaches a client behind NAT through
/// whatever relay is nearest, which may sit on the platform's network and
/// would send the packet to the IPv4 address and port hidden in the
/// address, whatever they are. They come before the embedded-IPv4 check.
const V6_RANGES: &[(u128, u8, BlockReason)] = &[
    (0, 128, BlockReason::Unspecified),                      // ::
    (1, 128, BlockReason::Loopback),                         // ::1
    (0xffff << 48, 96, BlockReason::NotGlobalUnicast),       // ::ffff:0:0:0/96
    (0x0064_ff9b_0001 << 80, 48, BlockReason::Reserved),     // 64:ff9b:1::/48
    (0xfe80 << 112, 10, BlockReason::LinkLocal),             // fe80::/10
    (0xfec0 << 112, 10, BlockReason::Private),               // fec0::/10
    (0xfc00 << 112, 7, BlockReason::UniqueLocal),            // fc00::/7
    (0xff00 << 112, 8, BlockReason::Multicast),              // ff00::/8
    (0x2001_0db8 << 96, 32, BlockReason::Documentation),     // 2001:db8::/32
    (0x3fff << 112, 20, BlockReason::Documentation),         // 3fff::/20
    (0x2001_0002_0000 << 80, 48, BlockReason::Benchmarking), // 2001:2::/48
    // Teredo on its own, so that it stays refused should parts of 2001::/23
    // ever be opened.
    (0x2001_0000 << 96, 32, BlockReason::ProtocolAssignment), // 2001::/32
    (0x2001 << 112, 23, BlockReason::ProtocolAssignment),     // 2001::/23
];

/// Why the IPv4 address `ip` is not globally routable, if it is not.
fn classify_v4(ip: Ipv4Addr) -> Option<BlockReason> {
    let bits = u32::from(ip);
    V4_RANGES
        .iter()
        .find(|(network, prefix, _)| bits & mask_u32(*prefix) == *network)
        .map(|(_, _, reason)| *reason)
}

/// Why the IPv6 address `ip` is not globally routable, if it is not.
fn classify_v6(ip: Ipv6Addr) -> Option<BlockReason> {
    let bits = u128::from(ip);
    if let Some((_, _, reason)) = V6_RANGES
        .iter()
        .find(|(network, prefix, _)| bits & mask_u128(*prefix) == *network)
    {
        return Some(*reason);
    }
    // Checked after `::` and `::1`, which the compatible form would
    // otherwise read as 0.0.0.0 and 0.0.0.1.
    if let Some(v4) = embedded_ipv4(ip) {
        return classify_v4(v4);
    }
    let global_unicast = bits & mask_u128(3) == 0x2000 << 112;
    (!global_unicast).then_some(BlockReason::NotGlobalUnicast)
}

/// The IPv4 address that `ip` carries and that decides whether it may be
/// reached: the forms of [`translated_ipv4`], and 6to4 (`2002::/16`, RFC
/// 3056), whose relay tunnels the packet to the IPv4 address in bits 16
/// to 47 and so into that address's network.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    translated_ipv4(ip).or_else(|| {
        let bits = u128::from(ip);
        let is_6to4 = bits & mask_u128(16) == 0x2002 << 112;
        // Shifted down and masked to 32 bits, which makes the cast exact.
        is_6to4.then(|| Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32))
    })
}

/// The IPv4 address a connection to `ip` is a connection to: IPv4-mapped
/// (`::ffff:0:0/96`, which a dual-stack socket sends as IPv4),
/// IPv4-compatible (`::/96`, deprecated but still tunnelled automatically
/// by some stacks) and NAT64 (`64:ff9b::/96`, which a translator sends on
/// as IPv4).
fn translated_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let prefix = bits & mask_u128(96);
    let is_embedding = prefix == 0xffff << 32 || prefix == 0 || prefix == 0x0064_ff9b << 96;
    // The low 32 bits are the IPv4 address; the mask makes the cast exact.
    is_embedding.then(|| Ipv4Addr::from((bits & 0xffff_ffff) as u32))
}

/// Every IPv6 form that carries an IPv4 address, with addresses the guard
/// must refuse and why: the table the literal tests here and the by-name
/// tests of the resolver (`http.rs`) both run.
#[cfg(test)]
pub(super) const REFUSED_EMBEDDINGS: &[(&str, BlockReason)] = &[
    // 6to4, 2002::/16 (RFC 3056): the IPv4 address is bits 16 to 47.
    ("2002:7f00:1::", BlockReason::Loopback),
    (
        "2002:7f00:1:ffff:ffff:ffff:ffff:ffff",
        BlockReason::Loopback,
    ),
    ("2002:a00:1::", BlockReason::Private),
    ("2002:a00:1:1::1", BlockReason::Private),
    ("2002:ac10::1", BlockReason::Private),
    ("2002:c0a8:101::", BlockReason::Private),
    ("2002:a9fe:a9fe::", BlockReason::LinkLocal),
    ("2002:6440:1::", BlockReason::SharedAddressSpace),
    ("2002::", BlockReason::Unspecified),
    ("2002:0:1::", BlockReason::ThisNetwork),
    ("2002:c000:201::", BlockReason::Documentation),
    ("2002:c058:6301::", BlockReason::Reserved),
    ("2002:e000:1::", BlockReason::Multicast),
    ("2002:ffff:ffff::", BlockReason::Broadcast),
    // IPv4-mapped, ::ffff:0:0/96 (RFC 4291 section 2.5.5.2).
    ("::ffff:127.0.0.1", BlockReason::Loopback),
    ("::ffff:10.0.0.1", BlockReason::Private),
    ("::ffff:169.254.169.254", BlockReason::LinkLocal),
    // IPv4-compatible, ::/96 (RFC 4291 section 2.5.5.1, deprecated).
    ("::127.0.0.1", BlockReason::Loopback),
    ("::10.0.0.1", BlockReason::Private),
    ("::169.254.169.254", BlockReason::LinkLocal),
    // NAT64 well-known prefix, 64:ff9b::/96 (RFC 6052 section 2.1).
    ("64:ff9b::127.0.0.1", BlockReason::Loopback),
    ("64:ff9b::10.0.0.1", BlockReason::Private),
    ("64:ff9b::169.254.169.254", BlockReason::LinkLocal),
    // NAT64 local-use prefix, 64:ff9b:1::/48 (RFC 8215): the whole range,
    // global IPv4 included.
    ("64:ff9b:1::7f00:1", BlockReason::Reserved),
    ("64:ff9b:1:a00:1::", BlockReason::Reserved),
    ("64:ff9b:1::808:808", BlockReason::Reserved),
    // SIIT IPv4-translated, ::ffff:0:0:0/96 (RFC 2765 section 2.1): the
    // whole range, global IPv4 included.
    ("::ffff:0:127.0.0.1", BlockReason::NotGlobalUnicast),
    ("::ffff:0:169.254.169.254", BlockReason::NotGlobalUnicast),
    ("::ffff:0:8.8.8.8", BlockReason::NotGlobalUnicast),
    // Teredo, 2001::/32 (RFC 4380 section 4): the whole range. The
    // server's IPv4 is bits 32 to 63, the client's the last 32 bits
    // inverted; refused whether they are internal or global.
    ("2001:0:7f00:1::", BlockReason::ProtocolAssignment),
    ("2001:0:808:808::80ff:fffe", BlockReason::ProtocolAssignment),
    ("2001:0:808:808::5601:5601", BlockReason::ProtocolAssignment),
    ("2001:0:a9fe:a9fe::", BlockReason::ProtocolAssignment),
    (
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        BlockReason::ProtocolAssignment,
    ),
    (
        "2001:0:808:808:0:0:f7f7:f7f7",
        BlockReason::ProtocolAssignment,
    ),
];

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
    fn agrees_with_std_predicates_on_ipv4() {
        for bits in (0..=u32::MAX).step_by(65_521).chain([u32::MAX]) {
            let v4 = Ipv4Addr::from(bits);
            let special = v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified();
            if special {
                assert!(classify_v4(v4).is_some(), "{v4}");
            }
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            assert_eq!(classify(mapped), classify_v4(v4), "{mapped}");
        }
    }

    #[test]
    fn agrees_with_std_predicates_on_ipv6() {
        let step = u128::MAX / 100_003;
        for n in 0..=100_003_u128 {
            let v6 = Ipv6Addr::from(n.wrapping_mul(step));
            let special = v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unique_local()
                || v6.is_unicast_link_local();
            if special {
                assert!(classify_v6(v6).is_some(), "{v6}");
            }
        }
    }

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
    fn cidr_parsing() {
        let parse = |s: &str| s.parse::<Cidr>();
        assert_eq!(parse("10.0.0.0/8").unwrap().prefix, 8);
        assert_eq!(parse("10.0.0.1").unwrap().prefix, 32);
        assert_eq!(parse("::1").unwrap().prefix, 128);
        assert_eq!(parse("fd00::/8").unwrap().prefix, 8);
        assert_eq!(parse("0.0.0.0/0").unwrap().prefix, 0);
        assert_eq!(parse("1.2.3.4/32").unwrap().prefix, 32);
        assert_eq!(parse("2001:db8::/128").unwrap().prefix, 128);

        for bad in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0 /8",
            "10.0.0/8",
            "example.com/8",
            "[::1]/128",
            "10.0.0.0/256",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "allow_cidr"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn cidr_with_host_bits_suggests_the_network() {
        let err = "10.1.2.0/16".parse::<Cidr>().unwrap_err();
        assert!(
            err.to_string().contains("did you mean 10.1.0.0/16"),
            "{err}"
        );
        let err = SsrfGuard::default().allow_cidr("fd00::1/8").unwrap_err();
        assert!(err.to_string().contains("fd00::/8"), "{err}");
        assert!(err.to_string().contains("allow_cidr"), "{err}");
    }

    #[test]
    fn cidr_families_do_not_mix() {
        let v4: Cidr = "0.0.0.0/0".parse().unwrap();
        let v6: Cidr = "::/0".parse().unwrap();
        assert!(v4.contains(ip("1.2.3.4")));
        assert!(!v4.contains(ip("::1")));
        assert!(v6.contains(ip("::1")));
        assert!(!v6.contains(ip("1.2.3.4")));
    }

    #[test]
    fn masks() {
        assert_eq!(mask_u32(0), 0);
        assert_eq!(mask_u32(1), 0x8000_0000);
        assert_eq!(mask_u32(24), 0xFFFF_FF00);
        assert_eq!(mask_u32(32), u32::MAX);
        assert_eq!(mask_u128(0), 0);
        assert_eq!(mask_u128(64), u128::MAX << 64);
        assert_eq!(mask_u128(128), u128::MAX);
    }

    #[test]
    fn reasons_read_as_words() {
        assert_eq!(BlockReason::Loopback.to_string(), "loopback address");
        assert_eq!(BlockReason::LinkLocal.to_string(), "link-local address");
    }
}
