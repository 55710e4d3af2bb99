//! Name resolution for the default transport: every address a name
//! resolves to passes the SSRF guard before reqwest may connect to it.

#[cfg(test)]
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::io;
#[cfg(test)]
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::guard::SsrfGuard;

/// Resolves with the system resolver and keeps only the addresses the
/// guard allows. Checking here, on the addresses actually connected to,
/// is what stops DNS rebinding: a second lookup cannot disagree.
#[derive(Debug)]
pub(super) struct GuardedResolver {
    pub(super) guard: Arc<SsrfGuard>,
    pub(super) lookup: Lookup,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = Arc::clone(&self.guard);
        let lookup = self.lookup.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = lookup.addresses(&host).await.map_err(|source| DnsFailure {
                host: host.clone(),
                source,
            })?;
            let allowed = filter_addrs(&guard, &host, found.into_iter())?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Where [`GuardedResolver`] looks names up.
#[derive(Debug, Clone)]
pub(super) enum Lookup {
    /// The system resolver, which is what production uses.
    System,
    /// Names and their addresses: lets tests make a name resolve to any
    /// address without a DNS server, to see what the guard does with it.
    #[cfg(test)]
    Table(Arc<HashMap<String, Vec<IpAddr>>>),
}

impl Lookup {
    /// The addresses of `host`, with port 0: reqwest sets the URL's port.
    async fn addresses(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        match self {
            Self::System => Ok(tokio::net::lookup_host((host, 0)).await?.collect()),
            #[cfg(test)]
            Self::Table(table) => {
                let ips = table.get(host).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "not in the test table")
                })?;
                Ok(ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect())
            }
        }
    }
}

/// The addresses of `host` the guard allows.
///
/// # Errors
///
/// A [`DnsFailure`] if there were none at all, a [`GuardRefusal`] naming
/// each refused address if the guard refused them all.
fn filter_addrs(
    guard: &SsrfGuard,
    host: &str,
    found: impl Iterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    for addr in found {
        match guard.check_ip(addr.ip()) {
            Ok(()) => allowed.push(addr),
            Err(reason) => refused.push(format!("{} ({reason})", addr.ip())),
        }
    }
    if !allowed.is_empty() {
        return Ok(allowed);
    }
    if refused.is_empty() {
        return Err(Box::new(DnsFailure {
            host: host.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        }));
    }
    Err(Box::new(GuardRefusal {
        target: host.to_owned(),
        reason: format!("resolves only to refused addresses: {}", refused.join(", ")),
    }))
}

/// The guard refused every address of a host; found again in reqwest's
/// error chain to report [`TransportError::Blocked`].
#[derive(Debug)]
pub(super) struct GuardRefusal {
    pub(super) target: String,
    pub(super) reason: String,
}

impl fmt::Display for GuardRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blocked {}: {}", self.target, self.reason)
    }
}

impl StdError for GuardRefusal {}

/// A host name did not resolve; found again in reqwest's error chain to
/// report [`TransportError::Dns`].
#[derive(Debug)]
pub(super) struct DnsFailure {
    pub(super) host: String,
    pub(super) source: io::Error,
}

impl fmt::Display for DnsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.host, self.source)
    }
}

