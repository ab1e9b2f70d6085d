//! The order of the pending queue: a multifactor priority (the policy's
//! `QueueWeights`), computed at decision time from the log's present.
//!
//! Jobs of one priority level are in admission order, and within a level
//! the older job never scores lower (age only grows), so the queue is a
//! merge of the per-level queues the fold keeps: each step takes the
//! highest-scoring level head, ties to the earlier admission.

use rota_projections::{CellState, Job};

/// The largest factor.
pub const FACTOR_MAX: u64 = 1000;

/// A job's factors and its weighted total, for ordering and explanations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    pub priority_factor: u64,
    pub age_factor: u64,
    pub fair_share_factor: u64,
    pub total: u64,
}

/// The multifactor priority of `job` now.
pub fn priority(state: &CellState, job: &Job) -> Priority {
    let weights = &state.policy.queue;
    let priority_factor = (i64::from(job.spec.priority).clamp(-1000, 1000) + 1000) as u64 / 2;
    let age_max_ms = weights.age_max_s.saturating_mul(1000).max(1);
    let age_ms = state
        .now_ms
        .saturating_sub(job.submitted_ms)
        .min(age_max_ms);
    let age_factor = (u128::from(age_ms) * u128::from(FACTOR_MAX) / u128::from(age_max_ms)) as u64;
    let fair_share_factor = FACTOR_MAX / 2;
    Priority {
        priority_factor,
        age_factor,
        fair_share_factor,
        total: u64::from(weights.priority) * priority_factor
            + u64::from(weights.age) * age_factor
            + u64::from(weights.fair_share) * fair_share_factor,
    }
}

/// Pending jobs in queue order.
pub fn ordered(state: &CellState) -> impl Iterator<Item = (&String, &Job)> {
    // One iterator per priority level, each in admission order.
    let mut levels = Vec::new();
    let mut next_level = state.pending.keys().next().map(|(level, _)| *level);
    while let Some(level) = next_level {
        levels.push(
            state
                .pending
                .range((level, 0)..=(level, u64::MAX))
                .peekable(),
        );
        next_level = state
            .pending
            .range((level + 1, 0)..)
            .next()
            .map(|((level, _), _)| *level);
    }
    std::iter::from_fn(move || {
        let best = levels
            .iter_mut()
            .enumerate()
            .filter_map(|(i, level)| {
                let ((_, admitted), id) = level.peek()?;
                Some((
                    priority(state, &state.jobs[*id]).total,
                    std::cmp::Reverse(*admitted),
                    i,
                ))
            })
            .max()?;
        let (_, id) = levels[best.2].next().expect("peeked");
        Some((id, &state.jobs[id]))
    })
}
