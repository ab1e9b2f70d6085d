//! Admission as given/when/then: its backlog in, its round out.

use rota_admission::{
    Admission, QUEUE_FULL_REASON_PREFIX, queue_full_reason, tenant_queue_full_reason, validate,
};
use rota_events::*;
use rota_projections::{LogEntry, ServiceCore};
use std::collections::BTreeMap;
use std::sync::Arc;

fn spec(job: &str) -> JobSubmitted {
    JobSubmitted {
        job: job.into(),
        name: None,
        command: vec!["true".into()],
        resources: Resources {
            cpu_milli: 1000,
            memory_bytes: 1 << 30,
            gpus: 0,
            ..Default::default()
        },
        duration_ms: Some(1000),
        walltime_s: Some(10),
        priority: 0,
        labels: BTreeMap::new(),
        ..Default::default()
    }
}

fn fold(events: Vec<Event>) -> Admission {
    let mut core = Admission::new("default");
    for (i, event) in events.into_iter().enumerate() {
        let entry = LogEntry {
            seq: i as u64 + 1,
            time_ms: 10,
            subject: event.subject(),
            event: Ok(event),
            signer: None,
        };
        core.apply(&entry);
    }
    core
}

fn submitted(spec: JobSubmitted) -> Event {
    Event::new(
        spec.job.clone(),
        "default",
        Body::JobSubmitted(Arc::new(spec)),
    )
    .with_tenant("acme")
}

fn cancel(job: &str, tenant: &str, id: &str) -> Event {
    Event::new(
        id,
        "default",
        Body::JobCancelRequested(JobCancelRequested {
            job: job.into(),
            reason: None,
        }),
    )
    .with_tenant(tenant)
}

#[test]
fn admits_valid_jobs_rejects_invalid_ones_and_handles_cancels_in_log_order() {
    let mut bad = spec("bad");
    bad.resources.gpus = 65;
    let core = fold(vec![
        submitted(spec("good")),
        submitted(bad),
        cancel("good", "acme", "c1"),
        cancel("good", "acme", "c2"),
        cancel("good", "mallory", "c3"),
        cancel("ghost", "acme", "c4"),
    ]);
    let round = core.decide(7);
    let summary: Vec<String> = round
        .iter()
        .map(|e| match &e.body {
            Body::JobAdmitted(b) => format!("admitted {}", b.job),
            Body::JobRejected(b) => format!("rejected {} {}", b.job, b.field.clone().unwrap()),
            Body::JobCancelled(b) => format!("cancelled {}", b.job),
            Body::InputRejected(b) => format!("refused seq {}: {}", b.seq, b.detail),
            other => panic!("admission wrote {other:?}"),
        })
        .collect();
    assert_eq!(summary[0], "admitted good");
    assert_eq!(summary[1], "rejected bad resources.gpus");
    assert_eq!(summary[2], "cancelled good");
    assert!(
        summary[3].starts_with("refused seq 4") && summary[3].contains("already cancelled"),
        "{}",
        summary[3]
    );
    assert!(
        summary[4].starts_with("refused seq 5") && summary[4].contains("another tenant"),
        "{}",
        summary[4]
    );
    assert!(
        summary[5].starts_with("refused seq 6")
            && summary[5].contains("job \"ghost\" is not in this cell"),
        "{}",
        summary[5]
    );
    for (index, event) in round.iter().enumerate() {
        let tag = event.round.as_ref().unwrap();
        assert_eq!(
            (
                tag.service.as_str(),
                tag.epoch,
                tag.basis,
                tag.index,
                tag.size
            ),
            ("admission", 7, 6, index as u32, 6)
        );
    }
    assert_eq!(
        core.decide(7),
        round,
        "deciding twice from the same state gives the same round"
    );
}

/// A change that makes a valid spec invalid.
type Change = Box<dyn Fn(&mut JobSubmitted)>;

