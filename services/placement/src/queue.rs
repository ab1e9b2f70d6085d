//! The order of the pending queue: a multifactor priority (the policy's
//! `QueueWeights`), computed at decision time from the log's present.
//!
//! The fold keeps pending jobs in groups that share every factor but age
//! (`QueueGroup`: job priority, priority class, tenant), each in admission
//! order. Within a group the older job never scores lower (age only grows),
//! so the queue is a merge of the groups: each step takes the
//! highest-scoring group head, ties to the earlier admission. A round
//! computes each group's shared factors once and each head's age as it
//! comes up, so ordering costs a heap of group heads, not a sort of jobs.

use crate::tenancy::Tenancy;
use rota_projections::accounts::quota::Verdict;
use rota_projections::{CellState, Job, PendingJob, QueueGroup};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, btree_map};

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

/// The factors every job of a group shares, and their weighted sum.
#[derive(Debug, Clone, Copy)]
struct GroupFactors {
    priority_factor: u64,
    class_factor: u64,
    fair_share_factor: u64,
    weighted: u64,
}

fn group_factors(state: &CellState, tenancy: &Tenancy, group: &QueueGroup) -> GroupFactors {
    let policy = &state.policy;
    let weights = &policy.queue;
    let priority_factor = (group.level.clamp(-1000, 1000).saturating_neg() + 1000) as u64 / 2;
    let class_factor = u64::from(policy.class_value(group.class.as_deref()));
    let fair_share_factor = tenancy.fair_share_factor(&group.tenant);
    GroupFactors {
        priority_factor,
        class_factor,
        fair_share_factor,
        weighted: u64::from(weights.priority) * priority_factor
            + u64::from(weights.class) * class_factor
            + u64::from(weights.fair_share) * fair_share_factor,
    }
}

/// The age factor of a job submitted at `submitted_ms`, now.
fn age_factor(state: &CellState, submitted_ms: u64) -> u64 {
    let age_max_ms = state.policy.queue.age_max_s.saturating_mul(1000).max(1);
    let age_ms = state.now_ms.saturating_sub(submitted_ms).min(age_max_ms);
    (u128::from(age_ms) * u128::from(FACTOR_MAX) / u128::from(age_max_ms)) as u64
}

fn total(state: &CellState, factors: &GroupFactors, age_factor: u64) -> u64 {
    factors.weighted + u64::from(state.policy.queue.age) * age_factor
}

/// The multifactor priority of `job` now.
pub fn priority(state: &CellState, job: &Job) -> Priority {
    let factors = group_factors(state, &Tenancy::of(state), &QueueGroup::of(job));
    let age_factor = age_factor(state, job.submitted_ms);
    Priority {
        priority_factor: factors.priority_factor,
        class_factor: factors.class_factor,
        age_factor,
        fair_share_factor: factors.fair_share_factor,
        total: total(state, &factors, age_factor),
    }
}

/// One group's jobs not yet taken from the queue.
struct Cursor<'a> {
    group: &'a QueueGroup,
    factors: GroupFactors,
    /// Bumped when the group's factors change mid-round, so that heap
    /// entries scored before are recognised as stale.
    version: u32,
    /// The group's first job not yet taken (admission sequence, job),
    /// entered among the heads.
    head: Option<(u64, &'a PendingJob)>,
    jobs: btree_map::Iter<'a, u64, PendingJob>,
}

/// A group head in the heap: (score, earlier admission first, cursor,
/// cursor version).
type Head = (u64, Reverse<u64>, usize, u32);

/// Pending jobs in queue order: an iterator over `(id, job)`. Under DRF,
/// [`Queue::note_bound`] re-scores the bound job's tenant for the jobs that
/// follow.
pub struct Queue<'a> {
    state: &'a CellState,
    tenancy: Tenancy<'a>,
    cursors: Vec<Cursor<'a>>,
    heads: BinaryHeap<Head>,
    /// Each tenant's cursors, when factors follow bindings.
    by_tenant: BTreeMap<&'a str, Vec<usize>>,
}

impl<'a> Queue<'a> {
    pub fn of(state: &'a CellState) -> Queue<'a> {
        let tenancy = Tenancy::of(state);
        let mut cursors = Vec::with_capacity(state.placement.pending.group_count());
        let mut heads = Vec::with_capacity(cursors.capacity());
        let mut by_tenant: BTreeMap<&'a str, Vec<usize>> = BTreeMap::new();
        for (group, jobs) in state.placement.pending.groups() {
            let mut cursor = Cursor {
                group,
                factors: group_factors(state, &tenancy, group),
                version: 0,
                head: None,
                jobs: jobs.iter(),
            };
            if let Some((score, admitted)) = advance(state, &mut cursor) {
                heads.push((score, admitted, cursors.len(), 0));
            }
            if tenancy.factors_follow_bindings() {
                by_tenant
                    .entry(group.tenant.as_str())
                    .or_default()
                    .push(cursors.len());
            }
            cursors.push(cursor);
        }
        Queue {
            state,
            tenancy,
            cursors,
            heads: BinaryHeap::from(heads),
            by_tenant,
        }
    }

    /// Whether `job`'s tenant may start it now, given this round's
    /// bindings so far.
    pub fn verdict(&self, job: &Job) -> Verdict {
        self.tenancy.verdict(job)
    }

    /// Counts a binding of this round: its tenant's quota holdings, and
    /// under DRF its factor, which re-scores the tenant's waiting jobs.
    pub fn note_bound(&mut self, job: &Job) {
        self.tenancy.note_bound(job);
        let Some(cursors) = self.by_tenant.get(job.tenant.as_str()) else {
            return;
        };
        for index in cursors {
            let cursor = &mut self.cursors[*index];
            cursor.factors = group_factors(self.state, &self.tenancy, cursor.group);
            cursor.version += 1;
            if let Some((admitted, pending)) = cursor.head {
                let age = age_factor(self.state, pending.submitted_ms);
                let score = total(self.state, &cursor.factors, age);
                self.heads
                    .push((score, Reverse(admitted), *index, cursor.version));
            }
        }
    }
}

/// Moves a cursor to its group's next job, returning that job's (score,
/// admission) if there is one.
fn advance<'a>(state: &CellState, cursor: &mut Cursor<'a>) -> Option<(u64, Reverse<u64>)> {
    let (admitted, pending) = cursor.jobs.next()?;
    cursor.head = Some((*admitted, pending));
    let age = age_factor(state, pending.submitted_ms);
    Some((total(state, &cursor.factors, age), Reverse(*admitted)))
}

impl<'a> Iterator for Queue<'a> {
    type Item = (&'a String, &'a Job);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (_, _, index, version) = self.heads.pop()?;
            let cursor = &mut self.cursors[index];
            if version != cursor.version {
                continue;
            }
            let (_, taken) = cursor.head.take().expect("a head was entered");
            if let Some((score, admitted)) = advance(self.state, cursor) {
                self.heads.push((score, admitted, index, cursor.version));
            }
            return Some((&taken.id, &self.state.jobs[&taken.id]));
        }
    }
}

/// Pending jobs in queue order.
pub fn ordered(state: &CellState) -> Queue<'_> {
    Queue::of(state)
}
