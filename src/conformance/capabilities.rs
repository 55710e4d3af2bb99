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
}

impl Capabilities {
    /// Nothing optional: the core cases only.
    pub const fn core() -> Self {
        Self {
            purge: false,
            watch_new_work: false,
        }
    }

    /// Every optional part there is. A backend declaring this also runs the
    /// cases of parts added in later versions, so naming each is safer.
    pub const fn all() -> Self {
        Self {
            purge: true,
            watch_new_work: true,
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
}
