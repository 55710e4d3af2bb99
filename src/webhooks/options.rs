//! The optional arguments of [`Webhooks`](crate::Webhooks) calls, one
//! struct per call, so that an option added later is a new setter rather
//! than a new parameter every caller has to pass.

/// Options for [`Webhooks::send_with`](crate::Webhooks::send_with) and
/// [`Webhooks::prepare_send`](crate::Webhooks::prepare_send); the default
/// is what [`Webhooks::send`](crate::Webhooks::send) uses.
///
/// ```
/// use hookshot::SendOptions;
///
/// let options = SendOptions::new().idempotency_key("order-42-paid");
/// assert_eq!(options.idempotency_key.as_deref(), Some("order-42-paid"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct SendOptions {
    /// Makes the send idempotent: a retry with the same key, event type and
    /// payload within the idempotency window answers as the first did and
    /// queues nothing more; the same key with another event is a
    /// [`Conflict`](crate::Error::Conflict). 1 to 255 printable ASCII
    /// characters, checked when the send runs. `None`, the default, for no
    /// key.
    pub idempotency_key: Option<String>,
}

impl SendOptions {
    /// No options: the same as [`SendOptions::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`SendOptions::idempotency_key`].
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// Options for
/// [`Webhooks::create_endpoint_with`](crate::Webhooks::create_endpoint_with);
/// the default is what
/// [`Webhooks::create_endpoint`](crate::Webhooks::create_endpoint) uses.
///
/// ```
/// use hookshot::CreateOptions;
///
/// let options = CreateOptions::new().idempotency_key("req-7f3a");
/// assert_eq!(options.idempotency_key.as_deref(), Some("req-7f3a"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct CreateOptions {
    /// Makes the create idempotent: a retry of the same request with the
    /// same key within the idempotency window returns the first answer
    /// unchanged (same id, same secret) and creates nothing; the same key
    /// with another request is a [`Conflict`](crate::Error::Conflict). 1 to
    /// 255 printable ASCII characters, checked when the create runs. `None`,
    /// the default, for no key.
    pub idempotency_key: Option<String>,
}

impl CreateOptions {
    /// No options: the same as [`CreateOptions::default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`CreateOptions::idempotency_key`].
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}
