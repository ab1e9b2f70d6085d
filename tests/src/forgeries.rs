//! The events forgery tests write: a job no node can take, a binding
//! placement did not decide, a registration that shrinks a node.

use crate::{CELL, TestBed, job, small};
use rota_events::{Body, Event, JobBound, NodeRegistered, Resources};
use rota_projections::{CellState, Draft, JobState};

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
