//! Free capacity of ready nodes during one round, updated as the round binds.

use rota_events::Resources;
use rota_projections::{CellState, NodeState};
use std::collections::BTreeMap;

/// What each ready node has free now, and what this round has bound there.
pub struct FreeCapacity<'a> {
    free: BTreeMap<&'a str, Resources>,
    /// Per node, the (expected end in ms, resources) of this round's bindings.
    pub bound_this_round: BTreeMap<&'a str, Vec<(u64, Resources)>>,
}

impl<'a> FreeCapacity<'a> {
    pub fn of(state: &'a CellState) -> FreeCapacity<'a> {
        FreeCapacity {
            free: state
                .nodes
                .iter()
                .filter(|(_, node)| node.state == NodeState::Ready)
                .map(|(name, node)| (name.as_str(), node.free()))
                .collect(),
            bound_this_round: BTreeMap::new(),
        }
    }

    /// Ready nodes in name order with what they have free.
    pub fn nodes(&self) -> impl Iterator<Item = (&'a str, Resources)> + '_ {
        self.free.iter().map(|(name, free)| (*name, *free))
    }

    pub fn free(&self, node: &str) -> Resources {
        self.free.get(node).copied().unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// The first node, in name order, that has `request` free.
    pub fn first_fit(&self, request: &Resources) -> Option<&'a str> {
        self.free
            .iter()
            .find(|(_, free)| request.fits_within(free))
            .map(|(name, _)| *name)
    }

    /// True when `request` fits within some ready node's whole capacity, so
    /// that it can run once that node empties.
    pub fn could_ever_fit(&self, state: &CellState, request: &Resources) -> bool {
        self.free
            .keys()
            .any(|name| request.fits_within(&state.nodes[*name].capacity))
    }

    /// Takes `request` from `node`, for a binding expected to end at `end_ms`.
    pub fn bind(&mut self, node: &'a str, request: &Resources, end_ms: u64) {
        let free = self.free.get_mut(node).expect("binding onto a ready node");
        *free = free.minus(request);
        self.bound_this_round
            .entry(node)
            .or_default()
            .push((end_ms, *request));
    }
}
