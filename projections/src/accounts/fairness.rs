//! Fair-share factors from the tree, usage and allocations: Slurm's
//! classic formula, Slurm's Fair Tree, and dominant resource fairness.
//! Pure functions of their inputs; floating point only in basic arithmetic
//! and [`exp2_nonpositive`], so every platform computes the same factors.

use super::Accounts;
use super::decay::exp2_nonpositive;
use super::tree::{ROOT, TenantTree};
use rota_events::{FairShareMode, ResourceAmounts};

/// The largest factor.
pub const FACTOR_MAX: u32 = 1000;

/// A fraction in [0, 1] as thousandths.
pub fn to_factor(fraction: f64) -> u32 {
    (fraction * f64::from(FACTOR_MAX))
        .round()
        .clamp(0.0, f64::from(FACTOR_MAX)) as u32
}

/// `2^(-used / entitled)`: 1 when nothing is used, halving with every
/// entitlement's worth used; 0 for a tenant entitled to nothing.
fn decaying_factor(used: f64, entitled: f64) -> f64 {
    if entitled <= 0.0 {
        return 0.0;
    }
    exp2_nonpositive(-(used / entitled).max(0.0))
}

/// Each node's usage as a fraction of the whole cell's.
fn normalized(values: &[f64]) -> Vec<f64> {
    let total = values[ROOT];
    values
        .iter()
        .map(|v| if total > 0.0 { v / total } else { 0.0 })
        .collect()
}

/// Each node's effective usage (Slurm's classic): its normalised usage,
/// pulled towards its parent's effective usage by its share fraction, so
/// that a tenant in a heavily used account ranks below one in a lightly
/// used one. The root's children use their own normalised usage.
pub fn effective_usage(tree: &TenantTree, usage: &[f64]) -> Vec<f64> {
    let norm = normalized(usage);
    let fractions = tree.share_fractions();
    let mut effective = norm.clone();
    for i in 1..tree.nodes.len() {
        let parent = tree.nodes[i].parent.expect("only the root has no parent");
        if parent != ROOT {
            effective[i] = norm[i] + (effective[parent] - norm[i]) * fractions[i];
        }
    }
    effective
}

/// Classic factors per node: `2^(-effective usage / normalised shares)`.
pub fn classic(tree: &TenantTree, usage: &[f64]) -> Vec<f64> {
    let effective = effective_usage(tree, usage);
    let shares = tree.normalized_shares();
    effective
        .iter()
        .zip(&shares)
        .map(|(used, entitled)| decaying_factor(*used, *entitled))
        .collect()
}

/// Fair Tree factors per node (leaves only; inner nodes 0): siblings are
/// ordered by level fair share, their share fraction over their fraction of
/// the siblings' usage (no usage ranks first), ties by name; the tree is
/// walked depth first in that order and each leaf's factor is its rank
/// from the bottom over the number of leaves. Sibling leaves with equal
/// level fair share share a rank.
pub fn fair_tree(tree: &TenantTree, usage: &[f64]) -> Vec<f64> {
    let fractions = tree.share_fractions();
    let leaves = tree.leaves().count();
    let mut factors = vec![0.0; tree.nodes.len()];
    if leaves == 0 {
        return factors;
    }
    let mut rank = leaves;
    visit_fair_tree(
        tree,
        usage,
        &fractions,
        ROOT,
        leaves,
        &mut rank,
        &mut factors,
    );
    factors
}

fn level_fair_share(fraction: f64, used: f64, siblings_used: f64) -> f64 {
    if siblings_used <= 0.0 || used <= 0.0 {
        return f64::INFINITY;
    }
    fraction / (used / siblings_used)
}

fn visit_fair_tree(
    tree: &TenantTree,
    usage: &[f64],
    fractions: &[f64],
    node: usize,
    leaves: usize,
    rank: &mut usize,
    factors: &mut [f64],
) {
    let children = &tree.nodes[node].children;
    let siblings_used: f64 = children.iter().map(|c| usage[*c]).sum();
    let mut ordered: Vec<(f64, &str, usize)> = children
        .iter()
        .map(|c| {
            let level = level_fair_share(fractions[*c], usage[*c], siblings_used);
            (level, tree.nodes[*c].name.as_str(), *c)
        })
        .collect();
    ordered.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let mut i = 0;
    while i < ordered.len() {
        let (level, _, child) = ordered[i];
        if !tree.nodes[child].is_leaf() {
            visit_fair_tree(tree, usage, fractions, child, leaves, rank, factors);
            i += 1;
            continue;
        }
        // Sibling leaves of equal level fair share share the rank.
        let tied = ordered[i..]
            .iter()
            .take_while(|(other, _, c)| *other == level && tree.nodes[*c].is_leaf())
            .count();
        for (_, _, leaf) in &ordered[i..i + tied] {
            factors[*leaf] = *rank as f64 / leaves as f64;
        }
        *rank = rank.saturating_sub(tied);
        i += tied;
    }
}

/// A tenant's dominant share: the largest fraction of the cell's capacity
/// it holds in any resource.
pub fn dominant_share(allocated: &ResourceAmounts, capacity: &ResourceAmounts) -> f64 {
    allocated
        .named()
        .iter()
        .zip(capacity.named())
        .filter(|(_, (_, total))| *total > 0)
        .map(|((_, held), (_, total))| *held as f64 / total as f64)
        .fold(0.0, f64::max)
}

/// The DRF factor of a tenant holding `allocated` of `capacity` with
/// normalised shares `entitled`: `2^(-dominant share / entitled)`.
pub fn drf_factor(allocated: &ResourceAmounts, capacity: &ResourceAmounts, entitled: f64) -> u32 {
    to_factor(decaying_factor(
        dominant_share(allocated, capacity),
        entitled,
    ))
}

/// Every tenant's (leaf's) factor under the policy's mode, at `now_ms`,
/// for a cell of `capacity`, as (tree node, factor): what the fair-share
/// service publishes.
pub fn leaf_factors(
    accounts: &Accounts,
    now_ms: u64,
    capacity: &ResourceAmounts,
) -> Vec<(usize, u32)> {
    let tree = &accounts.tree;
    let per_node: Vec<f64> = match accounts.config.fair_share.mode {
        FairShareMode::Classic => classic(tree, &subtree_usage(accounts, now_ms)),
        FairShareMode::FairTree => fair_tree(tree, &subtree_usage(accounts, now_ms)),
        FairShareMode::Drf => {
            let shares = tree.normalized_shares();
            let allocated = subtree_allocated(accounts);
            (0..tree.nodes.len())
                .map(|i| decaying_factor(dominant_share(&allocated[i], capacity), shares[i]))
                .collect()
        }
    };
    tree.leaves()
        .map(|leaf| (leaf, to_factor(per_node[leaf])))
        .collect()
}

/// Each node's decayed usage at `now_ms` with its subtree's, in usage
/// units.
pub fn subtree_usage(accounts: &Accounts, now_ms: u64) -> Vec<f64> {
    let own: Vec<f64> = accounts
        .own_usage_milli(now_ms)
        .iter()
        .map(|milli| *milli as f64 / 1000.0)
        .collect();
    accounts.tree.subtree_sums(&own, |a, b| a + b)
}

/// What each node and its subtree hold now.
pub fn subtree_allocated(accounts: &Accounts) -> Vec<ResourceAmounts> {
    accounts
        .tree
        .subtree_sums(&accounts.own_allocated(), |a, b| a.plus(&b))
}
