//! Leases renewed while their attempts run (capability `renew_leases`).

use std::slice;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::{ConflictKind, Error};
use crate::model::DeliveryStatus;
use crate::store::{Claim, Lease, Store};

use super::fixtures::{START, sorted, start_plus, tenant};
use super::worker::{
    AttemptEnd, LEASE, attempt_record, attempts_of, claim_at, claimed_ids, enqueue_raw,
    finish_claim, next_due, stored_delivery,
};

/// The moment `n` seconds after [`START`].
fn at_second(n: u64) -> Timestamp {
    start_plus(Duration::from_secs(n))
}

/// `renew_leases` extends the hold of the leases that still hold, answering
/// lease by lease, and only theirs: a renewed delivery is neither claimed
/// nor requeued by hand until the renewal ends, which a shorter renewal
/// does not bring forward. The worker goes on with the leases its claim
/// returned: they still record and release. Once a renewal runs out the
/// delivery is taken over, and the old lease renews and records no more.
pub async fn renew_leases_extends_only_leases_still_held(store: Arc<dyn Store>) {
    let t = tenant("acme");
    let dues: Vec<(u32, Timestamp)> = (1..=4).map(|n| (n, START)).collect();
    enqueue_raw(&store, &t, 1, &dues).await;
    // Leased until START + LEASE (30 s), by id as all are due at once.
    let claims = claim_at(&store, "w1", START, 10).await;
    let [kept, released, taken, finished] = claims.as_slice() else {
        panic!("expected four claims, got {claims:?}");
    };
    assert_eq!(LEASE, Duration::from_secs(30), "the times below");
    finish_claim(&store, finished, AttemptEnd::Delivered, at_second(1)).await;
    let leases = [kept, released, taken, finished].map(|c| c.lease.clone());
    let answer = renew(&store, &leases, at_second(50)).await;
    assert_eq!(
        answer,
        [true, true, true, false],
        "renewing three held leases and a finished one"
    );
    assert_eq!(
        renew(&store, &[], at_second(50)).await,
        Vec::<bool>::new(),
        "renewing no lease"
    );

    // Past the end of the leases as claimed, but not of their renewal.
    let claimed = claim_at(&store, "w2", at_second(40), 10).await;
    assert!(
        claimed.is_empty(),
        "claimed once the leases as claimed ran out, though renewed: {claimed:?}"
    );
    assert_eq!(
        next_due(&store).await,
        Some(at_second(50)),
        "due when renewed"
    );
    let id = &kept.delivery.id;
    match store.requeue(&t, id, at_second(40)).await {
        Err(Error::Conflict {
            kind: ConflictKind::DeliveryInFlight,
            ..
        }) => {}
        other => panic!(
            "requeueing {id} under a renewed lease: expected DeliveryInFlight, got {other:?}"
        ),
    }
    let shorter = renew(&store, slice::from_ref(&kept.lease), at_second(45)).await;
    assert_eq!(shorter, [true], "a shorter renewal of a held lease");
    assert_eq!(
        next_due(&store).await,
        Some(at_second(50)),
        "after a shorter renewal"
    );

    // The worker releases with the lease it was handed.
    let id = &released.delivery.id;
    store
        .release(&released.lease, at_second(40))
        .await
        .unwrap_or_else(|e| panic!("releasing {id} failed: {e}"));
    let stored = stored_delivery(&store, &t, id).await.expect("released");
    assert_eq!(stored.status, DeliveryStatus::Pending, "{id} released");
    assert_eq!(stored.next_attempt_at, Some(at_second(40)), "{id} released");
    assert_eq!(
        renew(&store, slice::from_ref(&released.lease), at_second(90)).await,
        [false],
        "renewing a released lease"
    );

    // One more renewal for `kept`; `taken` runs out at 50 s and is taken
    // over, with `released`, which is due.
    assert_eq!(
        renew(&store, slice::from_ref(&kept.lease), at_second(80)).await,
        [true]
    );
    let claimed = claim_at(&store, "w2", at_second(50), 10).await;
    let expected = [&released.delivery.id, &taken.delivery.id].map(Clone::clone);
    assert_eq!(
        sorted(claimed_ids(&claimed)),
        sorted(expected.to_vec()),
        "claimed at 50 s"
    );
    let both = [taken.lease.clone(), claimed_lease(&claimed, &taken.lease)];
    assert_eq!(
        renew(&store, &both, at_second(100)).await,
        [false, true],
        "the lease taken over and the new one, in one batch"
    );
    let (attempt, next) = attempt_record(&taken.delivery, AttemptEnd::Delivered, at_second(51));
    let late = store.finish_attempt(&taken.lease, attempt, next).await;
    assert!(
        !late.expect("finishing under a lease taken over"),
        "a lease taken over recorded its attempt"
    );

    // The renewed lease records with the lease as claimed.
    finish_claim(&store, kept, AttemptEnd::Delivered, at_second(60)).await;
    let id = &kept.delivery.id;
    assert_eq!(
        attempts_of(&store, &t, id).await.len(),
        1,
        "attempts at {id}"
    );
    assert_eq!(
        renew(&store, slice::from_ref(&kept.lease), at_second(90)).await,
        [false],
        "renewing a lease after its attempt was recorded"
    );
}

/// The lease `claimed` holds on the delivery of `old`.
fn claimed_lease(claimed: &[Claim], old: &Lease) -> Lease {
    claimed
        .iter()
        .find(|c| c.delivery.id == old.delivery_id)
        .map(|c| c.lease.clone())
        .unwrap_or_else(|| panic!("{} was not claimed", old.delivery_id))
}

async fn renew(store: &Arc<dyn Store>, leases: &[Lease], until: Timestamp) -> Vec<bool> {
    store
        .renew_leases(leases, until)
        .await
        .unwrap_or_else(|e| panic!("renew_leases until {until} failed: {e}"))
}
