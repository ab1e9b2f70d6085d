//! The preemption core over folded cells: whom it preempts, whom never, and
//! what the ledger makes of its decisions.

mod cell;

use cell::*;
use rota_events::*;
use rota_preemption::{Nobody, Outlook, outlook_now};
use rota_projections::JobState;

/// Two nodes of 8 cores full of low-priority jobs of different sizes and
/// ages, and a high-priority job of 4 cores.
fn full_cluster() -> Cell {
    let mut cell = Cell::new();
    cell.policy(
        &[
            ("high", 900, preempting()),
            ("low", 100, victim_class(PreemptionMode::Requeue)),
        ],
        |_| {},
    );
    cell.node("n1", 8);
    cell.node("n2", 8);
    // n1: one 4-core job started long ago, two 2-core jobs started later.
    cell.run("old4", "acme", Some("low"), 4, "n1");
    cell.advance_s(600);
    cell.run("a2", "acme", Some("low"), 2, "n1");
    cell.run("b2", "acme", Some("low"), 2, "n1");
    // n2: one 4-core job started recently, and a 4-core job of the high
    // class, which is not preemptible.
    cell.advance_s(60);
    cell.run("new4", "acme", Some("low"), 4, "n2");
    cell.run("keep4", "acme", Some("high"), 4, "n2");
    cell.advance_s(60);
    cell.wait("urgent", "acme", Some("high"), 4);
    cell
}

#[test]
fn a_full_cluster_gives_way_with_the_cheapest_minimal_victim_set() {
    let mut cell = full_cluster();
    let round = cell.decide_and_apply();
    // new4 alone frees 4 cores at the least work lost: 60 s x 4 cores,
    // against 120 s x 2 cores x 2 for a2 and b2 (or 780 s x 4 for old4).
    assert_eq!(Cell::victims(&round), vec!["new4".to_string()]);
    let Body::JobNominated(nominated) = &round[0].body else {
        panic!("a round opens with its nomination: {:?}", round[0].body);
    };
    assert_eq!(
        (nominated.job.as_str(), nominated.node.as_str()),
        ("urgent", "n2")
    );
    assert_eq!(cell.state.jobs["new4"].state, JobState::Preempting);
    assert_eq!(cell.state.nominations.get("urgent").unwrap().node, "n2");
    // The victim ends and waits again in its old place, preempted once.
    let admitted = cell.state.jobs["new4"].admitted_seq;
    cell.victim_ends("new4");
    let victim = &cell.state.jobs["new4"];
    assert_eq!(victim.state, JobState::Pending);
    assert_eq!(victim.admitted_seq, admitted);
    assert_eq!(victim.preemptions, 1);
    // Nothing more is preempted for the same preemptor.
    assert!(Cell::victims(&cell.decide()).is_empty());
}

#[test]
fn fewest_victims_of_the_highest_priority_come_before_less_work_lost() {
    let mut cell = Cell::new();
    cell.policy(
        &[
            ("high", 900, preempting()),
            ("mid", 500, victim_class(PreemptionMode::Requeue)),
            ("low", 100, victim_class(PreemptionMode::Requeue)),
        ],
        |_| {},
    );
    cell.node("n1", 4);
    cell.node("n2", 4);
    cell.run("low-old", "acme", Some("low"), 4, "n1");
    cell.advance_s(3600);
    cell.run("mid-new", "acme", Some("mid"), 4, "n2");
    cell.advance_s(1);
    cell.wait("urgent", "acme", Some("high"), 4);
    // mid-new lost the least work, but low-old is of lower priority.
    assert_eq!(Cell::victims(&cell.decide()), vec!["low-old".to_string()]);
}

#[test]
fn a_cancel_mode_victim_ends_cancelled() {
    let mut cell = Cell::new();
    cell.policy(
        &[
            ("high", 900, preempting()),
            ("low", 100, victim_class(PreemptionMode::Cancel)),
        ],
        |_| {},
    );
    cell.node("n1", 4);
    cell.run("v", "acme", Some("low"), 4, "n1");
    cell.wait("urgent", "acme", Some("high"), 4);
    assert_eq!(
        Cell::victims(&cell.decide_and_apply()),
        vec!["v".to_string()]
    );
    cell.victim_ends("v");
    assert_eq!(cell.state.jobs["v"].state, JobState::Cancelled);
}

