//! The tenant tree as the fold keeps it: the configured tenants under a
//! root, plus a leaf of its own for each tenant the configuration does not
//! name but that has had jobs admitted (when unknown tenants are admitted).

use rota_events::{Quota, TenantConfig, TenantLimits, TenantNode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The root's index.
pub const ROOT: usize = 0;

/// One tenant of the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeNode {
    pub name: String,
    pub parent: Option<usize>,
    /// In the configuration's order, then unknown tenants by name.
    pub children: Vec<usize>,
    pub shares: u32,
    pub quota: Option<Quota>,
    pub limits: TenantLimits,
    /// Not in the configuration: an unknown tenant's own leaf.
    pub unlisted: bool,
}

impl TreeNode {
    pub fn is_leaf(&self) -> bool {
        self.children.is_empty()
    }
}

/// The tree, root first; every node's index is its place in `nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantTree {
    pub nodes: Vec<TreeNode>,
    pub by_name: BTreeMap<String, usize>,
}

impl Default for TenantTree {
    fn default() -> Self {
        TenantTree {
            nodes: vec![TreeNode {
                name: "root".to_string(),
                parent: None,
                children: Vec::new(),
                shares: 1,
                quota: None,
                limits: TenantLimits::default(),
                unlisted: false,
            }],
            by_name: BTreeMap::new(),
        }
    }
}

impl TenantTree {
    /// The tree of `config`, with `unlisted` tenants (names it does not
    /// hold) added as leaves under the root.
    pub fn build<'a>(config: &TenantConfig, unlisted: impl Iterator<Item = &'a str>) -> TenantTree {
        let mut tree = TenantTree::default();
        for tenant in &config.tenants {
            tree.add(tenant, ROOT);
        }
        for name in unlisted {
            tree.add_unlisted(name, config.unknown_tenants.shares);
        }
        tree
    }

    fn add(&mut self, tenant: &TenantNode, parent: usize) {
        let index = self.nodes.len();
        self.nodes.push(TreeNode {
            name: tenant.name.clone(),
            parent: Some(parent),
            children: Vec::new(),
            shares: tenant.shares,
            quota: tenant.quota,
            limits: tenant.limits,
            unlisted: false,
        });
        self.nodes[parent].children.push(index);
        self.by_name.insert(tenant.name.clone(), index);
        for child in &tenant.children {
            self.add(child, index);
        }
    }

    /// Adds a leaf under the root for a tenant the configuration does not
    /// name; nothing if the tree has it already.
    pub fn add_unlisted(&mut self, name: &str, shares: u32) {
        if self.by_name.contains_key(name) {
            return;
        }
        let index = self.nodes.len();
        self.nodes.push(TreeNode {
            name: name.to_string(),
            parent: Some(ROOT),
            children: Vec::new(),
            shares,
            quota: None,
            limits: TenantLimits::default(),
            unlisted: true,
        });
        self.nodes[ROOT].children.push(index);
        self.by_name.insert(name.to_string(), index);
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// `node` and its ancestors up to the root's child, nearest first.
    pub fn ancestry(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(Some(node), move |i| {
            self.nodes[*i].parent.filter(|parent| *parent != ROOT)
        })
        .filter(|i| *i != ROOT)
    }

    /// The leaves, in tree order.
    pub fn leaves(&self) -> impl Iterator<Item = usize> + '_ {
        (1..self.nodes.len()).filter(|i| self.nodes[*i].is_leaf())
    }

    /// Depth below the root (the root's children are at 1).
    pub fn depth(&self, node: usize) -> usize {
        std::iter::successors(self.nodes[node].parent, |i| self.nodes[*i].parent).count()
    }

    /// Each node's shares as a fraction of all its siblings' shares.
    pub fn share_fractions(&self) -> Vec<f64> {
        let mut fractions = vec![1.0; self.nodes.len()];
        for node in &self.nodes {
            let total: u64 = node
                .children
                .iter()
                .map(|c| u64::from(self.nodes[*c].shares))
                .sum();
            for child in &node.children {
                fractions[*child] = if total == 0 {
                    0.0
                } else {
                    f64::from(self.nodes[*child].shares) / total as f64
                };
            }
        }
        fractions
    }

    /// Each node's normalised shares: the product of its and its
    /// ancestors' share fractions (the root's is 1).
    pub fn normalized_shares(&self) -> Vec<f64> {
        let fractions = self.share_fractions();
        let mut normalized = vec![1.0; self.nodes.len()];
        // Parents come before their children in `nodes`.
        for i in 1..self.nodes.len() {
            let parent = self.nodes[i].parent.expect("only the root has no parent");
            normalized[i] = normalized[parent] * fractions[i];
        }
        normalized
    }

    /// Sums each node's own value up the tree with `add`: each node gets
    /// its subtree's total.
    pub fn subtree_sums<T: Copy>(&self, own: &[T], add: impl Fn(T, T) -> T) -> Vec<T> {
        let mut sums = own.to_vec();
        // Children come after their parents in `nodes`.
        for i in (1..self.nodes.len()).rev() {
            let parent = self.nodes[i].parent.expect("only the root has no parent");
            sums[parent] = add(sums[parent], sums[i]);
        }
        sums
    }
}
