//! Placement relative to other jobs, as given/when/then: replicas spread by
//! anti-affinity, a job drawn to its peers by affinity, anti-affinity that
//! works both ways, topology spread with a skew, preferences that only
//! score, and terms that see only the job's own tenant.

mod common;

use common::{Driver, r};
use rota_events::*;
use rota_projections::ServiceCore;
use std::collections::BTreeMap;

fn app(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), name.to_string())])
}

fn selects(name: &str) -> JobSelector {
    JobSelector {
        match_labels: app(name),
        ..Default::default()
    }
}

fn term(name: &str, topology_key: &str) -> JobAffinityTerm {
    JobAffinityTerm {
        selector: selects(name),
        topology_key: topology_key.into(),
    }
}

/// Nodes `a1`, `a2` in zone za and `b1`, `b2` in zone zb, with room for
/// eight small jobs each.
fn two_zones(driver: &mut Driver) {
    for (name, zone) in [("a1", "za"), ("a2", "za"), ("b1", "zb"), ("b2", "zb")] {
        driver.node_with(NodeRegistered {
            node: name.into(),
            capacity: r(8000, 16, 0),
            topology: Topology {
                zone: Some(zone.into()),
                rack: None,
            },
            ..Default::default()
        });
    }
}

fn replica(id: &str, name: &str, constraints: Constraints) -> JobSubmitted {
    JobSubmitted {
        job: id.into(),
        resources: r(1000, 1, 0),
        labels: app(name),
        constraints,
        ..Default::default()
    }
}

/// Spread `api` jobs over zones with a skew of at most 1.
fn zone_spread(when_unsatisfiable: WhenUnsatisfiable) -> Constraints {
    Constraints {
        topology_spread: vec![TopologySpread {
            topology_key: TOPOLOGY_ZONE.into(),
            max_skew: 1,
            selector: selects("api"),
            when_unsatisfiable,
        }],
        ..Default::default()
    }
}

fn node_of(driver: &Driver, job: &str) -> Option<String> {
    driver.core.state().jobs[job].node.clone()
}

fn zone_of(driver: &Driver, job: &str) -> String {
    let node = node_of(driver, job).expect("placed");
    driver.core.state().nodes[&node]
        .topology
        .zone
        .clone()
        .unwrap()
}

#[test]
fn required_anti_affinity_puts_replicas_on_distinct_nodes_in_one_round() {
    let mut driver = Driver::new();
    two_zones(&mut driver);
    let apart = Constraints {
        job_anti_affinity: JobAffinity {
            required: vec![term("web", TOPOLOGY_NODE)],
            preferred: vec![],
        },
        ..Default::default()
    };
    for i in 0..5 {
        driver.job_with(replica(&format!("web-{i}"), "web", apart.clone()));
    }
    let bound = driver.round();
    assert_eq!(bound.len(), 4, "one replica per node, in a single round");
    let mut nodes: Vec<String> = bound.iter().map(|(_, node, _)| node.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, ["a1", "a2", "b1", "b2"]);
    let explanation = rota_placement::explain(driver.core.state(), "web-4").unwrap();
    assert_eq!(
        explanation.summary(),
        "0/4 nodes fit: 4 job anti-affinity app=web per node"
    );
}

