//! What an agent serves and what its runner does: the nodes, the jobs it
//! is asked to run, and the runner's reports.

use rota_events::{Outcome, Resources};
use std::collections::BTreeMap;

/// One node an agent serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub capacity: Resources,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<rota_events::Taint>,
    pub topology: rota_events::Topology,
    pub cost: u32,
    pub gpu_model: Option<String>,
}

/// A job an agent is asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobToRun {
    pub job: String,
    pub node: String,
    pub command: Vec<String>,
    pub duration_ms: Option<u64>,
    /// The job's last run ended with a checkpoint and the job says it can
    /// resume from one: its process gets `ROTA_RESUME=1`.
    pub resume: bool,
}

/// How to ask a job to checkpoint before it is stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRequest {
    /// The signal to send its process, by name; SIGTERM when the job
    /// declared neither a signal nor a command.
    pub signal: Option<String>,
    /// The command to run beside it, when it declared one.
    pub command: Vec<String>,
    /// How long it may run on before it is killed, in milliseconds.
    pub grace_ms: u64,
}

/// What a runner tells the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Started {
        job: String,
        pid: Option<u32>,
    },
    Finished {
        job: String,
        outcome: Outcome,
        exit_code: Option<i32>,
        signal: Option<i32>,
        message: Option<String>,
        /// It was asked to checkpoint and did.
        checkpointed: bool,
    },
}
