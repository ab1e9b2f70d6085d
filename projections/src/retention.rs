//! Which ended jobs the fold still holds, in the order they ended, so that
//! each leaves once the policy's retention says so: memory and snapshots are
//! bounded by what is live, not by history.

use rota_events::Retention;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// The ended jobs still in the fold, earliest ended first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedJobs {
    /// (when the job ended in log milliseconds, job id). The fold's time
    /// never goes back, so this is in order of both.
    order: VecDeque<(u64, String)>,
    /// Jobs that have left the fold so far.
    pub retired: u64,
}

impl EndedJobs {
    /// Notes that `job` ended at `now_ms`.
    pub fn push(&mut self, job: &str, now_ms: u64) {
        self.order.push_back((now_ms, job.to_string()));
    }

    /// Ended jobs still held.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The next job that must leave at `now_ms` under `retention`: the
    /// earliest ended, if it is older than the age or there are more than
    /// the most that may stay.
    pub fn next_due(&mut self, now_ms: u64, retention: &Retention) -> Option<String> {
        let (ended_ms, _) = self.order.front()?;
        let too_old = now_ms.saturating_sub(*ended_ms) > retention.ended_job_age_ms();
        let too_many = self.order.len() as u64 > retention.ended_jobs_max;
        if !(too_old || too_many) {
            return None;
        }
        self.retired += 1;
        self.order.pop_front().map(|(_, job)| job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retention(age_s: u64, max: u64) -> Retention {
        Retention {
            ended_job_age_s: age_s,
            ended_jobs_max: max,
        }
    }

    #[test]
    fn a_job_leaves_once_older_than_the_age() {
        let mut ended = EndedJobs::default();
        ended.push("a", 1_000);
        ended.push("b", 2_000);
        let policy = retention(1, 10);
        assert_eq!(ended.next_due(2_000, &policy), None);
        assert_eq!(ended.next_due(2_001, &policy), Some("a".to_string()));
        assert_eq!(ended.next_due(2_001, &policy), None);
        assert_eq!(ended.next_due(3_001, &policy), Some("b".to_string()));
        assert_eq!(ended.retired, 2);
        assert!(ended.is_empty());
    }

    #[test]
    fn past_the_most_the_earliest_ended_leave_first() {
        let mut ended = EndedJobs::default();
        for (i, job) in ["a", "b", "c"].iter().enumerate() {
            ended.push(job, i as u64);
        }
        let policy = retention(3600, 1);
        assert_eq!(ended.next_due(3, &policy), Some("a".to_string()));
        assert_eq!(ended.next_due(3, &policy), Some("b".to_string()));
        assert_eq!(ended.next_due(3, &policy), None);
        assert_eq!(ended.len(), 1);
    }
}
