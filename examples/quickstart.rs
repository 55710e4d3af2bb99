//! hookshot's main example, everything in one process on loopback:
//!
//! - a local receiver with two URLs, one healthy and one that fails twice
//!   before it recovers, verifying every request's signature;
//! - two endpoints registered for them, and a few events sent;
//! - the dispatcher delivering them on a short demo retry schedule, with the
//!   delivery table printed as it changes.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! It exits 0 once every delivery is delivered and every request verified.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookshot::dispatcher::Dispatcher;
use hookshot::model::{
    DeliveryFilter, DeliveryStatus, EventType, NewEndpoint, PageRequest, TenantId,
};
use hookshot::retry::RetrySchedule;
use hookshot::{CreateOptions, Verifier, Webhooks};

/// The receiver: a verifier per path, and what it saw.
#[derive(Default)]
struct Receiver {
    verifiers: Mutex<HashMap<String, Verifier>>,
    flaky_failures_left: AtomicUsize,
    verified: AtomicUsize,
    rejected: AtomicUsize,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let verdict = match receiver.verifiers.lock() {
        Ok(verifiers) => verifiers.get(&path).map(|v| v.verify(&headers, &body)),
        Err(_) => None,
    };
    match verdict {
        Some(Ok(())) => receiver.verified.fetch_add(1, Ordering::SeqCst),
        _ => receiver.rejected.fetch_add(1, Ordering::SeqCst),
    };
    let fail = path == "flaky"
        && receiver
            .flaky_failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let webhooks = Arc::new(
        Webhooks::in_memory()
            // The receiver is plain http on loopback: a development setup.
            // This one switch accepts its http:// URL and lets the
            // dispatcher's default transport reach loopback. Never in
            // production.
            .local_development(true)
            .event_types([
                EventType::new("invoice.created")?.title("Invoice created"),
                EventType::new("invoice.paid")?.title("Invoice paid"),
                EventType::new("customer.updated")?.title("Customer updated"),
            ])
            .build()
            .await?,
    );
    let tenant = TenantId::new("acme")?;

    let receiver = Arc::new(Receiver {
        flaky_failures_left: AtomicUsize::new(2),
        ..Receiver::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    for (path, events) in [
        ("healthy", vec!["invoice.*", "customer.updated"]),
        ("flaky", vec!["invoice.paid"]),
    ] {
        let created = webhooks
            .create_endpoint_with(
                &tenant,
                NewEndpoint::new(format!("{base}/{path}"))
                    .name(path)
                    .event_types(events),
                CreateOptions::new().idempotency_key(path),
            )
            .await?;
        println!(
            "endpoint {:<8} {} -> {base}/{path}",
            path, created.endpoint.id
        );
        // The customer keeps the secret shown once at creation.
        let verifier = Verifier::new(created.signing_secret);
        receiver
            .verifiers
            .lock()
            .map_err(|_| "receiver poisoned")?
            .insert(path.to_owned(), verifier);
    }
    let app = Router::new()
        .route("/{path}", post(receive))
        .with_state(Arc::clone(&receiver));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dispatcher = Dispatcher::builder(Arc::clone(&webhooks))
        .configure(|c| {
            c.retry_schedule = demo_schedule();
            c.poll_interval = Duration::from_millis(50);
        })
        .build()?;
    let handle = dispatcher.spawn();

    for (event_type, data) in [
        ("invoice.created", r#"{"invoice":"in_1","amount":4200}"#),
        ("invoice.paid", r#"{"invoice":"in_1"}"#),
        ("customer.updated", r#"{"customer":"cus_7","name":"Zoë"}"#),
    ] {
        let sent = webhooks.send(&tenant, event_type, data).await?;
        println!(
            "sent {event_type:<16} as {} to {} endpoint(s)",
            sent.event_id, sent.deliveries
        );
    }

    let all_delivered = watch_deliveries(&webhooks, &tenant).await?;
    handle.shutdown(Duration::from_secs(1)).await;

    let verified = receiver.verified.load(Ordering::SeqCst);
    let rejected = receiver.rejected.load(Ordering::SeqCst);
    println!("receiver verified {verified} request(s), rejected {rejected}");
    if !all_delivered || rejected > 0 {
        return Err("not everything was delivered and verified".into());
    }
    println!("all delivered");
    Ok(())
}

/// Retries after 200 ms, 400 ms and 800 ms: the standard schedule spans
/// 28 hours, too long for a demo.
fn demo_schedule() -> RetrySchedule {
    RetrySchedule::new([200, 400, 800].map(Duration::from_millis))
        .unwrap_or_else(|_| RetrySchedule::standard())
}

/// Prints the delivery table whenever it changes, until every delivery is
/// delivered (true) or ten seconds pass (false).
async fn watch_deliveries(webhooks: &Webhooks, tenant: &TenantId) -> Result<bool, hookshot::Error> {
    let mut last = String::new();
    for _ in 0..200 {
        let page = webhooks
            .list_deliveries(tenant, &DeliveryFilter::default(), &PageRequest::first())
            .await?;
        let mut table = format!(
            "{:<32} {:<18} {:<10} {:>8} {:>5}\n",
            "delivery", "event type", "status", "attempts", "code"
        );
        for d in page.data.iter().rev() {
            let code = d
                .last_response_status
                .map_or("-".to_owned(), |c| c.to_string());
            let status = format!("{:?}", d.status).to_lowercase();
            table += &format!(
                "{:<32} {:<18} {:<10} {:>8} {:>5}\n",
                d.id,
                d.event_type(),
                status,
                d.attempts,
                code
            );
        }
        if table != last {
            println!("\n{table}");
            last = table;
        }
        if page
            .data
            .iter()
            .all(|d| d.status == DeliveryStatus::Delivered)
        {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}
