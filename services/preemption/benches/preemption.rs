//! Preemption round latency: `cargo bench -p rota-preemption`.
//!
//! A cell of 10,000 nodes of 32 cores, each running 10 jobs of 3 cores
//! (100,000 running jobs) of a preemptible class, started over the last
//! hour, and waiting jobs of a preempting class that fit on no node. Each
//! round is decided, applied back, and its victims end, as the live shell
//! and agents do. Two workloads: one where every waiting job finds victims,
//! and one where every running job is protected, so that each round
//! searches every node for each of its waiting jobs and finds nothing (the
//! most a round can cost). Reported: the round's decision time, median and
//! 99th percentile over `ROTA_BENCH_ROUNDS` rounds (default 200). The
//! machine is shared: compare within one invocation.

// A benchmark measures wall time and reads its settings from the
// environment: it is a shell around the core, not part of it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use rota_events::*;
use rota_preemption::Preemption;
use rota_projections::{LogEntry, SeededRng, ServiceCore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const NODES: usize = 10_000;
const JOBS_PER_NODE: usize = 10;
const NODE_CORES: u64 = 32;
const JOB_CORES: u64 = 3;
const WAITING: usize = 2_000;
const START_MS: u64 = 1_700_000_000_000;

struct Cell {
    core: Preemption,
    seq: u64,
    now_ms: u64,
}

impl Cell {
    fn push(&mut self, event: Event) {
        self.seq += 1;
        let entry = LogEntry {
            seq: self.seq,
            time_ms: self.now_ms,
            subject: String::new(),
            event: Ok(event),
            signer: None,
        };
        self.core.apply(&entry);
    }

    fn decision(&mut self, service: &str, body: Body) {
        let mut event = Event::new(format!("d{}", self.seq), "bench", body).with_tenant("acme");
        event.round = Some(RoundTag {
            service: service.into(),
            epoch: 1,
            basis: self.seq,
            index: 0,
            size: 1,
        });
        self.push(event);
    }

    fn submit(&mut self, id: &str, class: &str, cores: u64) {
        let spec = JobSubmitted {
            job: id.into(),
            resources: Resources {
                cpu_milli: cores * 1000,
                memory_bytes: 1 << 30,
                ..Default::default()
            },
            priority_class: Some(class.into()),
            ..Default::default()
        };
        self.push(
            Event::new(
                format!("s-{id}"),
                "bench",
                Body::JobSubmitted(Arc::new(spec)),
            )
            .with_tenant("acme"),
        );
        self.decision(
            "admission",
            Body::JobAdmitted(JobAdmitted { job: id.into() }),
        );
    }
}

fn cell(protected: bool) -> Cell {
    let mut cell = Cell {
        core: Preemption::new("bench"),
        seq: 0,
        now_ms: START_MS,
    };
    for service in ["admission", "placement", "preemption"] {
        cell.push(Event::new(
            format!("lease-{service}"),
            "bench",
            Body::LeaseClaimed(LeaseClaimed {
                service: service.into(),
                epoch: 1,
                holder: "bench".into(),
            }),
        ));
    }
    let mut placement = PlacementPolicy {
        priority_classes: BTreeMap::from([("high".into(), 900), ("low".into(), 100)]),
        ..PlacementPolicy::default()
    };
    let high = ClassPreemption::preempting();
    let low = ClassPreemption {
        min_run_s: if protected { 7 * 24 * 3600 } else { 0 },
        ..ClassPreemption::default()
    };
    placement.preemption.classes = BTreeMap::from([("high".into(), high), ("low".into(), low)]);
    placement.preemption.round_preemptions_max = 64;
    cell.push(Event::new(
        "policy",
        "bench",
        Body::PolicySet(PolicySet { placement }),
    ));
    for n in 0..NODES {
        cell.push(Event::new(
            format!("reg-{n}"),
            "bench",
            Body::NodeRegistered(NodeRegistered {
                node: format!("node-{n:05}"),
                capacity: Resources {
                    cpu_milli: NODE_CORES * 1000,
                    memory_bytes: 256 << 30,
                    ..Default::default()
                },
                ..Default::default()
            }),
        ));
    }
    let mut rng = SeededRng::new(7);
    for n in 0..NODES {
        for j in 0..JOBS_PER_NODE {
            let id = format!("run-{n:05}-{j}");
            cell.now_ms = START_MS + rng.below(3_600_000);
            cell.submit(&id, "low", JOB_CORES);
            cell.decision(
                "placement",
                Body::JobBound(JobBound {
                    job: id,
                    node: format!("node-{n:05}"),
                    resources: Resources {
                        cpu_milli: JOB_CORES * 1000,
                        memory_bytes: 1 << 30,
                        ..Default::default()
                    },
                    ..Default::default()
                }),
            );
        }
    }
    cell.now_ms = START_MS + 3_600_000;
    for w in 0..WAITING {
        // Larger than any node's free 2 cores.
        cell.submit(&format!("wait-{w:05}"), "high", 8);
    }
    cell
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run(protected: bool, rounds: usize) -> (Vec<f64>, usize) {
    let mut cell = cell(protected);
    let mut times = Vec::with_capacity(rounds);
    let mut victims = 0;
    for _ in 0..rounds {
        let started = Instant::now();
        let round = cell.core.decide(1);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let mut ended = Vec::new();
        for event in round {
            if let Body::JobPreempted(p) = &event.body {
                ended.push((p.job.clone(), p.node.clone()));
            }
            cell.push(event);
        }
        victims += ended.len();
        for (job, node) in ended {
            cell.push(
                Event::new(
                    format!("end-{job}"),
                    "bench",
                    Body::JobFinished(JobFinished {
                        job,
                        node,
                        outcome: Outcome::Killed,
                        exit_code: None,
                        signal: None,
                        message: None,
                        checkpointed: false,
                    }),
                )
                .with_tenant("acme"),
            );
        }
        cell.now_ms += 100;
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times, victims)
}

fn main() {
    let rounds: usize = std::env::var("ROTA_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    println!(
        "{NODES} nodes, {} running jobs, {WAITING} waiting jobs of a preempting class; {rounds} rounds each",
        NODES * JOBS_PER_NODE
    );
    println!("| workload | victims | round p50 ms | round p99 ms | round max ms |");
    println!("|---|---|---|---|---|");
    for (name, protected) in [("victims found", false), ("every job protected", true)] {
        let (times, victims) = run(protected, rounds);
        println!(
            "| {name} | {victims} | {:.2} | {:.2} | {:.2} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.last().copied().unwrap_or(0.0)
        );
    }
}
