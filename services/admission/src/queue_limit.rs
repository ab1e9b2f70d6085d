//! The cell-wide bound on jobs waiting for placement: backpressure that loses
//! nothing. Past the policy's `pending_jobs_max`, a submission that would
//! otherwise be admitted is rejected with a reason that asks the client to
//! retry, so a burst faster than placement cannot grow the queue without end
//! and every submission still gets an answer.

use crate::Refusal;
use rota_projections::CellState;

/// The `field` of a queue-full rejection: the refusal concerns the cell's
/// queue, not any field of the submission.
pub const QUEUE_FULL_FIELD: &str = "queue";

/// How every queue-full reason begins, so that clients and tests can tell
/// this retryable rejection from the ones that need a changed submission.
pub const QUEUE_FULL_REASON_PREFIX: &str = "the cell's queue is full: ";

/// The reason of a queue-full rejection with `waiting` jobs waiting for
/// placement under a limit of `limit`.
pub fn queue_full_reason(waiting: u64, limit: u64) -> String {
    format!(
        "{QUEUE_FULL_REASON_PREFIX}{waiting} jobs wait for placement, the limit is {limit} (policy pending_jobs_max); retry later"
    )
}

/// Admission's count of waiting jobs during one round.
pub struct QueueGate {
    /// Jobs pending in the fold at the round's basis plus those the round has
    /// admitted. Cancellations in the round are not subtracted: they free
    /// room from the next round on, so the count never falls below the truth
    /// and the limit holds.
    waiting: u64,
    limit: u64,
}

impl QueueGate {
    pub fn of(state: &CellState) -> QueueGate {
        QueueGate {
            waiting: state.pending.len() as u64,
            limit: state.policy.pending_jobs_max,
        }
    }

    /// The refusal of one more job while the queue is at or past its limit,
    /// or None when there is room.
    pub fn refusal(&self) -> Option<Refusal> {
        (self.waiting >= self.limit).then(|| Refusal {
            field: QUEUE_FULL_FIELD.to_string(),
            reason: queue_full_reason(self.waiting, self.limit),
        })
    }

    /// Counts a job admitted in this round.
    pub fn note_admitted(&mut self) {
        self.waiting += 1;
    }
}
