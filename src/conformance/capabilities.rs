//! [`Capabilities`]: the optional parts of the storage contract a backend
//! declares, so that their cases run.

/// The optional parts of the storage contract a backend implements. Every
/// backend runs the core cases; the cases of an optional part run only when
/// it is declared here.
///
/// [`run_all_with`](super::run_all_with) takes a value of it;
/// [`conformance_tests!`](crate::conformance_tests) takes the names of its
/// fields instead, as in `capabilities = [purge, watch_new_work]`.
///
/// ```
/// use hookshot::conformance::Capabilities;
///
/// let declared = Capabilities::core().with_purge();
/// assert!(declared.purge);
/// assert!(!declared.watch_new_work);
/// assert!(!declared.renew_leases);
/// assert_eq!(Capabilities::default(), Capabilities::core());
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// [`DeliveryStore::purge_finished`] deletes finished history, as a
    /// dispatcher with `keep_history` needs; its default refuses.
    ///
    /// [`DeliveryStore::purge_finished`]: crate::store::DeliveryStore::purge_finished
    pub purge: bool,
    /// [`DeliveryStore::watch_new_work`] wakes its watcher whenever work is
    /// queued, by this process or another sharing the backend; its default
    /// never does.
    ///
    /// [`DeliveryStore::watch_new_work`]: crate::store::DeliveryStore::watch_new_work
    pub watch_new_work: bool,
    /// [`DeliveryStore::renew_leases`] extends the leases of attempts in
    /// flight, as a dispatcher with a lease shorter than its longest
    /// attempt needs; its default refuses.
    ///
    /// [`DeliveryStore::renew_leases`]: crate::store::DeliveryStore::renew_leases
    pub renew_leases: bool,
}

impl Capabilities {
    /// Nothing optional: the core cases only.
    pub const fn core() -> Self {
        Self {
            purge: false,
            watch_new_work: false,
            renew_leases: false,
        }
    }

    /// Every optional part there is. A backend declaring this also runs the
    /// cases of parts added in later versions, so naming each is safer.
    pub const fn all() -> Self {
        Self {
            purge: true,
            watch_new_work: true,
            renew_leases: true,
        }
    }

    /// These and [`purge`](Self::purge).
    #[must_use]
    pub const fn with_purge(self) -> Self {
        Self {
            purge: true,
            ..self
        }
    }

    /// These and [`watch_new_work`](Self::watch_new_work).
    #[must_use]
    pub const fn with_watch_new_work(self) -> Self {
        Self {
            watch_new_work: true,
            ..self
        }
    }

    /// These and [`renew_leases`](Self::renew_leases).
    #[must_use]
    pub const fn with_renew_leases(self) -> Self {
        Self {
            renew_leases: true,
            ..self
        }
    }
}
