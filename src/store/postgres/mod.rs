//! The PostgreSQL backend (feature `postgres`): durable storage that many
//! dispatcher processes share.
//!
//! - Every table lives in a schema the application names, beside its own
//!   tables; [`PostgresStore::migrate`] creates or upgrades it and is safe to
//!   run from several processes at once.
//! - Endpoints, event types and attempts are kept as JSON documents of
//!   their own versioned shapes, not in the public JSON of the model types,
//!   so that the API can change without touching stored rows; a migration
//!   converts rows when a shape changes.
//! - Due deliveries are claimed in batches with `FOR UPDATE SKIP LOCKED` and
//!   a lease; no transaction or connection is held across an HTTP attempt,
//!   and recording an attempt checks the lease. Concurrent recordings share
//!   one statement; a row the server refuses fails only its own call.
//! - PostgreSQL's `text` and `jsonb` cannot hold a NUL character. The facade
//!   refuses outside text with one before it reaches any store; what a
//!   receiver said (an attempt's response body, an error's words, the
//!   failure reason) is stored with each NUL replaced by U+FFFD.
//! - Queueing work sends a `NOTIFY` on commit, which wakes the dispatchers
//!   of every process at once; they poll as a fallback.
//! - [`PostgresStore::enqueue_in`] queues an event prepared by
//!   [`Webhooks::prepare_send`](crate::Webhooks::prepare_send) inside the
//!   application's own transaction (a transactional outbox), and
//!   [`DeliveryStore::purge_finished`](crate::store::DeliveryStore::purge_finished)
//!   removes old history, in batches.
//!
//! ```no_run
//! # async fn demo() -> Result<(), hookshot::Error> {
//! use std::sync::Arc;
//! use hookshot::Webhooks;
//! use hookshot::store::postgres::PostgresStore;
//!
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app", "hookshot").await?;
//! store.migrate().await?;
//! let webhooks = Webhooks::builder(Arc::new(store)).build().await?;
//! # Ok(()) }
//! ```

mod coalesce;
mod deliveries;
mod endpoints;
mod idempotency;
mod outbox;
mod records;
mod retention;
mod schema;
#[cfg(feature = "test-support")]
mod temporary;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

use crate::error::Error;
use crate::id::EndpointId;
use crate::model::{StoredEndpoint, TenantId};
use crate::store::Wake;
use coalesce::Coalesce;
use schema::Sql;

/// The longest schema name accepted: the wake-up channel is named after it
/// and must fit PostgreSQL's 63-byte identifiers.
pub const MAX_SCHEMA_LEN: usize = 40;

/// Storage in PostgreSQL. Cheap to clone: clones share one pool.
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    sql: Sql,
    claims: Coalesce<deliveries::ClaimRequest, deliveries::Claimed>,
    finishes: Coalesce<deliveries::Finish, deliveries::Finished>,
    endpoint_reads: Coalesce<(TenantId, EndpointId), Option<Arc<StoredEndpoint>>>,
    #[cfg(feature = "test-support")]
    _temporary: Option<temporary::DropSchema>,
}