#[test]
fn required_affinity_follows_the_peer_and_the_first_of_a_group_goes_anywhere() {
    let mut driver = Driver::new();
    two_zones(&mut driver);
    // The database prefers zone zb; the cache must share its zone.
    driver.job_with(replica(
        "db",
        "db",
        Constraints {
            node_selector: BTreeMap::new(),
            data_zone: Some("zb".into()),
            ..Default::default()
        },
    ));
    driver.round();
    let near_db = Constraints {
        job_affinity: JobAffinity {
            required: vec![term("db", TOPOLOGY_ZONE)],
            preferred: vec![],
        },
        ..Default::default()
    };
    driver.job_with(replica("cache", "cache", near_db));
    driver.round();
    assert_eq!(zone_of(&driver, "db"), "zb");
    assert_eq!(zone_of(&driver, "cache"), "zb");
    // A group whose members select each other: the first goes anywhere,
    // the rest follow it into its zone.
    let together = Constraints {
        job_affinity: JobAffinity {
            required: vec![term("shard", TOPOLOGY_ZONE)],
            preferred: vec![],
        },
        ..Default::default()
    };
    for i in 0..3 {
        driver.job_with(replica(&format!("shard-{i}"), "shard", together.clone()));
    }
    assert_eq!(driver.round().len(), 3);
    let zone = zone_of(&driver, "shard-0");
    assert!((1..3).all(|i| zone_of(&driver, &format!("shard-{i}")) == zone));
    // A job that needs a peer nobody runs waits, and says why.
    let orphan = Constraints {
        job_affinity: JobAffinity {
            required: vec![term("missing", TOPOLOGY_ZONE)],
            preferred: vec![],
        },
        ..Default::default()
    };
    driver.job_with(replica("orphan", "orphan", orphan));
    assert!(driver.round().is_empty());
    assert_eq!(
        rota_placement::explain(driver.core.state(), "orphan")
            .unwrap()
            .summary(),
        "0/4 nodes fit: 4 job affinity app=missing per zone not met"
    );
}

#[test]
fn anti_affinity_works_both_ways() {
    let mut driver = Driver::new();
    two_zones(&mut driver);
    let quiet = Constraints {
        job_anti_affinity: JobAffinity {
            required: vec![term("noisy", TOPOLOGY_ZONE)],
            preferred: vec![],
        },
        ..Default::default()
    };
    driver.job_with(replica("quiet", "quiet", quiet));
    driver.round();
    let quiet_zone = zone_of(&driver, "quiet");
    // Noisy jobs state nothing, yet stay out of the quiet job's zone.
    for i in 0..4 {
        driver.job_with(replica(
            &format!("noisy-{i}"),
            "noisy",
            Constraints::default(),
        ));
    }
    assert_eq!(driver.round().len(), 4);
    for i in 0..4 {
        assert_ne!(zone_of(&driver, &format!("noisy-{i}")), quiet_zone);
    }
}

#[test]
fn topology_spread_keeps_zones_within_the_skew() {
    let mut driver = Driver::new();
    two_zones(&mut driver);
    driver.policy(PlacementPolicy {
        strategy: Strategy::Binpack,
        ..Default::default()
    });
    for i in 0..6 {
        driver.job_with(replica(
            &format!("api-{i}"),
            "api",
            zone_spread(WhenUnsatisfiable::DoNotSchedule),
        ));
    }
    assert_eq!(driver.round().len(), 6);
    let in_za = (0..6)
        .filter(|i| zone_of(&driver, &format!("api-{i}")) == "za")
        .count();
    assert_eq!(in_za, 3, "binpack alone would put all six in one zone");
    // Zone zb's nodes drain, so only za is eligible and counts: a seventh
    // replica goes there, though zb holds three.
    for node in ["b1", "b2"] {
        driver.push(Event::new(
            format!("drain-{node}"),
            "default",
            Body::NodeDrained(NodeDrained {
                node: node.into(),
                reason: "maintenance".into(),
            }),
        ));
    }
    driver.job_with(replica(
        "api-6",
        "api",
        zone_spread(WhenUnsatisfiable::DoNotSchedule),
    ));
    assert_eq!(driver.round().len(), 1);
}

