//! A connectivity check: one test event sent to one endpoint at once,
//! outside the queue and the history.

use std::time::Duration;

use super::request::request;
use super::{Dispatcher, Inner, outcome};
use crate::error::Error;
use crate::id::{EndpointId, EventId};
use crate::model::{AttemptOutcome, TenantId};

/// The event type of [`Dispatcher::ping`]'s test event.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// The data of [`Dispatcher::ping`]'s test event.
const TEST_EVENT_DATA: &str =
    r#"{"message":"A test event from hookshot: this endpoint is reachable."}"#;

/// The outcome of [`Dispatcher::ping`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingOutcome {
    /// The `webhook-id` the test event carried.
    pub event_id: EventId,
    /// The response status, if the endpoint answered.
    pub status: Option<u16>,
    /// How long the attempt took.
    pub latency: Duration,
    /// What went wrong, if the endpoint did not answer.
    pub error: Option<String>,
}

impl PingOutcome {
    /// Whether the endpoint answered 2xx.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

impl Dispatcher {
    /// Sends a `webhook.test` event to one endpoint at once, bypassing the
    /// queue, and says how it went. Nothing is stored.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the endpoint does not exist for `tenant`.
    pub async fn ping(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
    ) -> Result<PingOutcome, Error> {
        self.inner.ping(tenant, endpoint_id).await
    }
}

impl Inner {
    async fn ping(
        &self,
        tenant: &TenantId,
        endpoint_id: &EndpointId,
    ) -> Result<PingOutcome, Error> {
        let stored = self
            .store
            .endpoint(tenant, endpoint_id)
            .await?
            .ok_or_else(|| Error::not_found("endpoint", endpoint_id.as_str()))?;
        let now = self.clock.now();
        let event =
            self.webhooks
                .new_event(tenant, TEST_EVENT_TYPE, TEST_EVENT_DATA.to_owned(), now);
        let started = tokio::time::Instant::now();
        let result = match request(&stored, &event, now) {
            Ok(request) => self.transport.send(request).await,
            Err(e) => Err(e),
        };
        let latency = started.elapsed();
        let (outcome, _) = outcome::record(&result, now);
        let (status, error) = match outcome {
            AttemptOutcome::Response { status, .. } => (Some(status), None),
            AttemptOutcome::Error { message, .. } => (None, Some(message)),
        };
        Ok(PingOutcome {
            event_id: event.id,
            status,
            latency,
            error,
        })
    }
}
