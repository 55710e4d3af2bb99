//! Keeping a panic in one attempt, or in one call to a collaborator, from
//! ending the worker (or the claiming loop) it happened in.
//!
//! A panicking task is not restarted by anyone: a worker that died would
//! leave the pool a worker short for good, and the claiming loop dying
//! would stop the dispatcher. So the dispatcher polls what may panic (its
//! own attempt code, and the transport, store, observer and jitter source it
//! was given) under `catch_unwind`, and treats a panic as a failure.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

/// What a caught panic leaves: nothing of its message, which may hold
/// anything (a request's signature, a payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Panicked;

/// Runs `future` to its end, or to a panic in any of its polls.
///
/// The future stays where it is, pinned inside this one: no allocation,
/// and a `catch_unwind` per poll, which costs nothing until a panic
/// unwinds.
pub(super) async fn catch<F: Future>(future: F) -> Result<F::Output, Panicked> {
    CatchUnwind(pin!(future)).await
}

struct CatchUnwind<'a, F>(Pin<&'a mut F>);

impl<F: Future> Future for CatchUnwind<'_, F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        // Unwind safety: a future that panicked is never polled again, only
        // dropped; what it shares with others sits behind locks whose
        // poisoning the dispatcher ignores (its critical sections do not
        // panic), and slot guards give their slots back as they unwind.
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_payload) => Poll::Ready(Err(Panicked)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_any_poll_is_caught() {
        assert_eq!(catch(async { 7 }).await, Ok(7));
        let late = async {
            tokio::task::yield_now().await;
            #[allow(clippy::panic)]
            if true {
                panic!("after a yield");
            }
        };
        assert_eq!(catch(late).await, Err(Panicked));
    }
}
