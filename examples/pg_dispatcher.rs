//! One dispatcher process over PostgreSQL. Start as many as you like against
//! one database: they share the queue, never attempt the same delivery at
//! once, and take over the leases of a process that died.
//!
//! ```text
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --example pg_dispatcher --features postgres
//! ```
//!
//! Settings, from the environment:
//! - `DATABASE_URL` (required) and `HOOKSHOT_SCHEMA` (default `hookshot`);
//! - `HOOKSHOT_WORKER`: this process's worker id (default from its pid);
//! - `HOOKSHOT_CONCURRENCY`: attempts in flight, in all and per endpoint
//!   (default 64);
//! - `HOOKSHOT_LEASE_SECS`: how long a claim holds a delivery without a
//!   renewal (default 15; at least 3), so how soon a dead process's
//!   deliveries are taken over;
//! - `HOOKSHOT_EXIT_WHEN_IDLE=1`: exit once nothing is queued or leased,
//!   instead of running until killed.
//!
//! It is built for local development
//! ([`local_development`](hookshot::WebhooksBuilder::local_development)),
//! so its default transport's SSRF guard is off and it can deliver to a
//! receiver on this machine: for local runs and tests only.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use hookshot::dispatcher::Dispatcher;
use hookshot::store::DeliveryStore;
use hookshot::store::postgres::PostgresStore;
use hookshot::{Error, Webhooks};

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| "set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/test")?;
    let schema = setting("HOOKSHOT_SCHEMA", "hookshot");
    let worker = setting("HOOKSHOT_WORKER", &format!("pid-{}", std::process::id()));
    let concurrency: usize = setting("HOOKSHOT_CONCURRENCY", "64").parse()?;
    let lease = Duration::from_secs(setting("HOOKSHOT_LEASE_SECS", "15").parse()?);
    let exit_when_idle = setting("HOOKSHOT_EXIT_WHEN_IDLE", "0") == "1";

    let store = PostgresStore::connect(&url, &schema).await?;
    store.migrate().await?;
    // Local development: the default transport's guard is off.
    let webhooks = Webhooks::builder(Arc::new(store.clone()))
        .local_development(true)
        .build()
        .await?;
    let webhooks = Arc::new(webhooks);
    let dispatcher = Dispatcher::builder(webhooks)
        .worker_id(worker.clone())
        .configure(|c| {
            c.concurrency = concurrency;
            c.per_endpoint_concurrency = concurrency;
            c.poll_interval = Duration::from_millis(500);
            c.lease = lease;
        })
        .build()?;
    let running = dispatcher.spawn();
    println!("{worker} delivering from schema {schema}");

    if !exit_when_idle {
        std::future::pending::<()>().await;
    }
    wait_until_idle(&store).await?;
    running.shutdown(Duration::from_secs(10)).await;
    println!("{worker} idle, exiting");
    Ok(())
}

/// Returns once nothing is queued or leased, seen twice in a row so that a
/// send racing with the check is not missed.
async fn wait_until_idle(store: &PostgresStore) -> Result<(), Error> {
    let mut idle_checks = 0;
    while idle_checks < 2 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        idle_checks = match store.next_due().await? {
            None => idle_checks + 1,
            Some(_) => 0,
        };
    }
    Ok(())
}
