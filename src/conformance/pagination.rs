//! Endpoint listings page by page: order, cursors, limits and filters, also
//! while the listing changes.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::error::Error;
use crate::id::EndpointId;
use crate::model::{
    Cursor, Direction, Endpoint, EndpointFilter, NewEndpoint, Page, PageRequest, StatusFilter,
    StoredEndpoint,
};
use crate::store::Store;

use super::fixtures::{START, endpoint_request, ids_of, newest_first, status_filter, tenant};
use super::harness::Harness;
use super::paging::{check_forward_cursors, check_walked_back, reparse_cursor};
use super::raw_records::{insert_raw_endpoint, raw_endpoint, raw_endpoint_id};
fn subscribed_to(event_type: &str) -> EndpointFilter {
    EndpointFilter {
        status: None,
        event_type: Some(event_type.to_owned()),
        ..EndpointFilter::default()
    }
}

fn ids_of_pages(pages: &[Page<Endpoint>]) -> Vec<EndpointId> {
    pages.iter().flat_map(|p| ids_of(&p.data)).collect()
}

/// Pages of 5 over 23 endpoints, forward then back: newest first, each
/// endpoint once, cursors only where there is more.
pub async fn pagination_walks_forward_and_back(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let expected = newest_first(&h.create_many(23).await);
    let pages = h.walk_forward(&EndpointFilter::default(), 5).await;
    let sizes: Vec<usize> = pages.iter().map(|p| p.data.len()).collect();
    assert_eq!(sizes, [5, 5, 5, 5, 3], "page sizes");
    assert_eq!(ids_of_pages(&pages), expected, "forward walk");
    check_forward_cursors(&pages);

    let back = h.walk_back(&pages[4], 5).await;
    assert_eq!(back.len(), 4, "pages behind the last one");
    check_walked_back(&pages, &back, |e| e.id.clone());
}

/// Empty listings, page-size multiples, and the largest page.
pub async fn pagination_edges_and_limits(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let all = EndpointFilter::default();
    let empty = h.endpoint_page(&all, &PageRequest::first()).await;
    assert!(empty.data.is_empty(), "an empty tenant lists endpoints");
    assert!(
        empty.next_cursor.is_none() && empty.prev_cursor.is_none(),
        "empty cursors"
    );

    let expected = newest_first(&h.create_many(10).await);
    let pages = h.walk_forward(&all, 5).await;
    assert_eq!(pages.len(), 2, "10 endpoints in pages of 5");
    assert_eq!(ids_of_pages(&pages), expected);
    let whole = h.endpoint_page(&all, &PageRequest::first().limit(10)).await;
    assert_eq!(
        ids_of(&whole.data),
        expected,
        "one page of exactly the limit"
    );
    assert!(
        whole.next_cursor.is_none(),
        "a full last page has a next_cursor"
    );
    let max = h
        .endpoint_page(&all, &PageRequest::first().limit(250))
        .await;
    assert_eq!(ids_of(&max.data), expected, "limit 250");
}

/// What each endpoint of the filter fixture is, and how it is created.
fn filter_kinds(round: usize) -> Vec<(&'static str, NewEndpoint)> {
    let n = |k: usize| endpoint_request(round * 10 + k);
    vec![
        ("all", n(0)),
        ("all-off", n(1).enabled(false)),
        ("paid", n(2).event_types(["invoice.paid"])),
        (
            "paid-off",
            n(3).event_types(["invoice.paid"]).enabled(false),
        ),
        ("invoice-group", n(4).event_types(["invoice.*"])),
        ("customer-group", n(5).event_types(["customer.*"])),
        ("refund", n(6).event_types(["refund.issued"])),
        ("deleted", n(7)),
    ]
}