#[test]
fn protected_jobs_are_never_victims_and_explain_says_why() {
    let mut cell = Cell::new();
    let young = ClassPreemption {
        min_run_s: 600,
        ..victim_class(PreemptionMode::Requeue)
    };
    cell.policy(&[("high", 900, preempting()), ("low", 100, young)], |_| {});
    cell.node("n1", 4);
    cell.run("v", "acme", Some("low"), 4, "n1");
    cell.advance_s(10);
    cell.wait("urgent", "acme", Some("high"), 4);
    assert!(Cell::victims(&cell.decide()).is_empty());
    match outlook_now(&cell.state, "urgent") {
        Some(Outlook::Nobody(Nobody::AllProtected(named))) => {
            assert_eq!(named[0].0, "v");
            assert!(named[0].1.to_string().contains("minimum run time of 600 s"));
        }
        other => panic!("expected every candidate protected, got {other:?}"),
    }
    // Once it has run its minimum, it may be preempted.
    cell.advance_s(600);
    assert_eq!(Cell::victims(&cell.decide()), vec!["v".to_string()]);
}

#[test]
fn a_job_at_its_most_preemptions_is_protected() {
    let mut cell = Cell::new();
    let once = ClassPreemption {
        max_preemptions: 1,
        ..victim_class(PreemptionMode::Requeue)
    };
    cell.policy(&[("high", 900, preempting()), ("low", 100, once)], |_| {});
    cell.node("n1", 4);
    cell.run("v", "acme", Some("low"), 4, "n1");
    cell.wait("u1", "acme", Some("high"), 4);
    assert_eq!(
        Cell::victims(&cell.decide_and_apply()),
        vec!["v".to_string()]
    );
    cell.victim_ends("v");
    // u1 runs elsewhere later; v runs again on a new node; a second
    // preemptor finds it protected.
    cell.node("n2", 4);
    let resources = cell.state.jobs["v"].spec.resources;
    cell.decision(
        "placement",
        Body::JobBound(JobBound {
            job: "v".into(),
            node: "n2".into(),
            resources,
            ..Default::default()
        }),
        "acme",
    );
    cell.wait("u2", "acme", Some("high"), 4);
    let round = cell.decide();
    assert!(!Cell::victims(&round).contains(&"v".to_string()));
}

#[test]
fn a_forged_preemption_of_a_protected_job_is_void() {
    let mut cell = Cell::new();
    let exempt = ClassPreemption {
        preemptible: false,
        ..ClassPreemption::default()
    };
    cell.policy(
        &[("high", 900, preempting()), ("gold", 100, exempt)],
        |_| {},
    );
    cell.node("n1", 4);
    cell.run("v", "acme", Some("gold"), 4, "n1");
    cell.wait("urgent", "acme", Some("high"), 4);
    cell.decision(
        "preemption",
        Body::JobPreempted(JobPreempted {
            job: "v".into(),
            node: "n1".into(),
            preemptor: "urgent".into(),
            rule: PreemptionRule::Priority,
            mode: PreemptionMode::Cancel,
            grace_s: 0,
            lost_ms: 0,
        }),
        "acme",
    );
    assert_eq!(cell.state.jobs["v"].state, JobState::Running);
    assert_eq!(cell.state.counters.void_preemptions, 1);
}

#[test]
fn a_job_that_fits_preempts_nobody() {
    let mut cell = full_cluster();
    cell.node("n3", 8);
    assert!(Cell::victims(&cell.decide()).is_empty());
    assert!(matches!(
        outlook_now(&cell.state, "urgent"),
        Some(Outlook::Fits { node: "n3" })
    ));
}

