//! A job as the fold knows it.

use rota_events::{Event, JobPreempted, JobSubmitted, Outcome, PreemptionMode, PreemptionRule};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Submitted; admission has not decided yet.
    Submitted,
    /// Admitted and waiting for a node.
    Pending,
    /// Bound to a node; its agent has not reported a start.
    Bound,
    /// Its agent reported it started.
    Running,
    /// Cancelled while on a node; the node still holds its resources until
    /// the agent reports it ended.
    Cancelling,
    /// Preempted while on a node: its agent is stopping it (after its grace
    /// period, in checkpoint mode), and the node holds its resources until
    /// the agent reports it ended.
    Preempting,
    Finished,
    Rejected,
    Cancelled,
}

impl JobState {
    /// True once nothing more can happen to the job.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Finished | JobState::Rejected | JobState::Cancelled
        )
    }

    /// True while the job holds resources on a node.
    pub fn holds_node(&self) -> bool {
        matches!(
            self,
            JobState::Bound | JobState::Running | JobState::Cancelling | JobState::Preempting
        )
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            JobState::Submitted => "submitted",
            JobState::Pending => "pending",
            JobState::Bound => "bound",
            JobState::Running => "running",
            JobState::Cancelling => "cancelling",
            JobState::Preempting => "preempting",
            JobState::Finished => "finished",
            JobState::Rejected => "rejected",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// One job: its spec, its state and the log positions and times of its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub tenant: String,
    /// Shared with the submission's decoded event and every other fold of
    /// the process; a snapshot holds its own copy.
    pub spec: Arc<JobSubmitted>,
    /// The submission's event id.
    pub submission_id: String,
    pub traceparent: Option<String>,
    pub state: JobState,
    pub node: Option<String>,
    /// The GPU devices of the current binding.
    pub gpu_devices: Vec<u32>,
    pub submitted_seq: u64,
    pub submitted_ms: u64,
    /// The admission sequence orders the pending queue; it survives requeues.
    pub admitted_seq: Option<u64>,
    /// When the job was first bound, for submit-to-placement latency.
    pub first_bound_ms: Option<u64>,
    /// When the job's current binding landed; its expected end is this plus
    /// its runtime estimate.
    pub bound_ms: Option<u64>,
    /// Placement stopped the job at its wall-clock limit.
    pub timed_out: bool,
    /// Its current binding runs on quota its tenant borrowed.
    pub reclaimable: bool,
    pub bindings: u32,
    pub finished_ms: Option<u64>,
    pub outcome: Option<Outcome>,
    pub exit_code: Option<i32>,
    /// Why the job was rejected or cancelled.
    pub reason: Option<String>,
    /// How many times it has been preempted.
    pub preemptions: u32,
    /// Its last preemption, if it was ever preempted.
    pub preempted: Option<Preemption>,
    /// Its last run ended with a checkpoint it may resume from.
    pub checkpointed: bool,
}

/// One preemption of a job, as the ledger keeps it for explaining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preemption {
    /// The job the room was for.
    pub by: String,
    pub node: String,
    pub rule: PreemptionRule,
    pub mode: PreemptionMode,
    pub grace_s: u64,
    /// When, in log milliseconds.
    pub at_ms: u64,
    /// The run time it lost, in milliseconds.
    pub lost_ms: u64,
}

impl Preemption {
    pub fn of(preempted: &JobPreempted, at_ms: u64) -> Preemption {
        Preemption {
            by: preempted.preemptor.clone(),
            node: preempted.node.clone(),
            rule: preempted.rule,
            mode: preempted.mode,
            grace_s: preempted.grace_s,
            at_ms,
            lost_ms: preempted.lost_ms,
        }
    }
}

impl Job {
    /// A job as its submission (`event`, at `seq` and log time `now_ms`)
    /// creates it, awaiting admission.
    pub fn submitted(event: &Event, spec: &Arc<JobSubmitted>, seq: u64, now_ms: u64) -> Job {
        Job {
            tenant: event.tenant.clone().unwrap_or_default(),
            spec: Arc::clone(spec),
            submission_id: event.id.clone(),
            traceparent: event.traceparent.clone(),
            state: JobState::Submitted,
            node: None,
            gpu_devices: Vec::new(),
            submitted_seq: seq,
            submitted_ms: now_ms,
            admitted_seq: None,
            first_bound_ms: None,
            bound_ms: None,
            timed_out: false,
            reclaimable: false,
            bindings: 0,
            finished_ms: None,
            outcome: None,
            exit_code: None,
            reason: None,
            preemptions: 0,
            preempted: None,
            checkpointed: false,
        }
    }

    /// When the job, on a node, reaches its wall-clock limit, in log
    /// milliseconds, if it has one.
    pub fn deadline_ms(&self) -> Option<u64> {
        let limit_ms = self.spec.walltime_s?.saturating_mul(1000);
        Some(self.bound_ms?.saturating_add(limit_ms))
    }
}