impl StdError for DnsFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|a| SocketAddr::new(a.parse().unwrap(), 443))
            .collect()
    }

    #[test]
    fn resolver_keeps_only_allowed_addresses() {
        let guard = SsrfGuard::default();
        let found = addrs(&["127.0.0.1", "93.184.215.14", "::1", "2606:2800::1"]);
        let kept = filter_addrs(&guard, "mixed.example", found.into_iter()).unwrap();
        assert_eq!(kept, addrs(&["93.184.215.14", "2606:2800::1"]));
    }

    #[test]
    fn resolver_refuses_when_nothing_is_left() {
        let guard = SsrfGuard::default();
        let found = addrs(&["127.0.0.1", "::1"]);
        let err = filter_addrs(&guard, "localhost", found.into_iter()).unwrap_err();
        let refusal = err.downcast_ref::<GuardRefusal>().unwrap();
        assert_eq!(refusal.target, "localhost");
        assert!(refusal.reason.contains("127.0.0.1 (loopback address)"));
        assert!(refusal.reason.contains("::1 (loopback address)"));
    }

    #[test]
    fn resolver_reports_no_addresses_as_dns() {
        let err =
            filter_addrs(&SsrfGuard::default(), "void.example", std::iter::empty()).unwrap_err();
        assert!(err.downcast_ref::<DnsFailure>().is_some());
    }

    #[test]
    fn disabled_guard_keeps_every_address() {
        let found = addrs(&["127.0.0.1", "::1"]);
        let kept = filter_addrs(&SsrfGuard::disabled(), "localhost", found.into_iter()).unwrap();
        assert_eq!(kept.len(), 2);
    }

    /// A lookup that answers from `table`, a name once per address.
    pub(in crate::transport) fn table_lookup(table: &[(&str, IpAddr)]) -> Lookup {
        let mut names: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in table {
            names.entry((*name).to_owned()).or_default().push(*ip);
        }
        Lookup::Table(Arc::new(names))
    }

    /// A resolver whose lookups answer from `table`, guarded by `guard`.
    fn table_resolver(guard: SsrfGuard, table: &[(&str, IpAddr)]) -> GuardedResolver {
        GuardedResolver {
            guard: Arc::new(guard),
            lookup: table_lookup(table),
        }
    }

    /// What `resolver` hands reqwest to connect to for `name`.
    async fn resolve(
        resolver: &GuardedResolver,
        name: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
        let addrs = resolver.resolve(name.parse().unwrap()).await?;
        Ok(addrs.collect())
    }

    /// A name that resolves to any IPv6 form of an internal IPv4 address is
    /// refused by the transport's resolver, so nothing is connected to. The
    /// resolver is called directly: a guard that let one through would
    /// otherwise send a packet off this machine.
    #[tokio::test]
    async fn resolver_refuses_names_of_every_embedding() {
        let names: Vec<(String, IpAddr)> = super::super::guard::REFUSED_EMBEDDINGS
            .iter()
            .enumerate()
            .map(|(n, (ip, _))| (format!("form{n}.test"), ip.parse().unwrap()))
            .collect();
        let table: Vec<(&str, IpAddr)> = names.iter().map(|(n, ip)| (n.as_str(), *ip)).collect();
        let resolver = table_resolver(SsrfGuard::default(), &table);
        for ((name, ip), (_, reason)) in names.iter().zip(super::super::guard::REFUSED_EMBEDDINGS) {
            let err = resolve(&resolver, name).await.unwrap_err();
            let refusal = err
                .downcast_ref::<GuardRefusal>()
                .unwrap_or_else(|| panic!("{name} -> {ip}: {err}"));
            assert_eq!(refusal.target, *name);
            assert!(
                refusal.reason.contains(&format!("{ip} ({reason})")),
                "{name} -> {ip}: {}",
                refusal.reason
            );
        }
    }

    #[tokio::test]
    async fn table_resolver_keeps_allowed_addresses_and_fails_unknown_names() {
        let resolver = table_resolver(
            SsrfGuard::default(),
            &[
                ("mixed.test", "2002:7f00:1::".parse().unwrap()),
                ("mixed.test", "2002:808:808::1".parse().unwrap()),
            ],
        );
        let kept = resolve(&resolver, "mixed.test").await.unwrap();
        assert_eq!(
            kept,
            [SocketAddr::new("2002:808:808::1".parse().unwrap(), 0)]
        );
        let err = resolve(&resolver, "unknown.test").await.unwrap_err();
        assert!(err.downcast_ref::<DnsFailure>().is_some(), "{err}");
    }
}
