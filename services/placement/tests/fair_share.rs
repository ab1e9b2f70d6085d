//! Placement under fair share, as given/when/then: DRF's progressive
//! filling within one round (the DRF paper's example), published factors
//! ordering the queue, and quotas and limits holding jobs.

mod common;

use common::{Driver, r};
use rota_events::*;
use rota_projections::ServiceCore;
use std::collections::BTreeMap;

fn config(mode: FairShareMode, tenants: Vec<TenantNode>) -> TenantConfig {
    TenantConfig {
        fair_share: FairSharePolicy {
            mode,
            ..Default::default()
        },
        tenants,
        ..Default::default()
    }
}

fn task(driver: &mut Driver, tenant: &str, id: &str, cpu_milli: u64, memory_gib: u64) {
    driver.job_for(
        tenant,
        JobSubmitted {
            job: id.into(),
            resources: r(cpu_milli, memory_gib, 0),
            ..Default::default()
        },
    );
}

fn bound_per_tenant(driver: &Driver) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for job in driver.core.state().jobs.values() {
        if job.node.is_some() {
            *counts.entry(job.tenant.clone()).or_default() += 1;
        }
    }
    counts
}

/// Ghodsi et al., NSDI 2011: 9 CPUs and 18 GB; A's tasks need <1 CPU,
/// 4 GB>, B's <3 CPUs, 1 GB>. DRF gives A three tasks and B two, whatever
/// order they were submitted in.
#[test]
fn drf_gives_the_papers_allocation_in_one_round() {
    for a_first in [true, false] {
        let mut driver = Driver::new();
        driver.tenants(config(
            FairShareMode::Drf,
            vec![TenantNode::leaf("a", 1), TenantNode::leaf("b", 1)],
        ));
        driver.node("only", r(9000, 18, 0));
        let order: [&str; 2] = if a_first { ["a", "b"] } else { ["b", "a"] };
        for tenant in order {
            for i in 0..8 {
                let (cpu, memory) = if tenant == "a" { (1000, 4) } else { (3000, 1) };
                task(&mut driver, tenant, &format!("{tenant}-{i}"), cpu, memory);
            }
        }
        driver.round();
        let counts = bound_per_tenant(&driver);
        assert_eq!(
            (counts["a"], counts["b"]),
            (3, 2),
            "submitted {:?} first",
            order[0]
        );
    }
}

/// Without fair share the same workload goes in queue order: the first
/// tenant's tasks fill the node.
#[test]
fn without_drf_the_first_submitter_takes_the_node() {
    let mut driver = Driver::new();
    driver.node("only", r(9000, 18, 0));
    for i in 0..8 {
        task(&mut driver, "a", &format!("a-{i}"), 1000, 4);
    }
    for i in 0..8 {
        task(&mut driver, "b", &format!("b-{i}"), 3000, 1);
    }
    driver.round();
    let counts = bound_per_tenant(&driver);
    assert_eq!(counts.get("a"), Some(&4));
    assert_eq!(counts.get("b"), Some(&1));
}

/// Published factors order the queue: the tenant with the higher factor
/// starts first though it submitted later.
#[test]
fn published_factors_order_the_queue() {
    let mut driver = Driver::new();
    driver.node("only", r(1000, 1, 0));
    task(&mut driver, "heavy-user", "old", 1000, 1);
    task(&mut driver, "light-user", "new", 1000, 1);
    let mut update = Event::new(
        "fs",
        "default",
        Body::FairShareUpdated(FairShareUpdated {
            factors: BTreeMap::from([("heavy-user".into(), 100), ("light-user".into(), 900)]),
        }),
    );
    update.round = Some(RoundTag {
        service: "fairshare".into(),
        epoch: 1,
        basis: 0,
        index: 0,
        size: 1,
    });
    driver.push(Event::new(
        "l-fs",
        "default",
        Body::LeaseClaimed(LeaseClaimed {
            service: "fairshare".into(),
            epoch: 1,
            holder: "f".into(),
        }),
    ));
    driver.push(update);
    let bound = driver.round();
    assert_eq!(bound.len(), 1);
    assert_eq!(bound[0].0, "new");
    let explanation = rota_placement::explain(driver.core.state(), "old").unwrap();
    assert_eq!(explanation.multifactor.fair_share_factor, 100);
}

fn cpus(n: u64) -> ResourceLimits {
    ResourceLimits {
        cpu_milli: Some(n * 1000),
        ..Default::default()
    }
}

/// Two teams share a cohort: each is guaranteed 4 CPUs of an 8-CPU node and
/// lends all of it. A busy team borrows the other's idle quota (marked
/// reclaimable) up to its max; the other team, coming back, waits for its
/// lent quota rather than overcommitting; `max_running_jobs` holds jobs.
#[test]
fn quotas_borrow_lend_and_hold() {
    let mut driver = Driver::new();
    let team = |name: &str, max: Option<u64>| TenantNode {
        quota: Some(Quota {
            guaranteed: cpus(4),
            max: max.map(cpus).unwrap_or_default(),
            lending_limit: ResourceLimits::default(),
        }),
        ..TenantNode::leaf(name, 1)
    };
    let mut tenants = vec![team("red", Some(6)), team("blue", None)];
    tenants[1].limits.max_running_jobs = Some(3);
    driver.tenants(config(FairShareMode::Classic, tenants));
    driver.node("only", r(8000, 64, 0));
    for i in 0..8 {
        task(&mut driver, "red", &format!("red-{i}"), 1000, 1);
    }
    let bound = driver.round();
    assert_eq!(bound.len(), 6, "red borrows up to its max of 6 CPUs");
    let state = driver.core.state();
    let reclaimable: Vec<&str> = state
        .jobs
        .iter()
        .filter(|(_, j)| j.reclaimable)
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(reclaimable.len(), 2, "the two beyond its guarantee");
    let held = rota_placement::explain(state, "red-6").unwrap();
    assert_eq!(
        held.held.as_deref(),
        Some("tenant red's maximum quota: cpu_milli 6000 in use + 1000 asked exceeds 6000")
    );
    // Blue comes back: 2 CPUs are free, but 2 of its 4 are lent to red.
    for i in 0..4 {
        task(&mut driver, "blue", &format!("blue-{i}"), 1000, 1);
    }
    assert_eq!(driver.round().len(), 2);
    let state = driver.core.state();
    let waiting = rota_placement::explain(state, "blue-2").unwrap();
    assert!(
        waiting.held.as_deref().is_some_and(
            |h| h.starts_with("tenant blue's quota: cpu_milli 2000 in use + 1000 asked")
        ),
        "{:?}",
        waiting.held
    );
}
