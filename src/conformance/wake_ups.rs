//! Wake-ups: a watcher of new work hears of the work queued (capability
//! `watch_new_work`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::fixtures::{START, tenant};
use super::worker::{AttemptEnd, claim_at, enqueue_raw, finish_claim};
use crate::store::Store;

/// How long a wake may take after the work that causes it: ample for a
/// notice on a busy machine, yet shorter than the wake a backend may send
/// on a timer to ask whether its watcher still waits (Postgres asks every
/// 5 s), so that the timer cannot stand in for a missing notice.
const WAKE_WITHIN: Duration = Duration::from_secs(3);

/// A watcher registered with `watch_new_work` is woken within three seconds
/// of each event enqueued and each delivery queued again by hand through the
/// same store, as a watcher in another process sharing the backend would be.
pub async fn watch_new_work_wakes_on_queued_work(store: Arc<dyn Store>) {
    let t = tenant("acme");
    let mut wakes = watch_new_work(&store);
    // The first enqueue may come before the backend listens; the second
    // cannot.
    for n in 1..=2 {
        let due_now = [(n, START)];
        let enqueue = enqueue_raw(&store, &t, n, &due_now);
        expect_wake(&mut wakes, &format!("enqueuing event {n}"), enqueue).await;
    }
    let claims = claim_at(&store, "worker", START, 1).await;
    let failed = &claims[0];
    finish_claim(&store, failed, AttemptEnd::Failed, START).await;
    let requeue = async {
        let id = &failed.delivery.id;
        let requeued = store.requeue(&t, id, START).await;
        requeued.unwrap_or_else(|e| panic!("requeueing {id} failed: {e}"))
    };
    expect_wake(&mut wakes, "requeueing a failed delivery", requeue).await;
}

/// Registers a watcher that reports each wake on the channel returned, and
/// goes on watching for as long as the channel is open.
fn watch_new_work(store: &Arc<dyn Store>) -> mpsc::UnboundedReceiver<()> {
    let (sender, wakes) = mpsc::unbounded_channel();
    store.watch_new_work(Arc::new(move || sender.send(()).is_ok()));
    wakes
}

/// Queues work with `queue_work`, then waits for the wake it causes.
async fn expect_wake<T>(
    wakes: &mut mpsc::UnboundedReceiver<()>,
    what: &str,
    queue_work: impl Future<Output = T>,
) {
    // A wake already in, spurious or from earlier work, must not answer for
    // this work.
    while wakes.try_recv().is_ok() {}
    queue_work.await;
    match tokio::time::timeout(WAKE_WITHIN, wakes.recv()).await {
        Ok(Some(())) => {}
        Ok(None) => panic!("{what}: the store dropped its watcher without waking it"),
        Err(_) => panic!("{what}: no wake within {WAKE_WITHIN:?}"),
    }
}