#[test]
fn every_refusal_names_the_value_and_what_is_accepted() {
    let cases: Vec<(Change, &str, &str)> = vec![
        (
            Box::new(|s| s.resources.cpu_milli = 0),
            "resources.cpu_milli",
            "is 0; it must be 1 to 1024000",
        ),
        (
            Box::new(|s| s.resources.memory_bytes = 0),
            "resources.memory_bytes",
            "is 0; it must be 1 to",
        ),
        (
            Box::new(|s| s.command = vec![String::new()]),
            "command",
            "command[0] is empty",
        ),
        (
            Box::new(|s| s.command = vec!["x".repeat(5000)]),
            "command",
            "command[0] is 5000 bytes",
        ),
        (
            Box::new(|s| s.priority = 5000),
            "priority",
            "priority is 5000; it must be -1000 to 1000",
        ),
        (
            Box::new(|s| s.walltime_s = Some(0)),
            "walltime_s",
            "walltime_s is 0",
        ),
        (
            Box::new(|s| s.priority_class = Some("gold".into())),
            "priority_class",
            "priority_class \"gold\" is not defined; the policy's classes are: none",
        ),
        (
            Box::new(|s| {
                s.constraints.tolerations = (0..17)
                    .map(|i| Toleration {
                        key: format!("k{i}"),
                        value: None,
                        effect: None,
                    })
                    .collect()
            }),
            "constraints.tolerations",
            "has 17 entries; it may have at most 16",
        ),
        (
            Box::new(|s| {
                s.constraints.affinity.preferred = vec![Preference {
                    weight: 0,
                    requirement: LabelRequirement {
                        key: "zone".into(),
                        operator: Operator::Exists,
                        values: vec![],
                    },
                }]
            }),
            "constraints.affinity.preferred[0]",
            "weight is 0; it must be 1 to 100",
        ),
        (
            Box::new(|s| {
                s.constraints.affinity.required = vec![LabelRequirement {
                    key: "zone".into(),
                    operator: Operator::In,
                    values: vec![],
                }]
            }),
            "constraints.affinity.required[0]",
            "with no values",
        ),
        (
            Box::new(|s| {
                s.constraints.topology_spread = vec![TopologySpread {
                    topology_key: "zone".into(),
                    max_skew: 0,
                    selector: JobSelector::default(),
                    when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
                }]
            }),
            "constraints.topology_spread[0]",
            "max_skew is 0; it must be 1 to 1000",
        ),
        (
            Box::new(|s| {
                s.constraints.job_anti_affinity.required = vec![JobAffinityTerm {
                    selector: JobSelector::default(),
                    topology_key: String::new(),
                }]
            }),
            "constraints.job_anti_affinity.required[0]",
            "topology_key of 0 bytes; it must be 1 to 256",
        ),
    ];
    for (change, field, needle) in cases {
        let mut job = spec("j");
        change(&mut job);
        let refusal = validate(&job, &PlacementPolicy::default()).unwrap_err();
        assert_eq!(refusal.field, field);
        assert!(
            refusal.reason.contains(needle),
            "{} lacks {needle:?}",
            refusal.reason
        );
    }
    assert!(validate(&spec("j"), &PlacementPolicy::default()).is_ok());
}

fn tenant_node(name: &str, children: Vec<TenantNode>, limits: TenantLimits) -> TenantNode {
    TenantNode {
        name: name.into(),
        shares: 1,
        quota: None,
        limits,
        children,
    }
}

