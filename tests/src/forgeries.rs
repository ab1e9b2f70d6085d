//! The events forgery tests write: a job no node can take, a binding
//! placement did not decide, a registration that shrinks a node.

use crate::{CELL, TestBed, job, sim_fleet, small, small_job};
use rota_events::Outcome;
use rota_events::{Body, Event, JobBound, NodeRegistered, Resources};
use rota_projections::{CellState, Draft, JobState};
use rota_shell::nodes::{SimRunner, run_nodes};

/// A job of `tenant` that selects a zone no node is in, so it waits.
pub fn job_for_no_node(tenant: &str, id: &str) -> Event {
    let mut waiting = job(tenant, id, small(), &[]);
    if let Body::JobSubmitted(spec) = &mut waiting.body {
        std::sync::Arc::make_mut(spec)
            .constraints
            .node_selector
            .insert("zone".into(), "nowhere".into());
    }
    waiting
}

/// Submits [`job_for_no_node`] and waits until it is admitted and
/// placement holds its lease; returns that state.
pub async fn waiting_job(bed: &TestBed, tenant: &str, id: &str) -> CellState {
    bed.submit(&[job_for_no_node(tenant, id)]).await;
    bed.wait_for("the job admitted and placement's lease taken", |s| {
        s.lease_epoch("placement") >= 1
            && s.jobs.get(id).is_some_and(|j| j.state == JobState::Pending)
    })
    .await
}

/// A binding of `tenant`'s `job` onto `node`, as placement would write it.
pub fn binding(tenant: &str, job: &str, node: &str) -> Draft {
    Draft {
        tenant: Some(tenant.into()),
        causation_id: None,
        body: Body::JobBound(JobBound {
            job: job.into(),
            node: node.into(),
            resources: small(),
            gpu_devices: Vec::new(),
            reclaimable: false,
        }),
    }
}

/// A registration of `node` with one millicore and one byte, and a label
/// of its forger's.
pub fn shrunk_registration(id: &str, node: &str) -> Event {
    Event::new(
        id,
        CELL,
        Body::NodeRegistered(NodeRegistered {
            node: node.into(),
            capacity: Resources {
                cpu_milli: 1,
                memory_bytes: 1,
                ..Default::default()
            },
            labels: [("owned-by".to_string(), "mallory".to_string())].into(),
            ..Default::default()
        }),
    )
}

/// How long the job a forgery aims at runs, on a simulated node at real
/// time: long enough for the forgery to land while it runs.
pub const VICTIM_RUNS_MS: u64 = 3_000;

/// Admission and placement in `bed`, and one simulated node
/// running a job `victim` of [`VICTIM_RUNS_MS`]; returns the state once it
/// runs.
pub async fn running_victim(bed: &mut TestBed) -> (CellState, tokio::task::JoinHandle<()>) {
    bed.run_named(&["admission", "placement"]);
    let fleet = tokio::spawn({
        let (log, shutdown) = (bed.fleet.clone(), bed.shutdown.clone());
        async move {
            run_nodes(
                log,
                sim_fleet("victim-node", 1),
                SimRunner::new(1.0),
                shutdown,
            )
            .await
            .expect("the fleet runs");
        }
    });
    bed.submit(&[small_job("acme", "victim", VICTIM_RUNS_MS)])
        .await;
    let state = bed
        .wait_for("the victim to run", |s| {
            s.jobs
                .get("victim")
                .is_some_and(|j| j.state == JobState::Running)
        })
        .await;
    (state, fleet)
}

/// Waits for the victim to end, and asserts that it succeeded: its agent
/// ran it to its end whatever was forged.
pub async fn victim_succeeds(bed: &TestBed) -> CellState {
    let ended = bed
        .wait_for("the victim to finish", |s| {
            s.jobs.get("victim").is_some_and(|j| j.state.is_terminal())
        })
        .await;
    assert_eq!(ended.jobs["victim"].outcome, Some(Outcome::Succeeded));
    ended
}
