//! Purging old history while a dispatcher runs.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::Inner;
use crate::observer::StoreOperation;

/// Every `every`, starting now, deletes from the store the finished history
/// older than `keep` by the clock, until the task is aborted. A purge that
/// fails is reported and simply tried again next round: what it did not
/// delete is still there to delete.
pub(super) fn spawn(inner: Arc<Inner>, keep: Duration, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rounds = tokio::time::interval(every);
        rounds.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            rounds.tick().await;
            let before = inner.clock.now().saturating_sub(keep);
            let purged = inner.store_call(inner.store.purge_finished(before)).await;
            if let Err(error) = purged {
                inner
                    .store_failed(StoreOperation::Purge, None, &error)
                    .await;
            }
        }
    })
}
