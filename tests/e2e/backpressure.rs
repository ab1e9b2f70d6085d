//! Backpressure over real JetStream, with admission, placement and fair
//! share running: a burst of submissions faster than the cell can place
//! them fills the queue to the policy's `pending_jobs_max`, every submission
//! past it is rejected with the documented retryable reason, none goes
//! unanswered, the admitted jobs are bound once a node arrives, and a retry
//! is admitted once the queue has room.

use rota_admission::{QUEUE_FULL_FIELD, queue_full_reason};
use rota_events::{Body, Event, Resources};
use rota_projections::{CellState, JobState, LogEntry};
use rota_shell::access::Identity;
use rota_testkit::{TestBed, assert_replay_clean, job, small};
use std::collections::BTreeMap;

const ROTA: &str = env!("CARGO_BIN_EXE_rota");

/// The policy's bound on jobs waiting for placement in this test.
const QUEUE_LIMIT: usize = 50;

/// How many jobs the burst submits: well past the limit.
const BURST_JOBS: usize = 400;

fn burst_job_id(i: usize) -> String {
    format!("burst-{i:03}")
}

/// A node with room for every job the queue can hold at once.
fn roomy_node() -> Resources {
    Resources {
        cpu_milli: 64_000,
        memory_bytes: 64 << 30,
        gpus: 0,
        ..Default::default()
    }
}

/// Every admission decision in the log, by job: "admitted", or the
/// rejection's field and reason. A job decided twice panics.
fn decisions(entries: &[LogEntry]) -> BTreeMap<String, (String, String)> {
    let mut decided = BTreeMap::new();
    for entry in entries {
        let Ok(event) = &entry.event else { continue };
        let (job, decision) = match &event.body {
            Body::JobAdmitted(a) => (a.job.clone(), ("admitted".to_string(), String::new())),
            Body::JobRejected(r) => (
                r.job.clone(),
                (r.field.clone().unwrap_or_default(), r.reason.clone()),
            ),
            _ => continue,
        };
        let previous = decided.insert(job.clone(), decision);
        assert!(previous.is_none(), "job {job} was decided twice");
    }
    decided
}

fn jobs_in(state: &CellState, wanted: JobState) -> Vec<&String> {
    state
        .jobs
        .iter()
        .filter(|(_, job)| job.state == wanted)
        .map(|(id, _)| id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_queue_limit_is_refused_retryably_and_no_submission_is_lost() {
    let mut bed = TestBed::start().await;
    bed.run_services(false);
    let limit = QUEUE_LIMIT.to_string();
    let set = bed.rota(
        ROTA,
        &Identity::Operator,
        &["policy", "set", "--pending-jobs-max", &limit],
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );

    // No node is registered yet, so nothing admitted leaves the queue.
    let burst: Vec<Event> = (0..BURST_JOBS)
        .map(|i| job("acme", &burst_job_id(i), small(), &["true"]))
        .collect();
    bed.submit(&burst).await;
    let state = bed
        .wait_for("every submission of the burst to be decided", |s| {
            s.jobs.len() == BURST_JOBS && s.backlog.submissions.is_empty()
        })
        .await;
    assert_eq!(state.policy.pending_jobs_max, QUEUE_LIMIT as u64);
    assert_eq!(jobs_in(&state, JobState::Pending).len(), QUEUE_LIMIT);
    assert_eq!(
        jobs_in(&state, JobState::Rejected).len(),
        BURST_JOBS - QUEUE_LIMIT
    );

    let decided = decisions(&bed.entries().await);
    let ids: Vec<String> = (0..BURST_JOBS).map(burst_job_id).collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !decided.contains_key(*id)).collect();
    assert!(missing.is_empty(), "submissions never decided: {missing:?}");
    assert_eq!(decided.len(), BURST_JOBS, "only the burst was decided");
    let full = (
        QUEUE_FULL_FIELD.to_string(),
        queue_full_reason(QUEUE_LIMIT as u64, QUEUE_LIMIT as u64),
    );
    let admitted = decided.values().filter(|d| d.0 == "admitted").count();
    let queue_full = decided.values().filter(|d| **d == full).count();
    assert_eq!(
        (admitted, queue_full),
        (QUEUE_LIMIT, BURST_JOBS - QUEUE_LIMIT),
        "every submission is admitted or refused as queue full: {decided:?}"
    );
    let mut in_log_order = ids.clone();
    in_log_order.sort_by_key(|id| state.jobs[id].submitted_seq);
    assert!(
        in_log_order[..QUEUE_LIMIT]
            .iter()
            .all(|id| decided[id].0 == "admitted"),
        "the earliest submissions in the log fill the queue"
    );

    // A node arrives: placement drains the queue.
    bed.register_nodes(1, roomy_node()).await;
    let state = bed
        .wait_for("every admitted job to be bound", |s| {
            jobs_in(s, JobState::Bound).len() == QUEUE_LIMIT && s.placement.pending.is_empty()
        })
        .await;
    assert_eq!(
        jobs_in(&state, JobState::Rejected).len(),
        BURST_JOBS - QUEUE_LIMIT
    );

    // With room again, a rejected job's retry (a new submission, so a new
    // job id) is admitted.
    bed.submit(&[job("acme", "burst-retry", small(), &["true"])])
        .await;
    bed.wait_for("the retry to be admitted and bound", |s| {
        s.jobs
            .get("burst-retry")
            .is_some_and(|j| j.state == JobState::Bound)
    })
    .await;

    bed.stop_services().await;
    assert_replay_clean(&bed.entries().await);
}
