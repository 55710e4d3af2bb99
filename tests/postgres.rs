#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Postgres backend against a real server: the conformance suite, then
//! what only a shared database has (migrations, the outbox, retention,
//! wake-ups across stores, dispatchers in other processes).
//!
//! Reads `DATABASE_URL`; each store works in a fresh schema that is dropped
//! afterwards.

use std::sync::Arc;

use hookshot::store::Store;
use hookshot::store::postgres::PostgresStore;

/// The server to test against. Missing is a failure, never a skip: these
/// tests are the only proof the backend works.
fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set. The Postgres tests need a server, e.g.\n  \
             DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo test --all-features\n\
             (run the tests without `--features postgres` to leave them out)"
        )
    })
}

async fn fresh() -> PostgresStore {
    PostgresStore::temporary(&database_url()).await.unwrap()
}

hookshot::conformance_tests!(|| async { Arc::new(fresh().await) as Arc<dyn Store> });
