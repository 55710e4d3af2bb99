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

/// The process's CPU time (user and system) over timed runs, per item: a
/// steadier measure than throughput on a machine whose cores the client,
/// the receiver and the code under test all share.
///
/// Unused by the Postgres benchmark: most of its CPU is the database's and
/// the child processes', which this process's figures leave out.
#[allow(dead_code)]
#[derive(Debug, Default)]
pub(crate) struct CpuPerItem {
    cpu: Duration,
    items: u64,
}

#[allow(dead_code)]
impl CpuPerItem {
    /// Runs `run`, which handles `items` items, adding its CPU time.
    pub(crate) fn measure<T>(&mut self, items: u64, run: impl FnOnce() -> T) -> T {
        let before = cpu_time();
        let out = run();
        if let (Some(before), Some(after)) = (before, cpu_time()) {
            self.cpu += after.saturating_sub(before);
            self.items += items;
        }
        out
    }

    #[allow(clippy::print_stdout)]
    pub(crate) fn report(&self, name: &str) {
        if self.items > 0 {
            let micros = self.cpu.as_secs_f64() * 1e6 / self.items as f64;
            println!("{name}: {micros:.1} µs of CPU per item (Linux only)");
        }
    }
}

/// User and system time from /proc/self/stat, in clock ticks of 10 ms
/// (the kernel reports them in USER_HZ, which is 100 on every Linux).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}
