#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `HttpTransport` against real HTTP servers on loopback: responses of every
//! status, redirects, timeouts, capped and trickling bodies, connection
//! failures, headers, and the SSRF guard refusing internal destinations.
//!
//! Servers that must misbehave at the TCP level (never answer, stall
//! mid-response) are raw tokio listeners; the rest are axum.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, post};
use hookshot::transport::{
    DEFAULT_RESPONSE_BODY_LIMIT, HttpTransport, SsrfGuard, Transport, TransportError,
    WebhookRequest, WebhookResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The timeout of the tests that wait for one to run out: short, to keep
/// the suite fast.
const TIMEOUT: Duration = Duration::from_millis(400);

/// The timeout of every other request: long enough that a loopback round
/// trip on a busy CI machine never reaches it.
const GENEROUS: Duration = Duration::from_secs(10);

/// How far past its timeout an attempt may return: scheduling slack.
const SLACK: Duration = Duration::from_millis(1500);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A transport for plain-http loopback servers: the guard is off.
fn open_transport() -> HttpTransport {
    HttpTransport::builder()
        .guard(SsrfGuard::disabled())
        .build()
        .unwrap()
}

/// A transport with the production guard.
fn guarded_transport() -> HttpTransport {
    HttpTransport::builder().build().unwrap()
}

fn request(url: impl Into<String>) -> WebhookRequest {
    WebhookRequest::new(
        url,
        Bytes::from_static(br#"{"type":"invoice.paid"}"#),
        GENEROUS,
    )
}

/// A request that gives up after [`TIMEOUT`].
fn impatient(url: impl Into<String>) -> WebhookRequest {
    let mut request = request(url);
    request.timeout = TIMEOUT;
    request
}

/// Serves `app` on an ephemeral loopback port.
async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// Accepts connections on an ephemeral loopback port, counting them, and
/// hands each to `handle`.
async fn raw_server<F, Fut>(handle: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(stream));
        }
    });
    (addr, accepted)
}

