//! Endpoints: create, read, update, enable and disable, delete; then the
//! backend's own part of it, called directly.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::error::Error;
use crate::model::{
    CreatedEndpoint, Endpoint, EndpointFilter, EndpointStatus, PageRequest, StatusFilter,
    StoredEndpoint, UpdateEndpoint,
};
use crate::signing::SigningSecret;
use crate::store::{Inserted, Store};

use super::fixtures::{
    CREATE_SCOPE, SECOND, START, assert_conflict, assert_not_found, endpoint_request,
    full_endpoint_request, only, status_filter, string_map, string_set, tenant,
};
use super::harness::Harness;
use super::raw_records::{
    idempotency_record, insert_raw_endpoint, raw_endpoint, raw_endpoint_id, read_endpoint,
    rich_endpoint,
};

/// Create returns the secret once; reads return the endpoint as created and
/// never the secret.
pub async fn create_get_round_trip(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(full_endpoint_request()).await;
    let expected = Endpoint {
        id: created.endpoint.id.clone(),
        tenant: h.tenant.clone(),
        name: "Billing".into(),
        description: "Invoices for accounting".into(),
        url: "https://billing.example.com/hooks".into(),
        event_types: Some(string_set(&["customer.*", "invoice.paid"])),
        status: EndpointStatus::Active,
        timeout: Duration::from_secs(10),
        rate_limit: Some(50),
        headers: string_map(&[("x-trace", "abc")]),
        metadata: string_map(&[("plan", "pro")]),
        has_signing_secret: true,
        created_at: START,
        updated_at: START,
        last_triggered_at: None,
    };
    assert_eq!(created.endpoint, expected, "create returned other fields");
    let secret = created.signing_secret.expose();
    assert!(
        secret.starts_with("whsec_"),
        "secret {secret:?} is not whsec_"
    );

    let read = h.endpoint(&expected.id).await;
    assert_eq!(read, expected, "a read differs from what create returned");
    let json = serde_json::to_string(&read).expect("an endpoint serialises");
    assert!(
        !json.contains(&secret["whsec_".len()..]),
        "a read endpoint carries its secret: {json}"
    );
    assert_eq!(
        h.signing_secrets(&expected.id).await,
        [secret],
        "the stored secret differs"
    );
    check_defaults_and_supplied_secret(&h, &created).await;
}

async fn check_defaults_and_supplied_secret(h: &Harness, first: &CreatedEndpoint) {
    let supplied = SigningSecret::generate().expect("a secret");
    let second = h.create(endpoint_request(2).secret(supplied.clone())).await;
    assert_ne!(
        second.endpoint.id, first.endpoint.id,
        "two creates gave one id"
    );
    assert_eq!(
        second.signing_secret, supplied,
        "a supplied secret was replaced"
    );
    assert_eq!(
        h.signing_secrets(&second.endpoint.id).await,
        [supplied.expose()]
    );
    assert_eq!(
        second.endpoint.timeout,
        Duration::from_secs(15),
        "default timeout"
    );
    assert_eq!(
        second.endpoint.event_types, None,
        "no filter means every event"
    );
    let third = h.create(endpoint_request(3)).await;
    assert_ne!(
        third.signing_secret, first.signing_secret,
        "two generated secrets are equal"
    );
}

/// An update changes exactly the supplied fields, replaces the event filter
/// and advances `updated_at`.
pub async fn update_changes_only_supplied_fields(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let created = h.create(full_endpoint_request()).await;
    let id = created.endpoint.id.clone();
    let mut expected = created.endpoint.clone();

    h.advance(SECOND);
    expected.name = "Renamed".into();
    expected.updated_at = h.now();
    let updated = h.update(&id, UpdateEndpoint::new().name("Renamed")).await;
    assert_eq!(
        updated, expected,
        "a name-only update changed more than the name"
    );

    h.advance(SECOND);
    expected.event_types = Some(string_set(&["refund.issued"]));
    expected.updated_at = h.now();
    let updated = h
        .update(&id, UpdateEndpoint::new().event_types(["refund.issued"]))
        .await;
    assert_eq!(updated, expected, "the event filter was not replaced");

    h.advance(SECOND);
    expected.event_types = None;
    expected.updated_at = h.now();
    let updated = h.update(&id, UpdateEndpoint::new().all_event_types()).await;
    assert_eq!(
        updated, expected,
        "all_event_types did not clear the filter"
    );

    h.advance(SECOND);
    let rest = update_every_other_field(&mut expected, h.now());
    assert_eq!(h.update(&id, rest).await, expected, "a full update");
    assert_eq!(h.endpoint(&id).await, expected, "a read after the updates");
    let secret = created.signing_secret.expose();
    assert_eq!(
        h.signing_secrets(&id).await,
        [secret],
        "an update touched the secret"
    );
}

