//! Running a dispatcher in the background, and stopping it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::Dispatcher;

/// Controls a running dispatcher; see [`Dispatcher::spawn`].
///
/// Dropping it stops the dispatcher as [`shutdown`](Self::shutdown) with a
/// zero deadline would: attempts in flight are cut off and their
/// deliveries given back, due again at once.
#[derive(Debug)]
#[must_use = "dropping the handle stops the dispatcher"]
pub struct DispatcherHandle {
    stop: watch::Sender<Option<Duration>>,
    task: tokio::task::JoinHandle<()>,
    wake: Arc<Notify>,
}

impl DispatcherHandle {
    /// Wakes the dispatcher to look for due work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops claiming, lets attempts in flight finish for up to `deadline`,
    /// then gives the rest back to the store (due again at once) and returns.
    pub async fn shutdown(self, deadline: Duration) {
        // The loop may already have ended; then there is nothing to stop.
        let _ = self.stop.send(Some(deadline));
        let _ = self.task.await;
    }
}

impl Dispatcher {
    /// Runs the worker pool on the current tokio runtime until
    /// [`DispatcherHandle::shutdown`].
    ///
    /// The pool starts on new work at once when this process sends
    /// ([`Webhooks::on_send`](crate::Webhooks::on_send)) or the store says
    /// some was queued ([`crate::store::DeliveryStore::watch_new_work`]),
    /// and otherwise looks every
    /// [`poll_interval`](super::DispatcherConfig::poll_interval).
    #[must_use = "dropping the handle stops the dispatcher"]
    pub fn spawn(&self) -> DispatcherHandle {
        let (stop, stopped) = watch::channel(None);
        let inner = Arc::clone(&self.inner);
        let wake = Arc::clone(&inner.wake);
        inner
            .webhooks
            .on_send(wake_while_running(&wake, stopped.clone()));
        inner
            .store
            .watch_new_work(wake_while_running(&wake, stopped.clone()));
        let task = tokio::spawn(inner.run(stopped));
        DispatcherHandle { stop, task, wake }
    }
}

/// A [`crate::store::Wake`]: wakes the pool until it is shut down or its
/// handle is dropped.
fn wake_while_running(
    wake: &Arc<Notify>,
    stopped: watch::Receiver<Option<Duration>>,
) -> crate::store::Wake {
    let wake = Arc::clone(wake);
    Arc::new(move || {
        let running = stopped.borrow().is_none() && stopped.has_changed().is_ok();
        if running {
            wake.notify_one();
        }
        running
    })
}
