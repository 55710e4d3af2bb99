//! The embedded migrations, and every statement with the schema name
//! spliced in once, when the store is made.

use sqlx::Executor as _;
use sqlx::postgres::PgPool;

use super::backend;
use crate::error::Error;

const PLACEHOLDER: &str = "__SCHEMA__";
const MIGRATING: &str = "migrating the hookshot schema";

/// Versions in order; a version is never edited once released, only
/// followed by a new one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_records.sql")),
];

/// Applies every migration up to `last` that the schema lacks, in one
/// transaction (all or nothing), under an advisory lock so that processes
/// starting together take turns. Only tests stop short of the latest.
pub(super) async fn migrate(pool: &PgPool, schema: &str, last: i64) -> Result<(), Error> {
    let mut tx = pool.begin().await.map_err(backend(MIGRATING))?;
    // One lock per schema name, held until this transaction ends.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("hookshot.migrate.{schema}"))
        .execute(&mut *tx)
        .await
        .map_err(backend(MIGRATING))?;
    let setup = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.migrations (
             version BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         );"
    );
    // A plain string runs as a simple query, which may hold several
    // statements.
    tx.execute(setup.as_str())
        .await
        .map_err(backend(MIGRATING))?;
    let applied: Option<i64> =
        sqlx::query_scalar(&format!("SELECT max(version) FROM {schema}.migrations"))
            .fetch_one(&mut *tx)
            .await
            .map_err(backend(MIGRATING))?;
    for (version, script) in MIGRATIONS {
        if applied.is_some_and(|done| done >= *version) || *version > last {
            continue;
        }
        tx.execute(script.replace(PLACEHOLDER, schema).as_str())
            .await
            .map_err(backend(MIGRATING))?;
        sqlx::query(&format!(
            "INSERT INTO {schema}.migrations (version) VALUES ($1)"
        ))
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(backend(MIGRATING))?;
    }
    tx.commit().await.map_err(backend(MIGRATING))
}

/// The columns an endpoint is read from, in the order
/// [`super::records::endpoint_from_row`] takes them.
pub(super) const ENDPOINT_COLUMNS: &str = "id, tenant, record::text";

/// The columns of a delivery row, in the order `delivery_from_row` reads.
pub(super) const DELIVERY_COLUMNS: &str = "id, tenant, event_id, endpoint_id, event_type, \
    status, attempts, scheduled_attempts, next_trigger, created_at, last_attempt_at, \
    next_attempt_at, last_response_status, failure_reason";

/// Statements that do not vary with their arguments.
///
/// A leased delivery's row names its lease by `lease_worker` and
/// `lease_expires_at`, the expiry its claim granted, which is part of the
/// lease's identity ([`crate::store::Lease`]) and never changes while the
/// lease holds; its hold ends at `due_at`, which claims set to that same
/// expiry and renewals move later.
pub(super) struct Sql {
    pub(super) schema: String,
    /// The channel `NOTIFY` wakes dispatchers on.
    pub(super) channel: String,
    pub(super) notify: String,
    pub(super) claim_idempotency: String,
    pub(super) idempotency_record: String,
    pub(super) insert_endpoint: String,
    pub(super) endpoint: String,
    pub(super) endpoints_by_id: String,
    pub(super) endpoint_for_update: String,
    pub(super) update_endpoint: String,
    pub(super) subscribers: String,
    pub(super) upsert_event_types: String,
    pub(super) event_types: String,
    pub(super) event_type: String,
    pub(super) foreign_to_schema: String,
    pub(super) insert_event: String,
    pub(super) insert_deliveries: String,
    pub(super) claim_due: String,
    pub(super) finish_attempts: String,
    pub(super) release: String,
    pub(super) renew_leases: String,
    pub(super) next_due: String,
    pub(super) event: String,
    pub(super) delivery: String,
    pub(super) attempts: String,
    pub(super) requeue: String,
    pub(super) delivery_exists: String,
    pub(super) requeue_failed: String,
    pub(super) fail_queued: String,
    pub(super) purge_deliveries: String,
    pub(super) purge_events: String,
    pub(super) purge_idempotency: String,
}

