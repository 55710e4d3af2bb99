#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The facade's checks of its input: what `Webhooks` refuses before it
//! reaches the store, and that a refusal changes nothing. No backend can
//! change these answers, so they run over the in-memory store only, not in
//! the conformance suite.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hookshot::clock::{ManualClock, Timestamp};
use hookshot::model::{
    CreatedEndpoint, DeliveryFilter, Endpoint, EndpointFilter, EventType, NewEndpoint, PageRequest,
    Payload, TenantId, UpdateEndpoint,
};
use hookshot::store::{MemoryStore, Store};
use hookshot::{
    CreateOptions, EndpointId, Error, MAX_ROTATION_GRACE, SendOptions, Webhooks, WebhooksBuilder,
};

const START: Timestamp = Timestamp::from_unix_millis(1_000_000_000_000);
const MS: Duration = Duration::from_millis(1);
const SECOND: Duration = Duration::from_secs(1);

const CATALOG: [&str; 4] = [
    "customer.created",
    "invoice.paid",
    "invoice.voided",
    "refund.issued",
];

/// Event types no endpoint may subscribe to: an undeclared name, a group
/// without declared types and a name close to a declared one.
const UNKNOWN_TYPES: [&str; 3] = ["user.created", "shipment.*", "invoice.refunded"];

/// A [`Webhooks`] over a fresh in-memory store, on a manual clock, for one
/// tenant.
struct Facade {
    webhooks: Webhooks,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    tenant: TenantId,
}

impl Facade {
    /// With [`CATALOG`] declared and the default settings.
    async fn new() -> Self {
        Self::configured(|b| b).await
    }

    async fn configured(configure: impl FnOnce(WebhooksBuilder) -> WebhooksBuilder) -> Self {
        let clock = Arc::new(ManualClock::new(START));
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let builder = Webhooks::builder(Arc::clone(&store))
            .clock(clock.clone())
            .local_development(false)
            .event_types(CATALOG.map(event_type));
        Self {
            webhooks: configure(builder).build().await.unwrap(),
            store,
            clock,
            tenant: TenantId::new("acme").unwrap(),
        }
    }

    async fn create(&self, new: NewEndpoint) -> CreatedEndpoint {
        self.webhooks
            .create_endpoint(&self.tenant, new)
            .await
            .unwrap()
    }

    async fn endpoint(&self, id: &EndpointId) -> Endpoint {
        self.webhooks.endpoint(&self.tenant, id).await.unwrap()
    }

    /// The secrets that sign now, exposed.
    async fn signing_secrets(&self, id: &EndpointId) -> Vec<String> {
        let secrets = self.webhooks.signing_secrets(&self.tenant, id).await;
        secrets.unwrap().iter().map(|s| s.expose()).collect()
    }

    async fn all_endpoint_ids(&self) -> Vec<EndpointId> {
        let (all, first) = (EndpointFilter::default(), PageRequest::first());
        let page = self.webhooks.list_endpoints(&self.tenant, &all, &first);
        page.await.unwrap().data.into_iter().map(|e| e.id).collect()
    }

    /// Nothing is listed or due.
    async fn assert_nothing_queued(&self, what: &str) {
        let (all, first) = (DeliveryFilter::default(), PageRequest::first());
        let listed = self.webhooks.list_deliveries(&self.tenant, &all, &first);
        let listed = listed.await.unwrap().data;
        assert!(listed.is_empty(), "{what}: deliveries listed: {listed:?}");
        let due = self.store.next_due().await.unwrap();
        assert_eq!(due, None, "{what}: something is due");
    }
}

fn event_type(name: &str) -> EventType {
    EventType::new(name).unwrap()
}

fn endpoint_request(n: usize) -> NewEndpoint {
    NewEndpoint::new(format!("https://receiver-{n}.example.com/hooks"))
}