#[test]
fn a_spread_that_would_be_broken_holds_the_job_unless_it_may_be() {
    let mut driver = Driver::new();
    // Zone za has room for many; zone zb for one job only.
    for (name, zone, cpu) in [("a1", "za", 8000), ("b1", "zb", 1000)] {
        driver.node_with(NodeRegistered {
            node: name.into(),
            capacity: r(cpu, 16, 0),
            topology: Topology {
                zone: Some(zone.into()),
                rack: None,
            },
            ..Default::default()
        });
    }
    for i in 0..4 {
        driver.job_with(replica(
            &format!("hard-{i}"),
            "api",
            zone_spread(WhenUnsatisfiable::DoNotSchedule),
        ));
    }
    // One per zone, a second in za (skew 1), then zb is full and a third in
    // za would make the skew 2.
    assert_eq!(driver.round().len(), 3);
    let explanation = rota_placement::explain(driver.core.state(), "hard-3").unwrap();
    assert_eq!(
        explanation.summary(),
        "0/2 nodes fit: 1 insufficient cpu, 1 topology spread per zone over max skew 1"
    );
    driver.job_with(replica(
        "soft",
        "api",
        zone_spread(WhenUnsatisfiable::ScheduleAnyway),
    ));
    let bound = driver.round();
    assert!(
        bound
            .iter()
            .any(|(job, node, _)| job == "soft" && node == "a1"),
        "{bound:?}"
    );
}

#[test]
fn preferred_anti_affinity_spreads_but_never_holds_a_job() {
    let mut driver = Driver::new();
    two_zones(&mut driver);
    driver.policy(PlacementPolicy {
        weights: Weights {
            resource_fit: 30,
            affinity: 100,
            ..Default::default()
        },
        ..Default::default()
    });
    let rather_apart = Constraints {
        job_anti_affinity: JobAffinity {
            required: vec![],
            preferred: vec![WeightedJobAffinityTerm {
                weight: 100,
                selector: selects("batch"),
                topology_key: TOPOLOGY_NODE.into(),
            }],
        },
        ..Default::default()
    };
    for i in 0..6 {
        driver.job_with(replica(&format!("b-{i}"), "batch", rather_apart.clone()));
    }
    let bound = driver.round();
    assert_eq!(bound.len(), 6, "preferences never hold a job back");
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for (_, node, _) in &bound {
        *per_node.entry(node.clone()).or_default() += 1;
    }
    assert_eq!(
        per_node.len(),
        4,
        "an empty node is preferred while there is one: {per_node:?}"
    );
}

#[test]
fn terms_see_only_the_jobs_own_tenant() {
    let mut driver = Driver::new();
    driver.node_with(NodeRegistered {
        node: "only".into(),
        capacity: r(8000, 16, 0),
        ..Default::default()
    });
    let apart = Constraints {
        job_anti_affinity: JobAffinity {
            required: vec![term("web", TOPOLOGY_NODE)],
            preferred: vec![],
        },
        ..Default::default()
    };
    driver.job_for("acme", replica("acme-web", "web", apart.clone()));
    driver.job_for("globex", replica("globex-web", "web", apart));
    assert_eq!(
        driver.round().len(),
        2,
        "another tenant's web job neither repels nor is repelled"
    );
    assert_eq!(node_of(&driver, "globex-web").as_deref(), Some("only"));
}

