//! The order of the pending queue: a multifactor priority (the policy's
//! `QueueWeights`), computed at decision time from the log's present.
//!
//! The fold keeps pending jobs in groups that share every factor but age
//! (`QueueGroup`: job priority, priority class, tenant), each in admission
//! order. Within a group the older job never scores lower (age only grows),
//! so the queue is a merge of the groups: each step takes the
//! highest-scoring group head, ties to the earlier admission.

use rota_projections::{CellState, Job};
use std::cmp::Reverse;
use std::collections::{BTreeSet, btree_map};

/// The largest factor.
pub const FACTOR_MAX: u64 = 1000;

/// The fair-share factor of a tenant nothing is known about.
pub const FAIR_SHARE_NEUTRAL: u64 = FACTOR_MAX / 2;

/// A job's factors and its weighted total, for ordering and explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub priority_factor: u64,
    pub class_factor: u64,
    pub age_factor: u64,
    pub fair_share_factor: u64,
    pub total: u64,
}

/// The multifactor priority of `job` now.
pub fn priority(state: &CellState, job: &Job) -> Priority {
    let policy = &state.policy;
    let weights = &policy.queue;
    let priority_factor = (i64::from(job.spec.priority).clamp(-1000, 1000) + 1000) as u64 / 2;
    let class_factor = u64::from(policy.class_value(job.spec.priority_class.as_deref()));
    let age_max_ms = weights.age_max_s.saturating_mul(1000).max(1);
    let age_ms = state
        .now_ms
        .saturating_sub(job.submitted_ms)
        .min(age_max_ms);
    let age_factor = (u128::from(age_ms) * u128::from(FACTOR_MAX) / u128::from(age_max_ms)) as u64;
    let fair_share_factor = FAIR_SHARE_NEUTRAL;
    Priority {
        priority_factor,
        class_factor,
        age_factor,
        fair_share_factor,
        total: u64::from(weights.priority) * priority_factor
            + u64::from(weights.class) * class_factor
            + u64::from(weights.age) * age_factor
            + u64::from(weights.fair_share) * fair_share_factor,
    }
}

/// One group's jobs not yet taken from the queue.
struct Cursor<'a> {
    /// The group's first job not yet taken, entered among the heads.
    head: Option<(&'a String, &'a Job)>,
    jobs: btree_map::Iter<'a, u64, String>,
}

/// Pending jobs in queue order: an iterator over `(id, job)`.
pub struct Queue<'a> {
    state: &'a CellState,
    cursors: Vec<Cursor<'a>>,
    /// Each non-empty group's head: (score, admission sequence, cursor).
    heads: BTreeSet<(Reverse<u64>, u64, usize)>,
}

impl<'a> Queue<'a> {
    pub fn of(state: &'a CellState) -> Queue<'a> {
        let mut queue = Queue {
            state,
            cursors: state
                .pending
                .groups()
                .map(|(_, jobs)| Cursor {
                    head: None,
                    jobs: jobs.iter(),
                })
                .collect(),
            heads: BTreeSet::new(),
        };
        for index in 0..queue.cursors.len() {
            queue.push_head(index);
        }
        queue
    }

    /// Enters cursor `index`'s next job among the heads, if it has one.
    fn push_head(&mut self, index: usize) {
        let cursor = &mut self.cursors[index];
        cursor.head = cursor.jobs.next().map(|(admitted, id)| {
            let job = &self.state.jobs[id];
            let score = priority(self.state, job).total;
            self.heads.insert((Reverse(score), *admitted, index));
            (id, job)
        });
    }
}

impl<'a> Iterator for Queue<'a> {
    type Item = (&'a String, &'a Job);

    fn next(&mut self) -> Option<Self::Item> {
        let (_, _, index) = self.heads.pop_first()?;
        let head = self.cursors[index].head.take().expect("a head was entered");
        self.push_head(index);
        Some(head)
    }
}

/// Pending jobs in queue order.
pub fn ordered(state: &CellState) -> Queue<'_> {
    Queue::of(state)
}
