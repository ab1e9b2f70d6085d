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
    let first_submit = state.first_submitted_ms();
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
        // A job's work, not its time on nodes: a preempted one's last run
        // (requeued, it ran again from the start) or its runs together
        // (checkpointed), which are its whole run time either way, unless
        // it was stopped at its limit.
        let last_run = end - job.bound_ms.unwrap_or(start);
        let run = match (job.preemptions, job.spec.duration_ms) {
            (0, _) | (_, None) => end - start,
            (_, Some(_)) if job.timed_out => last_run,
            (_, Some(duration)) => duration,
        };
        wait_ms_sum += u128::from(wait);
        // From submission to the end, which for a preempted job spans
        // more than its wait and one run.
        let response = end - job.submitted_ms;
        slowdown_sum += (response as f64 / run.max(SLOWDOWN_TAU_MS) as f64).max(1.0);
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

/// Seconds between samples of the GPU allocation ratio.
pub const GPU_SAMPLE_INTERVAL_S: u64 = 3600;

/// The measures of a GPU cluster simulation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GpuMetrics {
    pub pods: usize,
    /// Pods that started.
    pub placed: usize,
    /// Pods that started later than they arrived.
    pub waited: usize,
    /// Pods that never started: no node could ever take them.
    pub never_placed: usize,
    /// Pods admission refused (a limit such as the 30-day maximum duration).
    pub rejected: usize,
    pub mean_wait_s: f64,
    /// GPU thousandths allocated over those in the cluster, averaged over
    /// time from the first arrival to the last end.
    pub gpu_allocation_mean: f64,
    pub gpu_allocation_max: f64,
    /// The ratio at every [`GPU_SAMPLE_INTERVAL_S`], from the first arrival.
    pub gpu_allocation_hourly: Vec<f64>,
}

/// Measures a GPU cluster simulation whose cluster has `gpu_total_milli`.
pub fn measure_gpu(state: &CellState, gpu_total_milli: u64) -> GpuMetrics {
    let mut metrics = GpuMetrics {
        pods: state.jobs.len(),
        ..GpuMetrics::default()
    };
    // (time, change in allocated GPU thousandths)
    let mut changes: Vec<(u64, i64)> = Vec::new();
    let mut wait_ms_sum = 0u128;
    for job in state.jobs.values() {
        let Some(start) = job.first_bound_ms else {
            if job.state == JobState::Rejected {
                metrics.rejected += 1;
            } else {
                metrics.never_placed += 1;
            }
            continue;
        };
        metrics.placed += 1;
        metrics.waited += usize::from(start > job.submitted_ms);
        wait_ms_sum += u128::from(start - job.submitted_ms);
        let gpu = job.spec.resources.gpu_total_milli() as i64;
        if gpu > 0 {
            changes.push((start, gpu));
            changes.push((job.finished_ms.unwrap_or(start), -gpu));
        }
    }
    if metrics.placed > 0 {
        metrics.mean_wait_s = wait_ms_sum as f64 / metrics.placed as f64 / 1000.0;
    }
    let first = state.first_submitted_ms();
    let last = changes.iter().map(|(t, _)| *t).max().unwrap_or(first);
    if gpu_total_milli == 0 || last <= first {
        return metrics;
    }
    changes.sort_unstable();
    let total = gpu_total_milli as f64;
    let (mut allocated, mut area, mut previous) = (0i64, 0f64, first);
    let mut next_sample = first;
    for (time, change) in changes {
        while next_sample < time {
            metrics.gpu_allocation_hourly.push(allocated as f64 / total);
            next_sample += GPU_SAMPLE_INTERVAL_S * 1000;
        }
        area += allocated as f64 * (time - previous) as f64;
        allocated += change;
        metrics.gpu_allocation_max = metrics.gpu_allocation_max.max(allocated as f64 / total);
        previous = time;
    }
    metrics.gpu_allocation_mean = area / total / (last - first) as f64;
    metrics
}

/// Jobs and their mean wait, of one priority class.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ClassWait {
    pub jobs_started: usize,
    pub mean_wait_s: f64,
    /// Jobs of the class preempted at least once.
    pub jobs_preempted: usize,
}

/// Each class's jobs that started and their mean wait (first start less
/// submission), and how many were preempted.
pub fn waits_by_class(state: &CellState) -> std::collections::BTreeMap<String, ClassWait> {
    let mut sums: std::collections::BTreeMap<String, (ClassWait, u128)> = Default::default();
    for job in state.jobs.values() {
        let Some(start) = job.first_bound_ms else {
            continue;
        };
        let class = job
            .spec
            .priority_class
            .clone()
            .unwrap_or_else(|| "none".into());
        let (wait, sum) = sums.entry(class).or_default();
        wait.jobs_started += 1;
        wait.jobs_preempted += usize::from(job.preemptions > 0);
        *sum += u128::from(start - job.submitted_ms);
    }
    sums.into_iter()
        .map(|(class, (mut wait, sum))| {
            wait.mean_wait_s = sum as f64 / wait.jobs_started.max(1) as f64 / 1000.0;
            (class, wait)
        })
        .collect()
}