#[test]
fn a_class_that_never_preempts_waits() {
    let mut cell = full_cluster();
    cell.wait("patient", "acme", Some("low"), 4);
    assert!(matches!(
        outlook_now(&cell.state, "patient"),
        Some(Outlook::Nobody(Nobody::NoRule))
    ));
}

#[test]
fn a_nomination_lapses_after_its_time_and_is_logged() {
    let mut cell = full_cluster();
    cell.decide_and_apply();
    assert!(cell.state.nominations.get("urgent").is_some());
    // The victim never ends; the nomination's time passes.
    cell.advance_s(cell.state.policy.preemption.nomination_s + 1);
    let round = cell.decide_and_apply();
    assert!(
        round
            .iter()
            .any(|e| matches!(&e.body, Body::NominationLapsed(l) if l.job == "urgent")),
        "{round:?}"
    );
    assert!(cell.state.nominations.get("urgent").is_none());
}

#[test]
fn borrowed_capacity_is_reclaimed_for_its_owner_and_unborrowed_is_not() {
    let mut cell = Cell::new();
    cell.policy(&[], |policy| policy.preemption.reclaim = true);
    let quota = |cpu: u64| Quota {
        guaranteed: ResourceLimits {
            cpu_milli: Some(cpu * 1000),
            ..Default::default()
        },
        ..Default::default()
    };
    let tenant = |name: &str| TenantNode {
        name: name.into(),
        shares: 1,
        quota: Some(quota(4)),
        limits: TenantLimits::default(),
        children: Vec::new(),
    };
    let config = TenantConfig {
        tenants: vec![tenant("a"), tenant("b")],
        ..Default::default()
    };
    cell.push(Event::new(
        "tenants",
        "t",
        Body::TenantsSet(TenantsSet { config }),
    ));
    cell.node("n1", 4);
    cell.node("n2", 4);
    // b runs its guarantee on n1 and borrows a's on n2.
    cell.run("b-own", "b", None, 4, "n1");
    cell.run_borrowing("b-borrowed", "b", None, 4, "n2", true);
    cell.wait("a-job", "a", None, 4);
    assert_eq!(
        Cell::victims(&cell.decide()),
        vec!["b-borrowed".to_string()]
    );
    let round = cell.decide();
    let Body::JobPreempted(preempted) = &round[1].body else {
        panic!("{round:?}");
    };
    assert_eq!(preempted.rule, PreemptionRule::Reclaim);
}

#[test]
fn without_borrowing_nothing_is_reclaimed() {
    let mut cell = Cell::new();
    cell.policy(&[], |policy| policy.preemption.reclaim = true);
    cell.node("n1", 4);
    cell.run("b-own", "b", None, 4, "n1");
    cell.wait("a-job", "a", None, 4);
    assert!(Cell::victims(&cell.decide()).is_empty());
}

/// Two classes competing for one full node: wave after wave of high jobs
/// arrives while the low ones wait to run again. No low job is preempted
/// more often than its class allows, however many waves come.
#[test]
fn two_classes_competing_never_preempt_a_job_past_its_limit() {
    const WAVES: usize = 20;
    let mut cell = Cell::new();
    let twice = ClassPreemption {
        max_preemptions: 2,
        ..victim_class(PreemptionMode::Requeue)
    };
    cell.policy(&[("high", 900, preempting()), ("low", 100, twice)], |_| {});
    cell.node("n1", 4);
    for j in 0..4 {
        cell.run(&format!("low-{j}"), "acme", Some("low"), 1, "n1");
    }
    let mut preempted = 0;
    for wave in 0..WAVES {
        cell.advance_s(10);
        let urgent = format!("urgent-{wave}");
        cell.wait(&urgent, "acme", Some("high"), 2);
        let victims = Cell::victims(&cell.decide_and_apply());
        preempted += victims.len();
        for victim in &victims {
            cell.victim_ends(victim);
        }
        // The urgent job runs and ends; requeued low jobs run again.
        bind_pending(&mut cell, "n1");
        if cell.state.jobs[&urgent].state == JobState::Bound {
            cell.victim_ends(&urgent);
        }
        bind_pending(&mut cell, "n1");
        if let Err(broken) = rota_preemption::invariants::check_preemption_counts(&cell.state) {
            panic!("wave {wave}: {broken}");
        }
    }
    // Every low job reached its limit and the later waves found none to take.
    assert_eq!(
        preempted,
        4 * 2,
        "each of 4 low jobs preempted exactly twice"
    );
    for j in 0..4 {
        assert_eq!(cell.state.jobs[&format!("low-{j}")].preemptions, 2);
    }
}

