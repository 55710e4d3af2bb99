//! hookshot's main example: declares an event catalog, registers an endpoint
//! for a local receiver, signs a few events with the endpoint's secrets,
//! posts them, and checks that the receiver verified every one.
//!
//! The dispatcher (retries, delivery history) is not in the crate yet; until
//! it is, this example posts the signed requests itself.
//!
//! ```sh
//! cargo run --example quickstart
//! ```
//!
//! Everything runs in this process on loopback; it exits 0 when every
//! webhook was delivered and verified.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookshot::model::{EventType, NewEndpoint, TenantId};
use hookshot::{Verifier, Webhooks, signature};

/// What the receiver saw: each webhook-id with whether it verified.
type Seen = Arc<Mutex<Vec<(String, Result<(), String>)>>>;

struct Receiver {
    verifier: Verifier,
    seen: Seen,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let outcome = receiver
        .verifier
        .verify(&headers, &body)
        .map_err(|e| e.to_string());
    let status = if outcome.is_ok() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    };
    let id = headers
        .get(signature::WEBHOOK_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("?")
        .to_owned();
    if let Ok(mut seen) = receiver.seen.lock() {
        seen.push((id, outcome));
    }
    status
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let webhooks = Webhooks::in_memory()
        // The receiver is on loopback over plain http: a development setup.
        .allow_http(true)
        .event_types([
            EventType::new("invoice.created")?.title("Invoice created"),
            EventType::new("invoice.paid")?.title("Invoice paid"),
            EventType::new("customer.updated")?.title("Customer updated"),
        ])
        .build()
        .await?;
    let tenant = TenantId::new("acme")?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks", listener.local_addr()?);
    let created = webhooks
        .create_endpoint(
            &tenant,
            NewEndpoint::new(&url)
                .name("Acme billing")
                .event_types(["invoice.*", "customer.updated"]),
            Some("quickstart-endpoint"),
        )
        .await?;
    println!("endpoint {} -> {url}", created.endpoint.id);

    // The customer stores the secret shown once at creation and verifies with it.
    let seen = Seen::default();
    let receiver = Arc::new(Receiver {
        verifier: Verifier::new(created.signing_secret.clone()),
        seen: seen.clone(),
    });
    let app = Router::new()
        .route("/webhooks", post(receive))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = reqwest::Client::new();
    let events = [
        ("invoice.created", r#"{"invoice":"in_1","amount":4200}"#),
        ("invoice.paid", r#"{"invoice":"in_1"}"#),
        ("customer.updated", r#"{"customer":"cus_7","name":"Zoë"}"#),
    ];
    println!("{:<10} {:<18} {:>6}", "id", "event type", "status");
    for (n, (event_type, data)) in events.iter().enumerate() {
        let id = format!("msg_{n}");
        let timestamp = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
        let body = format!(r#"{{"type":"{event_type}","timestamp":"{timestamp}","data":{data}}}"#);
        let secrets = webhooks
            .signing_secrets(&tenant, &created.endpoint.id)
            .await?;
        let response = client
            .post(&url)
            .header(signature::WEBHOOK_ID, &id)
            .header(signature::WEBHOOK_TIMESTAMP, timestamp)
            .header(
                signature::WEBHOOK_SIGNATURE,
                signature::sign_all(&secrets, &id, timestamp, body.as_bytes()),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        println!(
            "{id:<10} {event_type:<18} {:>6}",
            response.status().as_u16()
        );
    }

    let seen = seen.lock().map_err(|_| "receiver state poisoned")?;
    let verified = seen.iter().filter(|(_, outcome)| outcome.is_ok()).count();
    for (id, outcome) in seen.iter() {
        if let Err(reason) = outcome {
            eprintln!("{id}: receiver rejected it: {reason}");
        }
    }
    println!(
        "{verified}/{} webhooks verified by the receiver",
        events.len()
    );
    if verified != events.len() {
        return Err("some webhooks were not verified".into());
    }
    Ok(())
}