fn update_every_other_field(expected: &mut Endpoint, now: Timestamp) -> UpdateEndpoint {
    expected.url = "https://new.example.com/in".into();
    expected.description = "moved".into();
    expected.timeout = Duration::from_secs(30);
    expected.headers = string_map(&[("x-new", "1")]);
    expected.metadata = string_map(&[("team", "ops")]);
    expected.updated_at = now;
    UpdateEndpoint::new()
        .url("https://new.example.com/in")
        .description("moved")
        .timeout(Duration::from_secs(30))
        .headers(string_map(&[("X-New", "1")]))
        .metadata(string_map(&[("team", "ops")]))
}

/// Disabling and enabling change the status and what status filters list.
pub async fn enable_and_disable(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let id = h.create(endpoint_request(1)).await.endpoint.id;
    h.advance(SECOND);
    let disabled_at = h.now();
    let endpoint = h.update(&id, UpdateEndpoint::new().enabled(false)).await;
    assert!(
        matches!(&endpoint.status, EndpointStatus::Disabled { since, .. } if *since == disabled_at),
        "disabling gave {:?}",
        endpoint.status
    );
    assert_eq!(
        h.endpoint(&id).await,
        endpoint,
        "the disabled state was not stored"
    );
    assert_eq!(
        h.list(&status_filter(StatusFilter::Disabled)).await,
        only(&id)
    );
    assert!(
        h.list(&status_filter(StatusFilter::Active))
            .await
            .is_empty(),
        "active"
    );

    h.advance(SECOND);
    let again = h.update(&id, UpdateEndpoint::new().enabled(false)).await;
    assert_eq!(
        again.status, endpoint.status,
        "disabling twice moved `since`"
    );

    let enabled = h.update(&id, UpdateEndpoint::new().enabled(true)).await;
    assert_eq!(enabled.status, EndpointStatus::Active, "enabling");
    assert_eq!(
        h.endpoint(&id).await.status,
        EndpointStatus::Active,
        "enabled state"
    );
    assert_eq!(h.list(&status_filter(StatusFilter::Active)).await, [id]);

    let off = h.create(endpoint_request(2).enabled(false)).await.endpoint;
    assert!(
        matches!(off.status, EndpointStatus::Disabled { since, .. } if since == h.now()),
        "created disabled gave {:?}",
        off.status
    );
    assert_eq!(
        h.list(&status_filter(StatusFilter::Disabled)).await,
        [off.id]
    );
}

/// Delete hides the endpoint from every read and change, and only it.
pub async fn delete_is_soft_and_final(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let gone = h.create(endpoint_request(1)).await.endpoint.id;
    let kept = h.create(endpoint_request(2)).await.endpoint;
    h.advance(SECOND);
    h.delete(&gone).await;

    let (w, t) = (&h.webhooks, &h.tenant);
    assert_not_found(w.endpoint(t, &gone).await, "reading a deleted endpoint");
    let rename = UpdateEndpoint::new().name("x");
    assert_not_found(w.update_endpoint(t, &gone, rename).await, "updating it");
    assert_not_found(w.rotate_secret(t, &gone).await, "rotating its secret");
    assert_not_found(w.signing_secrets(t, &gone).await, "reading its secrets");
    assert_not_found(w.delete_endpoint(t, &gone).await, "deleting it twice");
    let direct = read_endpoint(h.store(), t, &gone).await;
    assert!(direct.is_none(), "the store returns a deleted endpoint");

    assert_eq!(h.list_all().await, only(&kept.id), "list after delete");
    assert_eq!(h.subscribers("invoice.paid").await, only(&kept.id));
    assert_eq!(
        h.endpoint(&kept.id).await,
        kept,
        "deleting one changed another"
    );
}

