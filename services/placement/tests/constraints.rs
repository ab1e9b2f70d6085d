//! Placement's filters and scorers as given/when/then: selectors, taints and
//! tolerations, affinity, GPU models and shares, extended resources, data
//! locality, cost, and the binpack and spread strategies.

mod common;

use common::{Driver, r};
use rota_events::*;
use rota_projections::{JobState, ServiceCore};
use std::collections::BTreeMap;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn node(name: &str, capacity: Resources) -> NodeRegistered {
    NodeRegistered {
        node: name.into(),
        capacity,
        ..Default::default()
    }
}

fn job(id: &str, resources: Resources, constraints: Constraints) -> JobSubmitted {
    JobSubmitted {
        job: id.into(),
        resources,
        constraints,
        ..Default::default()
    }
}

fn placed(driver: &mut Driver) -> BTreeMap<String, (String, Vec<u32>)> {
    driver
        .round()
        .into_iter()
        .map(|(job, node, devices)| (job, (node, devices)))
        .collect()
}

#[test]
fn selectors_affinity_taints_and_models_filter_nodes() {
    let mut driver = Driver::new();
    driver.node_with(NodeRegistered {
        labels: labels(&[("zone", "z1")]),
        gpu_model: Some("V100".into()),
        ..node("a", r(8000, 16, 2))
    });
    driver.node_with(NodeRegistered {
        labels: labels(&[("zone", "z2")]),
        taints: vec![Taint {
            key: "dedicated".into(),
            value: "ml".into(),
            effect: TaintEffect::NoSchedule,
        }],
        gpu_model: Some("A100".into()),
        ..node("b", r(8000, 16, 2))
    });
    let mut in_z2 = Constraints::default();
    in_z2.node_selector.insert("zone".into(), "z2".into());
    let mut tolerant_z2 = in_z2.clone();
    tolerant_z2.tolerations.push(Toleration {
        key: "dedicated".into(),
        value: None,
        effect: None,
    });
    let not_z1 = Constraints {
        affinity: NodeAffinity {
            required: vec![LabelRequirement {
                key: "zone".into(),
                operator: Operator::NotIn,
                values: vec!["z1".into()],
            }],
            preferred: vec![],
        },
        tolerations: tolerant_z2.tolerations.clone(),
        ..Default::default()
    };
    let a100 = Constraints {
        gpu_model: Some("A100".into()),
        tolerations: tolerant_z2.tolerations.clone(),
        ..Default::default()
    };
    let h100 = Constraints {
        gpu_model: Some("H100".into()),
        ..Default::default()
    };
    driver.job_with(job("untolerated", r(1000, 1, 0), in_z2));
    driver.job_with(job("tolerated", r(1000, 1, 0), tolerant_z2));
    driver.job_with(job("not-z1", r(1000, 1, 0), not_z1));
    driver.job_with(job("a100", r(1000, 1, 1), a100));
    driver.job_with(job("h100", r(1000, 1, 1), h100));
    let bindings = placed(&mut driver);
    assert_eq!(bindings["tolerated"].0, "b");
    assert_eq!(bindings["not-z1"].0, "b");
    assert_eq!(bindings["a100"], ("b".to_string(), vec![0]));
    assert!(!bindings.contains_key("untolerated"));
    assert!(!bindings.contains_key("h100"));
    let explanation = rota_placement::explain(driver.core.state(), "untolerated").unwrap();
    assert_eq!(
        explanation.summary(),
        "0/2 nodes fit: 1 node selector zone=z2 not matched, 1 untolerated taint dedicated=ml"
    );
    assert_eq!(
        explanation.never_fits,
        Some(rota_placement::NeverFits::RefusedByEveryNode),
        "a small job that every node's filters refuse is not too large"
    );
    let explanation = rota_placement::explain(driver.core.state(), "h100").unwrap();
    assert_eq!(
        explanation.summary(),
        "0/2 nodes fit: 1 gpu model is not H100, 1 untolerated taint dedicated=ml"
    );
}

#[test]
fn gpu_shares_pack_onto_one_device_and_whole_gpus_take_free_ones() {
    let mut driver = Driver::new();
    driver.node_with(NodeRegistered {
        gpu_model: Some("A10".into()),
        ..node("g", r(64_000, 64, 2))
    });
    let share = |milli| Resources {
        cpu_milli: 100,
        memory_bytes: 1 << 20,
        gpus: 0,
        gpu_milli: milli,
    };
    driver.job_with(job("half-1", share(500), Constraints::default()));
    driver.job_with(job("half-2", share(500), Constraints::default()));
    driver.job_with(job("whole", r(100, 1, 1), Constraints::default()));
    driver.job_with(job("third", share(300), Constraints::default()));
    let bindings = placed(&mut driver);
    assert_eq!(bindings["half-1"].1, vec![0]);
    assert_eq!(
        bindings["half-2"].1,
        vec![0],
        "shares pack onto the same device"
    );
    assert_eq!(bindings["whole"].1, vec![1]);
    assert!(
        !bindings.contains_key("third"),
        "no device has 300 thousandths left"
    );
    let state = driver.core.state();
    assert_eq!(state.nodes["g"].gpu_free_milli, vec![0, 0]);
    assert_eq!(state.jobs["third"].state, JobState::Pending);
}

