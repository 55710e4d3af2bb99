//! The dispatcher end to end: real HTTP to receivers on loopback, and a
//! scripted transport where only the schedule matters. Time is a
//! `ManualClock` moved by hand; nothing sleeps to wait for a retry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hookshot::clock::{Clock, ManualClock, TokioClock};
use hookshot::dispatcher::{Dispatcher, DispatcherConfig};
use hookshot::model::{
    AttemptOutcome, DeliveryFilter, DeliveryStatus, EndpointStatus, EventType, NewEndpoint,
    PageRequest, TenantId, Trigger, UpdateEndpoint,
};
use hookshot::observer::{Notice, Observer};
use hookshot::retry::Random;
use hookshot::store::{MemoryStore, Store};
use hookshot::transport::{
    HttpTransport, Transport, TransportError, WebhookRequest, WebhookResponse,
};
use hookshot::{DeliveryId, EndpointId, SigningSecret, Verifier, Webhooks};

const START: &str = "2030-01-01T00:00:00Z";
const SECOND: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------- receiver

/// What the loopback receiver answers, request by request; 204 once the
/// script runs out.
#[derive(Debug, Clone)]
enum Reply {
    Status(u16),
    RetryAfter(u16, &'static str),
    Redirect,
    Big(usize),
    Hang,
}

#[derive(Debug, Clone, Default)]
struct Receiver {
    script: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

impl Receiver {
    async fn start(script: Vec<Reply>) -> (Self, String) {
        let receiver = Self {
            script: Arc::new(Mutex::new(script.into())),
            ..Self::default()
        };
        let app = Router::new().fallback(answer).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn seen(&self) -> Vec<(HeaderMap, Bytes)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    receiver.seen.lock().unwrap().push((headers, body));
    let reply = receiver.script.lock().unwrap().pop_front();
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match reply.unwrap_or(Reply::Status(204)) {
        Reply::Status(code) => status(code).into_response(),
        Reply::RetryAfter(code, after) => (status(code), [("retry-after", after)]).into_response(),
        Reply::Redirect => (StatusCode::FOUND, [("location", "/elsewhere")]).into_response(),
        Reply::Big(size) => vec![b'x'; size].into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
    }
}

// ------------------------------------------------------------- scaffolding

/// Jitter fixed at the middle, so delays are exactly the schedule's.
#[derive(Debug)]
struct NoJitter;

impl Random for NoJitter {
    fn next_unit(&self) -> f64 {
        0.5
    }
}

#[derive(Debug, Default)]
struct Notices(Mutex<Vec<Notice>>);

#[async_trait]
impl Observer for Notices {
    async fn notice(&self, notice: Notice) {
        self.0.lock().unwrap().push(notice);
    }
}

impl Notices {
    fn all(&self) -> Vec<Notice> {
        self.0.lock().unwrap().clone()
    }
}

struct Setup {
    clock: Arc<ManualClock>,
    /// The store behind `webhooks`, for what only a backend does.
    store: Arc<dyn Store>,
    webhooks: Arc<Webhooks>,
    dispatcher: Dispatcher,
    notices: Arc<Notices>,
    tenant: TenantId,
}

impl Setup {
    async fn with_transport(transport: Arc<dyn Transport>) -> Self {
        Self::build(Some(transport)).await
    }

    /// The dispatcher's own transport, as the local-development switch
    /// makes it.
    async fn default_transport() -> Self {
        Self::build(None).await
    }

    async fn build(transport: Option<Arc<dyn Transport>>) -> Self {
        Self::build_over(Arc::new(MemoryStore::new()), transport).await
    }

    /// A dispatcher over `store`, sending through `transport`, with its
    /// settings changed by `change`.
    async fn custom(
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        change: impl FnOnce(&mut DispatcherConfig),
    ) -> Self {
        let mut setup = Self::build_over(store, Some(transport.clone())).await;
        setup.dispatcher = Dispatcher::builder(setup.webhooks.clone())
            .observer(setup.notices.clone())
            .random(Arc::new(NoJitter))
            .transport(transport)
            .configure(change)
            .build()
            .unwrap();
        setup
    }

    async fn build_over(store: Arc<dyn Store>, transport: Option<Arc<dyn Transport>>) -> Self {
        let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
        let webhooks = Webhooks::builder(store.clone())
            .clock(clock.clone())
            .local_development(true)
            .event_types([
                EventType::new("invoice.paid").unwrap(),
                EventType::new("invoice.voided").unwrap(),
            ])
            .build()
            .await
            .unwrap();
        let webhooks = Arc::new(webhooks);
        let notices = Arc::new(Notices::default());
        let mut dispatcher = Dispatcher::builder(webhooks.clone())
            .observer(notices.clone())
            .random(Arc::new(NoJitter));
        if let Some(transport) = transport {
            dispatcher = dispatcher.transport(transport);
        }
        let dispatcher = dispatcher.build().unwrap();
        Self {
            clock,
            store,
            webhooks,
            dispatcher,
            notices,
            tenant: TenantId::new("acme").unwrap(),
        }
    }

    /// Real HTTP through the dispatcher's default transport, whose guard
    /// local development turns off: the receivers are on loopback.
    async fn http() -> Self {
        Self::default_transport().await
    }

    async fn endpoint(&self, url: &str) -> (EndpointId, SigningSecret) {
        let created = self
            .webhooks
            .create_endpoint(&self.tenant, NewEndpoint::new(url).timeout(SECOND))
            .await
            .unwrap();
        (created.endpoint.id, created.signing_secret)
    }

    async fn send(&self) -> DeliveryId {
        let sent = self
            .webhooks
            .send(&self.tenant, "invoice.paid", r#"{"invoice":"in_1"}"#)
            .await
            .unwrap();
        assert_eq!(sent.deliveries, 1);
        let page = self
            .webhooks
            .list_deliveries(
                &self.tenant,
                &DeliveryFilter::default(),
                &PageRequest::first(),
            )
            .await
            .unwrap();
        page.data[0].id.clone()
    }

    async fn round(&self) -> usize {
        self.dispatcher.deliver_due().await.unwrap()
    }

    async fn detail(&self, id: &DeliveryId) -> hookshot::model::DeliveryDetail {
        self.webhooks.delivery(&self.tenant, id).await.unwrap()
    }

    /// The first page of deliveries with `status`, newest first.
    async fn with_status(&self, status: DeliveryStatus) -> Vec<hookshot::model::Delivery> {
        let filter = DeliveryFilter::new().status(status);
        let page = self
            .webhooks
            .list_deliveries(&self.tenant, &filter, &PageRequest::first())
            .await
            .unwrap();
        page.data
    }

    /// Moves the clock to when the delivery is next due.
    async fn until_due(&self, id: &DeliveryId) {
        let due = self.detail(id).await.delivery.next_attempt_at.unwrap();
        self.clock.set(due.max(self.clock.now()));
    }
}

/// How long after now the delivery's next attempt is due.
fn due_in(setup: &Setup, delivery: &hookshot::model::Delivery) -> Duration {
    delivery
        .next_attempt_at
        .unwrap()
        .duration_since(setup.clock.now())
}

fn error_kind(outcome: &AttemptOutcome) -> &str {
    match outcome {
        AttemptOutcome::Error { kind, .. } => kind,
        other => panic!("expected an error, got {other:?}"),
    }
}

// ------------------------------------------------------------------- HTTP

#[tokio::test]
async fn delivers_signed_requests_that_verify() {
    let setup = Setup::http().await;
    let (receiver, url) = Receiver::start(vec![]).await;
    let (endpoint, secret) = setup.endpoint(&url).await;
    let id = setup.send().await;

    assert_eq!(setup.round().await, 1);

    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let now = setup.clock.now().unix_secs();
    Verifier::new(secret).verify_at(headers, body, now).unwrap();
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("hookshot/")
    );
    let envelope: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(envelope["type"], "invoice.paid");
    assert_eq!(envelope["data"]["invoice"], "in_1");

