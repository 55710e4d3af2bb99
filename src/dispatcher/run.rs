//! The claiming loop of a running dispatcher and its workers, and the one
//! round [`Dispatcher::deliver_due`] runs instead.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::attempt::Attempted;
use super::heartbeat::InFlight;
use super::pool::{Handoff, Pool};
use super::{Dispatcher, Inner, retention};
use crate::error::Error;
use crate::store::Claim;

impl Dispatcher {
    /// Claims whatever is due now, attempts it all and waits for the
    /// attempts: one round of the worker pool, for tests and for callers
    /// that drive delivery themselves. Returns how many were claimed.
    ///
    /// A panic in an attempt is a failed attempt, as in a running
    /// dispatcher, store failures are reported to the observer just the
    /// same, and the leases of the attempts are renewed while they run.
    ///
    /// # Errors
    /// [`Error::Backend`] if the store fails to hand out work (reported to
    /// the observer too, as the start of an outage).
    pub async fn deliver_due(&self) -> Result<usize, Error> {
        let claims = self.inner.claim(self.inner.config.concurrency).await?;
        let claimed = claims.len();
        let in_flight = Arc::new(InFlight::new(claimed));
        let mut attempts = JoinSet::new();
        for (index, claim) in claims.into_iter().enumerate() {
            let inner = Arc::clone(&self.inner);
            let in_flight = Arc::clone(&in_flight);
            attempts.spawn(async move {
                in_flight.track(index, Some(&claim.lease));
                inner.attempt(&claim).await;
                in_flight.track(index, None);
            });
        }
        let attempted = async { while attempts.join_next().await.is_some() {} };
        // The heartbeat never ends by itself: it stops when the attempts
        // have, or with them if this round is dropped.
        tokio::select! {
            () = attempted => {}
            () = self.inner.keep_leases(&in_flight) => {}
        }
        Ok(claimed)
    }
}

