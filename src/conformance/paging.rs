//! Walking listings page by page through their cursors, as an HTTP client
//! would, and checking the cursors met on the way.

use std::fmt;
use std::future::Future;

use crate::model::{Cursor, Page, PageRequest};

/// Follows `next_cursor` (through its text form, as an HTTP client would)
/// from the first page of `limit` items to the last.
pub(super) async fn follow_next<T, F, Fut>(limit: usize, fetch: F) -> Vec<Page<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: Future<Output = Page<T>>,
{
    let mut pages = Vec::new();
    let mut request = PageRequest::first().limit(limit);
    loop {
        let page = fetch(request).await;
        let next = page.next_cursor.clone();
        pages.push(page);
        assert!(pages.len() <= 1_000, "following next_cursor never ends");
        match next {
            Some(cursor) => request = reparse_cursor(&cursor, limit),
            None => return pages,
        }
    }
}

/// Follows `prev_cursor` from `from` back to the first page; the pages in
/// the order visited.
pub(super) async fn follow_prev<T, F, Fut>(from: &Page<T>, limit: usize, fetch: F) -> Vec<Page<T>>
where
    F: Fn(PageRequest) -> Fut,
    Fut: Future<Output = Page<T>>,
{
    let mut pages = Vec::new();
    let mut prev = from.prev_cursor.clone();
    while let Some(cursor) = prev {
        let page = fetch(reparse_cursor(&cursor, limit)).await;
        prev = page.prev_cursor.clone();
        pages.push(page);
        assert!(pages.len() <= 1_000, "following prev_cursor never ends");
    }
    pages
}

/// Cursors only where there is more: a `prev_cursor` on every page but the
/// first, a `next_cursor` on every page but the last.
#[track_caller]
pub(super) fn check_forward_cursors<T>(pages: &[Page<T>]) {
    for (n, page) in pages.iter().enumerate() {
        let last = n + 1 == pages.len();
        assert_eq!(page.prev_cursor.is_some(), n > 0, "prev_cursor of page {n}");
        assert_eq!(page.next_cursor.is_some(), !last, "next_cursor of page {n}");
    }
}

/// Walking back from the last of `forward` visited the other pages in
/// reverse, each with a `next_cursor`, the first without a `prev_cursor`.
#[track_caller]
pub(super) fn check_walked_back<T, K>(forward: &[Page<T>], back: &[Page<T>], key: impl Fn(&T) -> K)
where
    K: PartialEq + fmt::Debug,
{
    let keys = |page: &Page<T>| page.data.iter().map(&key).collect::<Vec<K>>();
    let back_keys: Vec<Vec<K>> = back.iter().map(keys).collect();
    let (_, before_last) = forward.split_last().expect("at least one page");
    let forward_keys: Vec<Vec<K>> = before_last.iter().rev().map(keys).collect();
    assert_eq!(back_keys, forward_keys, "walking back gave other pages");
    for page in back {
        assert!(
            page.next_cursor.is_some(),
            "a page reached backwards has no next"
        );
    }
    if let Some(first_again) = back.last() {
        assert!(
            first_again.prev_cursor.is_none(),
            "the first page has a prev_cursor"
        );
    }
}

pub(super) fn reparse_cursor(cursor: &Cursor, limit: usize) -> PageRequest {
    PageRequest::parse(Some(&cursor.encode()), Some(limit))
        .unwrap_or_else(|e| panic!("a cursor from a listing does not parse: {e}"))
}
