//! Keeping the leases of attempts in flight: one heartbeat per running
//! dispatcher (and per [`Dispatcher::deliver_due`](super::Dispatcher::deliver_due)
//! round) renews them all every third of a lease.
//!
//! A lease only has to outlast the time between two renewals, not the
//! longest attempt, so it can be short, and the deliveries of a process
//! that died are taken over soon after: a lease after its last renewal.
//! One task renewing every lease in one store call, rather than one per
//! attempt, keeps the cost to a call per third of a lease whatever the
//! concurrency.

use std::sync::Mutex;

use tokio::time::{Instant, MissedTickBehavior};

use super::{Inner, lock};
use crate::clock::Timestamp;
use crate::id::DeliveryId;
use crate::observer::{Notice, StoreOperation};
use crate::store::Lease;

/// How many renewals a lease gets before it would run out: it is renewed
/// every `lease / RENEWALS_PER_LEASE`, so a renewal that fails, or reaches
/// the store late, leaves time for the next one.
const RENEWALS_PER_LEASE: u32 = 3;

/// The lease of each attempt in flight, by the worker (or task) making it:
/// what the heartbeat renews, and what a dispatcher cut off at shutdown
/// gives back.
///
/// Not whole leases: their worker is always this dispatcher, and copying
/// its name for every attempt would cost an allocation.
#[derive(Debug)]
pub(super) struct InFlight {
    slots: Vec<Mutex<Option<(DeliveryId, Timestamp)>>>,
}

impl InFlight {
    /// Room for `slots` attempts at once.
    pub(super) fn new(slots: usize) -> Self {
        Self {
            slots: (0..slots).map(|_| Mutex::default()).collect(),
        }
    }

    /// Notes the lease slot `index` is attempting under (`None` when
    /// nothing).
    pub(super) fn track(&self, index: usize, lease: Option<&Lease>) {
        if let Some(slot) = self.slots.get(index) {
            *lock(slot) = lease.map(|l| (l.delivery_id.clone(), l.expires_at));
        }
    }

    /// The leases held now, as `worker` (this dispatcher) was granted them.
    pub(super) fn leases(&self, worker: &str) -> Vec<Lease> {
        self.slots
            .iter()
            .filter_map(|slot| lock(slot).clone())
            .map(|(delivery_id, expires_at)| Lease::new(delivery_id, worker, expires_at))
            .collect()
    }

    /// Empties every slot and returns the leases that were in them.
    pub(super) fn take_all(&self, worker: &str) -> Vec<Lease> {
        self.slots
            .iter()
            .filter_map(|slot| lock(slot).take())
            .map(|(delivery_id, expires_at)| Lease::new(delivery_id, worker, expires_at))
            .collect()
    }
}

impl Inner {
    /// Renews the leases in `in_flight` every third of a lease, to a whole
    /// lease from then, for as long as it is polled: it never returns.
    ///
    /// A lease the store no longer holds has been taken over (this
    /// dispatcher was too slow to renew it): its worker's result will be
    /// refused when recorded, and nothing else is to be done. A renewal
    /// that fails is reported once, when the failures start, and tried
    /// again at the next beat; its success after failures is reported too.
    pub(super) async fn keep_leases(&self, in_flight: &InFlight) {
        // Not zero, which `interval_at` refuses: the lease is at least
        // `DispatcherConfig::MIN_LEASE`.
        let every = self.config.lease / RENEWALS_PER_LEASE;
        // No beat at once: a lease is never renewed before a third of it
        // has gone, and every claim starts with a whole one.
        let mut beats = tokio::time::interval_at(Instant::now() + every, every);
        // A late beat (a busy runtime) is followed by a whole interval, not
        // by catching up in a burst of store calls.
        beats.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failures: u64 = 0;
        loop {
            beats.tick().await;
            let leases = in_flight.leases(&self.worker_id);
            if leases.is_empty() {
                continue;
            }
            let until = self.clock.now().saturating_add(self.config.lease);
            let renewed = self
                .store_call(self.store.renew_leases(&leases, until))
                .await;
            match renewed {
                Ok(_) if failures > 0 => {
                    self.notify(Notice::StoreRecovered {
                        operation: StoreOperation::RenewLeases,
                        failures,
                    })
                    .await;
                    failures = 0;
                }
                Ok(_) => {}
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        self.store_failed(StoreOperation::RenewLeases, None, &error)
                            .await;
                    }
                }
            }
        }
    }
}
