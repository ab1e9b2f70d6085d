//! The admission service's decision core.
//!
//! Admission answers every message that asks something of the cell: each
//! submission is admitted or rejected (with a reason that names the field,
//! the value and what would be accepted), each cancellation is carried out or
//! refused, and every message the fold could not use is answered with an
//! `input.rejected` event. It works through its backlog in log order. A
//! valid submission is still rejected, retryably, while the cell's queue is
//! at the policy's `pending_jobs_max`.

mod constraints;
mod limits;
mod queue_limit;
mod tenancy;
mod validate;

pub use limits::*;
use queue_limit::QueueGate;
pub use queue_limit::{
    QUEUE_FULL_FIELD, QUEUE_FULL_REASON_PREFIX, queue_full_reason, tenant_queue_full_reason,
};
use tenancy::TenantGate;
pub use validate::{Refusal, validate};

use rota_events::{
    Body, InputRejected, JobAdmitted, JobCancelled, JobRejected, ROUND_EVENTS_MAX, TEXT_BYTES_MAX,
};
use rota_projections::{CellState, Decider, Draft, Folded, Job, JobState};
use std::collections::BTreeMap;

/// The service's name in leases and round tags.
pub const SERVICE: &str = "admission";

/// Admission's decision rule: work through the backlog in log order.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdmissionRules;

impl Decider for AdmissionRules {
    const SERVICE: &'static str = SERVICE;

    fn drafts(&self, state: &CellState) -> Vec<Draft> {
        drafts(state)
    }
}

/// The admission core: the shared fold and [`AdmissionRules`].
pub type Admission = Folded<AdmissionRules>;

/// One item of admission's backlog.
enum Work<'a> {
    Submission(&'a str),
    Cancel(u64),
    Rejection(u64),
}

/// The round's decisions: the oldest backlog items, in log order, at most a
/// round's worth.
fn drafts(state: &CellState) -> Vec<Draft> {
    let owed = &state.backlog;
    let mut backlog: Vec<(u64, Work)> = Vec::new();
    backlog.extend(
        owed.submissions
            .iter()
            .take(ROUND_EVENTS_MAX)
            .map(|(seq, job)| (*seq, Work::Submission(job))),
    );
    backlog.extend(
        state
            .cancel_requests
            .keys()
            .take(ROUND_EVENTS_MAX)
            .map(|seq| (*seq, Work::Cancel(*seq))),
    );
    backlog.extend(
        owed.rejections
            .keys()
            .take(ROUND_EVENTS_MAX)
            .map(|seq| (*seq, Work::Rejection(*seq))),
    );
    backlog.sort_by_key(|(seq, _)| *seq);
    backlog.truncate(ROUND_EVENTS_MAX);

    // Decisions earlier in this round change what later ones see: a job
    // admitted here can be cancelled here, but not cancelled twice.
    let mut decided: BTreeMap<&str, JobState> = BTreeMap::new();
    let mut gates = Gates {
        tenants: TenantGate::of(state),
        queue: QueueGate::of(state),
    };
    backlog
        .into_iter()
        .map(|(_, work)| match work {
            Work::Submission(job) => decide_submission(state, job, &mut decided, &mut gates),
            Work::Cancel(seq) => decide_cancel(state, seq, &mut decided),
            Work::Rejection(seq) => {
                let rejection = &owed.rejections[&seq];
                Draft {
                    tenant: rejection.tenant.clone(),
                    causation_id: None,
                    body: Body::InputRejected(InputRejected {
                        subject: rejection.subject.clone(),
                        seq,
                        kind: rejection.kind.clone(),
                        detail: rejection.detail.clone(),
                    }),
                }
            }
        })
        .collect()
}

/// What a round's earlier admissions change for later submissions.
struct Gates<'a> {
    tenants: TenantGate<'a>,
    queue: QueueGate,
}

/// Checks a submission in order: its own values, then its tenant, then room
/// in the cell's queue. A submission that could never be admitted gets the
/// reason to change it rather than a queue-full reason that invites a retry.
fn check_submission(state: &CellState, job: &Job, gates: &Gates) -> Result<(), Refusal> {
    validate(&job.spec, &state.policy)?;
    if let Some(reason) = gates.tenants.refusal(&job.tenant, job) {
        return Err(Refusal {
            field: "tenant".to_string(),
            reason,
        });
    }
    gates.queue.refusal(&job.tenant).map_or(Ok(()), Err)
}

fn decide_submission<'a>(
    state: &'a CellState,
    job_id: &'a str,
    decided: &mut BTreeMap<&'a str, JobState>,
    gates: &mut Gates<'a>,
) -> Draft {
    let job = &state.jobs[job_id];
    let body = match check_submission(state, job, gates) {
        Ok(()) => {
            decided.insert(job_id, JobState::Pending);
            gates.tenants.note_admitted(&job.tenant);
            gates.queue.note_admitted(&job.tenant);
            Body::JobAdmitted(JobAdmitted {
                job: job_id.to_string(),
            })
        }
        Err(refusal) => {
            decided.insert(job_id, JobState::Rejected);
            Body::JobRejected(JobRejected {
                job: job_id.to_string(),
                field: Some(refusal.field),
                reason: refusal.reason,
            })
        }
    };
    Draft {
        tenant: Some(job.tenant.clone()),
        causation_id: Some(job.submission_id.clone()),
        body,
    }
}

fn decide_cancel<'a>(
    state: &'a CellState,
    seq: u64,
    decided: &mut BTreeMap<&'a str, JobState>,
) -> Draft {
    let request = &state.cancel_requests[&seq];
    let refuse = |detail: String| Draft {
        tenant: Some(request.tenant.clone()),
        causation_id: Some(request.event_id.clone()),
        body: Body::InputRejected(InputRejected {
            subject: format!(
                "rota.{}.job.{}.{}.cancel_requested",
                state.cell, request.tenant, request.job
            ),
            seq,
            kind: "invalid_request".to_string(),
            detail,
        }),
    };
    if let Some(reason) = request.reason.as_ref().filter(|r| r.len() > TEXT_BYTES_MAX) {
        return refuse(format!(
            "cancel refused: the reason is {} bytes; it may be at most {TEXT_BYTES_MAX}",
            reason.len()
        ));
    }
    let Some(job) = state.jobs.get(&request.job) else {
        return refuse(format!(
            "cancel refused: job {:?} is not in this cell: it was never submitted, or it ended and is no longer retained",
            request.job
        ));
    };
    if job.tenant != request.tenant {
        return refuse(format!(
            "cancel refused: job {:?} belongs to another tenant; a tenant may cancel only its own jobs",
            request.job
        ));
    }
    let current = decided
        .get(request.job.as_str())
        .copied()
        .unwrap_or(job.state);
    if current.is_terminal() || current == JobState::Cancelling {
        return refuse(format!(
            "cancel refused: job {:?} is already {}",
            request.job,
            current.as_str()
        ));
    }
    let on_node = current.holds_node();
    decided.insert(
        &request.job,
        if on_node {
            JobState::Cancelling
        } else {
            JobState::Cancelled
        },
    );
    Draft {
        tenant: Some(request.tenant.clone()),
        causation_id: Some(request.event_id.clone()),
        body: Body::JobCancelled(JobCancelled {
            job: request.job.clone(),
            reason: request
                .reason
                .clone()
                .unwrap_or_else(|| "cancelled on request".to_string()),
            node: if on_node { job.node.clone() } else { None },
        }),
    }
}
