//! Free capacity of ready nodes during one round, updated as the round binds.

use crate::max_tree::MaxTree;
use rota_events::Resources;
use rota_projections::{CellState, NodeState};
use std::collections::BTreeMap;

/// What each ready node has free now, and what this round has bound there.
pub struct FreeCapacity<'a> {
    /// Ready nodes in name order.
    names: Vec<&'a str>,
    free: MaxTree,
    capacity: MaxTree,
    /// Per node, the (expected end in ms, resources) of this round's bindings.
    pub bound_this_round: BTreeMap<&'a str, Vec<(u64, Resources)>>,
}

impl<'a> FreeCapacity<'a> {
    pub fn of(state: &'a CellState) -> FreeCapacity<'a> {
        let ready: Vec<(&'a str, Resources, Resources)> = state
            .nodes
            .iter()
            .filter(|(_, node)| node.state == NodeState::Ready)
            .map(|(name, node)| (name.as_str(), node.free(), node.capacity))
            .collect();
        let free: Vec<Resources> = ready.iter().map(|(_, free, _)| *free).collect();
        let capacity: Vec<Resources> = ready.iter().map(|(_, _, capacity)| *capacity).collect();
        FreeCapacity {
            names: ready.into_iter().map(|(name, _, _)| name).collect(),
            free: MaxTree::new(&free),
            capacity: MaxTree::new(&capacity),
            bound_this_round: BTreeMap::new(),
        }
    }

    /// Ready nodes in name order with what they have free.
    pub fn nodes(&self) -> impl Iterator<Item = (&'a str, Resources)> + '_ {
        self.names
            .iter()
            .enumerate()
            .map(|(i, name)| (*name, self.free.get(i)))
    }

    /// A ready node's position in name order.
    fn index(&self, node: &str) -> Option<usize> {
        self.names.binary_search(&node).ok()
    }

    pub fn free(&self, node: &str) -> Resources {
        self.index(node)
            .map_or_else(Resources::default, |i| self.free.get(i))
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The first node, in name order, that has `request` free.
    pub fn first_fit(&self, request: &Resources) -> Option<&'a str> {
        self.free.first_fit(request).map(|i| self.names[i])
    }

    /// The first node, in name order, that has `request` free and that
    /// `accept` takes.
    pub fn first_fit_where(
        &self,
        request: &Resources,
        accept: impl Fn(&str) -> bool,
    ) -> Option<&'a str> {
        self.free
            .first_fit_where(request, &|i| accept(self.names[i]))
            .map(|i| self.names[i])
    }

    /// True when `request` fits within some ready node's whole capacity, so
    /// that it can run once that node empties.
    pub fn could_ever_fit(&self, request: &Resources) -> bool {
        self.capacity.first_fit(request).is_some()
    }

    /// Takes `request` from `node`, for a binding expected to end at `end_ms`.
    pub fn bind(&mut self, node: &'a str, request: &Resources, end_ms: u64) {
        let i = self.index(node).expect("binding onto a ready node");
        self.free.set(i, self.free.get(i).minus(request));
        self.bound_this_round
            .entry(node)
            .or_default()
            .push((end_ms, *request));
    }
}
