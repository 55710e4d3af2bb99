//! Idempotency keys, claimed inside the transaction of the write they
//! guard.

use sqlx::{PgConnection, Row};

use super::schema::Sql;
use super::{backend, corrupt};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::store::IdempotencyRecord;

/// Stores `record` unless a record for its tenant, scope and key is live at
/// `record.created_at`, which is returned instead (and nothing stored).
///
/// A concurrent transaction claiming the same key makes this one wait on the
/// primary key until it ends, so exactly one of them wins.
pub(super) async fn claim(
    conn: &mut PgConnection,
    sql: &Sql,
    record: &IdempotencyRecord,
) -> Result<Option<IdempotencyRecord>, Error> {
    let failed = "claiming an idempotency key";
    let stored = sqlx::query(&sql.claim_idempotency)
        .bind(record.tenant.as_str())
        .bind(&record.scope)
        .bind(&record.key)
        .bind(&record.fingerprint)
        .bind(&record.response)
        .bind(record.created_at.unix_millis())
        .bind(record.expires_at.unix_millis())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend(failed))?;
    if stored.is_some() {
        return Ok(None);
    }
    let row = sqlx::query(&sql.idempotency_record)
        .bind(record.tenant.as_str())
        .bind(&record.scope)
        .bind(&record.key)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend(failed))?;
    let read = |e: sqlx::Error| corrupt("idempotency record", e);
    Ok(Some(IdempotencyRecord {
        tenant: record.tenant.clone(),
        scope: record.scope.clone(),
        key: record.key.clone(),
        fingerprint: row.try_get("fingerprint").map_err(read)?,
        response: row.try_get("response").map_err(read)?,
        created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(read)?),
        expires_at: Timestamp::from_unix_millis(row.try_get("expires_at").map_err(read)?),
    }))
}