/// Binds every waiting job to `node`, in queue-group order; those without
/// room there are void and keep waiting.
fn bind_pending(cell: &mut Cell, node: &str) {
    let pending: Vec<String> = cell.state.placement.pending.ids().cloned().collect();
    for id in pending {
        let resources = cell.state.jobs[&id].spec.resources;
        let tenant = cell.state.jobs[&id].tenant.clone();
        cell.decision(
            "placement",
            Body::JobBound(JobBound {
                job: id,
                node: node.into(),
                resources,
                ..Default::default()
            }),
            &tenant,
        );
    }
}

/// Tenants `hog` (factor 100: over-served) and `starved` (900), with
/// fair-share preemption at `threshold_milli`; hog fills the node.
fn fair_share_cell(threshold_milli: u32) -> Cell {
    let mut cell = Cell::new();
    cell.push(Event::new(
        "lease-fairshare",
        "t",
        Body::LeaseClaimed(LeaseClaimed {
            service: "fairshare".into(),
            epoch: 1,
            holder: "fairshare".into(),
        }),
    ));
    cell.policy(&[], |policy| {
        policy.preemption.fair_share = Some(FairSharePreemption { threshold_milli })
    });
    cell.node("n1", 4);
    cell.run("hog-old", "hog", None, 2, "n1");
    cell.advance_s(60);
    cell.run("hog-new", "hog", None, 2, "n1");
    let factors = [("hog".to_string(), 100), ("starved".to_string(), 900)].into();
    let mut update = Event::new(
        "factors",
        "t",
        Body::FairShareUpdated(FairShareUpdated { factors }),
    );
    update.round = Some(RoundTag {
        service: "fairshare".into(),
        epoch: 1,
        basis: cell.entries.len() as u64,
        index: 0,
        size: 1,
    });
    cell.push(update);
    cell.wait("hungry", "starved", None, 2);
    cell
}

#[test]
fn a_tenant_far_below_its_share_preempts_the_most_over_served_tenants_newest_job() {
    let mut cell = fair_share_cell(300);
    let round = cell.decide_and_apply();
    assert_eq!(Cell::victims(&round), vec!["hog-new".to_string()]);
    let Body::JobPreempted(preempted) = &round[1].body else {
        panic!("{round:?}");
    };
    assert_eq!(preempted.rule, PreemptionRule::FairShare);
}

#[test]
fn fair_share_preemption_waits_for_the_threshold() {
    // 900 - 100 is below a threshold of 900: the tenants are not far
    // enough apart to take room back and forth.
    let cell = fair_share_cell(900);
    assert!(Cell::victims(&cell.decide()).is_empty());
}

#[test]
fn a_job_its_tenants_limits_hold_preempts_nobody() {
    let mut cell = full_cluster();
    let config = TenantConfig {
        tenants: vec![TenantNode {
            name: "acme".into(),
            shares: 1,
            quota: None,
            limits: TenantLimits {
                max_running_jobs: Some(4),
                ..Default::default()
            },
            children: Vec::new(),
        }],
        ..Default::default()
    };
    cell.push(Event::new(
        "tenants",
        "t",
        Body::TenantsSet(TenantsSet { config }),
    ));
    assert!(Cell::victims(&cell.decide()).is_empty());
    match outlook_now(&cell.state, "urgent") {
        Some(Outlook::Nobody(Nobody::Held(why))) => {
            assert!(why.contains("max_running_jobs"), "{why}")
        }
        other => panic!("expected the job held, got {other:?}"),
    }
}