impl Sql {
    pub(super) fn new(s: &str) -> Self {
        let channel = format!("hookshot_work_{s}");
        Self {
            notify: format!("SELECT pg_notify('{channel}', '')"),
            channel,
            claim_idempotency: format!(
                "INSERT INTO {s}.idempotency AS old \
                   (tenant, scope, key, fingerprint, response, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (tenant, scope, key) DO UPDATE SET \
                   fingerprint = EXCLUDED.fingerprint, response = EXCLUDED.response, \
                   created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at \
                 WHERE old.expires_at <= EXCLUDED.created_at \
                 RETURNING 1"
            ),
            idempotency_record: format!(
                "SELECT fingerprint, response, created_at, expires_at FROM {s}.idempotency \
                 WHERE tenant = $1 AND scope = $2 AND key = $3"
            ),
            insert_endpoint: format!(
                "INSERT INTO {s}.endpoints (id, tenant, active, deleted, event_types, record) \
                 VALUES ($1, $2, $3, $4, $5, $6::jsonb)"
            ),
            endpoint: format!(
                "SELECT {ENDPOINT_COLUMNS} FROM {s}.endpoints \
                 WHERE tenant = $1 AND id = $2 AND NOT deleted"
            ),
            endpoints_by_id: format!(
                "SELECT {ENDPOINT_COLUMNS} FROM {s}.endpoints WHERE id = ANY($1) AND NOT deleted"
            ),
            endpoint_for_update: format!(
                "SELECT {ENDPOINT_COLUMNS} FROM {s}.endpoints \
                 WHERE tenant = $1 AND id = $2 AND NOT deleted FOR UPDATE"
            ),
            update_endpoint: format!(
                "UPDATE {s}.endpoints SET active = $3, deleted = $4, event_types = $5, \
                   record = $6::jsonb \
                 WHERE tenant = $1 AND id = $2"
            ),
            // `$2` is the type's covering entries (name, `prefix.*`
            // patterns, `group:<group>`): one `&&` on the GIN index finds
            // the endpoints naming any of them, whichever kind it is.
            subscribers: format!(
                "SELECT id FROM {s}.endpoints \
                 WHERE tenant = $1 AND active AND NOT deleted \
                   AND (event_types IS NULL OR event_types && $2) \
                 ORDER BY id"
            ),
            upsert_event_types: format!(
                "INSERT INTO {s}.event_types (name, record) \
                 SELECT name, record::jsonb FROM UNNEST($1::text[], $2::text[]) AS t(name, record) \
                 ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record"
            ),
            event_types: format!("SELECT name, record::text FROM {s}.event_types ORDER BY name"),
            event_type: format!("SELECT record::text FROM {s}.event_types WHERE name = $1"),
            // What of a prepared send is foreign to this schema: whether its
            // event type ($1) is missing from the catalog, and which of the
            // endpoints of tenant $2 it goes to ($3) are not here.
            foreign_to_schema: format!(
                "SELECT NOT EXISTS (SELECT 1 FROM {s}.event_types WHERE name = $1), \
                   ARRAY(SELECT t.id FROM UNNEST($3::text[]) AS t(id) \
                     WHERE NOT EXISTS (SELECT 1 FROM {s}.endpoints AS e \
                       WHERE e.id = t.id AND e.tenant = $2) \
                     ORDER BY t.id)"
            ),
            insert_event: format!(
                "INSERT INTO {s}.events (id, tenant, event_type, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5)"
            ),
            insert_deliveries: format!(
                "INSERT INTO {s}.deliveries ({DELIVERY_COLUMNS}, due_at) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                   $5::text[], $6::text[], $7::int8[], $8::int8[], $9::text[], $10::int8[], \
                   $11::int8[], $12::int8[], $13::int4[], $14::text[], $15::int8[])"
            ),
            // The old due time comes back so that the claims can be handed
            // out longest overdue first; RETURNING keeps no order.
            claim_due: format!(
                "WITH picked AS ( \
                   SELECT id, due_at FROM {s}.deliveries \
                   WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2 \
                   FOR UPDATE SKIP LOCKED) \
                 UPDATE {s}.deliveries AS d SET \
                   status_before = CASE WHEN d.lease_worker IS NULL THEN d.status \
                                   ELSE d.status_before END, \
                   status = 'delivering', lease_worker = $3, lease_expires_at = $4, \
                   due_at = $4 \
                 FROM picked, {s}.events AS e \
                 WHERE d.id = picked.id AND e.id = d.event_id \
                 RETURNING picked.due_at AS was_due, {delivery}, \
                   e.body AS event_body, e.created_at AS event_created_at",
                delivery = prefixed("d", DELIVERY_COLUMNS),
            ),
            // Many attempts at once, one row of arrays each; only rows whose
            // lease still holds are updated, and only theirs get an attempt.
            finish_attempts: format!(
                "WITH input AS ( \
                   SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], \
                     $5::int8[], $6::int8[], $7::text[], $8::int8[], $9::int8[], $10::int4[], \
                     $11::text[], $12::int8[], $13::text[]) \
                   AS t(id, worker, lease_expires_at, status, attempts, scheduled_attempts, \
                     next_trigger, last_attempt_at, next_attempt_at, last_response_status, \
                     failure_reason, due_at, record)), \
                 updated AS ( \
                   UPDATE {s}.deliveries AS d SET status = i.status, attempts = i.attempts, \
                     scheduled_attempts = i.scheduled_attempts, next_trigger = i.next_trigger, \
                     last_attempt_at = i.last_attempt_at, next_attempt_at = i.next_attempt_at, \
                     last_response_status = i.last_response_status, \
                     failure_reason = i.failure_reason, due_at = i.due_at, \
                     lease_worker = NULL, lease_expires_at = NULL, status_before = NULL \
                   FROM input AS i \
                   WHERE d.id = i.id AND d.lease_worker = i.worker \
                     AND d.lease_expires_at = i.lease_expires_at \
                   RETURNING d.id) \
                 INSERT INTO {s}.attempts (delivery_id, record) \
                 SELECT i.id, i.record::jsonb FROM input AS i JOIN updated AS u ON u.id = i.id \
                 RETURNING delivery_id"
            ),
            release: format!(
                "UPDATE {s}.deliveries SET status = status_before, next_attempt_at = $4, \
                   due_at = $4, lease_worker = NULL, lease_expires_at = NULL, \
                   status_before = NULL \
                 WHERE id = $1 AND lease_worker = $2 AND lease_expires_at = $3"
            ),
            // `DeliveryRecord::renew` for a batch: only rows still held by
            // the lease as claimed (worker and granted expiry, which stays
            // in `lease_expires_at`) move, and only their `due_at`, the end
            // of the hold, never backwards. Each row renewed comes back
            // with its lease, to tell apart two leases of one delivery in a
            // batch.
            renew_leases: format!(
                "UPDATE {s}.deliveries AS d SET due_at = GREATEST(d.due_at, $4) \
                 FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS t(id, worker, granted) \
                 WHERE d.id = t.id AND d.lease_worker = t.worker \
                   AND d.lease_expires_at = t.granted \
                 RETURNING d.id, d.lease_worker, d.lease_expires_at"
            ),
            next_due: format!("SELECT min(due_at) FROM {s}.deliveries WHERE due_at IS NOT NULL"),
            event: format!(
                "SELECT id, tenant, event_type, body, created_at FROM {s}.events \
                 WHERE tenant = $1 AND id = $2"
            ),
            delivery: format!(
                "SELECT {DELIVERY_COLUMNS} FROM {s}.deliveries WHERE tenant = $1 AND id = $2"
            ),
            attempts: format!(
                "SELECT a.seq, a.record::text FROM {s}.attempts AS a \
                 JOIN {s}.deliveries AS d ON d.id = a.delivery_id \
                 WHERE d.tenant = $1 AND d.id = $2 ORDER BY a.seq"
            ),
            // Mirrors `Delivery::queue_manual`; a lease still running at
            // `now` means an attempt is in flight, and the row is left alone.
            // A leased row's hold ends at `due_at`, which renewals move;
            // `lease_expires_at` stays what the claim granted.
            requeue: format!(
                "UPDATE {s}.deliveries SET {queue_manual}, \
                   lease_worker = NULL, lease_expires_at = NULL, status_before = NULL \
                 WHERE tenant = $1 AND id = $2 \
                   AND (lease_worker IS NULL OR due_at <= $3) \
                 RETURNING {DELIVERY_COLUMNS}",
                queue_manual = QUEUE_MANUAL,
            ),
            delivery_exists: format!(
                "SELECT EXISTS (SELECT 1 FROM {s}.deliveries WHERE tenant = $1 AND id = $2)"
            ),
            requeue_failed: format!(
                "UPDATE {s}.deliveries SET {queue_manual} \
                 WHERE tenant = $1 AND status = 'failed' AND created_at >= $4 \
                   AND ($2::text IS NULL OR endpoint_id = $2)",
                queue_manual = QUEUE_MANUAL,
            ),
            // Mirrors `Delivery::fail`.
            fail_queued: format!(
                "UPDATE {s}.deliveries SET status = 'failed', next_attempt_at = NULL, \
                   due_at = NULL, failure_reason = $3 \
                 WHERE tenant = $1 AND endpoint_id = $2 AND status IN ('pending', 'retrying')"
            ),
            purge_deliveries: format!(
                "DELETE FROM {s}.deliveries WHERE id IN ( \
                   SELECT id FROM {s}.deliveries \
                   WHERE due_at IS NULL AND COALESCE(last_attempt_at, created_at) < $1 \
                   LIMIT $2)"
            ),
            purge_events: format!(
                "DELETE FROM {s}.events WHERE id IN ( \
                   SELECT e.id FROM {s}.events AS e WHERE e.created_at < $1 \
                   AND NOT EXISTS (SELECT 1 FROM {s}.deliveries AS d WHERE d.event_id = e.id) \
                   LIMIT $2)"
            ),
            purge_idempotency: format!("DELETE FROM {s}.idempotency WHERE expires_at <= $1"),
            schema: s.to_owned(),
        }
    }
}

/// `Delivery::queue_manual` in SQL, with `now` as `$3`.
const QUEUE_MANUAL: &str = "status = 'pending', next_trigger = 'manual', next_attempt_at = $3, \
    due_at = $3, failure_reason = NULL";

/// `columns` with each name qualified by `table`.
fn prefixed(table: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
