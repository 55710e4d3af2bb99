//! [`HttpTransport`]: the reqwest-based transport, with the SSRF guard
//! applied at connect time.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{HeaderValue, Method};
use reqwest::{Client, Request, Response, Url};
use tokio::time::{Instant, Sleep, sleep_until};
use url::Host;

use super::guard::SsrfGuard;
use super::resolver::{DnsFailure, GuardRefusal, GuardedResolver, Lookup};
use super::{Transport, TransportError, WebhookRequest, WebhookResponse};
use crate::error::Error;

/// How much of a response body [`HttpTransport`] keeps unless told
/// otherwise: 16 KiB, plenty for the error message a receiver sends back.
pub const DEFAULT_RESPONSE_BODY_LIMIT: usize = 16 * 1024;

/// The longest timeout honoured; longer ones are cut to it. Adding an
/// unbounded duration to an instant could overflow.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The default transport: HTTP/1.1 over rustls, one `POST` per attempt.
///
/// Redirects are not followed (a 3xx is the answer), no proxy is used (a
/// proxy would connect on the transport's behalf, past the guard), and the
/// [`SsrfGuard`] checks every address at connect time, after DNS, so a name
/// that resolves to an internal address is refused however it is looked up.
///
/// Server certificates are verified against the operating system's trust
/// store, so CAs an operator installed there (for internal receivers) work.
/// Where the system has no CA certificates at all, as in a minimal
/// container, Mozilla's roots are used instead, compiled in by the
/// `webpki-roots` feature (on by default).
///
/// Build one per process and share it: it keeps connections alive between
/// attempts to the same endpoint.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: Client,
    guard: Arc<SsrfGuard>,
    body_limit: usize,
    checked: Arc<CheckedUrls>,
}

/// Configures an [`HttpTransport`]; from [`HttpTransport::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HttpTransportBuilder {
    guard: SsrfGuard,
    body_limit: usize,
    user_agent: String,
}

