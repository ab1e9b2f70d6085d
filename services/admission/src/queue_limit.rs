//! The bounds on jobs waiting for placement: backpressure that loses
//! nothing. Past the policy's `pending_jobs_max` in the cell, or its
//! `pending_jobs_per_tenant_max` for the submitting tenant, a submission that
//! would otherwise be admitted is rejected with a reason that asks the
//! client to retry, so a burst faster than placement cannot grow the queue
//! without end, one tenant's flood cannot fill it for the others, and every
//! submission still gets an answer.

use crate::Refusal;
use rota_projections::CellState;
use std::collections::BTreeMap;

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

/// The reason of a refusal for `tenant`, which has `waiting` jobs waiting
/// for placement under the per-tenant limit `limit`.
pub fn tenant_queue_full_reason(tenant: &str, waiting: u64, limit: u64) -> String {
    format!(
        "{QUEUE_FULL_REASON_PREFIX}tenant {tenant} has {waiting} jobs waiting for placement, the per-tenant limit is {limit} (policy pending_jobs_per_tenant_max); other tenants' jobs are still admitted; retry later"
    )
}

/// Admission's count of waiting jobs during one round, in the cell and per
/// tenant.
pub struct QueueGate {
    /// Jobs pending in the fold at the round's basis plus those the round has
    /// admitted. Cancellations in the round are not subtracted: they free
    /// room from the next round on, so the count never falls below the truth
    /// and the limit holds.
    waiting: u64,
    limit: u64,
    /// The same per tenant, for the tenants with pending jobs or admitted
    /// in this round.
    tenant_waiting: BTreeMap<String, u64>,
    tenant_limit: u64,
}

impl QueueGate {
    pub fn of(state: &CellState) -> QueueGate {
        let mut tenant_waiting: BTreeMap<String, u64> = BTreeMap::new();
        for (group, jobs) in state.placement.pending.groups() {
            *tenant_waiting.entry(group.tenant.clone()).or_default() += jobs.len() as u64;
        }
        QueueGate {
            waiting: state.placement.pending.len() as u64,
            limit: state.policy.pending_jobs_max,
            tenant_waiting,
            tenant_limit: state.policy.pending_jobs_per_tenant_max,
        }
    }

    /// The refusal of one more job of `tenant` while the cell's queue, or the
    /// tenant's share of it, is at or past its limit; None when there is room.
    pub fn refusal(&self, tenant: &str) -> Option<Refusal> {
        let refusal = |reason| Refusal {
            field: QUEUE_FULL_FIELD.to_string(),
            reason,
        };
        let of_tenant = self.tenant_waiting.get(tenant).copied().unwrap_or(0);
        if of_tenant >= self.tenant_limit {
            return Some(refusal(tenant_queue_full_reason(
                tenant,
                of_tenant,
                self.tenant_limit,
            )));
        }
        (self.waiting >= self.limit).then(|| refusal(queue_full_reason(self.waiting, self.limit)))
    }

    /// Counts a job of `tenant` admitted in this round.
    pub fn note_admitted(&mut self, tenant: &str) {
        self.waiting += 1;
        *self.tenant_waiting.entry(tenant.to_string()).or_default() += 1;
    }
}
