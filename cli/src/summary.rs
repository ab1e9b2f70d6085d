//! What a run amounted to, read from the folded log.

use rota_projections::{CellState, JobState};

/// Counts and latencies of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub jobs: usize,
    pub finished: usize,
    pub succeeded: usize,
    pub rejected: usize,
    pub cancelled: usize,
    pub pending: usize,
    pub placements: u64,
    /// Placements per second between the first submission and the last placement.
    pub placements_per_s: f64,
    pub latency_p50_ms: u64,
    pub latency_p99_ms: u64,
    pub latency_max_ms: u64,
    /// Bindings the fold found invalid when they landed.
    pub void_bindings: u64,
    /// Decisions from an instance that no longer held its lease.
    pub fenced_decisions: u64,
}

pub fn summarize(state: &CellState) -> Summary {
    let mut summary = Summary {
        jobs: state.jobs.len(),
        void_bindings: state.counters.void_bindings,
        fenced_decisions: state.counters.fenced_decisions,
        ..Summary::default()
    };
    let mut latencies: Vec<u64> = Vec::new();
    let first_submit = state.first_submitted_ms();
    let mut last_bound = first_submit;
    for job in state.jobs.values() {
        match job.state {
            JobState::Finished => {
                summary.finished += 1;
                if job.outcome == Some(rota_events::Outcome::Succeeded) {
                    summary.succeeded += 1;
                }
            }
            JobState::Rejected => summary.rejected += 1,
            JobState::Cancelled => summary.cancelled += 1,
            JobState::Submitted | JobState::Pending => summary.pending += 1,
            _ => {}
        }
        summary.placements += u64::from(job.bindings);
        if let Some(bound) = job.first_bound_ms {
            latencies.push(bound.saturating_sub(job.submitted_ms));
            last_bound = last_bound.max(bound);
        }
    }
    latencies.sort_unstable();
    let percentile = |p: f64| -> u64 {
        if latencies.is_empty() {
            return 0;
        }
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1]
    };
    summary.latency_p50_ms = percentile(0.50);
    summary.latency_p99_ms = percentile(0.99);
    summary.latency_max_ms = latencies.last().copied().unwrap_or(0);
    let span_s = (last_bound.saturating_sub(first_submit)) as f64 / 1000.0;
    summary.placements_per_s = if span_s > 0.0 {
        summary.placements as f64 / span_s
    } else {
        0.0
    };
    summary
}
