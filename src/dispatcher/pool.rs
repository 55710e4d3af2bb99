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

use super::heartbeat::InFlight;
use super::lock;
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
    /// Each worker's lease in flight, by worker index: for the heartbeat
    /// to renew, and to give back should the worker be cut off at
    /// shutdown.
    in_flight: Arc<InFlight>,
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
            in_flight: Arc::new(InFlight::new(workers)),
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
        self.in_flight.track(index, lease);
    }

    /// The workers' leases in flight, for the heartbeat to renew.
    pub(super) fn in_flight(&self) -> Arc<InFlight> {
        Arc::clone(&self.in_flight)
    }

    /// The leases of claims handed out but never started and of attempts
    /// cut off, once every worker (of `worker`, this dispatcher) has ended.
    pub(super) fn unfinished(&self, worker: &str) -> Vec<Lease> {
        let mut leases: Vec<Lease> = lock(&self.handoffs)
            .drain(..)
            .map(|handoff| handoff.claim.lease)
            .collect();
        leases.extend(self.in_flight.take_all(worker));
        leases
    }
}
