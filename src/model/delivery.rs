use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::TenantId;
use crate::clock::Timestamp;
use crate::id::{DeliveryId, EndpointId, EventId};

/// A message the application sent once: one event type and one body,
/// delivered to every endpoint subscribed at the time it was sent.
///
/// Its id is the `webhook-id` every delivery of it carries, so receivers
/// de-duplicate on it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The event's id.
    pub id: EventId,
    /// The tenant that sent it.
    pub tenant: TenantId,
    /// Shared with its deliveries; read it with [`Event::event_type`].
    pub(crate) event_type: Arc<str>,
    /// Stored once and shared by all deliveries; read it with
    /// [`Event::body`].
    pub(crate) body: Arc<str>,
    /// When it was sent.
    pub created_at: Timestamp,
}

impl Event {
    /// The event `id` of `tenant`, of `event_type`, carrying `body` (the
    /// exact bytes every delivery POSTs), sent at `created_at`.
    /// [`crate::Webhooks::send`] makes these; build one by hand only to
    /// write to a store directly.
    pub fn new(
        id: EventId,
        tenant: TenantId,
        event_type: &str,
        body: &str,
        created_at: Timestamp,
    ) -> Self {
        Self {
            id,
            tenant,
            event_type: event_type.into(),
            body: body.into(),
            created_at,
        }
    }

    /// Its event type, from the catalog.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The exact body POSTed to every endpoint (JSON).
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Waiting for its first attempt, or for a manual retry.
    Pending,
    /// An attempt is in flight.
    Delivering,
    /// An attempt failed; another is scheduled.
    Retrying,
    /// The endpoint answered 2xx.
    Delivered,
    /// No attempt is left: the schedule is exhausted, or the endpoint was
    /// disabled, deleted or answered 410 Gone. See `failure_reason`.
    Failed,
}

impl DeliveryStatus {
    /// Whether the delivery is waiting for an attempt.
    pub fn is_queued(self) -> bool {
        matches!(self, Self::Pending | Self::Retrying)
    }

    /// Whether no further attempt will be made unless retried by hand.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Failed)
    }
}

/// What set off an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Trigger {
    /// The first attempt or the retry schedule.
    Scheduled,
    /// A retry asked for by hand.
    Manual,
}

/// One event's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Delivery {
    /// The delivery's id.
    pub id: DeliveryId,
    /// The tenant that owns it.
    pub tenant: TenantId,
    /// The event delivered.
    pub event_id: EventId,
    /// Where to.
    pub endpoint_id: EndpointId,
    /// Shared with the event; read it with [`Delivery::event_type`].
    pub(crate) event_type: Arc<str>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far, manual ones included.
    pub attempts: u32,
    /// Scheduled attempts made so far; the retry schedule counts these.
    pub scheduled_attempts: u32,
    /// What the next attempt is set off by.
    pub next_trigger: Trigger,
    /// When it was created (when the event was sent).
    pub created_at: Timestamp,
    /// When the last attempt started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<Timestamp>,
    /// When the next attempt is due, while one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    /// The status code of the last response, if the last attempt got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_response_status: Option<u16>,
    /// Why a failed delivery ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl Delivery {
    /// A delivery of `event` to `endpoint_id`, due at once.
    pub fn new(id: DeliveryId, event: &Event, endpoint_id: EndpointId) -> Self {
        Self {
            id,
            tenant: event.tenant.clone(),
            event_id: event.id.clone(),
            endpoint_id,
            event_type: event.event_type.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            scheduled_attempts: 0,
            next_trigger: Trigger::Scheduled,
            created_at: event.created_at,
            last_attempt_at: None,
            next_attempt_at: Some(event.created_at),
            last_response_status: None,
            failure_reason: None,
        }
    }

    /// The event's type.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// Queues the delivery for an attempt by hand at `now`, whatever its
    /// schedule. A delivered one is sent again.
    pub fn queue_manual(&mut self, now: Timestamp) {
        self.status = DeliveryStatus::Pending;
        self.next_trigger = Trigger::Manual;
        self.next_attempt_at = Some(now);
        self.failure_reason = None;
    }

    /// Ends the delivery without another attempt.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.status = DeliveryStatus::Failed;
        self.next_attempt_at = None;
        self.failure_reason = Some(reason.into());
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The endpoint answered (any status: 2xx is a success, the rest fail).
    Response {
        /// The status code.
        status: u16,
        /// The start of the response body, lossily decoded as UTF-8. A store
        /// that cannot hold a NUL character (PostgreSQL) keeps each as
        /// U+FFFD, here and in an error's `kind` and `message`.
        body: String,
        /// Whether the body was cut at the cap.
        body_truncated: bool,
    },
    /// No answer: a timeout, a refused connection, a blocked destination…
    Error {
        /// A stable snake_case name: `timeout`, `dns`, `connect`, `tls`,
        /// `blocked` (the SSRF guard), `invalid_request`, `other`, or
        /// `internal` when the attempt panicked inside hookshot or a
        /// transport of yours.
        kind: String,
        /// What happened, in words.
        message: String,
    },
}

