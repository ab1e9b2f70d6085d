//! The pending queue as the fold keeps it: jobs waiting for a node, grouped
//! so that placement can merge them into queue order cheaply.
//!
//! Jobs in one group share every factor of the multifactor priority but age:
//! the same job priority, priority class and tenant. Within a group the job
//! admitted earlier has waited longer, so it never ranks below a later one;
//! placement only has to compare group heads.

use crate::job::Job;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the jobs of one group share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QueueGroup {
    /// The job priority, negated so that higher priorities sort first.
    pub level: i64,
    /// The priority class the jobs name, if any.
    pub class: Option<String>,
    pub tenant: String,
}

impl QueueGroup {
    pub fn of(job: &Job) -> QueueGroup {
        QueueGroup {
            level: -i64::from(job.spec.priority),
            class: job.spec.priority_class.clone(),
            tenant: job.tenant.clone(),
        }
    }
}

/// One pending job as its group keeps it: its id, and its submission time
/// (which its age factor is computed from) so that ordering needs no job
/// lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingJob {
    pub id: String,
    pub submitted_ms: u64,
}

/// Pending jobs by group, each group by admission sequence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingQueue {
    groups: BTreeMap<QueueGroup, BTreeMap<u64, PendingJob>>,
    len: usize,
}

impl PendingQueue {
    /// Adds `job` (admitted, with id `id`).
    pub fn insert(&mut self, id: &str, job: &Job) {
        let admitted = job.admitted_seq.expect("pending jobs were admitted");
        let previous = self.groups.entry(QueueGroup::of(job)).or_default().insert(
            admitted,
            PendingJob {
                id: id.to_string(),
                submitted_ms: job.submitted_ms,
            },
        );
        assert!(previous.is_none(), "job {id} was already pending");
        self.len += 1;
    }

    /// Removes `job`, which must be pending.
    pub fn remove(&mut self, id: &str, job: &Job) {
        let admitted = job.admitted_seq.expect("pending jobs were admitted");
        let group = QueueGroup::of(job);
        let members = self
            .groups
            .get_mut(&group)
            .unwrap_or_else(|| panic!("job {id} is not pending"));
        assert!(
            members.remove(&admitted).is_some(),
            "job {id} is not pending"
        );
        if members.is_empty() {
            self.groups.remove(&group);
        }
        self.len -= 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many groups have pending jobs.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The groups in key order, each with its jobs by admission sequence.
    pub fn groups(&self) -> impl Iterator<Item = (&QueueGroup, &BTreeMap<u64, PendingJob>)> {
        self.groups.iter()
    }

    /// Every pending job id, by group then admission (not queue order).
    pub fn ids(&self) -> impl Iterator<Item = &String> {
        self.groups
            .values()
            .flat_map(BTreeMap::values)
            .map(|pending| &pending.id)
    }
}
