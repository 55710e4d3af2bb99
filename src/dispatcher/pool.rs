//! The running dispatcher's workers and how claimed deliveries reach them.
//!
//! A fixed set of long-lived workers, rather than a task per attempt: a
//! task per attempt allocates and moves the whole attempt's state each
//! time. A worker that finishes an attempt claims its next delivery itself
//! while any is due, so under load deliveries go from the store to a worker
//! without passing through the claiming loop. Only an idle worker waits
//! for the loop to hand it a claim.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::lock;
use crate::clock::Timestamp;
use crate::id::DeliveryId;
use crate::store::{Claim, Lease};

/// What the claiming loop and the workers of one running dispatcher share.
#[derive(Debug)]
pub(super) struct Pool {
    /// One permit per worker that is not idle: the global cap on attempts
    /// in flight. The loop takes one for each claim it hands out; the
    /// worker gives it back when it runs out of due work.
    busy: Arc<Semaphore>,
    handoffs: Mutex<VecDeque<Handoff>>,
    handed: Notify,
    stopping: AtomicBool,
    /// Each worker's delivery in flight and when its lease ends, to give
    /// back should the worker be cut off at shutdown. Not the whole lease:
    /// its worker is always this dispatcher, and copying its name for every
    /// attempt would cost an allocation.
    current: Vec<Mutex<Option<(DeliveryId, Timestamp)>>>,
}

/// A claim handed to an idle worker, with the permit that makes it busy.
#[derive(Debug)]
pub(super) struct Handoff {
    pub(super) claim: Claim,
    pub(super) busy: OwnedSemaphorePermit,
}

impl Pool {
    pub(super) fn new(workers: usize) -> Self {
        Self {
            busy: Arc::new(Semaphore::new(workers)),
            handoffs: Mutex::default(),
            handed: Notify::new(),
            stopping: AtomicBool::new(false),
            current: (0..workers).map(|_| Mutex::default()).collect(),
        }
    }

    /// How many workers are idle and could take a claim now.
    pub(super) fn idle(&self) -> usize {
        self.busy.available_permits()
    }

    /// Waits until at least one worker is idle.
    pub(super) async fn until_idle(&self) {
        // The semaphore is never closed; the permit goes straight back.
        let _ = self.busy.acquire().await;
    }

    /// Gives `claim` to an idle worker; if none is idle, returns its lease
    /// to give back.
    pub(super) fn hand(&self, claim: Claim) -> Result<(), Lease> {
        let Ok(busy) = Arc::clone(&self.busy).try_acquire_owned() else {
            return Err(claim.lease);
        };
        lock(&self.handoffs).push_back(Handoff { claim, busy });
        self.handed.notify_one();
        Ok(())
    }

    /// The next claim for an idle worker; `None` once the pool stops.
    pub(super) async fn next(&self) -> Option<Handoff> {
        loop {
            let handed = self.handed.notified();
            tokio::pin!(handed);
            // Registered before looking, so a hand-off made after the look
            // wakes this worker.
            handed.as_mut().enable();
            if self.is_stopping() {
                return None;
            }
            if let Some(handoff) = lock(&self.handoffs).pop_front() {
                return Some(handoff);
            }
            handed.await;
        }
    }

    /// Whether workers should stop taking new work.
    pub(super) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Tells every worker to finish its attempt in flight and stop.
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.handed.notify_waiters();
    }

    /// Notes the lease worker `index` is attempting under (`None` when
    /// nothing).
    pub(super) fn track(&self, index: usize, lease: Option<&Lease>) {
        if let Some(slot) = self.current.get(index) {
            *lock(slot) = lease.map(|l| (l.delivery_id.clone(), l.expires_at));
        }
    }

    /// The leases of claims handed out but never started and of attempts
    /// cut off, once every worker (of `worker`, this dispatcher) has ended.
    pub(super) fn unfinished(&self, worker: &str) -> Vec<Lease> {
        let mut leases: Vec<Lease> = lock(&self.handoffs)
            .drain(..)
            .map(|handoff| handoff.claim.lease)
            .collect();
        let cut_off = self.current.iter().filter_map(|slot| lock(slot).take());
        leases.extend(cut_off.map(|(delivery_id, expires_at)| Lease {
            delivery_id,
            worker: worker.to_owned(),
            expires_at,
        }));
        leases
    }
}