impl AttemptOutcome {
    /// Whether the attempt delivered the event (a 2xx answer).
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Response { status, .. } if (200..300).contains(status))
    }

    /// The response status, if there was a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Response { status, .. } => Some(*status),
            Self::Error { .. } => None,
        }
    }
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attempt {
    /// The delivery attempted.
    pub delivery_id: DeliveryId,
    /// 1 for the first attempt.
    pub number: u32,
    /// What set it off.
    pub trigger: Trigger,
    /// When it started.
    pub started_at: Timestamp,
    /// How long it took.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
}

impl Attempt {
    /// Attempt `number` at `delivery_id`, set off by `trigger`, started at
    /// `started_at` and ended after `duration` with `outcome`.
    pub fn new(
        delivery_id: DeliveryId,
        number: u32,
        trigger: Trigger,
        started_at: Timestamp,
        duration: Duration,
        outcome: AttemptOutcome,
    ) -> Self {
        Self {
            delivery_id,
            number,
            trigger,
            started_at,
            duration,
            outcome,
        }
    }
}

mod millis {
    use super::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// A delivery with its attempts, oldest first, and its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DeliveryDetail {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: Delivery,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<Attempt>,
    /// The event, with the body that was (or will be) delivered.
    pub event: Event,
}

/// Narrows a delivery listing. Every field that is set must match.
///
/// ```
/// use hookshot::model::{DeliveryFilter, DeliveryStatus};
///
/// let unfinished = DeliveryFilter::new()
///     .status(DeliveryStatus::Pending)
///     .status(DeliveryStatus::Retrying)
///     .event_type("invoice.paid");
/// assert_eq!(unfinished.statuses.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct DeliveryFilter {
    /// Only deliveries with one of these statuses; any status when empty.
    #[serde(default)]
    pub statuses: Vec<DeliveryStatus>,
    /// Only deliveries to this endpoint.
    #[serde(default)]
    pub endpoint_id: Option<EndpointId>,
    /// Only deliveries of this event type: an event-type name, or the
    /// listing is refused.
    #[serde(default)]
    pub event_type: Option<String>,
    /// Only deliveries created at or after this time.
    #[serde(default)]
    pub created_from: Option<Timestamp>,
    /// Only deliveries created before this time.
    #[serde(default)]
    pub created_to: Option<Timestamp>,
}

impl DeliveryFilter {
    /// A filter that lets every delivery through.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also lets deliveries with `status` through; once any status is
    /// given, only the statuses given pass.
    #[must_use]
    pub fn status(mut self, status: DeliveryStatus) -> Self {
        if !self.statuses.contains(&status) {
            self.statuses.push(status);
        }
        self
    }

    /// [`DeliveryFilter::status`] for each of `statuses`.
    #[must_use]
    pub fn statuses(self, statuses: impl IntoIterator<Item = DeliveryStatus>) -> Self {
        statuses.into_iter().fold(self, Self::status)
    }

    /// Only deliveries to `endpoint`.
    #[must_use]
    pub fn endpoint(mut self, endpoint: EndpointId) -> Self {
        self.endpoint_id = Some(endpoint);
        self
    }

    /// Only deliveries of `event_type`.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only deliveries created at or after `from`.
    #[must_use]
    pub fn created_from(mut self, from: Timestamp) -> Self {
        self.created_from = Some(from);
        self
    }

    /// Only deliveries created before `to`.
    #[must_use]
    pub fn created_to(mut self, to: Timestamp) -> Self {
        self.created_to = Some(to);
        self
    }

    /// Whether `delivery` passes.
    pub fn matches(&self, delivery: &Delivery) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&delivery.status))
            && self
                .endpoint_id
                .as_ref()
                .is_none_or(|e| *e == delivery.endpoint_id)
            && self
                .event_type
                .as_deref()
                .is_none_or(|t| *t == *delivery.event_type)
            && self.created_from.is_none_or(|t| delivery.created_at >= t)
            && self.created_to.is_none_or(|t| delivery.created_at < t)
    }
}
