//! Placement's queue order as given/when/then, and a seeded property check: over random
//! workloads and rounds, no node is ever over-committed and every binding
//! placement decides is valid when it lands.

use rota_events::*;
use rota_projections::{JobState, SeededRng, ServiceCore};

mod common;
use common::{Driver, r};

#[test]
fn binds_in_priority_then_admission_order_and_passes_over_what_fits_nowhere() {
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
            ("urgent".to_string(), "a".to_string(), vec![]),
            ("small".to_string(), "b".to_string(), vec![]),
            ("gpu".to_string(), "b".to_string(), vec![0]),
        ]
    );
    let state = driver.core.state();
    assert_eq!(state.jobs["huge"].state, JobState::Pending);
    assert_eq!(state.nodes["b"].allocated, r(2000, 2, 1));
    assert!(driver.round().is_empty(), "nothing more fits");
}

#[test]
fn no_node_is_ever_over_committed_and_every_binding_lands() {
    for seed in 1..=40u64 {
        let mut rng = SeededRng::new(seed);
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
