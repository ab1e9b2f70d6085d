//! Counts of what happened to the cell's jobs since the log began. Ended
//! jobs leave the fold (`retention.rs`); these counts do not, so a summary
//! of a whole run never needs every job in memory.

use rota_events::Outcome;
use serde::{Deserialize, Serialize};

/// Jobs by how their life went, counted once each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTally {
    /// Submissions the fold took as new jobs.
    pub submitted: u64,
    /// Bindings that took effect (a job bound again after its node was lost
    /// counts again).
    pub bindings: u64,
    pub finished: u64,
    /// Finished jobs whose outcome was success.
    pub succeeded: u64,
    pub rejected: u64,
    pub cancelled: u64,
    /// Preemptions that took effect (a job preempted twice counts twice).
    pub preempted: u64,
}

impl JobTally {
    /// Jobs that have ended: finished, rejected or cancelled.
    pub fn ended(&self) -> u64 {
        self.finished + self.rejected + self.cancelled
    }

    /// Counts a job that finished with `outcome`.
    pub fn on_finished(&mut self, outcome: Option<Outcome>) {
        self.finished += 1;
        self.succeeded += u64::from(outcome == Some(Outcome::Succeeded));
    }
}
