//! Every event body of a job's and a node's life, and of the services that
//! decide between them. Type names (`Body::type_name`) are forever: a change
//! of shape is a new version with an upcaster, never a rename.

use crate::constraints::{Constraints, Taint, Topology};
use crate::policy::PolicySet;
use crate::preemption::{Checkpoint, JobNominated, JobPreempted, NominationLapsed};
use crate::roster::RosterSet;
use crate::tenants::{FairShareUpdated, TenantsSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// An amount of each resource: what a job asks for, what a node offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in thousandths of a core.
    #[serde(default)]
    pub cpu_milli: u64,
    /// Memory in bytes.
    #[serde(default)]
    pub memory_bytes: u64,
    /// Whole GPU devices.
    #[serde(default)]
    pub gpus: u32,
    /// A share of one GPU device, in thousandths (1 to 999), for a job that
    /// needs less than a whole one. On a node's free resources: the largest
    /// share free on any one device.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gpu_milli: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

impl Resources {
    /// True when every component of `self` is at most the one in `other`.
    pub fn fits_within(&self, other: &Resources) -> bool {
        self.cpu_milli <= other.cpu_milli
            && self.memory_bytes <= other.memory_bytes
            && self.gpus <= other.gpus
            && self.gpu_milli <= other.gpu_milli
    }

    /// GPU demand in thousandths of a device, whole and shared together.
    pub fn gpu_total_milli(&self) -> u64 {
        u64::from(self.gpus) * 1000 + u64::from(self.gpu_milli)
    }

    /// Component-wise sum; panics on overflow, which validation rules out.
    pub fn plus(&self, other: &Resources) -> Resources {
        Resources {
            cpu_milli: self
                .cpu_milli
                .checked_add(other.cpu_milli)
                .expect("cpu overflow"),
            memory_bytes: self
                .memory_bytes
                .checked_add(other.memory_bytes)
                .expect("memory overflow"),
            gpus: self.gpus.checked_add(other.gpus).expect("gpu overflow"),
            gpu_milli: self
                .gpu_milli
                .checked_add(other.gpu_milli)
                .expect("gpu overflow"),
        }
    }

    /// Component-wise difference; panics if `other` is larger anywhere, which
    /// would mean the fold released more than it allocated.
    pub fn minus(&self, other: &Resources) -> Resources {
        Resources {
            cpu_milli: self
                .cpu_milli
                .checked_sub(other.cpu_milli)
                .expect("cpu underflow"),
            memory_bytes: self
                .memory_bytes
                .checked_sub(other.memory_bytes)
                .expect("memory underflow"),
            gpus: self.gpus.checked_sub(other.gpus).expect("gpu underflow"),
            gpu_milli: self
                .gpu_milli
                .checked_sub(other.gpu_milli)
                .expect("gpu underflow"),
        }
    }
}

/// A client's request to run a job (schema version 2, the current one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSubmitted {
    /// The job's id, chosen by the client, unique in the cell.
    pub job: String,
    /// A human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The program and its arguments, run without a shell by `rota agent`.
    /// Empty for simulated work.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// What one instance of the job needs.
    pub resources: Resources,
    /// The declared run time in milliseconds: how long a simulated node runs
    /// the job, and the runtime estimate for scheduling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The wall-clock limit in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walltime_s: Option<u64>,
    /// Larger runs first; -1000 to 1000.
    #[serde(default)]
    pub priority: i32,
    /// The priority class, one of the policy's `priority_classes`; its value
    /// is the job's class factor in the queue order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class: Option<String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// What the job asks of its node beyond its resources.
    #[serde(default, skip_serializing_if = "Constraints::is_empty")]
    pub constraints: Constraints,
    /// How the job checkpoints when preempted in checkpoint mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// Schema version 1 of `job.submitted`: whole cores and mebibytes. Still
/// accepted; upcast to version 2 on decode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSubmittedV1 {
    pub job: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub command: Vec<String>,
    /// Whole CPU cores.
    pub cpus: u32,
    /// Memory in mebibytes.
    pub memory_mb: u64,
    #[serde(default)]
    pub gpus: u32,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub priority: i32,
}

impl JobSubmittedV1 {
    /// Version 1 to version 2: cores become millicores, mebibytes become bytes.
    pub fn upcast(self) -> JobSubmitted {
        JobSubmitted {
            job: self.job,
            name: self.name,
            command: self.command,
            resources: Resources {
                cpu_milli: u64::from(self.cpus).saturating_mul(1000),
                memory_bytes: self.memory_mb.saturating_mul(1024 * 1024),
                gpus: self.gpus,
                ..Default::default()
            },
            duration_ms: self.duration_ms,
            walltime_s: None,
            priority: self.priority,
            priority_class: None,
            labels: BTreeMap::new(),
            constraints: Constraints::default(),
            checkpoint: None,
        }
    }
}