/// A request that sets every field.
fn full_endpoint_request() -> NewEndpoint {
    NewEndpoint::new("https://billing.example.com/hooks")
        .name("Billing")
        .description("Invoices for accounting")
        .event_types(["invoice.paid", "customer.*"])
        .timeout(Duration::from_secs(10))
        .rate_limit(50)
        .header("X-Trace", "abc")
        .metadata("plan", "pro")
}

/// `result` is `InvalidInput` naming `field` (or a part of it); returns the
/// reason given.
#[track_caller]
fn assert_invalid<T: fmt::Debug>(result: Result<T, Error>, field: &str, what: &str) -> String {
    match result {
        Err(Error::InvalidInput { field: got, reason }) => {
            let named = got == field || got.starts_with(&format!("{field}."));
            assert!(
                named,
                "{what}: InvalidInput names field {got:?}, expected {field:?} ({reason})"
            );
            reason
        }
        other => panic!("{what}: expected InvalidInput naming {field:?}, got {other:?}"),
    }
}

/// Requests every create must refuse: what, the field named, the request.
fn rejected_creates() -> Vec<(&'static str, &'static str, NewEndpoint)> {
    let ok = || NewEndpoint::new("https://example.com/hooks");
    let mut unknown = vec!["invoice.paid"];
    unknown.extend(UNKNOWN_TYPES);
    vec![
        (
            "plain http",
            "url",
            NewEndpoint::new("http://example.com/hooks"),
        ),
        (
            "user info",
            "url",
            NewEndpoint::new("https://u:p@example.com/hooks"),
        ),
        (
            "fragment",
            "url",
            NewEndpoint::new("https://example.com/hooks#top"),
        ),
        ("not a URL", "url", NewEndpoint::new("example.com/hooks")),
        ("zero timeout", "timeout_secs", ok().timeout(Duration::ZERO)),
        (
            "31 s timeout",
            "timeout_secs",
            ok().timeout(Duration::from_secs(31)),
        ),
        (
            "reserved header",
            "headers",
            ok().header("Content-Type", "x"),
        ),
        (
            "signature header",
            "headers",
            ok().header("webhook-signature", "v1,x"),
        ),
        (
            "unknown event types",
            "event_types",
            ok().event_types(unknown),
        ),
        (
            "empty event filter",
            "event_types",
            ok().event_types(Vec::<String>::new()),
        ),
        ("zero rate limit", "rate_limit_per_sec", ok().rate_limit(0)),
        (
            "rate limit over 10,000",
            "rate_limit_per_sec",
            ok().rate_limit(10_001),
        ),
        ("oversize name", "name", ok().name("n".repeat(257))),
        (
            "oversize description",
            "description",
            ok().description("d".repeat(1025)),
        ),
    ]
}

/// Updates every update must refuse: what, the field named, the update.
fn rejected_updates() -> Vec<(&'static str, &'static str, UpdateEndpoint)> {
    let ok = UpdateEndpoint::new;
    let host = BTreeMap::from([("Host".to_owned(), "x".to_owned())]);
    vec![
        ("plain http", "url", ok().url("http://example.com/hooks")),
        (
            "user info",
            "url",
            ok().url("https://u:p@example.com/hooks"),
        ),
        ("fragment", "url", ok().url("https://example.com/hooks#top")),
        ("zero timeout", "timeout_secs", ok().timeout(Duration::ZERO)),
        (
            "31 s timeout",
            "timeout_secs",
            ok().timeout(Duration::from_secs(31)),
        ),
        ("reserved header", "headers", ok().headers(host)),
        (
            "unknown event types",
            "event_types",
            ok().event_types(UNKNOWN_TYPES),
        ),
        (
            "zero rate limit",
            "rate_limit_per_sec",
            ok().rate_limit(Some(0)),
        ),
        ("oversize name", "name", ok().name("n".repeat(257))),
        (
            "valid name, bad url",
            "url",
            ok().name("changed").url("http://x.example"),
        ),
    ]
}

