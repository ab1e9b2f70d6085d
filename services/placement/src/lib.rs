//! The placement service's decision core: multi-resource first fit.
//!
//! Placement is the only writer that consumes capacity. Each round walks the
//! pending queue (higher priority first, then admission order) and binds each
//! job to the first ready node, in name order, whose free cpu, memory and
//! GPUs all cover the request. The full engine (constraints, scoring,
//! backfill) replaces this behind the same contract.

use rota_events::{Body, JobBound, ROUND_EVENTS_MAX, Resources};
use rota_projections::{CellState, Decider, Draft, Folded, NodeState};
use std::collections::BTreeMap;

/// The service's name in leases and round tags.
pub const SERVICE: &str = "placement";

/// Most pending jobs one round looks at, so that a deep queue of jobs that fit
/// nowhere cannot make a round unbounded.
pub const ROUND_JOBS_SCANNED_MAX: usize = 20_000;

/// Most request shapes remembered as fitting nowhere this round.
pub const UNFIT_SHAPES_MAX: usize = 64;

/// Placement's decision rule: first fit in queue order.
#[derive(Debug, Clone, Copy, Default)]
pub struct FirstFit;

impl Decider for FirstFit {
    const SERVICE: &'static str = SERVICE;

    fn drafts(&self, state: &CellState) -> Vec<Draft> {
        first_fit(state)
    }
}

/// The placement core: the shared fold and [`FirstFit`].
pub type Placement = Folded<FirstFit>;

/// Binds pending jobs in queue order to the first node that fits each.
pub fn first_fit(state: &CellState) -> Vec<Draft> {
    // Free capacity of ready nodes, updated as this round binds.
    let mut free: BTreeMap<&str, Resources> = state
        .nodes
        .iter()
        .filter(|(_, node)| node.state == NodeState::Ready)
        .map(|(name, node)| (name.as_str(), node.free()))
        .collect();
    let mut unfit: Vec<Resources> = Vec::new();
    let mut drafts = Vec::new();
    for job_id in state.pending.values().take(ROUND_JOBS_SCANNED_MAX) {
        if drafts.len() == ROUND_EVENTS_MAX || free.is_empty() {
            break;
        }
        let job = &state.jobs[job_id];
        let request = job.spec.resources;
        // A request at least as large as one that already fit nowhere cannot
        // fit now: capacity only shrinks within a round.
        if unfit.iter().any(|shape| shape.fits_within(&request)) {
            continue;
        }
        let chosen = free
            .iter()
            .find(|(_, available)| request.fits_within(available))
            .map(|(name, _)| *name);
        let Some(node) = chosen else {
            if unfit.len() < UNFIT_SHAPES_MAX {
                unfit.push(request);
            }
            continue;
        };
        let available = free.get_mut(node).expect("chosen from the map");
        *available = available.minus(&request);
        drafts.push(Draft {
            tenant: Some(job.tenant.clone()),
            causation_id: Some(job.submission_id.clone()),
            body: Body::JobBound(JobBound {
                job: job_id.clone(),
                node: node.to_string(),
                resources: request,
            }),
        });
    }
    drafts
}