impl Shared {
    fn new(pool: PgPool, schema: &str) -> Self {
        Self {
            pool,
            sql: Sql::new(schema),
            claims: Coalesce::default(),
            finishes: Coalesce::default(),
            endpoint_reads: Coalesce::default(),
            #[cfg(feature = "test-support")]
            _temporary: None,
        }
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.shared.sql.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects a new pool of up to 16 connections to `url` and uses the
    /// tables in `schema`. Call [`PostgresStore::migrate`] before first use.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a schema name that is not a plain
    /// lower-case identifier; [`Error::Backend`] if the server cannot be
    /// reached.
    pub async fn connect(url: &str, schema: &str) -> Result<Self, Error> {
        check_schema_name(schema)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(backend("connecting to PostgreSQL"))?;
        Self::with_pool(pool, schema)
    }

    /// Uses an existing pool (the application's own, say) and the tables in
    /// `schema`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a schema name that is not a plain
    /// lower-case identifier.
    pub fn with_pool(pool: PgPool, schema: &str) -> Result<Self, Error> {
        check_schema_name(schema)?;
        Ok(Self {
            shared: Arc::new(Shared::new(pool, schema)),
        })
    }

    /// The pool queries run on.
    pub fn pool(&self) -> &PgPool {
        &self.shared.pool
    }

    /// The schema hookshot's tables live in.
    pub fn schema(&self) -> &str {
        &self.shared.sql.schema
    }

    /// Creates the schema and its tables, or brings them up to date. Several
    /// processes may run it at once: an advisory lock makes them take turns.
    ///
    /// # Errors
    /// [`Error::Backend`] if a statement fails; nothing of a failed run
    /// is kept.
    pub async fn migrate(&self) -> Result<(), Error> {
        schema::migrate(&self.shared.pool, &self.shared.sql.schema, i64::MAX).await
    }

    fn sql(&self) -> &Sql {
        &self.shared.sql
    }

    /// Listens for the `NOTIFY` sent whenever work is queued and calls
    /// `wake` for each, until `wake` says nobody waits any more. A lost
    /// connection is re-made every second; `wake` is called meanwhile and
    /// on reconnecting, since notices may have been missed, so a dispatcher
    /// polls every second while its listener is down. A quiet channel is
    /// checked every [`LISTENER_CHECK`] too, so that the pooled connection a
    /// listener holds goes back once its dispatcher has stopped.
    fn listen(&self, wake: Wake) {
        let pool = self.shared.pool.clone();
        let channel = self.shared.sql.channel.clone();
        tokio::spawn(async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        // Work queued before the listening began was never
                        // announced: look once, then follow the notices.
                        if listener.listen(&channel).await.is_ok()
                            && (!wake() || !relay(&mut listener, &wake).await)
                        {
                            return;
                        }
                    }
                    Err(_) if pool.is_closed() => return,
                    Err(_) => {}
                }
                if !wake() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// How long a listener waits on a quiet channel before asking its
/// dispatcher whether it still runs. Asking wakes it, which costs it one
/// look for work.
const LISTENER_CHECK: Duration = Duration::from_secs(5);

/// Passes notifications on to `wake` until the connection fails (`true`:
/// listen again) or `wake` reports nobody waiting (`false`: stop).
async fn relay(listener: &mut PgListener, wake: &Wake) -> bool {
    loop {
        match tokio::time::timeout(LISTENER_CHECK, listener.try_recv()).await {
            Ok(Ok(Some(_))) | Err(_) => {
                if !wake() {
                    return false;
                }
            }
            Ok(Ok(None) | Err(_)) => return true,
        }
    }
}

/// Schema names are spliced into SQL, so only plain identifiers pass.
fn check_schema_name(schema: &str) -> Result<(), Error> {
    let starts_well = schema
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let plain = schema
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if starts_well && plain && schema.len() <= MAX_SCHEMA_LEN && !schema.starts_with("pg_") {
        Ok(())
    } else {
        Err(Error::invalid(
            "schema",
            format!(
                "{schema:?} must be 1 to {MAX_SCHEMA_LEN} characters of [a-z0-9_], \
                 start with a letter or underscore and not with pg_"
            ),
        ))
    }
}

/// Maps a driver error to [`Error::Backend`], saying whether trying again
/// may help: lost connections, an exhausted pool, serialization failures
/// and deadlocks are transient; anything else is not.
fn backend(context: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| {
        let transient = is_transient(&e);
        Error::backend(format!("{context}: {e}"), transient, e)
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 40001 serialization failure, 40P01 deadlock, 08xxx connection
            // exceptions, 57P01-03 the server shutting down or starting.
            code == "40001" || code == "40P01" || code.starts_with("08") || code.starts_with("57P")
        }),
        _ => false,
    }
}

/// Whether `e` is a unique-key violation, which the traits report as
/// [`Error::Conflict`].
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// A stored value that does not decode is a fault of the store's contents,
/// not of the caller.
fn corrupt(what: &'static str, detail: impl fmt::Display) -> Error {
    Error::backend(
        format!("reading {what} from PostgreSQL"),
        false,
        format!("stored {what} does not decode: {detail}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["hookshot", "_h", "webhooks_2", &"a".repeat(MAX_SCHEMA_LEN)] {
            assert!(check_schema_name(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(MAX_SCHEMA_LEN + 1);
        for bad in [
            "", "Hookshot", "1abc", "a-b", "a;drop", "pg_x", "a b", &too_long,
        ] {
            assert!(
                matches!(check_schema_name(bad), Err(Error::InvalidInput { .. })),
                "{bad}"
            );
        }
    }
}