/// Every refused create names its field and stores nothing, not even its
/// idempotency key; requests at the limits pass.
#[tokio::test]
async fn create_rejects_invalid_input() {
    const KEY: &str = "retried-after-fixing";
    let f = Facade::new().await;
    for (what, field, new) in rejected_creates() {
        let keyed = CreateOptions::new().idempotency_key(KEY);
        let result = f.webhooks.create_endpoint_with(&f.tenant, new, keyed).await;
        assert_invalid(result, field, what);
        let listed = f.all_endpoint_ids().await;
        assert!(
            listed.is_empty(),
            "a refused create ({what}) stored {listed:?}"
        );
    }
    let at_limits = NewEndpoint::new("https://example.com/hooks")
        .name("n".repeat(256))
        .timeout(Duration::from_secs(30));
    let created = f
        .webhooks
        .create_endpoint_with(
            &f.tenant,
            at_limits,
            CreateOptions::new().idempotency_key(KEY),
        )
        .await;
    let created = created.expect("the key was kept by a refused create");
    let listed = f.all_endpoint_ids().await;
    assert_eq!(listed, [created.endpoint.id], "after fixing the request");
    let shortest = f.create(endpoint_request(1).timeout(SECOND)).await;
    assert_eq!(
        shortest.endpoint.timeout, SECOND,
        "a 1 s timeout is allowed"
    );
}

/// A malformed key in `CreateOptions` is refused as the positional key was,
/// naming `idempotency_key`, before anything is created.
#[tokio::test]
async fn create_refuses_a_malformed_idempotency_key() {
    let f = Facade::new().await;
    let long = "k".repeat(256);
    for (what, key) in [
        ("an empty key", ""),
        ("a non-ASCII key", "clé"),
        ("a key with a newline", "a\nb"),
        ("a 256-character key", long.as_str()),
    ] {
        let keyed = CreateOptions::new().idempotency_key(key);
        let new = endpoint_request(1);
        let result = f.webhooks.create_endpoint_with(&f.tenant, new, keyed).await;
        assert_invalid(result, "idempotency_key", what);
        assert!(f.all_endpoint_ids().await.is_empty(), "{what}: created one");
    }
}

/// Every refused update names its field and leaves the endpoint unchanged.
#[tokio::test]
async fn update_rejects_invalid_input() {
    let f = Facade::new().await;
    let created = f.create(full_endpoint_request()).await;
    let id = &created.endpoint.id;
    for (what, field, update) in rejected_updates() {
        f.clock.advance(SECOND);
        let result = f.webhooks.update_endpoint(&f.tenant, id, update).await;
        assert_invalid(result, field, what);
        let now = f.endpoint(id).await;
        assert_eq!(
            now, created.endpoint,
            "a refused update ({what}) changed it"
        );
    }
    let secret = created.signing_secret.expose();
    assert_eq!(f.signing_secrets(id).await, [secret], "the secret");
}

/// Unknown event types are refused with every unknown name in the message,
/// and only those.
#[tokio::test]
async fn unknown_event_types_are_all_named() {
    let f = Facade::new().await;
    let mut patterns = vec!["invoice.paid", "refund.*"];
    patterns.extend(UNKNOWN_TYPES);
    let new = endpoint_request(1).event_types(patterns.clone());
    let result = f.webhooks.create_endpoint(&f.tenant, new).await;
    check_unknown_named(&assert_invalid(result, "event_types", "create"));

    let created = f.create(endpoint_request(2)).await.endpoint;
    let update = UpdateEndpoint::new().event_types(patterns);
    let result = f
        .webhooks
        .update_endpoint(&f.tenant, &created.id, update)
        .await;
    check_unknown_named(&assert_invalid(result, "event_types", "update"));
    assert_eq!(
        f.endpoint(&created.id).await,
        created,
        "a refused filter was stored"
    );
    assert_eq!(
        f.all_endpoint_ids().await,
        [created.id],
        "a refused create was stored"
    );
}

