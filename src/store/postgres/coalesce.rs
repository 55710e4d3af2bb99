//! Concurrent calls merged into one statement.
//!
//! A busy dispatcher's workers each claim their next delivery, read its
//! endpoint and record their attempt as they go, so under load dozens of
//! one-row statements run at once: each pays a round trip (and a commit),
//! and claims lock and skip past the same rows at the head of the due index. Instead, one statement
//! of a kind runs at a time per store: calls that arrive while it runs
//! wait, and the next statement serves all of them together. The busier the
//! dispatcher, the bigger the batches; an idle one pays nothing extra.

use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::error::Error;

type Reply<A> = Result<A, Error>;

/// Statements of one kind running at once, at most.
const RUNNING_AT_ONCE: usize = 2;

pub(super) struct Coalesce<R, A> {
    waiting: Mutex<Vec<(R, oneshot::Sender<Reply<A>>)>>,
    /// Held by whoever runs a statement: two may run at once, so that one
    /// batch gathers while the other waits on the server (its commit, say).
    turns: tokio::sync::Semaphore,
}

impl<R, A> Default for Coalesce<R, A> {
    fn default() -> Self {
        Self {
            waiting: Mutex::default(),
            turns: tokio::sync::Semaphore::new(RUNNING_AT_ONCE),
        }
    }
}

impl<R, A> Coalesce<R, A> {
    /// Answers `request` by `run`, which gets every request waiting at the
    /// time, this one among them, and answers them in order.
    ///
    /// # Errors
    /// What `run` returned, to every request of its batch.
    pub(super) async fn call<F, Fut>(&self, request: R, run: F) -> Reply<A>
    where
        F: FnOnce(Vec<R>) -> Fut,
        Fut: Future<Output = Reply<Vec<A>>>,
    {
        let (reply, mut answer) = oneshot::channel();
        self.waiting().push((request, reply));
        let _turn = self.turns.acquire().await.map_err(|_| interrupted())?;
        match answer.try_recv() {
            // Served by the statement that ran while we waited.
            Ok(answered) => return answered,
            // Still waiting: ours is among the requests served below, or in
            // the batch of the other statement running now.
            Err(oneshot::error::TryRecvError::Empty) => {}
            // Taken by a caller that was cancelled before answering.
            Err(oneshot::error::TryRecvError::Closed) => return Err(interrupted()),
        }
        let (requests, replies): (Vec<R>, Vec<_>) =
            std::mem::take(&mut *self.waiting()).into_iter().unzip();
        if requests.is_empty() {
            return answer.await.unwrap_or_else(|_| Err(interrupted()));
        }
        match run(requests).await {
            Ok(answers) => {
                for (reply, answered) in replies.into_iter().zip(answers) {
                    // A caller that gave up is gone; nothing to tell it.
                    let _ = reply.send(Ok(answered));
                }
            }
            Err(e) => {
                let (message, transient) = (e.to_string(), e.is_transient());
                for reply in replies {
                    let _ = reply.send(Err(Error::backend(
                        message.clone(),
                        transient,
                        message.clone(),
                    )));
                }
            }
        }
        answer.await.unwrap_or_else(|_| Err(interrupted()))
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<(R, oneshot::Sender<Reply<A>>)>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The caller running a batch was cancelled: what its statement did is
/// unknown, which leases make safe (a claim runs out, a record is retried).
fn interrupted() -> Error {
    Error::backend(
        "a batched statement was interrupted",
        true,
        "the task running it was cancelled",
    )
}
