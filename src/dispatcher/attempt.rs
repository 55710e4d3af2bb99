//! One attempt at a claimed delivery, start to finish: the endpoint's
//! limits, the signed request, recording the result and what follows it.

use super::Inner;
use super::outcome::{self, Verdict};
use super::request::request;
use crate::clock::Timestamp;
use crate::model::{Delivery, StoredEndpoint};
use crate::observer::Notice;
use crate::store::{Claim, Lease};

impl Inner {
    /// One attempt at a claimed delivery, start to finish.
    pub(super) async fn attempt(&self, claim: Claim) {
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
            Err(_) => return,
        };
        let Some(stored) = stored.filter(|s| s.endpoint.is_active()) else {
            self.end_for_inactive_endpoint(&delivery, &lease).await;
            return;
        };
        if let Some(per_second) = stored.endpoint.rate_limit {
            let now = self.clock.now();
            if let Err(wait) = self
                .rate_limits
                .take(&delivery.endpoint_id, per_second, now)
            {
                let _ = self.store.release(&lease, now.saturating_add(wait)).await;
                return;
            }
        }
        let Some(_endpoint_slot) = self.endpoint_slots.take(&delivery.endpoint_id) else {
            let later = self
                .clock
                .now()
                .saturating_add(self.config.endpoint_busy_delay);
            let _ = self.store.release(&lease, later).await;
            return;
        };
        let started_at = self.clock.now();
        let started = tokio::time::Instant::now();
        let result = match request(&stored, &event, started_at) {
            Ok(request) => self.transport.send(request).await,
            Err(e) => Err(e),
        };
        let duration = started.elapsed();
        let now = self.clock.now();
        let (settled, attempt, verdict) = outcome::settle(
            &delivery,
            outcome::record(result, now),
            started_at,
            duration,
            now,
            &self.rules,
            self.random.next_unit(),
        );
        let success = attempt.outcome.is_success();
        match self.store.finish_attempt(&lease, attempt, settled).await {
            Ok(true) => {}
            // Another worker took the delivery over, or the store failed:
            // either way this result is not the delivery's and the lease
            // (if still ours) runs out.
            Ok(false) | Err(_) => return,
        }
        self.after_attempt(&stored, &delivery, verdict, success, started_at)
            .await;
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
                )
                .await;
                return;
            }
            Verdict::Exhausted => {
                self.observer
                    .notice(Notice::DeliveryExhausted {
                        tenant: delivery.tenant.clone(),
                        delivery_id: delivery.id.clone(),
                        event_id: delivery.event_id.clone(),
                        endpoint_id: delivery.endpoint_id.clone(),
                    })
                    .await;
            }
            Verdict::Delivered | Verdict::Retry => {}
        }
        self.track_health(stored, success, started_at).await;
    }

    /// A claimed delivery whose endpoint was deleted or disabled since it
    /// was queued: it ends, with every other one queued for that endpoint.
    async fn end_for_inactive_endpoint(&self, delivery: &Delivery, lease: &Lease) {
        let _ = self.store.release(lease, self.clock.now()).await;
        let reason = "the endpoint was deleted or disabled";
        let _ = self
            .store
            .fail_queued(&delivery.tenant, &delivery.endpoint_id, reason)
            .await;
    }
}