impl Inner {
    /// The claiming loop: hands due deliveries to idle workers, sleeps
    /// while none are due, and shuts the workers down when told to.
    pub(super) async fn run(self: Arc<Self>, mut stop: watch::Receiver<Option<Duration>>) {
        let purging = self
            .config
            .keep_history
            .map(|keep| retention::spawn(Arc::clone(&self), keep, self.config.purge_interval));
        let pool = Arc::new(Pool::new(self.config.concurrency));
        let mut workers = JoinSet::new();
        for index in 0..self.config.concurrency {
            workers.spawn(Arc::clone(&self).work(Arc::clone(&pool), index));
        }
        // In a set of its own, which aborts it when dropped: at the end of
        // this function, or with it if the task running it is aborted.
        let mut heartbeat = JoinSet::new();
        let (inner, in_flight) = (Arc::clone(&self), pool.in_flight());
        heartbeat.spawn(async move { inner.keep_leases(&in_flight).await });
        loop {
            // A dropped handle closes the channel, which leaves
            // `stop.changed()` ready for good: stopping is the only way
            // not to spin.
            if stop.borrow().is_some() || stop.has_changed().is_err() {
                break;
            }
            if self.hand_out(&pool).await {
                // Busy workers claim their own next delivery while any is
                // due, so there is nothing to do until one runs out.
                tokio::select! {
                    () = pool.until_idle() => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            if let Some(wait) = self.idle_wait().await {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            // The store is failing. Sends do not cut this wait short: were
            // the store to fail claims only, every send would make one more.
            // Once a claim succeeds again (a worker's, whose recovery wakes
            // this loop) the outage is over, and waiting on would leave the
            // work queued meanwhile for up to the longest backoff.
            let backoff = self.claim_backoff().unwrap_or(self.config.poll_interval);
            let mut backing_off = std::pin::pin!(tokio::time::sleep(backoff));
            loop {
                tokio::select! {
                    () = &mut backing_off => break,
                    () = self.wake.notified() => {
                        if self.claim_backoff().is_none() {
                            break;
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        }
        if let Some(purging) = purging {
            purging.abort();
        }
        pool.stop();
        // No deadline means the handle was dropped: nobody waits any more, so
        // attempts in flight are cut off and given back at once.
        let deadline = (*stop.borrow()).unwrap_or_default();
        // Attempts finishing during the drain still need their leases
        // renewed, so the heartbeat stops only after it.
        self.drain(workers, &pool, deadline).await;
        drop(heartbeat);
    }

    /// Claims a due delivery for every idle worker and hands them out.
    /// Returns whether every idle worker got one, so more may be due; a
    /// failing store is retried after a backoff, and leases keep anything
    /// claimed safe meanwhile.
    async fn hand_out(&self, pool: &Pool) -> bool {
        let idle = pool.idle();
        if idle == 0 {
            return true;
        }
        let Ok(claims) = self.claim(idle).await else {
            return false;
        };
        let filled = claims.len() == idle;
        for claim in claims {
            // Only this loop makes workers busy, so every claim finds one.
            if let Err(lease) = pool.hand(claim) {
                self.release(&lease, self.clock.now()).await;
            }
        }
        filled
    }

    /// One worker: attempts what it is handed, then claims and attempts
    /// more itself until nothing is due or the pool stops.
    async fn work(self: Arc<Self>, pool: Arc<Pool>, index: usize) {
        while let Some(Handoff { mut claim, busy }) = pool.next().await {
            loop {
                pool.track(index, Some(&claim.lease));
                let attempted = self.attempt(&claim).await;
                pool.track(index, None);
                if pool.is_stopping() {
                    break;
                }
                match attempted {
                    // Putting a delivery off may take store calls that all
                    // return at once (`MemoryStore` never waits), and the
                    // next claim may be put off too: a backlog for a busy
                    // endpoint would hold the thread for as long as it
                    // lasts. Give the runtime back first.
                    Attempted::PutOff => tokio::task::yield_now().await,
                    // So could a transport that answers at once (a test
                    // double): give it back whenever the task's budget
                    // runs out, which costs next to nothing until it does.
                    Attempted::Made => tokio::task::consume_budget().await,
                }
                match self.claim(1).await.map(|mut claims| claims.pop()) {
                    Ok(Some(next)) => claim = next,
                    // Nothing due, or the store failed: idle until the loop
                    // finds more.
                    Ok(None) | Err(_) => break,
                }
            }
            drop(busy);
        }
    }

    /// Lets attempts in flight finish until `deadline`, then cuts the rest
    /// off and gives their deliveries back, with any claimed but not begun.
    async fn drain(&self, mut workers: JoinSet<()>, pool: &Pool, deadline: Duration) {
        let finish = async { while workers.join_next().await.is_some() {} };
        if tokio::time::timeout(deadline, finish).await.is_err() {
            workers.abort_all();
            while workers.join_next().await.is_some() {}
        }
        let now = self.clock.now();
        for lease in pool.unfinished(&self.worker_id) {
            // If this fails the lease simply runs out and the delivery is
            // claimed again then: at least once either way.
            self.release(&lease, now).await;
        }
    }

    /// How long to sleep when idle: until the next delivery is due, but no
    /// longer than the poll interval, since other processes may queue work.
    /// `None` while the store fails, to back off instead.
    async fn idle_wait(&self) -> Option<Duration> {
        if self.claim_backoff().is_some() {
            return None;
        }
        let poll = self.config.poll_interval;
        match self.store_call(self.store.next_due()).await {
            Ok(next) => {
                self.claims_answered().await;
                let until = next.map(|at| at.duration_since(self.clock.now()));
                Some(until.map_or(poll, |until| until.min(poll)))
            }
            Err(error) => {
                self.claim_failed(&error).await;
                None
            }
        }
    }

    /// Leases up to `limit` due deliveries to this dispatcher. A failure is
    /// reported when it starts an outage, and the outage's end when it
    /// ends one.
    async fn claim(&self, limit: usize) -> Result<Vec<Claim>, Error> {
        let now = self.clock.now();
        let lease_until = now.saturating_add(self.config.lease);
        let claimed = self
            .store_call(
                self.store
                    .claim_due(&self.worker_id, now, lease_until, limit),
            )
            .await;
        match &claimed {
            Ok(_) => self.claims_answered().await,
            Err(error) => self.claim_failed(error).await,
        }
        claimed
    }
}
