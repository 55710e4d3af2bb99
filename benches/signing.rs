//! Signing and verification cost against a bare HMAC-SHA256 over the same
//! bytes, measured side by side in one run.
//!
//! The bare baseline is what a naive implementation does per message: key a
//! new HMAC, feed `id.ts.payload`, finalise and base64 the tag. Report
//! `verify / bare_hmac` and `sign / bare_hmac` per payload size.

use std::hint::black_box;

use base64::Engine as _;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use hookshot::{SigningSecret, Verifier};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

const MSG_ID: &str = "msg_2pYxVd8Qk1sMZ0n3JtW7bLcE4fA";
const TIMESTAMP: i64 = 1_700_000_000;
const SIZES: [usize; 3] = [256, 1024, 64 * 1024];

fn bare_hmac(key: &[u8], payload: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(MSG_ID.as_bytes());
    mac.update(b".");
    mac.update(TIMESTAMP.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn headers_for(secret: &SigningSecret, payload: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", HeaderValue::from_static(MSG_ID));
    headers.insert("webhook-timestamp", TIMESTAMP.into());
    let signature = secret.sign(MSG_ID, TIMESTAMP, payload);
    headers.insert(
        "webhook-signature",
        HeaderValue::from_str(&signature).unwrap_or_else(|_| unreachable!()),
    );
    headers
}

fn signing(c: &mut Criterion) {
    let secret = SigningSecret::from_bytes(vec![0x42; 32]).unwrap_or_else(|_| unreachable!());
    let verifier = Verifier::new(secret.clone());
    let mut group = c.benchmark_group("signing");
    for size in SIZES {
        let payload = vec![b'x'; size];
        let headers = headers_for(&secret, &payload);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("bare_hmac", size), &payload, |b, p| {
            b.iter(|| bare_hmac(black_box(secret.as_bytes()), black_box(p)));
        });
        group.bench_with_input(BenchmarkId::new("sign", size), &payload, |b, p| {
            b.iter(|| secret.sign(black_box(MSG_ID), black_box(TIMESTAMP), black_box(p)));
        });
        group.bench_with_input(BenchmarkId::new("verify", size), &payload, |b, p| {
            b.iter(|| verifier.verify_at(black_box(&headers), black_box(p), TIMESTAMP));
        });
        let signature = secret.sign(MSG_ID, TIMESTAMP, &payload);
        group.bench_with_input(BenchmarkId::new("verify_parts", size), &payload, |b, p| {
            b.iter(|| {
                verifier.verify_parts_at(
                    black_box(MSG_ID),
                    black_box("1700000000"),
                    black_box(&signature),
                    black_box(p),
                    TIMESTAMP,
                )
            });
        });
    }
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
