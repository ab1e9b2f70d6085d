//! Placement as given/when/then, and a seeded property check: over random
//! workloads and rounds, no node is ever over-committed and every binding
//! placement decides is valid when it lands.

use rota_events::*;
use rota_placement::Placement;
use rota_projections::{JobState, LogEntry, ServiceCore};
use std::collections::BTreeMap;

struct Driver {
    core: Placement,
    seq: u64,
}

impl Driver {
    fn new() -> Driver {
        let mut driver = Driver {
            core: Placement::new("default"),
            seq: 0,
        };
        driver.push(Event::new(
            "l",
            "default",
            Body::LeaseClaimed(LeaseClaimed {
                service: "placement".into(),
                epoch: 1,
                holder: "p".into(),
            }),
        ));
        driver.push(Event::new(
            "la",
            "default",
            Body::LeaseClaimed(LeaseClaimed {
                service: "admission".into(),
                epoch: 1,
                holder: "a".into(),
            }),
        ));
        driver
    }

    fn push(&mut self, event: Event) {
        self.seq += 1;
        let entry = LogEntry {
            seq: self.seq,
            time_ms: self.seq,
            subject: event.subject(),
            event: Ok(event),
        };
        self.core.apply(&entry);
    }

    fn node(&mut self, name: &str, capacity: Resources) {
        self.push(Event::new(
            format!("r-{name}"),
            "default",
            Body::NodeRegistered(NodeRegistered {
                node: name.into(),
                capacity,
                labels: BTreeMap::new(),
            }),
        ));
    }

    fn job(&mut self, id: &str, resources: Resources, priority: i32) {
        self.push(
            Event::new(
                id,
                "default",
                Body::JobSubmitted(JobSubmitted {
                    job: id.into(),
                    name: None,
                    command: vec![],
                    resources,
                    duration_ms: None,
                    walltime_s: None,
                    priority,
                    labels: BTreeMap::new(),
                }),
            )
            .with_tenant("t"),
        );
        let mut admitted = Event::new(
            format!("a-{id}"),
            "default",
            Body::JobAdmitted(JobAdmitted { job: id.into() }),
        )
        .with_tenant("t");
        admitted.round = Some(RoundTag {
            service: "admission".into(),
            epoch: 1,
            basis: self.seq,
            index: 0,
            size: 1,
        });
        self.push(admitted);
    }

    /// Decides a round and applies it back, as the shell does.
    fn round(&mut self) -> Vec<(String, String)> {
        let round = self.core.decide(1);
        let bindings = round
            .iter()
            .map(|e| match &e.body {
                Body::JobBound(b) => (b.job.clone(), b.node.clone()),
                other => panic!("placement wrote {other:?}"),
            })
            .collect();
        for event in round {
            self.push(event);
        }
        bindings
    }
}

fn r(cpu_milli: u64, memory_gib: u64, gpus: u32) -> Resources {
    Resources {
        cpu_milli,
        memory_bytes: memory_gib << 30,
        gpus,
    }
}

#[test]
fn binds_in_priority_then_admission_order_to_the_first_node_that_fits() {
    let mut driver = Driver::new();
    driver.node("a", r(4000, 16, 0));
    driver.node("b", r(8000, 64, 2));
    driver.job("small", r(1000, 1, 0), 0);
    driver.job("gpu", r(1000, 1, 1), 0);
    driver.job("urgent", r(4000, 8, 0), 10);
    driver.job("huge", r(64_000, 1, 0), 0);
    let bindings = driver.round();
    assert_eq!(
        bindings,
        vec![
            ("urgent".to_string(), "a".to_string()),
            ("small".to_string(), "b".to_string()),
            ("gpu".to_string(), "b".to_string()),
        ]
    );
    let state = driver.core.state();
    assert_eq!(state.jobs["huge"].state, JobState::Pending);
    assert_eq!(state.nodes["b"].allocated, r(2000, 2, 1));
    assert!(driver.round().is_empty(), "nothing more fits");
}

/// A small deterministic generator for the property check.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn no_node_is_ever_over_committed_and_every_binding_lands() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut driver = Driver::new();
        for n in 0..(1 + rng.below(8)) {
            driver.node(
                &format!("n{n}"),
                r(
                    1000 * (1 + rng.below(16)),
                    1 + rng.below(64),
                    rng.below(4) as u32,
                ),
            );
        }
        for step in 0..60 {
            for j in 0..rng.below(6) {
                let resources = r(
                    250 * (1 + rng.below(16)),
                    1 + rng.below(16),
                    rng.below(3) as u32,
                );
                driver.job(&format!("j{step}-{j}"), resources, rng.below(3) as i32);
            }
            driver.round();
            let state = driver.core.state();
            assert_eq!(
                state.counters.void_bindings, 0,
                "seed {seed}: placement decided an invalid binding"
            );
            for (name, node) in &state.nodes {
                assert!(
                    node.allocated.fits_within(&node.capacity),
                    "seed {seed}: {name} over-committed"
                );
                let held = node.jobs.iter().fold(Resources::default(), |sum, j| {
                    sum.plus(&state.jobs[j].spec.resources)
                });
                assert_eq!(
                    held, node.allocated,
                    "seed {seed}: {name}'s allocation is not its jobs'"
                );
            }
        }
    }
}