#[track_caller]
fn check_unknown_named(reason: &str) {
    for name in UNKNOWN_TYPES {
        assert!(reason.contains(name), "{name} is not named in {reason:?}");
    }
    for known in ["invoice.paid", "refund.*"] {
        assert!(
            !reason.contains(known),
            "known {known} is named in {reason:?}"
        );
    }
}

/// `group:<group>` is accepted for a group the catalog files a type under.
/// Unknown groups are named in the same error as unknown names, a group is
/// no name prefix (`wallet.*` names nothing here), and an empty or
/// over-long group is malformed; a refused filter is not stored. (Creates
/// check filters with the same code as updates.)
#[tokio::test]
async fn unknown_groups_are_named_with_unknown_names() {
    let f =
        Facade::configured(|b| b.event_type(event_type("transaction.confirmed").group("wallet")))
            .await;
    let created = f
        .create(endpoint_request(1).event_types(["group:wallet", "group:invoice"]))
        .await
        .endpoint;
    let unknown = [
        "group:ledger",
        "group:transaction",
        "wallet.*",
        "user.created",
    ];
    let mut patterns = vec!["group:wallet", "invoice.paid"];
    patterns.extend(unknown);
    let update = UpdateEndpoint::new().event_types(patterns);
    let result = f
        .webhooks
        .update_endpoint(&f.tenant, &created.id, update)
        .await;
    let reason = assert_invalid(result, "event_types", "unknown entries");
    assert!(reason.contains("not in the event-type catalog"), "{reason}");
    for name in unknown {
        assert!(reason.contains(name), "{name} is not named in {reason:?}");
    }
    for known in ["group:wallet", "invoice.paid"] {
        assert!(!reason.contains(known), "known {known} named in {reason:?}");
    }
    let too_long = format!("group:{}", "w".repeat(129));
    for malformed in ["group:", "Group:wallet", &too_long] {
        let update = UpdateEndpoint::new().event_types([malformed]);
        let result = f
            .webhooks
            .update_endpoint(&f.tenant, &created.id, update)
            .await;
        assert_invalid(result, "event_types", malformed);
    }
    assert_eq!(
        f.endpoint(&created.id).await,
        created,
        "a refused filter was stored"
    );
}

/// A grace over 7 days is refused, when building and when rotating,
/// changing nothing; 7 days is allowed.
#[tokio::test]
async fn rotation_grace_over_seven_days_rejected() {
    let too_long = MAX_ROTATION_GRACE + SECOND;
    let built = Webhooks::in_memory().rotation_grace(too_long).build().await;
    assert_invalid(built, "rotation_grace", "building with an 8-day grace");

    let f = Facade::new().await;
    let created = f.create(endpoint_request(1)).await;
    let (id, s0) = (&created.endpoint.id, created.signing_secret.expose());
    let rotate = |grace| f.webhooks.rotate_secret_with_grace(&f.tenant, id, grace);
    assert_invalid(
        rotate(too_long).await,
        "rotation_grace",
        "rotating with 8 days",
    );
    assert_eq!(
        f.signing_secrets(id).await,
        [s0.as_str()],
        "a refused rotation rotated"
    );
    assert_eq!(
        f.endpoint(id).await,
        created.endpoint,
        "a refused rotation changed it"
    );

    let s1 = rotate(MAX_ROTATION_GRACE)
        .await
        .expect("a 7-day grace")
        .expose();
    f.clock.advance(MAX_ROTATION_GRACE - MS);
    assert_eq!(
        f.signing_secrets(id).await,
        [s1.clone(), s0],
        "inside 7 days"
    );
    f.clock.advance(MS);
    assert_eq!(f.signing_secrets(id).await, [s1], "after 7 days");
}