/// The reason of each rejection in a round, by job.
fn rejections(round: &[Event]) -> BTreeMap<String, String> {
    round
        .iter()
        .filter_map(|e| match &e.body {
            Body::JobRejected(r) => Some((r.job.clone(), r.reason.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_tenant_tree_decides_who_may_submit_and_how_much_may_wait() {
    let lab = tenant_node(
        "lab",
        vec![
            tenant_node(
                "acme",
                vec![],
                TenantLimits {
                    max_pending_jobs: Some(2),
                    ..Default::default()
                },
            ),
            tenant_node(
                "capped",
                vec![],
                TenantLimits {
                    max_resources: ResourceLimits {
                        cpu_milli: Some(500),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            ),
        ],
        TenantLimits::default(),
    );
    let config = TenantConfig {
        unknown_tenants: UnknownTenants {
            admit: false,
            shares: 1,
        },
        tenants: vec![lab],
        ..Default::default()
    };
    let as_tenant = |job: &str, tenant: &str| {
        Event::new(job, "default", Body::JobSubmitted(Arc::new(spec(job)))).with_tenant(tenant)
    };
    let core = fold(vec![
        Event::new("t", "default", Body::TenantsSet(TenantsSet { config })),
        submitted(spec("a1")),
        submitted(spec("a2")),
        submitted(spec("a3")),
        as_tenant("stranger-job", "stranger"),
        as_tenant("lab-job", "lab"),
        as_tenant("big", "capped"),
    ]);
    let round = core.decide(1);
    let refused = rejections(&round);
    assert_eq!(refused.len(), 4, "{refused:?}");
    assert_eq!(
        refused["a3"],
        "tenant acme has 2 jobs waiting, its max_pending_jobs; submit again when some have started"
    );
    assert_eq!(
        refused["stranger-job"],
        "tenant \"stranger\" is not in the tenant tree and this cell refuses unknown tenants; tenants that may submit: acme, capped"
    );
    assert_eq!(
        refused["lab-job"],
        "tenant \"lab\" is an account with sub-tenants; submit as one of them: acme, capped"
    );
    assert_eq!(
        refused["big"],
        "the job could never run: tenant capped's max_resources: cpu_milli 1000 asked exceeds 500"
    );
}

fn lease(service: &str, epoch: u64) -> Event {
    Event::new(
        format!("lease-{service}-{epoch}"),
        "default",
        Body::LeaseClaimed(LeaseClaimed {
            service: service.into(),
            epoch,
            holder: format!("{service}-{epoch}"),
        }),
    )
}

fn policy(placement: PlacementPolicy) -> Event {
    Event::new(
        "policy",
        "default",
        Body::PolicySet(PolicySet { placement }),
    )
}

/// Each submission decision of a round, by job: "admitted", or the
/// rejection's field and reason.
fn submission_decisions(round: &[Event]) -> BTreeMap<String, String> {
    round
        .iter()
        .filter_map(|e| match &e.body {
            Body::JobAdmitted(a) => Some((a.job.clone(), "admitted".to_string())),
            Body::JobRejected(r) => Some((
                r.job.clone(),
                format!("{}: {}", r.field.clone().unwrap(), r.reason),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_full_queue_rejects_valid_submissions_with_a_retryable_reason_until_a_job_leaves_it() {
    let mut bad = spec("bad");
    bad.resources.gpus = 65;
    // No nodes: nothing admitted leaves the queue by being placed.
    let mut log = vec![
        lease("admission", 1),
        policy(PlacementPolicy {
            pending_jobs_max: 3,
            ..Default::default()
        }),
    ];
    log.extend(["j1", "j2", "j3", "j4", "j5"].map(|job| submitted(spec(job))));
    log.push(submitted(bad));
    let round = fold(log.clone()).decide(1);
    let full = format!("queue: {}", queue_full_reason(3, 3));
    assert_eq!(
        submission_decisions(&round),
        BTreeMap::from([
            ("j1".to_string(), "admitted".to_string()),
            ("j2".to_string(), "admitted".to_string()),
            ("j3".to_string(), "admitted".to_string()),
            ("j4".to_string(), full.clone()),
            ("j5".to_string(), full.clone()),
            (
                "bad".to_string(),
                "resources.gpus: resources.gpus is 65; it must be 0 to 64".to_string()
            ),
        ]),
        "the queue fills within one round; an invalid job keeps its own reason"
    );
    assert_eq!(
        full,
        "queue: the cell's queue is full: 3 jobs wait for placement, the limit is 3 (policy pending_jobs_max); retry later"
    );
    assert!(queue_full_reason(3, 3).starts_with(QUEUE_FULL_REASON_PREFIX));

    // The fold's pending jobs count in later rounds: j6 still finds the
    // queue full, and the cancellation after it makes room for j7.
    log.extend(round);
    log.push(submitted(spec("j6")));
    log.push(cancel("j1", "acme", "c1"));
    let round = fold(log.clone()).decide(1);
    assert_eq!(submission_decisions(&round)["j6"], full);
    assert!(matches!(&round[1].body, Body::JobCancelled(c) if c.job == "j1"));

    log.extend(round);
    log.push(submitted(spec("j7")));
    let core = fold(log);
    assert_eq!(core.state().placement.pending.len(), 2);
    assert_eq!(submission_decisions(&core.decide(1))["j7"], "admitted");
}

/// One tenant's flood fills only its share of the queue: past
/// `pending_jobs_per_tenant_max` its submissions are refused with a
/// retryable reason that names it, and another tenant's are still admitted,
/// in the same round and in later ones.
#[test]
fn one_tenant_cannot_fill_the_queue_for_the_others() {
    let mut log = vec![
        lease("admission", 1),
        policy(PlacementPolicy {
            pending_jobs_max: 10,
            pending_jobs_per_tenant_max: 2,
            ..Default::default()
        }),
    ];
    let of = |tenant: &str, job: &str| {
        Event::new(job, "default", Body::JobSubmitted(Arc::new(spec(job)))).with_tenant(tenant)
    };
    log.extend(["f1", "f2", "f3", "f4"].map(|job| of("flood", job)));
    log.push(of("calm", "c1"));
    let round = fold(log.clone()).decide(1);
    let full = format!("queue: {}", tenant_queue_full_reason("flood", 2, 2));
    assert_eq!(
        submission_decisions(&round),
        BTreeMap::from([
            ("f1".to_string(), "admitted".to_string()),
            ("f2".to_string(), "admitted".to_string()),
            ("f3".to_string(), full.clone()),
            ("f4".to_string(), full.clone()),
            ("c1".to_string(), "admitted".to_string()),
        ])
    );
    assert!(full.contains("tenant flood has 2 jobs waiting"), "{full}");
    assert!(tenant_queue_full_reason("flood", 2, 2).starts_with(QUEUE_FULL_REASON_PREFIX));

    // The fold's pending jobs count per tenant in later rounds.
    log.extend(round);
    log.push(of("flood", "f5"));
    log.push(of("calm", "c2"));
    let decisions = submission_decisions(&fold(log).decide(1));
    assert_eq!(decisions["f5"], full);
    assert_eq!(decisions["c2"], "admitted");
}