type LabelledEndpoints = Vec<(&'static str, EndpointId)>;

async fn create_filter_fixture(h: &Harness) -> LabelledEndpoints {
    let mut made = Vec::new();
    for round in 0..3 {
        for (kind, new) in filter_kinds(round) {
            let id = h.create(new).await.endpoint.id;
            if kind == "deleted" {
                h.delete(&id).await;
            }
            made.push((kind, id));
        }
    }
    made
}

fn ids_of_kinds(made: &LabelledEndpoints, kinds: &[&str]) -> Vec<EndpointId> {
    let ids: Vec<EndpointId> = made
        .iter()
        .filter(|(kind, _)| kinds.contains(kind))
        .map(|(_, id)| id.clone())
        .collect();
    newest_first(&ids)
}

/// Each query of the filter fixture: what, the filter, the kinds it lists.
fn filter_queries() -> Vec<(&'static str, EndpointFilter, Vec<&'static str>)> {
    let both = EndpointFilter {
        status: Some(StatusFilter::Disabled),
        event_type: Some("invoice.paid".into()),
        ..EndpointFilter::default()
    };
    let active = ["all", "paid", "invoice-group", "customer-group", "refund"];
    let mut live = active.to_vec();
    live.extend(["all-off", "paid-off"]);
    vec![
        ("no filter", EndpointFilter::default(), live),
        (
            "active",
            status_filter(StatusFilter::Active),
            active.to_vec(),
        ),
        (
            "disabled",
            status_filter(StatusFilter::Disabled),
            vec!["all-off", "paid-off"],
        ),
        (
            "invoice.paid",
            subscribed_to("invoice.paid"),
            vec!["all", "all-off", "paid", "paid-off", "invoice-group"],
        ),
        (
            "invoice.created",
            subscribed_to("invoice.created"),
            vec!["all", "all-off", "invoice-group"],
        ),
        (
            "customer.deleted",
            subscribed_to("customer.deleted"),
            vec!["all", "all-off", "customer-group"],
        ),
        ("disabled invoice.paid", both, vec!["all-off", "paid-off"]),
    ]
}

/// Status and event-type filters (names, `prefix.*`, no filter), also across
/// pages: every page but the last is full.
pub async fn pagination_applies_filters(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let made = create_filter_fixture(&h).await;
    for (what, filter, kinds) in filter_queries() {
        let pages = h.walk_forward(&filter, 2).await;
        assert_eq!(
            ids_of_pages(&pages),
            ids_of_kinds(&made, &kinds),
            "filter {what}"
        );
        let (last, full) = pages.split_last().expect("at least one page");
        assert!(
            last.data.len() <= 2,
            "filter {what}: the last page is over the limit"
        );
        for page in full {
            assert_eq!(
                page.data.len(),
                2,
                "filter {what}: a page short of its limit"
            );
        }
    }
}

/// A cursor still works after the endpoint it points at is deleted.
pub async fn pagination_cursor_survives_anchor_deletion(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let expected = newest_first(&h.create_many(10).await);
    let all = EndpointFilter::default();
    let first = h.endpoint_page(&all, &PageRequest::first().limit(4)).await;
    h.delete(&expected[3]).await;
    let next = first.next_cursor.expect("a next page");
    let second = h.endpoint_page(&all, &reparse_cursor(&next, 4)).await;
    assert_eq!(
        ids_of(&second.data),
        expected[4..8],
        "the page after a deleted anchor"
    );

    h.delete(&expected[4]).await;
    let prev = second.prev_cursor.expect("a previous page");
    let back = h.endpoint_page(&all, &reparse_cursor(&prev, 4)).await;
    assert_eq!(
        ids_of(&back.data),
        expected[..3],
        "the page before a deleted anchor"
    );
    assert!(
        back.prev_cursor.is_none(),
        "nothing is newer than the first page"
    );
}

fn spawn_inserter(h: &Harness, urls: std::ops::Range<usize>) -> JoinHandle<Vec<EndpointId>> {
    let (webhooks, tenant) = (Arc::clone(&h.webhooks), h.tenant.clone());
    tokio::spawn(async move {
        let mut made = Vec::new();
        for n in urls {
            let created = webhooks.create_endpoint(&tenant, endpoint_request(n)).await;
            made.push(created.expect("a concurrent insert").endpoint.id);
            tokio::task::yield_now().await;
        }
        made
    })
}

/// Walking pages while other tasks insert: every endpoint that existed
/// before is seen exactly once, nothing twice, newest first throughout.
pub async fn pagination_stable_under_concurrent_inserts(store: Arc<dyn Store>) {
    let h = Harness::new(store).await;
    let before = h.create_many(30).await;
    let racers: Vec<_> = (1..=3)
        .map(|r| spawn_inserter(&h, r * 1000..r * 1000 + 10))
        .collect();
    let (mut seen, mut inserted) = (Vec::new(), Vec::new());
    let mut request = PageRequest::first().limit(4);
    loop {
        let page = h.endpoint_page(&EndpointFilter::default(), &request).await;
        seen.extend(ids_of(&page.data));
        // Inserts certainly land between this page and the next one.
        let batch = spawn_inserter(&h, 5000 + seen.len()..5002 + seen.len());
        inserted.extend(batch.await.expect("an inserter panicked"));
        match page.next_cursor {
            Some(cursor) => request = reparse_cursor(&cursor, 4),
            None => break,
        }
        assert!(seen.len() < 1_000, "the walk never ends");
    }
    for racer in racers {
        inserted.extend(racer.await.expect("an inserter panicked"));
    }
    check_concurrent_walk(&seen, &before, &inserted);
    assert_eq!(
        h.list_all().await.len(),
        before.len() + inserted.len(),
        "endpoints kept"
    );
}

#[track_caller]
fn check_concurrent_walk(seen: &[EndpointId], before: &[EndpointId], inserted: &[EndpointId]) {
    let unique: HashSet<&EndpointId> = seen.iter().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "an endpoint was listed twice: {seen:?}"
    );
    for id in before {
        assert!(
            unique.contains(id),
            "{id}, present before the walk, was never listed"
        );
    }
    let known: HashSet<&EndpointId> = before.iter().chain(inserted).collect();
    assert!(
        unique.is_subset(&known),
        "the walk listed an endpoint never created"
    );
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "the walk is not newest first: {seen:?}"
    );
}