/// A malformed entry stores none of its batch, when building and when
/// declaring; endpoints may only subscribe to declared types.
#[tokio::test]
async fn catalog_rejects_malformed_entries() {
    let no_group = event_type("shipment.lost").group("");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let built = Webhooks::builder(Arc::clone(&store))
        .event_type(event_type("shipment.sent"))
        .event_type(no_group.clone())
        .build()
        .await;
    assert_invalid(built, "event_type", "building with a malformed entry");
    let stored = store.event_types().await.unwrap();
    assert!(stored.is_empty(), "a refused build stored {stored:?}");

    let f = Facade::new().await;
    let before = f.webhooks.event_types(None).await.unwrap();
    let batch = vec![event_type("shipment.sent"), no_group];
    let result = f.webhooks.declare_event_types(batch).await;
    assert_invalid(result, "event_type", "a batch with a malformed entry");
    let after = f.webhooks.event_types(None).await.unwrap();
    assert_eq!(after, before, "a refused batch was stored in part");

    let shipments = || endpoint_request(1).event_types(["shipment.sent"]);
    let early = f.webhooks.create_endpoint(&f.tenant, shipments()).await;
    assert_invalid(early, "event_types", "subscribing to an undeclared type");
    let declared = f
        .webhooks
        .declare_event_types([event_type("shipment.sent")]);
    declared.await.unwrap();
    f.create(shipments()).await;
}

/// The payload limit of [`send_refusals_store_nothing`].
const SMALL_LIMIT: usize = 64;

