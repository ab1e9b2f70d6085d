//! Tenant accounting in the fold, as given/when/then: usage decays with
//! the half-life of logged time, factors follow the tree, quotas count
//! what tenants hold, and a bad configuration is refused visibly.

mod common;

use common::*;
use rota_events::*;
use rota_projections::accounts::fairness::{classic, fair_tree};
use rota_projections::accounts::quota::never_fits;
use rota_projections::accounts::tree::TenantTree;
use rota_projections::accounts::{amounts, usage_rate_milli};

const HOUR_MS: u64 = 3600 * 1000;

fn account(name: &str, shares: u32, children: Vec<TenantNode>) -> TenantNode {
    TenantNode {
        children,
        ..TenantNode::leaf(name, shares)
    }
}

fn tenants_set(config: TenantConfig) -> Event {
    Event::new(
        "tenants",
        "default",
        Body::TenantsSet(TenantsSet { config }),
    )
}

fn half_life_config(half_life_s: u64) -> TenantConfig {
    TenantConfig {
        fair_share: FairSharePolicy {
            half_life_s,
            ..Default::default()
        },
        tenants: vec![TenantNode::leaf("acme", 1)],
        ..Default::default()
    }
}

#[test]
fn usage_halves_after_one_half_life_of_logged_time() {
    let mut log = Log::new();
    log.push(tenants_set(half_life_config(3600)));
    log.push(lease("admission", 1)).push(lease("placement", 1));
    log.push(node("n1", 4000)).push(submit("j1", 2000));
    log.decision("admission", 1, admitted("j1"), Some("acme"));
    // The job holds 2 cores from its binding at 10 s until it ends at 2 h.
    let bind_ms = 10_000;
    log.decision_at(
        "placement",
        1,
        bound("j1", "n1", 2000),
        Some("acme"),
        bind_ms,
    );
    let end_ms = bind_ms + 2 * HOUR_MS;
    log.push_at(finished("j1", "n1"), end_ms);
    let state = log.fold();
    let account = &state.accounts.tenants["acme"];
    assert_eq!(account.running_jobs, 0);
    assert_eq!(account.rate_milli, 0);
    let at_end = account.usage_at(end_ms, 3600);
    assert!(at_end > 0);
    // One half-life later, with nothing running, exactly half is left.
    let later = account.usage_at(end_ms + HOUR_MS, 3600);
    assert_eq!(later, (at_end as f64 / 2.0).round() as u64);
    assert_eq!(
        account.usage_at(end_ms + 2 * HOUR_MS, 3600),
        (at_end as f64 / 4.0).round() as u64
    );
    // Two cores for two hours, decaying as it accrues with h = 1 h:
    // 2 units/s * 3600 s / ln 2 * (1 - 2^-2).
    let expected = 2000.0 * 3600.0 / std::f64::consts::LN_2 * 0.75;
    assert!(
        (at_end as f64 - expected).abs() <= 1.0,
        "{at_end} vs {expected}"
    );
}

#[test]
fn a_changed_half_life_applies_from_its_event_on() {
    let mut log = Log::new();
    log.push(tenants_set(half_life_config(3600)));
    let state = log.fold();
    assert_eq!(state.accounts.config.fair_share.half_life_s, 3600);
    let mut later = half_life_config(60);
    later.fair_share.mode = FairShareMode::FairTree;
    log.push(tenants_set(later));
    let state = log.fold();
    assert_eq!(state.accounts.config.fair_share.half_life_s, 60);
    assert_eq!(
        state.accounts.config.fair_share.mode,
        FairShareMode::FairTree
    );
}

#[test]
fn a_bad_tree_is_refused_and_the_previous_one_kept() {
    let mut log = Log::new();
    log.push(tenants_set(half_life_config(3600)));
    let mut twice = half_life_config(3600);
    twice.tenants = vec![
        account("org", 1, vec![TenantNode::leaf("dup", 1)]),
        TenantNode::leaf("dup", 1),
    ];
    log.push(tenants_set(twice));
    let state = log.fold();
    assert_eq!(state.accounts.tree.nodes.len(), 2, "root and acme");
    let rejection = state.backlog.rejections.values().next().unwrap();
    assert_eq!(
        rejection.detail,
        "tenants.set refused: tenant \"dup\" appears twice; every tenant name must be unique in the tree"
    );
}

fn tree(tenants: Vec<TenantNode>) -> TenantTree {
    let config = TenantConfig {
        tenants,
        ..Default::default()
    };
    TenantTree::build(&config, std::iter::empty())
}

