//! Events, deliveries and attempts in PostgreSQL, and the leased queue.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::coalesce::{each_alone_on_refusal, shared};
use super::schema::DELIVERY_COLUMNS;
use super::{PostgresStore, backend, corrupt, idempotency, is_unique_violation, records};
use crate::clock::Timestamp;
use crate::error::{ConflictKind, Error};
use crate::id::{DeliveryId, EndpointId, EventId};
use crate::model::{
    Attempt, Delivery, DeliveryFilter, DeliveryStatus, Direction, Event, PageRequest, TenantId,
    Trigger,
};
use crate::store::{Claim, DeliveryStore, IdempotencyRecord, Inserted, Lease, Purged, Wake};

impl PostgresStore {
    /// [`DeliveryStore::enqueue`] on `conn`, inside a transaction the caller
    /// owns and commits.
    pub(super) async fn enqueue_on(
        &self,
        conn: &mut PgConnection,
        event: Event,
        deliveries: Vec<Delivery>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        let sql = self.sql();
        if let Some(record) = &idempotency
            && let Some(existing) = idempotency::claim(conn, sql, record).await?
        {
            return Ok(Inserted::Existing(existing));
        }
        sqlx::query(&sql.insert_event)
            .bind(event.id.as_str())
            .bind(event.tenant.as_str())
            .bind(&*event.event_type)
            .bind(&*event.body)
            .bind(event.created_at.unix_millis())
            .execute(&mut *conn)
            .await
            .map_err(|e| conflict_or_backend(e, &event.id))?;
        if !deliveries.is_empty() {
            // One row of arrays, however many endpoints the event fans out to.
            let d = &deliveries;
            sqlx::query(&sql.insert_deliveries)
                .bind(column(d, |d| d.id.as_str()))
                .bind(column(d, |d| d.tenant.as_str()))
                .bind(column(d, |d| d.event_id.as_str()))
                .bind(column(d, |d| d.endpoint_id.as_str()))
                .bind(column(d, |d| &*d.event_type))
                .bind(column(d, |d| status_text(d.status)))
                .bind(column(d, |d| i64::from(d.attempts)))
                .bind(column(d, |d| i64::from(d.scheduled_attempts)))
                .bind(column(d, |d| trigger_text(d.next_trigger)))
                .bind(column(d, |d| d.created_at.unix_millis()))
                .bind(column(d, |d| millis(d.last_attempt_at)))
                .bind(column(d, |d| millis(d.next_attempt_at)))
                .bind(column(d, |d| d.last_response_status.map(i32::from)))
                .bind(column(d, |d| d.failure_reason.as_deref()))
                .bind(column(d, due_at))
                .execute(&mut *conn)
                .await
                .map_err(|e| conflict_or_backend(e, &event.id))?;
            sqlx::query(&sql.notify)
                .execute(&mut *conn)
                .await
                .map_err(backend("queueing deliveries"))?;
        }
        Ok(Inserted::Created)
    }

    /// Serves concurrent `claim_due` calls: one statement per worker among
    /// them, its claims shared out in order, the longest overdue first. A
    /// statement that fails answers only its worker's calls.
    async fn claim_all(&self, requests: Vec<ClaimRequest>) -> Result<Vec<Claimed>, Error> {
        let mut answers: Vec<Option<Claimed>> = requests.iter().map(|_| None).collect();
        for (first, request) in requests.iter().enumerate() {
            if answers[first].is_some() {
                continue;
            }
            let group: Vec<usize> = (first..requests.len())
                .filter(|&i| requests[i].worker == request.worker)
                .collect();
            // The earliest `now` and the shortest lease asked for: nobody gets
            // a delivery not due when they asked, or a longer lease.
            let now = group
                .iter()
                .map(|&i| requests[i].now)
                .min()
                .unwrap_or(request.now);
            let until = group
                .iter()
                .map(|&i| requests[i].until)
                .min()
                .unwrap_or(request.until);
            let limit = group.iter().map(|&i| requests[i].limit).sum();
            match self.claim_batch(&request.worker, now, until, limit).await {
                Ok(claims) => {
                    let mut claims = claims.into_iter();
                    for &i in &group {
                        answers[i] = Some(Ok(claims.by_ref().take(requests[i].limit).collect()));
                    }
                }
                Err(e) => {
                    for &i in &group {
                        answers[i] = Some(Err(shared(&e)));
                    }
                }
            }
        }
        Ok(answers
            .into_iter()
            .map(|answer| answer.unwrap_or_else(|| Ok(Vec::new())))
            .collect())
    }

