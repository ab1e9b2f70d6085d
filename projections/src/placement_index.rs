//! What placement reads beside the ledger: the pending queue in groups,
//! the wall-clock deadlines of jobs on nodes in time order, and when the
//! nodes last changed (which tells placement's remembered filters and trees
//! whether they still hold).

use crate::job::Job;
use crate::pending::PendingQueue;
use crate::projection::Projection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Placement's indexes, kept from the ledger's changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementIndex {
    /// Pending jobs, grouped for the queue order.
    pub pending: PendingQueue,
    /// When each job on a node reaches its wall-clock limit, in log
    /// milliseconds: (deadline, job), for jobs that have a limit.
    pub deadlines: BTreeSet<(u64, String)>,
    /// The sequence of the last event that changed which nodes are ready or
    /// what a node is (registration, drain, loss): what node filters see.
    pub nodes_changed_seq: u64,
}

impl Projection for PlacementIndex {
    fn queued(&mut self, id: &str, job: &Job) {
        self.pending.insert(id, job);
    }

    fn dequeued(&mut self, id: &str, job: &Job) {
        self.pending.remove(id, job);
    }

    fn placed(&mut self, id: &str, job: &Job, _now_ms: u64) {
        if let Some(deadline) = job.deadline_ms() {
            self.deadlines.insert((deadline, id.to_string()));
        }
    }

    fn released(&mut self, id: &str, job: &Job, _now_ms: u64) {
        self.stopped_at_limit(id, job);
    }

    fn stopped_at_limit(&mut self, id: &str, job: &Job) {
        if let Some(deadline) = job.deadline_ms() {
            self.deadlines.remove(&(deadline, id.to_string()));
        }
    }

    fn nodes_changed(&mut self, seq: u64) {
        self.nodes_changed_seq = seq;
    }
}
