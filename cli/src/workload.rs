//! The demo's workload: a seeded mix of jobs from a few tenants, so that every
//! run with the same seed submits the same jobs.

use rota_events::{Body, Event, JobSubmitted, Resources};
use rota_projections::SeededRng;
use std::collections::BTreeMap;
use std::sync::Arc;

pub const TENANTS: [&str; 3] = ["acme", "globex", "initech"];
const CPU_MILLI_CHOICES: [u64; 6] = [250, 500, 1000, 2000, 4000, 8000];
const MEMORY_GIB_CHOICES: [u64; 5] = [1, 2, 4, 8, 16];
/// Declared run times, in seconds of simulated time.
const DURATION_S_MIN: u64 = 10;
const DURATION_S_MAX: u64 = 120;

/// `count` job submissions for `cell`, ids prefixed by `run`.
pub fn generate(cell: &str, run: &str, count: usize, seed: u64) -> Vec<Event> {
    let mut rng = SeededRng::new(seed);
    (0..count)
        .map(|i| {
            let tenant = *rng.pick(&TENANTS);
            let gpus = match rng.below(10) {
                0 => 1,
                1 => 2,
                _ => 0,
            };
            let duration_s = DURATION_S_MIN + rng.below(DURATION_S_MAX - DURATION_S_MIN + 1);
            let job = format!("{run}-{i:06}");
            let body = Body::JobSubmitted(Arc::new(JobSubmitted {
                job: job.clone(),
                name: Some(format!("demo-{i}")),
                command: Vec::new(),
                resources: Resources {
                    cpu_milli: *rng.pick(&CPU_MILLI_CHOICES),
                    memory_bytes: *rng.pick(&MEMORY_GIB_CHOICES) << 30,
                    gpus,
                    ..Default::default()
                },
                duration_ms: Some(duration_s * 1000),
                walltime_s: Some(duration_s * 2),
                priority: 0,
                priority_class: None,
                labels: BTreeMap::new(),
                constraints: Default::default(),
                checkpoint: None,
            }));
            let mut event = Event::new(job.clone(), cell, body).with_tenant(tenant);
            event.correlation_id = Some(job.clone());
            event.traceparent = Some(rota_events::traceparent_for(None, &job, &job));
            event
        })
        .collect()
}