    /// One claim statement: up to `limit` due deliveries leased to
    /// `worker`, the longest overdue first.
    async fn claim_batch(
        &self,
        worker: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Claim>, Error> {
        let rows = sqlx::query(&self.sql().claim_due)
            .bind(now.unix_millis())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(worker)
            .bind(until.unix_millis())
            .fetch_all(self.pool())
            .await
            .map_err(backend("claiming due deliveries"))?;
        let mut claims = rows
            .iter()
            .map(|row| claim_from_row(row, worker, until))
            .collect::<Result<Vec<_>, _>>()?;
        claims.sort_by(|(a, x), (b, y)| (a, &x.delivery.id).cmp(&(b, &y.delivery.id)));
        Ok(claims.into_iter().map(|(_, claim)| claim).collect())
    }

    /// Serves concurrent `finish_attempt` calls with one statement, and
    /// answers for each whether its lease still held. A delivery finished
    /// twice in one batch (it cannot be, short of a bug) goes through a
    /// statement of its own, so each call sees the state the last one left.
    /// A call whose row the server refuses fails alone, not the others
    /// recorded with it.
    async fn finish_all(&self, finishes: Vec<Finish>) -> Result<Vec<Finished>, Error> {
        let mut answers: Vec<Finished> = finishes.iter().map(|_| Ok(false)).collect();
        let mut pending: Vec<usize> = (0..finishes.len()).collect();
        while !pending.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let (batch, later): (Vec<usize>, Vec<usize>) = pending
                .into_iter()
                .partition(|&i| seen.insert(finishes[i].lease.delivery_id.clone()));
            let batch_finishes: Vec<&Finish> = batch.iter().map(|&i| &finishes[i]).collect();
            let recorded = each_alone_on_refusal(batch_finishes, |rows| self.finish_batch(rows));
            for (i, answer) in batch.into_iter().zip(recorded.await) {
                answers[i] = answer;
            }
            pending = later;
        }
        Ok(answers)
    }

    /// One statement recording `finishes` (distinct deliveries); answers for
    /// each, in order, whether its lease held.
    async fn finish_batch(&self, finishes: Vec<&Finish>) -> Result<Vec<bool>, Error> {
        let finishes = finishes.as_slice();
        let ids: Vec<String> = sqlx::query_scalar(&self.sql().finish_attempts)
            .bind(column(finishes, |f| f.lease.delivery_id.as_str()))
            .bind(column(finishes, |f| f.lease.worker.as_str()))
            .bind(column(finishes, |f| f.lease.expires_at.unix_millis()))
            .bind(column(finishes, |f| status_text(f.delivery.status)))
            .bind(column(finishes, |f| i64::from(f.delivery.attempts)))
            .bind(column(finishes, |f| {
                i64::from(f.delivery.scheduled_attempts)
            }))
            .bind(column(finishes, |f| trigger_text(f.delivery.next_trigger)))
            .bind(column(finishes, |f| millis(f.delivery.last_attempt_at)))
            .bind(column(finishes, |f| millis(f.delivery.next_attempt_at)))
            .bind(column(finishes, |f| {
                f.delivery.last_response_status.map(i32::from)
            }))
            .bind(column(finishes, |f| {
                f.delivery
                    .failure_reason
                    .as_deref()
                    .map(records::without_nul)
            }))
            .bind(column(finishes, |f| due_at(&f.delivery)))
            .bind(column(finishes, |f| f.record.as_str()))
            .fetch_all(self.pool())
            .await
            .map_err(backend("recording attempts"))?;
        let recorded: std::collections::HashSet<String> = ids.into_iter().collect();
        Ok(finishes
            .iter()
            .map(|f| recorded.contains(f.lease.delivery_id.as_str()))
            .collect())
    }

    async fn notify(&self) -> Result<(), Error> {
        sqlx::query(&self.sql().notify)
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(backend("waking dispatchers"))
    }
}

fn conflict_or_backend(e: sqlx::Error, event: &EventId) -> Error {
    if is_unique_violation(&e) {
        Error::conflict(
            ConflictKind::DuplicateId,
            format!("event {event} or one of its deliveries already exists"),
        )
    } else {
        backend("queueing an event")(e)
    }
}

/// One value of each row, as an array bound to a parameter: statements
/// take many rows at once through `UNNEST` over such arrays.
fn column<'a, R, T>(rows: &'a [R], value: impl Fn(&'a R) -> T) -> Vec<T> {
    rows.iter().map(value).collect()
}

/// A `claim_due` call waiting to be served.
pub(super) struct ClaimRequest {
    worker: String,
    now: Timestamp,
    until: Timestamp,
    limit: usize,
}