/// A client's request to cancel one of its jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCancelRequested {
    pub job: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Admission accepted the job; it is now pending placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAdmitted {
    pub job: String,
}

/// Admission refused the job. `reason` says what was wrong, with which value,
/// and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRejected {
    pub job: String,
    /// The offending field, as a dotted path (`resources.cpu_milli`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub reason: String,
}

/// Placement bound the job to a node, reserving `resources` there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobBound {
    pub job: String,
    pub node: String,
    pub resources: Resources,
    /// The node's GPU devices the job gets: its whole ones, or the one it
    /// shares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpu_devices: Vec<u32>,
    /// The job runs on quota its tenant borrowed from siblings: that
    /// capacity may be reclaimed for them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reclaimable: bool,
}

/// A node agent started the job's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStarted {
    pub job: String,
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exited with status 0.
    Succeeded,
    /// Exited with a non-zero status, or could not be started.
    Failed,
    /// Stopped on request (cancellation).
    Killed,
    /// The agent lost track of it (restarted while it ran).
    Lost,
}

/// A node agent reports that the job's process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFinished {
    pub job: String,
    pub node: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The job checkpointed before it ended (it was asked to, and its
    /// checkpoint command or its own exit succeeded): when it runs again it
    /// may resume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checkpointed: bool,
}

/// Admission accepted a cancellation. When the job was on a node, `node`
/// names it and that node's agent stops the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCancelled {
    pub job: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// A node joined the cell (or re-joined, with possibly new capacity).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRegistered {
    pub node: String,
    /// What the node offers; `gpus` is its number of GPU devices.
    pub capacity: Resources,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    #[serde(default)]
    pub topology: Topology,
    /// What an hour of the node costs, in the operator's units; cheaper
    /// nodes score higher.
    #[serde(default)]
    pub cost: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_model: Option<String>,
    /// Named extended resources the node offers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extended: BTreeMap<String, u64>,
}

/// The node takes no new work; what runs there runs to the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDrained {
    pub node: String,
    pub reason: String,
}

/// The node stopped answering; its jobs are pending again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLost {
    pub node: String,
    pub reason: String,
}

/// A service instance claimed the service's lease at a new epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseClaimed {
    pub service: String,
    pub epoch: u64,
    /// The claiming instance, for people reading the log.
    pub holder: String,
}

/// Logged time passing: the log had been quiet for a tick interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockTick {
    /// The last stream sequence the clock had seen; it makes a tick's message
    /// id deterministic, so two clocks never tick twice for one quiet spell.
    pub after_seq: u64,
}

/// Something in the log could not be used; says what and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRejected {
    /// The subject the rejected message was published on.
    pub subject: String,
    /// Its stream sequence.
    pub seq: u64,
    /// `oversized`, `malformed`, `unknown_type`, `unknown_version`,
    /// `subject_mismatch` or `invalid_request`.
    pub kind: String,
    pub detail: String,
}

/// Placement stopped a job that ran past its wall-clock limit; its node's
/// agent stops the process and reports it finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTimedOut {
    pub job: String,
    pub node: String,
    /// The limit the job exceeded, in seconds.
    pub walltime_s: u64,
}

/// Who may write an event type (DESIGN.md section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// A client, for its own tenant.
    Client,
    /// A node agent, for its own node.
    Agent,
    /// Any service instance (lease claims).
    AnyService,
    /// The clock and liveness service.
    Clock,
    /// The cell's operator (policy changes).
    Operator,
    /// The named service, in a round.
    Service(&'static str),
}

/// The typed payload of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Shared: every fold of one process holds the same decoded spec.
    JobSubmitted(Arc<JobSubmitted>),
    JobCancelRequested(JobCancelRequested),
    JobAdmitted(JobAdmitted),
    JobRejected(JobRejected),
    JobBound(JobBound),
    JobStarted(JobStarted),
    JobFinished(JobFinished),
    JobCancelled(JobCancelled),
    NodeRegistered(NodeRegistered),
    NodeDrained(NodeDrained),
    NodeLost(NodeLost),
    LeaseClaimed(LeaseClaimed),
    ClockTick(ClockTick),
    InputRejected(InputRejected),
    JobTimedOut(JobTimedOut),
    PolicySet(PolicySet),
    TenantsSet(TenantsSet),
    FairShareUpdated(FairShareUpdated),
    RosterSet(RosterSet),
    JobPreempted(JobPreempted),
    JobNominated(JobNominated),
    NominationLapsed(NominationLapsed),
}

