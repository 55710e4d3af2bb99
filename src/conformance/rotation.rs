//! Signing-secret rotation: retired secrets keep signing for their grace.

use std::sync::Arc;
use std::time::Duration;

use crate::model::EndpointSecrets;
use crate::store::Store;
use crate::webhooks::DEFAULT_ROTATION_GRACE;

use super::fixtures::{HOUR, MS, SECOND, endpoint_request};
use super::harness::Harness;

/// Rotated-out secrets sign alongside the new one, newest first, until their
/// grace ends.
pub async fn rotation_keeps_old_secret_for_grace(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(endpoint_request(1)).await;
    let id = &created.endpoint.id;
    let s0 = created.signing_secret.expose();
    h.advance(SECOND);
    let s1 = h.rotate(id).await;
    assert_ne!(s1, s0, "rotation kept the secret");
    assert_eq!(
        h.signing_secrets(id).await,
        [s1.clone(), s0.clone()],
        "after a rotation"
    );
    let endpoint = h.endpoint(id).await;
    assert!(
        endpoint.has_signing_secret,
        "has_signing_secret after rotation"
    );
    assert_eq!(
        endpoint.updated_at,
        h.now(),
        "rotation did not advance updated_at"
    );

    let half = DEFAULT_ROTATION_GRACE / 2;
    h.advance(half);
    let s2 = h.rotate(id).await;
    assert_eq!(
        h.signing_secrets(id).await,
        [s2.clone(), s1.clone(), s0],
        "two rotations"
    );
    h.advance(half - MS);
    assert_eq!(
        h.signing_secrets(id).await.len(),
        3,
        "the first grace ended early"
    );
    h.advance(MS);
    assert_eq!(
        h.signing_secrets(id).await,
        [s2.clone(), s1],
        "the first grace is over"
    );
    h.advance(half);
    assert_eq!(h.signing_secrets(id).await, [s2], "every grace is over");
}

/// With no grace the old secret stops at once; earlier retired ones keep
/// theirs.
pub async fn rotation_with_zero_grace(store: Arc<dyn Store>) {
    let h = Harness::configured(store, |b| b.rotation_grace(Duration::ZERO)).await;
    let created = h.create(endpoint_request(1)).await;
    let id = &created.endpoint.id;
    let s1 = h.rotate(id).await;
    assert_eq!(
        h.signing_secrets(id).await,
        [s1.as_str()],
        "configured zero grace"
    );

    let with = async |grace| {
        let secret = h
            .webhooks
            .rotate_secret_with_grace(&h.tenant, id, grace)
            .await;
        secret.expect("rotating with a grace").expose()
    };
    let s2 = with(HOUR).await;
    assert_eq!(
        h.signing_secrets(id).await,
        [s2, s1.clone()],
        "an hour's grace"
    );
    let s3 = with(Duration::ZERO).await;
    assert_eq!(
        h.signing_secrets(id).await,
        [s3, s1],
        "zero grace keeps earlier retired"
    );
}

/// However often it rotates, an endpoint keeps at most ten retired secrets,
/// the newest.
pub async fn rotation_keeps_at_most_ten_retired(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(endpoint_request(1)).await;
    let id = &created.endpoint.id;
    let mut all = vec![created.signing_secret.expose()];
    for _ in 0..12 {
        h.advance(SECOND);
        all.push(h.rotate(id).await);
    }
    let newest: Vec<String> = all.iter().rev().take(11).cloned().collect();
    assert_eq!(
        h.signing_secrets(id).await,
        newest,
        "current and the ten newest retired"
    );
    let retired = h.stored_endpoint(id).await.secrets.retired.len();
    assert_eq!(
        retired,
        EndpointSecrets::MAX_RETIRED,
        "retired secrets stored"
    );
}
