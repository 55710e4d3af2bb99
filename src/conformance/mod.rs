//! The conformance suite every storage backend runs.
//!
//! A backend keeps the [`Store`](crate::store::Store) contract when every
//! case here passes on it. The cases drive the [`Webhooks`](crate::Webhooks)
//! facade over the backend, as an application would, plus direct trait calls
//! where the contract is about the backend itself (idempotency records
//! expiring by the times passed in, duplicate ids, failed changes, the extra
//! row of a listing, claims, leases and the state a worker records after an
//! attempt). Time comes from a [`ManualClock`](crate::clock::ManualClock) set
//! in 2001, far from the wall clock, so nothing sleeps and a backend that
//! reads the wall clock instead of its arguments fails.
//!
//! The facade's own checks of its input, which no backend can change, are
//! not here: hookshot tests them itself. The exception is `input`: outside
//! text some backend could not hold (a NUL character) must be refused
//! before the store is called, which only running it over each backend
//! shows.
//!
//! # Core cases and capabilities
//!
//! Every backend must pass the core cases. Three parts of the contract are
//! optional; their cases run only for a backend that declares them (see
//! [`Capabilities`]):
//!
//! - `purge`: [`DeliveryStore::purge_finished`] deletes finished history,
//!   as a dispatcher with `keep_history` needs. Its default refuses.
//! - `watch_new_work`: [`DeliveryStore::watch_new_work`] wakes its watcher
//!   when work is queued, also by another process sharing the backend. Its
//!   default never does.
//! - `renew_leases`: [`DeliveryStore::renew_leases`] extends the leases of
//!   attempts in flight, as a dispatcher whose lease is shorter than its
//!   longest attempt needs. Its default refuses.
//!
//! # Running it
//!
//! [`conformance_tests!`](crate::conformance_tests) makes one test per case,
//! each on a fresh store, so `cargo test` reports them separately.
//! [`run_all`] and [`run_all_with`] run the cases in one test instead, and
//! each case is a public function for running it alone. Either way the crate
//! that runs them needs:
//!
//! ```toml
//! [dev-dependencies]
//! hookshot = { version = "0.1", features = ["test-support"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! A failed case panics with what went wrong; [`run_all`] adds the case's
//! name.
//!
//! # Reading it
//!
//! Each area has a source file of its own in `src/conformance/`:
//! `endpoints`, `idempotency`, `pagination`, `tenants`, `subscribers`,
//! `rotation`, `catalog`, `sending`, `queue`, `history`, `retries`, `input`
//! (outside text no backend can hold), `retention` (capability `purge`),
//! `wake_ups` (capability `watch_new_work`) and `leases` (capability
//! `renew_leases`). Beside them, `harness` drives the facade over the store
//! under test, `fixtures`, `paging`, `raw_records`, `worker` and
//! `history_fixture` hold what several areas share, and `run` runs the
//! cases for [`run_all`].
//!
//! [`DeliveryStore::purge_finished`]: crate::store::DeliveryStore::purge_finished
//! [`DeliveryStore::watch_new_work`]: crate::store::DeliveryStore::watch_new_work
//! [`DeliveryStore::renew_leases`]: crate::store::DeliveryStore::renew_leases

// This is test support: a failed check has to stop the case with a message,
// which is exactly what unwrap, expect and panic are for here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Every case takes the store by value so that `run_all` and
// `conformance_tests!` can call them all the same way.
#![allow(clippy::needless_pass_by_value)]

mod capabilities;
#[cfg(test)]
mod case_table_check;
mod fixtures;
mod harness;
mod history_fixture;
mod paging;
mod raw_records;
mod run;
mod worker;

mod catalog;
mod endpoints;
mod history;
mod idempotency;
mod input;
mod leases;
mod pagination;
mod queue;
mod retention;
mod retries;
mod rotation;
mod sending;
mod subscribers;
mod tenants;
mod wake_ups;

pub use capabilities::Capabilities;
pub use run::{run_all, run_all_with};