/// Reads until the end of the request head.
async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `bytes` after the request head, then holds the connection open
/// without another byte until the client gives up.
async fn answer_then_stall(mut stream: TcpStream, bytes: &'static [u8]) {
    read_head(&mut stream).await;
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
    let mut sink = [0; 64];
    // Returns when the client closes the connection.
    while let Ok(n) = stream.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

async fn send_timed(
    transport: &HttpTransport,
    request: WebhookRequest,
) -> (Result<WebhookResponse, TransportError>, Duration) {
    let started = Instant::now();
    let outcome = transport.send(request).await;
    (outcome, started.elapsed())
}

#[track_caller]
fn assert_within_timeout(elapsed: Duration, timeout: Duration) {
    assert!(
        elapsed < timeout + SLACK,
        "took {elapsed:?} for a {timeout:?} timeout"
    );
}

#[track_caller]
fn assert_blocked(outcome: Result<WebhookResponse, TransportError>) -> (String, String) {
    match outcome {
        Err(TransportError::Blocked { target, reason }) => (target, reason),
        other => panic!("expected Blocked, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

#[tokio::test]
async fn success_with_body() {
    let app = Router::new().route(
        "/hook",
        post(|| async { (StatusCode::OK, [("x-receiver", "ok")], "thanks") }),
    );
    let addr = serve(app).await;

    let response = open_transport()
        .send(request(format!("http://{addr}/hook")))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, b"thanks");
    assert!(!response.body_truncated);
    assert_eq!(response.headers["x-receiver"], "ok");
}

#[tokio::test]
async fn server_error_is_a_response() {
    let app = Router::new().route(
        "/hook",
        post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "database down") }),
    );
    let addr = serve(app).await;

    let response = open_transport()
        .send(request(format!("http://{addr}/hook")))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.body, b"database down");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target_hits = Arc::new(AtomicUsize::new(0));
    let hits = Arc::clone(&target_hits);
    let app = Router::new()
        .route(
            "/hook",
            post(|| async { (StatusCode::TEMPORARY_REDIRECT, [("location", "/target")]) }),
        )
        .route(
            "/target",
            any(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::OK }
            }),
        );
    let addr = serve(app).await;

    let response = open_transport()
        .send(request(format!("http://{addr}/hook")))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(response.headers["location"], "/target");
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn request_headers_body_and_user_agent_arrive() {
    type Seen = Arc<Mutex<Option<(HeaderMap, Bytes)>>>;
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    *seen.lock().unwrap() = Some((headers, body));
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let addr = serve(app).await;

    let mut request = request(format!("http://{addr}/hook"));
    request
        .headers
        .insert("webhook-id", "msg_1".parse().unwrap());
    request
        .headers
        .insert("webhook-signature", "v1,abc=".parse().unwrap());
    request
        .headers
        .insert("content-type", "application/json".parse().unwrap());
    request.headers.insert("x-custom", "yes".parse().unwrap());
    let sent_body = request.body.clone();

    let response = open_transport().send(request).await.unwrap();
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let (headers, body) = seen.lock().unwrap().take().unwrap();
    assert_eq!(body, sent_body);
    assert_eq!(headers["webhook-id"], "msg_1");
    assert_eq!(headers["webhook-signature"], "v1,abc=");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-custom"], "yes");
    assert_eq!(
        headers["user-agent"],
        format!("hookshot/{}", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn user_agent_can_be_changed() {
    let app = Router::new().route(
        "/hook",
        post(|headers: HeaderMap| async move {
            headers["user-agent"].to_str().unwrap_or("").to_owned()
        }),
    );
    let addr = serve(app).await;
    let transport = HttpTransport::builder()
        .guard(SsrfGuard::disabled())
        .user_agent("acme-webhooks/2")
        .build()
        .unwrap();

    let response = transport
        .send(request(format!("http://{addr}/hook")))
        .await
        .unwrap();
    assert_eq!(response.body, b"acme-webhooks/2");
}

// ---------------------------------------------------------------------------
// Bodies and timeouts
// ---------------------------------------------------------------------------

#[tokio::test]
async fn huge_body_is_cut_at_the_cap() {
    let app = Router::new().route("/hook", post(|| async { vec![b'x'; 10 * 1024 * 1024] }));
    let addr = serve(app).await;

    let (outcome, elapsed) =
        send_timed(&open_transport(), request(format!("http://{addr}/hook"))).await;
    let response = outcome.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body.len(), DEFAULT_RESPONSE_BODY_LIMIT);
    assert!(response.body_truncated);
    assert!(elapsed < GENEROUS / 2, "took {elapsed:?}");
}

/// A body that never ends: the transport stops at the cap, long before the
/// timeout, and closes the connection rather than draining it.
#[tokio::test]
async fn endless_body_is_not_drained() {
    let written = Arc::new(AtomicUsize::new(0));
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let closed_tx = Arc::new(Mutex::new(Some(closed_tx)));
    let counter = Arc::clone(&written);
    let (addr, _) = raw_server(move |mut stream| {
        let counter = Arc::clone(&counter);
        let closed_tx = Arc::clone(&closed_tx);
        async move {
            read_head(&mut stream).await;
            let head = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n";
            let mut outcome = stream.write_all(head).await;
            let chunk = [b'x'; 8192];
            while outcome.is_ok() {
                outcome = stream.write_all(&chunk).await;
                counter.fetch_add(chunk.len(), Ordering::SeqCst);
            }
            if let Some(tx) = closed_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    })
    .await;

    let (outcome, elapsed) =
        send_timed(&open_transport(), request(format!("http://{addr}/hook"))).await;
    let response = outcome.unwrap();
    assert_eq!(response.body.len(), DEFAULT_RESPONSE_BODY_LIMIT);
    assert!(response.body_truncated);
    assert!(elapsed < GENEROUS / 2, "took {elapsed:?}");
    // The server's writes fail once the client has closed the connection.
    tokio::time::timeout(GENEROUS, closed_rx)
        .await
        .expect("the connection stayed open")
        .unwrap();
    assert!(written.load(Ordering::SeqCst) < 64 * 1024 * 1024);
}

#[tokio::test]
async fn body_cap_is_configurable_and_exact() {
    let app = Router::new()
        .route("/long", post(|| async { "0123456789abc" }))
        .route("/exact", post(|| async { "0123456789" }))
        .route("/empty", post(|| async { StatusCode::ACCEPTED }));
    let addr = serve(app).await;
    let transport = HttpTransport::builder()
        .guard(SsrfGuard::disabled())
        .response_body_limit(10)
        .build()
        .unwrap();

    let long = transport
        .send(request(format!("http://{addr}/long")))
        .await
        .unwrap();
    assert_eq!(long.body, b"0123456789");
    assert!(long.body_truncated);

    let exact = transport
        .send(request(format!("http://{addr}/exact")))
        .await
        .unwrap();
    assert_eq!(exact.body, b"0123456789");
    assert!(!exact.body_truncated);

    let empty = transport
        .send(request(format!("http://{addr}/empty")))
        .await
        .unwrap();
    assert_eq!(empty.status, StatusCode::ACCEPTED);
    assert!(empty.body.is_empty());
    assert!(!empty.body_truncated);
}

#[tokio::test]
async fn silent_server_times_out() {
    let (addr, accepted) = raw_server(|mut stream| async move {
        read_head(&mut stream).await;
        // Never answers; holds the connection until the client leaves.
        let mut sink = [0; 64];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;

    let (outcome, elapsed) =
        send_timed(&open_transport(), impatient(format!("http://{addr}/hook"))).await;
    assert_eq!(outcome.unwrap_err(), TransportError::Timeout);
    assert!(elapsed >= TIMEOUT, "gave up early, after {elapsed:?}");
    assert_within_timeout(elapsed, TIMEOUT);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// Headers arrived, then the body stalls: the status stands, and what
/// arrived of the body comes back marked truncated, at the timeout.
#[tokio::test]
async fn trickling_body_returns_truncated_at_the_timeout() {
    let (addr, _) = raw_server(|stream| {
        answer_then_stall(
            stream,
            b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nabc",
        )
    })
    .await;

    let (outcome, elapsed) =
        send_timed(&open_transport(), impatient(format!("http://{addr}/hook"))).await;
    let response = outcome.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, b"abc");
    assert!(response.body_truncated);
    assert!(elapsed >= TIMEOUT, "returned early, after {elapsed:?}");
    assert_within_timeout(elapsed, TIMEOUT);
}

/// A stall before the headers are complete leaves no status: a timeout.
#[tokio::test]
async fn trickling_head_times_out() {
    let (addr, _) =
        raw_server(|stream| answer_then_stall(stream, b"HTTP/1.1 200 OK\r\ncontent-le")).await;

    let (outcome, elapsed) =
        send_timed(&open_transport(), impatient(format!("http://{addr}/hook"))).await;
    assert_eq!(outcome.unwrap_err(), TransportError::Timeout);
    assert_within_timeout(elapsed, TIMEOUT);
}

// ---------------------------------------------------------------------------
// Failures to connect
// ---------------------------------------------------------------------------

#[tokio::test]
async fn refused_connection_is_connect() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };

    let error = open_transport()
        .send(request(format!("http://127.0.0.1:{port}/hook")))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "connect", "{error:?}");
}

#[tokio::test]
async fn unknown_host_is_dns() {
    // `.invalid` never resolves (RFC 6761); the generous timeout keeps a
    // slow resolver from turning this into a timeout.
    let error = open_transport()
        .send(request("http://no-such-host.invalid/hook"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "dns", "{error:?}");
    assert!(
        error.to_string().contains("no-such-host.invalid"),
        "{error}"
    );
}

#[tokio::test]
async fn unparsable_url_is_invalid_request() {
    let error = open_transport()
        .send(request("not a url"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "invalid_request");
}

#[tokio::test]
async fn errors_never_carry_the_url_path() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let error = open_transport()
        .send(request(format!(
            "http://127.0.0.1:{port}/hook/sekrit-token?key=sekrit"
        )))
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("sekrit"), "{error}");
}

// ---------------------------------------------------------------------------
// The SSRF guard
// ---------------------------------------------------------------------------

/// A loopback listener that counts connections and closes them at once.
async fn counting_listener() -> (SocketAddr, Arc<AtomicUsize>) {
    raw_server(|stream| async move { drop(stream) }).await
}

#[tokio::test]
async fn guard_refuses_internal_addresses_without_connecting() {
    let (addr, accepted) = counting_listener().await;
    let port = addr.port();
    let transport = guarded_transport();

    for (url, target, reason) in [
        (
            format!("https://127.0.0.1:{port}/"),
            "127.0.0.1",
            "loopback",
        ),
        (format!("https://[::1]:{port}/"), "::1", "loopback"),
        (
            format!("https://[::ffff:127.0.0.1]:{port}/"),
            "::ffff:127.0.0.1",
            "loopback",
        ),
        (
            format!("https://localhost:{port}/"),
            "localhost",
            "loopback",
        ),
        ("https://10.0.0.1/".to_owned(), "10.0.0.1", "private"),
        (
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
            "link-local",
        ),
        ("https://[fd00::1]/".to_owned(), "fd00::1", "unique local"),
        (
            "https://100.64.0.1/".to_owned(),
            "100.64.0.1",
            "carrier-grade NAT",
        ),
    ] {
        let (got_target, got_reason) = assert_blocked(transport.send(request(&url)).await);
        assert_eq!(got_target, target, "{url}");
        assert!(got_reason.contains(reason), "{url}: {got_reason}");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "a refused request connected"
    );
}

#[tokio::test]
async fn guard_refuses_plain_http() {
    let (addr, accepted) = counting_listener().await;
    let transport = guarded_transport();

    let (target, reason) = assert_blocked(transport.send(request("http://example.com/hook")).await);
    assert_eq!(target, "http://example.com");
    assert!(reason.contains("https"), "{reason}");

    assert_blocked(transport.send(request(format!("http://{addr}/hook"))).await);
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn blocked_error_kind_and_message() {
    let error = guarded_transport()
        .send(request("https://127.0.0.1/"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), "blocked");
    assert_eq!(error.to_string(), "blocked 127.0.0.1: loopback address");
}

/// With loopback allow-listed, the guard lets the request through; the
/// plain-http server then fails the TLS handshake, which proves the
/// connection was made.
#[tokio::test]
async fn allow_list_lets_the_request_past_the_guard() {
    // Answers the TLS client hello as a plain-http server would.
    let (addr, accepted) = raw_server(|mut stream| async move {
        let mut hello = [0; 1024];
        let _ = stream.read(&mut hello).await;
        let _ = stream
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
    })
    .await;
    let transport = HttpTransport::builder()
        .guard(
            SsrfGuard::default()
                .allow_cidr("127.0.0.0/8")
                .unwrap()
                .allow_cidr("::1/128")
                .unwrap(),
        )
        .build()
        .unwrap();

    for url in [
        format!("https://127.0.0.1:{}/hook", addr.port()),
        // Through the resolver this time.
        format!("https://localhost:{}/hook", addr.port()),
    ] {
        let error = transport.send(request(&url)).await.unwrap_err();
        assert!(matches!(error, TransportError::Tls(_)), "{url}: {error:?}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn allow_list_keeps_the_https_rule() {
    let transport = HttpTransport::builder()
        .guard(SsrfGuard::default().allow_cidr("127.0.0.0/8").unwrap())
        .build()
        .unwrap();
    let (addr, accepted) = counting_listener().await;
    assert_blocked(transport.send(request(format!("http://{addr}/hook"))).await);
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn transport_works_as_a_trait_object() {
    let app = Router::new().route("/hook", post(|| async { StatusCode::OK }));
    let addr = serve(app).await;
    let transport: Arc<dyn Transport> = Arc::new(open_transport());
    let response = transport
        .send(request(format!("http://{addr}/hook")))
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::OK);
}

#[test]
fn request_debug_shows_no_secret() {
    let mut headers = HeaderMap::new();
    headers.insert("webhook-signature", "v1,c2VjcmV0".parse().unwrap());
    headers.insert("x-api-key", "customer-secret".parse().unwrap());
    let request = WebhookRequest::new(
        "https://acme.example/hooks?token=hidden",
        r#"{"card":"4242"}"#,
        GENEROUS,
    )
    .headers(headers);
    let debug = format!("{request:?}");
    for secret in ["c2VjcmV0", "customer-secret", "hidden", "4242"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("x-api-key") && debug.contains("acme.example/hooks"));
}
