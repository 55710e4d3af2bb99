//! TLS for the default transport: rustls on ring, roots from the operating
//! system, and Mozilla's (feature `webpki-roots`) where the system has none.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls_platform_verifier::Verifier;

use crate::error::Error;

/// The environment variables through which an operator names the CA
/// certificates to trust instead of the system's; the platform verifier
/// reads them on Linux and the BSDs.
const ROOTS_ENV: [&str; 2] = ["SSL_CERT_FILE", "SSL_CERT_DIR"];

/// The rustls configuration: the ring provider, handed to this client alone
/// rather than installed process-wide, so the application's own choice of
/// provider is left alone; roots from the platform verifier.
pub(super) fn tls_config() -> Result<rustls::ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let platform = Verifier::new(Arc::clone(&provider));
    let roots_named = ROOTS_ENV
        .iter()
        .any(|name| std::env::var_os(name).is_some());
    tls_config_with(provider, platform, roots_named)
}

/// The rustls configuration on `provider`, given what building the
/// platform verifier gave and whether [`ROOTS_ENV`] names roots:
/// parameters, so that tests can hand in the failure of a machine without
/// CA certificates.
///
/// The platform verifier fails to build on Linux and the BSDs when it
/// finds no CA certificates; macOS and Windows always have a store.
/// Mozilla's roots then stand in, if compiled in, unless the operator named
/// roots in [`ROOTS_ENV`]: those failed to load, and trusting others
/// instead would hide the mistake.
fn tls_config_with(
    provider: Arc<CryptoProvider>,
    platform: Result<Verifier, rustls::Error>,
    roots_named: bool,
) -> Result<rustls::ClientConfig, Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::backend("configuring TLS", false, e))?;
    let builder = match platform {
        // What `with_platform_verifier` does: "dangerous" is rustls's name
        // for any verifier it did not build, and this one verifies fully.
        Ok(verifier) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier)),
        Err(error) => match bundled_roots().filter(|_| !roots_named) {
            Some(roots) => builder.with_root_certificates(roots),
            None => return Err(no_roots(error, roots_named)),
        },
    };
    let mut config = builder.with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Mozilla's root certificates, if the `webpki-roots` feature compiled
/// them in.
fn bundled_roots() -> Option<rustls::RootCertStore> {
    #[cfg(feature = "webpki-roots")]
    let roots = Some(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    });
    #[cfg(not(feature = "webpki-roots"))]
    let roots = None;
    roots
}

/// The error for a machine where no CA certificates could be had, saying
/// how to supply them: `error` is the platform verifier's.
fn no_roots(error: rustls::Error, roots_named: bool) -> Error {
    let message = if roots_named {
        "configuring TLS: no CA certificates could be loaded from where \
         SSL_CERT_FILE or SSL_CERT_DIR point; point them at PEM certificates, \
         or unset them to use the system's"
    } else {
        "configuring TLS: no CA certificates were found on this system; \
         install them (the ca-certificates package on most distributions), \
         point SSL_CERT_FILE or SSL_CERT_DIR at PEM certificates, or enable \
         hookshot's `webpki-roots` feature to fall back on Mozilla's roots"
    };
    Error::backend(message, false, error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// What building the platform verifier gives on a machine without CA
    /// certificates (Linux, rustls-platform-verifier 0.6 and 0.7).
    fn no_system_roots() -> Result<Verifier, rustls::Error> {
        Err(rustls::Error::General(
            "No CA certificates were loaded from the system".to_owned(),
        ))
    }

    fn ring() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A minimal container has no CA certificates: the transport still
    /// builds, on Mozilla's roots.
    #[cfg(feature = "webpki-roots")]
    #[test]
    fn builds_without_system_roots() {
        use crate::transport::HttpTransport;
        use crate::transport::resolver::Lookup;

        let tls = tls_config_with(ring(), no_system_roots(), false).unwrap();
        assert_eq!(tls.alpn_protocols, [b"http/1.1".to_vec()]);
        HttpTransport::builder()
            .build_with(tls, Lookup::System)
            .unwrap();
        assert!(bundled_roots().unwrap().len() > 50);
    }

    /// Without bundled roots, the error says how to supply some.
    #[cfg(not(feature = "webpki-roots"))]
    #[test]
    fn without_system_roots_the_error_says_how_to_supply_them() {
        let err = tls_config_with(ring(), no_system_roots(), false).unwrap_err();
        let message = err.to_string();
        for hint in ["ca-certificates", "SSL_CERT_FILE", "`webpki-roots` feature"] {
            assert!(message.contains(hint), "{hint}: {message}");
        }
        assert!(!err.is_transient());
        assert!(
            std::error::Error::source(&err).is_some(),
            "the platform's error"
        );
    }

    /// Roots the operator named but that failed to load are not silently
    /// replaced by Mozilla's.
    #[test]
    fn named_roots_that_fail_to_load_are_an_error() {
        let err = tls_config_with(ring(), no_system_roots(), true).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("SSL_CERT_FILE or SSL_CERT_DIR"),
            "{message}"
        );
        assert!(matches!(err, Error::Backend { .. }), "{err:?}");
    }
}
