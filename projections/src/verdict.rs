//! What the fold made of one entry: whether it took effect and, if not,
//! why. `rota status` tells a job's story with these, so that it shows
//! exactly what every reader concluded: a fenced, void or refused event is
//! in the log, but nothing happened because of it.

use crate::{CellState, JobState, LogEntry};

/// The fold's conclusion about one entry, for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It took effect (or changed nothing that needed changing); the job's
    /// state after it, if the fold still holds the job.
    Applied(Option<JobState>),
    /// A decision from a lease epoch that was no longer current.
    Fenced,
    /// A decision that did not hold when it landed: its job was not where
    /// it said, its node had no room or is one the job forbids, or no
    /// request of the job's own tenant asked for it.
    Void,
    /// An input the fold refused, with the reason its `input.rejected`
    /// will carry.
    Refused(String),
}

impl Verdict {
    /// How the verdict reads beside the event, or None when it took effect.
    pub fn note(&self) -> Option<String> {
        match self {
            Verdict::Applied(_) => None,
            Verdict::Fenced => Some("fenced: its lease epoch was not current".to_string()),
            Verdict::Void => Some(
                "void: when it landed, the job was not waiting for it, the node could not take it, or no request of the job's tenant asked for it"
                    .to_string(),
            ),
            Verdict::Refused(reason) => Some(format!("refused: {reason}")),
        }
    }
}

/// Folds `entry` into `state` and says what became of it for `job`.
pub fn apply_with_verdict(state: &mut CellState, entry: &LogEntry, job: &str) -> Verdict {
    let before = state.counters.clone();
    state.apply(entry);
    let after = &state.counters;
    if after.fenced_decisions > before.fenced_decisions {
        return Verdict::Fenced;
    }
    if after.void_bindings > before.void_bindings
        || after.void_admissions > before.void_admissions
        || after.void_timeouts > before.void_timeouts
        || after.void_preemptions > before.void_preemptions
    {
        return Verdict::Void;
    }
    if let Some(rejection) = state.backlog.rejections.get(&entry.seq) {
        return Verdict::Refused(rejection.detail.clone());
    }
    Verdict::Applied(state.jobs.get(job).map(|job| job.state))
}
