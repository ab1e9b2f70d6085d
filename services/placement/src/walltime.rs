//! Wall-clock limits: a job still on its node at its binding time plus its
//! `walltime_s` is stopped with a `job.timed_out` decision. The fold keeps
//! the deadlines ordered (`PlacementIndex::deadlines`), so this reads only the
//! jobs whose time has come.

use rota_events::{Body, JobTimedOut, ROUND_EVENTS_MAX};
use rota_projections::{CellState, Draft, JobState};

fn running(state: &CellState, job: &str) -> bool {
    matches!(state.jobs[job].state, JobState::Bound | JobState::Running)
}

/// A timeout for every job past its limit, in deadline then job order.
pub fn timeouts(state: &CellState) -> Vec<Draft> {
    state
        .placement
        .deadlines
        .iter()
        .take_while(|(deadline, _)| *deadline <= state.now_ms)
        .filter(|(_, id)| running(state, id))
        .take(ROUND_EVENTS_MAX)
        .map(|(_, id)| {
            let job = &state.jobs[id];
            Draft {
                tenant: Some(job.tenant.clone()),
                causation_id: Some(job.submission_id.clone()),
                body: Body::JobTimedOut(JobTimedOut {
                    job: id.clone(),
                    node: job.node.clone().expect("running jobs have a node"),
                    walltime_s: job
                        .spec
                        .walltime_s
                        .expect("only limited jobs have deadlines"),
                }),
            }
        })
        .collect()
}

/// The next time a limit runs out, after the log's present.
pub fn next_deadline_ms(state: &CellState) -> Option<u64> {
    state
        .placement
        .deadlines
        .iter()
        .filter(|(deadline, id)| *deadline > state.now_ms && running(state, id))
        .map(|(deadline, _)| *deadline)
        .next()
}
