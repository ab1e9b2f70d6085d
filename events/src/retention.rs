//! How long the fold remembers a job after it ended. Its story stays in the
//! log for as long as the stream keeps it; this bounds only the live state
//! that every service holds in memory and in its snapshots, the way Slurm's
//! `MinJobAge` and `MaxJobCount` bound slurmctld's job table.

use serde::{Deserialize, Serialize};

/// How long an ended job stays in the fold unless the policy says otherwise,
/// in seconds: long enough for a client to see how its job ended.
pub const ENDED_JOB_AGE_S_DEFAULT: u64 = 300;

/// The longest a policy may keep ended jobs, in seconds (ten years): long
/// enough for a simulation to keep every job of a multi-year trace.
pub const ENDED_JOB_AGE_S_LIMIT: u64 = 10 * 365 * 24 * 3600;

/// How many ended jobs the fold keeps at most unless the policy says
/// otherwise; past it the earliest ended leave first.
pub const ENDED_JOBS_MAX_DEFAULT: u64 = 10_000;

/// The most ended jobs a policy may keep.
pub const ENDED_JOBS_MAX_LIMIT: u64 = 10_000_000;

/// Which ended jobs (finished, rejected or cancelled) the fold keeps: those
/// that ended at most `ended_job_age_s` ago in log time, and of those the
/// `ended_jobs_max` that ended last. Fields left out take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Retention {
    pub ended_job_age_s: u64,
    pub ended_jobs_max: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            ended_job_age_s: ENDED_JOB_AGE_S_DEFAULT,
            ended_jobs_max: ENDED_JOBS_MAX_DEFAULT,
        }
    }
}

impl Retention {
    /// The longest retention there is, for the offline simulator, which
    /// measures every job of its trace at the end.
    pub fn longest() -> Retention {
        Retention {
            ended_job_age_s: ENDED_JOB_AGE_S_LIMIT,
            ended_jobs_max: ENDED_JOBS_MAX_LIMIT,
        }
    }

    /// Checks both values; the error says which, its value and what would
    /// be accepted.
    pub fn validate(&self) -> Result<(), String> {
        if self.ended_job_age_s > ENDED_JOB_AGE_S_LIMIT {
            return Err(format!(
                "retention.ended_job_age_s is {}; it must be 0 to {ENDED_JOB_AGE_S_LIMIT} seconds",
                self.ended_job_age_s
            ));
        }
        if self.ended_jobs_max > ENDED_JOBS_MAX_LIMIT {
            return Err(format!(
                "retention.ended_jobs_max is {}; it must be 0 to {ENDED_JOBS_MAX_LIMIT} jobs",
                self.ended_jobs_max
            ));
        }
        Ok(())
    }

    /// The age past which an ended job leaves, in log milliseconds.
    pub fn ended_job_age_ms(&self) -> u64 {
        self.ended_job_age_s.saturating_mul(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_with_the_accepted_range() {
        let too_old = Retention {
            ended_job_age_s: ENDED_JOB_AGE_S_LIMIT + 1,
            ..Retention::default()
        };
        let error = too_old.validate().unwrap_err();
        assert!(
            error.contains("retention.ended_job_age_s is 315360001"),
            "{error}"
        );
        let too_many = Retention {
            ended_jobs_max: ENDED_JOBS_MAX_LIMIT + 1,
            ..Retention::default()
        };
        assert!(
            too_many
                .validate()
                .unwrap_err()
                .contains("0 to 10000000 jobs")
        );
        assert_eq!(Retention::longest().validate(), Ok(()));
        assert_eq!(Retention::default().validate(), Ok(()));
    }
}