#[test]
fn extended_resources_are_counted_like_any_other() {
    let mut driver = Driver::new();
    driver.node_with(NodeRegistered {
        extended: BTreeMap::from([("fpga".to_string(), 2)]),
        ..node("f", r(64_000, 64, 0))
    });
    let fpga = Constraints {
        extended: BTreeMap::from([("fpga".to_string(), 1)]),
        ..Default::default()
    };
    for id in ["f1", "f2", "f3"] {
        driver.job_with(job(id, r(100, 1, 0), fpga.clone()));
    }
    let bindings = placed(&mut driver);
    assert_eq!(bindings.len(), 2);
    assert_eq!(driver.core.state().nodes["f"].extended_allocated["fpga"], 2);
}

fn three_nodes(driver: &mut Driver) {
    driver.node_with(NodeRegistered {
        cost: 9,
        topology: Topology {
            zone: Some("z1".into()),
            rack: None,
        },
        ..node("n1", r(8000, 32, 0))
    });
    driver.node_with(NodeRegistered {
        cost: 1,
        topology: Topology {
            zone: Some("z2".into()),
            rack: None,
        },
        labels: labels(&[("disk", "ssd")]),
        ..node("n2", r(8000, 32, 0))
    });
    driver.node_with(NodeRegistered {
        cost: 5,
        topology: Topology {
            zone: Some("z3".into()),
            rack: None,
        },
        ..node("n3", r(8000, 32, 0))
    });
}

#[test]
fn preferences_locality_and_cost_steer_the_weighted_choice() {
    let mut driver = Driver::new();
    three_nodes(&mut driver);
    let prefers_ssd = Constraints {
        affinity: NodeAffinity {
            required: vec![],
            preferred: vec![Preference {
                weight: 100,
                requirement: LabelRequirement {
                    key: "disk".into(),
                    operator: Operator::In,
                    values: vec!["ssd".into()],
                },
            }],
        },
        ..Default::default()
    };
    let data_in_z3 = Constraints {
        data_zone: Some("z3".into()),
        ..Default::default()
    };
    driver.job_with(job("ssd", r(1000, 1, 0), prefers_ssd));
    driver.job_with(job("data", r(1000, 1, 0), data_in_z3));
    driver.job_with(job("plain", r(1000, 1, 0), Constraints::default()));
    let bindings = placed(&mut driver);
    assert_eq!(bindings["ssd"].0, "n2");
    assert_eq!(bindings["data"].0, "n3");
    assert_eq!(
        bindings["plain"].0, "n2",
        "cheapest, and fullest after the ssd job"
    );
}

#[test]
fn binpack_fills_one_node_and_spread_fills_them_evenly() {
    for (strategy, expected) in [
        (Strategy::Binpack, vec![4usize, 0, 0]),
        (Strategy::Spread, vec![2, 1, 1]),
    ] {
        let mut driver = Driver::new();
        three_nodes(&mut driver);
        driver.push(Event::new(
            "policy",
            "default",
            Body::PolicySet(PolicySet {
                placement: PlacementPolicy {
                    strategy,
                    ..Default::default()
                },
            }),
        ));
        for i in 0..4 {
            driver.job_with(job(&format!("j{i}"), r(2000, 1, 0), Constraints::default()));
            driver.round();
        }
        let mut counts: Vec<usize> = driver
            .core
            .state()
            .nodes
            .values()
            .map(|n| n.jobs.len())
            .collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(counts, expected, "{strategy:?}");
    }
}

/// An explanation counts every node once: a node short of several resources
/// is one reason naming them all, so the counts add up to the nodes that do
/// not fit; and a job that is large is told so apart from one that every
/// node's constraints refuse.
#[test]
fn an_explanation_counts_each_node_once_and_says_why_nothing_ever_fits() {
    let mut driver = Driver::new();
    driver.node("small", r(1000, 1, 0));
    driver.node("narrow", r(1000, 64, 0));
    driver.node("wide", r(64_000, 64, 0));
    driver.job("big", r(32_000, 32, 0), 0);
    driver.job("huge", r(128_000, 32, 0), 0);
    let state = driver.core.state();
    let big = rota_placement::explain(state, "big").unwrap();
    assert_eq!(
        big.summary(),
        "1/3 nodes fit: 1 insufficient cpu, 1 insufficient cpu and memory"
    );
    assert_eq!(
        big.reasons.values().sum::<usize>(),
        big.nodes_total - big.nodes_fitting
    );
    assert_eq!(big.never_fits, None);
    let huge = rota_placement::explain(state, "huge").unwrap();
    assert_eq!(
        huge.never_fits,
        Some(rota_placement::NeverFits::LargerThanEveryNode)
    );
}
