//! The measures people report on these traces (Feitelson et al.): wait,
//! bounded slowdown with tau = 10 s, utilization and makespan.

use rota_projections::{CellState, JobState};
use serde::Serialize;

/// The slowdown bound: runs shorter than this count as this long.
pub const SLOWDOWN_TAU_MS: u64 = 10_000;

/// The measures of one simulation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub jobs_finished: usize,
    /// Jobs that never started (larger than every node).
    pub jobs_never_started: usize,
    /// Jobs stopped at their wall-clock limit.
    pub jobs_timed_out: usize,
    /// Jobs admission refused (a limit such as the 30-day wall-clock cap).
    pub jobs_rejected: usize,
    pub mean_wait_s: f64,
    pub mean_bounded_slowdown: f64,
    /// Busy processor-time over available processor-time, 0 to 1.
    pub utilization: f64,
    pub makespan_s: f64,
}

/// Measures a finished simulation on a machine of `capacity_milli` total
/// cpu (thousandths of a processor).
pub fn measure(state: &CellState, capacity_milli: u64) -> Metrics {
    let mut metrics = Metrics::default();
    let mut wait_ms_sum = 0u128;
    let mut slowdown_sum = 0f64;
    let mut busy_milli_ms = 0u128;
    let first_submit = state
        .jobs
        .values()
        .map(|j| j.submitted_ms)
        .min()
        .unwrap_or(0);
    let mut last_end = first_submit;
    for job in state.jobs.values() {
        let (Some(start), Some(end)) = (job.first_bound_ms, job.finished_ms) else {
            match job.state {
                JobState::Pending | JobState::Submitted => metrics.jobs_never_started += 1,
                JobState::Rejected => metrics.jobs_rejected += 1,
                _ => {}
            }
            continue;
        };
        metrics.jobs_finished += 1;
        metrics.jobs_timed_out += usize::from(job.timed_out);
        let wait = start - job.submitted_ms;
        let run = end - start;
        wait_ms_sum += u128::from(wait);
        slowdown_sum += ((wait + run) as f64 / run.max(SLOWDOWN_TAU_MS) as f64).max(1.0);
        busy_milli_ms += u128::from(job.spec.resources.cpu_milli) * u128::from(run);
        last_end = last_end.max(end);
    }
    if metrics.jobs_finished > 0 {
        let n = metrics.jobs_finished as f64;
        metrics.mean_wait_s = wait_ms_sum as f64 / n / 1000.0;
        metrics.mean_bounded_slowdown = slowdown_sum / n;
    }
    let span_ms = last_end - first_submit;
    metrics.makespan_s = span_ms as f64 / 1000.0;
    if span_ms > 0 && capacity_milli > 0 {
        metrics.utilization = busy_milli_ms as f64 / (capacity_milli as f64 * span_ms as f64);
    }
    metrics
}