/// Every event type name, in documentation order.
pub const TYPE_NAMES: [&str; 22] = [
    "job.submitted",
    "job.cancel_requested",
    "job.admitted",
    "job.rejected",
    "job.bound",
    "job.started",
    "job.finished",
    "job.cancelled",
    "job.timed_out",
    "job.preempted",
    "job.nominated",
    "job.nomination_lapsed",
    "node.registered",
    "node.drained",
    "node.lost",
    "lease.claimed",
    "clock.tick",
    "input.rejected",
    "policy.set",
    "tenants.set",
    "fairshare.updated",
    "roster.set",
];

impl Body {
    /// The event's type name, as written in the envelope's `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::JobSubmitted(_) => "job.submitted",
            Body::JobCancelRequested(_) => "job.cancel_requested",
            Body::JobAdmitted(_) => "job.admitted",
            Body::JobRejected(_) => "job.rejected",
            Body::JobBound(_) => "job.bound",
            Body::JobStarted(_) => "job.started",
            Body::JobFinished(_) => "job.finished",
            Body::JobCancelled(_) => "job.cancelled",
            Body::NodeRegistered(_) => "node.registered",
            Body::NodeDrained(_) => "node.drained",
            Body::NodeLost(_) => "node.lost",
            Body::LeaseClaimed(_) => "lease.claimed",
            Body::ClockTick(_) => "clock.tick",
            Body::InputRejected(_) => "input.rejected",
            Body::JobTimedOut(_) => "job.timed_out",
            Body::PolicySet(_) => "policy.set",
            Body::TenantsSet(_) => "tenants.set",
            Body::FairShareUpdated(_) => "fairshare.updated",
            Body::RosterSet(_) => "roster.set",
            Body::JobPreempted(_) => "job.preempted",
            Body::JobNominated(_) => "job.nominated",
            Body::NominationLapsed(_) => "job.nomination_lapsed",
        }
    }

    /// The schema version this build writes for the body's type.
    pub fn version(&self) -> u32 {
        match self {
            Body::JobSubmitted(_) => crate::limits::JOB_SUBMITTED_VERSION,
            _ => 1,
        }
    }

    /// The job the event is about, if any.
    pub fn job(&self) -> Option<&str> {
        match self {
            Body::JobSubmitted(b) => Some(&b.job),
            Body::JobCancelRequested(b) => Some(&b.job),
            Body::JobAdmitted(b) => Some(&b.job),
            Body::JobRejected(b) => Some(&b.job),
            Body::JobBound(b) => Some(&b.job),
            Body::JobStarted(b) => Some(&b.job),
            Body::JobFinished(b) => Some(&b.job),
            Body::JobCancelled(b) => Some(&b.job),
            Body::JobTimedOut(b) => Some(&b.job),
            Body::JobPreempted(b) => Some(&b.job),
            Body::JobNominated(b) => Some(&b.job),
            Body::NominationLapsed(b) => Some(&b.job),
            _ => None,
        }
    }

    /// The node the event is about, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Body::JobBound(b) => Some(&b.node),
            Body::JobStarted(b) => Some(&b.node),
            Body::JobFinished(b) => Some(&b.node),
            Body::JobCancelled(b) => b.node.as_deref(),
            Body::JobTimedOut(b) => Some(&b.node),
            Body::JobPreempted(b) => Some(&b.node),
            Body::JobNominated(b) => Some(&b.node),
            Body::NominationLapsed(b) => Some(&b.node),
            Body::NodeRegistered(b) => Some(&b.node),
            Body::NodeDrained(b) => Some(&b.node),
            Body::NodeLost(b) => Some(&b.node),
            _ => None,
        }
    }

    /// Who may write this type.
    pub fn writer(&self) -> Writer {
        writer_of(self.type_name())
    }
}

/// Who may write the event type `type_name`.
pub fn writer_of(type_name: &str) -> Writer {
    match type_name {
        "job.submitted" | "job.cancel_requested" => Writer::Client,
        "job.admitted" | "job.rejected" | "job.cancelled" | "input.rejected" => {
            Writer::Service("admission")
        }
        "job.bound" | "job.timed_out" => Writer::Service("placement"),
        "job.preempted" | "job.nominated" | "job.nomination_lapsed" => {
            Writer::Service("preemption")
        }
        "policy.set" | "tenants.set" | "roster.set" => Writer::Operator,
        "fairshare.updated" => Writer::Service("fairshare"),
        "job.started" | "job.finished" | "node.registered" | "node.drained" => Writer::Agent,
        "node.lost" | "clock.tick" => Writer::Clock,
        _ => Writer::AnyService,
    }
}