impl HttpTransport {
    /// A builder with the production defaults: [`SsrfGuard::default`], a
    /// 16 KiB response body cap and the user agent `hookshot/<version>`.
    pub fn builder() -> HttpTransportBuilder {
        HttpTransportBuilder {
            guard: SsrfGuard::default(),
            body_limit: DEFAULT_RESPONSE_BODY_LIMIT,
            user_agent: concat!("hookshot/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The guard this transport applies.
    pub fn guard(&self) -> &SsrfGuard {
        &self.guard
    }

    /// Checks the request and starts sending it. Not async, so that none of
    /// what it builds takes room in the attempt's state.
    fn send_off(
        &self,
        request: WebhookRequest,
    ) -> Result<impl Future<Output = Result<Response, reqwest::Error>> + use<>, TransportError>
    {
        let url = self.checked.check(&self.guard, &request.url)?;
        let mut post = Request::new(Method::POST, url);
        // Moved in whole: the request builder would copy them one by one.
        *post.headers_mut() = request.headers;
        *post.body_mut() = Some(request.body.into());
        Ok(self.client.execute(post))
    }

    /// Waits for the answer to a request sent off, reading it by
    /// `deadline`.
    ///
    /// Only the request's future is passed in, not the request: the whole
    /// attempt's state is allocated per attempt, and the smaller it is the
    /// cheaper that is.
    async fn answer(
        &self,
        sending: impl Future<Output = Result<Response, reqwest::Error>>,
        deadline: Instant,
    ) -> Result<WebhookResponse, TransportError> {
        // One timer for the whole attempt, response body included.
        let expired = sleep_until(deadline);
        tokio::pin!(expired);
        let response = tokio::select! {
            biased;
            result = sending => result.map_err(map_error)?,
            () = &mut expired => return Err(TransportError::Timeout),
        };
        Ok(read_capped(response, self.body_limit, expired).await)
    }
}

#[async_trait::async_trait]
impl Transport for HttpTransport {
    async fn send(&self, request: WebhookRequest) -> Result<WebhookResponse, TransportError> {
        let deadline = Instant::now() + request.timeout.min(MAX_TIMEOUT);
        let sending = self.send_off(request)?;
        self.answer(sending, deadline).await
    }
}

impl HttpTransportBuilder {
    /// The SSRF guard to apply; [`SsrfGuard::default`] unless set.
    pub fn guard(mut self, guard: SsrfGuard) -> Self {
        self.guard = guard;
        self
    }

    /// How many bytes of a response body to keep; the rest is not read.
    /// Defaults to [`DEFAULT_RESPONSE_BODY_LIMIT`].
    pub fn response_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The `user-agent` header sent unless a request sets its own;
    /// `hookshot/<version>` unless set.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the transport.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] on field `user_agent` if it is not a valid
    /// header value; [`Error::Backend`] if the TLS configuration cannot be
    /// built: when the system has no CA certificates and the `webpki-roots`
    /// feature is off, or when `SSL_CERT_FILE` or `SSL_CERT_DIR` name no
    /// usable certificates. Its message says how to supply them.
    pub fn build(self) -> Result<HttpTransport, Error> {
        self.build_with(super::tls::tls_config()?, Lookup::System)
    }

    /// Builds the transport on `tls`, looking names up with `lookup`.
    pub(super) fn build_with(
        self,
        tls: rustls::ClientConfig,
        lookup: Lookup,
    ) -> Result<HttpTransport, Error> {
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Error::invalid("user_agent", "not a valid header value"))?;
        let guard = Arc::new(self.guard);
        let client = Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(GuardedResolver {
                guard: Arc::clone(&guard),
                lookup,
            })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .http1_only()
            .user_agent(user_agent)
            .build()
            .map_err(|e| Error::backend("building the HTTP client", false, e))?;
        Ok(HttpTransport {
            client,
            guard,
            body_limit: self.body_limit,
            checked: Arc::default(),
        })
    }
}

/// URLs that passed [`check_url`], parsed: an endpoint's URL is the same on
/// every attempt, and parsing it costs more than looking it up. The guard
/// never changes, so neither does the outcome of a check.
#[derive(Debug, Default)]
struct CheckedUrls(Mutex<HashMap<String, Url>>);

impl CheckedUrls {
    /// Enough for every endpoint a busy dispatcher is delivering to at once;
    /// when full the cache starts over, so it stays bounded whatever URLs
    /// customers register.
    const CAPACITY: usize = 1024;

    /// `url` parsed and checked, from the cache when it was seen before.
    fn check(&self, guard: &SsrfGuard, url: &str) -> Result<Url, TransportError> {
        if let Some(checked) = self.lock().get(url) {
            return Ok(checked.clone());
        }
        let checked = check_url(guard, url)?;
        let mut cache = self.lock();
        if cache.len() >= Self::CAPACITY {
            cache.clear();
        }
        cache.insert(url.to_owned(), checked.clone());
        Ok(checked)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Url>> {
        // A panic cannot leave a half-inserted URL behind.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Parses `url` and applies the checks the resolver cannot: the scheme, and
/// literal IP hosts (which are connected to without a lookup).
fn check_url(guard: &SsrfGuard, url: &str) -> Result<Url, TransportError> {
    let url = Url::parse(url).map_err(|e| TransportError::InvalidRequest(format!("url: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if guard.allows_http() => {}
        "http" => {
            return Err(TransportError::Blocked {
                target: url.origin().ascii_serialization(),
                reason: "plain http is refused; use https".to_owned(),
            });
        }
        other => {
            return Err(TransportError::InvalidRequest(format!(
                "url: unsupported scheme {other:?}"
            )));
        }
    }
    let literal = match url.host() {
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(Host::Domain(_)) => None,
        None => return Err(TransportError::InvalidRequest("url: no host".to_owned())),
    };
    if let Some(ip) = literal {
        guard
            .check_ip(ip)
            .map_err(|reason| TransportError::Blocked {
                target: ip.to_string(),
                reason: reason.to_string(),
            })?;
    }
    Ok(url)
}

/// Reads at most `limit` bytes of the body, stopping once `expired` fires.
///
/// The status and headers have arrived, so the receiver's answer is known:
/// a body that is too long, too slow or cut off only makes what is kept
/// partial. What is left unread is never read: dropping the response
/// closes the connection.
async fn read_capped(
    mut response: Response,
    limit: usize,
    mut expired: Pin<&mut Sleep>,
) -> WebhookResponse {
    let status = response.status();
    // Taken rather than copied: reading the body does not need them.
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        let next = tokio::select! {
            biased;
            next = response.chunk() => next,
            () = &mut expired => {
                truncated = true;
                break;
            }
        };
        let chunk = match next {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(_) => {
                truncated = true;
                break;
            }
        };
        let room = limit.saturating_sub(body.len());
        if chunk.len() > room {
            #[allow(clippy::expect_used)]
            let kept = chunk.get(..room).expect("room is shorter than the chunk");
            body.extend_from_slice(kept);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    WebhookResponse {
        status,
        headers,
        body,
        body_truncated: truncated,
    }
}

/// Classifies a reqwest failure by what is found along its source chain.
fn map_error(error: reqwest::Error) -> TransportError {
    // The URL may carry a secret token in its path or query; attempt
    // records must not.
    let error = error.without_url();
    for cause in chain(&error) {
        if let Some(refusal) = cause.downcast_ref::<GuardRefusal>() {
            return TransportError::Blocked {
                target: refusal.target.clone(),
                reason: refusal.reason.clone(),
            };
        }
        if let Some(failure) = cause.downcast_ref::<DnsFailure>() {
            return TransportError::Dns(failure.to_string());
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return TransportError::Tls(tls.to_string());
        }
    }
    if error.is_timeout() {
        TransportError::Timeout
    } else if error.is_connect() {
        TransportError::Connect(describe(&error))
    } else if error.is_builder() {
        TransportError::InvalidRequest(describe(&error))
    } else {
        TransportError::Other(describe(&error))
    }
}

/// `error` and its causes, outermost first.
fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e| next_cause(e))
}

/// The error beneath `error`. For an `io::Error` that is the error it wraps,
/// which its own `source` skips: rustls errors arrive wrapped that way, in
/// two layers of `io::Error`.
fn next_cause<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match error
        .downcast_ref::<io::Error>()
        .and_then(io::Error::get_ref)
    {
        Some(wrapped) => Some(wrapped),
        None => error.source(),
    }
}

/// The messages along `error`'s chain joined with `: `, skipping any that
/// an outer message already includes; reqwest's own message alone ("error
/// sending request") says nothing useful.
fn describe(error: &reqwest::Error) -> String {
    let mut message = String::new();
    for cause in chain(error) {
        let text = cause.to_string();
        if text.is_empty() || message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn url_checks() {
        let on = SsrfGuard::default();
        let off = SsrfGuard::disabled();
        assert!(check_url(&on, "https://example.com/hook").is_ok());
        assert!(check_url(&off, "http://127.0.0.1:8080/hook").is_ok());

        let err = check_url(&on, "http://example.com/hook?token=secret").unwrap_err();
        assert_eq!(
            err,
            TransportError::Blocked {
                target: "http://example.com".into(),
                reason: "plain http is refused; use https".into(),
            }
        );
        // The URL parser normalises other spellings of an IPv4 address.
        for url in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://[::ffff:7f00:1]/",
        ] {
            assert_eq!(check_url(&on, url).unwrap_err().kind(), "blocked", "{url}");
        }
        for (ip, reason) in super::super::guard::REFUSED_EMBEDDINGS {
            let url = format!("https://[{ip}]:8443/hook");
            let err = check_url(&on, &url).unwrap_err();
            let expected: IpAddr = ip.parse().unwrap();
            assert_eq!(
                err,
                TransportError::Blocked {
                    target: expected.to_string(),
                    reason: reason.to_string(),
                },
                "{url}"
            );
        }
        for url in ["not a url", "ftp://example.com/", "file:///etc/passwd"] {
            assert_eq!(
                check_url(&on, url).unwrap_err().kind(),
                "invalid_request",
                "{url}"
            );
        }
    }

    #[test]
    fn checked_urls_agree_with_checking_and_stay_bounded() {
        let guard = SsrfGuard::default();
        let checked = CheckedUrls::default();
        for url in ["https://example.com/hook", "https://example.com/hook"] {
            assert_eq!(checked.check(&guard, url), check_url(&guard, url));
        }
        for url in ["http://example.com/hook", "https://127.0.0.1/", "not a url"] {
            assert_eq!(checked.check(&guard, url), check_url(&guard, url));
            assert_eq!(checked.check(&guard, url), check_url(&guard, url));
        }
        assert_eq!(checked.lock().len(), 1, "refusals are not kept");
        for n in 0..CheckedUrls::CAPACITY + 1 {
            let url = format!("https://r{n}.example/hook");
            assert!(checked.check(&guard, &url).is_ok());
        }
        assert!(checked.lock().len() <= CheckedUrls::CAPACITY);
    }

    /// The transport resolves through the lookup it is built with: a name
    /// the table points at loopback is refused by name, and reaches the
    /// loopback listener once loopback is allow-listed. Only loopback is
    /// ever connected to.
    #[tokio::test]
    async fn transport_resolves_through_its_lookup() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        // Were the table not used, `.test` would not resolve (RFC 6761)
        // and the attempt would fail as DNS rather than be blocked.
        let table = |guard| {
            HttpTransport::builder()
                .guard(guard)
                .build_with(
                    super::super::tls::tls_config().unwrap(),
                    super::super::resolver::tests::table_lookup(&[(
                        "hook.test",
                        "127.0.0.1".parse().unwrap(),
                    )]),
                )
                .unwrap()
        };
        let request = || {
            WebhookRequest::new(
                format!("https://hook.test:{port}/"),
                "{}",
                Duration::from_secs(10),
            )
        };

        let refused = table(SsrfGuard::default()).send(request()).await;
        match refused {
            Err(TransportError::Blocked { target, reason }) => {
                assert_eq!(target, "hook.test");
                assert!(reason.contains("127.0.0.1 (loopback address)"), "{reason}");
            }
            other => panic!("expected Blocked, got {other:?}"),
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 0);

        let allowed = SsrfGuard::default().allow_cidr("127.0.0.0/8").unwrap();
        let outcome = table(allowed).send(request()).await;
        assert!(outcome.is_err(), "the listener speaks no TLS: {outcome:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn builder_rejects_a_bad_user_agent() {
        let err = HttpTransport::builder()
            .user_agent("bad\nagent")
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "user_agent"),
            "{err}"
        );
    }
}
