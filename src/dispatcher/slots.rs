//! Per-endpoint limits on attempts in flight, in this process.

use std::sync::Mutex;

use super::lock;
use crate::id::{EndpointId, IdMap};

/// How many attempts are in flight to each endpoint. Endpoints with none
/// are left out, so the map stays as small as the set of busy endpoints.
#[derive(Debug)]
pub(super) struct EndpointSlots {
    limit: usize,
    taken: Mutex<IdMap<EndpointId, usize>>,
}

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub(super) struct EndpointSlot<'a> {
    slots: &'a EndpointSlots,
    endpoint: &'a EndpointId,
}

impl EndpointSlots {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            limit,
            taken: Mutex::default(),
        }
    }

    /// A slot among `endpoint`'s attempts in flight, if one is free.
    pub(super) fn take<'a>(&'a self, endpoint: &'a EndpointId) -> Option<EndpointSlot<'a>> {
        let mut taken = lock(&self.taken);
        match taken.get_mut(endpoint) {
            Some(count) if *count >= self.limit => return None,
            Some(count) => *count += 1,
            None => {
                taken.insert(endpoint.clone(), 1);
            }
        }
        Some(EndpointSlot {
            slots: self,
            endpoint,
        })
    }
}

impl Drop for EndpointSlot<'_> {
    fn drop(&mut self) {
        let mut taken = lock(&self.slots.taken);
        if let Some(count) = taken.get_mut(self.endpoint) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                taken.remove(self.endpoint);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_per_endpoint_and_freed_on_drop() {
        let slots = EndpointSlots::new(2);
        let a: EndpointId = "ep_00000000000000000000000001".parse().unwrap();
        let b: EndpointId = "ep_00000000000000000000000002".parse().unwrap();
        let first = slots.take(&a).unwrap();
        let _second = slots.take(&a).unwrap();
        assert!(slots.take(&a).is_none(), "a third to the same endpoint");
        assert!(slots.take(&b).is_some(), "another endpoint has its own");
        drop(first);
        assert!(slots.take(&a).is_some(), "freed by the drop");
    }

    #[test]
    fn endpoints_with_nothing_in_flight_are_forgotten() {
        let slots = EndpointSlots::new(1);
        let a: EndpointId = "ep_00000000000000000000000001".parse().unwrap();
        drop(slots.take(&a));
        assert!(lock(&slots.taken).is_empty());
    }
}
