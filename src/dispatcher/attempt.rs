//! One attempt at a claimed delivery, start to finish: the endpoint's
//! limits, the signed request, recording the result and what follows it.

use std::time::Duration;

use tokio::time::Instant;

use super::Inner;
use super::outage::Recorded;
use super::outcome::{self, Verdict};
use super::request::request;
use super::unwind;
use crate::clock::Timestamp;
use crate::model::{AttemptOutcome, Delivery, StoredEndpoint};
use crate::observer::{Notice, StoreOperation};
use crate::store::{Claim, Lease};

/// The kind of a failed attempt that panicked, in its record.
pub(super) const PANIC_KIND: &str = "internal";

/// The message of a failed attempt that panicked. What the panic said is
/// left out: it may hold anything, a signature or a payload included.
const PANIC_MESSAGE: &str = "the attempt panicked (in the transport, the store, the observer \
     or hookshot itself); the panic's own message is left out of the record";

/// What became of a claimed delivery, for its worker to decide what next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempted {
    /// A request was made (or meant to be: it may have panicked).
    Made,
    /// Nothing was sent: the endpoint was busy, rate limited, gone, or
    /// could not be read. The store calls this took may all have returned
    /// at once.
    PutOff,
}

impl Inner {
    /// One attempt at a claimed delivery, start to finish.
    ///
    /// A panic anywhere in it, whatever its cause, is a failed attempt: it
    /// is recorded (kind `internal`) and retried on schedule, and the
    /// worker goes on.
    pub(super) async fn attempt(&self, claim: &Claim) -> Attempted {
        let mut began = None;
        let attempted = unwind::catch(self.try_attempt(claim, &mut began)).await;
        if let Ok(attempted) = attempted {
            return attempted;
        }
        // Should even this panic, the delivery is left to its lease.
        let _ = unwind::catch(self.record_panic(claim, began)).await;
        Attempted::Made
    }

    /// [`Inner::attempt`], setting `began` once the request is about to go.
    async fn try_attempt(
        &self,
        claim: &Claim,
        began: &mut Option<(Timestamp, Instant)>,
    ) -> Attempted {
        let Claim {
            delivery,
            event,
            lease,
        } = claim;
        let stored = match self
            .store
            .shared_endpoint(&delivery.tenant, &delivery.endpoint_id)
            .await
        {
            Ok(stored) => stored,
            // Leave the lease to run out: the delivery is tried again then.
            Err(error) => {
                let id = Some(&delivery.id);
                self.store_failed(StoreOperation::ReadEndpoint, id, &error)
                    .await;
                return Attempted::PutOff;
            }
        };
        let Some(stored) = stored.filter(|s| s.endpoint.is_active()) else {
            self.end_for_inactive_endpoint(delivery, lease).await;
            return Attempted::PutOff;
        };
        if let Some(per_second) = stored.endpoint.rate_limit {
            let now = self.clock.now();
            if let Err(wait) = self
                .rate_limits
                .take(&delivery.endpoint_id, per_second, now)
            {
                self.release(lease, now.saturating_add(wait)).await;
                return Attempted::PutOff;
            }
        }
        let Some(_endpoint_slot) = self.endpoint_slots.take(&delivery.endpoint_id) else {
            // Put off by a delay rather than given back due now, or this
            // worker's next claim would hand it straight back.
            let later = self
                .clock
                .now()
                .saturating_add(self.config.endpoint_busy_delay);
            self.release(lease, later).await;
            return Attempted::PutOff;
        };
        let started_at = self.clock.now();
        let started = Instant::now();
        *began = Some((started_at, started));
        let result = match request(&stored, event, started_at) {
            Ok(request) => self.transport.send(request).await,
            Err(e) => Err(e),
        };
        let duration = started.elapsed();
        let now = self.clock.now();
        let random = self.random.next_unit();
        // Kept whole, not consumed, so the records can be made again should
        // the store fail to take them the first time.
        let settle = || {
            let recorded = outcome::record(&result, now);
            outcome::settle(
                delivery,
                recorded,
                started_at,
                duration,
                now,
                &self.rules,
                random,
            )
        };
        let (settled, attempt, verdict) = settle();
        let success = attempt.outcome.is_success();
        let again = || {
            let (settled, attempt, _) = settle();
            (settled, attempt)
        };
        match self.record(lease, (settled, attempt), again).await {
            Recorded::Yes => {}
            // Another worker took the delivery over, or the store failed
            // (and that was reported): either way this result is not the
            // delivery's and the lease (if still ours) runs out.
            Recorded::TakenOver | Recorded::GaveUp => return Attempted::Made,
        }
        self.after_attempt(&stored, delivery, verdict, success, started_at)
            .await;
        Attempted::Made
    }

