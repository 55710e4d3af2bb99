//! Store failures: telling the observer about them, backing off while
//! claims keep failing, and the retries of an attempt's record.
//!
//! A failed store call is never an error anyone returns to: the dispatcher
//! runs on its own. Unreported, a database that is down gives a dispatcher
//! that silently idles, and a lost attempt record a silent duplicate one
//! lease later, so every failure reaches the [`Observer`](crate::observer)
//! as a [`Notice::StoreFailed`]: claims once per outage (their loop retries
//! them, with a [`Notice::StoreRecovered`] when they succeed again), attempt
//! records when their retries give up, anything else at once.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Inner;
use super::unwind::{self, Panicked};
use crate::error::Error;
use crate::id::DeliveryId;
use crate::model::{Attempt, Delivery};
use crate::observer::{Notice, StoreOperation};
use crate::store::Lease;

/// The shortest and longest waits between claims while the store keeps
/// failing, unless the poll interval is longer.
const CLAIM_BACKOFF_MIN: Duration = Duration::from_millis(100);
const CLAIM_BACKOFF_CAP: Duration = Duration::from_secs(30);

/// How often an attempt's record is tried in all, and the wait before the
/// first retry (doubling after each). Short: the attempt's lease still
/// holds, and the worker and the endpoint's slot wait meanwhile.
const RECORD_TRIES: u32 = 4;
const RECORD_RETRY_WAIT: Duration = Duration::from_millis(100);

/// What came of recording an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Recorded {
    /// Stored.
    Yes,
    /// The lease is no longer this dispatcher's: another worker took the
    /// delivery over, or the attempt was already recorded.
    TakenOver,
    /// The store kept failing; the lease will run out and the delivery be
    /// attempted again.
    GaveUp,
}

impl Inner {
    /// Tells the observer, shrugging off a panic in it: an observer that
    /// panics has nobody to be reported to, and the dispatcher goes on.
    pub(super) async fn notify(&self, notice: Notice) {
        let _ = unwind::catch(self.observer.notice(notice)).await;
    }

    /// A store call, a panic in it taken for a failure like any other.
    pub(super) async fn store_call<T>(
        &self,
        call: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        unwind::catch(call)
            .await
            .unwrap_or_else(|Panicked| Err(Error::backend("the store panicked", false, "a panic")))
    }

    /// Reports a failed store call.
    pub(super) async fn store_failed(
        &self,
        operation: StoreOperation,
        delivery_id: Option<&DeliveryId>,
        error: &Error,
    ) {
        self.notify(Notice::StoreFailed {
            operation,
            delivery_id: delivery_id.cloned(),
            error: error.to_string(),
        })
        .await;
    }

    /// Notes that the store answered a claim (or a look at when the next
    /// delivery is due), reporting the end of an outage and waking the
    /// claiming loop out of its backoff.
    pub(super) async fn claims_answered(&self) {
        // The hot path: one relaxed load while the store is healthy.
        if self.claim_failures.load(Ordering::Relaxed) == 0 {
            return;
        }
        let failures = self.claim_failures.swap(0, Ordering::AcqRel);
        if failures > 0 {
            // The claiming loop may still be backing off, deaf to sends:
            // this ends its wait. (Had the loop made this claim itself, it
            // costs the loop one more look for work.)
            self.wake.notify_one();
            self.notify(Notice::StoreRecovered {
                operation: StoreOperation::Claim,
                failures,
            })
            .await;
        }
    }

    /// Notes that a claim failed, reporting the start of an outage.
    pub(super) async fn claim_failed(&self, error: &Error) {
        if self.claim_failures.fetch_add(1, Ordering::AcqRel) == 0 {
            self.store_failed(StoreOperation::Claim, None, error).await;
        }
    }

    /// How long the claiming loop waits before claiming again while claims
    /// fail: the poll interval (at least 100 ms) at first, doubling with
    /// each failure in a row up to 30 s (or the poll interval, if longer).
    /// `None` while claims succeed.
    pub(super) fn claim_backoff(&self) -> Option<Duration> {
        let failures = self.claim_failures.load(Ordering::Relaxed);
        let doublings = u32::try_from(failures.checked_sub(1)?.min(16)).unwrap_or(16);
        let poll = self.config.poll_interval;
        let first = poll.max(CLAIM_BACKOFF_MIN);
        let cap = CLAIM_BACKOFF_CAP.max(poll);
        Some(first.saturating_mul(1 << doublings).min(cap))
    }

    /// Gives a claimed delivery back, due again at `at`; a failure is
    /// reported, and the lease then runs out instead.
    pub(super) async fn release(&self, lease: &Lease, at: crate::clock::Timestamp) {
        if let Err(error) = self.store_call(self.store.release(lease, at)).await {
            let id = Some(&lease.delivery_id);
            self.store_failed(StoreOperation::Release, id, &error).await;
        }
    }

    /// Stores an attempt and the delivery's new state, `first`; should the
    /// store fail, tries again a few times with the records `again` makes
    /// (the store takes them by value, and copying them for every attempt
    /// in case of a failure would cost an allocation each), then reports
    /// the failure and gives up.
    pub(super) async fn record(
        &self,
        lease: &Lease,
        first: (Delivery, Attempt),
        again: impl Fn() -> (Delivery, Attempt),
    ) -> Recorded {
        let mut records = Some(first);
        let mut wait = RECORD_RETRY_WAIT;
        let mut tries = 0;
        loop {
            let (delivery, attempt) = records.take().unwrap_or_else(&again);
            let call = self.store.finish_attempt(lease, attempt, delivery);
            let error = match self.store_call(call).await {
                Ok(true) => return Recorded::Yes,
                Ok(false) => return Recorded::TakenOver,
                Err(error) => error,
            };
            tries += 1;
            if tries >= RECORD_TRIES {
                let id = Some(&lease.delivery_id);
                self.store_failed(StoreOperation::RecordAttempt, id, &error)
                    .await;
                return Recorded::GaveUp;
            }
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
    }
}