/// The answer to one `claim_due` call of a batch.
pub(super) type Claimed = Result<Vec<Claim>, Error>;

/// The answer to one `finish_attempt` call of a batch: whether its lease
/// held.
pub(super) type Finished = Result<bool, Error>;

/// Whether a lease naming `worker` could have been granted here: PostgreSQL
/// text cannot hold a NUL, so no claim made with one ever succeeded.
fn could_hold(worker: &str) -> bool {
    !worker.contains('\0')
}

/// A `finish_attempt` call waiting to be served: the attempt serialised.
pub(super) struct Finish {
    lease: Lease,
    record: String,
    delivery: Delivery,
}

/// When a delivery in state `d` can next be claimed, if ever.
fn due_at(d: &Delivery) -> Option<i64> {
    if d.status.is_queued() {
        millis(d.next_attempt_at)
    } else {
        None
    }
}

fn millis(at: Option<Timestamp>) -> Option<i64> {
    at.map(Timestamp::unix_millis)
}

fn status_text(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => "pending",
        DeliveryStatus::Delivering => "delivering",
        DeliveryStatus::Retrying => "retrying",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    }
}

fn parse_status(text: &str) -> Result<DeliveryStatus, Error> {
    Ok(match text {
        "pending" => DeliveryStatus::Pending,
        "delivering" => DeliveryStatus::Delivering,
        "retrying" => DeliveryStatus::Retrying,
        "delivered" => DeliveryStatus::Delivered,
        "failed" => DeliveryStatus::Failed,
        other => return Err(corrupt("delivery status", other)),
    })
}

fn trigger_text(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Scheduled => "scheduled",
        Trigger::Manual => "manual",
    }
}

fn parse_trigger(text: &str) -> Result<Trigger, Error> {
    match text {
        "scheduled" => Ok(Trigger::Scheduled),
        "manual" => Ok(Trigger::Manual),
        other => Err(corrupt("delivery trigger", other)),
    }
}

/// A delivery from a row holding [`DELIVERY_COLUMNS`].
fn delivery_from_row(row: &PgRow) -> Result<Delivery, Error> {
    let read = |e: sqlx::Error| corrupt("delivery", e);
    let text = |name: &str| row.try_get::<&str, _>(name).map_err(read);
    let at = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .map(|v| v.map(Timestamp::from_unix_millis))
            .map_err(read)
    };
    let count = |name: &str| {
        row.try_get::<i64, _>(name)
            .map_err(read)
            .and_then(|n| u32::try_from(n).map_err(|e| corrupt("delivery", e)))
    };
    let status: Option<i32> = row.try_get("last_response_status").map_err(read)?;
    Ok(Delivery {
        id: text("id")?.parse().map_err(|e| corrupt("delivery id", e))?,
        tenant: TenantId::new(text("tenant")?).map_err(|e| corrupt("tenant", e))?,
        event_id: text("event_id")?
            .parse()
            .map_err(|e| corrupt("event id", e))?,
        endpoint_id: text("endpoint_id")?
            .parse()
            .map_err(|e| corrupt("endpoint id", e))?,
        event_type: text("event_type")?.into(),
        status: parse_status(text("status")?)?,
        attempts: count("attempts")?,
        scheduled_attempts: count("scheduled_attempts")?,
        next_trigger: parse_trigger(text("next_trigger")?)?,
        created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(read)?),
        last_attempt_at: at("last_attempt_at")?,
        next_attempt_at: at("next_attempt_at")?,
        last_response_status: status
            .map(u16::try_from)
            .transpose()
            .map_err(|e| corrupt("delivery", e))?,
        failure_reason: row.try_get("failure_reason").map_err(read)?,
    })
}

/// A claim from a row of the claiming `UPDATE … RETURNING`.
fn claim_from_row(row: &PgRow, worker: &str, until: Timestamp) -> Result<(i64, Claim), Error> {
    let read = |e: sqlx::Error| corrupt("claimed delivery", e);
    let delivery = delivery_from_row(row)?;
    let event = Event {
        id: delivery.event_id.clone(),
        tenant: delivery.tenant.clone(),
        event_type: delivery.event_type.clone(),
        body: row.try_get::<&str, _>("event_body").map_err(read)?.into(),
        created_at: Timestamp::from_unix_millis(row.try_get("event_created_at").map_err(read)?),
    };
    let lease = Lease {
        delivery_id: delivery.id.clone(),
        worker: worker.to_owned(),
        expires_at: until,
    };
    let was_due = row.try_get("was_due").map_err(read)?;
    Ok((
        was_due,
        Claim {
            delivery,
            event,
            lease,
        },
    ))
}

