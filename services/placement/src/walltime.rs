//! Wall-clock limits: a job still on its node at its binding time plus its
//! `walltime_s` is stopped with a `job.timed_out` decision.

use rota_events::{Body, JobTimedOut, ROUND_EVENTS_MAX};
use rota_projections::{CellState, Draft, Job, JobState};

/// When the job's limit runs out, in log milliseconds, if it has one and is
/// running under it.
fn deadline_ms(job: &Job) -> Option<u64> {
    let limit_ms = job.spec.walltime_s?.saturating_mul(1000);
    match job.state {
        JobState::Bound | JobState::Running => Some(job.bound_ms?.saturating_add(limit_ms)),
        _ => None,
    }
}

fn jobs_on_nodes(state: &CellState) -> impl Iterator<Item = (&String, &Job)> {
    state
        .nodes
        .values()
        .flat_map(|node| node.jobs.iter())
        .map(|id| (id, &state.jobs[id]))
}

/// A timeout for every job past its limit, in node then job order.
pub fn timeouts(state: &CellState) -> Vec<Draft> {
    jobs_on_nodes(state)
        .filter(|(_, job)| deadline_ms(job).is_some_and(|deadline| deadline <= state.now_ms))
        .take(ROUND_EVENTS_MAX)
        .map(|(id, job)| Draft {
            tenant: Some(job.tenant.clone()),
            causation_id: Some(job.submission_id.clone()),
            body: Body::JobTimedOut(JobTimedOut {
                job: id.clone(),
                node: job.node.clone().expect("jobs on nodes have a node"),
                walltime_s: job.spec.walltime_s.expect("only limited jobs time out"),
            }),
        })
        .collect()
}

/// The next time a limit runs out, after the log's present.
pub fn next_deadline_ms(state: &CellState) -> Option<u64> {
    jobs_on_nodes(state)
        .filter_map(|(_, job)| deadline_ms(job))
        .filter(|deadline| *deadline > state.now_ms)
        .min()
}
