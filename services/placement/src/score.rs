//! Scorers: how good a node is for a job that fits on it, each from 0 to
//! [`SCORE_MAX`] and each its own function, combined by the policy's
//! strategy and weights. Integer arithmetic only, so that every platform
//! ranks nodes alike.

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

/// What a scorer is told about one candidate node.
pub struct Candidate<'a> {
    pub job: &'a Job,
    pub node: &'a Node,
    /// What the node would have free once the job is placed.
    pub free_after: Resources,
    /// The dearest ready node's cost.
    pub max_cost: u32,
    /// The job's preferences about other jobs here: (weight met, weight
    /// stated).
    pub job_preference: (u64, u64),
}

impl Candidate<'_> {
    /// Thousandths of the node's cpu and memory in use after placing the job.
    fn used_permille(&self) -> (u64, u64) {
        let capacity = &self.node.capacity;
        let free = &self.free_after;
        (
            permille(
                capacity.cpu_milli - free.cpu_milli.min(capacity.cpu_milli),
                capacity.cpu_milli,
            ),
            permille(
                capacity.memory_bytes - free.memory_bytes.min(capacity.memory_bytes),
                capacity.memory_bytes,
            ),
        )
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

/// Fuller nodes score higher: the mean of cpu and memory in use.
fn resource_fit(candidate: &Candidate) -> u64 {
    let (cpu, memory) = candidate.used_permille();
    (cpu + memory) / 2
}

/// The share of the job's stated preferences the node meets: preferred node
/// affinity and preferences about other jobs, each by weight, less half the
/// scale for every untolerated soft taint.
fn affinity(candidate: &Candidate) -> u64 {
    let preferred = &candidate.job.spec.constraints.affinity.preferred;
    let labels = &candidate.node.labels;
    let (jobs_met, jobs_stated) = candidate.job_preference;
    let stated: u64 = jobs_stated + preferred.iter().map(|p| u64::from(p.weight)).sum::<u64>();
    let met: u64 = jobs_met
        + preferred
            .iter()
            .filter(|p| p.requirement.matches(labels))
            .map(|p| u64::from(p.weight))
            .sum::<u64>();
    let score = if stated == 0 {
        SCORE_MAX
    } else {
        permille(met, stated)
    };
    let soft_penalty = soft_taints(candidate.job, candidate.node) as u64 * (SCORE_MAX / 2);
    score.saturating_sub(soft_penalty)
}

/// Nodes whose cpu and memory would be used evenly score higher.
fn load_balance(candidate: &Candidate) -> u64 {
    let (cpu, memory) = candidate.used_permille();
    SCORE_MAX - cpu.abs_diff(memory)
}

/// Nodes in the zone of the job's data score full; others nothing.
fn data_locality(candidate: &Candidate) -> u64 {
    match &candidate.job.spec.constraints.data_zone {
        None => SCORE_MAX,
        Some(zone) if candidate.node.topology.zone.as_ref() == Some(zone) => SCORE_MAX,
        Some(_) => 0,
    }
}

/// Cheaper nodes score higher, relative to the dearest ready node.
fn cost(candidate: &Candidate) -> u64 {
    SCORE_MAX
        - permille(
            u64::from(candidate.node.cost),
            u64::from(candidate.max_cost),
        )
}

/// Every scorer's score for one candidate.
pub fn scores(candidate: &Candidate) -> Scores {
    Scores {
        resource_fit: resource_fit(candidate),
        affinity: affinity(candidate),
        load_balance: load_balance(candidate),
        data_locality: data_locality(candidate),
        cost: cost(candidate),
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
