//! Delivering one signed webhook attempt over HTTP.
//!
//! The dispatcher signs a message, builds a [`WebhookRequest`] and hands it
//! to a [`Transport`]. The transport reports what the receiver answered, any
//! status included, as a [`WebhookResponse`]; only failing to get an answer
//! at all is a [`TransportError`], whose [`kind`](TransportError::kind) is
//! what attempt records store.
//!
//! [`HttpTransport`] is the default transport. Its [`SsrfGuard`] keeps
//! customer-supplied URLs from reaching the platform's own network.
//!
//! ```no_run
//! use std::time::Duration;
//! use hookshot::transport::{HttpTransport, SsrfGuard, Transport, WebhookRequest};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = HttpTransport::builder()
//!     .guard(SsrfGuard::default().allow_cidr("10.20.0.0/16")?)
//!     .build()?;
//! let response = transport
//!     .send(WebhookRequest::new(
//!         "https://acme.example/webhooks",
//!         r#"{"type":"invoice.paid"}"#,
//!         Duration::from_secs(15),
//!     ))
//!     .await?;
//! println!("{}", response.status);
//! # Ok(())
//! # }
//! ```

mod guard;
mod http;
mod resolver;
mod tls;

use std::time::Duration;

// `::http` is the crate; plain `http` here is the submodule below.
use ::http::{HeaderMap, StatusCode};
use bytes::Bytes;

pub use self::guard::{BlockReason, SsrfGuard};
pub use self::http::{DEFAULT_RESPONSE_BODY_LIMIT, HttpTransport, HttpTransportBuilder};

/// One delivery attempt: a `POST` of `body` with `headers` to `url`.
///
/// Its `Debug` shows the URL without its query, the header names and the
/// body's length: header values (signatures, custom headers) and payloads
/// are secrets of the endpoint's owner.
#[derive(Clone)]
#[non_exhaustive]
pub struct WebhookRequest {
    /// The endpoint's URL.
    pub url: String,
    /// Headers to send, typically the `webhook-*` signature headers and
    /// `content-type`.
    pub headers: HeaderMap,
    /// The raw body, exactly the bytes that were signed.
    pub body: Bytes,
    /// How long the whole attempt may take: resolving, connecting, sending
    /// and reading the response body. [`HttpTransport`] cuts timeouts longer
    /// than a day to a day.
    pub timeout: Duration,
}

impl WebhookRequest {
    /// A `POST` of `body` to `url`, without headers, that may take
    /// `timeout` in all.
    pub fn new(url: impl Into<String>, body: impl Into<Bytes>, timeout: Duration) -> Self {
        Self {
            url: url.into(),
            headers: HeaderMap::new(),
            body: body.into(),
            timeout,
        }
    }

    /// The same request with `headers`.
    #[must_use]
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }
}

impl std::fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self
            .url
            .split_once(['?', '#'])
            .map_or(self.url.as_str(), |(url, _)| url);
        let names: Vec<&str> = self.headers.keys().map(|name| name.as_str()).collect();
        f.debug_struct("WebhookRequest")
            .field("url", &url)
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What the receiver answered, whatever the status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookResponse {
    /// The response status. A 3xx is returned as is: redirects are not
    /// followed.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The start of the response body, at most the transport's cap.
    pub body: Vec<u8>,
    /// Whether `body` is not the whole body: it was longer than the cap, it
    /// did not finish arriving before the timeout, or the connection broke
    /// while it was arriving. The status stands in every case.
    pub body_truncated: bool,
}

impl WebhookResponse {
    /// A response with `status`, no headers and an empty body, for a
    /// transport of your own to fill in.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: Vec::new(),
            body_truncated: false,
        }
    }

    /// The same response with `headers`.
    #[must_use]
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// The same response with the start of its body, and whether that is
    /// not the whole body.
    #[must_use]
    pub fn body(mut self, body: Vec<u8>, truncated: bool) -> Self {
        self.body = body;
        self.body_truncated = truncated;
        self
    }
}

/// Why no response was received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The attempt's timeout ran out before the response headers arrived.
    #[error("timed out before a response arrived")]
    Timeout,
    /// The endpoint's host name did not resolve.
    #[error("DNS resolution failed: {0}")]
    Dns(String),
    /// No connection could be made (refused, reset, unreachable).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The TLS handshake failed, such as for an untrusted certificate.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The SSRF guard refused the destination; nothing was sent.
    #[error("blocked {target}: {reason}")]
    Blocked {
        /// The refused URL origin, host name or address.
        target: String,
        /// Why it was refused.
        reason: String,
    },
    /// The request could not be sent as given, such as an unparsable URL.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Any other failure to get a response.
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// A stable snake_case name for the kind of failure, for attempt
    /// records and metrics: `timeout`, `dns`, `connect`, `tls`, `blocked`,
    /// `invalid_request` or `other`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Dns(_) => "dns",
            Self::Connect(_) => "connect",
            Self::Tls(_) => "tls",
            Self::Blocked { .. } => "blocked",
            Self::InvalidRequest(_) => "invalid_request",
            Self::Other(_) => "other",
        }
    }
}

/// Sends one webhook attempt. [`HttpTransport`] is the implementation to
/// use; tests of a dispatcher can substitute their own.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Sends `request` and returns the receiver's answer, whatever its
    /// status.
    ///
    /// # Errors
    ///
    /// A [`TransportError`] only when no response was received.
    async fn send(&self, request: WebhookRequest) -> Result<WebhookResponse, TransportError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stable_names() {
        let cases = [
            (TransportError::Timeout, "timeout"),
            (TransportError::Dns(String::new()), "dns"),
            (TransportError::Connect(String::new()), "connect"),
            (TransportError::Tls(String::new()), "tls"),
            (
                TransportError::Blocked {
                    target: "127.0.0.1".into(),
                    reason: "loopback address".into(),
                },
                "blocked",
            ),
            (
                TransportError::InvalidRequest(String::new()),
                "invalid_request",
            ),
            (TransportError::Other(String::new()), "other"),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind);
        }
    }

    #[test]
    fn blocked_names_target_and_reason() {
        let error = TransportError::Blocked {
            target: "127.0.0.1".into(),
            reason: "loopback address".into(),
        };
        assert_eq!(error.to_string(), "blocked 127.0.0.1: loopback address");
    }
}
