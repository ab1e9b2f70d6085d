//! The ready nodes' resource trees, kept from round to round.
//!
//! At 10,000 nodes, building the trees of free and whole capacity afresh
//! was most of a live round's work: rounds under load are small, and each
//! allocated, filled and dropped two trees of every node. Kept, a tree is
//! rebuilt only when the nodes change (`CellState::nodes_changed_seq`);
//! otherwise only the leaves of nodes whose allocation changed since the
//! last round (their `Node::allocation_seq`), or that the last round bound
//! to, are computed again. It is a cache: trees built afresh are the same.

use crate::max_tree::MaxTree;
use rota_events::{Resources, TaintEffect};
use rota_projections::Node;

/// The allocation mark of a leaf that the last round changed and the fold
/// may not have: no node's `allocation_seq` equals it, so the leaf is
/// computed again.
const LEAF_CHANGED_BY_ROUND: u64 = u64::MAX;

/// Trees over the ready nodes in name order.
#[derive(Debug, Clone, Default)]
pub struct NodeTrees {
    /// The fold's `nodes_changed_seq` the trees were built for.
    built_for: Option<u64>,
    /// Per node: what is free, GPUs as wholly free devices and the largest
    /// share free on one device.
    pub free: MaxTree,
    /// Per node: its whole capacity, every device free.
    pub capacity: MaxTree,
    /// Nodes with a taint that refuses jobs, which every job must be
    /// filtered against even without constraints of its own.
    pub hard_tainted: Vec<bool>,
    pub max_cost: u32,
    /// Per node, the `allocation_seq` its free leaf reflects.
    seen: Vec<u64>,
}

impl NodeTrees {
    /// The trees for `ready` (the ready nodes in name order, as of
    /// `nodes_changed_seq`), from these where they still hold.
    pub fn refreshed(mut self, nodes_changed_seq: u64, ready: &[&Node]) -> NodeTrees {
        if self.built_for != Some(nodes_changed_seq) || self.seen.len() != ready.len() {
            return NodeTrees::build(nodes_changed_seq, ready);
        }
        for (i, node) in ready.iter().enumerate() {
            if self.seen[i] != node.allocation_seq {
                self.free.set(i, node.free());
                self.seen[i] = node.allocation_seq;
            }
        }
        self
    }

    fn build(nodes_changed_seq: u64, ready: &[&Node]) -> NodeTrees {
        let free: Vec<Resources> = ready.iter().map(|node| node.free()).collect();
        let capacity: Vec<Resources> = ready.iter().map(|node| node.whole()).collect();
        NodeTrees {
            built_for: Some(nodes_changed_seq),
            free: MaxTree::new(&free),
            capacity: MaxTree::new(&capacity),
            hard_tainted: ready
                .iter()
                .map(|node| {
                    node.taints
                        .iter()
                        .any(|taint| taint.effect == TaintEffect::NoSchedule)
                })
                .collect(),
            max_cost: ready.iter().map(|node| node.cost).max().unwrap_or(0),
            seen: ready.iter().map(|node| node.allocation_seq).collect(),
        }
    }

    /// Marks node `i`'s free leaf as changed by a round, to be computed
    /// again from the fold before the next.
    pub fn note_changed_by_round(&mut self, i: usize) {
        self.seen[i] = LEAF_CHANGED_BY_ROUND;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_events::NodeRegistered;

    fn node(cpu_milli: u64, allocation_seq: u64) -> Node {
        let registered = NodeRegistered {
            node: "n".to_string(),
            capacity: Resources {
                cpu_milli,
                memory_bytes: 1 << 30,
                ..Resources::default()
            },
            ..NodeRegistered::default()
        };
        let mut node = Node::registered(&registered, 1);
        node.allocation_seq = allocation_seq;
        node
    }

    fn leaves(tree: &MaxTree, len: usize) -> Vec<Resources> {
        (0..len).map(|i| tree.get(i)).collect()
    }

    #[test]
    fn kept_trees_equal_trees_built_afresh() {
        let mut nodes: Vec<Node> = (0..9).map(|i| node(1000 * (i + 1), 1)).collect();
        let refs: Vec<&Node> = nodes.iter().collect();
        let mut trees = NodeTrees::default().refreshed(5, &refs);
        // A round binds on node 2; the fold then changes nodes 2 and 7.
        trees.free.set(2, Resources::default());
        trees.note_changed_by_round(2);
        nodes[2].allocated.cpu_milli = 500;
        nodes[2].allocation_seq = 9;
        nodes[7].allocated.cpu_milli = 700;
        nodes[7].allocation_seq = 10;
        let refs: Vec<&Node> = nodes.iter().collect();
        let kept = trees.refreshed(5, &refs);
        let fresh = NodeTrees::build(5, &refs);
        assert_eq!(leaves(&kept.free, 9), leaves(&fresh.free, 9));
        assert_eq!(kept.free.get(2).cpu_milli, 2500);
        assert_eq!(kept.free.get(7).cpu_milli, 7300);
    }

    #[test]
    fn trees_are_rebuilt_when_the_nodes_change() {
        let nodes: Vec<Node> = (0..4).map(|i| node(1000 * (i + 1), 1)).collect();
        let refs: Vec<&Node> = nodes.iter().collect();
        let trees = NodeTrees::default().refreshed(5, &refs);
        let fewer = trees.refreshed(6, &refs[..3]);
        assert_eq!(
            leaves(&fewer.capacity, 3),
            leaves(&NodeTrees::build(6, &refs[..3]).capacity, 3)
        );
        assert_eq!(fewer.seen.len(), 3);
    }
}