/// A JSON object exactly `len` bytes long (at least 10).
fn json_object_of_len(len: usize) -> String {
    format!(r#"{{"pad":"{}"}}"#, "x".repeat(len - 10))
}

/// A send that must be refused, naming `field`.
struct RefusedSend {
    what: &'static str,
    field: &'static str,
    event_type: &'static str,
    payload: String,
    key: String,
}

const SEND_KEY: &str = "send-invoice-in_1";

fn refused_send(what: &'static str, field: &'static str, event_type: &'static str) -> RefusedSend {
    RefusedSend {
        what,
        field,
        event_type,
        payload: json_object_of_len(20),
        key: SEND_KEY.to_owned(),
    }
}

fn refused_sends() -> Vec<RefusedSend> {
    let payload = |r: RefusedSend, payload: &str| RefusedSend {
        payload: payload.to_owned(),
        ..r
    };
    let key = |r: RefusedSend, key: &str| RefusedSend {
        key: key.to_owned(),
        ..r
    };
    let bad_key = |what| refused_send(what, "idempotency_key", "invoice.paid");
    let bad_payload = |what| refused_send(what, "payload", "invoice.paid");
    vec![
        refused_send("an undeclared type", "event_type", "invoice.refunded"),
        refused_send("a pattern as the type", "event_type", "invoice.*"),
        payload(bad_payload("cut-off JSON"), r#"{"a":"#),
        payload(bad_payload("trailing text"), "{} {}"),
        payload(
            bad_payload("one byte over"),
            &json_object_of_len(SMALL_LIMIT + 1),
        ),
        key(bad_key("an empty key"), ""),
        key(bad_key("a non-ASCII key"), "clé"),
        key(bad_key("a key with a newline"), "a\nb"),
        key(bad_key("a 256-character key"), &"k".repeat(256)),
    ]
}

/// Every refused send names its field and stores nothing: no event, no
/// delivery, not even its idempotency key; a payload at the limit passes.
#[tokio::test]
async fn send_refusals_store_nothing() {
    let f = Facade::configured(|b| b.max_payload_bytes(SMALL_LIMIT)).await;
    f.create(endpoint_request(1)).await;
    for r in refused_sends() {
        let result = f
            .webhooks
            .send_with(
                &f.tenant,
                r.event_type,
                r.payload,
                SendOptions::new().idempotency_key(r.key),
            )
            .await;
        assert_invalid(result, r.field, r.what);
        f.assert_nothing_queued(r.what).await;
    }
    let at_limit = json_object_of_len(SMALL_LIMIT);
    let send = || {
        f.webhooks.send_with(
            &f.tenant,
            "invoice.paid",
            at_limit.as_str(),
            SendOptions::new().idempotency_key(SEND_KEY),
        )
    };
    let sent = send().await.expect("a payload at the limit, with the key");
    assert_eq!(sent.deliveries, 1, "deliveries of a payload at the limit");
    let retry = send().await.expect("a retry");
    assert_eq!(retry, sent, "the key after the refusals");
}

/// `prepare_send` checks the key in its `SendOptions` as `send_with` does,
/// before it reads the catalog or builds anything.
#[tokio::test]
async fn prepare_send_refuses_a_malformed_idempotency_key() {
    let f = Facade::new().await;
    f.create(endpoint_request(1)).await;
    let keyed = SendOptions::new().idempotency_key("clé");
    let result = f
        .webhooks
        .prepare_send(&f.tenant, "invoice.paid", "{}", keyed)
        .await;
    assert_invalid(
        result,
        "idempotency_key",
        "prepare_send with a non-ASCII key",
    );
    let fine = SendOptions::new().idempotency_key(SEND_KEY);
    let prepared = f
        .webhooks
        .prepare_send(&f.tenant, "invoice.paid", "{}", fine)
        .await;
    assert!(prepared.is_ok(), "a well-formed key: {prepared:?}");
}

/// A page limit outside 1 to 250 is refused, for endpoints and deliveries.
#[tokio::test]
async fn listing_limits_outside_1_to_250_rejected() {
    let f = Facade::new().await;
    for limit in [0, 251] {
        let request = PageRequest::first().limit(limit);
        let endpoints = &EndpointFilter::default();
        let result = f
            .webhooks
            .list_endpoints(&f.tenant, endpoints, &request)
            .await;
        assert_invalid(result, "limit", &format!("endpoints, limit {limit}"));
        let deliveries = &DeliveryFilter::default();
        let result = f
            .webhooks
            .list_deliveries(&f.tenant, deliveries, &request)
            .await;
        assert_invalid(result, "limit", &format!("deliveries, limit {limit}"));
    }
}

/// `depth` arrays, one inside the next, as JSON text: `[[…]]`.
fn nested_text(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// `depth` arrays, one inside the next, as a value. Built in a loop, not by
/// recursion; dropping it is recursive, so a test drops only shallow ones
/// itself.
fn nested_value(depth: usize) -> serde_json::Value {
    let mut value = serde_json::Value::Null;
    for _ in 0..depth {
        value = serde_json::Value::Array(vec![value]);
    }
    value
}

/// Payloads nested deeper than `Payload::MAX_DEPTH` are refused as text
/// and as values, storing nothing, however deep (a value 100,000 deep is
/// neither serialised nor dropped by recursion); at the limit they are
/// sent, and the body as delivered, envelope and all, parses with
/// serde_json's default recursion limit. Brackets inside strings are text.
#[tokio::test]
async fn payloads_nested_too_deep_are_refused() {
    let f = Facade::new().await;
    f.create(endpoint_request(1)).await;
    let send = |payload: Payload| f.webhooks.send(&f.tenant, "invoice.paid", payload);
    for depth in [Payload::MAX_DEPTH + 1, 100_000] {
        let text = send(Payload::from(nested_text(depth))).await;
        assert_invalid(text, "payload", &format!("text nested {depth} deep"));
        f.assert_nothing_queued("a deep text payload").await;
        let value = send(Payload::from(nested_value(depth))).await;
        assert_invalid(value, "payload", &format!("a value nested {depth} deep"));
        f.assert_nothing_queued("a deep value payload").await;
    }

    // Refused for its key before the payload is looked at: let go of all
    // the same.
    let bad_key = SendOptions::new().idempotency_key("");
    let deep = Payload::from(nested_value(100_000));
    let result = f
        .webhooks
        .send_with(&f.tenant, "invoice.paid", deep, bad_key)
        .await;
    assert_invalid(result, "idempotency_key", "a deep value with a bad key");

    let in_strings = format!(r#"["{0}", "\"{0}", {{"{0}": 1}}]"#, "[{".repeat(500));
    let at_limit = [
        Payload::from(nested_text(Payload::MAX_DEPTH)),
        Payload::from(nested_value(Payload::MAX_DEPTH)),
        Payload::from(in_strings),
    ];
    for payload in at_limit {
        let sent = send(payload).await.expect("a payload at the depth limit");
        let event = f.webhooks.event(&f.tenant, &sent.event_id).await.unwrap();
        let parsed = serde_json::from_str::<serde_json::Value>(event.body());
        assert!(parsed.is_ok(), "the body does not parse: {parsed:?}");
    }
}

/// Outside text that tries to forge a line in a log.
const FORGED: &str = "x\r\nInjected: 1";

/// `result` is `InvalidInput` whose message, field and reason hold no raw
/// line break or other control character, and not the forged line's text
/// when `echo` is false (a header value is never repeated).
#[track_caller]
fn assert_no_forged_line<T: fmt::Debug>(result: Result<T, Error>, what: &str, echo: bool) {
    let err = match result {
        Err(err @ Error::InvalidInput { .. }) => err,
        other => panic!("{what}: expected InvalidInput, got {other:?}"),
    };
    let message = err.to_string();
    assert!(
        !message.chars().any(char::is_control),
        "{what}: a control character in {message:?}"
    );
    if !echo {
        assert!(
            !message.contains("Injected"),
            "{what}: echoed in {message:?}"
        );
    }
}

/// No refusal repeats a CR or LF from the input, wherever the input is:
/// header names and values, metadata keys and values, URLs, names, event
/// types, filters, cursors, keys, tenants, ids and timestamps.
#[tokio::test]
async fn refusals_never_repeat_line_breaks_from_the_input() {
    let f = Facade::new().await;
    let id = f.create(endpoint_request(1)).await.endpoint.id;
    let ok = || NewEndpoint::new("https://example.com/hooks");
    let creates = [
        ("header name", ok().header(FORGED, "1"), true),
        ("header value", ok().header("X-A", FORGED), false),
        ("metadata key", ok().metadata(FORGED, "1"), true),
        (
            "long metadata value under a forged key",
            ok().metadata(FORGED, "v".repeat(1025)),
            true,
        ),
        (
            "url",
            NewEndpoint::new(format!("https://example.com/{FORGED}")),
            true,
        ),
        (
            "url host",
            NewEndpoint::new(format!("https://{FORGED}/")),
            true,
        ),
        ("name", ok().name(FORGED), true),
        ("description", ok().description(FORGED), true),
        ("event types", ok().event_types([FORGED]), true),
    ];
    for (what, new, echo) in creates {
        let result = f.webhooks.create_endpoint(&f.tenant, new).await;
        assert_no_forged_line(result, &format!("create: {what}"), echo);
    }
    let keyed = CreateOptions::new().idempotency_key(FORGED);
    let result = f
        .webhooks
        .create_endpoint_with(&f.tenant, ok(), keyed)
        .await;
    assert_no_forged_line(result, "create: idempotency key", true);
    let updates = [
        (
            "header name",
            UpdateEndpoint::new().headers(BTreeMap::from([(FORGED.to_owned(), "1".to_owned())])),
        ),
        (
            "metadata key",
            UpdateEndpoint::new().metadata(BTreeMap::from([(FORGED.to_owned(), "1".to_owned())])),
        ),
        ("url", UpdateEndpoint::new().url(FORGED)),
    ];
    for (what, update) in updates {
        let result = f.webhooks.update_endpoint(&f.tenant, &id, update).await;
        assert_no_forged_line(result, &format!("update: {what}"), true);
    }

    let result = f.webhooks.send(&f.tenant, FORGED, "{}").await;
    assert_no_forged_line(result, "send: event type", true);
    let keyed = SendOptions::new().idempotency_key(FORGED);
    let result = f
        .webhooks
        .send_with(&f.tenant, "invoice.paid", "{}", keyed)
        .await;
    assert_no_forged_line(result, "send: idempotency key", true);

    let first = PageRequest::first();
    let deliveries = DeliveryFilter::new().event_type(FORGED);
    let result = f
        .webhooks
        .list_deliveries(&f.tenant, &deliveries, &first)
        .await;
    assert_no_forged_line(result, "delivery filter", true);
    let endpoints = EndpointFilter::new().event_type(FORGED);
    let result = f
        .webhooks
        .list_endpoints(&f.tenant, &endpoints, &first)
        .await;
    assert_no_forged_line(result, "endpoint filter", true);
    assert_no_forged_line(PageRequest::parse(Some(FORGED), None), "cursor text", true);
    let encoded = base64_url(&format!("o:{FORGED}"));
    assert_no_forged_line(
        PageRequest::parse(Some(&encoded), None),
        "cursor anchor",
        true,
    );

    let entries = [
        ("group", event_type("invoice.paid").group(FORGED)),
        ("title", event_type("invoice.paid").title(FORGED)),
    ];
    for (what, entry) in entries {
        let result = f.webhooks.declare_event_types([entry]).await;
        assert_no_forged_line(result, &format!("catalog: {what}"), true);
    }
    assert_no_forged_line(EventType::new(FORGED), "event type name", true);
    assert_no_forged_line(TenantId::new(FORGED), "tenant", true);
    assert_no_forged_line(FORGED.parse::<EndpointId>(), "endpoint id", true);
    assert_no_forged_line(FORGED.parse::<Timestamp>(), "timestamp", true);
}

/// URL-safe base64 without padding, as cursors are written.
fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// Header values are checked as they are sent: visible ASCII, with spaces
/// and tabs only between characters. Non-ASCII, control characters and
/// leading or trailing whitespace are refused, naming the header and never
/// repeating the value.
#[tokio::test]
async fn header_values_must_be_visible_ascii() {
    let f = Facade::new().await;
    let ok = || NewEndpoint::new("https://example.com/hooks");
    for (what, value) in [
        ("non-ASCII", "caf\u{e9}"),
        ("a NUL", "a\0b"),
        ("a line break", "a\nb"),
        ("a DEL", "a\u{7f}b"),
        ("a leading space", " ab"),
        ("a trailing tab", "ab\t"),
    ] {
        let result = f
            .webhooks
            .create_endpoint(&f.tenant, ok().header("X-Trace", value))
            .await;
        let reason = assert_invalid(result, "headers.X-Trace", what);
        assert!(!reason.contains(value), "{what}: the value in {reason:?}");
        assert!(f.all_endpoint_ids().await.is_empty(), "{what}: created one");
    }
    let fine = "v1 a\tb ~!";
    let created = f
        .create(ok().header("X-Trace", fine).header("X-Empty", ""))
        .await;
    assert_eq!(
        created.endpoint.headers["x-trace"], fine,
        "a value with inner spaces"
    );
}

/// An example nested far too deep (100,000 levels) is refused by
/// `declare_event_types` and by `build`, whatever else is wrong with the
/// build, and let go of without overflowing the stack; nothing is stored.
#[tokio::test]
async fn catalog_refuses_examples_nested_far_too_deep() {
    let deep = || event_type("shipment.sent").example(nested_value(100_000));
    let f = Facade::new().await;
    let before = f.webhooks.event_types(None).await.unwrap();
    let result = f.webhooks.declare_event_types([deep()]).await;
    assert_invalid(result, "event_type", "declaring a deep example");
    assert_eq!(f.webhooks.event_types(None).await.unwrap(), before);

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let too_long = MAX_ROTATION_GRACE + SECOND;
    let built = Webhooks::builder(Arc::clone(&store))
        .rotation_grace(too_long)
        .event_type(deep())
        .build()
        .await;
    assert!(built.is_err(), "built with a deep example and a long grace");
    let stored = store.event_types().await.unwrap();
    assert!(stored.is_empty(), "a refused build stored {stored:?}");
}
