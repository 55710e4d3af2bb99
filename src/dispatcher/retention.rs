//! Purging old history while a dispatcher runs.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::clock::Clock;
use crate::store::Store;

/// Every `every`, starting now, deletes from `store` the finished history
/// older than `keep` by `clock`, until the task is aborted. A purge that
/// fails is simply tried again next round: what it did not delete is still
/// there to delete.
pub(super) fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keep: Duration,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rounds = tokio::time::interval(every);
        rounds.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            rounds.tick().await;
            let _ = store.purge_finished(clock.now().saturating_sub(keep)).await;
        }
    })
}
