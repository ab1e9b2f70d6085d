//! Reading Standard Workload Format traces.
//!
//! Conventions: processors are field 8 (requested) when known, else field 5
//! (allocated); the run time is field 4; the runtime estimate is field 9
//! (requested time) when known, else the run time. Jobs with no run time or
//! no processor count are skipped and counted. The machine size is the
//! header's `MaxProcs`, else its `MaxNodes`.

use crate::driver::SimJob;
use rota_events::Resources;

/// Memory each simulated job asks for: SWF traces carry none that is
/// usable, and admission requires some.
pub const SWF_JOB_MEMORY_BYTES: u64 = 1;

/// A trace read from SWF text.
#[derive(Debug, Clone, Default)]
pub struct SwfTrace {
    pub jobs: Vec<SimJob>,
    /// Processors of the machine according to the header.
    pub max_procs: Option<u64>,
    pub skipped_no_runtime: usize,
    pub skipped_no_procs: usize,
    /// Lines that are neither comments nor 18 numeric fields.
    pub skipped_malformed: usize,
    /// Each job's queue number (field 15), in the order of `jobs`.
    pub queues: Vec<i64>,
    /// The names the header gives queue numbers (`; Queue: 2 high`).
    pub queue_names: std::collections::BTreeMap<i64, String>,
}

impl SwfTrace {
    pub fn skipped(&self) -> usize {
        self.skipped_no_runtime + self.skipped_no_procs + self.skipped_malformed
    }
}

/// Parses SWF text.
pub fn parse(text: &str) -> SwfTrace {
    let mut trace = SwfTrace::default();
    let mut max_nodes = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix(';') {
            if let Some((key, value)) = header.split_once(':')
                && key.trim() == "Queue"
                && let Some((number, name)) = value.trim().split_once(char::is_whitespace)
                && let Ok(number) = number.parse::<i64>()
            {
                trace.queue_names.insert(number, name.trim().to_string());
                continue;
            }
            if let Some((key, value)) = header.split_once(':') {
                let value = value.trim().parse::<u64>().ok();
                match key.trim() {
                    "MaxProcs" => trace.max_procs = value,
                    "MaxNodes" => max_nodes = value,
                    _ => {}
                }
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let fields: Vec<i64> = line
            .split_whitespace()
            .filter_map(|f| f.parse::<f64>().ok())
            .map(|f| f as i64)
            .collect();
        if fields.len() < 18 {
            trace.skipped_malformed += 1;
            continue;
        }
        let (number, submit_s, run_s, allocated, requested, estimate_s, user) = (
            fields[0], fields[1], fields[3], fields[4], fields[7], fields[8], fields[11],
        );
        let procs = if requested > 0 { requested } else { allocated };
        if run_s < 0 {
            trace.skipped_no_runtime += 1;
            continue;
        }
        if procs <= 0 {
            trace.skipped_no_procs += 1;
            continue;
        }
        let estimate_s = if estimate_s > 0 { estimate_s } else { run_s };
        trace.jobs.push(SimJob {
            id: format!("j{number}"),
            tenant: if user >= 0 {
                format!("u{user}")
            } else {
                "unknown".to_string()
            },
            submit_ms: submit_s.max(0) as u64 * 1000,
            run_ms: run_s as u64 * 1000,
            request: Resources {
                cpu_milli: procs as u64 * 1000,
                memory_bytes: SWF_JOB_MEMORY_BYTES,
                gpus: 0,
                ..Default::default()
            },
            walltime_s: Some((estimate_s as u64).max(1)),
            class: None,
        });
        trace.queues.push(fields[14]);
    }
    if trace.max_procs.is_none() {
        trace.max_procs = max_nodes;
    }
    trace
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_the_conventions_name_and_counts_what_it_skips() {
        let text = "; MaxProcs: 64\n\
            1 0 5 100 4 -1 -1 8 200 -1 1 7 -1 -1 0 -1 -1 -1\n\
            2 10 -1 50 2 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1\n\
            3 20 -1 -1 2 -1 -1 2 10 -1 1 3 -1 -1 0 -1 -1 -1\n\
            4 30 -1 10 -1 -1 -1 -1 10 -1 1 3 -1 -1 0 -1 -1 -1\n\
            not a job\n";
        let trace = parse(text);
        assert_eq!(trace.max_procs, Some(64));
        assert_eq!(trace.jobs.len(), 2);
        let first = &trace.jobs[0];
        assert_eq!(
            (
                first.submit_ms,
                first.run_ms,
                first.request.cpu_milli,
                first.walltime_s
            ),
            (0, 100_000, 8000, Some(200))
        );
        assert_eq!(first.tenant, "u7");
        let second = &trace.jobs[1];
        assert_eq!(
            (second.request.cpu_milli, second.walltime_s),
            (2000, Some(50))
        );
        assert_eq!(second.tenant, "unknown");
        assert_eq!(
            (
                trace.skipped_no_runtime,
                trace.skipped_no_procs,
                trace.skipped_malformed
            ),
            (1, 1, 1)
        );
    }
}