// The backend itself, called directly.

/// A listing reads up to `limit + 1` live rows of the tenant, both ways from
/// an exclusive anchor.
pub async fn backend_list_reads_one_extra_row(store: Arc<dyn Store>) {
    let t = tenant("acme");
    for n in 1..=6 {
        insert_raw_endpoint(&store, raw_endpoint(&t, n), None)
            .await
            .expect("insert");
    }
    insert_raw_endpoint(&store, raw_endpoint(&tenant("globex"), 7), None)
        .await
        .expect("insert");
    let delete = |s: &mut StoredEndpoint| -> Result<(), Error> {
        s.deleted_at = Some(START);
        Ok(())
    };
    store
        .update_endpoint(&t, &raw_endpoint_id(6), &delete)
        .await
        .expect("delete");

    let list = async |cursor: Option<Cursor>, limit: usize| {
        let page = PageRequest { cursor, limit };
        let rows = store
            .list_endpoints(&t, &EndpointFilter::default(), &page)
            .await;
        let rows = rows.unwrap_or_else(|e| panic!("listing {page:?} failed: {e}"));
        rows.into_iter().map(|s| s.endpoint.id).collect::<Vec<_>>()
    };
    let expect = |ns: &[u32]| ns.iter().map(|n| raw_endpoint_id(*n)).collect::<Vec<_>>();
    let older = |n| Some(Cursor::new(Direction::Older, raw_endpoint_id(n).as_str()));
    let newer = |n| Some(Cursor::new(Direction::Newer, raw_endpoint_id(n).as_str()));
    assert_eq!(
        list(None, 2).await,
        expect(&[5, 4, 3]),
        "the newest, one extra"
    );
    assert_eq!(list(older(4), 2).await, expect(&[3, 2, 1]), "older than 4");
    assert_eq!(
        list(older(3), 5).await,
        expect(&[2, 1]),
        "older than 3, all"
    );
    assert_eq!(
        list(newer(2), 2).await,
        expect(&[3, 4, 5]),
        "newer than 2, ascending"
    );
    assert_eq!(list(newer(4), 5).await, expect(&[5]), "newer than 4, all");
}