/// Node usage by name in `tree`, summed up the tree.
fn usage_of(tree: &TenantTree, own: &[(&str, f64)]) -> Vec<f64> {
    let mut values = vec![0.0; tree.nodes.len()];
    for (name, used) in own {
        values[tree.index(name).unwrap()] = *used;
    }
    tree.subtree_sums(&values, |a, b| a + b)
}

#[test]
fn classic_factors_rank_by_usage_against_shares_down_the_tree() {
    // physics (shares 1) with alice and bob; biology (shares 1) with carol.
    let tree = tree(vec![
        account(
            "physics",
            1,
            vec![TenantNode::leaf("alice", 1), TenantNode::leaf("bob", 1)],
        ),
        account("biology", 1, vec![TenantNode::leaf("carol", 1)]),
    ]);
    let usage = usage_of(&tree, &[("alice", 60.0), ("carol", 40.0)]);
    let factors = classic(&tree, &usage);
    let f = |name: &str| factors[tree.index(name).unwrap()];
    // alice: effective usage 0.6 against shares 0.25: 2^-2.4.
    assert!((f("alice") - 2f64.powf(-2.4)).abs() < 1e-12);
    // bob used nothing but is in a busy account: (0.6 - 0) * 0.5 = 0.3.
    assert!((f("bob") - 2f64.powf(-1.2)).abs() < 1e-12);
    // carol alone in biology: 0.4 against 0.5.
    assert!((f("carol") - 2f64.powf(-0.8)).abs() < 1e-12);
    assert!(f("carol") > f("bob") && f("bob") > f("alice"));
    // Nothing used anywhere: every factor is 1.
    let idle = classic(&tree, &vec![0.0; tree.nodes.len()]);
    assert!(tree.leaves().all(|l| idle[l] == 1.0));
}

#[test]
fn fair_tree_ranks_accounts_before_their_users() {
    let tree = tree(vec![
        account(
            "physics",
            1,
            vec![TenantNode::leaf("alice", 1), TenantNode::leaf("bob", 1)],
        ),
        account(
            "biology",
            1,
            vec![TenantNode::leaf("carol", 1), TenantNode::leaf("dave", 1)],
        ),
    ]);
    // Physics used less than biology, so both its users rank above both of
    // biology's, even though dave used nothing.
    let usage = usage_of(&tree, &[("alice", 30.0), ("bob", 10.0), ("carol", 60.0)]);
    let factors = fair_tree(&tree, &usage);
    let f = |name: &str| factors[tree.index(name).unwrap()];
    assert_eq!(
        [f("bob"), f("alice"), f("dave"), f("carol")],
        [1.0, 0.75, 0.5, 0.25]
    );
}

#[test]
fn usage_weights_charge_each_resource() {
    let weights = UsageWeights {
        cpu_core_milli: 1000,
        memory_gib_milli: 250,
        gpu_device_milli: 2000,
        extended_milli: [("fpga".to_string(), 500)].into(),
    };
    let mut log = Log::new();
    log.push(submit("j", 1500));
    let mut job = log.fold().jobs["j"].clone();
    let spec = std::sync::Arc::make_mut(&mut job.spec);
    spec.resources.memory_bytes = 4 << 30;
    spec.resources.gpus = 2;
    spec.constraints.extended.insert("fpga".into(), 2);
    // 1.5 cores + 4 GiB * 0.25 + 2 GPUs * 2 + 2 fpga * 0.5 = 7.5 units/s.
    assert_eq!(usage_rate_milli(&job, &weights), 7500);
    assert_eq!(amounts(&job.spec.resources).gpu_milli, 2000);
}

#[test]
fn a_job_no_quota_could_cover_is_named() {
    let guaranteed = |cpu: u64| ResourceLimits {
        cpu_milli: Some(cpu),
        ..Default::default()
    };
    let mut small = TenantNode::leaf("small", 1);
    small.quota = Some(Quota {
        guaranteed: guaranteed(4000),
        max: ResourceLimits::default(),
        lending_limit: ResourceLimits::default(),
    });
    let mut big = TenantNode::leaf("big", 1);
    big.quota = Some(Quota {
        guaranteed: guaranteed(8000),
        max: ResourceLimits::default(),
        lending_limit: guaranteed(2000),
    });
    let tree = tree(vec![small, big]);
    let request = |cpu_milli: u64| ResourceAmounts {
        cpu_milli,
        ..Default::default()
    };
    let small = tree.index("small").unwrap();
    assert_eq!(never_fits(&tree, small, &request(6000)), None);
    assert_eq!(
        never_fits(&tree, small, &request(6001)).unwrap(),
        "tenant small's quota can never cover it: cpu_milli 6001 asked exceeds the 6000 it can reach (guaranteed 4000, plus what its cohort lends, up to its max)"
    );
}
