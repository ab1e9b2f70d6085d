//! Placement throughput and latency: `cargo bench -p rota-placement`.
//!
//! For each cluster size, a cell with that many nodes and 100,000 pending
//! jobs of mixed shapes; placement decides rounds and each round is applied
//! back, as the live shell does, until a round binds nothing. Reported:
//! placements per second of deciding, the wall time of a round, and the
//! per-job decision latency (a round's time over its bindings), as medians
//! and 99th percentiles of rounds, each the median over `ROTA_BENCH_RUNS`
//! runs (default 3) from the same start. The machine is shared: compare
//! within one invocation.

// A benchmark measures wall time and reads its settings from the
// environment: it is a shell around the core, not part of it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use rota_events::*;
use rota_placement::Placement;
use rota_projections::{LogEntry, SeededRng, ServiceCore};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const PENDING_JOBS: usize = 100_000;
const ZONES: [&str; 4] = ["z1", "z2", "z3", "z4"];
/// Services the jobs belong to (their `app` label).
const SERVICES: u64 = 20;

struct Cell {
    core: Placement,
    seq: u64,
}

impl Cell {
    fn push(&mut self, event: Event) {
        self.seq += 1;
        let entry = LogEntry {
            seq: self.seq,
            time_ms: 1_700_000_000_000 + self.seq,
            subject: String::new(),
            event: Ok(event),
            signer: None,
        };
        self.core.apply(&entry);
    }
}

