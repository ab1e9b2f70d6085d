//! Why a job is where it is: for a pending job, how many nodes could take it
//! and why the others cannot, what holds it back when some could, and when
//! it is expected to start if it holds a reservation.

use crate::capacity::FreeCapacity;
use crate::filter::refusal;
use crate::schedule::{Reservation, reservations};
use crate::tenancy::Tenancy;
use rota_projections::accounts::quota::Verdict;
use rota_projections::{CellState, JobState, NodeState};
use std::collections::BTreeMap;

/// Why no ready node could ever take a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeverFits {
    /// No node is ready.
    NoReadyNode,
    /// Every ready node is one the job's own constraints refuse (node
    /// selector, node affinity, taints, GPU model, extended resources).
    RefusedByEveryNode,
    /// Some ready nodes pass its constraints, but none is large enough for
    /// it even when empty.
    LargerThanEveryNode,
}

/// The explanation of one job's placement state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub job: String,
    pub state: JobState,
    /// For pending jobs: 1-based position in the queue.
    pub queue_position: Option<usize>,
    pub priority: i32,
    /// The multifactor priority that orders the queue, with its factors.
    pub multifactor: crate::queue::Priority,
    pub nodes_total: usize,
    /// Nodes with room for the job now.
    pub nodes_fitting: usize,
    /// Why the other nodes cannot take it now: reason to count. Each node
    /// counts once, under its first refusal or, when it is only short of
    /// room, under every resource it is short of together ("insufficient
    /// cpu and memory"), so the counts add up to the nodes that do not fit.
    pub reasons: BTreeMap<String, usize>,
    /// Set when no ready node could ever take the job, with why.
    pub never_fits: Option<NeverFits>,
    /// The job's own reservation, if the policy gives it one.
    pub reservation: Option<Reservation>,
    /// For a job that fits somewhere but waits: the reservation it must not
    /// delay, or the job it queues behind.
    pub held_back_by: Option<Reservation>,
    /// For a pending job its tenant's quotas or limits keep waiting: which,
    /// with the values.
    pub held: Option<String>,
}

impl Explanation {
    /// "0/10000 nodes fit: 6200 insufficient gpus, 3800 not ready".
    pub fn summary(&self) -> String {
        let reasons: Vec<String> = self
            .reasons
            .iter()
            .map(|(reason, count)| format!("{count} {reason}"))
            .collect();
        let mut text = format!("{}/{} nodes fit", self.nodes_fitting, self.nodes_total);
        if !reasons.is_empty() {
            text.push_str(": ");
            text.push_str(&reasons.join(", "));
        }
        text
    }
}

/// Explains `job_id`, or None if the cell has no such job.
pub fn explain(state: &CellState, job_id: &str) -> Option<Explanation> {
    let job = state.jobs.get(job_id)?;
    let request = job.spec.resources;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut fitting = 0;
    let free_now = FreeCapacity::of(state);
    let conflicts = free_now.neighbour_conflicts(job);
    for (name, node) in &state.nodes {
        let not_ready = match node.state {
            NodeState::Ready => None,
            NodeState::Draining => Some("draining"),
            NodeState::Lost => Some("lost"),
        };
        if let Some(why) = not_ready {
            *reasons.entry(format!("node {why}")).or_default() += 1;
            continue;
        }
        if let Some(refused) = refusal(job, node) {
            *reasons.entry(refused.to_string()).or_default() += 1;
            continue;
        }
        if let Some(conflict) = conflicts.get(name.as_str()) {
            *reasons.entry(conflict.clone()).or_default() += 1;
            continue;
        }
        let free = node.free();
        let short: Vec<&str> = [
            (request.cpu_milli > free.cpu_milli, "cpu"),
            (request.memory_bytes > free.memory_bytes, "memory"),
            (request.gpus > free.gpus, "gpus"),
            (request.gpu_milli > free.gpu_milli, "gpu share"),
        ]
        .into_iter()
        .filter_map(|(short, resource)| short.then_some(resource))
        .collect();
        match short.as_slice() {
            [] => fitting += 1,
            resources => *reasons.entry(insufficient(resources)).or_default() += 1,
        }
    }
    let queue_position = (job.state == JobState::Pending)
        .then(|| {
            crate::queue::ordered(state)
                .position(|(id, _)| id == job_id)
                .map(|p| p + 1)
        })
        .flatten();
    let planned = if job.state == JobState::Pending {
        reservations(state)
    } else {
        Vec::new()
    };
    let reservation = planned.iter().find(|r| r.job == job_id).cloned();
    let held_back_by = (job.state == JobState::Pending && fitting > 0 && reservation.is_none())
        .then(|| planned.into_iter().find(|r| r.job != job_id))
        .flatten();
    let held = match (job.state, Tenancy::of(state).verdict(job)) {
        (JobState::Pending, Verdict::Held(reason)) => Some(reason),
        _ => None,
    };
    Some(Explanation {
        held,
        job: job_id.to_string(),
        state: job.state,
        queue_position,
        priority: job.spec.priority,
        multifactor: crate::queue::priority(state, job),
        nodes_total: state.nodes.len(),
        nodes_fitting: fitting,
        reasons,
        never_fits: (!free_now.could_ever_fit(job)).then(|| never_fits(state, job)),
        reservation,
        held_back_by,
    })
}

/// "insufficient cpu", "insufficient cpu and memory", "insufficient cpu,
/// memory and gpus".
fn insufficient(resources: &[&str]) -> String {
    let listed = match resources {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    format!("insufficient {listed}")
}

/// Why no ready node could ever take `job`, given that none could.
fn never_fits(state: &CellState, job: &rota_projections::Job) -> NeverFits {
    let mut ready = state
        .nodes
        .values()
        .filter(|node| node.state == NodeState::Ready)
        .peekable();
    if ready.peek().is_none() {
        return NeverFits::NoReadyNode;
    }
    match ready.any(|node| refusal(job, node).is_none()) {
        true => NeverFits::LargerThanEveryNode,
        false => NeverFits::RefusedByEveryNode,
    }
}
