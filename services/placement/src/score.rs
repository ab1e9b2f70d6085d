//! Scorers: how good a node is for a job that fits on it, each from 0 to
//! [`SCORE_MAX`], combined by the policy's strategy and weights. Integer
//! arithmetic only, so that every platform ranks nodes alike.

use crate::filter::soft_taints;
use rota_events::{PlacementPolicy, Resources, Strategy};
use rota_projections::{Job, Node};

/// The best score of one scorer.
pub const SCORE_MAX: u64 = 1000;

/// Thousandths of `total` that `part` is.
fn permille(part: u64, total: u64) -> u64 {
    if total == 0 {
        0
    } else {
        (u128::from(part) * u128::from(SCORE_MAX) / u128::from(total)) as u64
    }
}

/// Each scorer's score for one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scores {
    /// Most allocated after placing the job: the binpack score.
    pub resource_fit: u64,
    pub affinity: u64,
    pub load_balance: u64,
    pub data_locality: u64,
    pub cost: u64,
}

/// Scores `node` for `job`, where `free_after` is what the node would have
/// free once the job is placed, and `max_cost` the dearest ready node's cost.
pub fn scores(job: &Job, node: &Node, free_after: &Resources, max_cost: u32) -> Scores {
    let capacity = &node.capacity;
    let cpu_used = permille(
        capacity.cpu_milli - free_after.cpu_milli.min(capacity.cpu_milli),
        capacity.cpu_milli,
    );
    let memory_used = permille(
        capacity.memory_bytes - free_after.memory_bytes.min(capacity.memory_bytes),
        capacity.memory_bytes,
    );
    let constraints = &job.spec.constraints;
    let preferred_total: u64 = constraints
        .affinity
        .preferred
        .iter()
        .map(|p| u64::from(p.weight))
        .sum();
    let preferred_matched: u64 = constraints
        .affinity
        .preferred
        .iter()
        .filter(|p| p.requirement.matches(&node.labels))
        .map(|p| u64::from(p.weight))
        .sum();
    let affinity = if preferred_total == 0 {
        SCORE_MAX
    } else {
        permille(preferred_matched, preferred_total)
    };
    let soft_penalty = soft_taints(job, node) as u64 * (SCORE_MAX / 2);
    Scores {
        resource_fit: (cpu_used + memory_used) / 2,
        affinity: affinity.saturating_sub(soft_penalty),
        load_balance: SCORE_MAX - cpu_used.abs_diff(memory_used),
        data_locality: match &constraints.data_zone {
            None => SCORE_MAX,
            Some(zone) if node.topology.zone.as_ref() == Some(zone) => SCORE_MAX,
            Some(_) => 0,
        },
        cost: SCORE_MAX - permille(u64::from(node.cost), u64::from(max_cost)),
    }
}

/// The scores combined under the policy's strategy.
pub fn total(policy: &PlacementPolicy, scores: &Scores) -> u64 {
    let w = &policy.weights;
    match policy.strategy {
        Strategy::Binpack => scores.resource_fit,
        Strategy::Spread => SCORE_MAX - scores.resource_fit,
        Strategy::Weighted => {
            u64::from(w.resource_fit) * scores.resource_fit
                + u64::from(w.affinity) * scores.affinity
                + u64::from(w.load_balance) * scores.load_balance
                + u64::from(w.data_locality) * scores.data_locality
                + u64::from(w.cost) * scores.cost
        }
    }
}