    /// Records a failed attempt for a claim whose attempt panicked: begun
    /// at `began` if it got as far as the request, or else now.
    ///
    /// The panic may have come after the attempt was recorded (telling the
    /// observer, say); then the lease is gone and the store refuses this
    /// record, so nothing is recorded twice.
    async fn record_panic(&self, claim: &Claim, began: Option<(Timestamp, Instant)>) {
        let now = self.clock.now();
        let (started_at, duration) = began.map_or((now, Duration::ZERO), |(at, started)| {
            (at, started.elapsed())
        });
        let random = self.random.next_unit();
        let settle = || {
            let outcome = AttemptOutcome::Error {
                kind: PANIC_KIND.to_owned(),
                message: PANIC_MESSAGE.to_owned(),
            };
            outcome::settle(
                &claim.delivery,
                (outcome, None),
                started_at,
                duration,
                now,
                &self.rules,
                random,
            )
        };
        let (settled, attempt, verdict) = settle();
        let again = || {
            let (settled, attempt, _) = settle();
            (settled, attempt)
        };
        let recorded = self.record(&claim.lease, (settled, attempt), again).await;
        // Not the endpoint's failure: its health is left alone.
        if recorded == Recorded::Yes && verdict == Verdict::Exhausted {
            self.exhausted(&claim.delivery).await;
        }
    }

    /// The follow-up a recorded attempt at `delivery` (as claimed: only its
    /// ids are read) calls for: endpoint health and notices.
    async fn after_attempt(
        &self,
        stored: &StoredEndpoint,
        delivery: &Delivery,
        verdict: Verdict,
        success: bool,
        started_at: Timestamp,
    ) {
        let endpoint = &stored.endpoint;
        match verdict {
            Verdict::Gone => {
                self.disable(
                    endpoint.tenant.clone(),
                    endpoint.id.clone(),
                    "the endpoint answered 410 Gone".into(),
                    started_at,
                    &delivery.id,
                )
                .await;
                return;
            }
            Verdict::Exhausted => self.exhausted(delivery).await,
            Verdict::Delivered | Verdict::Retry => {}
        }
        self.track_health(stored, success, started_at, &delivery.id)
            .await;
    }

    /// Tells the observer `delivery` failed its last scheduled attempt.
    async fn exhausted(&self, delivery: &Delivery) {
        self.notify(Notice::DeliveryExhausted {
            tenant: delivery.tenant.clone(),
            delivery_id: delivery.id.clone(),
            event_id: delivery.event_id.clone(),
            endpoint_id: delivery.endpoint_id.clone(),
        })
        .await;
    }

    /// A claimed delivery whose endpoint was deleted or disabled since it
    /// was queued: it ends, with every other one queued for that endpoint.
    async fn end_for_inactive_endpoint(&self, delivery: &Delivery, lease: &Lease) {
        self.release(lease, self.clock.now()).await;
        let reason = "the endpoint was deleted or disabled";
        let ended = self
            .store
            .fail_queued(&delivery.tenant, &delivery.endpoint_id, reason)
            .await;
        if let Err(error) = ended {
            self.store_failed(StoreOperation::EndQueue, Some(&delivery.id), &error)
                .await;
        }
    }
}
