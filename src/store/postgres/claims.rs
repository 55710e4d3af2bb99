//! Concurrent claims merged into one statement.
//!
//! A busy dispatcher's workers each claim their next delivery as they
//! finish one, so under load dozens of one-row claims run at once, all
//! locking and skipping past the same rows at the head of the due index.
//! Instead, one claim statement runs at a time per store: requests that
//! arrive while it runs wait, and the next statement serves all of them
//! together. The busier the dispatcher, the bigger the batches.

use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::store::Claim;

type Reply = Result<Vec<Claim>, Error>;

/// One caller's `claim_due`.
struct Request {
    worker: String,
    now: Timestamp,
    until: Timestamp,
    limit: usize,
    reply: oneshot::Sender<Reply>,
}

/// Requests of one worker, served by one statement.
pub(super) struct Batch {
    pub(super) worker: String,
    /// The earliest `now` asked with, so nobody gets a delivery not yet due
    /// at the time it asked for.
    pub(super) now: Timestamp,
    /// The shortest lease asked for, so nobody holds one longer than asked.
    pub(super) until: Timestamp,
    pub(super) limit: usize,
    replies: Vec<(usize, oneshot::Sender<Reply>)>,
}

impl Batch {
    /// Hands each request its share of `claims`, the longest overdue going
    /// to the earliest request.
    pub(super) fn answer(self, claims: Reply) {
        match claims {
            Ok(claims) => {
                let mut claims = claims.into_iter();
                for (limit, reply) in self.replies {
                    // A caller that gave up is gone; its claims' leases run out.
                    let _ = reply.send(Ok(claims.by_ref().take(limit).collect()));
                }
            }
            Err(e) => {
                let (message, transient) = (e.to_string(), e.is_transient());
                for (_, reply) in self.replies {
                    let _ = reply.send(Err(Error::backend(
                        "claiming due deliveries",
                        transient,
                        message.clone(),
                    )));
                }
            }
        }
    }
}

#[derive(Default)]
pub(super) struct ClaimQueue {
    waiting: Mutex<Vec<Request>>,
    /// Held by whoever runs the statement.
    turn: tokio::sync::Mutex<()>,
}

impl ClaimQueue {
    /// Claims through `run`, one statement at a time, merging requests that
    /// wait meanwhile.
    pub(super) async fn claim<F>(
        &self,
        worker: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
        run: impl Fn(Batch) -> F,
    ) -> Reply
    where
        F: Future<Output = ()>,
    {
        let (reply, mut answer) = oneshot::channel();
        self.waiting().push(Request {
            worker: worker.to_owned(),
            now,
            until,
            limit,
            reply,
        });
        let _turn = self.turn.lock().await;
        match answer.try_recv() {
            // Served by the statement that ran while we waited.
            Ok(claims) => return claims,
            // Still waiting: ours is among the requests served below.
            Err(oneshot::error::TryRecvError::Empty) => {}
            // Taken by a caller that was cancelled before answering; its
            // claims (if any) are leased until their leases run out.
            Err(oneshot::error::TryRecvError::Closed) => return Ok(Vec::new()),
        }
        let requests = std::mem::take(&mut *self.waiting());
        for batch in batches(requests) {
            run(batch).await;
        }
        answer.await.unwrap_or_else(|_| Ok(Vec::new()))
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Request>> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Requests grouped by worker, in arrival order.
fn batches(requests: Vec<Request>) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    for request in requests {
        match batches.iter_mut().find(|b| b.worker == request.worker) {
            Some(batch) => {
                batch.now = batch.now.min(request.now);
                batch.until = batch.until.min(request.until);
                batch.limit = batch.limit.saturating_add(request.limit);
                batch.replies.push((request.limit, request.reply));
            }
            None => batches.push(Batch {
                worker: request.worker,
                now: request.now,
                until: request.until,
                limit: request.limit,
                replies: vec![(request.limit, request.reply)],
            }),
        }
    }
    batches
}
