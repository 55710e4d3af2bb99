//! The HTTP request of one attempt: the endpoint's own headers, the
//! Standard Webhooks signature headers and the event's body.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::clock::Timestamp;
use crate::model::{EndpointLimits, Event, StoredEndpoint};
use crate::signature;
use crate::transport::{TransportError, WebhookRequest};

/// The HTTP request for one attempt: the event's body, signed now with every
/// secret the endpoint currently signs with.
pub(super) fn request(
    stored: &StoredEndpoint,
    event: &Event,
    now: Timestamp,
) -> Result<WebhookRequest, TransportError> {
    let endpoint = &stored.endpoint;
    let invalid = |what: &str| TransportError::InvalidRequest(what.to_owned());
    // Creating and updating endpoints keeps them to a few dozen headers, but
    // the endpoint comes from the store, and a `HeaderMap` panics past
    // 32,768 entries.
    if endpoint.headers.len() > EndpointLimits::HEADERS {
        return Err(invalid("more custom headers than an endpoint may have"));
    }
    // Room for the transport's own headers (user agent, accept) too.
    let mut headers = HeaderMap::with_capacity(endpoint.headers.len() + 6);
    for (name, value) in &endpoint.headers {
        let name =
            HeaderName::try_from(name.as_str()).map_err(|_| invalid("a custom header name"))?;
        let value =
            HeaderValue::try_from(value.as_str()).map_err(|_| invalid("a custom header value"))?;
        headers.insert(name, value);
    }
    let [id, timestamp, signature] = webhook_headers(stored, event, now);
    headers.insert(HeaderName::from_static(signature::WEBHOOK_ID), id);
    headers.insert(
        HeaderName::from_static(signature::WEBHOOK_TIMESTAMP),
        timestamp,
    );
    headers.insert(
        HeaderName::from_static(signature::WEBHOOK_SIGNATURE),
        signature,
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(WebhookRequest {
        url: endpoint.url.clone(),
        headers,
        body: Bytes::from_owner(SharedBody(Arc::clone(&event.body))),
        timeout: endpoint.timeout,
    })
}

/// The `webhook-id`, `webhook-timestamp` and `webhook-signature` values,
/// cut from one buffer: the HTTP client copies a request's headers, and
/// values that share a buffer are copied without allocating.
fn webhook_headers(stored: &StoredEndpoint, event: &Event, now: Timestamp) -> [HeaderValue; 3] {
    /// `v1,`, 44 characters of base64 and a separating space.
    const SIGNATURE_LEN: usize = 48;
    let timestamp = now.unix_secs();
    let mut digits = [0; 20];
    let timestamp_text = crate::signing::decimal_str(timestamp, &mut digits);
    let id = event.id.as_str();
    let mut text = String::with_capacity(id.len() + timestamp_text.len() + SIGNATURE_LEN);
    text.push_str(id);
    text.push_str(timestamp_text);
    let signatures_start = text.len();
    for secret in stored.secrets.signing_at(now) {
        if text.len() > signatures_start {
            text.push(' ');
        }
        secret.sign_into(id, timestamp, event.body.as_bytes(), &mut text);
    }
    let mut values = Bytes::from(text);
    let id = values.split_to(id.len());
    let timestamp = values.split_to(timestamp_text.len());
    [
        header_value(id),
        header_value(timestamp),
        header_value(values),
    ]
}

/// A header value of text this crate made: an event id (only ever generated
/// or parsed as prefixed base32), decimal digits, or `v1,` signatures in
/// base64 separated by spaces.
#[allow(clippy::expect_used)]
fn header_value(text: Bytes) -> HeaderValue {
    HeaderValue::from_maybe_shared(text)
        .expect("ids, digits and base64 signatures are visible ASCII")
}

/// Lets the event's shared body go out without copying it per attempt.
struct SharedBody(Arc<str>);

impl AsRef<[u8]> for SharedBody {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningSecret;
    use crate::model::{Endpoint, EndpointSecrets, TenantId};

    fn endpoint_with_headers(count: usize) -> StoredEndpoint {
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let tenant = TenantId::new("acme").unwrap();
        let id = "ep_00000000000000000000000001".parse().unwrap();
        let mut endpoint = Endpoint::new(id, tenant, "https://receiver.example/hooks", now);
        endpoint.headers = (0..count)
            .map(|n| (format!("x-custom-{n}"), "1".to_owned()))
            .collect();
        StoredEndpoint::new(
            endpoint,
            EndpointSecrets::new(SigningSecret::generate().unwrap()),
        )
    }

    fn event() -> Event {
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let tenant = TenantId::new("acme").unwrap();
        let id = "msg_00000000000000000000000001".parse().unwrap();
        Event::new(id, tenant, "invoice.paid", "{}", now)
    }

    #[test]
    fn custom_headers_go_out_with_the_signature() {
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let request = request(&endpoint_with_headers(3), &event(), now).unwrap();
        assert_eq!(request.headers["x-custom-2"], "1");
        assert!(request.headers.contains_key(signature::WEBHOOK_SIGNATURE));
    }

    #[test]
    fn more_headers_than_an_endpoint_may_have_is_an_invalid_request() {
        // Validation keeps endpoints to a few dozen headers; a store can
        // still hand back more, and a `HeaderMap` panics past 32,768.
        let now = Timestamp::from_unix_millis(1_700_000_000_000);
        let stored = endpoint_with_headers(40_000);
        let refused = request(&stored, &event(), now);
        assert!(
            matches!(refused, Err(TransportError::InvalidRequest(_))),
            "{refused:?}"
        );
    }
}
