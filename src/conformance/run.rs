//! [`run_all`] and [`run_all_with`]: every case a backend's capabilities
//! call for, in one test.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::Capabilities;
use crate::store::Store;

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One case of the table in `__conformance_cases!`.
pub(super) struct Case {
    pub(super) name: &'static str,
    /// Whether a backend declaring these capabilities runs it.
    runs_on: fn(&Capabilities) -> bool,
    run: Box<dyn Fn(Arc<dyn Store>) -> CaseFuture + Send + Sync>,
}

impl Case {
    pub(super) fn new<Fut>(
        name: &'static str,
        runs_on: fn(&Capabilities) -> bool,
        case: fn(Arc<dyn Store>) -> Fut,
    ) -> Self
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            name,
            runs_on,
            run: Box::new(move |store| Box::pin(case(store))),
        }
    }
}

/// Every case, whatever it needs.
pub(super) fn cases() -> Vec<Case> {
    crate::__conformance_cases! { table () [] }
}

/// Runs every core case, each on a fresh store from `make_store`, and panics
/// naming every case that failed. [`run_all_with`] adds the cases of the
/// optional parts a backend implements.
///
/// ```
/// use std::sync::Arc;
/// use hookshot::store::{MemoryStore, Store};
///
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// hookshot::conformance::run_all(|| async {
///     Arc::new(MemoryStore::new()) as Arc<dyn Store>
/// })
/// .await;
/// # });
/// ```
pub async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    run_all_with(make_store, Capabilities::core()).await;
}

/// Runs every core case and every case of the `capabilities` declared, each
/// on a fresh store from `make_store`, and panics naming every case that
/// failed.
///
/// ```
/// use std::sync::Arc;
/// use hookshot::conformance::{Capabilities, run_all_with};
/// use hookshot::store::{MemoryStore, Store};
///
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// let fresh_store = || async { Arc::new(MemoryStore::new()) as Arc<dyn Store> };
/// run_all_with(fresh_store, Capabilities::core().with_purge()).await;
/// # });
/// ```
pub async fn run_all_with<F, Fut>(make_store: F, capabilities: Capabilities)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let cases: Vec<Case> = cases()
        .into_iter()
        .filter(|case| (case.runs_on)(&capabilities))
        .collect();
    let total = cases.len();
    let mut failures = Vec::new();
    for case in cases {
        let store = make_store().await;
        if let Err(message) = run_case((case.run)(store)).await {
            let name = case.name;
            failures.push(format!("conformance case `{name}` failed: {message}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} conformance cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs one case on its own task so that its panic can be reported with its
/// name instead of ending the run.
async fn run_case(case: CaseFuture) -> Result<(), String> {
    match tokio::spawn(case).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            Err(payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".to_owned()))
        }
        Err(e) => Err(e.to_string()),
    }
}
