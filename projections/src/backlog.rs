//! The work admission owes the log, beside the ledger: submissions to
//! decide and unusable messages to answer with a rejection. Each entry is
//! keyed by the stream sequence of the message that created it, so the work
//! is done in log order and survives restarts. Cancellation requests are
//! the ledger's (`Ledger::cancel_requests`), since a cancellation takes
//! effect only as the answer to one.

use crate::job::Job;
use crate::projection::{Projection, Refused};
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
pub struct Backlog {
    /// Submission sequence to job id.
    pub submissions: BTreeMap<u64, String>,
    pub rejections: BTreeMap<u64, RejectionToWrite>,
}

impl Backlog {
    pub fn is_empty(&self) -> bool {
        self.submissions.is_empty() && self.rejections.is_empty()
    }
}

impl Projection for Backlog {
    fn submission_awaits(&mut self, seq: u64, job: &str) {
        self.submissions.insert(seq, job.to_string());
    }

    fn admission_done(&mut self, job: &Job) {
        self.submissions.remove(&job.submitted_seq);
    }

    fn input_answered(&mut self, seq: u64) {
        self.rejections.remove(&seq);
    }

    fn refused(&mut self, refused: Refused<'_>) {
        let rejection = RejectionToWrite {
            subject: refused.subject.to_string(),
            tenant: refused.tenant.map(str::to_string),
            kind: refused.kind.to_string(),
            detail: refused.detail.to_string(),
        };
        self.rejections.insert(refused.seq, rejection);
    }
}
