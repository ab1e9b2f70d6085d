//! The work admission owes the log: submissions to decide, cancellations to
//! decide, and unusable messages to answer with a rejection. Each entry is
//! keyed by the stream sequence of the message that created it, so the work
//! is done in log order and survives restarts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A cancellation request waiting for admission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelRequest {
    pub job: String,
    /// The tenant of the subject it was published on.
    pub tenant: String,
    pub reason: Option<String>,
    pub event_id: String,
}

/// An `input.rejected` event admission still has to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionToWrite {
    pub subject: String,
    pub tenant: Option<String>,
    pub kind: String,
    pub detail: String,
}

/// Admission's backlog, in log order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queues {
    /// Submission sequence to job id.
    pub submissions: BTreeMap<u64, String>,
    pub cancels: BTreeMap<u64, CancelRequest>,
    pub rejections: BTreeMap<u64, RejectionToWrite>,
}

impl Queues {
    pub fn is_empty(&self) -> bool {
        self.submissions.is_empty() && self.cancels.is_empty() && self.rejections.is_empty()
    }
}