fn cell(nodes: usize, with_job_terms: bool) -> Cell {
    let mut cell = Cell {
        core: Placement::new("bench"),
        seq: 0,
    };
    for service in ["admission", "placement"] {
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
    for i in 0..nodes {
        let gpus = if i % 4 == 0 { 8 } else { 0 };
        cell.push(Event::new(
            format!("n{i}"),
            "bench",
            Body::NodeRegistered(NodeRegistered {
                node: format!("node-{i:05}"),
                capacity: Resources {
                    cpu_milli: 64_000,
                    memory_bytes: 256 << 30,
                    gpus,
                    ..Default::default()
                },
                labels: BTreeMap::from([
                    ("zone".to_string(), ZONES[i % ZONES.len()].to_string()),
                    ("rack".to_string(), format!("r{}", i / 40)),
                ]),
                taints: if i % 10 == 9 {
                    vec![Taint {
                        key: "dedicated".into(),
                        value: "ml".into(),
                        effect: TaintEffect::NoSchedule,
                    }]
                } else {
                    Vec::new()
                },
                topology: Topology {
                    zone: Some(ZONES[i % ZONES.len()].to_string()),
                    rack: Some(format!("r{}", i / 40)),
                },
                cost: 1 + (i % 7) as u32,
                gpu_model: (gpus > 0).then(|| ["A100", "V100"][i / 4 % 2].to_string()),
                extended: BTreeMap::new(),
            }),
        ));
    }
    let mut rng = SeededRng::new(1);
    for i in 0..PENDING_JOBS {
        let id = format!("job-{i:06}");
        let resources = Resources {
            cpu_milli: [250, 500, 1000, 2000, 4000, 8000, 16_000][rng.below(7) as usize],
            memory_bytes: [1u64, 2, 4, 8, 16, 32][rng.below(6) as usize] << 30,
            gpus: if rng.below(10) == 0 {
                1 + rng.below(4) as u32
            } else {
                0
            },
            ..Default::default()
        };
        let service = format!("svc-{}", rng.below(SERVICES));
        let mut constraints = constraints(&mut rng, resources.gpus > 0);
        if with_job_terms {
            job_terms(&mut rng, &service, &mut constraints);
        }
        cell.push(
            Event::new(
                id.clone(),
                "bench",
                Body::JobSubmitted(Arc::new(JobSubmitted {
                    job: id.clone(),
                    name: None,
                    command: vec![],
                    resources,
                    duration_ms: Some(60_000 * (1 + rng.below(60))),
                    walltime_s: None,
                    priority: rng.below(3) as i32,
                    priority_class: None,
                    labels: BTreeMap::from([("app".to_string(), service)]),
                    constraints,
                    checkpoint: None,
                })),
            )
            .with_tenant(["a", "b", "c"][i % 3]),
        );
        let mut admitted = Event::new(
            format!("a{i}"),
            "bench",
            Body::JobAdmitted(JobAdmitted { job: id }),
        )
        .with_tenant(["a", "b", "c"][i % 3]);
        admitted.round = Some(RoundTag {
            service: "admission".into(),
            epoch: 1,
            basis: cell.seq,
            index: 0,
            size: 1,
        });
        cell.push(admitted);
    }
    cell
}

/// A mix of constraints: zone selectors, preferred zones, tolerations of
/// the dedicated nodes, GPU models, data locality.
fn constraints(rng: &mut SeededRng, gpus: bool) -> Constraints {
    let mut constraints = Constraints::default();
    match rng.below(10) {
        0 | 1 => {
            constraints
                .node_selector
                .insert("zone".into(), ZONES[rng.below(4) as usize].into());
        }
        2 | 3 => constraints.affinity.preferred.push(Preference {
            weight: 50,
            requirement: LabelRequirement {
                key: "zone".into(),
                operator: Operator::In,
                values: vec![ZONES[rng.below(4) as usize].into()],
            },
        }),
        4 => constraints.tolerations.push(Toleration {
            key: "dedicated".into(),
            value: Some("ml".into()),
            effect: None,
        }),
        5 => constraints.data_zone = Some(ZONES[rng.below(4) as usize].into()),
        _ => {}
    }
    if gpus && rng.below(2) == 0 {
        constraints.gpu_model = Some(["A100", "V100"][rng.below(2) as usize].into());
    }
    constraints
}

/// Terms about other jobs: one job in twenty spreads its service over
/// zones, one in twenty keeps its service's replicas on distinct nodes.
fn job_terms(rng: &mut SeededRng, service: &str, constraints: &mut Constraints) {
    let selector = JobSelector {
        match_labels: BTreeMap::from([("app".to_string(), service.to_string())]),
        ..Default::default()
    };
    match rng.below(20) {
        0 => constraints.topology_spread.push(TopologySpread {
            topology_key: TOPOLOGY_ZONE.into(),
            max_skew: 2,
            selector,
            when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
        }),
        1 => constraints
            .job_anti_affinity
            .required
            .push(JobAffinityTerm {
                selector,
                topology_key: TOPOLOGY_NODE.into(),
            }),
        _ => {}
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// What one run at one size measured.
struct RunFigures {
    placed: usize,
    rounds: usize,
    placements_per_s: f64,
    round_p50_ms: f64,
    round_p99_ms: f64,
    per_job_p50_us: f64,
    per_job_p99_us: f64,
    apply_per_event_us: f64,
}

/// Decides rounds, applying each back, until a round binds nothing.
fn run(mut cell: Cell) -> RunFigures {
    let mut round_ms: Vec<f64> = Vec::new();
    let mut per_job_us: Vec<f64> = Vec::new();
    let (mut placed, mut decide_s, mut apply_s, mut applied) = (0usize, 0f64, 0f64, 0usize);
    loop {
        let started = Instant::now();
        let round = cell.core.decide(1);
        let elapsed = started.elapsed().as_secs_f64();
        if round.is_empty() {
            break;
        }
        decide_s += elapsed;
        round_ms.push(elapsed * 1000.0);
        per_job_us.push(elapsed * 1e6 / round.len() as f64);
        placed += round.len();
        let started = Instant::now();
        applied += round.len();
        for event in round {
            cell.push(event);
        }
        apply_s += started.elapsed().as_secs_f64();
    }
    round_ms.sort_by(f64::total_cmp);
    per_job_us.sort_by(f64::total_cmp);
    RunFigures {
        placed,
        rounds: round_ms.len(),
        placements_per_s: placed as f64 / decide_s.max(f64::MIN_POSITIVE),
        round_p50_ms: percentile(&round_ms, 0.5),
        round_p99_ms: percentile(&round_ms, 0.99),
        per_job_p50_us: percentile(&per_job_us, 0.5),
        per_job_p99_us: percentile(&per_job_us, 0.99),
        apply_per_event_us: apply_s * 1e6 / applied.max(1) as f64,
    }
}

/// The median of one figure over runs.
fn median(runs: &[RunFigures], figure: impl Fn(&RunFigures) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(figure).collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let sizes: Vec<usize> = std::env::var("ROTA_BENCH_NODES")
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![1_000, 10_000, 50_000]);
    let runs: usize = std::env::var("ROTA_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    // Terms about other jobs are on unless ROTA_BENCH_JOB_TERMS=0.
    let with_job_terms = std::env::var("ROTA_BENCH_JOB_TERMS").map_or(true, |v| v != "0");
    println!(
        "medians of {runs} runs per size; terms about other jobs {}",
        if with_job_terms { "on" } else { "off" }
    );
    println!(
        "| nodes | placed | rounds | placements/s | round p50 ms | round p99 ms | per-job p50 us | per-job p99 us | apply per event us |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for nodes in sizes {
        let start = cell(nodes, with_job_terms);
        let figures: Vec<RunFigures> = (0..runs)
            .map(|_| {
                run(Cell {
                    core: start.core.clone(),
                    seq: start.seq,
                })
            })
            .collect();
        assert!(
            figures.iter().all(|f| f.placed == figures[0].placed),
            "every run decides the same rounds"
        );
        println!(
            "| {nodes} | {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.2} |",
            figures[0].placed,
            figures[0].rounds,
            median(&figures, |f| f.placements_per_s),
            median(&figures, |f| f.round_p50_ms),
            median(&figures, |f| f.round_p99_ms),
            median(&figures, |f| f.per_job_p50_us),
            median(&figures, |f| f.per_job_p99_us),
            median(&figures, |f| f.apply_per_event_us),
        );
    }
}