#[async_trait]
impl DeliveryStore for PostgresStore {
    async fn enqueue(
        &self,
        event: Event,
        deliveries: Vec<Delivery>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<Inserted, Error> {
        let failed = backend("queueing an event");
        let mut tx = self.pool().begin().await.map_err(failed)?;
        let inserted = self
            .enqueue_on(&mut tx, event, deliveries, idempotency)
            .await?;
        if matches!(inserted, Inserted::Created) {
            tx.commit().await.map_err(backend("queueing an event"))?;
        }
        Ok(inserted)
    }

    async fn claim_due(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Claim>, Error> {
        let request = ClaimRequest {
            worker: worker.to_owned(),
            now,
            until: lease_until,
            limit,
        };
        self.shared
            .claims
            .call(request, |requests| self.claim_all(requests))
            .await?
    }

    async fn finish_attempt(
        &self,
        lease: &Lease,
        attempt: Attempt,
        delivery: Delivery,
    ) -> Result<bool, Error> {
        if !could_hold(&lease.worker) {
            // As for any lease that does not hold; sent to the server, it
            // would fail the statement for every attempt recorded with it.
            return Ok(false);
        }
        let finish = Finish {
            lease: lease.clone(),
            record: records::attempt_to_json(&attempt)?,
            delivery,
        };
        self.shared
            .finishes
            .call(finish, |finishes| self.finish_all(finishes))
            .await?
    }

    async fn release(&self, lease: &Lease, now: Timestamp) -> Result<(), Error> {
        if !could_hold(&lease.worker) {
            return Ok(());
        }
        // No NOTIFY: a dispatcher releases what it cannot attempt yet (its
        // endpoint is busy or rate-limited), and waking every process for
        // that would only make them all look again. Polls find it.
        sqlx::query(&self.sql().release)
            .bind(lease.delivery_id.as_str())
            .bind(&lease.worker)
            .bind(lease.expires_at.unix_millis())
            .bind(now.unix_millis())
            .execute(self.pool())
            .await
            .map(drop)
            .map_err(backend("releasing a delivery"))
    }

    async fn renew_leases(&self, leases: &[Lease], until: Timestamp) -> Result<Vec<bool>, Error> {
        // A worker with a NUL was never granted a lease here, and sent to
        // the server it would fail the statement for the whole batch.
        let sent: Vec<&Lease> = leases.iter().filter(|l| could_hold(&l.worker)).collect();
        if sent.is_empty() {
            return Ok(vec![false; leases.len()]);
        }
        // One statement for the batch; no NOTIFY, as nothing became due.
        let rows: Vec<(String, String, i64)> = sqlx::query_as(&self.sql().renew_leases)
            .bind(column(&sent, |l| l.delivery_id.as_str()))
            .bind(column(&sent, |l| l.worker.as_str()))
            .bind(column(&sent, |l| l.expires_at.unix_millis()))
            .bind(until.unix_millis())
            .fetch_all(self.pool())
            .await
            .map_err(backend("renewing leases"))?;
        let renewed: std::collections::HashSet<(&str, &str, i64)> = rows
            .iter()
            .map(|(id, worker, granted)| (id.as_str(), worker.as_str(), *granted))
            .collect();
        Ok(leases
            .iter()
            .map(|l| {
                let lease = (
                    l.delivery_id.as_str(),
                    l.worker.as_str(),
                    l.expires_at.unix_millis(),
                );
                renewed.contains(&lease)
            })
            .collect())
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, Error> {
        let next: Option<i64> = sqlx::query_scalar(&self.sql().next_due)
            .fetch_one(self.pool())
            .await
            .map_err(backend("finding the next due delivery"))?;
        Ok(next.map(Timestamp::from_unix_millis))
    }

    async fn event(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, Error> {
        let row = sqlx::query(&self.sql().event)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(backend("reading an event"))?;
        row.map(|row| {
            let read = |e: sqlx::Error| corrupt("event", e);
            Ok(Event {
                id: id.clone(),
                tenant: tenant.clone(),
                event_type: row.try_get::<&str, _>("event_type").map_err(read)?.into(),
                body: row.try_get::<&str, _>("body").map_err(read)?.into(),
                created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(read)?),
            })
        })
        .transpose()
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, Error> {
        sqlx::query(&self.sql().delivery)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(backend("reading a delivery"))?
            .as_ref()
            .map(delivery_from_row)
            .transpose()
    }

    async fn attempts(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Vec<Attempt>, Error> {
        let rows: Vec<(i64, String)> = sqlx::query_as(&self.sql().attempts)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_all(self.pool())
            .await
            .map_err(backend("reading attempts"))?;
        rows.iter()
            .map(|(seq, record)| records::attempt_from_row(*seq, id, record))
            .collect()
    }

    async fn list_deliveries(
        &self,
        tenant: &TenantId,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> Result<Vec<Delivery>, Error> {
        let mut query = QueryBuilder::<Postgres>::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM {}.deliveries WHERE tenant = ",
            self.sql().schema
        ));
        query.push_bind(tenant.as_str());
        if !filter.statuses.is_empty() {
            let statuses: Vec<&str> = filter.statuses.iter().map(|s| status_text(*s)).collect();
            query
                .push(" AND status = ANY(")
                .push_bind(statuses)
                .push(")");
        }
        if let Some(endpoint) = &filter.endpoint_id {
            query
                .push(" AND endpoint_id = ")
                .push_bind(endpoint.as_str());
        }
        if let Some(event_type) = &filter.event_type {
            query
                .push(" AND event_type = ")
                .push_bind(event_type.as_str());
        }
        if let Some(from) = filter.created_from {
            query
                .push(" AND created_at >= ")
                .push_bind(from.unix_millis());
        }
        if let Some(to) = filter.created_to {
            query.push(" AND created_at < ").push_bind(to.unix_millis());
        }
        push_page(&mut query, page);
        query
            .build()
            .fetch_all(self.pool())
            .await
            .map_err(backend("listing deliveries"))?
            .iter()
            .map(delivery_from_row)
            .collect()
    }

    async fn requeue(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
        now: Timestamp,
    ) -> Result<Delivery, Error> {
        let row = sqlx::query(&self.sql().requeue)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(now.unix_millis())
            .fetch_optional(self.pool())
            .await
            .map_err(backend("queueing a delivery by hand"))?;
        let Some(row) = row else {
            return Err(self.why_not_requeued(tenant, id).await);
        };
        let delivery = delivery_from_row(&row)?;
        self.notify().await?;
        Ok(delivery)
    }

    async fn requeue_failed(
        &self,
        tenant: &TenantId,
        endpoint: Option<&EndpointId>,
        since: Timestamp,
        now: Timestamp,
    ) -> Result<u64, Error> {
        let done = sqlx::query(&self.sql().requeue_failed)
            .bind(tenant.as_str())
            .bind(endpoint.map(EndpointId::as_str))
            .bind(now.unix_millis())
            .bind(since.unix_millis())
            .execute(self.pool())
            .await
            .map_err(backend("queueing failed deliveries by hand"))?;
        if done.rows_affected() > 0 {
            self.notify().await?;
        }
        Ok(done.rows_affected())
    }

    async fn purge_finished(&self, before: Timestamp) -> Result<Purged, Error> {
        self.purge(before).await
    }

    async fn fail_queued(
        &self,
        tenant: &TenantId,
        endpoint: &EndpointId,
        reason: &str,
    ) -> Result<u64, Error> {
        let done = sqlx::query(&self.sql().fail_queued)
            .bind(tenant.as_str())
            .bind(endpoint.as_str())
            .bind(reason)
            .execute(self.pool())
            .await
            .map_err(backend("ending queued deliveries"))?;
        Ok(done.rows_affected())
    }

    fn watch_new_work(&self, wake: Wake) {
        self.listen(wake);
    }
}

impl PostgresStore {
    /// Why `requeue` changed nothing: no such delivery, or one in flight.
    async fn why_not_requeued(&self, tenant: &TenantId, id: &DeliveryId) -> Error {
        let exists = sqlx::query_scalar::<_, bool>(&self.sql().delivery_exists)
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_one(self.pool())
            .await;
        match exists {
            Ok(true) => Error::conflict(
                ConflictKind::DeliveryInFlight,
                format!("delivery {id} is being attempted right now"),
            ),
            Ok(false) => Error::not_found("delivery", id.as_str()),
            Err(e) => backend("queueing a delivery by hand")(e),
        }
    }
}

/// Appends the page's anchor, order and limit (one extra row) to a listing
/// whose `WHERE` clause is open.
pub(super) fn push_page(query: &mut QueryBuilder<'_, Postgres>, page: &PageRequest) {
    let (compare, order) = match page.direction() {
        Direction::Older => (" AND id < ", " ORDER BY id DESC LIMIT "),
        Direction::Newer => (" AND id > ", " ORDER BY id ASC LIMIT "),
    };
    if let Some(anchor) = page.anchor() {
        query.push(compare).push_bind(anchor.to_owned());
    }
    query
        .push(order)
        .push_bind(i64::try_from(page.limit.saturating_add(1)).unwrap_or(i64::MAX));
}
