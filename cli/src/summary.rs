//! What a run amounted to, read from the folded log. Ended jobs leave the
//! fold after the policy's retention, so the latencies are collected as the
//! log is folded, and the counts come from the fold's tally.

use rota_events::Body;
use rota_projections::{CellState, LogEntry};

/// Counts and latencies of a run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub jobs: u64,
    pub finished: u64,
    pub succeeded: u64,
    pub rejected: u64,
    pub cancelled: u64,
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

/// Folds a run's log and remembers each job's submit-to-first-placement
/// latency, in log milliseconds.
#[derive(Debug, Clone)]
pub struct RunRecorder {
    pub state: CellState,
    latencies_ms: Vec<u64>,
    first_submit_ms: Option<u64>,
    last_bound_ms: u64,
}

impl RunRecorder {
    pub fn new(cell: &str) -> RunRecorder {
        RunRecorder {
            state: CellState::new(cell),
            latencies_ms: Vec::new(),
            first_submit_ms: None,
            last_bound_ms: 0,
        }
    }

    /// Folds `entry`, noting a submission's time and a job's first binding.
    pub fn apply(&mut self, entry: &LogEntry) {
        let before = self.state.tally;
        self.state.apply(entry);
        let after = self.state.tally;
        if after.submitted > before.submitted {
            self.first_submit_ms.get_or_insert(entry.time_ms);
        }
        let Some(Body::JobBound(bound)) = entry.event.as_ref().ok().map(|e| &e.body) else {
            return;
        };
        let job = &self.state.jobs[&bound.job];
        if after.bindings > before.bindings && job.bindings == 1 {
            self.latencies_ms
                .push(entry.time_ms.saturating_sub(job.submitted_ms));
            self.last_bound_ms = entry.time_ms;
        }
    }

    pub fn summary(&self) -> Summary {
        let tally = &self.state.tally;
        let mut latencies = self.latencies_ms.clone();
        latencies.sort_unstable();
        let first_submit = self.first_submit_ms.unwrap_or(0);
        let span_s = self.last_bound_ms.saturating_sub(first_submit) as f64 / 1000.0;
        Summary {
            jobs: tally.submitted,
            finished: tally.finished,
            succeeded: tally.succeeded,
            rejected: tally.rejected,
            cancelled: tally.cancelled,
            placements: tally.bindings,
            placements_per_s: if span_s > 0.0 {
                tally.bindings as f64 / span_s
            } else {
                0.0
            },
            latency_p50_ms: percentile(&latencies, 0.50),
            latency_p99_ms: percentile(&latencies, 0.99),
            latency_max_ms: latencies.last().copied().unwrap_or(0),
            void_bindings: self.state.counters.void_bindings,
            fenced_decisions: self.state.counters.fenced_decisions,
        }
    }
}

/// The value at rank `p` of sorted `values` (0 when empty).
pub fn percentile(values: &[u64], p: f64) -> u64 {
    if values.is_empty() {
        return 0;
    }
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
