//! Allow-listed address ranges: a network address and a prefix length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::Error;

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
pub(super) fn mask_u32(prefix: u8) -> u32 {
    // A shift by the full width overflows, which `checked_shl` reports: that
    // is the /0 case, whose mask is empty.
    u32::MAX
        .checked_shl(32_u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

/// The netmask of a `prefix`-bit IPv6 prefix; all ones past 128.
pub(super) fn mask_u128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128_u32.saturating_sub(u32::from(prefix)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::transport::SsrfGuard;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
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
}
