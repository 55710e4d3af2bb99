//! A webhook receiver that verifies every request.
//!
//! ```sh
//! HOOKSHOT_SECRET=whsec_... cargo run --example receiver
//! ```
//!
//! It listens on 127.0.0.1:3000 (or `PORT`) and answers `204` to requests
//! whose signature verifies and `401` with the reason otherwise. It verifies
//! the raw body bytes: never verify JSON you parsed and serialised again.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hookshot::{SigningSecret, Verifier};

async fn receive(
    State(verifier): State<Arc<Verifier>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    match verifier.verify(&headers, &body) {
        Ok(()) => {
            let id = headers.get("webhook-id").and_then(|v| v.to_str().ok());
            println!("verified {} ({} bytes)", id.unwrap_or("?"), body.len());
            (StatusCode::NO_CONTENT, String::new())
        }
        Err(reason) => {
            eprintln!("rejected: {reason}");
            (StatusCode::UNAUTHORIZED, reason.to_string())
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = match std::env::var("HOOKSHOT_SECRET") {
        Ok(text) => text.parse::<SigningSecret>()?,
        Err(_) => {
            let secret = SigningSecret::generate()?;
            println!("HOOKSHOT_SECRET not set; generated {}", secret.expose());
            secret
        }
    };
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let app = Router::new()
        .route("/webhooks", post(receive))
        .with_state(Arc::new(Verifier::new(secret)));
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}/webhooks", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