    let detail = setup.detail(&id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(headers["webhook-id"], detail.event.id.as_str());
    assert_eq!(detail.attempt_log.len(), 1);
    assert_eq!(detail.attempt_log[0].outcome.status(), Some(204));
    let endpoint = setup
        .webhooks
        .endpoint(&setup.tenant, &endpoint)
        .await
        .unwrap();
    assert_eq!(endpoint.last_triggered_at, Some(setup.clock.now()));
}

#[tokio::test]
async fn fails_twice_then_recovers_on_schedule() {
    let setup = Setup::http().await;
    let (receiver, url) = Receiver::start(vec![Reply::Status(500), Reply::Status(503)]).await;
    setup.endpoint(&url).await;
    let id = setup.send().await;

    setup.round().await;
    let first = setup.detail(&id).await.delivery;
    assert_eq!(first.status, DeliveryStatus::Retrying);
    assert_eq!(due_in(&setup, &first), 5 * SECOND);
    assert_eq!(setup.round().await, 0, "not due before its time");

    setup.until_due(&id).await;
    setup.round().await;
    let second = setup.detail(&id).await.delivery;
    assert_eq!(second.attempts, 2);
    assert_eq!(due_in(&setup, &second), 300 * SECOND);

    setup.until_due(&id).await;
    setup.round().await;
    let done = setup.detail(&id).await;
    assert_eq!(done.delivery.status, DeliveryStatus::Delivered);
    let codes: Vec<_> = done
        .attempt_log
        .iter()
        .map(|a| a.outcome.status())
        .collect();
    assert_eq!(codes, [Some(500), Some(503), Some(204)]);
    assert_eq!(receiver.seen().len(), 3);
    // Every attempt carries the same webhook-id, for de-duplication.
    let ids: Vec<_> = receiver
        .seen()
        .iter()
        .map(|(h, _)| h["webhook-id"].clone())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn a_timeout_is_a_failed_attempt() {
    let setup = Setup::http().await;
    let (_receiver, url) = Receiver::start(vec![Reply::Hang]).await;
    setup.endpoint(&url).await;
    let id = setup.send().await;
    setup.round().await;
    let detail = setup.detail(&id).await;
    assert_eq!(error_kind(&detail.attempt_log[0].outcome), "timeout");
    assert_eq!(detail.delivery.status, DeliveryStatus::Retrying);
    assert!(detail.attempt_log[0].duration < 5 * SECOND);
}

#[tokio::test]
async fn a_refused_connection_is_a_failed_attempt() {
    let setup = Setup::http().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    drop(listener);
    setup.endpoint(&url).await;
    let id = setup.send().await;
    setup.round().await;
    let detail = setup.detail(&id).await;
    assert_eq!(error_kind(&detail.attempt_log[0].outcome), "connect");
    assert_eq!(detail.delivery.last_response_status, None);
}

#[tokio::test]
async fn redirects_are_failures_and_not_followed() {
    let setup = Setup::http().await;
    let (receiver, url) = Receiver::start(vec![Reply::Redirect]).await;
    setup.endpoint(&url).await;
    let id = setup.send().await;
    setup.round().await;
    let detail = setup.detail(&id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Retrying);
    assert_eq!(detail.delivery.last_response_status, Some(302));
    assert_eq!(
        receiver.seen().len(),
        1,
        "the redirect target was not requested"
    );
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_ends_its_queue() {
    let setup = Setup::http_with(|c| c.concurrency = 1).await;
    let (receiver, url) = Receiver::start(vec![Reply::Status(410)]).await;
    let (endpoint, _) = setup.endpoint(&url).await;
    let first = setup.send().await;
    let second = setup.send().await;

    assert_eq!(setup.round().await, 1);

    let endpoint = setup
        .webhooks
        .endpoint(&setup.tenant, &endpoint)
        .await
        .unwrap();
    assert!(
        matches!(&endpoint.status, EndpointStatus::Disabled { reason, .. } if reason.contains("410")),
        "{:?}",
        endpoint.status
    );
    for id in [&first, &second] {
        let delivery = setup.detail(id).await.delivery;
        assert_eq!(delivery.status, DeliveryStatus::Failed, "{id}");
        assert!(delivery.failure_reason.unwrap().contains("410"), "{id}");
    }
    assert_eq!(setup.round().await, 0);
    assert_eq!(receiver.seen().len(), 1);
    assert!(
        setup.notices.all().iter().any(
            |n| matches!(n, Notice::EndpointDisabled { reason, .. } if reason.contains("410"))
        )
    );
}

#[tokio::test]
async fn gone_still_records_when_the_endpoint_was_last_tried() {
    let setup = Setup::with_transport(Scripted::always(410)).await;
    let (endpoint, _) = setup.endpoint("https://receiver.example/hooks").await;
    setup.send().await;
    let tried_at = setup.clock.now();

    assert_eq!(setup.round().await, 1);

    let endpoint = setup
        .webhooks
        .endpoint(&setup.tenant, &endpoint)
        .await
        .unwrap();
    assert!(
        matches!(endpoint.status, EndpointStatus::Disabled { .. }),
        "{:?}",
        endpoint.status
    );
    assert_eq!(endpoint.last_triggered_at, Some(tried_at));
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    let setup = Setup::http_with(|c| c.retry_after_cap = Duration::from_secs(3600)).await;
    let script = vec![
        Reply::RetryAfter(429, "120"),
        Reply::RetryAfter(503, "86400"),
    ];
    let (_receiver, url) = Receiver::start(script).await;
    setup.endpoint(&url).await;
    let id = setup.send().await;

    setup.round().await;
    let asked = setup.detail(&id).await.delivery;
    assert_eq!(due_in(&setup, &asked), 120 * SECOND);

    setup.until_due(&id).await;
    setup.round().await;
    let capped = setup.detail(&id).await.delivery;
    assert_eq!(due_in(&setup, &capped), 3600 * SECOND);
}

#[tokio::test]
async fn retry_after_never_shortens_the_schedule() {
    let setup = Setup::http().await;
    let (_receiver, url) = Receiver::start(vec![Reply::RetryAfter(429, "1")]).await;
    setup.endpoint(&url).await;
    let id = setup.send().await;
    setup.round().await;
    let delivery = setup.detail(&id).await.delivery;
    assert_eq!(due_in(&setup, &delivery), 5 * SECOND);
}

#[tokio::test]
async fn huge_responses_are_stored_truncated() {
    let setup = Setup::http().await;
    let (_receiver, url) = Receiver::start(vec![Reply::Big(4 * 1024 * 1024)]).await;
    setup.endpoint(&url).await;
    let id = setup.send().await;
    setup.round().await;
    let detail = setup.detail(&id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Delivered);
    match &detail.attempt_log[0].outcome {
        AttemptOutcome::Response {
            body,
            body_truncated,
            ..
        } => {
            assert_eq!(body.len(), 16 * 1024);
            assert!(body_truncated);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn local_development_reaches_a_loopback_http_receiver_without_a_transport() {
    let setup = Setup::default_transport().await;
    let (receiver, url) = Receiver::start(vec![]).await;
    let (_, secret) = setup.endpoint(&url).await;
    let id = setup.send().await;

    assert_eq!(setup.round().await, 1);

    let detail = setup.detail(&id).await;
    assert_eq!(
        detail.delivery.status,
        DeliveryStatus::Delivered,
        "{:?}",
        detail.attempt_log
    );
    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    let now = setup.clock.now().unix_secs();
    Verifier::new(secret)
        .verify_at(&seen[0].0, &seen[0].1, now)
        .unwrap();
}

#[tokio::test]
async fn without_local_development_the_default_transport_is_guarded() {
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    let webhooks = Webhooks::in_memory()
        .clock(clock.clone())
        .event_type(EventType::new("invoice.paid").unwrap())
        .build()
        .await
        .unwrap();
    let webhooks = Arc::new(webhooks);
    let dispatcher = Dispatcher::builder(webhooks.clone())
        .random(Arc::new(NoJitter))
        .build()
        .unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let (receiver, url) = Receiver::start(vec![]).await;
    let refused = webhooks
        .create_endpoint(&tenant, NewEndpoint::new(&url))
        .await;
    assert!(refused.is_err(), "http:// needs local development");
    let https = url.replace("http://", "https://");
    webhooks
        .create_endpoint(&tenant, NewEndpoint::new(https).timeout(SECOND))
        .await
        .unwrap();
    webhooks.send(&tenant, "invoice.paid", "{}").await.unwrap();
    assert_eq!(dispatcher.deliver_due().await.unwrap(), 1);
    let page = webhooks
        .list_deliveries(&tenant, &DeliveryFilter::default(), &PageRequest::first())
        .await
        .unwrap();
    let detail = webhooks.delivery(&tenant, &page.data[0].id).await.unwrap();
    assert_eq!(error_kind(&detail.attempt_log[0].outcome), "blocked");
    assert!(receiver.seen().is_empty());
}

#[tokio::test]
async fn the_guard_refuses_private_destinations() {
    // Given explicitly, the guarded transport is used as given, although
    // the webhooks are set up for local development.
    let transport = HttpTransport::builder().build().unwrap();
    let setup = Setup::with_transport(Arc::new(transport)).await;
    let (receiver, url) = Receiver::start(vec![]).await;
    let https = url.replace("http://", "https://");
    for target in [url.as_str(), https.as_str(), "https://localhost/hooks"] {
        setup.endpoint(target).await;
    }
    let sent = setup
        .webhooks
        .send(&setup.tenant, "invoice.paid", "{}")
        .await
        .unwrap();
    assert_eq!(sent.deliveries, 3);
    assert_eq!(setup.round().await, 3);
    let page = setup
        .webhooks
        .list_deliveries(
            &setup.tenant,
            &DeliveryFilter::default(),
            &PageRequest::first(),
        )
        .await
        .unwrap();
    for delivery in page.data {
        let detail = setup.detail(&delivery.id).await;
        assert_eq!(error_kind(&detail.attempt_log[0].outcome), "blocked");
    }
    assert!(receiver.seen().is_empty());
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_during_the_grace_period() {
    let setup = Setup::http().await;
    let (receiver, url) = Receiver::start(vec![]).await;
    let (endpoint, old) = setup.endpoint(&url).await;
    let new = setup
        .webhooks
        .rotate_secret(&setup.tenant, &endpoint)
        .await
        .unwrap();

    setup.send().await;
    setup.round().await;
    setup.clock.advance(Duration::from_secs(24 * 3600 + 1));
    setup.send().await;
    setup.round().await;

    let seen = receiver.seen();
    let now = |n: usize| -> i64 {
        seen[n].0["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let verify = |secret: &SigningSecret, n: usize| {
        Verifier::new(secret.clone()).verify_at(&seen[n].0, &seen[n].1, now(n))
    };
    let signatures = |n: usize| {
        seen[n].0["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count()
    };
    assert_eq!(signatures(0), 2);
    assert!(verify(&old, 0).is_ok() && verify(&new, 0).is_ok());
    assert_eq!(signatures(1), 1);
    assert!(verify(&old, 1).is_err() && verify(&new, 1).is_ok());
}

#[tokio::test]
async fn ping_reports_the_outcome_without_storing_anything() {
    let setup = Setup::http().await;
    let (receiver, url) = Receiver::start(vec![Reply::Status(200), Reply::Status(500)]).await;
    let (endpoint, secret) = setup.endpoint(&url).await;
    let ok = setup
        .dispatcher
        .ping(&setup.tenant, &endpoint)
        .await
        .unwrap();
    assert!(ok.is_success() && ok.error.is_none());
    let failed = setup
        .dispatcher
        .ping(&setup.tenant, &endpoint)
        .await
        .unwrap();
    assert_eq!(failed.status, Some(500));

    let (headers, body) = &receiver.seen()[0];
    Verifier::new(secret)
        .verify_at(headers, body, setup.clock.now().unix_secs())
        .unwrap();
    let envelope: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(envelope["type"], "webhook.test");
    let history = setup
        .webhooks
        .list_deliveries(
            &setup.tenant,
            &DeliveryFilter::default(),
            &PageRequest::first(),
        )
        .await
        .unwrap();
    assert!(history.data.is_empty());
    let other = TenantId::new("other").unwrap();
    assert!(setup.dispatcher.ping(&other, &endpoint).await.is_err());
}

#[tokio::test]
async fn spawned_dispatcher_delivers_new_sends_and_shuts_down() {
    let setup = Setup::http().await;
    let (receiver, url) = Receiver::start(vec![]).await;
    setup.endpoint(&url).await;
    let handle = setup.dispatcher.spawn();
    let id = setup.send().await;
    // The send wakes the dispatcher; real time passes only for the HTTP
    // round trip.
    tokio::time::timeout(Duration::from_secs(10), async {
        while setup.detail(&id).await.delivery.status != DeliveryStatus::Delivered {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("delivered within 10 s");
    handle.shutdown(SECOND).await;
    assert_eq!(receiver.seen().len(), 1);
}

#[tokio::test]
async fn shutdown_gives_back_what_it_could_not_finish() {
    let setup = Setup::http().await;
    let (_receiver, url) = Receiver::start(vec![Reply::Hang]).await;
    setup.endpoint(&url).await;
    let id = setup.send().await;
    let handle = setup.dispatcher.spawn();
    tokio::time::timeout(Duration::from_secs(10), async {
        while setup.detail(&id).await.delivery.status != DeliveryStatus::Delivering {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("claimed");
    handle.shutdown(Duration::from_millis(50)).await;
    let delivery = setup.detail(&id).await.delivery;
    assert_eq!(
        delivery.status,
        DeliveryStatus::Pending,
        "released, not left leased"
    );
    assert_eq!(delivery.next_attempt_at, Some(setup.clock.now()));
    assert_eq!(delivery.attempts, 0);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_dispatcher() {
    /// Lets every other task on this single-threaded runtime run a while.
    async fn settle() {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
    }
    let transport = Scripted::always(200);
    let setup = Setup::with_transport(transport.clone()).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let handle = setup.dispatcher.spawn();
    settle().await;

    drop(handle);
    settle().await;
    setup.send().await;
    settle().await;

    assert!(
        transport.requests.lock().unwrap().is_empty(),
        "a dispatcher whose handle was dropped still claims work"
    );
    assert_eq!(setup.round().await, 1, "the send is left due, not leased");
}

// ------------------------------------------------------- scripted transport

/// Answers from a script without any network; counts attempts in flight.
#[derive(Debug, Default)]
struct Scripted {
    replies: Mutex<VecDeque<u16>>,
    fallback: Mutex<u16>,
    hold: Option<Arc<tokio::sync::Semaphore>>,
    in_flight: Mutex<(usize, usize)>,
    requests: Mutex<Vec<WebhookRequest>>,
    /// The `Retry-After` every 429 and 503 carries, if any.
    retry_after: Option<&'static str>,
    /// How many of the next calls panic instead of answering.
    panics: AtomicUsize,
    /// How many calls panicked.
    panicked: AtomicUsize,
}

impl Scripted {
    fn always(status: u16) -> Arc<Self> {
        Arc::new(Self {
            fallback: Mutex::new(status),
            ..Self::default()
        })
    }

    fn set_fallback(&self, status: u16) {
        *self.fallback.lock().unwrap() = status;
    }

    fn peak_in_flight(&self) -> usize {
        self.in_flight.lock().unwrap().1
    }
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, request: WebhookRequest) -> Result<WebhookResponse, TransportError> {
        let panics = self.panics.load(Ordering::SeqCst);
        if panics > 0 {
            self.panics.store(panics - 1, Ordering::SeqCst);
            self.panicked.fetch_add(1, Ordering::SeqCst);
            // Whatever a panic says must not reach the attempt record.
            let signature = request.headers["webhook-signature"].to_str().unwrap();
            panic!("the transport broke while sending {signature}");
        }
        {
            let mut in_flight = self.in_flight.lock().unwrap();
            in_flight.0 += 1;
            in_flight.1 = in_flight.1.max(in_flight.0);
        }
        if let Some(hold) = &self.hold {
            hold.acquire().await.unwrap().forget();
        }
        self.in_flight.lock().unwrap().0 -= 1;
        self.requests.lock().unwrap().push(request);
        let status = self
            .replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(*self.fallback.lock().unwrap());
        let mut response = WebhookResponse::new(StatusCode::from_u16(status).unwrap());
        if let (Some(after), 429 | 503) = (self.retry_after, status) {
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", after.parse().unwrap());
            response = response.headers(headers);
        }
        Ok(response)
    }
}

/// Sends each request to the script of its URL, so that one test can have
/// healthy and broken receivers side by side.
#[derive(Debug, Default)]
struct Routed(Mutex<Vec<(String, Arc<Scripted>)>>);

impl Routed {
    fn new<const N: usize>(routes: [(&str, &Arc<Scripted>); N]) -> Arc<Self> {
        let routes = routes
            .into_iter()
            .map(|(url, script)| (url.to_owned(), script.clone()))
            .collect();
        Arc::new(Self(Mutex::new(routes)))
    }
}

#[async_trait]
impl Transport for Routed {
    async fn send(&self, request: WebhookRequest) -> Result<WebhookResponse, TransportError> {
        let script = {
            let routes = self.0.lock().unwrap();
            let (_, script) = routes.iter().find(|(url, _)| *url == request.url).unwrap();
            script.clone()
        };
        script.send(request).await
    }
}

#[tokio::test]
async fn the_whole_schedule_runs_to_exhaustion() {
    let transport = Scripted::always(500);
    let setup = Setup::with_transport(transport.clone()).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let id = setup.send().await;
    let sent_at = setup.clock.now();

    let mut gaps = Vec::new();
    loop {
        let before = setup.clock.now();
        assert_eq!(setup.round().await, 1);
        let delivery = setup.detail(&id).await.delivery;
        if delivery.status == DeliveryStatus::Failed {
            break;
        }
        gaps.push(
            delivery
                .next_attempt_at
                .unwrap()
                .duration_since(before)
                .as_secs(),
        );
        setup.until_due(&id).await;
    }
    assert_eq!(gaps, [5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
    let detail = setup.detail(&id).await;
    assert_eq!(detail.attempt_log.len(), 8);
    assert!(
        detail
            .delivery
            .failure_reason
            .unwrap()
            .contains("exhausted")
    );
    let hours = setup.clock.now().duration_since(sent_at).as_secs() / 3600;
    assert_eq!(
        hours, 27,
        "about 28 hours from the first attempt to the last"
    );
    assert!(
        setup.notices.all().iter().any(
            |n| matches!(n, Notice::DeliveryExhausted { delivery_id, .. } if *delivery_id == id)
        )
    );
    assert_eq!(transport.requests.lock().unwrap().len(), 8);
}

#[tokio::test]
async fn manual_retry_of_an_exhausted_delivery_gets_one_attempt() {
    let transport = Scripted::always(500);
    let setup = Setup::with_transport(transport.clone()).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let id = setup.send().await;
    while setup.detail(&id).await.delivery.status != DeliveryStatus::Failed {
        setup.round().await;
        if let Some(due) = setup.detail(&id).await.delivery.next_attempt_at {
            setup.clock.set(due);
        }
    }
    transport.set_fallback(200);
    let queued = setup
        .webhooks
        .retry_delivery(&setup.tenant, &id)
        .await
        .unwrap();
    assert_eq!(queued.status, DeliveryStatus::Pending);
    setup.round().await;
    let detail = setup.detail(&id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(detail.attempt_log.last().unwrap().trigger, Trigger::Manual);
    assert_eq!(detail.attempt_log.len(), 9);
}

#[tokio::test]
async fn endpoints_failing_for_the_whole_window_are_disabled() {
    let transport = Scripted::always(500);
    let setup = Setup::with_transport(transport.clone()).await;
    let (endpoint, _) = setup.endpoint("https://receiver.example/hooks").await;

    // A success in the middle resets the clock.
    for day in 0..9 {
        if day == 3 {
            transport.set_fallback(200);
        }
        setup.send().await;
        setup.round().await;
        transport.set_fallback(500);
        let status = setup
            .webhooks
            .endpoint(&setup.tenant, &endpoint)
            .await
            .unwrap()
            .status;
        let disabled = matches!(status, EndpointStatus::Disabled { .. });
        // Failing since day 4 (the day after the success): disabled on day 9.
        assert!(!disabled, "disabled too early, on day {day}");
        setup.clock.advance(Duration::from_secs(24 * 3600));
    }
    setup.send().await;
    setup.round().await;
    let status = setup
        .webhooks
        .endpoint(&setup.tenant, &endpoint)
        .await
        .unwrap()
        .status;
    assert!(
        matches!(status, EndpointStatus::Disabled { .. }),
        "{status:?}"
    );
    let notices = setup.notices.all();
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::EndpointDisabled { .. }))
    );
    assert!(
        notices
            .iter()
            .any(|n| matches!(n, Notice::EndpointRecovered { .. }))
    );
    // Its queued retries end with it.
    let page = setup.with_status(DeliveryStatus::Retrying).await;
    assert!(page.is_empty(), "{page:?}");
}

#[tokio::test]
async fn a_re_enabled_endpoint_gets_a_whole_new_failure_window() {
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let setup = Setup::with_transport(Scripted::always(500)).await;
    let window = setup.dispatcher.config().auto_disable_after;
    let (endpoint, _) = setup.endpoint("https://receiver.example/hooks").await;
    let disabled = || async {
        let read = setup
            .webhooks
            .endpoint(&setup.tenant, &endpoint)
            .await
            .unwrap();
        matches!(read.status, EndpointStatus::Disabled { .. })
    };
    let fail_once = || async {
        setup.send().await;
        setup.round().await;
    };

    // Failing every day for the whole window, then once more: disabled.
    let started = setup.clock.now();
    while setup.clock.now().duration_since(started) < window {
        fail_once().await;
        setup.clock.advance(DAY);
    }
    fail_once().await;
    assert!(disabled().await, "failing for the whole window disables");

    setup
        .webhooks
        .update_endpoint(
            &setup.tenant,
            &endpoint,
            UpdateEndpoint::new().enabled(true),
        )
        .await
        .unwrap();
    fail_once().await;
    assert!(
        !disabled().await,
        "a first failure after re-enabling is not a whole window"
    );

    setup.clock.advance(window - SECOND);
    fail_once().await;
    assert!(
        !disabled().await,
        "the new window runs from the first failure after re-enabling"
    );
    setup.clock.advance(SECOND);
    fail_once().await;
    assert!(
        disabled().await,
        "failing for the whole new window disables"
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_the_old_worker_cannot_record() {
    let transport = Scripted::always(200);
    let setup = Setup::with_transport(transport.clone()).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let id = setup.send().await;

    let store = &setup.store;
    let now = setup.clock.now();
    let stale = store
        .claim_due("crashed-worker", now, now.saturating_add(60 * SECOND), 10)
        .await
        .unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!(setup.round().await, 0, "leased: nobody else may take it");

    setup.clock.advance(61 * SECOND);
    assert_eq!(setup.round().await, 1);
    assert_eq!(
        setup.detail(&id).await.delivery.status,
        DeliveryStatus::Delivered
    );

    let late = stale.into_iter().next().unwrap();
    let mut overwrite = late.delivery.clone();
    overwrite.fail("the crashed worker's stale view");
    let attempt = hookshot::model::Attempt::new(
        id.clone(),
        1,
        Trigger::Scheduled,
        now,
        SECOND,
        AttemptOutcome::Response {
            status: 500,
            body: String::new(),
            body_truncated: false,
        },
    );
    assert!(
        !store
            .finish_attempt(&late.lease, attempt, overwrite)
            .await
            .unwrap()
    );
    assert_eq!(
        setup.detail(&id).await.delivery.status,
        DeliveryStatus::Delivered
    );
    assert_eq!(setup.detail(&id).await.attempt_log.len(), 1);
}

// ------------------------------------------------------- renewed leases

/// Answers 204 after stalling for `stall` of tokio's clock; counts requests.
#[derive(Debug)]
struct Stalling {
    stall: Duration,
    requests: AtomicUsize,
}

impl Stalling {
    fn new(stall: Duration) -> Arc<Self> {
        Arc::new(Self {
            stall,
            requests: AtomicUsize::new(0),
        })
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Transport for Stalling {
    async fn send(&self, _request: WebhookRequest) -> Result<WebhookResponse, TransportError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.stall).await;
        Ok(WebhookResponse::new(StatusCode::NO_CONTENT))
    }
}

/// Dispatchers sharing one store on tokio's paused clock, so that a lease
/// runs out as virtual time passes, as it would in a real process.
struct OnTokioTime {
    clock: Arc<TokioClock>,
    webhooks: Arc<Webhooks>,
    notices: Arc<Notices>,
    tenant: TenantId,
    lease: Duration,
}

impl OnTokioTime {
    /// One endpoint, one event sent to it.
    async fn with_one_send(store: Arc<dyn Store>, lease: Duration) -> (Self, DeliveryId) {
        let clock = Arc::new(TokioClock::starting_at(START.parse().unwrap()));
        let webhooks = Webhooks::builder(store)
            .clock(clock.clone())
            .event_types([EventType::new("invoice.paid").unwrap()])
            .build()
            .await
            .unwrap();
        let setup = Self {
            clock,
            webhooks: Arc::new(webhooks),
            notices: Arc::new(Notices::default()),
            tenant: TenantId::new("acme").unwrap(),
            lease,
        };
        let endpoint = NewEndpoint::new("https://slow.example/hooks").timeout(30 * SECOND);
        setup
            .webhooks
            .create_endpoint(&setup.tenant, endpoint)
            .await
            .unwrap();
        setup
            .webhooks
            .send(&setup.tenant, "invoice.paid", r#"{"invoice":"in_1"}"#)
            .await
            .unwrap();
        let deliveries = setup
            .webhooks
            .list_deliveries(&setup.tenant, &DeliveryFilter::new(), &PageRequest::first())
            .await
            .unwrap();
        let id = deliveries.data[0].id.clone();
        (setup, id)
    }

    fn dispatcher(&self, name: &str, transport: Arc<dyn Transport>) -> Dispatcher {
        Dispatcher::builder(self.webhooks.clone())
            .transport(transport)
            .observer(self.notices.clone())
            .random(Arc::new(NoJitter))
            .worker_id(name)
            .configure(|c| c.lease = self.lease)
            .build()
            .unwrap()
    }

    async fn detail(&self, id: &DeliveryId) -> hookshot::model::DeliveryDetail {
        self.webhooks.delivery(&self.tenant, id).await.unwrap()
    }

    async fn delivered(&self, id: &DeliveryId) -> bool {
        self.detail(id).await.delivery.status == DeliveryStatus::Delivered
    }
}

#[tokio::test(start_paused = true)]
async fn a_lease_is_renewed_while_an_attempt_outlasts_it() {
    let lease = 10 * SECOND;
    let (setup, id) = OnTokioTime::with_one_send(Arc::new(MemoryStore::new()), lease).await;
    let slow = Stalling::new(40 * SECOND);
    let fast = Stalling::new(Duration::ZERO);
    let first = setup.dispatcher("first", slow.clone()).spawn();
    eventually("the first dispatcher's attempt began", SECOND, || async {
        slow.requests() == 1
    })
    .await;
    let began = setup.clock.now();
    let second = setup.dispatcher("second", fast.clone()).spawn();

    eventually("delivered", 60 * SECOND, || setup.delivered(&id)).await;
    let took = setup.clock.now().duration_since(began);
    assert!(took >= 40 * SECOND, "delivered after {took:?}");
    assert_eq!(
        fast.requests(),
        0,
        "the second dispatcher took the delivery over while the first was still sending"
    );
    assert_eq!(slow.requests(), 1);
    let log = setup.detail(&id).await.attempt_log;
    assert_eq!(log.len(), 1, "recorded once: {log:?}");
    assert_eq!(log[0].outcome.status(), Some(204));
    let notices = setup.notices.all();
    assert!(notices.is_empty(), "{notices:?}");
    first.shutdown(SECOND).await;
    second.shutdown(SECOND).await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_renewal_is_reported_once_and_tried_again() {
    let lease = 10 * SECOND;
    let store = Arc::new(Flaky::default());
    let (setup, id) = OnTokioTime::with_one_send(store.clone(), lease).await;
    let slow = Stalling::new(40 * SECOND);
    let fast = Stalling::new(Duration::ZERO);
    // The first renewal fails; the second, a third of a lease later, still
    // comes before the lease runs out.
    store.fail("renew_leases", 1);
    let first = setup.dispatcher("first", slow.clone()).spawn();
    eventually("the first dispatcher's attempt began", SECOND, || async {
        slow.requests() == 1
    })
    .await;
    let second = setup.dispatcher("second", fast.clone()).spawn();

    eventually("delivered", 60 * SECOND, || setup.delivered(&id)).await;
    assert_eq!(fast.requests(), 0, "taken over");
    assert_eq!(setup.detail(&id).await.attempt_log.len(), 1);
    assert!(
        store.calls("renew_leases") >= 4,
        "renewed every third of a lease"
    );
    let notices = setup.notices.all();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(
        matches!(
            &notices[0],
            Notice::StoreFailed { operation, delivery_id: None, error }
                if operation.as_str() == "renew_leases" && error.contains("renew_leases failed")
        ),
        "{notices:?}"
    );
    assert!(
        matches!(
            &notices[1],
            Notice::StoreRecovered { operation, failures: 1 }
                if operation.as_str() == "renew_leases"
        ),
        "{notices:?}"
    );
    first.shutdown(SECOND).await;
    second.shutdown(SECOND).await;
}

#[tokio::test(start_paused = true)]
async fn a_round_renews_its_leases_too() {
    let lease = 10 * SECOND;
    let (setup, id) = OnTokioTime::with_one_send(Arc::new(MemoryStore::new()), lease).await;
    let slow = Stalling::new(40 * SECOND);
    let fast = Stalling::new(Duration::ZERO);
    let first = setup.dispatcher("first", slow.clone());
    let round = tokio::spawn(async move { first.deliver_due().await.unwrap() });
    eventually("the round's attempt began", SECOND, || async {
        slow.requests() == 1
    })
    .await;
    let second = setup.dispatcher("second", fast.clone());
    for _ in 0..38 {
        tokio::time::sleep(SECOND).await;
        assert_eq!(second.deliver_due().await.unwrap(), 0, "taken over");
    }
    assert_eq!(round.await.unwrap(), 1);
    assert!(setup.delivered(&id).await);
    assert_eq!(setup.detail(&id).await.attempt_log.len(), 1);
    assert_eq!(fast.requests(), 0);
}

#[tokio::test]
async fn a_lease_under_three_seconds_is_refused() {
    let setup = Setup::with_transport(Scripted::always(204)).await;
    let build = |lease: Duration| {
        Dispatcher::builder(setup.webhooks.clone())
            .transport(Scripted::always(204))
            .configure(|c| c.lease = lease)
            .build()
    };
    let short = build(Duration::from_millis(2_999));
    assert!(
        matches!(&short, Err(hookshot::Error::InvalidInput { field, .. }) if field == "lease"),
        "{:?}",
        short.map(|_| ())
    );
    let shortest = build(3 * SECOND).unwrap();
    assert_eq!(shortest.config().lease, 3 * SECOND);
    assert_eq!(DispatcherConfig::default().lease, 15 * SECOND);
}

#[tokio::test]
async fn one_endpoint_never_has_more_than_its_cap_in_flight() {
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let transport = Arc::new(Scripted {
        fallback: Mutex::new(200),
        hold: Some(hold.clone()),
        ..Scripted::default()
    });
    let setup = Setup::with_transport(transport.clone()).await;
    setup.endpoint("https://slow.example/hooks").await;
    for _ in 0..20 {
        setup.send().await;
    }
    let dispatcher = setup.dispatcher.clone();
    let round = tokio::spawn(async move { dispatcher.deliver_due().await.unwrap() });
    // Let the round start its attempts, then let them all through.
    while transport.in_flight.lock().unwrap().0 < 4 {
        tokio::task::yield_now().await;
    }
    hold.add_permits(100);
    assert_eq!(round.await.unwrap(), 20, "all twenty were claimed");
    assert_eq!(transport.peak_in_flight(), 4);
    let page = setup.with_status(DeliveryStatus::Delivered).await;
    assert_eq!(page.len(), 4, "the rest were put off, not attempted");
    let later = setup.clock.now().saturating_add(Duration::from_millis(250));
    let waiting = setup.with_status(DeliveryStatus::Pending).await;
    assert_eq!(waiting.len(), 16);
    assert!(waiting.iter().all(|d| d.next_attempt_at == Some(later)));
}

#[tokio::test]
async fn deliveries_to_a_deleted_endpoint_end() {
    let transport = Scripted::always(200);
    let setup = Setup::with_transport(transport.clone()).await;
    let (endpoint, _) = setup.endpoint("https://gone.example/hooks").await;
    let id = setup.send().await;
    setup
        .webhooks
        .delete_endpoint(&setup.tenant, &endpoint)
        .await
        .unwrap();
    setup.round().await;
    let delivery = setup.detail(&id).await.delivery;
    assert_eq!(delivery.status, DeliveryStatus::Failed);
    assert!(transport.requests.lock().unwrap().is_empty());
}

impl Setup {
    async fn http_with(change: impl FnOnce(&mut DispatcherConfig)) -> Self {
        let mut setup = Self::http().await;
        setup.dispatcher = Dispatcher::builder(setup.webhooks.clone())
            .observer(setup.notices.clone())
            .random(Arc::new(NoJitter))
            .configure(change)
            .build()
            .unwrap();
        setup
    }
}

#[tokio::test]
async fn last_triggered_at_is_kept_to_the_second() {
    let setup = Setup::with_transport(Scripted::always(200)).await;
    let (endpoint, _) = setup.endpoint("https://receiver.example/hooks").await;
    let last = || async {
        let read = setup
            .webhooks
            .endpoint(&setup.tenant, &endpoint)
            .await
            .unwrap();
        read.last_triggered_at.unwrap()
    };
    setup.send().await;
    setup.round().await;
    let first = setup.clock.now();
    assert_eq!(last().await, first);

    setup.clock.advance(Duration::from_millis(500));
    setup.send().await;
    setup.round().await;
    assert_eq!(
        last().await,
        first,
        "a healthy endpoint is not rewritten within a second"
    );

    setup.clock.advance(Duration::from_millis(600));
    setup.send().await;
    setup.round().await;
    assert_eq!(last().await, setup.clock.now());
}

#[tokio::test]
async fn a_rate_limited_endpoint_gets_its_rate_and_no_more() {
    let transport = Scripted::always(200);
    let setup = Setup::with_transport(transport.clone()).await;
    let new = NewEndpoint::new("https://limited.example/hooks").rate_limit(2);
    setup
        .webhooks
        .create_endpoint(&setup.tenant, new)
        .await
        .unwrap();
    for _ in 0..5 {
        setup.send().await;
    }
    let attempted = || transport.requests.lock().unwrap().len();

    setup.round().await;
    assert_eq!(attempted(), 2, "two per second");
    let waiting = setup.with_status(DeliveryStatus::Pending).await;
    assert_eq!(waiting.len(), 3);
    for delivery in &waiting {
        assert_eq!(due_in(&setup, delivery), Duration::from_millis(500));
    }

    setup.clock.advance(SECOND);
    setup.round().await;
    assert_eq!(attempted(), 4);
}

#[tokio::test]
async fn a_spawned_dispatcher_never_exceeds_its_cap_and_delivers_everything() {
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let transport = Arc::new(Scripted {
        fallback: Mutex::new(200),
        hold: Some(hold.clone()),
        ..Scripted::default()
    });
    let mut setup = Setup::with_transport(transport.clone()).await;
    setup.dispatcher = Dispatcher::builder(setup.webhooks.clone())
        .transport(transport.clone())
        .configure(|c| {
            c.concurrency = 3;
            c.per_endpoint_concurrency = 10;
        })
        .build()
        .unwrap();
    setup.endpoint("https://receiver.example/hooks").await;
    for _ in 0..20 {
        setup.send().await;
    }
    let handle = setup.dispatcher.spawn();
    let in_flight = || transport.in_flight.lock().unwrap().0;
    tokio::time::timeout(Duration::from_secs(10), async {
        while in_flight() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("three attempts started");
    // Give a fourth attempt every chance to start, were the cap broken.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(in_flight(), 3);
    hold.add_permits(100);
    tokio::time::timeout(Duration::from_secs(10), async {
        while setup.with_status(DeliveryStatus::Delivered).await.len() < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("all twenty delivered");
    handle.shutdown(SECOND).await;
    assert_eq!(transport.peak_in_flight(), 3);
    assert_eq!(transport.requests.lock().unwrap().len(), 20, "once each");
}

#[tokio::test(start_paused = true)]
async fn a_spawned_dispatcher_purges_history_it_no_longer_keeps() {
    const HOUR: Duration = Duration::from_secs(3600);
    let transport = Scripted::always(204);
    let mut setup = Setup::with_transport(transport.clone()).await;
    setup.dispatcher = Dispatcher::builder(setup.webhooks.clone())
        .transport(transport)
        .configure(|c| {
            c.keep_history = Some(24 * HOUR);
            c.purge_interval = HOUR;
        })
        .build()
        .unwrap();
    setup.endpoint("https://receiver.example/hooks").await;
    let id = setup.send().await;
    setup.round().await;
    assert_eq!(
        setup.detail(&id).await.delivery.status,
        DeliveryStatus::Delivered
    );

    let handle = setup.dispatcher.spawn();
    // The first purge runs at once; nothing is a day old yet.
    tokio::time::sleep(HOUR / 2).await;
    assert!(setup.webhooks.delivery(&setup.tenant, &id).await.is_ok());
    setup.clock.advance(25 * HOUR);
    tokio::time::sleep(HOUR).await;
    let purged = setup.webhooks.delivery(&setup.tenant, &id).await;
    assert!(
        matches!(purged, Err(hookshot::Error::NotFound { .. })),
        "{purged:?}"
    );
    handle.shutdown(SECOND).await;
}

#[tokio::test]
async fn purging_needs_an_interval() {
    let setup = Setup::with_transport(Scripted::always(204)).await;
    let built = Dispatcher::builder(setup.webhooks.clone())
        .configure(|c| {
            c.keep_history = Some(Duration::from_secs(60));
            c.purge_interval = Duration::ZERO;
        })
        .build();
    assert!(
        matches!(&built, Err(hookshot::Error::InvalidInput { field, .. }) if field == "purge_interval"),
        "{built:?}"
    );
}

#[tokio::test]
async fn a_send_waker_is_dropped_once_it_says_it_is_done() {
    let setup = Setup::with_transport(Scripted::always(204)).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    setup.webhooks.on_send(Arc::new(move || {
        // Wanted for the first send only.
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0
    }));
    for _ in 0..3 {
        setup.send().await;
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn dispatchers_with_the_same_jitter_still_get_their_own_worker_ids() {
    let setup = Setup::with_transport(Scripted::always(200)).await;
    let build = || {
        Dispatcher::builder(setup.webhooks.clone())
            .transport(Scripted::always(200))
            .random(Arc::new(NoJitter))
    };
    let other = build().build().unwrap();
    assert_ne!(setup.dispatcher.worker_id(), other.worker_id());
    assert!(!other.worker_id().is_empty());

    let named = build().worker_id("billing-1").build().unwrap();
    assert_eq!(named.worker_id(), "billing-1");

    // A worker id is stored with every lease: text every store can keep.
    for bad in ["", "bad\0id", "line\nbreak", &"w".repeat(129)] {
        match build().worker_id(bad).build() {
            Err(hookshot::Error::InvalidInput { field, .. }) => assert_eq!(field, "worker_id"),
            other => panic!(
                "{bad:?}: expected InvalidInput, got {:?}",
                other.map(|_| ())
            ),
        }
    }
}

// ------------------------------------------------------------- robustness

/// Waits on tokio's paused clock until `done` holds, for at most `limit`
/// of virtual time: nothing sleeps for real.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> F,
) {
    let waited = tokio::time::timeout(limit, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{what}: not within {limit:?}");
}

impl Setup {
    /// An endpoint at `url` of another tenant, `other`.
    async fn other_endpoint(&self, url: &str) -> TenantId {
        let other = TenantId::new("other").unwrap();
        self.webhooks
            .create_endpoint(&other, NewEndpoint::new(url).timeout(SECOND))
            .await
            .unwrap();
        other
    }

    fn store_notices(&self) -> Vec<Notice> {
        let notices = self.notices.all();
        notices
            .into_iter()
            .filter(|n| {
                matches!(
                    n,
                    Notice::StoreFailed { .. } | Notice::StoreRecovered { .. }
                )
            })
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_neither_panics_nor_stops_delivery() {
    const ABSURD: &str = "Sun, 06 Nov 999999999999 08:49:37 GMT";
    let cap = Duration::from_secs(3600);
    let absurd = Arc::new(Scripted {
        fallback: Mutex::new(503),
        retry_after: Some(ABSURD),
        ..Scripted::default()
    });
    let healthy = Scripted::always(200);
    let (absurd_url, healthy_url) = ("https://absurd.example/hooks", "https://ok.example/hooks");
    let routed = Routed::new([(absurd_url, &absurd), (healthy_url, &healthy)]);
    let setup = Setup::custom(Arc::new(MemoryStore::new()), routed, |c| {
        c.concurrency = 2;
        c.retry_after_cap = cap;
    })
    .await;
    setup.endpoint(absurd_url).await;
    let other = setup.other_endpoint(healthy_url).await;
    // More of them than there are workers.
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(setup.send().await);
    }
    let handle = setup.dispatcher.spawn();
    eventually("three answers asking for a wait", 10 * SECOND, || async {
        let mut answered = 0;
        for id in &ids {
            answered += setup.detail(id).await.attempt_log.len();
        }
        answered == 3
    })
    .await;
    for id in &ids {
        let delivery = setup.detail(id).await.delivery;
        assert_eq!(delivery.status, DeliveryStatus::Retrying);
        assert_eq!(delivery.last_response_status, Some(503));
        assert_eq!(
            due_in(&setup, &delivery),
            cap,
            "the cap, not year 999999999999"
        );
    }

    setup
        .webhooks
        .send(&other, "invoice.paid", "{}")
        .await
        .unwrap();
    eventually("the other tenant's delivery", 10 * SECOND, || async {
        healthy.requests.lock().unwrap().len() == 1
    })
    .await;
    handle.shutdown(SECOND).await;
}

/// The attempt record of a panic: a stable kind, and no word of what the
/// panic said (it may hold anything, secrets included).
fn assert_internal_failure(outcome: &AttemptOutcome) {
    let AttemptOutcome::Error { kind, message } = outcome else {
        panic!("expected an error, got {outcome:?}");
    };
    assert_eq!(kind, "internal");
    assert!(
        !message.contains("v1,") && !message.contains("transport broke"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_transport_is_a_failed_attempt_and_the_pool_keeps_its_workers() {
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    let transport = Arc::new(Scripted {
        fallback: Mutex::new(200),
        hold: Some(hold.clone()),
        // As many as there are workers: each would take one down.
        panics: AtomicUsize::new(2),
        ..Scripted::default()
    });
    let setup = Setup::custom(Arc::new(MemoryStore::new()), transport.clone(), |c| {
        c.concurrency = 2;
        c.per_endpoint_concurrency = 10;
    })
    .await;
    setup.endpoint("https://receiver.example/hooks").await;
    let broken = [setup.send().await, setup.send().await];
    let handle = setup.dispatcher.spawn();
    eventually("both panicking attempts recorded", 10 * SECOND, || async {
        let mut recorded = 0;
        for id in &broken {
            recorded += setup.detail(id).await.attempt_log.len();
        }
        recorded == 2
    })
    .await;
    assert_eq!(transport.panicked.load(Ordering::SeqCst), 2);
    for id in &broken {
        let detail = setup.detail(id).await;
        assert_internal_failure(&detail.attempt_log[0].outcome);
        assert_eq!(detail.delivery.status, DeliveryStatus::Retrying);
        assert_eq!(due_in(&setup, &detail.delivery), 5 * SECOND, "the schedule");
    }

    // Both workers are still there: two attempts in flight at once.
    let mut later = Vec::new();
    for _ in 0..4 {
        later.push(setup.send().await);
    }
    eventually("two attempts in flight", 10 * SECOND, || async {
        transport.in_flight.lock().unwrap().0 == 2
    })
    .await;
    hold.add_permits(100);
    eventually("the four later sends delivered", 10 * SECOND, || async {
        setup.with_status(DeliveryStatus::Delivered).await.len() == 4
    })
    .await;

    // And the broken two are retried on schedule.
    setup.clock.advance(5 * SECOND);
    handle.wake();
    eventually("the retries delivered", 10 * SECOND, || async {
        setup.with_status(DeliveryStatus::Delivered).await.len() == 6
    })
    .await;
    assert_eq!(transport.peak_in_flight(), 2);
    handle.shutdown(SECOND).await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_transport_in_a_round_is_a_failed_attempt() {
    let transport = Arc::new(Scripted {
        fallback: Mutex::new(200),
        panics: AtomicUsize::new(1),
        ..Scripted::default()
    });
    let setup = Setup::with_transport(transport.clone()).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let id = setup.send().await;
    assert_eq!(setup.round().await, 1);
    let detail = setup.detail(&id).await;
    assert_eq!(detail.attempt_log.len(), 1);
    assert_internal_failure(&detail.attempt_log[0].outcome);
    assert_eq!(detail.delivery.status, DeliveryStatus::Retrying);

    setup.until_due(&id).await;
    assert_eq!(setup.round().await, 1);
    let detail = setup.detail(&id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(detail.attempt_log.len(), 2);
}

// ------------------------------------------------------- a failing store

/// A `MemoryStore` whose calls fail on demand, and that counts them.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStore,
    /// How many more calls of each method fail; `"*"` counts for every
    /// method.
    failing: Mutex<BTreeMap<&'static str, usize>>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
    /// How many more calls of each method panic.
    panicking: Mutex<BTreeMap<&'static str, usize>>,
    /// How many deliveries claims handed out.
    claimed: AtomicUsize,
}

impl Flaky {
    fn fail(&self, method: &'static str, times: usize) {
        self.failing.lock().unwrap().insert(method, times);
    }

    fn panic(&self, method: &'static str, times: usize) {
        self.panicking.lock().unwrap().insert(method, times);
    }

    fn calls(&self, method: &str) -> usize {
        self.calls.lock().unwrap().get(method).copied().unwrap_or(0)
    }

    fn total_calls(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }

    /// Counts a call of `method`, failing it if told to.
    fn call(&self, method: &'static str) -> Result<(), hookshot::Error> {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
        let panics = {
            let mut panicking = self.panicking.lock().unwrap();
            panicking
                .get_mut(method)
                .filter(|left| **left > 0)
                .map(|left| *left -= 1)
                .is_some()
        };
        assert!(!panics, "{method} panicked");
        let mut failing = self.failing.lock().unwrap();
        for key in [method, "*"] {
            if let Some(left) = failing.get_mut(key).filter(|left| **left > 0) {
                *left -= 1;
                return Err(hookshot::Error::backend(
                    format!("{method} failed"),
                    true,
                    "the database is down",
                ));
            }
        }
        Ok(())
    }
}

mod flaky {
    use super::*;
    use hookshot::clock::Timestamp;
    use hookshot::model::{
        Attempt, Delivery, EndpointFilter, Event, EventType, PageRequest, StoredEndpoint,
    };
    use hookshot::store::{
        CatalogStore, Claim, DeliveryStore, EndpointChange, EndpointStore, IdempotencyRecord,
        Inserted, Lease, Purged, Wake,
    };
    use hookshot::{Error, EventId};

    #[async_trait]
    impl EndpointStore for Flaky {
        async fn insert_endpoint(
            &self,
            endpoint: StoredEndpoint,
            idempotency: Option<IdempotencyRecord>,
        ) -> Result<Inserted, Error> {
            self.call("insert_endpoint")?;
            self.inner.insert_endpoint(endpoint, idempotency).await
        }

        async fn endpoint(
            &self,
            tenant: &TenantId,
            id: &EndpointId,
        ) -> Result<Option<StoredEndpoint>, Error> {
            self.call("endpoint")?;
            self.inner.endpoint(tenant, id).await
        }

        async fn shared_endpoint(
            &self,
            tenant: &TenantId,
            id: &EndpointId,
        ) -> Result<Option<Arc<StoredEndpoint>>, Error> {
            self.call("shared_endpoint")?;
            self.inner.shared_endpoint(tenant, id).await
        }

        async fn update_endpoint(
            &self,
            tenant: &TenantId,
            id: &EndpointId,
            change: EndpointChange<'_>,
        ) -> Result<StoredEndpoint, Error> {
            self.call("update_endpoint")?;
            self.inner.update_endpoint(tenant, id, change).await
        }

        async fn list_endpoints(
            &self,
            tenant: &TenantId,
            filter: &EndpointFilter,
            page: &PageRequest,
        ) -> Result<Vec<StoredEndpoint>, Error> {
            self.call("list_endpoints")?;
            self.inner.list_endpoints(tenant, filter, page).await
        }

        async fn subscribers(
            &self,
            tenant: &TenantId,
            event_type: &EventType,
        ) -> Result<Vec<EndpointId>, Error> {
            self.call("subscribers")?;
            self.inner.subscribers(tenant, event_type).await
        }
    }

    #[async_trait]
    impl CatalogStore for Flaky {
        async fn upsert_event_types(&self, types: &[EventType]) -> Result<(), Error> {
            self.call("upsert_event_types")?;
            self.inner.upsert_event_types(types).await
        }

        async fn event_types(&self) -> Result<Vec<EventType>, Error> {
            self.call("event_types")?;
            self.inner.event_types().await
        }

        async fn event_type(&self, name: &str) -> Result<Option<EventType>, Error> {
            self.call("event_type")?;
            self.inner.event_type(name).await
        }
    }

    #[async_trait]
    impl DeliveryStore for Flaky {
        async fn enqueue(
            &self,
            event: Event,
            deliveries: Vec<Delivery>,
            idempotency: Option<IdempotencyRecord>,
        ) -> Result<Inserted, Error> {
            self.call("enqueue")?;
            self.inner.enqueue(event, deliveries, idempotency).await
        }

        async fn claim_due(
            &self,
            worker: &str,
            now: Timestamp,
            lease_until: Timestamp,
            limit: usize,
        ) -> Result<Vec<Claim>, Error> {
            self.call("claim_due")?;
            let claims = self
                .inner
                .claim_due(worker, now, lease_until, limit)
                .await?;
            self.claimed.fetch_add(claims.len(), Ordering::SeqCst);
            Ok(claims)
        }

        async fn finish_attempt(
            &self,
            lease: &Lease,
            attempt: Attempt,
            delivery: Delivery,
        ) -> Result<bool, Error> {
            self.call("finish_attempt")?;
            self.inner.finish_attempt(lease, attempt, delivery).await
        }

        async fn release(&self, lease: &Lease, now: Timestamp) -> Result<(), Error> {
            self.call("release")?;
            self.inner.release(lease, now).await
        }

        async fn renew_leases(
            &self,
            leases: &[Lease],
            until: Timestamp,
        ) -> Result<Vec<bool>, Error> {
            self.call("renew_leases")?;
            self.inner.renew_leases(leases, until).await
        }

        async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
            self.call("next_due")?;
            self.inner.next_due().await
        }

        async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, Error> {
            self.call("event")?;
            self.inner.event(tenant, id).await
        }

        async fn delivery(
            &self,
            tenant: &TenantId,
            id: &DeliveryId,
        ) -> Result<Option<Delivery>, Error> {
            self.call("delivery")?;
            self.inner.delivery(tenant, id).await
        }

        async fn attempts(
            &self,
            tenant: &TenantId,
            id: &DeliveryId,
        ) -> Result<Vec<Attempt>, Error> {
            self.call("attempts")?;
            self.inner.attempts(tenant, id).await
        }

        async fn list_deliveries(
            &self,
            tenant: &TenantId,
            filter: &DeliveryFilter,
            page: &PageRequest,
        ) -> Result<Vec<Delivery>, Error> {
            self.call("list_deliveries")?;
            self.inner.list_deliveries(tenant, filter, page).await
        }

        async fn requeue(
            &self,
            tenant: &TenantId,
            id: &DeliveryId,
            now: Timestamp,
        ) -> Result<Delivery, Error> {
            self.call("requeue")?;
            self.inner.requeue(tenant, id, now).await
        }

        async fn requeue_failed(
            &self,
            tenant: &TenantId,
            endpoint: Option<&EndpointId>,
            since: Timestamp,
            now: Timestamp,
        ) -> Result<u64, Error> {
            self.call("requeue_failed")?;
            self.inner
                .requeue_failed(tenant, endpoint, since, now)
                .await
        }

        async fn fail_queued(
            &self,
            tenant: &TenantId,
            endpoint: &EndpointId,
            reason: &str,
        ) -> Result<u64, Error> {
            self.call("fail_queued")?;
            self.inner.fail_queued(tenant, endpoint, reason).await
        }

        async fn purge_finished(&self, before: Timestamp) -> Result<Purged, Error> {
            self.call("purge_finished")?;
            self.inner.purge_finished(before).await
        }

        fn watch_new_work(&self, wake: Wake) {
            self.inner.watch_new_work(wake);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_outage_is_reported_once_and_claims_back_off() {
    let store = Arc::new(Flaky::default());
    let transport = Scripted::always(200);
    let setup = Setup::custom(store.clone(), transport.clone(), |_| {}).await;
    setup.endpoint("https://receiver.example/hooks").await;

    store.fail("*", usize::MAX);
    let handle = setup.dispatcher.spawn();
    tokio::time::sleep(Duration::from_secs(600)).await;
    let polls = store.calls("claim_due") + store.calls("next_due");
    // Polling every second (the poll interval) would be 600 claims; backing
    // off to once every 30 s is fewer than 30 after the first minute.
    assert!(polls < 40, "{polls} store calls in ten minutes of outage");
    let notices = setup.store_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        matches!(
            &notices[0],
            Notice::StoreFailed { operation, delivery_id: None, error, .. }
                if operation.as_str() == "claim" && error.contains("claim_due failed")
        ),
        "{notices:?}"
    );

    store.fail("*", 0);
    let failed = store.calls("claim_due") + store.calls("next_due");
    let id = setup.send().await;
    eventually("delivered once the store is back", 31 * SECOND, || async {
        setup.detail(&id).await.delivery.status == DeliveryStatus::Delivered
    })
    .await;
    let notices = setup.store_notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(
        matches!(
            &notices[1],
            Notice::StoreRecovered { operation, failures }
                if operation.as_str() == "claim" && *failures == failed as u64
        ),
        "{notices:?}"
    );
    handle.shutdown(SECOND).await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_record_is_retried_before_it_is_given_up() {
    let store = Arc::new(Flaky::default());
    let transport = Scripted::always(200);
    let setup = Setup::custom(store.clone(), transport.clone(), |_| {}).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let id = setup.send().await;

    store.fail("finish_attempt", 2);
    assert_eq!(setup.round().await, 1);
    let detail = setup.detail(&id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(detail.attempt_log.len(), 1, "recorded on the third try");
    assert_eq!(store.calls("finish_attempt"), 3);
    assert_eq!(transport.requests.lock().unwrap().len(), 1);
    assert!(
        setup.store_notices().is_empty(),
        "it was recorded in the end"
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_record_given_up_is_reported_and_left_to_the_lease() {
    let store = Arc::new(Flaky::default());
    let transport = Scripted::always(200);
    let setup = Setup::custom(store.clone(), transport.clone(), |_| {}).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let id = setup.send().await;

    store.fail("finish_attempt", usize::MAX);
    assert_eq!(setup.round().await, 1);
    let tries = store.calls("finish_attempt");
    assert!((2..=5).contains(&tries), "{tries} tries");
    let notices = setup.store_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        matches!(
            &notices[0],
            Notice::StoreFailed { operation, delivery_id: Some(failed), .. }
                if operation.as_str() == "record_attempt" && *failed == id
        ),
        "{notices:?}"
    );
    assert_eq!(
        setup.detail(&id).await.delivery.status,
        DeliveryStatus::Delivering,
        "still leased"
    );

    // Once the lease runs out it is attempted again: at least once.
    store.fail("finish_attempt", 0);
    setup.clock.advance(61 * SECOND);
    assert_eq!(setup.round().await, 1);
    let detail = setup.detail(&id).await;
    assert_eq!(detail.delivery.status, DeliveryStatus::Delivered);
    assert_eq!(detail.attempt_log.len(), 1);
    assert_eq!(transport.requests.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn every_store_failure_in_an_attempt_is_reported() {
    let store = Arc::new(Flaky::default());
    let transport = Scripted::always(500);
    let setup = Setup::custom(store.clone(), transport.clone(), |_| {}).await;
    setup.endpoint("https://receiver.example/hooks").await;
    let operation_of = |notice: &Notice| match notice {
        Notice::StoreFailed {
            operation,
            delivery_id,
            ..
        } => (operation.as_str(), delivery_id.clone()),
        other => panic!("{other:?}"),
    };

    // Reading the endpoint.
    let id = setup.send().await;
    store.fail("shared_endpoint", 1);
    setup.round().await;
    let notices = setup.store_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(
        operation_of(&notices[0]),
        ("read_endpoint", Some(id.clone()))
    );

    // Recording how the endpoint fares.
    setup.clock.advance(61 * SECOND);
    store.fail("update_endpoint", 1);
    setup.round().await;
    let notices = setup.store_notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(
        operation_of(&notices[1]),
        ("update_endpoint", Some(id.clone()))
    );
    assert_eq!(setup.detail(&id).await.attempt_log.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_purge_is_reported() {
    const HOUR: Duration = Duration::from_secs(3600);
    let store = Arc::new(Flaky::default());
    let transport = Scripted::always(200);
    let setup = Setup::custom(store.clone(), transport, |c| {
        c.keep_history = Some(HOUR);
        c.purge_interval = HOUR;
    })
    .await;
    store.fail("purge_finished", 1);
    let handle = setup.dispatcher.spawn();
    tokio::time::sleep(HOUR / 2).await;
    let notices = setup.store_notices();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        matches!(&notices[0], Notice::StoreFailed { operation, .. } if operation.as_str() == "purge"),
        "{notices:?}"
    );
    handle.shutdown(SECOND).await;
}

// ------------------------------------------------ a backlog at its cap

#[tokio::test(start_paused = true)]
async fn a_backlog_at_its_endpoint_cap_neither_stalls_the_runtime_nor_starves_others() {
    const BACKLOG: usize = 20_000;
    let stall = Arc::new(tokio::sync::Semaphore::new(0));
    let capped = Arc::new(Scripted {
        fallback: Mutex::new(200),
        hold: Some(stall.clone()),
        ..Scripted::default()
    });
    let healthy = Scripted::always(200);
    let (capped_url, healthy_url) = ("https://capped.example/hooks", "https://ok.example/hooks");
    let routed = Routed::new([(capped_url, &capped), (healthy_url, &healthy)]);
    let store = Arc::new(Flaky::default());
    let setup = Setup::custom(store.clone(), routed, |c| c.per_endpoint_concurrency = 1).await;
    setup.endpoint(capped_url).await;
    let other = setup.other_endpoint(healthy_url).await;
    for _ in 0..BACKLOG {
        setup
            .webhooks
            .send(&setup.tenant, "invoice.paid", "{}")
            .await
            .unwrap();
    }
    setup
        .webhooks
        .send(&other, "invoice.paid", "{}")
        .await
        .unwrap();

    let handle = setup.dispatcher.spawn();
    // This task gets a turn every time the runtime's one thread comes back
    // to it; count the store calls the dispatcher makes in between.
    let (mut turns, mut longest, mut last) = (0usize, 0, store.total_calls());
    while healthy.requests.lock().unwrap().is_empty() {
        tokio::task::yield_now().await;
        let calls = store.total_calls();
        longest = longest.max(calls - last);
        last = calls;
        turns += 1;
        assert!(turns < 100_000, "the healthy delivery never came");
    }
    assert!(
        longest < 1_000,
        "{longest} store calls without giving the runtime back"
    );
    // Put off, a delivery is not claimed again at once: one pass over the
    // backlog reaches the other tenant's delivery.
    let claimed = store.claimed.load(Ordering::SeqCst);
    assert!(claimed <= BACKLOG + 1, "{claimed} claims");
    assert_eq!(capped.in_flight.lock().unwrap().0, 1, "one stalled attempt");
    handle.shutdown(Duration::ZERO).await;
}

#[tokio::test]
async fn an_absurd_concurrency_is_refused_rather_than_panicking() {
    let setup = Setup::with_transport(Scripted::always(204)).await;
    for concurrency in [usize::MAX, usize::MAX >> 3, 1 << 20] {
        let built = Dispatcher::builder(setup.webhooks.clone())
            .transport(Scripted::always(204))
            .configure(|c| c.concurrency = concurrency)
            .build();
        assert!(
            matches!(&built, Err(hookshot::Error::InvalidInput { field, .. }) if field == "concurrency"),
            "{concurrency}: {built:?}"
        );
    }
}

#[tokio::test]
async fn zero_waits_that_would_spin_are_refused() {
    // A delivery put off for a busy endpoint would be due again at once,
    // and its worker's next claim would take it straight back; an idle
    // dispatcher would ask the store for work without pause.
    let setup = Setup::with_transport(Scripted::always(204)).await;
    let zero_busy_delay = |c: &mut DispatcherConfig| c.endpoint_busy_delay = Duration::ZERO;
    let zero_poll = |c: &mut DispatcherConfig| c.poll_interval = Duration::ZERO;
    for (field, change) in [
        (
            "endpoint_busy_delay",
            &zero_busy_delay as &dyn Fn(&mut DispatcherConfig),
        ),
        ("poll_interval", &zero_poll),
    ] {
        let built = Dispatcher::builder(setup.webhooks.clone())
            .transport(Scripted::always(204))
            .configure(change)
            .build();
        assert!(
            matches!(&built, Err(hookshot::Error::InvalidInput { field: f, .. }) if f == field),
            "{built:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_claim_is_a_store_failure_and_the_dispatcher_goes_on() {
    let store = Arc::new(Flaky::default());
    let transport = Scripted::always(200);
    let setup = Setup::custom(store.clone(), transport.clone(), |_| {}).await;
    setup.endpoint("https://receiver.example/hooks").await;
    store.panic("claim_due", 1);
    let handle = setup.dispatcher.spawn();
    let id = setup.send().await;
    eventually("delivered after the panic", 10 * SECOND, || async {
        setup.detail(&id).await.delivery.status == DeliveryStatus::Delivered
    })
    .await;
    let notices = setup.store_notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(
        matches!(&notices[0], Notice::StoreFailed { error, .. } if error.contains("panicked")),
        "{notices:?}"
    );
    assert!(
        matches!(&notices[1], Notice::StoreRecovered { failures: 1, .. }),
        "{notices:?}"
    );
    handle.shutdown(SECOND).await;
}

#[tokio::test(start_paused = true)]
async fn a_panic_after_the_attempt_was_recorded_records_nothing_twice() {
    let store = Arc::new(Flaky::default());
    let transport = Scripted::always(200);
    let setup = Setup::custom(store.clone(), transport.clone(), |c| c.concurrency = 1).await;
    setup.endpoint("https://receiver.example/hooks").await;
    // Recording when the endpoint was last tried comes after the attempt's
    // own record.
    store.panic("update_endpoint", 1);
    let first = setup.send().await;
    let handle = setup.dispatcher.spawn();
    eventually("the first delivered", 10 * SECOND, || async {
        setup.detail(&first).await.delivery.status == DeliveryStatus::Delivered
    })
    .await;
    let second = setup.send().await;
    eventually(
        "the second delivered by the same worker",
        10 * SECOND,
        || async { setup.detail(&second).await.delivery.status == DeliveryStatus::Delivered },
    )
    .await;
    let log = setup.detail(&first).await.attempt_log;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].outcome.status(), Some(200));
    handle.shutdown(SECOND).await;
}

/// Panics at every notice.
#[derive(Debug)]
struct PanickingObserver;

#[async_trait]
impl Observer for PanickingObserver {
    async fn notice(&self, notice: Notice) {
        panic!("the observer broke at {notice:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_observer_stops_nothing() {
    let transport = Scripted::always(410);
    let mut setup = Setup::with_transport(transport.clone()).await;
    setup.dispatcher = Dispatcher::builder(setup.webhooks.clone())
        .transport(transport.clone())
        .observer(Arc::new(PanickingObserver))
        .configure(|c| c.concurrency = 1)
        .build()
        .unwrap();
    let (gone, _) = setup.endpoint("https://gone.example/hooks").await;
    let first = setup.send().await;
    let handle = setup.dispatcher.spawn();
    eventually("the endpoint disabled", 10 * SECOND, || async {
        setup.detail(&first).await.delivery.status == DeliveryStatus::Failed
    })
    .await;
    let endpoint = setup.webhooks.endpoint(&setup.tenant, &gone).await.unwrap();
    assert!(matches!(endpoint.status, EndpointStatus::Disabled { .. }));
    assert_eq!(setup.detail(&first).await.attempt_log.len(), 1);

    transport.set_fallback(200);
    setup.endpoint("https://receiver.example/hooks").await;
    let second = setup.send().await;
    eventually(
        "a later delivery by the same worker",
        10 * SECOND,
        || async { setup.detail(&second).await.delivery.status == DeliveryStatus::Delivered },
    )
    .await;
    handle.shutdown(SECOND).await;
}
