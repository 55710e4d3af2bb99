//! A delivery history with deliveries in every state, for the cases that
//! list, filter, retry and end deliveries.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::clock::Timestamp;
use crate::id::{DeliveryId, EndpointId};
use crate::model::{Delivery, TenantId};
use crate::store::{Lease, Store};
use crate::webhooks::SendOptions;

use super::fixtures::{SECOND, any_delivery, endpoint_request, sorted, tenant};
use super::harness::Harness;
use super::worker::{AttemptEnd, attempt_everything_due};

/// The events of the history fixture, one a second.
const HISTORY: [&str; 5] = [
    "invoice.paid",
    "customer.created",
    "invoice.created",
    "refund.issued",
    "invoice.paid",
];

/// Every label of the history fixture, sorted.
const HISTORY_LABELS: [&str; 9] = ["A0", "A2", "A4", "B0", "B1", "B2", "B3", "B4", "G0"];

/// How the history fixture's attempts end, by label.
fn history_end(label: &str) -> AttemptEnd {
    match label {
        "A0" | "B1" | "A2" | "G0" => AttemptEnd::Failed,
        "B0" => AttemptEnd::Delivered,
        "B2" => AttemptEnd::Retrying,
        "B3" => AttemptEnd::Held,
        other => panic!("the history fixture has no delivery {other}"),
    }
}

/// acme's endpoints A (`invoice.*`) and B (every type), globex's G, and the
/// deliveries of the [`HISTORY`] events sent one a second, labelled by
/// endpoint and event number: A0 B0 B1 A2 B2 B3 A4 B4, and G0 for globex's
/// event sent with event 0.
///
/// Right after event 3, everything due was attempted: A0, B1, A2 and G0
/// failed, B0 was delivered, B2 is retrying and B3 is in flight under
/// `held`. A4 and B4 are pending. The clock stands at event 4.
pub(super) struct HistoryFixture {
    pub(super) h: Harness,
    pub(super) other: TenantId,
    pub(super) a: EndpointId,
    pub(super) b: EndpointId,
    pub(super) g: EndpointId,
    /// When event n was sent.
    pub(super) times: Vec<Timestamp>,
    held: Option<Lease>,
    labels: BTreeMap<String, DeliveryId>,
}

impl HistoryFixture {
    pub(super) async fn new(store: Arc<dyn Store>) -> Self {
        let h = Harness::new(store).await;
        let other = tenant("globex");
        let a = h
            .create(endpoint_request(1).event_types(["invoice.*"]))
            .await;
        let b = h.create(endpoint_request(2)).await;
        let g = h.create_in(&other, endpoint_request(3)).await;
        let mut f = Self {
            h,
            other,
            a: a.endpoint.id,
            b: b.endpoint.id,
            g: g.endpoint.id,
            times: Vec::new(),
            held: None,
            labels: BTreeMap::new(),
        };
        for n in 0..HISTORY.len() {
            f.send_event(n).await;
        }
        f.labels = f.read_labels().await;
        f
    }

    async fn send_event(&mut self, n: usize) {
        self.h.advance(SECOND);
        self.times.push(self.h.now());
        self.h.send(HISTORY[n], json!({ "n": n })).await;
        if n == 0 {
            let other = self.other.clone();
            self.h
                .send_as(&other, HISTORY[n], json!({ "n": n }), SendOptions::new())
                .await;
        }
        if n == 3 {
            let now = self.h.now();
            let held =
                attempt_everything_due(self.h.store(), now, |d| history_end(&self.label(d))).await;
            assert_eq!(held.len(), 1, "the history fixture holds B3 only");
            self.held = held.into_iter().next().map(|claim| claim.lease);
        }
    }

    /// Endpoint letter and event number.
    fn label(&self, delivery: &Delivery) -> String {
        let endpoints = [(&self.a, 'A'), (&self.b, 'B'), (&self.g, 'G')];
        let letter = endpoints
            .iter()
            .find(|(id, _)| **id == delivery.endpoint_id)
            .map_or('?', |(_, letter)| *letter);
        let n = self.times.iter().position(|t| *t == delivery.created_at);
        format!("{letter}{}", n.map_or("?".to_owned(), |n| n.to_string()))
    }

    async fn read_labels(&self) -> BTreeMap<String, DeliveryId> {
        let all = self.everything().await;
        let labels: BTreeMap<String, DeliveryId> = all
            .values()
            .map(|d| (self.label(d), d.id.clone()))
            .collect();
        let names: Vec<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(names, HISTORY_LABELS, "the history fixture's deliveries");
        assert_eq!(all.len(), HISTORY_LABELS.len(), "history deliveries");
        labels
    }

    pub(super) fn held(&self) -> &Lease {
        self.held.as_ref().expect("the history fixture holds B3")
    }

    pub(super) fn id(&self, label: &str) -> DeliveryId {
        self.labels
            .get(label)
            .cloned()
            .unwrap_or_else(|| panic!("the history fixture has no delivery {label}"))
    }

    /// The deliveries `labels`, newest first.
    pub(super) fn ids(&self, labels: &[&str]) -> Vec<DeliveryId> {
        let mut ids = sorted(labels.iter().map(|l| self.id(l)).collect());
        ids.reverse();
        ids
    }

    /// Every delivery of both tenants, by id.
    pub(super) async fn everything(&self) -> BTreeMap<DeliveryId, Delivery> {
        let mut all = BTreeMap::new();
        for tenant in [&self.h.tenant, &self.other] {
            for delivery in self.h.deliveries_in(tenant, &any_delivery()).await {
                all.insert(delivery.id.clone(), delivery);
            }
        }
        all
    }

    /// Since `before`, exactly the deliveries `labels` changed, each into
    /// `expected` of what it was.
    pub(super) async fn check_only_changed(
        &self,
        before: &BTreeMap<DeliveryId, Delivery>,
        labels: &[&str],
        expected: impl Fn(&Delivery) -> Delivery,
        what: &str,
    ) {
        let after = self.everything().await;
        let keys = |m: &BTreeMap<DeliveryId, Delivery>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&after),
            keys(before),
            "{what}: deliveries came or went"
        );
        let changed: Vec<DeliveryId> = after
            .iter()
            .filter(|(id, d)| before.get(*id) != Some(*d))
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(changed, sorted(self.ids(labels)), "{what}: what changed");
        for label in labels {
            let id = self.id(label);
            assert_eq!(after[&id], expected(&before[&id]), "{what}: {label}");
        }
    }
}