// The cases, so that each is `hookshot::conformance::<case>`; the
// area modules make nothing else public.
pub use catalog::*;
pub use endpoints::*;
pub use history::*;
pub use idempotency::*;
pub use input::*;
pub use leases::*;
pub use pagination::*;
pub use queue::*;
pub use retention::*;
pub use retries::*;
pub use rotation::*;
pub use sending::*;
pub use subscribers::*;
pub use tenants::*;
pub use wake_ups::*;

/// Makes one `#[tokio::test]` per conformance case, each calling the case
/// with a fresh store from `$make_store`, a closure returning a future of
/// `Arc<dyn Store>`.
///
/// With the store alone it makes the core cases only. A backend that
/// implements optional parts of the contract names them after
/// `capabilities =`, and gets their cases too; the names are the fields of
/// [`Capabilities`](crate::conformance::Capabilities): `purge`,
/// `watch_new_work` and `renew_leases`. The cases of capabilities not named are not made at
/// all, rather than made to pass without running.
///
/// The tests are named after the cases in
/// [`hookshot::conformance`](crate::conformance) and run on
/// tokio's multi-threaded runtime, so the crate invoking the macro needs
/// `tokio` as a dev-dependency with the `macros` and `rt-multi-thread`
/// features. Invoke it in a module of its own (or a test file of its own) so
/// the test names cannot clash with yours.
///
/// ```
/// // tests/my_backend.rs
/// use std::sync::Arc;
/// use hookshot::store::{MemoryStore, Store};
///
/// // Put your own backend here; the in-memory one stands in for it.
/// async fn fresh_store() -> Arc<dyn Store> {
///     Arc::new(MemoryStore::new())
/// }
///
/// // The core cases, and those of `purge_finished`, which it implements.
/// hookshot::conformance_tests!(fresh_store, capabilities = [purge]);
/// # fn main() {}
/// ```
///
/// A backend with nothing optional leaves the list out:
/// `hookshot::conformance_tests!(fresh_store);`. A name that is no
/// capability does not compile, so that a typo cannot leave cases out:
///
/// ```compile_fail
/// # use std::sync::Arc;
/// # use hookshot::store::{MemoryStore, Store};
/// # async fn fresh_store() -> Arc<dyn Store> { Arc::new(MemoryStore::new()) }
/// hookshot::conformance_tests!(fresh_store, capabilities = [purging]);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:expr $(,)?) => {
        $crate::__conformance_cases! { tests ($make_store) [] }
    };
    ($make_store:expr, capabilities = [$($capability:ident),* $(,)?] $(,)?) => {
        $crate::__conformance_cases! { tests ($make_store) [$($capability)*] }
    };
}

