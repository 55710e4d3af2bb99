//! What the delivery benchmarks share: a loopback receiver that counts,
//! the runtime they run on, and the body they send.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use tokio::runtime::Runtime;

pub(crate) const BODY: &str =
    r#"{"invoice":"in_1","amount":4200,"currency":"eur","lines":[{"sku":"a","qty":1}]}"#;

pub(crate) fn ok<T, E: std::fmt::Debug>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => unreachable!("benchmark fixture failed: {e:?}"),
    }
}

pub(crate) fn runtime() -> Runtime {
    ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build())
}

/// A receiver that answers 204 and counts requests.
pub(crate) async fn receiver() -> (String, Arc<AtomicUsize>) {
    async fn count(State(seen): State<Arc<AtomicUsize>>) -> StatusCode {
        seen.fetch_add(1, Ordering::Relaxed);
        StatusCode::NO_CONTENT
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let app = Router::new().fallback(count).with_state(Arc::clone(&seen));
    let listener = ok(tokio::net::TcpListener::bind("127.0.0.1:0").await);
    let url = format!("http://{}/hooks", ok(listener.local_addr()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

pub(crate) async fn wait_for(seen: &AtomicUsize, target: usize) {
    while seen.load(Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}
