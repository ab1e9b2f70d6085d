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
    },
}
