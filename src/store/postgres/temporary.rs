//! Throw-away schemas for tests.

use sqlx::Connection;

use super::{PostgresStore, Shared, backend};
use crate::error::Error;

impl PostgresStore {
    /// A store in a new, migrated schema with a random name, dropped with
    /// everything in it when the last clone of the store is dropped. For
    /// tests: each gets an empty store, and the server is left as found.
    ///
    /// # Errors
    /// [`Error::Backend`] if the server cannot be reached or migrated.
    pub async fn temporary(url: &str) -> Result<Self, Error> {
        Self::temporary_migrated_to(url, i64::MAX).await
    }

    /// [`PostgresStore::temporary`] with the schema's migrations applied up
    /// to `version` only, for testing a later migration: write rows as
    /// `version` did, then [`PostgresStore::migrate`] converts them.
    ///
    /// # Errors
    /// [`Error::Backend`] if the server cannot be reached or migrated.
    pub async fn temporary_migrated_to(url: &str, version: i64) -> Result<Self, Error> {
        let schema = format!("hookshot_test_{:016x}", rand_u64()?);
        let store = Self::connect(url, &schema).await?;
        super::schema::migrate(store.pool(), &schema, version).await?;
        let shared = Shared {
            _temporary: Some(DropSchema {
                url: url.to_owned(),
                schema: schema.clone(),
            }),
            ..Shared::new(store.shared.pool.clone(), &schema)
        };
        Ok(Self {
            shared: std::sync::Arc::new(shared),
        })
    }
}

fn rand_u64() -> Result<u64, Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::backend("naming a test schema", false, e.to_string()))?;
    Ok(u64::from_le_bytes(bytes))
}

/// Drops its schema when dropped.
pub(super) struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let url = std::mem::take(&mut self.url);
        let schema = std::mem::take(&mut self.schema);
        // Drop cannot await, and the runtime that made the store may be
        // shutting down: a thread of its own with a small runtime does it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::backend("dropping a test schema", false, e))?;
            runtime.block_on(drop_schema(&url, &schema))
        });
        let _ = dropped.join();
    }
}

async fn drop_schema(url: &str, schema: &str) -> Result<(), Error> {
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(backend("dropping a test schema"))?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut conn)
        .await
        .map_err(backend("dropping a test schema"))?;
    conn.close()
        .await
        .map_err(backend("dropping a test schema"))
}