// The backend itself, called directly.

/// Every field of a stored endpoint, secrets included, comes back as stored.
pub async fn backend_round_trips_every_field(store: Arc<dyn Store>) {
    let t = tenant("acme");
    let rich = rich_endpoint(&t);
    let plain = raw_endpoint(&t, 3);
    for stored in [&rich, &plain] {
        let inserted = insert_raw_endpoint(&store, stored.clone(), None).await;
        assert_eq!(inserted.expect("insert"), Inserted::Created, "inserting");
    }
    let id = &rich.endpoint.id;
    assert_eq!(
        read_endpoint(&store, &t, id).await.as_ref(),
        Some(&rich),
        "read back"
    );
    let page = PageRequest::first().limit(10);
    let listed = store
        .list_endpoints(&t, &EndpointFilter::default(), &page)
        .await;
    assert_eq!(
        listed.expect("list"),
        [rich, plain],
        "listed back, id descending"
    );
}

/// An id that exists (even deleted) is a Conflict, which stores neither the
/// endpoint nor its idempotency record.
pub async fn backend_duplicate_id_conflicts(store: Arc<dyn Store>) {
    let t = tenant("acme");
    let original = raw_endpoint(&t, 1);
    insert_raw_endpoint(&store, original.clone(), None)
        .await
        .expect("first insert");
    let mut twin = raw_endpoint(&t, 1);
    twin.endpoint.name = "twin".into();
    let key = idempotency_record(&t, CREATE_SCOPE, "k", START);
    assert_conflict(
        insert_raw_endpoint(&store, twin, Some(key.clone())).await,
        "a duplicate id",
    );
    assert_eq!(
        read_endpoint(&store, &t, &raw_endpoint_id(1)).await,
        Some(original),
        "after the conflict"
    );
    let fresh = insert_raw_endpoint(&store, raw_endpoint(&t, 2), Some(key)).await;
    assert_eq!(
        fresh.expect("insert"),
        Inserted::Created,
        "the failed insert kept its key"
    );

    let delete = |s: &mut StoredEndpoint| -> Result<(), Error> {
        s.deleted_at = Some(START);
        Ok(())
    };
    store
        .update_endpoint(&t, &raw_endpoint_id(2), &delete)
        .await
        .expect("soft delete");
    let again = insert_raw_endpoint(&store, raw_endpoint(&t, 2), None).await;
    assert_conflict(again, "reusing a deleted endpoint's id");
}

/// A change that fails stores nothing; one that succeeds is returned and
/// stored; missing or foreign ids are NotFound.
pub async fn backend_failed_change_stores_nothing(store: Arc<dyn Store>) {
    let t = tenant("acme");
    let original = raw_endpoint(&t, 1);
    insert_raw_endpoint(&store, original.clone(), None)
        .await
        .expect("insert");
    let refuse = |s: &mut StoredEndpoint| -> Result<(), Error> {
        s.endpoint.name = "half-done".into();
        Err(Error::invalid("name", "refused by the change"))
    };
    match store
        .update_endpoint(&t, &raw_endpoint_id(1), &refuse)
        .await
    {
        Err(Error::InvalidInput { reason, .. }) => assert_eq!(reason, "refused by the change"),
        other => panic!("a failing change returned {other:?}"),
    }
    assert_eq!(
        read_endpoint(&store, &t, &raw_endpoint_id(1)).await,
        Some(original),
        "after a failed change"
    );

    let rename = |s: &mut StoredEndpoint| -> Result<(), Error> {
        s.endpoint.name = "renamed".into();
        Ok(())
    };
    let changed = store
        .update_endpoint(&t, &raw_endpoint_id(1), &rename)
        .await
        .expect("update");
    assert_eq!(changed.endpoint.name, "renamed", "the returned record");
    assert_eq!(
        read_endpoint(&store, &t, &raw_endpoint_id(1)).await,
        Some(changed),
        "the stored record"
    );
    let missing = store
        .update_endpoint(&t, &raw_endpoint_id(9), &rename)
        .await;
    assert_not_found(missing, "changing a missing id");
    let foreign = store
        .update_endpoint(&tenant("globex"), &raw_endpoint_id(1), &rename)
        .await;
    assert_not_found(foreign, "changing another tenant's endpoint");
}
