//! A node as the fold knows it.

use rota_events::Resources;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a node takes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    Ready,
    /// Runs what it has, takes nothing new.
    Draining,
    /// Stopped answering; holds nothing.
    Lost,
}

/// One node: what it offers, what is bound to it, and which jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub capacity: Resources,
    pub allocated: Resources,
    pub labels: BTreeMap<String, String>,
    pub state: NodeState,
    pub jobs: BTreeSet<String>,
    pub registered_seq: u64,
}

impl Node {
    /// What is still free, or nothing if the node was re-registered smaller
    /// than what it holds.
    pub fn free(&self) -> Resources {
        Resources {
            cpu_milli: self
                .capacity
                .cpu_milli
                .saturating_sub(self.allocated.cpu_milli),
            memory_bytes: self
                .capacity
                .memory_bytes
                .saturating_sub(self.allocated.memory_bytes),
            gpus: self.capacity.gpus.saturating_sub(self.allocated.gpus),
        }
    }
}