/// The single list of cases, by the capability they need, expanded either
/// into tests or into the table [`run_all`] walks.
///
/// A case missing from it would never run; the crate's own tests fail when
/// a `pub async fn` case of this folder is not listed here.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($mode:ident $args:tt $capabilities:tt) => {
        $crate::__conformance_cases! { @$mode $args $capabilities
            core [
                // endpoints.rs
                create_get_round_trip
                update_changes_only_supplied_fields
                enable_and_disable
                delete_is_soft_and_final
                backend_round_trips_every_field
                backend_duplicate_id_conflicts
                backend_failed_change_stores_nothing
                // idempotency.rs
                idempotent_retry_returns_first_answer
                idempotency_key_reuse_with_other_request_conflicts
                idempotency_key_expires_after_window
                idempotency_keys_are_per_tenant
                concurrent_idempotent_creates_make_one_endpoint
                send_idempotent_retry_returns_first_answer
                send_key_reuse_with_other_event_conflicts
                send_key_expires_after_window
                send_keys_are_per_tenant_and_operation
                concurrent_idempotent_sends_queue_one_event
                backend_idempotency_expiry_uses_given_times
                // pagination.rs
                pagination_walks_forward_and_back
                pagination_edges_and_limits
                pagination_applies_filters
                pagination_cursor_survives_anchor_deletion
                pagination_stable_under_concurrent_inserts
                backend_list_reads_one_extra_row
                // tenants.rs
                tenants_are_isolated
                deliveries_are_isolated_by_tenant
                // subscribers.rs
                subscribers_follow_filters
                subscribers_track_changes
                subscribers_follow_catalog_groups
                backend_subscribers_ascending_whatever_the_insert_order
                // rotation.rs
                rotation_keeps_old_secret_for_grace
                rotation_with_zero_grace
                rotation_keeps_at_most_ten_retired
                // catalog.rs
                catalog_lists_sorted_and_by_group
                catalog_upsert_replaces
                catalog_keeps_examples_nested_to_the_limit
                // sending.rs
                send_fans_out_to_active_subscribers
                send_wraps_payload_in_envelope
                send_without_envelope_delivers_payload_as_is
                send_without_subscribers_keeps_the_event
                // queue.rs
                claim_due_takes_due_deliveries_oldest_first
                claim_due_again_after_lease_expiry
                concurrent_claims_never_share_a_delivery
                finish_attempt_stores_state_and_attempts
                finish_attempt_after_takeover_is_refused
                release_puts_delivery_back
                next_due_tracks_queue_and_leases
                backend_enqueue_is_all_or_nothing
                finish_attempt_records_text_with_nul
                // history.rs
                delivery_pages_walk_forward_and_back
                delivery_listing_applies_filters
                // retries.rs
                retry_delivery_requeues_only_it
                retry_delivery_waits_for_the_lease
                retry_failed_requeues_failed_since
                fail_queued_ends_only_queued_deliveries
                // input.rs
                outside_text_with_nul_is_refused_before_the_store
            ]
            // retention.rs
            purge [
                purge_finished_removes_only_old_finished_history
            ]
            // wake_ups.rs
            watch_new_work [
                watch_new_work_wakes_on_queued_work
            ]
            // leases.rs
            renew_leases [
                renew_leases_extends_only_leases_still_held
            ]
        }
    };

    // One test per core case and per case of a declared capability.
    (@tests $make_store:tt $capabilities:tt core $core:tt $($group:ident $cases:tt)*) => {
        $crate::__conformance_cases! { @check_known $capabilities }
        $crate::__conformance_cases! { @test_fns $make_store $core }
        $(
            $crate::__conformance_cases! { @if_declared $group $capabilities $make_store $cases }
        )*
    };
    (@test_fns ($make_store:expr) [$($case:ident)*]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::conformance::$case(($make_store)().await).await;
            }
        )*
    };

    // Macros cannot compare two identifiers, so each capability has its arm.
    (@if_declared purge [purge $($_rest:ident)*] $make_store:tt $cases:tt) => {
        $crate::__conformance_cases! { @test_fns $make_store $cases }
    };
    (@if_declared watch_new_work [watch_new_work $($_rest:ident)*] $make_store:tt $cases:tt) => {
        $crate::__conformance_cases! { @test_fns $make_store $cases }
    };
    (@if_declared renew_leases [renew_leases $($_rest:ident)*] $make_store:tt $cases:tt) => {
        $crate::__conformance_cases! { @test_fns $make_store $cases }
    };
    (@if_declared $group:ident [$_other:ident $($rest:ident)*] $make_store:tt $cases:tt) => {
        $crate::__conformance_cases! { @if_declared $group [$($rest)*] $make_store $cases }
    };
    (@if_declared $group:ident [] $make_store:tt $cases:tt) => {};

    (@check_known [$($capability:ident)*]) => {
        $( $crate::__conformance_cases! { @known $capability } )*
    };
    (@known purge) => {};
    (@known watch_new_work) => {};
    (@known renew_leases) => {};
    (@known $unknown:ident) => {
        ::core::compile_error!(::core::concat!(
            "unknown conformance capability `",
            ::core::stringify!($unknown),
            "`; the capabilities are `purge`, `watch_new_work` and `renew_leases`",
        ));
    };

    // Every case, with the test of whether a backend's capabilities run it.
    (@table () [] core [$($case:ident)*] $($group:ident [$($group_case:ident)*])*) => {
        ::std::vec![
            $(
                $crate::conformance::run::Case::new(
                    ::std::stringify!($case),
                    |_| true,
                    $crate::conformance::$case,
                ),
            )*
            $($(
                $crate::conformance::run::Case::new(
                    ::std::stringify!($group_case),
                    |declared: &$crate::conformance::Capabilities| declared.$group,
                    $crate::conformance::$group_case,
                ),
            )*)*
        ]
    };
}
