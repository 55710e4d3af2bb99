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
                for reply in replies {
                    let _ = reply.send(Err(shared(&e)));
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

/// Answers each of `rows` by `run`, which records the rows it is given in
/// one statement and answers them in order.
///
/// A statement fails whole: one row the server refuses (a value it cannot
/// hold, say) would fail every other row with it. So when the statement for
/// all of them fails for a reason that is not transient, each row is tried
/// again in a statement of its own (the failed one changed nothing), and
/// only a bad row's answer is an error. A transient failure (a lost
/// connection) is every row's answer.
pub(super) async fn each_alone_on_refusal<'r, R, A, F, Fut>(
    rows: Vec<&'r R>,
    run: F,
) -> Vec<Reply<A>>
where
    F: Fn(Vec<&'r R>) -> Fut,
    Fut: Future<Output = Reply<Vec<A>>>,
{
    let count = rows.len();
    let error = match run(rows.clone()).await {
        Ok(answers) => return answered(answers, count),
        Err(e) => e,
    };
    if count == 1 || error.is_transient() {
        return rows.iter().map(|_| Err(shared(&error))).collect();
    }
    let mut answers = Vec::with_capacity(count);
    for row in rows {
        let answer = run(vec![row]).await.and_then(|one| {
            let mut one = answered(one, 1);
            one.pop().unwrap_or_else(|| Err(miscounted()))
        });
        answers.push(answer);
    }
    answers
}

/// `answers` to `count` rows, each an error if the statement did not
/// answer exactly one per row.
fn answered<A>(answers: Vec<A>, count: usize) -> Vec<Reply<A>> {
    if answers.len() == count {
        answers.into_iter().map(Ok).collect()
    } else {
        (0..count).map(|_| Err(miscounted())).collect()
    }
}

fn miscounted() -> Error {
    Error::Backend {
        message: "a batched statement did not answer every row".into(),
        transient: false,
        source: None,
    }
}

/// `e` again, for another caller of the same batch: an `Error` cannot be
/// cloned, and its source cannot be shared, so the copy carries the
/// source's text instead.
pub(super) fn shared(e: &Error) -> Error {
    let source = std::error::Error::source(e).map(|s| s.to_string().into());
    match e {
        Error::Backend {
            message, transient, ..
        } => Error::Backend {
            message: message.clone(),
            transient: *transient,
            source,
        },
        other => Error::Backend {
            message: other.to_string(),
            transient: other.is_transient(),
            source,
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement over `rows` that the server refuses whole if any row is
    /// negative, and that answers each row doubled otherwise.
    async fn refusing_negatives(rows: Vec<&i64>) -> Reply<Vec<i64>> {
        if rows.iter().any(|row| **row < 0) {
            Err(Error::Backend {
                message: "recording: a value the server cannot hold".into(),
                transient: false,
                source: None,
            })
        } else {
            Ok(rows.iter().map(|row| **row * 2).collect())
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn a_refused_row_fails_only_its_own_answer() {
        let rows = [1, -2, 3];
        let answers = block_on(each_alone_on_refusal(
            rows.iter().collect(),
            refusing_negatives,
        ));
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0].as_ref().ok(), Some(&2));
        assert!(
            matches!(
                &answers[1],
                Err(Error::Backend {
                    transient: false,
                    ..
                })
            ),
            "{:?}",
            answers[1]
        );
        assert_eq!(answers[2].as_ref().ok(), Some(&6));
    }

    #[test]
    fn a_transient_failure_answers_every_row_without_a_retry() {
        let tries = std::sync::atomic::AtomicUsize::new(0);
        let lost = |_: Vec<&i64>| {
            tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async {
                Err::<Vec<i64>, _>(Error::Backend {
                    message: "the connection was lost".into(),
                    transient: true,
                    source: None,
                })
            }
        };
        let rows = [1, 2];
        let answers = block_on(each_alone_on_refusal(rows.iter().collect(), lost));
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Err(e) if e.is_transient()))
        );
        assert_eq!(tries.into_inner(), 1, "retried row by row");
    }

    #[test]
    fn a_shared_error_keeps_its_message_once() {
        let e = Error::backend("recording attempts", true, "connection reset");
        let copy = shared(&e);
        assert_eq!(copy.to_string(), e.to_string());
        assert!(copy.is_transient());
        let source = std::error::Error::source(&copy).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection reset"));
    }
}
