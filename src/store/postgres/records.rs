//! The JSON documents kept in the `record` columns, in shapes of their own.
//!
//! The model types serialise in their public JSON shapes, which follow the
//! API. Stored rows must not follow them, or renaming a public field would
//! make every row already written unreadable. So each stored document has a
//! private type here, converted to and from the model field by field, and
//! carries the version of its shape. Changing a shape means a new version
//! and a migration that rewrites the older rows; `tests/postgres.rs` pins
//! each shape to a literal so that no change goes unnoticed.
//!
//! Keys that have columns of their own (an endpoint's id and tenant, an
//! event type's name, an attempt's delivery) are not repeated inside, and
//! times are Unix milliseconds, as in every other column.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::Error;
use crate::id::{DeliveryId, EndpointId};
use crate::model::{
    Attempt, AttemptOutcome, Endpoint, EndpointSecrets, EndpointStatus, EventType, RetiredSecret,
    StoredEndpoint, TenantId, Trigger,
};

/// A stored document: the table it lives in and the version of its shape.
trait Record: Serialize + DeserializeOwned {
    const TABLE: &'static str;
    /// The version written, and the only one read: older rows are
    /// converted by the migration that introduced this one.
    const VERSION: u32;

    fn version(&self) -> u32;
}

/// An endpoint with its secrets (schema version 2).
#[derive(Serialize, Deserialize)]
struct EndpointRecord {
    version: u32,
    name: String,
    description: String,
    url: String,
    /// `None` for every event type.
    event_types: Option<BTreeSet<String>>,
    /// `None` while active.
    disabled: Option<DisabledRecord>,
    timeout_ms: u64,
    rate_limit_per_sec: Option<u32>,
    headers: BTreeMap<String, String>,
    metadata: BTreeMap<String, String>,
    has_signing_secret: bool,
    created_at_ms: i64,
    updated_at_ms: i64,
    last_triggered_at_ms: Option<i64>,
    /// The current signing secret in its `whsec_` form.
    secret: String,
    /// Newest first.
    retired: Vec<RetiredRecord>,
    deleted_at_ms: Option<i64>,
    failing_since_ms: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct DisabledRecord {
    reason: String,
    since_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct RetiredRecord {
    secret: String,
    expires_at_ms: i64,
}

impl Record for EndpointRecord {
    const TABLE: &'static str = "endpoints";
    const VERSION: u32 = 2;

    fn version(&self) -> u32 {
        self.version
    }
}

/// An entry of the event-type catalog (schema version 2).
#[derive(Serialize, Deserialize)]
struct EventTypeRecord {
    version: u32,
    group: String,
    title: String,
    description: String,
    example: Option<serde_json::Value>,
    deprecated: bool,
}

impl Record for EventTypeRecord {
    const TABLE: &'static str = "event_types";
    const VERSION: u32 = 2;

    fn version(&self) -> u32 {
        self.version
    }
}

/// One attempt at a delivery (schema version 2).
#[derive(Serialize, Deserialize)]
struct AttemptRecord {
    version: u32,
    number: u32,
    trigger: TriggerRecord,
    started_at_ms: i64,
    duration_ms: u64,
    outcome: OutcomeRecord,
}

#[derive(Serialize, Deserialize)]
enum TriggerRecord {
    #[serde(rename = "scheduled")]
    Scheduled,
    #[serde(rename = "manual")]
    Manual,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type")]
enum OutcomeRecord {
    #[serde(rename = "response")]
    Response {
        status: u16,
        body: String,
        body_truncated: bool,
    },
    #[serde(rename = "error")]
    Error { kind: String, message: String },
}

impl Record for AttemptRecord {
    const TABLE: &'static str = "attempts";
    const VERSION: u32 = 2;

    fn version(&self) -> u32 {
        self.version
    }
}

/// The `record` of endpoint `stored`.
pub(super) fn endpoint_to_json(stored: &StoredEndpoint) -> Result<String, Error> {
    let e = &stored.endpoint;
    let disabled = match &e.status {
        EndpointStatus::Active => None,
        EndpointStatus::Disabled { reason, since } => Some(DisabledRecord {
            reason: reason.clone(),
            since_ms: since.unix_millis(),
        }),
    };
    let retired = stored
        .secrets
        .retired
        .iter()
        .map(|r| RetiredRecord {
            secret: r.secret.expose(),
            expires_at_ms: r.expires_at.unix_millis(),
        })
        .collect();
    write(&EndpointRecord {
        version: EndpointRecord::VERSION,
        name: e.name.clone(),
        description: e.description.clone(),
        url: e.url.clone(),
        event_types: e.event_types.clone(),
        disabled,
        timeout_ms: millis_of(e.timeout),
        rate_limit_per_sec: e.rate_limit,
        headers: e.headers.clone(),
        metadata: e.metadata.clone(),
        has_signing_secret: e.has_signing_secret,
        created_at_ms: e.created_at.unix_millis(),
        updated_at_ms: e.updated_at.unix_millis(),
        last_triggered_at_ms: e.last_triggered_at.map(Timestamp::unix_millis),
        secret: stored.secrets.current.expose(),
        retired,
        deleted_at_ms: stored.deleted_at.map(Timestamp::unix_millis),
        failing_since_ms: stored.failing_since.map(Timestamp::unix_millis),
    })
}

/// The endpoint in the row with columns `id` and `tenant` and `record`.
pub(super) fn endpoint_from_row(
    id: &str,
    tenant: &str,
    record: &str,
) -> Result<StoredEndpoint, Error> {
    let bad = |why: String| bad_row(EndpointRecord::TABLE, id, why);
    let r: EndpointRecord = read(id, record)?;
    let secret = |text: &str, which: &str| {
        text.parse()
            .map_err(|e: Error| bad(format!("its {which} secret is malformed: {e}")))
    };
    let retired = r
        .retired
        .iter()
        .map(|old| {
            Ok(RetiredSecret {
                secret: secret(&old.secret, "retired")?,
                expires_at: Timestamp::from_unix_millis(old.expires_at_ms),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let status = match r.disabled {
        None => EndpointStatus::Active,
        Some(d) => EndpointStatus::Disabled {
            reason: d.reason,
            since: Timestamp::from_unix_millis(d.since_ms),
        },
    };
    let endpoint = Endpoint {
        id: id
            .parse::<EndpointId>()
            .map_err(|e| bad(format!("its id is malformed: {e}")))?,
        tenant: TenantId::new(tenant).map_err(|e| bad(format!("its tenant is malformed: {e}")))?,
        name: r.name,
        description: r.description,
        url: r.url,
        event_types: r.event_types,
        status,
        timeout: Duration::from_millis(r.timeout_ms),
        rate_limit: r.rate_limit_per_sec,
        headers: r.headers,
        metadata: r.metadata,
        has_signing_secret: r.has_signing_secret,
        created_at: Timestamp::from_unix_millis(r.created_at_ms),
        updated_at: Timestamp::from_unix_millis(r.updated_at_ms),
        last_triggered_at: r.last_triggered_at_ms.map(Timestamp::from_unix_millis),
    };
    Ok(StoredEndpoint {
        endpoint,
        secrets: EndpointSecrets {
            current: secret(&r.secret, "current")?,
            retired,
        },
        deleted_at: r.deleted_at_ms.map(Timestamp::from_unix_millis),
        failing_since: r.failing_since_ms.map(Timestamp::from_unix_millis),
    })
}

/// The `record` of `event_type`; its name is the row's key.
pub(super) fn event_type_to_json(event_type: &EventType) -> Result<String, Error> {
    write(&EventTypeRecord {
        version: EventTypeRecord::VERSION,
        group: event_type.group.clone(),
        title: event_type.title.clone(),
        description: event_type.description.clone(),
        example: event_type.example.clone(),
        deprecated: event_type.deprecated,
    })
}

/// The event type in the row with key `name` and `record`.
pub(super) fn event_type_from_row(name: &str, record: &str) -> Result<EventType, Error> {
    let r: EventTypeRecord = read(name, record)?;
    Ok(EventType {
        name: name.to_owned(),
        group: r.group,
        title: r.title,
        description: r.description,
        example: r.example,
        deprecated: r.deprecated,
    })
}

/// `text` with each NUL replaced by U+FFFD (the replacement character):
/// PostgreSQL's `text` and `jsonb` cannot hold a NUL, and a receiver's
/// answer may carry one.
pub(super) fn without_nul(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
}

/// The `record` of `attempt`; its delivery is a column of the row. What the
/// receiver said (the response body, an error's words) is kept with each
/// NUL replaced by U+FFFD, the only change made to it.
pub(super) fn attempt_to_json(attempt: &Attempt) -> Result<String, Error> {
    let outcome = match &attempt.outcome {
        AttemptOutcome::Response {
            status,
            body,
            body_truncated,
        } => OutcomeRecord::Response {
            status: *status,
            body: without_nul(body),
            body_truncated: *body_truncated,
        },
        AttemptOutcome::Error { kind, message } => OutcomeRecord::Error {
            kind: without_nul(kind),
            message: without_nul(message),
        },
    };
    write(&AttemptRecord {
        version: AttemptRecord::VERSION,
        number: attempt.number,
        trigger: match attempt.trigger {
            Trigger::Scheduled => TriggerRecord::Scheduled,
            Trigger::Manual => TriggerRecord::Manual,
        },
        started_at_ms: attempt.started_at.unix_millis(),
        duration_ms: millis_of(attempt.duration),
        outcome,
    })
}

/// The attempt in row `seq`, an attempt at `delivery`.
pub(super) fn attempt_from_row(
    seq: i64,
    delivery: &DeliveryId,
    record: &str,
) -> Result<Attempt, Error> {
    let r: AttemptRecord = read(&format!("{seq} (delivery {delivery})"), record)?;
    Ok(Attempt {
        delivery_id: delivery.clone(),
        number: r.number,
        trigger: match r.trigger {
            TriggerRecord::Scheduled => Trigger::Scheduled,
            TriggerRecord::Manual => Trigger::Manual,
        },
        started_at: Timestamp::from_unix_millis(r.started_at_ms),
        duration: Duration::from_millis(r.duration_ms),
        outcome: match r.outcome {
            OutcomeRecord::Response {
                status,
                body,
                body_truncated,
            } => AttemptOutcome::Response {
                status,
                body,
                body_truncated,
            },
            OutcomeRecord::Error { kind, message } => AttemptOutcome::Error { kind, message },
        },
    })
}

fn millis_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn write<R: Record>(record: &R) -> Result<String, Error> {
    serde_json::to_string(record).map_err(|e| Error::Backend {
        message: format!("writing a record of table {}: {e}", R::TABLE),
        transient: false,
        source: Some(e.into()),
    })
}

/// Decodes the record of `row`, which must be of the current version.
fn read<R: Record>(row: &str, text: &str) -> Result<R, Error> {
    match serde_json::from_str::<R>(text) {
        Ok(record) if record.version() == R::VERSION => Ok(record),
        Ok(record) => Err(wrong_version::<R>(row, Some(record.version()))),
        // A record of another version rarely decodes: say which it is
        // rather than which field first failed.
        Err(e) => match version_of(text) {
            Some(version) if version == Some(R::VERSION) => {
                Err(bad_row(R::TABLE, row, redacted(&e)))
            }
            Some(version) => Err(wrong_version::<R>(row, version)),
            None => Err(bad_row(R::TABLE, row, redacted(&e))),
        },
    }
}

/// The `version` of a JSON object: `Some(None)` for an object without one,
/// `None` for text that is no JSON object.
fn version_of(text: &str) -> Option<Option<u32>> {
    #[derive(Deserialize)]
    struct Probe {
        version: Option<u32>,
    }
    serde_json::from_str::<Probe>(text).ok().map(|p| p.version)
}

fn wrong_version<R: Record>(row: &str, found: Option<u32>) -> Error {
    let why = match found {
        Some(version) => format!(
            "its record is of version {version}, and this release of hookshot reads version {}",
            R::VERSION
        ),
        None => format!(
            "its record has no version: it was written before schema version {}, \
             and PostgresStore::migrate converts such rows",
            R::VERSION
        ),
    };
    bad_row(R::TABLE, row, why)
}

/// A row that does not decode is a fault of the store's contents, not of
/// the caller; the error names it so that it can be found and mended.
fn bad_row(table: &str, row: &str, why: impl std::fmt::Display) -> Error {
    Error::Backend {
        message: format!("row {row} of table {table} is unreadable: {why}"),
        transient: false,
        source: None,
    }
}

/// A decoding error in words, with every quoted string of the document
/// blanked out: serde quotes the value it choked on, which may be a secret
/// or a customer's header.
fn redacted(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    let (mut quoted, mut escaped) = (false, false);
    for c in text.chars() {
        if !quoted {
            out.push(c);
            quoted = c == '"';
        } else if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            out.push_str("…\"");
            quoted = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::signing::SigningSecret;

    const ID: &str = "ep_01hwt245a07xmyxfcg1ma19t6d";

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_unix_millis(millis)
    }

    fn endpoint() -> StoredEndpoint {
        StoredEndpoint {
            endpoint: Endpoint {
                id: ID.parse().unwrap(),
                tenant: TenantId::new("shop").unwrap(),
                name: "Rich".into(),
                description: "All the fields".into(),
                url: "https://shop.example/hooks".into(),
                event_types: Some(["order.*".to_owned()].into()),
                status: EndpointStatus::Disabled {
                    reason: "by hand".into(),
                    since: at(3),
                },
                timeout: Duration::from_millis(5500),
                rate_limit: Some(20),
                headers: [("x-team".to_owned(), "billing".to_owned())].into(),
                metadata: [("plan".to_owned(), "pro".to_owned())].into(),
                has_signing_secret: true,
                created_at: at(1),
                updated_at: at(2),
                last_triggered_at: Some(at(4)),
            },
            secrets: EndpointSecrets {
                current: SigningSecret::from_bytes(vec![1; 32]).unwrap(),
                retired: vec![RetiredSecret {
                    secret: SigningSecret::from_bytes(vec![2; 32]).unwrap(),
                    expires_at: at(5),
                }],
            },
            deleted_at: Some(at(6)),
            failing_since: Some(at(7)),
        }
    }

    #[test]
    fn every_field_survives_the_round_trip() {
        let stored = endpoint();
        let json = endpoint_to_json(&stored).unwrap();
        assert_eq!(endpoint_from_row(ID, "shop", &json).unwrap(), stored);

        let event_type = EventType::new("order.placed")
            .unwrap()
            .description("placed")
            .example(serde_json::json!({"order": 1}))
            .deprecated(true);
        let json = event_type_to_json(&event_type).unwrap();
        assert_eq!(
            event_type_from_row("order.placed", &json).unwrap(),
            event_type
        );

        let delivery: DeliveryId = "dlv_01hwt25zx0f5nh30ya9ksg5jhf".parse().unwrap();
        for outcome in [
            AttemptOutcome::Response {
                status: 503,
                body: "busy".into(),
                body_truncated: true,
            },
            AttemptOutcome::Error {
                kind: "timeout".into(),
                message: "no answer".into(),
            },
        ] {
            let attempt = Attempt {
                delivery_id: delivery.clone(),
                number: 2,
                trigger: Trigger::Manual,
                started_at: at(8),
                duration: Duration::from_millis(250),
                outcome,
            };
            let json = attempt_to_json(&attempt).unwrap();
            assert_eq!(attempt_from_row(9, &delivery, &json).unwrap(), attempt);
        }
    }

    fn message(e: Error) -> String {
        match e {
            Error::Backend {
                message, transient, ..
            } => {
                assert!(!transient, "{message}");
                message
            }
            other => panic!("not a backend error: {other:?}"),
        }
    }

    #[test]
    fn a_row_of_another_version_says_so_and_names_the_row() {
        let mut json: serde_json::Value =
            serde_json::from_str(&endpoint_to_json(&endpoint()).unwrap()).unwrap();
        json["version"] = 3.into();
        let newer = message(endpoint_from_row(ID, "shop", &json.to_string()).unwrap_err());
        assert!(
            newer.contains(&format!("row {ID} of table endpoints")),
            "{newer}"
        );
        assert!(newer.contains("version 3"), "{newer}");

        let v1 = r#"{"name": "order.placed", "group": "order", "title": "t",
            "description": "", "deprecated": false}"#;
        let older = message(event_type_from_row("order.placed", v1).unwrap_err());
        assert!(
            older.contains("row order.placed of table event_types"),
            "{older}"
        );
        assert!(older.contains("no version"), "{older}");
        assert!(older.contains("migrate"), "{older}");
    }

    #[test]
    fn a_malformed_row_is_named_without_quoting_its_contents() {
        let secret = SigningSecret::from_bytes(vec![1; 32]).unwrap().expose();
        let mut json: serde_json::Value =
            serde_json::from_str(&endpoint_to_json(&endpoint()).unwrap()).unwrap();
        // A secret where a number belongs: serde would quote it.
        json["timeout_ms"] = secret.clone().into();
        json["headers"]["x-team"] = 1.into();
        let e = message(endpoint_from_row(ID, "shop", &json.to_string()).unwrap_err());
        assert!(e.contains(&format!("row {ID} of table endpoints")), "{e}");
        assert!(!e.contains(&secret), "{e}");

        json["timeout_ms"] = 5000.into();
        json["headers"]["x-team"] = "billing".into();
        json["secret"] = "whsec_not base64!".into();
        let e = message(endpoint_from_row(ID, "shop", &json.to_string()).unwrap_err());
        assert!(e.contains("current secret is malformed"), "{e}");
        assert!(!e.contains("not base64"), "{e}");

        let delivery: DeliveryId = "dlv_01hwt25zx0f5nh30ya9ksg5jhf".parse().unwrap();
        let e = message(attempt_from_row(17, &delivery, "{not json").unwrap_err());
        assert!(
            e.contains(&format!("row 17 (delivery {delivery}) of table attempts")),
            "{e}"
        );
    }

    #[test]
    fn redaction_blanks_quoted_strings_only() {
        let e = serde_json::from_str::<u32>(r#""whsec_a\"b""#).unwrap_err();
        let text = redacted(&e);
        assert!(!text.contains("whsec"), "{text}");
        assert!(text.contains("expected u32"), "{text}");
    }
}
