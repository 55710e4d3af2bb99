//! Which addresses are not globally routable, by the IANA special-purpose
//! address registries, with `std::net` alone; and the IPv4 address an IPv6
//! address embeds, judged as IPv4.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::BlockReason;
use super::cidr::{mask_u32, mask_u128};

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
pub(super) fn translated_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
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
pub(in crate::transport) const REFUSED_EMBEDDINGS: &[(&str, BlockReason)] = &[
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
}