/// Over random clusters and workloads: no two jobs of a tenant share a
/// domain where either's required anti-affinity selects the other, every
/// required affinity is met where the job landed (or it was the first of
/// its group), no binding is void (the fold checks the same affinity and
/// anti-affinity, so placement and the fold agree), and a placement core that remembers
/// filter results across rounds decides exactly as a fresh one.
#[test]
fn required_terms_hold_in_every_round_of_random_workloads() {
    use rota_projections::SeededRng;
    let apps = ["web", "db", "cache"];
    let keys = [TOPOLOGY_NODE, TOPOLOGY_ZONE, TOPOLOGY_RACK];
    for seed in 1..=40u64 {
        let mut rng = SeededRng::new(seed);
        let mut driver = Driver::new();
        for n in 0..(2 + rng.below(10)) {
            driver.node_with(NodeRegistered {
                node: format!("n{n}"),
                capacity: r(1000 * (1 + rng.below(8)), 16, 0),
                topology: Topology {
                    zone: Some(format!("z{}", rng.below(3))),
                    rack: Some(format!("r{}", rng.below(4))),
                },
                ..Default::default()
            });
        }
        for step in 0..30 {
            for j in 0..rng.below(5) {
                let mut constraints = Constraints::default();
                let (app, key) = (*rng.pick::<&str>(&apps), *rng.pick::<&str>(&keys));
                let label = *rng.pick::<&str>(&apps);
                let chosen = term(app, key);
                match rng.below(5) {
                    0 => constraints.job_anti_affinity.required.push(chosen),
                    1 => constraints.job_affinity.required.push(chosen),
                    2 => constraints.topology_spread.push(TopologySpread {
                        topology_key: key.into(),
                        max_skew: 1 + rng.below(2) as u32,
                        selector: selects(app),
                        when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                    }),
                    _ => {}
                }
                let tenant = *rng.pick(&["t1", "t2"]);
                let spec = JobSubmitted {
                    resources: r(250 * (1 + rng.below(8)), 1, 0),
                    ..replica(&format!("j{step}-{j}"), label, constraints)
                };
                driver.job_for(tenant, spec);
            }
            if rng.below(8) == 0 {
                // Nodes come and go, which the filter memory must notice.
                let node = format!("n{}", rng.below(12));
                if driver.core.state().nodes.contains_key(&node) {
                    driver.push(Event::new(
                        format!("drain-{step}"),
                        "default",
                        Body::NodeDrained(NodeDrained {
                            node,
                            reason: "test".into(),
                        }),
                    ));
                } else {
                    driver.node_with(NodeRegistered {
                        node,
                        capacity: r(4000, 16, 0),
                        labels: app("web"),
                        ..Default::default()
                    });
                }
            }
            let mut fresh = rota_placement::Placement::new("default");
            *fresh.state_mut() = driver.core.state().clone();
            let remembered = driver.core.decide(1);
            assert_eq!(
                fresh.decide(1),
                remembered,
                "seed {seed}: what placement remembers changed a decision"
            );
            driver.round();
            let state = driver.core.state();
            assert_eq!(state.counters.void_bindings, 0, "seed {seed}");
            let placed: Vec<(
                &String,
                &rota_projections::Job,
                &rota_projections::Node,
                &str,
            )> = state
                .jobs
                .iter()
                .filter_map(|(id, job)| {
                    let name = job.node.as_deref()?;
                    Some((id, job, &state.nodes[name], name))
                })
                .collect();
            for (id, job, node, name) in &placed {
                for term in &job.spec.constraints.job_affinity.required {
                    let here = rota_placement::neighbours::domain(name, node, &term.topology_key);
                    let peer_near = placed.iter().any(|(other, peer, peer_node, peer_name)| {
                        other != id
                            && peer.tenant == job.tenant
                            && term.selector.matches(&peer.spec.labels)
                            && here.is_some()
                            && rota_placement::neighbours::domain(
                                peer_name,
                                peer_node,
                                &term.topology_key,
                            ) == here
                    });
                    assert!(
                        peer_near || term.selector.matches(&job.spec.labels),
                        "seed {seed}: {id} has no peer in its {}",
                        term.topology_key
                    );
                }
                for term in &job.spec.constraints.job_anti_affinity.required {
                    let here = rota_placement::neighbours::domain(name, node, &term.topology_key);
                    for (other, peer, peer_node, peer_name) in &placed {
                        let there = rota_placement::neighbours::domain(
                            peer_name,
                            peer_node,
                            &term.topology_key,
                        );
                        assert!(
                            other == id
                                || peer.tenant != job.tenant
                                || !term.selector.matches(&peer.spec.labels)
                                || here.is_none()
                                || here != there,
                            "seed {seed}: {id} and {other} share a {}",
                            term.topology_key
                        );
                    }
                }
            }
        }
    }
}
